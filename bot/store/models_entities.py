"""Tables of typed links between subjects and of deconfliction across operations (issue 27).

Imported from the end of `bot/store/models.py`, so that the metadata and Alembic see them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.store.models import SubjectKey, ts


class SubjectRelation(SQLModel, table=True):
    """A typed link recorded by a member: S-1 `uses-phone` S-4, with its source and grade.

    A fact as reported (graded with the Admiralty code), unlike a co-sighting, which stays
    an analytic inference (`bot.core.links`)."""

    __table_args__ = (
        sa.UniqueConstraint("operation_id", "subject_a", "subject_b", "kind"),
        sa.Index("ix_subjectrelation_b", "subject_b"),
    )
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    subject_a: int = Field(foreign_key="subject.id", index=True)  # from: S-1 uses-phone …
    subject_b: int = Field(foreign_key="subject.id")  # to: … S-4
    kind: str = Field(max_length=16)  # uses-phone owns-account drives family works-for …
    source: str = Field(max_length=500)
    grade: str | None = Field(default=None, max_length=2)
    tlp: str = Field(max_length=16)
    created_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts(nullable=False)


class DeconflictionHit(SQLModel, table=True):
    """Two subjects of different operations holding the same normalised key (`D-n`).

    Neither operation reads the other's record; each side's leads were told privately
    (`bot.core.deconfliction`). `subject_a` is the one whose change found the hit."""

    __table_args__ = (sa.UniqueConstraint("subject_a", "subject_b"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_a: int = Field(foreign_key="operation.id", index=True)
    subject_a: int = Field(foreign_key="subject.id", index=True)
    operation_b: int = Field(foreign_key="operation.id", index=True)
    subject_b: int = Field(foreign_key="subject.id", index=True)
    part: str = Field(max_length=8)  # which key matched: phone, account, identity, …
    found_by: int | None = Field(default=None, foreign_key="member.id")
    found_at: datetime = ts(nullable=False)
    notified_at: datetime = ts(nullable=False)


class DeconflictionPolicy(SQLModel, table=True):
    """Whether an operation's leads are named to the other side of a hit (`open`) or
    contact goes through a Taskforce admin (`via-admin`, the default without a row)."""

    operation_id: int = Field(
        foreign_key="operation.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    contact: str = Field(default="via-admin", max_length=16)
    set_by: int | None = Field(default=None, foreign_key="member.id")
    set_at: datetime = ts(nullable=False)


# Deconfliction looks a normalised key up in every operation: the search keys by token
# alone (the (operation, token) index serves `subject find` within one operation).
sa.Index("ix_subjectkey_key", SubjectKey.__table__.c.token)  # type: ignore[attr-defined]
