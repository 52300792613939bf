"""notices recorded (not issued), diffusions, judicial data

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:00:00

A task force records notices an NCB requested and INTERPOL published; it never issues them.
The issuer and issue time of existing notices carry over as who recorded them and when
(`issued_by` → `recorded_by`, `issued_at` → `recorded_at`); existing rows are notices
(`kind` = `notice`) whose requesting country and warrant are not known.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.alter_column("issued_by", new_column_name="recorded_by")
        batch_op.alter_column("issued_at", new_column_name="recorded_at")
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="notice")
        )
        batch_op.add_column(sa.Column("requested_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("warrant_ref", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("warrant_country", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("countries", sa.String(length=400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_column("countries")
        batch_op.drop_column("warrant_country")
        batch_op.drop_column("warrant_ref")
        batch_op.drop_column("requested_by")
        batch_op.drop_column("kind")
        batch_op.alter_column("recorded_at", new_column_name="issued_at")
        batch_op.alter_column("recorded_by", new_column_name="issued_by")
