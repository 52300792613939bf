"""`templates` commands (to be written)."""
