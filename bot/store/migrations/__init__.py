"""Alembic migrations (frozen history: no application code is imported here)."""
