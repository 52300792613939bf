"""protected places: a subject or sighting's place marked a shelter, safe house or
victim-care location

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:30:00

A place so marked is treated like a protected person (README "Victim safety and
need-to-know"): never named or located in a group channel, to partners or observers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subject") as batch:
        batch.add_column(sa.Column("place_kind", sa.String(length=16), nullable=True))
    with op.batch_alter_table("sighting") as batch:
        batch.add_column(sa.Column("place_kind", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sighting") as batch:
        batch.drop_column("place_kind")
    with op.batch_alter_table("subject") as batch:
        batch.drop_column("place_kind")
