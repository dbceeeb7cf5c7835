"""amazon package."""
