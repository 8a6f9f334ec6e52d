"""analytics: internal package."""
