"""Tables of the case file's evidence (issue 28): exhibits with their custody trail, and
statements with their translations. Imported at the end of `bot/store/models.py`."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.store.models import ts


class Exhibit(SQLModel, table=True):
    """An exhibit (`E-n`): an item seized or produced, under seal, with its custody."""

    __table_args__ = (
        sa.UniqueConstraint("operation_id", "seq"),
        sa.UniqueConstraint("operation_id", "number"),
    )
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    seq: int
    number: str = Field(max_length=40)  # the seizing officer's exhibit number, `AR/1`
    description: str = Field(max_length=1000)
    seal: str | None = Field(default=None, max_length=60)  # the tamper-evident bag's number
    found_at: str = Field(max_length=500)  # where it was found
    seized_at: datetime = ts(nullable=False)
    sighting_id: int | None = Field(default=None, foreign_key="sighting.id")
    raid_id: int | None = Field(default=None, foreign_key="raid.id")
    evidence_id: int | None = Field(default=None, foreign_key="evidence.id")  # a stored photo
    tlp: str = Field(max_length=16)
    # The current holder: a member, or someone outside the task force ("name, agency").
    holder_id: int | None = Field(default=None, foreign_key="member.id")
    holder_name: str | None = Field(default=None, max_length=200)
    created_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts(nullable=False)


class ExhibitTransfer(SQLModel, table=True):
    """One link of an exhibit's chain of custody: from whom to whom, when and why. The
    first link of every exhibit is its seizure (no `from`)."""

    id: int | None = Field(default=None, primary_key=True)
    exhibit_id: int = Field(foreign_key="exhibit.id", index=True)
    at: datetime = ts(nullable=False)
    from_id: int | None = Field(default=None, foreign_key="member.id")
    from_name: str | None = Field(default=None, max_length=200)
    to_id: int | None = Field(default=None, foreign_key="member.id")
    to_name: str | None = Field(default=None, max_length=200)
    reason: str = Field(max_length=1000)
    recorded_by: int | None = Field(default=None, foreign_key="member.id")
    recorded_at: datetime = ts(nullable=False)


class Statement(SQLModel, table=True):
    """A statement (`ST-n`) as made, in the language it was made in."""

    __table_args__ = (sa.UniqueConstraint("operation_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    seq: int
    subject_id: int | None = Field(default=None, foreign_key="subject.id", index=True)
    maker: str | None = Field(default=None, max_length=200)  # when not a subject
    language: str = Field(max_length=8)  # ISO 639-1, `fr`
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    taken_at: datetime = ts(nullable=False)
    tlp: str = Field(max_length=16)
    taken_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts(nullable=False)


class StatementTranslation(SQLModel, table=True):
    """A translation attached to a statement: its language, text and translator."""

    __table_args__ = (sa.UniqueConstraint("statement_id", "language"),)
    id: int | None = Field(default=None, primary_key=True)
    statement_id: int = Field(foreign_key="statement.id", index=True)
    language: str = Field(max_length=8)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    translator: str = Field(max_length=200)
    added_by: int | None = Field(default=None, foreign_key="member.id")
    added_at: datetime = ts(nullable=False)
