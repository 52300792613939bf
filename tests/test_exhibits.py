"""Exhibits with their chain of custody, and statements with translations (issue 28),
through the console: the commands in, the replies and the audit out."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command
from sqlmodel import col, select

from bot.serving.app import App
from bot.store.audit import Action
from bot.store.engine import alembic_config
from bot.store.models import AuditEntry
from bot.store.models_casefile import Exhibit, ExhibitTransfer, Statement
from tests.fieldintel import OP, fetch, ok, operation, refused, rows, text


async def _entries(app: App, command: str) -> list[AuditEntry]:
    async with app.store.transaction() as session:
        found = await session.exec(
            select(AuditEntry).where(AuditEntry.command == command).order_by(col(AuditEntry.id))
        )
        return list(found.all())


async def _seized(app: App) -> None:
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "sighting S-1 at 'Rua das Flores 12, Porto'", who="mia")
    await ok(
        app,
        'exhibit add "Nokia phone, black, cracked screen" --number AR/1 --seal SEAL-004211 '
        '--found "kitchen drawer, Rua das Flores 12" --sighting SG-1 --at "2026-11-28 06:10"',
        who="mia",
    )


async def test_an_exhibit_keeps_its_number_seal_place_and_custody(any_app: App) -> None:
    app = any_app
    await _seized(app)
    [entry] = await _entries(app, "exhibit add")
    assert (entry.action, entry.object_ref) == (Action.COLLECT, f"{OP}/E-1")
    moved = await ok(
        app,
        'exhibit transfer E-1 --to "Ana Costa, PJ forensic laboratory" '
        '--why "data extraction" --at "2026-11-28 08:30"',
        who="mia",
    )
    assert text(moved).startswith("E-1 handed from mia (M-")
    assert "to Ana Costa, PJ forensic laboratory" in text(moved)
    shown = text(await ok(app, "exhibit show E-1"))
    for part in (
        "Exhibit number: AR/1",
        "Seal: SEAL-004211",
        "Found at: kitchen drawer, Rua das Flores 12",
        "Sighting: SG-1",
        "Held by: Ana Costa, PJ forensic laboratory",
        "Chain of custody:",
        "1. ",
        ": seized by mia (M-",
        "2. ",
        "to Ana Costa, PJ forensic laboratory — data extraction",
    ):
        assert part in shown, (part, shown)
    listed = text(await ok(app, "exhibits"))
    assert "E-1 AR/1: Nokia phone, black, cracked screen — seal SEAL-004211; held by Ana Costa" in (
        listed
    )
    [transfer] = await _entries(app, "exhibit transfer")
    assert transfer.action == Action.ALTER and transfer.reason is not None
    assert "-> Ana Costa, PJ forensic laboratory" in transfer.reason
    # Nothing of an exhibit reaches a channel.
    posts = await app.console.pop_posts()
    assert not [p for p in posts if "AR/1" in p.text or "SEAL-004211" in p.text]


async def test_bad_custody_is_one_sentence_and_writes_nothing(app: App) -> None:
    await _seized(app)
    before = (await rows(app, Exhibit), await rows(app, ExhibitTransfer))
    said = await refused(app, 'exhibit transfer E-1 --to "Ana Costa" --why "lab"')
    assert said.startswith("Say who receives it: a member (`--to M-3`)")
    said = await refused(app, 'exhibit transfer E-1 --to M-1 --why "lab" --at "2026-11-28 05:00"')
    assert "is before the last link of E-1's custody" in said
    said = await refused(app, 'exhibit transfer E-1 --to M-1 --why "lab" --at "2026-11-29 10:00"')
    assert said == "'2026-11-29 10:00' is in the future; it is recorded once it has happened."
    said = await refused(app, "exhibit transfer E-9 --to M-1 --why lab")
    assert said == f"There is no exhibit E-9 in {OP}."
    said = await refused(app, 'exhibit add "another phone" --number AR/1 --found "hall"')
    assert said == f"Exhibit number AR/1 is already E-1 in {OP}."
    said = await refused(app, 'exhibit add "x" --number AR/2 --found y --photo zz')
    assert said.startswith("--photo takes the start of a photo's SHA-256")
    assert (await rows(app, Exhibit), await rows(app, ExhibitTransfer)) == before


async def test_partners_and_observers_never_read_exhibits(app: App) -> None:
    await _seized(app)
    for who in ("pat", "obe"):
        said = await refused(app, "exhibit show E-1", who=who)
        assert said == f"There is no exhibit E-1 in {OP}."
        listed = text(await ok(app, "exhibits", who=who))
        assert "AR/1" not in listed and "1 hidden by your role." in listed
        refusal = await app.console.push('exhibit add "x" --number Z/1 --found y', as_=who)
        assert not refusal.ok
    said = await refused(app, "exhibits", who="stranger")
    assert "AR/1" not in said


async def test_a_statement_keeps_its_language_and_its_translation(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Amina --category victim --dob 1999")
    made = await ok(
        app, 'statement add S-1 --lang fr "Je suis arrivée à Porto en octobre."', who="mia"
    )
    assert text(made).startswith("Recorded statement ST-1 in French (fr).")
    said = await refused(app, 'statement translate ST-1 --lang fr --by "X" "..."')
    assert said == "ST-1 was made in French (fr); a translation is into another language."
    said = await refused(app, 'statement translate ST-1 --lang xx --by "X" "..."')
    assert said == "'xx' is not a language code like fr, ro or ti (ISO 639)."
    await ok(
        app,
        'statement translate ST-1 --lang en --by "J. Silva, sworn interpreter" '
        '"I arrived in Porto in October."',
    )
    shown = text(await ok(app, "statement show ST-1"))
    assert "Made by: Amina (S-1)" in shown and "Language: French (fr)" in shown
    assert "[fr] Je suis arrivée à Porto en octobre." in shown
    assert "Translation into English (en) by J. Silva, sworn interpreter:" in shown
    assert "[en] I arrived in Porto in October." in shown
    [statement] = await fetch(app, Statement)
    assert statement.tlp == "amber" and statement.language == "fr"
    # A victim's statement: partners and observers read nothing of it.
    for who in ("pat", "obe"):
        assert await refused(app, "statement show ST-1", who=who) == (
            f"There is no statement ST-1 in {OP}."
        )
    assert [e.action for e in await _entries(app, "statement translate")] == [Action.ALTER]


async def test_the_migration_adds_and_removes_the_evidence_tables(empty_url: str) -> None:
    cfg = alembic_config(empty_url)
    tables = ("exhibit", "exhibittransfer", "statement", "statementtranslation")

    def present() -> set[str]:
        engine = sa.create_engine(empty_url)
        try:
            return set(sa.inspect(engine).get_table_names()) & set(tables)
        finally:
            engine.dispose()

    await asyncio.to_thread(command.upgrade, cfg, "0013_casefile")
    assert await asyncio.to_thread(present) == set(tables)
    await asyncio.to_thread(command.downgrade, cfg, "0012")
    assert await asyncio.to_thread(present) == set()
    await asyncio.to_thread(command.upgrade, cfg, "head")
    assert await asyncio.to_thread(present) == set(tables)
