"""`export [OP]`: the operation's case file, as JSON (docs/export-schema.md) and Markdown.

The case file holds the operation, its members and agencies, linked channels, subjects,
notices, sightings, raids with their checklists, and the operation's audit trail. It is
sent to the lead privately as two files (in the console, and by `taskforce export OP
--out DIR`, written to a directory, mode 0600).

Building the file is a `consult`; the `disclose` entry is written by whoever delivers the
files, once they have arrived: after they are written to disk, or after the platform has
confirmed the upload (`record_delivery`). A failed upload discloses nothing and logs nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import N_, _
from bot.base.messages import Attachment, Disclosure, Message
from bot.commands import export_care
from bot.commands.combine import combined
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError
from bot.commands.evidence_view import photo_records, photos_of
from bot.commands.grading import grade_rows
from bot.commands.intel import COLOURS, notice_state
from bot.commands.registry import Flag, OpMode, command
from bot.commands.statements import language_name
from bot.contracts import Reply
from bot.core import lifecycle
from bot.core.access import TLP, Perm, Role, tlp_max
from bot.core.disclosure import Level, Reader, is_protected_place
from bot.core.evidence_reads import (
    ExhibitView,
    StatementView,
    readable_exhibits,
    readable_statements,
)
from bot.core.export_seal import (
    MANIFEST_SUFFIX,
    SIGNATURE_SUFFIX,
    SealError,
    load_private_key,
    seal,
)
from bot.core.protection import is_child, is_protected, load_reader
from bot.store import audit
from bot.store.audit import Action
from bot.store.engine import Store
from bot.store.models import (
    Agency,
    AuditEntry,
    ChannelLink,
    Member,
    Membership,
    Notice,
    Operation,
    Raid,
    RaidItem,
    Sighting,
    Subject,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from bot.store.models_entities import SubjectRelation

SCHEMA_VERSION = 1
CONSOLE = "console"  # the one platform whose user sits at the server (`--out`)
JSON_MIME = "application/json"
MARKDOWN_MIME = "text/markdown"
TEXT_MIME = "text/plain"  # the manifest (sha256sum lines) and its signature


Numbered = TypeVar("Numbered", Subject, Notice, Sighting, Raid)


async def _numbered(
    session: AsyncSession, model: type[Numbered], operation_id: int | None
) -> list[Numbered]:
    """Every row of `model` in the operation, in reference order (S-1, S-2, …)."""
    stmt = select(model).where(model.operation_id == operation_id).order_by(col(model.seq))
    # Erased records are left out entirely (their erasure is in the audit trail).
    return [r for r in (await session.exec(stmt)).all() if getattr(r, "erased_at", None) is None]


def iso(when: datetime | None) -> str | None:
    """`2026-11-28T09:00:00Z` (UTC), or None."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class CaseFile:
    """A built case file: the JSON document, its TLP, and the names of its two files."""

    data: dict[str, Any]
    tlp: TLP
    # TLP:RED and AMBER+STRICT items in the file that their label alone would not give the
    # exporting lead (they are neither author nor recipient): recorded as disclosed to them.
    beyond: tuple[str, ...] = ()

    @property
    def stem(self) -> str:
        """`OP-NIGHTJAR-case-file-20261128T090000Z`."""
        stamp = self.data["generated_at"].replace("-", "").replace(":", "")
        return f"{self.data['operation']['code']}-case-file-{stamp}"

    def json_bytes(self) -> bytes:
        """The JSON document, UTF-8, indented, keys in schema order."""
        return (json.dumps(self.data, indent=2, ensure_ascii=False) + "\n").encode()

    def markdown_bytes(self) -> bytes:
        """The readable summary, UTF-8."""
        return to_markdown(self.data).encode()

    def attachments(
        self, disclosure: Disclosure | None = None, key: Ed25519PrivateKey | None = None
    ) -> list[Attachment]:
        """The files as reply attachments, each carrying what delivering it discloses: the
        JSON, the Markdown, the manifest of both (SHA-256) and, with a key, its signature."""
        files = [
            Attachment(f"{self.stem}.json", JSON_MIME, self.json_bytes(), disclosure),
            Attachment(f"{self.stem}.md", MARKDOWN_MIME, self.markdown_bytes(), disclosure),
        ]
        sealed = seal([(a.filename, a.content) for a in files], key=key)
        files.append(
            Attachment(self.stem + MANIFEST_SUFFIX, TEXT_MIME, sealed.manifest, disclosure)
        )
        if sealed.signature is not None:
            files.append(
                Attachment(self.stem + SIGNATURE_SUFFIX, TEXT_MIME, sealed.signature, disclosure)
            )
        return files

    def counts(self) -> dict[str, int]:
        """How many of each kind of record the file holds."""
        return dict(self.data["counts"])


class _People:
    """Member id → `{"ref": "M-7", "name": …}` for every member the file mentions."""

    def __init__(self, members: Iterable[Member]) -> None:
        self._by_id = {m.id: m for m in members}

    def __call__(self, member_id: int | None) -> dict[str, Any] | None:
        if member_id is None:
            return None
        member = self._by_id.get(member_id)
        return {"ref": f"M-{member_id}", "name": member.name if member else None}


