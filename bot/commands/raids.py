"""`raids` commands (to be written)."""
