"""audit chains per operation; the inbox of acknowledged inbound events

The one global audit chain becomes one chain per operation plus one for entries of no
operation, so that commands of different operations no longer append in turn. Existing
entries are checked against the old chain first (the upgrade stops, changing nothing, if
that chain is broken: investigate before upgrading), then linked into their new chains.

Revision ID: 0002
Revises: 0001
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.store.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
FIELDS = (
    "at",
    "actor_id",
    "actor",
    "operation_id",
    "action",
    "command",
    "object_ref",
    "channel",
    "reason",
    "outcome",
)


def _digest(body: dict[str, Any]) -> str:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def _body(row: Any) -> dict[str, Any]:
    at = row.at
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    body = {name: getattr(row, name) for name in FIELDS}
    body["at"] = at.isoformat(timespec="microseconds")
    return body


def _rechain() -> None:
    """Check the old single chain, then link every entry into its operation's chain.

    Both hash functions are frozen here: this migration must mean the same thing whatever
    `bot.store.audit` becomes later.
    """
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, at, actor_id, actor, operation_id, action, command, object_ref, "
            "channel, reason, outcome, prev_hash, hash FROM auditentry ORDER BY id"
        )
    ).all()
    prev = GENESIS
    for row in rows:
        old = {**_body(row), "prev_hash": row.prev_hash}
        if row.prev_hash != prev or _digest(old) != row.hash:
            raise RuntimeError(
                f"The audit chain is broken at entry #{row.id}; the upgrade changed nothing. "
                "Run `taskforce audit verify` on the old version and investigate first."
            )
        prev = row.hash
    tips: dict[int, tuple[int, str]] = {}
    for row in rows:
        chain = row.operation_id or 0
        seq, head = tips.get(chain, (0, GENESIS))
        seq += 1
        body = {**_body(row), "chain": chain, "chain_seq": seq, "prev_hash": head}
        digest = _digest(body)
        conn.execute(
            sa.text(
                "UPDATE auditentry SET chain = :chain, chain_seq = :seq, prev_hash = :prev, "
                "hash = :hash WHERE id = :id"
            ),
            {"chain": chain, "seq": seq, "prev": head, "hash": digest, "id": row.id},
        )
        tips[chain] = (seq, digest)
    for chain, (seq, head) in tips.items():
        conn.execute(
            sa.text("INSERT INTO auditchain (chain, entries, head) VALUES (:c, :n, :h)"),
            {"c": chain, "n": seq, "h": head},
        )


def upgrade() -> None:
    op.create_table(
        "auditchain",
        sa.Column("chain", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("head", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )
    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("chain_seq", sa.Integer(), nullable=False, server_default="0")
        )
    _rechain()
    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_audit_chain_seq", ["chain", "chain_seq"])

    op.create_table(
        "inboxitem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("event_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("claimed_until", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "event_key", name="uq_inbox_event"),
    )
    with op.batch_alter_table("inboxitem", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inboxitem_received_at"), ["received_at"])
        batch_op.create_index(batch_op.f("ix_inboxitem_claimed_until"), ["claimed_until"])


def downgrade() -> None:
    with op.batch_alter_table("inboxitem", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inboxitem_claimed_until"))
        batch_op.drop_index(batch_op.f("ix_inboxitem_received_at"))
    op.drop_table("inboxitem")
    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_chain_seq", type_="unique")
        batch_op.drop_column("chain_seq")
        batch_op.drop_column("chain")
    op.drop_table("auditchain")