def _beyond(
    ordinary: Reader,
    subjects: list[Subject],
    notices: list[Notice],
    sightings: list[Sighting],
    exhibits: list[ExhibitView],
    statements: list[StatementView],
    op: Operation,
) -> tuple[str, ...]:
    """The references in the file the lead's ordinary reading would not give them (TLP:RED
    and AMBER+STRICT items addressed to others): what the export discloses beyond them."""
    by_id = {s.id: s for s in subjects}
    out = [f"S-{s.seq}" for s in subjects if not ordinary.may_subject(s)]
    out += [
        f"N-{n.seq}"
        for n in notices
        if not ordinary.may_item("notice", n.id, n.recorded_by, n.tlp, by_id.get(n.subject_id))
    ]
    out += [
        f"SG-{s.seq}"
        for s in sightings
        if not ordinary.may_item(
            "sighting", s.id, s.reporter_id, s.tlp, by_id.get(s.subject_id or 0)
        )
    ]
    out += [
        f"E-{v.exhibit.seq}"
        for v in exhibits
        if ordinary.exhibit(
            op,
            v.exhibit,
            v.sighting,
            by_id.get(v.sighting.subject_id or 0) if v.sighting else None,
            v.raid,
        )
        is not Level.FULL
    ]
    out += [
        f"ST-{v.statement.seq}"
        for v in statements
        if ordinary.statement(v.statement, v.subject) is not Level.FULL
    ]
    return tuple(out)


async def _relations(
    session: AsyncSession,
    op: Operation,
    reader_id: int | None,
    now: datetime,
    subject_ref: dict[int | None, str],
) -> list[SubjectRelation]:
    """The typed links between subjects the case file holds: both subjects in it, and read
    in full by the exporting lead (the disclosure rule); all of them from the server."""
    rows = list(
        (
            await session.exec(
                select(SubjectRelation)
                .where(SubjectRelation.operation_id == op.id)
                .order_by(col(SubjectRelation.id))
            )
        ).all()
    )
    rows = [r for r in rows if r.subject_a in subject_ref and r.subject_b in subject_ref]
    if reader_id is None or not rows:
        return rows
    who = await load_reader(session, op, reader_id, Role.LEAD, now)
    subjects = {
        s.id: s
        for s in (
            await session.exec(
                select(Subject).where(
                    col(Subject.id).in_({i for r in rows for i in (r.subject_a, r.subject_b)})
                )
            )
        ).all()
    }
    return [
        r
        for r in rows
        if who.relation(r.id, r.created_by, r.tlp, subjects[r.subject_a], subjects[r.subject_b])
        is Level.FULL
    ]


