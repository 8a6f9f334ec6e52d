"""pipeline: internal package."""
