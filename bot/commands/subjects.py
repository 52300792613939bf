"""`subjects` commands (to be written)."""
