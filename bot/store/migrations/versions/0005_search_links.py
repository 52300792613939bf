"""search keys of subjects, grid cells of sightings, decided links

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:00:00

Backfills the search keys of existing subjects and the grid cells of existing sightings.
The key and cell functions are frozen copies of those the commands used when this
migration was written (`bot.core.search.key_rows`, `bot.core.links.grid_cell`): a
migration imports no application code, so a later change there cannot change history.
"""

import math
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from anyascii import anyascii

import bot.store.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000

_CELL_DEG = 0.005
_ROW = 100_000
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SKELETON_RULES = (
    ("tch", "ch"), ("sch", "sh"), ("kh", "h"), ("ph", "f"), ("ck", "k"), ("dj", "j"),
    ("ou", "u"), ("w", "v"), ("q", "k"), ("x", "ks"), ("c", "k"), ("y", "i"), ("j", "i"),
)  # fmt: skip


def grid_cell(lat: float | None, lon: float | None) -> int | None:
    if lat is None or lon is None:
        return None
    return (math.floor(lat / _CELL_DEG) + 18_000) * _ROW + (math.floor(lon / _CELL_DEG) + 36_000)


def _fold(text: str) -> list[str]:
    return [w for w in _NON_ALNUM.split(anyascii(text).lower()) if w]


def _skeleton(word: str) -> str:
    if any(ch.isdigit() for ch in word):
        return word
    for old, new in _SKELETON_RULES:
        word = word.replace(old, new)
    if not word:
        return ""
    out = [word[0]]
    for ch in word[1:]:
        if ch in "aeiou" or (ch == "h" and out[-1] in "ktsdgz"):
            continue
        if ch != out[-1]:
            out.append(ch)
    return "".join(out)


def key_rows(
    operation_id: int, subject_id: int, name: str, aliases: Sequence[str]
) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for part, source in [("name", name), *(("alias", a) for a in aliases)]:
        words = _fold(source)
        if len(words) > 1:
            words.append("".join(words))
        for word in words:
            word = word[:200]
            if (part, word) in seen:
                continue
            seen.add((part, word))
            row = {"operation_id": operation_id, "subject_id": subject_id, "part": part}
            row |= {"source": source[:200], "token": word, "skel": _skeleton(word)[:200]}
            out.append(row)
    return out


def upgrade() -> None:
    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cell", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "ix_sighting_op_cell_observed", ["operation_id", "cell", "observed_at"], unique=False
        )
        batch_op.create_index(
            "ix_sighting_op_observed", ["operation_id", "observed_at"], unique=False
        )
    op.create_table(
        "subjectkey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("token", sa.String(length=200), nullable=False),
        sa.Column("skel", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["operation.id"]),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subjectkey", schema=None) as batch_op:
        batch_op.create_index("ix_subjectkey_skel", ["operation_id", "skel"], unique=False)
        batch_op.create_index("ix_subjectkey_token", ["operation_id", "token"], unique=False)
        batch_op.create_index(batch_op.f("ix_subjectkey_subject_id"), ["subject_id"], unique=False)
    op.create_table(
        "subjectlink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("subject_a", sa.Integer(), nullable=False),
        sa.Column("subject_b", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["decided_by"], ["member.id"]),
        sa.ForeignKeyConstraint(["operation_id"], ["operation.id"]),
        sa.ForeignKeyConstraint(["subject_a"], ["subject.id"]),
        sa.ForeignKeyConstraint(["subject_b"], ["subject.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("operation_id", "subject_a", "subject_b"),
    )
    with op.batch_alter_table("subjectlink", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subjectlink_operation_id"), ["operation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_subjectlink_subject_a"), ["subject_a"], unique=False)
        batch_op.create_index(batch_op.f("ix_subjectlink_subject_b"), ["subject_b"], unique=False)
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    meta = sa.MetaData()
    subject = sa.Table(
        "subject",
        meta,
        sa.Column("id", sa.Integer),
        sa.Column("operation_id", sa.Integer),
        sa.Column("name", sa.String),
        sa.Column("aliases", sa.JSON),
    )
    key = sa.Table(
        "subjectkey",
        meta,
        sa.Column("operation_id", sa.Integer),
        sa.Column("subject_id", sa.Integer),
        sa.Column("part", sa.String),
        sa.Column("source", sa.String),
        sa.Column("token", sa.String),
        sa.Column("skel", sa.String),
    )
    sighting = sa.Table(
        "sighting",
        meta,
        sa.Column("id", sa.Integer),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("cell", sa.BigInteger),
    )
    rows: list[dict[str, object]] = []
    for sid, op_id, name, aliases in bind.execute(
        sa.select(subject.c.id, subject.c.operation_id, subject.c.name, subject.c.aliases)
    ):
        rows += key_rows(op_id, sid, name, aliases or [])
        if len(rows) >= BATCH:
            bind.execute(key.insert(), rows)
            rows = []
    if rows:
        bind.execute(key.insert(), rows)
    update = (
        sighting.update()
        .where(sighting.c.id == sa.bindparam("sid"))
        .values(cell=sa.bindparam("new_cell"))
    )
    cells: list[dict[str, object]] = []
    for sid, lat, lon in bind.execute(
        sa.select(sighting.c.id, sighting.c.lat, sighting.c.lon).where(
            sighting.c.lat.is_not(None), sighting.c.lon.is_not(None)
        )
    ).all():
        cells.append({"sid": sid, "new_cell": grid_cell(lat, lon)})
        if len(cells) >= BATCH:
            bind.execute(update, cells)
            cells = []
    if cells:
        bind.execute(update, cells)


def downgrade() -> None:
    with op.batch_alter_table("subjectlink", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subjectlink_subject_b"))
        batch_op.drop_index(batch_op.f("ix_subjectlink_subject_a"))
        batch_op.drop_index(batch_op.f("ix_subjectlink_operation_id"))
    op.drop_table("subjectlink")
    with op.batch_alter_table("subjectkey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subjectkey_subject_id"))
        batch_op.drop_index("ix_subjectkey_token")
        batch_op.drop_index("ix_subjectkey_skel")
    op.drop_table("subjectkey")
    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.drop_index("ix_sighting_op_observed")
        batch_op.drop_index("ix_sighting_op_cell_observed")
        batch_op.drop_column("cell")
