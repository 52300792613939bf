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
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import audit, lifecycle
from bot.access import TLP, Perm, Role, tlp_max
from bot.audit import Action
from bot.commands.combine import combined
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError
from bot.commands.evidence_view import photo_records, photos_of
from bot.commands.intel import COLOURS, notice_state
from bot.commands.registry import Flag, OpMode, command
from bot.contracts import Reply
from bot.core.disclosure import Level, is_protected_place
from bot.i18n import N_, _
from bot.messages import Attachment, Disclosure, Message
from bot.models import (
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
from bot.models_entities import SubjectRelation
from bot.protection import is_child, is_protected, load_reader
from bot.store import Store

SCHEMA_VERSION = 1
CONSOLE = "console"  # the one platform whose user sits at the server (`--out`)
JSON_MIME = "application/json"
MARKDOWN_MIME = "text/markdown"


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
    left_out: int = 0  # TLP:RED items not addressed to the exporting lead

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

    def attachments(self, disclosure: Disclosure | None = None) -> list[Attachment]:
        """The two files as reply attachments, each carrying what delivering it discloses."""
        return [
            Attachment(f"{self.stem}.json", JSON_MIME, self.json_bytes(), disclosure),
            Attachment(f"{self.stem}.md", MARKDOWN_MIME, self.markdown_bytes(), disclosure),
        ]

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


async def _readable(
    session: AsyncSession,
    op: Operation,
    reader_id: int,
    now: datetime,
    subjects: list[Subject],
    notices: list[Notice],
    sightings: list[Sighting],
) -> tuple[list[Subject], list[Notice], list[Sighting], int]:
    """What the exporting lead may read: TLP:RED items only where they are its author or a
    named recipient, and nothing about a RED subject they may not read. Also how many
    were left out."""
    who = await load_reader(session, op, reader_id, Role.LEAD, now)
    kept_subjects = [s for s in subjects if who.may_subject(s)]
    by_id = {s.id: s for s in subjects}
    kept_notices = [
        n
        for n in notices
        if who.may_item("notice", n.id, n.recorded_by, n.tlp, by_id.get(n.subject_id))
    ]
    kept_sightings = [
        s
        for s in sightings
        if who.may_item(
            "sighting",
            s.id,
            s.reporter_id,
            s.tlp,
            by_id.get(s.subject_id) if s.subject_id is not None else None,
        )
    ]
    left_out = len(subjects) + len(notices) + len(sightings)
    left_out -= len(kept_subjects) + len(kept_notices) + len(kept_sightings)
    return kept_subjects, kept_notices, kept_sightings, left_out


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

    `reader_id`: the lead exporting from chat; TLP:RED items not addressed to them are left
    out (`CaseFile.left_out`). None: the server's command line, which holds everything.
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
    left_out = 0
    if reader_id is not None:
        subjects, notices, sightings, left_out = await _readable(
            session, op, reader_id, now, subjects, notices, sightings
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
    mentioned |= {i.done_by for i in items}
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
    data["counts"] = {
        key: len(data[key])
        for key in ("members", "subjects", "notices", "sightings", "raids", "audit")
    }
    return CaseFile(data=data, tlp=top, left_out=left_out)


# ----------------------------------------------------------------------- markdown


def _cell(value: object) -> str:
    if value is None or value == "":
        return "—"
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out if len(out) > 2 else ["None."]


def _who(person: dict[str, Any] | None) -> str | None:
    return f"{person['name']} ({person['ref']})" if person else None


def to_markdown(data: dict[str, Any]) -> str:
    """A readable summary of a case file (the JSON stays the record)."""
    op = data["operation"]
    out = [
        f"**{data['tlp']}**",
        "",
        f"# Case file {op['code']} — {op['name']}",
        "",
        f"Generated {data['generated_at']} by {data['generated_by']} "
        f"(schema version {data['schema_version']}). Times are UTC. "
        "The JSON file beside this one is the complete record.",
        "",
        "## Operation",
        "",
        *_table(
            ["Status", "Countries", "Default TLP", "Time zone", "Created"],
            [
                [
                    op["status"],
                    op["countries"],
                    op["default_tlp"],
                    op["timezone"],
                    op["created_at"],
                ]
            ],
        ),
        "",
        "## Members and agencies",
        "",
        *_table(
            ["Member", "Name", "Agency", "Role", "Joined"],
            [
                [m["ref"], m["name"], m["agency"], m["role"], m["joined_at"]]
                for m in data["members"]
            ],
        ),
        "",
        *_table(
            ["Agency", "Name", "Country", "Kind"],
            [[a["code"], a["name"], a["country"], a["kind"]] for a in data["agencies"]],
        ),
        "",
        f"## Subjects ({len(data['subjects'])})",
        "",
        *_table(
            ["Ref", "Name", "Kind", "Category", "Aliases", "Nationality", "DOB", "TLP", "Review"],
            [
                [
                    s["ref"],
                    s["name"],
                    s["kind"],
                    s["category"],
                    s["aliases"],
                    s["nationality"],
                    s["dob"],
                    s["tlp"],
                    s["review_at"],
                ]
                for s in data["subjects"]
            ],
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
        ),
        "",
        f"## Notices ({len(data['notices'])})",
        "",
        *_table(
            [
                "Ref",
                "Colour",
                "Subject",
                "State",
                "Charges",
                "External ref",
                "Recorded",
                "Expires",
                "TLP",
            ],
            [
                [
                    n["ref"],
                    n["colour"],
                    n["subject"],
                    n["state"] + (f": {n['cancel_reason']}" if n["cancel_reason"] else ""),
                    n["charges"],
                    n["external_ref"],
                    n["recorded_at"],
                    n["expires_at"],
                    n["tlp"],
                ]
                for n in data["notices"]
            ],
        ),
        "",
        f"## Sightings ({len(data['sightings'])})",
        "",
        *_table(
            [
                "Ref",
                "Observed",
                "Reported",
                "Of",
                "Location",
                "Grade",
                "Observer",
                "TLP",
                "Match",
                "Photos",
            ],
            [
                [
                    s["ref"],
                    s["observed_at"],
                    s["reported_at"],
                    s["subject"] or s["description"],
                    s["location"] + (f" ({s['lat']}, {s['lon']})" if s["lat"] is not None else ""),
                    s["grade"],
                    (s["observer"] + " (second-hand)")
                    if s["observer"]
                    else f"{_who(s['reporter']) or 'unknown'} (first-hand)",
                    s["tlp"],
                    s["match_notice"],
                    ", ".join(f"{p['filename']} sha256:{p['sha256']}" for p in s["photos"]),
                ]
                for s in data["sightings"]
            ],
        ),
        "",
        f"## Raids ({len(data['raids'])})",
        "",
    ]
    if not data["raids"]:
        out += ["None.", ""]
    for raid in data["raids"]:
        out += [
            f"### {raid['ref']} {raid['title']} — {raid['status']}, {raid['at']} "
            f"({raid['timezone']}) · {raid['tlp']}",
            "",
        ]
        if raid["location"]:
            out.append(f"Location: {raid['location']}")
        if raid["reason"]:
            out.append(f"Reason: {raid['reason']}")
        for item in raid["checklist"]:
            tick = "x" if item["done"] else " "
            extra = ", mandatory" if item["mandatory"] else ""
            done = f" — done {item['done_at']} by {_who(item['done_by'])}" if item["done"] else ""
            note = f" ({item['note']})" if item["note"] else ""
            out.append(f"- [{tick}] [{item['phase']}{extra}] {item['text']}{done}{note}")
        out.append("")
    out += [
        f"## Audit trail ({len(data['audit'])} entries)",
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
    case = await build_case_file(
        ctx.session,
        op,
        now=ctx.now,
        generated_by=f"{member.name} (M-{member.id})",
        reader_id=member.id,
    )
    counts = case.counts()
    summary = ", ".join(f"{n} {key}" for key, n in counts.items())
    ctx.audit(
        Action.CONSULT,
        object_ref=f"{op.code}/export",
        reason=f"case file built for {member.name}: {summary}; disclosed once delivered",
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
    return Reply(
        Message(
            title=_("Case file {code}").format(code=op.code),
            lines=[
                _("Holds {summary}.").format(summary=summary),
                _(
                    "Two files, for you only: JSON (the record) and Markdown (to read). "
                    "Handle as {label}."
                ).format(label=case.tlp.label),
            ]
            + (
                [
                    _(
                        "Left out: {n} TLP:RED item(s) addressed to others; only their author "
                        "and named recipients read them."
                    ).format(n=case.left_out)
                ]
                if case.left_out
                else []
            ),
            context=f"{op.code} · {case.tlp.label}",
            tlp=case.tlp.value,
            attachments=case.attachments(disclosure),
        )
    )


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
    store: Store, code: str, out_dir: Path, *, now: datetime, actor: str
) -> tuple[CaseFile, list[Path]]:
    """The CLI's export: write both files to `out_dir` (mode 0600) and audit the disclosure."""
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
            summary=", ".join(f"{n} {key}" for key, n in case.counts().items()),
        )
    paths = await deliver_to_dir(store, case.attachments(disclosure), out_dir, now=now)
    return case, paths
