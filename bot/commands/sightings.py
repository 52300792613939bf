"""`sightings` commands (to be written)."""
