"""`export`: the case file round-trips, holds nothing of another operation, is lead-only."""

from __future__ import annotations

import asyncio
import json
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from typer.testing import CliRunner

from bot.base.clock import ManualClock
from bot.commands.export import SCHEMA_VERSION
from bot.core.access import TLP
from bot.serving.app import App, build_app
from bot.serving.cli import cli
from bot.store.audit import Action
from bot.store.models import AuditEntry, Notice, Operation, Raid, RaidItem, Sighting, Subject
from tests.conftest import START, make_settings
from tests.fieldintel import OP, ok, operation, refused

OTHER = "OP-OTHER"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "export-schema.md"


async def _raid(app: App, code: str, title: str, items: list[str], done: int) -> None:
    async with app.store.transaction() as session:
        op = (await session.exec(select(Operation).where(Operation.code == code))).one()
        raid = Raid(
            operation_id=op.id or 0,
            seq=1,
            title=title,
            at=START + timedelta(days=2),
            timezone="Europe/Lisbon",
            location="Rua das Flores 12",
            template_name="trafficking-raid",
            tlp="amber",
            created_at=START,
            updated_at=START,
        )
        session.add(raid)
        await session.flush()
        for i, item in enumerate(items):
            session.add(
                RaidItem(
                    raid_id=raid.id or 0,
                    position=i + 1,
                    phase="before",
                    text=item,
                    done_at=START if i < done else None,
                )
            )


async def _two_operations(app: App) -> None:
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect --alias Vanya --dob 1985")
    await ok(app, "subject add person Lena --category victim --tlp amber+strict")
    await ok(
        app,
        'notice record red S-1 --charges "trafficking in human beings" --ref 2026/4411 '
        "--requested-by PT --warrant W/1 --warrant-country PT",
    )
    await ok(app, "sighting S-1 at 'Porto | Ribeira' --coords 41.14,-8.61 --grade B2", who="mia")
    await ok(app, 'sighting "grey Audi" at Vigo --observer "toll staff"', who="pat")
    await _raid(app, OP, "Dawn action Porto", ["Warrant checked", "Interpreters booked"], 1)
    await ok(app, f'op new "Other" --code {OTHER}')
    await ok(app, f"op link {OTHER}", channel="other-room")
    await ok(app, f"subject add {OTHER} person Zed Elsewhere --category suspect")
    await ok(app, f"notice record blue {OTHER}/S-1 --requested-by PT --ref A-1/2026")
    await ok(app, f"sighting {OTHER}/S-1 at Gdansk")
    await _raid(app, OTHER, "Harbour sweep Gdansk", ["Shelter places on standby"], 0)
    await app.console.pop_posts()


def _attachments(reply: Any) -> tuple[dict[str, Any], str]:
    files = {
        a.filename.split("-case-file-", 1)[1].split(".", 1)[1]: a for a in reply.message.attachments
    }
    assert set(files) == {"json", "md", "sha256"}
    assert files["json"].mime_type == "application/json"
    assert files["md"].mime_type == "text/markdown"
    return json.loads(files["json"].content), files["md"].content.decode()


