"""`export` commands (to be written)."""