async def build_case_file(
    session: AsyncSession,
    op: Operation,
    *,
    now: datetime,
    generated_by: str,
    reader_id: int | None = None,
) -> CaseFile:
    """Read everything of `op` and build the case file (schema version 1).

    `reader_id`: the member exporting from chat, read through the disclosure rule as the
    case file's reader (clause 10: a lead reads every record, TLP:RED included; the items
    beyond their ordinary reading are `CaseFile.beyond`). None: the server's command line,
    which holds everything.
    """
    memberships = list(
        (
            await session.exec(
                select(Membership, Member)
                .join(Member, col(Member.id) == col(Membership.member_id))
                .where(Membership.operation_id == op.id)
                .order_by(col(Member.id))
            )
        ).all()
    )
    subjects = await _numbered(session, Subject, op.id)
    notices = await _numbered(session, Notice, op.id)
    sightings = await _numbered(session, Sighting, op.id)
    if reader_id is None:
        ordinary = Reader(role=Role.LEAD, member_id=None, now=now)
    else:
        membership = next((ms for ms, m in memberships if m.id == reader_id), None)
        role = Role(membership.role) if membership is not None else Role.OBSERVER
        ordinary = await load_reader(session, op, reader_id, role, now)
    who = ordinary.for_case_file()
    by_id = {s.id: s for s in subjects}
    subjects = [s for s in subjects if who.may_subject(s)]
    notices = [
        n
        for n in notices
        if who.may_item("notice", n.id, n.recorded_by, n.tlp, by_id.get(n.subject_id))
    ]
    sightings = [
        s
        for s in sightings
        if who.may_item("sighting", s.id, s.reporter_id, s.tlp, by_id.get(s.subject_id or 0))
    ]
    exhibits, _hidden = await readable_exhibits(session, op, who)
    statements, _hidden = await readable_statements(session, op, who)
    beyond = (
        _beyond(ordinary, subjects, notices, sightings, exhibits, statements, op)
        if reader_id is not None
        else ()
    )
    raids = await _numbered(session, Raid, op.id)
    items = (
        list(
            (
                await session.exec(
                    select(RaidItem)
                    .where(col(RaidItem.raid_id).in_([r.id for r in raids]))
                    .order_by(col(RaidItem.raid_id), col(RaidItem.position))
                )
            ).all()
        )
        if raids
        else []
    )
    links = list(
        (
            await session.exec(
                select(ChannelLink)
                .where(ChannelLink.operation_id == op.id)
                .order_by(col(ChannelLink.id))
            )
        ).all()
    )
    entries = list(
        (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.operation_id == op.id)
                .order_by(col(AuditEntry.id))
            )
        ).all()
    )
    mentioned = {m.id for _, m in memberships} | {op.created_by}
    mentioned |= {s.created_by for s in subjects} | {r.created_by for r in raids}
    mentioned |= {n.recorded_by for n in notices} | {s.reporter_id for s in sightings}
    mentioned |= {s.graded_by for s in sightings}
    grades = await grade_rows(session, [s.id or 0 for s in sightings])
    mentioned |= {g.graded_by for rows in grades.values() for g in rows}
    mentioned |= {i.done_by for i in items}
    for view in exhibits:
        mentioned |= {view.exhibit.holder_id, view.exhibit.created_by}
        mentioned |= {x for t in view.trail for x in (t.from_id, t.to_id, t.recorded_by)}
    for sview in statements:
        mentioned |= {sview.statement.taken_by} | {t.added_by for t in sview.translations}
    mentioned.discard(None)
    members = list((await session.exec(select(Member).where(col(Member.id).in_(mentioned)))).all())
    people = _People(members)
    agency_ids = {m.agency_id for _, m in memberships if m.agency_id is not None}
    agencies = (
        list((await session.exec(select(Agency).where(col(Agency.id).in_(agency_ids)))).all())
        if agency_ids
        else []
    )
    agency_code = {a.id: a.code for a in agencies}
    photos = await photos_of(session, [s.id for s in sightings])
    subject_ref = {s.id: f"S-{s.seq}" for s in subjects}
    notice_ref = {n.id: f"N-{n.seq}" for n in notices}
    by_raid: dict[int, list[RaidItem]] = {}
    for item in items:
        by_raid.setdefault(item.raid_id, []).append(item)

    labels = [op.tlp, *(x.tlp for x in subjects), *(x.tlp for x in notices)]
    labels += [*(x.tlp for x in sightings), *(x.tlp for x in raids)]
    labels += [*(v.exhibit.tlp for v in exhibits), *(v.statement.tlp for v in statements)]
    top = tlp_max(*labels) or TLP(op.tlp)
    if any(is_protected(x, now) for x in subjects) or any(
        is_protected_place(x.place_kind) for x in sightings
    ):
        # It names protected persons (victims, witnesses, children) or places (shelters,
        # safe houses, victim-care locations): handle as TLP:RED.
        top = TLP.RED
    relations = await _relations(session, op, reader_id, now, subject_ref)
    top = tlp_max(top, *(r.tlp for r in relations)) or top
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(now),
        "generated_by": generated_by,
        "tlp": top.label,
        "operation": {
            "code": op.code,
            "name": op.name,
            "countries": [c for c in op.countries.split(",") if c],
            "default_tlp": TLP(op.tlp).label,
            "timezone": op.timezone,
            "status": op.status,
            "created_at": iso(op.created_at),
            "created_by": people(op.created_by),
            "intent": op.intent,
        },
        "agencies": [
            {"code": a.code, "name": a.name, "country": a.country, "kind": a.kind}
            for a in sorted(agencies, key=lambda a: a.code)
        ],
        "members": [
            {
                "ref": f"M-{m.id}",
                "name": m.name,
                "agency": agency_code.get(m.agency_id),
                "role": ms.role,
                "joined_at": iso(ms.joined_at),
            }
            for ms, m in memberships
        ],
        "channels": [
            {
                "platform": c.platform,
                "channel": c.channel_key,
                "name": c.channel_name,
                "is_group": c.is_group,
                "max_tlp": TLP(c.max_tlp).label,
                "linked_at": iso(c.linked_at),
            }
            for c in links
        ],
        "subjects": [
            {
                "ref": f"S-{s.seq}",
                "kind": s.kind,
                "name": s.name,
                "category": s.category,
                "aliases": list(s.aliases),
                "nationality": s.nationality,
                "dob": s.dob,
                "sex": s.sex,
                "description": s.description,
                "child": is_child(s, now),
                "protected": is_protected(s, now),
                "protection_lifted": s.protection_reason if s.protection_lifted_at else None,
                "tlp": TLP(s.tlp).label,
                "review_at": iso(s.review_at),
                "created_at": iso(s.created_at),
                "created_by": people(s.created_by),
            }
            for s in subjects
        ],
        "notices": [
            {
                "ref": f"N-{n.seq}",
                "colour": n.colour,
                "kind": n.kind,
                "purpose": COLOURS[n.colour].purpose,
                "subject": subject_ref.get(n.subject_id),
                "charges": n.charges,
                "summary": n.summary,
                "external_ref": n.external_ref,
                "requested_by": n.requested_by,
                "warrant_ref": n.warrant_ref,
                "warrant_country": n.warrant_country,
                "countries": n.countries,
                "tlp": TLP(n.tlp).label,
                "state": notice_state(n, now),
                "recorded_at": iso(n.recorded_at),
                "recorded_by": people(n.recorded_by),
                "published_at": iso(n.published_at),
                "expires_at": iso(n.expires_at),
                "renewed_at": iso(n.renewed_at),
                "cancelled_at": iso(n.cancelled_at),
                "cancel_reason": n.cancel_reason,
            }
            for n in notices
        ],
        "sightings": [
            {
                "ref": f"SG-{s.seq}",
                "subject": subject_ref.get(s.subject_id) if s.subject_id else None,
                "description": s.description,
                "location": s.location,
                "lat": s.lat,
                "lon": s.lon,
                "observed_at": iso(s.observed_at),
                "reported_at": iso(s.reported_at),
                "activity": s.activity,
                "direction": s.direction,
                "count": s.count,
                "equipment": s.equipment,
                "grade": s.grade,
                "graded_by": people(s.graded_by),
                "reporter_grade": s.reporter_grade,
                "tlp": TLP(s.tlp).label,
                "note": s.note,
                "first_hand": s.observer is None,
                "observer": s.observer,
                "reporter": people(s.reporter_id),
                "match_notice": notice_ref.get(s.match_notice_id) if s.match_notice_id else None,
                "photos": photo_records(photos.get(s.id or 0, []), iso),
                "grades": [
                    {
                        "grade": g.grade,
                        "was": g.was,
                        "graded_by": people(g.graded_by),
                        "graded_at": iso(g.graded_at),
                        "reason": g.reason,
                    }
                    for g in grades.get(s.id or 0, [])
                ],
            }
            for s in sightings
        ],
        "raids": [
            {
                "ref": f"R-{r.seq}",
                "title": r.title,
                "at": iso(r.at),
                "timezone": r.timezone,
                "location": r.location,
                "template": r.template_name,
                "status": r.status,
                "reason": r.reason,
                "tlp": TLP(r.tlp).label,
                "created_at": iso(r.created_at),
                "created_by": people(r.created_by),
                "updated_at": iso(r.updated_at),
                "checklist": [
                    {
                        "position": i.position,
                        "phase": i.phase,
                        "text": i.text,
                        "mandatory": i.mandatory,
                        "role": i.role,
                        "done": i.done_at is not None,
                        "done_at": iso(i.done_at),
                        "done_by": people(i.done_by),
                        "note": i.note,
                        "late": i.late,
                    }
                    for i in by_raid.get(r.id or 0, [])
                ],
            }
            for r in raids
        ],
        "audit": [
            {
                "id": e.id,
                "at": iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "command": e.command,
                "object": e.object_ref,
                "channel": e.channel,
                "reason": e.reason,
                "outcome": e.outcome,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in entries
        ],
    }
    sighting_ref = {s.id: f"SG-{s.seq}" for s in sightings}
    data["exhibits"] = [_exhibit(v, people, sighting_ref) for v in exhibits]
    data["statements"] = [_statement(v, people, subject_ref) for v in statements]
    data["victim_care"] = await export_care.victim_care(session, subjects, people, iso)
    data["tasks"] = await export_care.tasks(session, op, people, iso)
    data["relations"] = [
        {
            "from": subject_ref[r.subject_a],
            "kind": r.kind,
            "to": subject_ref[r.subject_b],
            "source": r.source,
            "grade": r.grade,
            "tlp": TLP(r.tlp).label,
            "recorded_at": iso(r.created_at),
            "recorded_by": people(r.created_by),
        }
        for r in relations
    ]
    data["audit"] = data.pop("audit")  # the trail stays last
    data["counts"] = {key: len(data[key]) for key in COUNTED}
    return CaseFile(data=data, tlp=top, beyond=beyond)


