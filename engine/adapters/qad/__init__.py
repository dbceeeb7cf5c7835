"""qad package."""
