"""records: internal package."""
