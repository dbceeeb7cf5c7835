"""qad simulator."""