COUNTED = (
    "members",
    "subjects",
    "notices",
    "sightings",
    "raids",
    "exhibits",
    "statements",
    "audit",
)


def _holder(people: _People, member_id: int | None, name: str | None) -> dict[str, Any] | None:
    """A person value for a member, or `{"ref": null, "name": "Ana Costa, PJ lab"}`."""
    if member_id is not None:
        return people(member_id)
    return {"ref": None, "name": name} if name else None


def _exhibit(
    view: ExhibitView, people: _People, sighting_ref: dict[int | None, str]
) -> dict[str, Any]:
    """One exhibit of the case file, with its chain of custody."""
    e = view.exhibit
    return {
        "ref": f"E-{e.seq}",
        "number": e.number,
        "description": e.description,
        "seal": e.seal,
        "found_at": e.found_at,
        "seized_at": iso(e.seized_at),
        "sighting": sighting_ref.get(e.sighting_id) if e.sighting_id else None,
        "raid": f"R-{view.raid.seq}" if view.raid else None,
        "photo": view.photo.sha256 if view.photo else None,
        "tlp": TLP(e.tlp).label,
        "holder": _holder(people, e.holder_id, e.holder_name),
        "created_by": people(e.created_by),
        "custody": [
            {
                "at": iso(t.at),
                "from": _holder(people, t.from_id, t.from_name),
                "to": _holder(people, t.to_id, t.to_name),
                "reason": t.reason,
                "recorded_by": people(t.recorded_by),
                "recorded_at": iso(t.recorded_at),
            }
            for t in view.trail
        ],
    }


