"""recording: internal package."""
