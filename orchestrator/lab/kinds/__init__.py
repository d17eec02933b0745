"""The lab parts of the intent kinds (registry.py)."""
