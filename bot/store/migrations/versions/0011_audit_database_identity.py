"""audit database identity: the random id the audit checkpoint names

Revision ID: 0011
Revises: 0010_ops
Create Date: 2026-12-05 09:30:00

The checkpoint outside the database (README, "Audit tamper evidence") is bound to the
database it anchors by this id: a deployment that moves from one database to another keeps
one checkpoint per database instead of comparing one database with another's heads. Every
operation also gets its chain's tip row if it had none (an operation without a chain is
reported by `audit verify` as a removed chain).
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010_ops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "auditdatabase",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("identity", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "identity": uuid.uuid4().hex}])
    op.execute(
        sa.text(
            "INSERT INTO auditchain (chain, entries, head) "
            "SELECT id, 0, :genesis FROM operation "
            "WHERE id NOT IN (SELECT chain FROM auditchain)"
        ).bindparams(genesis="0" * 64)
    )


def downgrade() -> None:
    op.drop_table("auditdatabase")
