"""Tables of victim care and tasking (issue 28): age assessments, referrals, tasks and
shift hand-overs. Imported at the end of `bot/store/models.py`, so that every table is known to
the metadata and to the migrations."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.store.models import ts


class AgeAssessment(SQLModel, table=True):
    """One assessment of a person's age: the apparent age (a range), the age they state,
    whether the age is disputed, the reason to believe they are under 18 (the presumption
    of childhood, Directive 2011/36/EU Art. 13(2)), who assessed it and when. The latest
    assessment is the one in force; earlier ones stay as the record of how it changed."""

    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    apparent_low: int
    apparent_high: int
    stated_age: int | None = Field(default=None)
    disputed: bool = Field(default=False)
    minor_reason: str | None = Field(default=None, max_length=1000)
    assessed_by: int | None = Field(default=None, foreign_key="member.id")
    assessed_at: datetime = ts(nullable=False)


class VictimReferral(SQLModel, table=True):
    """A referral of a victim: to the National Referral Mechanism (`nrm`, with consent
    given or refused and the reflection and recovery period), to child protection
    (`child`), or a hand-over to an NGO partner (`ngo`)."""

    __table_args__ = (sa.Index("ix_victimreferral_reflection", "reflection_ends"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    kind: str = Field(max_length=16)  # nrm child ngo
    agency: str = Field(max_length=200)
    reference: str | None = Field(default=None, max_length=100)
    referred_on: date
    consent: str | None = Field(default=None, max_length=16)  # given refused (nrm)
    reflection_ends: datetime | None = ts(nullable=True)
    note: str | None = Field(default=None, max_length=1000)
    # `ngo`: the partner (NGO member) the victim was handed over to, granted to read them.
    handed_to: int | None = Field(default=None, foreign_key="member.id")
    referred_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts(nullable=False)


class Task(SQLModel, table=True):
    """An action given to a named member with a deadline (`T-n`); they get a reminder in
    private before it is due."""

    __table_args__ = (sa.UniqueConstraint("operation_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    seq: int
    text: str = Field(max_length=500)
    assignee_id: int = Field(foreign_key="member.id", index=True)
    due_at: datetime = ts(nullable=False, index=True)
    tlp: str = Field(default="amber", max_length=16)
    created_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts(nullable=False)
    done_at: datetime | None = ts(nullable=True)
    done_by: int | None = Field(default=None, foreign_key="member.id")


class Handover(SQLModel, table=True):
    """A shift hand-over: when it was given and by whom (the next one summarises since)."""

    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    given_by: int | None = Field(default=None, foreign_key="member.id")
    given_at: datetime = ts(nullable=False)
