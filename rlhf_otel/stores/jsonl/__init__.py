"""jsonl: internal package."""
