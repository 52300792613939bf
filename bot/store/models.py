"""SQLModel tables: the whole store of Taskforce.

Times are stored in UTC (`UTCDateTime` returns aware datetimes on every backend).
Enumerated values are stored as short strings and validated by the command core.
References shown to users (`S-3`, `SG-15`, `R-1`) are the per-operation `seq` columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Column, Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and always read back as an aware UTC datetime."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


# A platform's name (`bot/base/platforms.py`) or a scheduled job's kind (`bot/jobs`): PostgreSQL
# refuses a longer value, SQLite would keep it (tests/test_install.py reads the columns).
NAME_LENGTH = 32


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def ts(**kw: Any) -> Any:
    """A `UTCDateTime` column for a SQLModel field."""
    return Field(sa_column=Column(UTCDateTime(), **kw))


# --------------------------------------------------------------------------- people


class Agency(SQLModel, table=True):
    """An agency or organisation taking part: `ES-PN`, `PT-PJ`, `NGO-HOPE`."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=32)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    kind: str = Field(default="other", max_length=20)
    timezone: str = Field(default="UTC", max_length=64)
    language: str = Field(default="en", max_length=8)


class Member(SQLModel, table=True):
    """A person using Taskforce, on one or more platforms."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    agency_id: int | None = Field(default=None, foreign_key="agency.id", index=True)
    timezone: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=8)
    is_admin: bool = Field(default=False)
    created_at: datetime = ts(nullable=False)

    @staticmethod
    def placeholder_name(platform: str, key: str) -> str:
        """The name given to a member created from an id alone (TASKFORCE_ADMINS)."""
        return key if platform == "console" else f"{platform} {key}"


class Identity(SQLModel, table=True):
    """One platform identity: slack `T0123/U0456`, telegram `987654`, console `alice`."""

    __table_args__ = (sa.UniqueConstraint("platform", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    platform: str = Field(max_length=NAME_LENGTH)
    key: str = Field(max_length=128)
    display_name: str | None = Field(default=None, max_length=200)
    # Telegram: whether the member has started a private chat with the bot.
    can_dm: bool = Field(default=False)
    created_at: datetime = ts(nullable=False)


# ------------------------------------------------------------------------ operations


class Operation(SQLModel, table=True):
    """A joint operation: the unit of membership, references and disclosure."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=40)
    name: str = Field(max_length=200)
    countries: str = Field(default="", max_length=200)
    tlp: str = Field(default="amber", max_length=16)
    timezone: str = Field(default="UTC", max_length=64)
    status: str = Field(default="planning", max_length=16)
    created_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts(nullable=False)
    # Life cycle: when it closed, and how long its records are kept after closing before
    # they come up for review (erase, or keep with a reason).
    closed_at: datetime | None = ts(nullable=True)
    # The aim and objectives (IIMARCH Intent), stated by a lead with `op intent "…"`.
    intent: str | None = Field(default=None, max_length=1000)
    retention_months: int | None = Field(default=None)  # None: RETENTION_MONTHS (24)
    # Per-operation counters behind the references S-n, N-n, SG-n, R-n.
    subject_seq: int = Field(default=0)
    notice_seq: int = Field(default=0)
    sighting_seq: int = Field(default=0)
    raid_seq: int = Field(default=0)


