"""projectors package."""
