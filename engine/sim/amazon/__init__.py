"""amazon simulator."""
