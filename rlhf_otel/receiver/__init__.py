"""receiver: internal package."""
