"""`notices` commands (to be written)."""