async def test_export_round_trips_and_holds_nothing_else(any_app: App) -> None:
    app = any_app
    await _two_operations(app)
    reply = await ok(app, f"export {OP}")
    data, markdown = _attachments(reply)
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert data["operation"]["code"] == OP
    # Lena is a victim: the file names a protected person, so it is TLP:RED (issue 13).
    assert data["tlp"] == "TLP:RED" and reply.message.tlp == "red"
    async with app.store.transaction() as session:
        op = (await session.exec(select(Operation).where(Operation.code == OP))).one()
        subjects = (await session.exec(select(Subject).where(Subject.operation_id == op.id))).all()
        notices = (await session.exec(select(Notice).where(Notice.operation_id == op.id))).all()
        sightings = (
            await session.exec(select(Sighting).where(Sighting.operation_id == op.id))
        ).all()
        raids = (await session.exec(select(Raid).where(Raid.operation_id == op.id))).all()
        items = (
            await session.exec(
                select(RaidItem).where(col(RaidItem.raid_id).in_([r.id for r in raids]))
            )
        ).all()
        trail = (
            await session.exec(select(AuditEntry).where(AuditEntry.operation_id == op.id))
        ).all()
    assert [
        (s["ref"], s["kind"], s["name"], s["category"], s["aliases"], s["dob"], s["tlp"])
        for s in data["subjects"]
    ] == [
        (f"S-{s.seq}", s.kind, s.name, s.category, s.aliases, s.dob, TLP(s.tlp).label)
        for s in sorted(subjects, key=lambda s: s.seq)
    ]
    assert [(n["ref"], n["colour"], n["subject"], n["charges"]) for n in data["notices"]] == [
        ("N-1", "red", "S-1", "trafficking in human beings")
    ] and len(notices) == 1
    assert [s["ref"] for s in data["sightings"]] == [
        f"SG-{s.seq}" for s in sorted(sightings, key=lambda s: s.seq)
    ]
    first, second = data["sightings"]
    assert (first["subject"], first["match_notice"]) == ("S-1", "N-1")
    assert (first["grade"], first["reporter_grade"]) == (None, "B2")  # the reporter's own
    assert (first["lat"], first["lon"], first["first_hand"]) == (41.14, -8.61, True)
    assert first["reporter"]["name"] == "mia"
    assert (second["description"], second["observer"], second["first_hand"]) == (
        "grey Audi",
        "toll staff",
        False,
    )
    assert [r["ref"] for r in data["raids"]] == ["R-1"]
    checklist = data["raids"][0]["checklist"]
    assert [(i["text"], i["done"]) for i in checklist] == [
        ("Warrant checked", True),
        ("Interpreters booked", False),
    ] and len(items) == 2
    trail = [e for e in trail if e.command != "export"]  # its own entry is written after it
    assert sorted(e["id"] for e in data["audit"]) == sorted(e.id for e in trail)
    assert {m["name"]: m["role"] for m in data["members"]} == {
        "admin": "lead",
        "mia": "member",
        "pat": "partner",
        "obe": "observer",
    }
    assert data["counts"] == {
        "members": 4,
        "subjects": 2,
        "notices": 1,
        "sightings": 2,
        "raids": 1,
        "exhibits": 0,
        "statements": 0,
        "audit": len(trail),
    }
    everything = json.dumps(data) + markdown
    for foreign in ("Zed Elsewhere", "Gdansk", "Harbour sweep", "Shelter places", OTHER):
        assert foreign not in everything
    assert markdown.startswith("**TLP:RED**")
    assert f"# Case file {OP} — Nightjar" in markdown
    assert "- **Location:** Porto \\| Ribeira (41.14, -8.61)" in markdown
    assert "- [x] [before, mandatory] Warrant checked" in markdown
    combined, built, disclosed = [e for e in await _entries(app) if e.command == "export"]
    # Building the case file combines records of every kind (issue 15): a `combine` entry.
    assert (combined.action, combined.object_ref) == (Action.COMBINE, f"{OP}/case file")
    assert combined.reason is not None and combined.reason.startswith("combined subjects, ")
    assert (built.action, built.object_ref) == (Action.CONSULT, f"{OP}/export")
    assert (disclosed.action, disclosed.object_ref) == (Action.DISCLOSE, f"{OP}/export")


