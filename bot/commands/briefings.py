"""`briefings` commands (to be written)."""
