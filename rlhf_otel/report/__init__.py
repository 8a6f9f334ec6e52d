"""report: internal package."""
