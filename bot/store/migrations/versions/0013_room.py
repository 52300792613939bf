"""raid coordinates: the target on the situation room's map

Revision ID: 0013_room
Revises: 0012
Create Date: 2026-12-05 12:45:00

`raid plan --coords LAT,LON` places the raid on the room's map; the coordinates are part of
the raid's address (README "Situation room"): shown only to readers who read the address.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_room"
down_revision: str | None = "0013_victims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("raid") as batch:
        batch.add_column(sa.Column("lat", sa.Float(), nullable=True))
        batch.add_column(sa.Column("lon", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("raid") as batch:
        batch.drop_column("lon")
        batch.drop_column("lat")
