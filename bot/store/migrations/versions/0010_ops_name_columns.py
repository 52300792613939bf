"""name columns: a platform's name and a scheduled job's kind fit in 32 characters, not 16

Revision ID: 0010_ops
Revises: 0009
Create Date: 2026-12-05 09:30:00

SQLite never enforced the 16; PostgreSQL refused a platform or job kind with a longer name
(`bot/base/platforms.py`, `bot/jobs`). Widening only: no row changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_ops"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("identity", "platform"),
    ("channellink", "platform"),
    ("processedevent", "platform"),
    ("platformcursor", "platform"),
    ("inboxitem", "platform"),
    ("outboxmessage", "platform"),
    ("briefschedule", "platform"),
    ("fieldpending", "platform"),
    ("scheduledfire", "kind"),
)


def _resize(before: int, after: int) -> None:
    for table, column in COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=before),
                type_=sa.String(length=after),
                existing_nullable=False,
            )


def upgrade() -> None:
    _resize(16, 32)


def downgrade() -> None:
    _resize(32, 16)
