"""Tables of records that stay true (issue 28): grade history and sighting revisions.

A sighting's grades of record are kept one row per grading (who, when, the grade, the one
it replaced, why); a sighting's corrected fields keep their previous values one row per
field, like a subject's rectification (`SubjectRevision`). Both are outside the audit
hash chain so that erasing the sighting removes them while the chain still verifies.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bot.store.models import ts


class SightingGrade(SQLModel, table=True):
    """One grading of a sighting (`sighting grade`): the grade of record's history."""

    id: int | None = Field(default=None, primary_key=True)
    sighting_id: int = Field(foreign_key="sighting.id", index=True)
    grade: str = Field(max_length=2)
    was: str | None = Field(default=None, max_length=2)
    reason: str = Field(max_length=1000)
    graded_by: int | None = Field(default=None, foreign_key="member.id")
    graded_at: datetime = ts(nullable=False)


class SightingRevision(SQLModel, table=True):
    """A corrected sighting field's previous value (`sighting edit`), erased with it."""

    id: int | None = Field(default=None, primary_key=True)
    sighting_id: int = Field(foreign_key="sighting.id", index=True)
    field: str = Field(max_length=32)
    old_value: str | None = Field(default=None, max_length=2000)
    reason: str = Field(max_length=1000)
    changed_by: int | None = Field(default=None, foreign_key="member.id")
    changed_at: datetime = ts(nullable=False)