def _statement(
    view: StatementView, people: _People, subject_ref: dict[int | None, str]
) -> dict[str, Any]:
    """One statement of the case file, as made, with its translations."""
    s = view.statement
    return {
        "ref": f"ST-{s.seq}",
        "subject": subject_ref.get(s.subject_id) if s.subject_id else None,
        "maker": view.subject.name if view.subject else s.maker,
        "language": s.language,
        "text": s.text,
        "taken_at": iso(s.taken_at),
        "taken_by": people(s.taken_by),
        "tlp": TLP(s.tlp).label,
        "translations": [
            {
                "language": t.language,
                "text": t.text,
                "translator": t.translator,
                "added_by": people(t.added_by),
                "added_at": iso(t.added_at),
            }
            for t in view.translations
        ],
    }


# ----------------------------------------------------------------------- markdown


def _cell(value: object) -> str:
    if value is None or value == "" or value == []:
        return "—"
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str) -> list[str]:
    """A Markdown table, or the sentence `empty` when there are no rows."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out if len(out) > 2 else [empty]


# An item ticked late (issue 28): after the go (a before item), after the raid was done.
LATE_MD = {"after-go": " (after the go)", "after-done": " (after the raid was done)"}


def _who(person: dict[str, Any] | None) -> str | None:
    if not person:
        return None
    return f"{person['name']} ({person['ref']})" if person.get("ref") else str(person["name"])


def _fields(pairs: Iterable[tuple[str, object]]) -> list[str]:
    """`- **Label:** value` for each pair that has a value."""
    return [
        f"- **{label}:** {' '.join(str(_cell(value)).split())}"
        for label, value in pairs
        if value not in (None, "", [])
    ]


def plural(n: int, one: str, many: str) -> str:
    """`1 raid`, `2 raids`."""
    return f"{n} {one if n == 1 else many}"


# Each counted kind of record, singular and plural (`counts` in words).
KIND_WORDS = {
    "members": ("member", "members"),
    "subjects": ("subject", "subjects"),
    "notices": ("notice", "notices"),
    "sightings": ("sighting", "sightings"),
    "raids": ("raid", "raids"),
    "exhibits": ("exhibit", "exhibits"),
    "statements": ("statement", "statements"),
    "audit": ("audit entry", "audit entries"),
}


def counts_in_words(counts: dict[str, int]) -> str:
    """`4 members, 1 raid, 12 audit entries`."""
    return ", ".join(plural(n, *KIND_WORDS[key]) for key, n in counts.items() if key in KIND_WORDS)


def _notice_block(n: dict[str, Any]) -> list[str]:
    kind = "diffusion" if n["kind"] == "diffusion" else "notice"
    state = n["state"] + (f": {n['cancel_reason']}" if n["cancel_reason"] else "")
    warrant = n["warrant_ref"]
    if warrant and n["warrant_country"]:
        warrant = f"{warrant} ({n['warrant_country']})"
    return [
        f"### {n['ref']} {n['colour']} {kind} — {state} · {n['tlp']}",
        "",
        *_fields(
            [
                ("Purpose", n["purpose"]),
                ("Subject", n["subject"]),
                ("Charges", n["charges"]),
                ("Summary", n["summary"]),
                ("Reference", n["external_ref"]),
                ("Requested by", n["requested_by"]),
                ("Warrant", warrant),
                ("Sent to", n["countries"]),
                ("Recorded", f"{n['recorded_at']} by {_who(n['recorded_by']) or 'unknown'}"),
                ("Renewed", n["renewed_at"]),
                ("Expires", n["expires_at"]),
                ("Cancelled", n["cancelled_at"]),
            ]
        ),
        "",
    ]


def _grades(history: list[dict[str, Any]]) -> list[str]:
    """The grade history of a sighting, where the file carries one."""
    return [
        f"  - {g.get('graded_at') or '—'}: {g.get('grade') or '—'} by "
        f"{_who(g.get('graded_by')) or 'unknown'}"
        + (f" (was {g['was']})" if g.get("was") else "")
        + (f" — {g['reason']}" if g.get("reason") else "")
        for g in history
    ]


def _sighting_block(s: dict[str, Any], names: dict[str, str]) -> list[str]:
    where = s["location"] + (f" ({s['lat']}, {s['lon']})" if s["lat"] is not None else "")
    source = (
        f"{s['observer']} (second-hand, reported by {_who(s['reporter']) or 'unknown'})"
        if s["observer"]
        else f"{_who(s['reporter']) or 'unknown'} (first-hand)"
    )
    grade = s["grade"]
    if grade and s["graded_by"]:
        grade = f"{grade}, by {_who(s['graded_by'])}"
    out = [
        f"### {s['ref']} — "
        + (f"{s['subject']} {names.get(s['subject'], '')}".strip() if s["subject"] else "")
        + (s["description"] or "")
        + f" · {s['tlp']}",
        "",
        *_fields(
            [
                ("Observed", s["observed_at"]),
                ("Reported", s["reported_at"]),
                ("Location", where),
                ("Source", source),
                ("Activity", s["activity"]),
                ("Direction", s["direction"]),
                ("Count", s["count"]),
                ("Equipment", s["equipment"]),
                ("Grade", grade),
                ("Reporter's assessment", s["reporter_grade"]),
                ("Match", s["match_notice"]),
                ("Note", s["note"]),
            ]
        ),
    ]
    history = s.get("grade_history") or []
    if history:
        out += ["- **Grade history:**", *_grades(history)]
    out += [f"- **Photo:** {p['filename']}, SHA-256 {p['sha256']}" for p in s["photos"]]
    return [*out, ""]


def _exhibit_block(e: dict[str, Any]) -> list[str]:
    out = [
        f"### {e['ref']} {e['number']} — {e['description']} · {e['tlp']}",
        "",
        *_fields(
            [
                ("Seal", e["seal"]),
                ("Found at", e["found_at"]),
                ("Seized", e["seized_at"]),
                ("Sighting", e["sighting"]),
                ("Raid", e["raid"]),
                ("Photo SHA-256", e["photo"]),
                ("Held by", _who(e["holder"])),
            ]
        ),
        "- **Chain of custody:**",
    ]
    for n, link in enumerate(e["custody"], 1):
        if link["from"] is None:
            step = f"seized by {_who(link['to'])}"
        else:
            step = f"{_who(link['from'])} to {_who(link['to'])}"
        out.append(f"  {n}. {link['at']}: {step} — {' '.join(link['reason'].split())}")
    return [*out, ""]


def _statement_block(st: dict[str, Any]) -> list[str]:
    maker = f"{st['maker']} ({st['subject']})" if st["subject"] else st["maker"]
    out = [
        f"### {st['ref']} — {maker} · {st['tlp']}",
        "",
        *_fields(
            [
                ("Language", language_name(st["language"])),
                ("Taken", f"{st['taken_at']} by {_who(st['taken_by']) or 'unknown'}"),
            ]
        ),
        "",
        *(f"> {line}" for line in st["text"].splitlines() or [""]),
        "",
    ]
    for t in st["translations"]:
        out += [
            f"Translation into {language_name(t['language'])} by {t['translator']} "
            f"({t['added_at']}):",
            "",
            *(f"> {line}" for line in t["text"].splitlines() or [""]),
            "",
        ]
    return out


def _section(title: str, rows: list[dict[str, Any]], empty: str, block: Any) -> list[str]:
    out = [f"## {title} ({len(rows)})", ""]
    for row in rows:
        out += block(row)
    return out if rows else [*out, empty, ""]


def to_markdown(data: dict[str, Any]) -> str:
    """A readable summary of a case file: every field a reader needs (the JSON stays the
    record)."""
    op = data["operation"]
    out = [
        f"**{data['tlp']}**",
        "",
        f"# Case file {op['code']} — {op['name']}",
        "",
        f"Generated {data['generated_at']} by {data['generated_by']} "
        f"(schema version {data['schema_version']}). Times are UTC. "
        "The JSON file beside this one is the complete record; the manifest beside both "
        "lists their SHA-256.",
        "",
        f"Holds {counts_in_words(data['counts'])}.",
        "",
        "## Operation",
        "",
        *_table(
            ["Status", "Countries", "Default TLP", "Time zone", "Created", "Created by"],
            [
                [
                    op["status"],
                    op["countries"],
                    op["default_tlp"],
                    op["timezone"],
                    op["created_at"],
                    _who(op["created_by"]),
                ]
            ],
            "",
        ),
        "",
        f"**Intent:** {' '.join(op['intent'].split())}"
        if op.get("intent")
        else "**Intent:** not stated.",
        "",
        "## Members and agencies",
        "",
        *_table(
            ["Member", "Name", "Agency", "Role", "Joined"],
            [
                [m["ref"], m["name"], m["agency"], m["role"], m["joined_at"]]
                for m in data["members"]
            ],
            "No members.",
        ),
        "",
        *_table(
            ["Agency", "Name", "Country", "Kind"],
            [[a["code"], a["name"], a["country"], a["kind"]] for a in data["agencies"]],
            "No agencies recorded for the members.",
        ),
        "",
        "## Linked channels",
        "",
        *_table(
            ["Platform", "Channel", "Name", "Group", "Ceiling", "Linked"],
            [
                [
                    c["platform"],
                    c["channel"],
                    c["name"],
                    "yes" if c["is_group"] else "no (one-to-one)",
                    c["max_tlp"],
                    c["linked_at"],
                ]
                for c in data["channels"]
            ],
            "No channels linked.",
        ),
        "",
        f"## Subjects ({len(data['subjects'])})",
        "",
        *_table(
            [
                "Ref",
                "Name",
                "Kind",
                "Category",
                "Aliases",
                "Nationality",
                "DOB",
                "Sex",
                "Protected",
                "Description",
                "TLP",
                "Review",
                "Recorded by",
            ],
            [
                [
                    s["ref"],
                    s["name"],
                    s["kind"],
                    s["category"],
                    s["aliases"],
                    s["nationality"],
                    s["dob"],
                    s["sex"],
                    ("yes, a child" if s["child"] else "yes")
                    if s["protected"]
                    else (f"lifted: {s['protection_lifted']}" if s["protection_lifted"] else "no"),
                    s["description"],
                    s["tlp"],
                    s["review_at"],
                    _who(s["created_by"]),
                ]
                for s in data["subjects"]
            ],
            "No subjects.",
        ),
        "",
        f"## Typed links ({len(data['relations'])})",
        "",
        *_table(
            ["From", "Link", "To", "Source", "Grade", "TLP"],
            [
                [r["from"], r["kind"], r["to"], r["source"], r["grade"], r["tlp"]]
                for r in data["relations"]
            ],
            "No typed links.",
        ),
        "",
        *_section("Notices", data["notices"], "No notices.", _notice_block),
        *_section(
            "Sightings",
            data["sightings"],
            "No sightings.",
            partial(_sighting_block, names={x["ref"]: x["name"] for x in data["subjects"]}),
        ),
        f"## Raids ({len(data['raids'])})",
        "",
    ]
    if not data["raids"]:
        out += ["No raids.", ""]
    for raid in data["raids"]:
        out += [
            f"### {raid['ref']} {raid['title']} — {raid['status']}, {raid['at']} "
            f"({raid['timezone']}) · {raid['tlp']}",
            "",
        ]
        out += _fields(
            [
                ("Location", raid["location"]),
                ("Template", raid["template"]),
                ("Reason", raid["reason"]),
                ("Planned by", _who(raid["created_by"])),
            ]
        )
        for item in raid["checklist"]:
            tick = "x" if item["done"] else " "
            extra = ", mandatory" if item["mandatory"] else ""
            done = f" — done {item['done_at']} by {_who(item['done_by'])}" if item["done"] else ""
            done += LATE_MD.get(item.get("late") or "", "")
            note = f" ({item['note']})" if item["note"] else ""
            out.append(f"- [{tick}] [{item['phase']}{extra}] {item['text']}{done}{note}")
        out.append("")
    out += [
        *_section("Exhibits", data["exhibits"], "No exhibits.", _exhibit_block),
        *_section("Statements", data["statements"], "No statements.", _statement_block),
        f"## Audit trail ({plural(len(data['audit']), 'entry', 'entries')})",
        "",
        *_table(
            ["#", "At", "Actor", "Action", "Command", "Object", "Channel", "Reason"],
            [
                [
                    e["id"],
                    e["at"],
                    e["actor"],
                    e["action"],
                    e["command"],
                    e["object"],
                    e["channel"],
                    e["reason"],
                ]
                for e in data["audit"]
            ],
            "No audit entries.",
        ),
        "",
        f"**{data['tlp']}**",
        "",
    ]
    return "\n".join(out)


# ------------------------------------------------------------------- the command


@command(
    "export",
    "export [OP] [--out DIR]",
    N_("The operation's case file as JSON and Markdown, sent to you privately (lead)."),
    flags=(Flag("out", kind="path"),),
    op=OpMode.REQUIRED,
    perm=Perm.EXPORT,
    action=Action.CONSULT,
    details=N_(
        "Operation, members and agencies, subjects, notices, sightings, raids with their "
        "checklists, and the audit trail. The JSON schema is in docs/export-schema.md.\n"
        "The files carry the highest TLP of what they hold (TLP:RED when they name a "
        "protected person); TLP:RED items are in them only for their author and named "
        "recipients. On Slack and Telegram they go to your direct messages with the bot; in "
        "the console they are written to ./exports/ (or `--out DIR`). The disclosure is "
        "audited once the files have arrived. On the server: `taskforce export OP --out DIR`."
    ),
)
async def export_command(ctx: CommandContext) -> Reply:
    """Build the case file and hand it to the adapter as two private attachments."""
    op = ctx.operation()
    member = ctx.member()
    out = ctx.args.get("out")
    if out is not None and ctx.inv.channel.platform != CONSOLE:
        raise CommandError(
            _(
                "`--out` writes to the server's disk, so it works only in the console "
                "(`taskforce shell`); here the files come to your direct messages."
            )
        )
    key = None
    if ctx.settings.export_signing_key is not None:
        try:
            key = load_private_key(ctx.settings.export_signing_key)
        except SealError as exc:
            raise CommandError(
                _(
                    "The case file cannot be signed: the server's signing key is unusable; "
                    "the operator runs `taskforce check`."
                )
            ) from exc
    case = await build_case_file(
        ctx.session,
        op,
        now=ctx.now,
        generated_by=f"{member.name} (M-{member.id})",
        reader_id=member.id,
    )
    counts = case.counts()
    summary = counts_in_words(counts)
    if case.beyond:
        summary += "; restricted to others, disclosed to the lead: " + ", ".join(case.beyond)
    ctx.audit(
        Action.CONSULT,
        object_ref=f"{op.code}/export",
        reason=f"case file built for {member.name}: {summary}; disclosed once delivered"[:1000],
    )
    await combined(ctx, "export", "case file", lifecycle.CASE_FILE_SOURCES)
    disclosure = Disclosure(
        operation_id=op.id or 0,
        object_ref=f"{op.code}/export",
        recipient=f"{member.name} (M-{member.id})",
        recipient_id=member.id,
        summary=summary,
        directory=str(out) if out is not None else None,
    )
    lines = [
        _(
            "For you only: the JSON (the record), the Markdown (to read) and the manifest of "
            "their SHA-256. Handle as {label}."
        ).format(label=case.tlp.label),
        _("The manifest is signed; check it with `taskforce verify-export`.")
        if key is not None
        else _(
            "The manifest is not signed: the server has no signing key "
            "(TASKFORCE_EXPORT_SIGNING_KEY)."
        ),
    ]
    if case.beyond:
        lines.append(
            _(
                "It includes {refs}, restricted to others (TLP:RED or AMBER+STRICT); the audit "
                "records their disclosure to you."
            ).format(refs=", ".join(case.beyond))
        )
    return Reply(
        Message(
            title=_("Case file {code}").format(code=op.code),
            fields=[(_(KIND_LABELS[kind]), str(n)) for kind, n in counts.items()],
            lines=lines,
            context=f"{op.code} · {case.tlp.label}",
            tlp=case.tlp.value,
            attachments=case.attachments(disclosure, key),
        )
    )


# The counted kinds as the reply labels them (`Raids: 1`: no plural to get wrong).
KIND_LABELS = {
    "members": N_("Members"),
    "subjects": N_("Subjects"),
    "notices": N_("Notices"),
    "sightings": N_("Sightings"),
    "raids": N_("Raids"),
    "exhibits": N_("Exhibits"),
    "statements": N_("Statements"),
    "audit": N_("Audit entries"),
}


def write_files(attachments: Sequence[Attachment], out_dir: Path) -> list[Path]:
    """Write each file into `out_dir` (created if missing), readable by its owner only.

    Raises `ValueError` with one sentence when the directory cannot be written.
    """
    paths: list[Path] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for attachment in attachments:
            path = (out_dir / attachment.filename).resolve()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o600)  # also when the file was there already
                fh.write(attachment.content)
            paths.append(path)
    except OSError as exc:
        for path in paths:  # half a case file is no use to anyone: leave none behind
            path.unlink(missing_ok=True)
        why = exc.strerror or type(exc).__name__
        raise ValueError(
            f"Could not write the case file to {out_dir}: {why.lower()}; nothing was disclosed."
        ) from exc
    return paths


async def record_delivery(
    store: Store,
    now: datetime,
    delivered: Sequence[tuple[Attachment, str]],
    channel: str,
) -> int:
    """Audit the disclosure of files that have arrived; return the entries written.

    `delivered` pairs each file with where it now is (a path, or the platform's file name).
    One `disclose` entry per disclosure the files carry, naming every file delivered with it.
    Files without a disclosure are not audited here.
    """
    groups: dict[Disclosure, list[str]] = {}
    for attachment, where in delivered:
        if attachment.disclosure is not None:
            groups.setdefault(attachment.disclosure, []).append(where)
    if not groups:
        return 0
    async with store.transaction() as session:
        for disclosure, places in groups.items():
            reason = f"case file to {disclosure.recipient}: {disclosure.summary}; " + ", ".join(
                places
            )
            await audit.append(
                session,
                at=now,
                actor=disclosure.recipient[:200],
                actor_id=disclosure.recipient_id,
                action=Action.DISCLOSE,
                command="export",
                operation_id=disclosure.operation_id,
                object_ref=disclosure.object_ref,
                channel=channel[:200],
                reason=reason[:1000],
            )
    return len(groups)


async def deliver_to_dir(
    store: Store, attachments: Sequence[Attachment], out_dir: Path, *, now: datetime
) -> list[Path]:
    """Write the files to `out_dir` (mode 0600), then audit what they disclose."""
    paths = write_files(attachments, out_dir)
    await record_delivery(
        store,
        now,
        [(a, str(p)) for a, p in zip(attachments, paths, strict=True)],
        f"file:{out_dir.resolve()}",
    )
    return paths


async def export_to_dir(
    store: Store,
    code: str,
    out_dir: Path,
    *,
    now: datetime,
    actor: str,
    key: Ed25519PrivateKey | None = None,
) -> tuple[CaseFile, list[Path]]:
    """The CLI's export: write the files to `out_dir` (mode 0600), the manifest signed with
    `key`, and audit the disclosure."""
    async with store.transaction() as session:
        op = (
            await session.exec(select(Operation).where(Operation.code == code.strip().upper()))
        ).first()
        if op is None:
            raise ValueError(f"There is no operation {code.strip().upper()}.")
        case = await build_case_file(session, op, now=now, generated_by=actor)
        await lifecycle.audit_combine(
            session,
            at=now,
            actor=actor,
            actor_id=None,
            op=op,
            command="export",
            into="case file",
            sources=lifecycle.CASE_FILE_SOURCES,
        )
        disclosure = Disclosure(
            operation_id=op.id or 0,
            object_ref=f"{op.code}/export",
            recipient=actor,
            recipient_id=None,
            summary=counts_in_words(case.counts()),
        )
    paths = await deliver_to_dir(store, case.attachments(disclosure, key), out_dir, now=now)
    return case, paths
