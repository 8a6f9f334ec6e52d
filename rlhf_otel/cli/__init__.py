"""cli: internal package."""