async def _entries(app: App) -> list[AuditEntry]:
    async with app.store.transaction() as session:
        return list((await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all())


async def test_only_a_lead_may_export(app: App) -> None:
    await operation(app)
    for who, role in (("mia", "member"), ("pat", "partner"), ("obe", "observer")):
        reply = await app.console.push(f"export {OP}", as_=who)
        assert not reply.ok and not reply.message.attachments
        assert reply.message.lines == [f"As {role} in {OP} you cannot export the case file."]
    said = await refused(app, "export OP-NIGHTJAR", who="stranger")
    assert "not registered" in said
    # No export happened; each refused attempt is a denied entry for the leads.
    tried = [(e.actor.split()[0], e.outcome) for e in await _entries(app) if e.command == "export"]
    assert tried == [("mia", "denied"), ("pat", "denied"), ("obe", "denied")]


async def test_the_schema_document_names_every_field(app: App) -> None:
    await _two_operations(app)
    data, _ = _attachments(await ok(app, f"export {OP}"))
    documented = set(re.findall(r"`([a-z_]+)`", DOCS.read_text()))
    keys = set(data)
    for section in ("operation",):
        keys |= set(data[section])
    for section in (
        "agencies",
        "members",
        "channels",
        "subjects",
        "relations",
        "notices",
        "sightings",
    ):
        for row in data[section]:
            keys |= set(row)
    for section in ("exhibits", "statements"):
        keys.add(section)
    for raid in data["raids"]:
        keys |= set(raid)
        for item in raid["checklist"]:
            keys |= set(item)
    keys |= set(data["audit"][0]) | set(data["counts"])
    keys |= set(data["sightings"][0]["reporter"])
    assert keys - documented == set()
    assert f"`schema_version`: {SCHEMA_VERSION}" in DOCS.read_text()


def test_cli_writes_both_files_and_audits_the_disclosure(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path)

    async def scenario() -> None:
        app = build_app(settings, clock=ManualClock(START))
        await app.prepare()
        try:
            await _two_operations(app)
        finally:
            await app.close()

    asyncio.run(scenario())
    out = tmp_path / "case"
    env = {"TASKFORCE_DATABASE_URL": sqlite_url, "TASKFORCE_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(cli, ["export", OP, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert [f.name.split(".", 1)[1] for f in files] == ["json", "md", "sha256"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    data = json.loads(files[0].read_text())
    assert [s["name"] for s in data["subjects"]] == ["Ivan Petrov", "Lena"]
    assert f"Wrote {files[0]}" in result.output
    missing = CliRunner().invoke(cli, ["export", "OP-NOPE", "--out", str(out)], env=env)
    assert missing.exit_code == 1 and "There is no operation OP-NOPE." in missing.output

    async def audited() -> list[AuditEntry]:
        app = build_app(settings, clock=ManualClock(START))
        try:
            return await _entries(app)
        finally:
            await app.close()

    [combined, entry] = [e for e in asyncio.run(audited()) if e.command == "export"]
    assert combined.action == Action.COMBINE and combined.actor.startswith("taskforce export")
    assert entry.action == Action.DISCLOSE and entry.object_ref == f"{OP}/export"
    assert entry.channel == f"file:{out.resolve()}"


async def test_console_export_writes_both_files_then_records_the_disclosure(
    any_app: App, tmp_path: Path
) -> None:
    app = any_app
    await _two_operations(app)
    reply = await ok(app, f"export {OP}")
    written = [line.removeprefix("Written: ") for line in reply.message.lines[2:]]
    assert len(written) == 3 and reply.message.lines[2].startswith("Written: ")
    paths = [Path(p) for p in written]
    assert all(p.is_absolute() and p.parent == (tmp_path / "exports").resolve() for p in paths)
    assert [p.name.split(".", 1)[1] for p in paths] == ["json", "md", "sha256"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    assert json.loads(paths[0].read_text())["operation"]["code"] == OP
    # It names a victim (Lena): the whole file is TLP:RED.
    assert paths[1].read_text().startswith("**TLP:RED**")
    _combined, built, disclosed = [e for e in await _entries(app) if e.command == "export"]
    assert built.action == Action.CONSULT and built.id is not None
    assert disclosed.action == Action.DISCLOSE and (disclosed.id or 0) > built.id
    assert disclosed.channel == f"file:{paths[0].parent}"
    assert disclosed.reason is not None
    assert all(str(p) in disclosed.reason for p in paths)
    assert disclosed.actor.startswith("admin (M-") and disclosed.actor_id == built.actor_id


async def test_console_export_out_names_the_directory(app: App, tmp_path: Path) -> None:
    await operation(app)
    target = tmp_path / "case files" / "nightjar"
    reply = await ok(app, f'export {OP} --out "{target}"')
    paths = sorted(target.iterdir())
    assert sorted(f"Written: {p}" for p in paths) == sorted(reply.message.lines[2:])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    [disclosed] = [e for e in await _entries(app) if e.action == Action.DISCLOSE]
    assert disclosed.channel == f"file:{target.resolve()}"


async def test_an_unwritable_directory_is_one_sentence_and_discloses_nothing(
    app: App, tmp_path: Path
) -> None:
    await operation(app)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    said = await refused(app, f"export {OP} --out {blocker / 'sub'}")
    assert said == (
        f"Could not write the case file to {blocker / 'sub'}: not a directory; "
        "nothing was disclosed."
    )
    assert not [e for e in await _entries(app) if e.action == Action.DISCLOSE]
    assert not (tmp_path / "exports").exists()