class Membership(SQLModel, table=True):
    """A member's role in one operation: lead, member, partner or observer."""

    __table_args__ = (sa.UniqueConstraint("operation_id", "member_id"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    role: str = Field(max_length=16)
    joined_at: datetime = ts(nullable=False)


class Invite(SQLModel, table=True):
    """An invite code to join an operation with a role; expires and has a use count."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=32)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    role: str = Field(max_length=16)
    uses_left: int = Field(default=1)
    expires_at: datetime = ts(nullable=False)
    created_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts(nullable=False)


class LinkCode(SQLModel, table=True):
    """A one-time code that attaches another platform identity to a member."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=32)
    member_id: int = Field(foreign_key="member.id", index=True)
    expires_at: datetime = ts(nullable=False)
    used_at: datetime | None = ts(nullable=True)


class ChannelLink(SQLModel, table=True):
    """A chat channel linked to an operation; receives its posts up to `max_tlp`."""

    __table_args__ = (sa.UniqueConstraint("platform", "channel_key"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    platform: str = Field(max_length=NAME_LENGTH)
    channel_key: str = Field(max_length=128)
    channel_name: str | None = Field(default=None, max_length=200)
    is_group: bool = Field(default=True)
    max_tlp: str = Field(default="amber", max_length=16)
    # The agencies whose members the channel reaches (codes, comma-separated); "" unknown,
    # treated as shared. Exactly one: a single-agency channel (may receive AMBER+STRICT).
    agencies: str = Field(default="", max_length=400)
    linked_by: int | None = Field(default=None, foreign_key="member.id")
    linked_at: datetime = ts(nullable=False)


class ProcessedEvent(SQLModel, table=True):
    """An inbound platform event already handled, with the first answer given to it."""

    __table_args__ = (sa.UniqueConstraint("platform", "event_key"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=NAME_LENGTH)
    event_key: str = Field(max_length=200)
    reply: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = ts(nullable=False, index=True)


class ButtonCommand(SQLModel, table=True):
    """A button's command line kept server-side, for platforms whose button payload is small
    (Telegram callback data: 64 bytes). `token` is derived from the command, so one command
    always has one row."""

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(index=True, unique=True, max_length=32)
    command: str = Field(sa_column=Column(sa.Text, nullable=False))
    created_at: datetime = ts(nullable=False)


class PlatformCursor(SQLModel, table=True):
    """Where an adapter has read a platform's event stream up to (Matrix's sync token): a
    restart resumes from it. One row per (platform, name); written through the gateway."""

    __table_args__ = (sa.UniqueConstraint("platform", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=NAME_LENGTH)
    name: str = Field(max_length=200)
    value: str = Field(sa_column=Column(sa.Text, nullable=False))
    updated_at: datetime = ts(nullable=False)


# ----------------------------------------------------------------- audit and outbox


class AuditEntry(SQLModel, table=True):
    """One hash-chained audit entry: a command or a post (a disclosure).

    Entries form one chain per operation (`chain` = the operation's id) and one for what
    belongs to no operation (`chain` 0: admin actions, help, sign-ups); `chain_seq` counts
    1, 2, 3… within the chain.
    """

    __table_args__ = (sa.UniqueConstraint("chain", "chain_seq", name="uq_audit_chain_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    chain: int = Field(default=0)
    chain_seq: int = Field(default=0)
    at: datetime = ts(nullable=False, index=True)
    actor_id: int | None = Field(default=None, foreign_key="member.id")
    actor: str = Field(max_length=200)
    operation_id: int | None = Field(default=None, foreign_key="operation.id", index=True)
    action: str = Field(max_length=16)  # collect alter consult disclose combine erase
    command: str = Field(max_length=64)
    object_ref: str | None = Field(default=None, max_length=200)
    channel: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)
    outcome: str = Field(default="ok", max_length=16)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # Which TASKFORCE_AUDIT_KEY authenticates `hash` (an HMAC); None: a plain SHA-256,
    # written without a key.
    key_id: str | None = Field(default=None, max_length=16)


class AuditChain(SQLModel, table=True):
    """The tip of one audit chain: how many entries it has and the newest one's hash.

    Appending locks this row, so appends to one chain take turns while other operations'
    chains go on; `audit verify` checks that the entries end where the tip says.
    """

    chain: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    entries: int = Field(default=0)
    head: str = Field(max_length=64)


class AuditDatabase(SQLModel, table=True):
    """This database's audit identity: a random id, set once by migration 0011.

    The audit checkpoint outside the database names it (README, "Audit tamper evidence"),
    so a checkpoint is compared only with the database it anchored: switching databases is
    not an alarm, and each database keeps its own checkpoint. One row (`id` 1).
    """

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    identity: str = Field(max_length=32)


class InboxItem(SQLModel, table=True):
    """An inbound event acknowledged to its platform and not finished yet.

    Written before the platform gets its answer (Telegram's 200, Slack's ack), deleted once
    the command has run and its reply has been handed over. A row whose lease has run out
    belongs to a process that stopped: any process runs it again (the processed-event key
    makes that at most once) and delivers its reply.
    """

    __table_args__ = (sa.UniqueConstraint("platform", "event_key", name="uq_inbox_event"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=NAME_LENGTH)
    event_key: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    received_at: datetime = ts(nullable=False, index=True)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = ts(nullable=True, index=True)
    attempts: int = Field(default=0)


class OutboxMessage(SQLModel, table=True):
    """A post waiting to be sent (or sent, or dead) to one linked channel."""

    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int | None = Field(default=None, foreign_key="operation.id", index=True)
    platform: str = Field(max_length=NAME_LENGTH)
    channel_key: str = Field(max_length=128)
    kind: str = Field(default="post", max_length=32)
    object_ref: str | None = Field(default=None, max_length=200)
    tlp: str = Field(default="amber", max_length=16)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending sending sent dead
    attempts: int = Field(default=0)
    next_attempt_at: datetime = ts(nullable=False)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = ts(nullable=False)
    sent_at: datetime | None = ts(nullable=True)
    platform_message_id: str | None = Field(default=None, max_length=128)


# --------------------------------------------------------------- field intelligence


class Subject(SQLModel, table=True):
    """A person, vehicle, vessel, organisation, place or asset of interest (`S-n`)."""

    __table_args__ = (sa.UniqueConstraint("operation_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    seq: int
    kind: str = Field(max_length=16)
    name: str = Field(max_length=200)
    category: str | None = Field(default=None, max_length=16)  # suspect victim witness associate
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    nationality: str | None = Field(default=None, max_length=2)
    dob: str | None = Field(default=None, max_length=10)
    sex: str | None = Field(default=None, max_length=1)  # m f x (persons; yellow notices)
    description: str | None = Field(default=None, max_length=2000)
    tlp: str = Field(max_length=16)
    review_at: datetime = ts(nullable=False, index=True)
    created_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts(nullable=False)
    # Victims, witnesses and children are protected unless a lead lifted it (with a reason).
    protection_lifted_at: datetime | None = ts(nullable=True)
    protection_lifted_by: int | None = Field(default=None, foreign_key="member.id")
    protection_reason: str | None = Field(default=None, max_length=1000)
    # Erasure: the content is removed; the row keeps its reference, when, by whom and why.
    erased_at: datetime | None = ts(nullable=True)
    erased_by: int | None = Field(default=None, foreign_key="member.id")
    erase_reason: str | None = Field(default=None, max_length=1000)
    # A place marked a shelter, safe house or victim-care location: protected (README).
    place_kind: str | None = Field(default=None, max_length=16)
    # `subject merge S-2 into S-1`: this subject's records now belong to that one.
    merged_into: int | None = Field(default=None, foreign_key="subject.id")
    # A recorded reason to believe a person of uncertain age is under 18 (`victim age
    # --minor-reason`): the presumption of childhood, Directive 2011/36/EU Art. 13(2).
    child_presumed: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class Notice(SQLModel, table=True):
    """A colour-coded notice about a subject (`N-n`)."""

    __table_args__ = (sa.UniqueConstraint("operation_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    seq: int
    colour: str = Field(max_length=16)
    # None: a purple notice about a modus operandi, not about a subject.
    subject_id: int | None = Field(default=None, foreign_key="subject.id", index=True)
    charges: str | None = Field(default=None, max_length=1000)
    summary: str | None = Field(default=None, max_length=2000)
    external_ref: str | None = Field(default=None, max_length=100)
    tlp: str = Field(max_length=16)
    status: str = Field(default="active", max_length=16)  # active cancelled
    # A task force records a notice INTERPOL published (`notice`) or a country's direct
    # request to chosen countries (`diffusion`, not reviewed by INTERPOL); it never issues one.
    kind: str = Field(default="notice", max_length=16)
    requested_by: str | None = Field(default=None, max_length=100)  # requesting country / NCB
    warrant_ref: str | None = Field(default=None, max_length=200)  # red: warrant or judgment
    warrant_country: str | None = Field(default=None, max_length=100)  # red: issuing country
    countries: str | None = Field(default=None, max_length=400)  # diffusion: sent to
    recorded_by: int | None = Field(default=None, foreign_key="member.id")
    recorded_at: datetime = ts(nullable=False)
    # INTERPOL's publication date (`--published`): expiry counts from it when given.
    published_at: datetime | None = ts(nullable=True)
    expires_at: datetime = ts(nullable=False)
    renewed_at: datetime | None = ts(nullable=True)
    cancelled_at: datetime | None = ts(nullable=True)
    cancel_reason: str | None = Field(default=None, max_length=1000)
    review_at: datetime | None = ts(nullable=True, index=True)
    # Erasure: the content is removed; the row keeps its reference, when, by whom and why.
    erased_at: datetime | None = ts(nullable=True)
    erased_by: int | None = Field(default=None, foreign_key="member.id")
    erase_reason: str | None = Field(default=None, max_length=1000)


class Sighting(SQLModel, table=True):
    """A field report that a subject (or something described) was seen (`SG-n`)."""

    __table_args__ = (
        sa.UniqueConstraint("operation_id", "seq"),
        sa.Index("ix_sighting_op_reported", "operation_id", "reported_at"),
        sa.Index("ix_sighting_op_cell_observed", "operation_id", "cell", "observed_at"),
        sa.Index("ix_sighting_op_observed", "operation_id", "observed_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    seq: int
    subject_id: int | None = Field(default=None, foreign_key="subject.id", index=True)
    description: str | None = Field(default=None, max_length=1000)
    location: str = Field(max_length=500)
    lat: float | None = None
    lon: float | None = None
    observed_at: datetime = ts(nullable=False, index=True)
    reported_at: datetime = ts(nullable=False)
    # The grade a lead or analyst gave (`sighting grade`); the reporter's own is kept apart.
    grade: str | None = Field(default=None, max_length=2)
    reporter_grade: str | None = Field(default=None, max_length=2)
    graded_by: int | None = Field(default=None, foreign_key="member.id")
    graded_at: datetime | None = ts(nullable=True)
    # What was seen (SALUTE): activity, direction of movement, how many, vehicles/equipment.
    activity: str | None = Field(default=None, max_length=500)
    direction: str | None = Field(default=None, max_length=200)
    count: str | None = Field(default=None, max_length=100)
    equipment: str | None = Field(default=None, max_length=500)
    tlp: str = Field(max_length=16)
    note: str | None = Field(default=None, max_length=2000)
    # Who saw it when not the reporter (a second-hand report); None: the reporter, first-hand.
    observer: str | None = Field(default=None, max_length=200)
    reporter_id: int | None = Field(default=None, foreign_key="member.id")
    match_notice_id: int | None = Field(default=None, foreign_key="notice.id")
    # The grid cell of (lat, lon) (`bot.core.links.grid_cell`), for co-sightings; None without
    # coordinates.
    cell: int | None = Field(default=None, sa_column=Column(sa.BigInteger, nullable=True))
    review_at: datetime | None = ts(nullable=True, index=True)
    # Erasure: the content is removed; the row keeps its reference, when, by whom and why.
    erased_at: datetime | None = ts(nullable=True)
    erased_by: int | None = Field(default=None, foreign_key="member.id")
    erase_reason: str | None = Field(default=None, max_length=1000)
    # Seen at a shelter, safe house or victim-care location: the place is protected.
    place_kind: str | None = Field(default=None, max_length=16)


class SubjectRevision(SQLModel, table=True):
    """A rectified field's previous value (`subject edit`), erased with its subject.

    The audit entry of the edit names the fields and this revision; the old value lives
    here, outside the hash chain, so that erasing the subject removes it too while the
    chain still verifies.
    """

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    field: str = Field(max_length=32)
    old_value: str | None = Field(default=None, max_length=2000)
    changed_by: int | None = Field(default=None, foreign_key="member.id")
    changed_at: datetime = ts(nullable=False)


class SubjectKey(SQLModel, table=True):
    """A search key of a subject's name or alias: one folded word (`bot.core.search`)."""

    __table_args__ = (
        sa.Index("ix_subjectkey_token", "operation_id", "token"),
        sa.Index("ix_subjectkey_skel", "operation_id", "skel"),
    )
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id")
    subject_id: int = Field(foreign_key="subject.id", index=True)
    part: str = Field(max_length=8)  # name alias
    source: str = Field(max_length=200)
    token: str = Field(max_length=200)
    skel: str = Field(max_length=200)


class SubjectLink(SQLModel, table=True):
    """A lead's decision on an association of two subjects: confirmed or dismissed."""

    __table_args__ = (sa.UniqueConstraint("operation_id", "subject_a", "subject_b"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    subject_a: int = Field(foreign_key="subject.id", index=True)  # the lower id
    subject_b: int = Field(foreign_key="subject.id", index=True)
    status: str = Field(max_length=16)  # confirmed dismissed
    reason: str = Field(max_length=1000)
    tlp: str = Field(max_length=16)
    decided_by: int | None = Field(default=None, foreign_key="member.id")
    decided_at: datetime = ts(nullable=False)


# ------------------------------------------------------------------ raids, briefings


class ChecklistTemplate(SQLModel, table=True):
    """A named checklist template, built-in (`trafficking-raid`) or imported."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    builtin: bool = Field(default=False)


class TemplateItem(SQLModel, table=True):
    """One item of a checklist template."""

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="checklisttemplate.id", index=True)
    position: int
    phase: str = Field(max_length=16)  # before on-site after
    text: str = Field(max_length=500)
    mandatory: bool = Field(default=True)
    role: str | None = Field(default=None, max_length=64)
    # `legal`: never forced past; `cross-border`: mandatory when the operation spans countries.
    rule: str | None = Field(default=None, max_length=16)


class Raid(SQLModel, table=True):
    """A planned raid (`R-n`) with its time in UTC and its checklist."""

    __table_args__ = (sa.UniqueConstraint("operation_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    seq: int
    title: str = Field(max_length=200)
    at: datetime = ts(nullable=False, index=True)
    timezone: str = Field(max_length=64)
    location: str | None = Field(default=None, max_length=500)
    lat: float | None = None  # the target on the room's map: part of the address
    lon: float | None = None
    template_name: str | None = Field(default=None, max_length=64)
    status: str = Field(default="planned", max_length=16)  # planned go aborted done
    reason: str | None = Field(default=None, max_length=1000)
    tlp: str = Field(default="amber", max_length=16)
    created_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts(nullable=False)
    updated_at: datetime = ts(nullable=False)


class RaidItem(SQLModel, table=True):
    """One checklist item of a raid, ticked by whom and when."""

    __table_args__ = (sa.UniqueConstraint("raid_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    raid_id: int = Field(foreign_key="raid.id", index=True)
    position: int
    phase: str = Field(max_length=16)
    text: str = Field(max_length=500)
    mandatory: bool = Field(default=True)
    role: str | None = Field(default=None, max_length=64)
    rule: str | None = Field(default=None, max_length=16)  # legal: never forced past
    done_at: datetime | None = ts(nullable=True)
    done_by: int | None = Field(default=None, foreign_key="member.id")
    note: str | None = Field(default=None, max_length=1000)
    # Ticked late: `after-go` (a before item after the go), `after-done` (after raid done).
    late: str | None = Field(default=None, max_length=16)


class RaidDuty(SQLModel, table=True):
    """A raid duty (site commander, victim liaison…) held by a named member."""

    __table_args__ = (sa.UniqueConstraint("raid_id", "duty"),)
    id: int | None = Field(default=None, primary_key=True)
    raid_id: int = Field(foreign_key="raid.id", index=True)
    duty: str = Field(max_length=64)
    member_id: int = Field(foreign_key="member.id")
    assigned_by: int | None = Field(default=None, foreign_key="member.id")
    assigned_at: datetime = ts(nullable=False)


class BriefSchedule(SQLModel, table=True):
    """A recurring briefing into one channel at HH:MM on chosen days in a time zone."""

    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    platform: str = Field(max_length=NAME_LENGTH)
    channel_key: str = Field(max_length=128)
    time_of_day: str = Field(max_length=5)  # HH:MM
    days: str = Field(max_length=40)  # cron day_of_week, e.g. "mon-fri"
    timezone: str = Field(max_length=64)
    active: bool = Field(default=True)
    last_fired_at: datetime | None = ts(nullable=True)
    created_by: int | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = ts(nullable=False)


class ScheduledFire(SQLModel, table=True):
    """The claim of one fire of one schedule: unique, so no replica sends it twice."""

    __table_args__ = (sa.UniqueConstraint("kind", "ref_id", "fire_at"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=NAME_LENGTH)  # bot/jobs JOBS: brief reminder review rejustify
    ref_id: int
    fire_at: datetime = ts(nullable=False)
    claimed_at: datetime = ts(nullable=False)
    claimed_by: str = Field(max_length=64)
    late: bool = Field(default=False)
    outcome: str = Field(default="sent", max_length=16)  # sent skipped


# ------------------------------------------------------------------ need to know


class ReadGrant(SQLModel, table=True):
    """A lead's grant, by name, for a partner or observer to read one protected subject."""

    __table_args__ = (sa.UniqueConstraint("subject_id", "member_id"),)
    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    granted_by: int | None = Field(default=None, foreign_key="member.id")
    granted_at: datetime = ts(nullable=False)


class Recipient(SQLModel, table=True):
    """A named recipient of a TLP:RED item (`--to M-3,M-7`); the author reads it too."""

    __table_args__ = (
        sa.UniqueConstraint("kind", "item_id", "member_id"),
        sa.Index("ix_recipient_item", "kind", "item_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    kind: str = Field(max_length=16)  # subject notice sighting raid
    item_id: int
    member_id: int = Field(foreign_key="member.id", index=True)


class BreakGlass(SQLModel, table=True):
    """An admin's time-limited, audited read access to an operation they are not in."""

    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    reason: str = Field(max_length=1000)
    started_at: datetime = ts(nullable=False)
    expires_at: datetime = ts(nullable=False, index=True)


class FieldPending(SQLModel, table=True):
    """A sighting begun in the field and not finished yet (issue 16).

    A location pin waiting for whom was seen (`state` "subject", or "text" once the member
    chose "something else"), or a `sighting S-1` typed without a place waiting for a pin
    (`state` "where"). Kept in the store, so a restart loses nothing; the inbound event that
    made it is recorded with it (dispatch), so a redelivery makes nothing twice.
    """

    __table_args__ = (sa.Index("ix_fieldpending_open", "member_id", "platform", "channel_key"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    platform: str = Field(max_length=NAME_LENGTH)
    channel_key: str = Field(max_length=200)
    state: str = Field(max_length=8)  # subject | text | where
    lat: float | None = None
    lon: float | None = None
    place: str | None = Field(default=None, max_length=500)
    live: bool = Field(default=False)
    what: str | None = Field(default=None, max_length=1000)
    flags: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = ts(nullable=False)
    expires_at: datetime = ts(nullable=False)
    sighting_id: int | None = Field(default=None, foreign_key="sighting.id")
    closed_at: datetime | None = ts(nullable=True)


class Evidence(SQLModel, table=True):
    """A photo attached to a sighting (issue 16): the original kept as sent, identified by
    its SHA-256; `clean_key` is the copy without EXIF that may be posted onward."""

    __table_args__ = (sa.UniqueConstraint("sighting_id", "sha256"),)
    id: int | None = Field(default=None, primary_key=True)
    operation_id: int = Field(foreign_key="operation.id", index=True)
    sighting_id: int = Field(foreign_key="sighting.id", index=True)
    sha256: str = Field(max_length=64)
    filename: str = Field(max_length=200)
    mime_type: str = Field(max_length=40)
    size: int
    width: int
    height: int
    stored_key: str = Field(max_length=200)
    clean_key: str = Field(max_length=200)
    exif_time: str | None = Field(default=None, max_length=19)
    exif_lat: float | None = None
    exif_lon: float | None = None
    added_by: int | None = Field(default=None, foreign_key="member.id")
    added_at: datetime = ts(nullable=False)


import bot.store.models_casefile  # noqa: E402  (exhibits and statements, issue 28)
import bot.store.models_records  # noqa: E402,F401  (issue 28: grade history, sighting revisions)
from bot.store.models_entities import DeconflictionHit, DeconflictionPolicy, SubjectRelation  # noqa: E402, F401
from bot.store.models_victims import AgeAssessment, Handover, Task, VictimReferral  # noqa: E402,F401
