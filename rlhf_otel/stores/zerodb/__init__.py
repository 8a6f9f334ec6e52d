"""zerodb: internal package."""
