"""The audit checkpoint bound to its database, and an audit key that cannot be stripped
(issue 26 item 4, issue 32 item 4).

Each test is an attack (or an honest move) through the public surface: commands in the
console, `taskforce audit verify` / `audit anchor`, a served app starting and stopping.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from bot.serving.app import App
from bot.serving.cli import cli
from bot.serving.server import create_app
from bot.store import audit, audit_anchor
from tests.conftest import AppFactory
from tests.fieldintel import ok
from tests.serving import captured_logs, serving, wait_until
from tests.test_audit_tamper import (
    KEY,
    chain_rows,
    checkpoint_file,
    history,
    keyed_app,
    raw,
    verify,
)


async def cli_run(app: App, *args: str) -> tuple[int, str]:
    """`taskforce …` with the app's database, data directory, key and copy."""
    s = app.settings
    env = {
        "TASKFORCE_DATABASE_URL": app.store.url,
        "TASKFORCE_DATA_DIR": str(s.data_dir),
        "TASKFORCE_ADMINS": "",
        "TASKFORCE_AUDIT_KEY": s.audit_key or "",
        "TASKFORCE_AUDIT_CHECKPOINT_COPY": str(s.audit_checkpoint_copy or ""),
    }
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)
    return result.exit_code, result.output


async def truncate(app: App, chain: int, n: int) -> None:
    """Delete the newest `n` entries of `chain` and make its tip agree, as an attacker would."""
    rows = await chain_rows(app, chain)
    keep = len(rows) - n
    await raw(app, "DELETE FROM auditentry WHERE chain = :c AND chain_seq > :n", c=chain, n=keep)
    await raw(
        app,
        "UPDATE auditchain SET entries = :n, head = :h WHERE chain = :c",
        n=keep,
        h=rows[keep - 1]["hash"],
        c=chain,
    )


async def strip_keys_everywhere(app: App) -> None:
    """Remove `key_id` from every entry and re-hash every chain with plain SHA-256, tips
    included: the best forgery without the key."""
    async with app.store.engine.connect() as conn:
        chains = [r[0] for r in (await conn.execute(sql("SELECT chain FROM auditchain")))]
    for chain in chains:
        prev = audit.GENESIS
        for row in await chain_rows(app, chain):
            row.update(prev_hash=prev, key_id=None)
            row["hash"] = prev = audit.entry_hash(row)
            await raw(
                app,
                "UPDATE auditentry SET prev_hash = :p, hash = :h, key_id = NULL WHERE id = :id",
                p=row["prev_hash"],
                h=row["hash"],
                id=row["id"],
            )
        await raw(app, "UPDATE auditchain SET head = :h WHERE chain = :c", h=prev, c=chain)


async def served_start_stop(app: App) -> list[dict[str, Any]]:
    """Serve the app (its checkpointer starts and stops with it); the log lines."""
    with captured_logs() as logs:
        async with (
            serving(create_app(app.settings, app=app)) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            assert (await client.get("/healthz")).status_code == 200
    return logs


# ------------------------------------------------------------ one checkpoint per database


@pytest.mark.parametrize("keyed", [False, True])
@pytest.mark.parametrize("second", ["sqlite", "postgresql"])
async def test_switching_databases_in_the_same_folder_is_no_alarm(
    make_app: AppFactory,
    sqlite_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    keyed: bool,
    second: str,
) -> None:
    # The README's own path: try on one database, deploy on another, same data folder.
    if second == "sqlite":
        other = tmp_path / "other.db"
        shutil.copy(sqlite_url.removeprefix("sqlite+aiosqlite:///"), other)
        second_url = f"sqlite+aiosqlite:///{other}"
        # A copied file is the same database (its identity came with it): give it its own.
        await raw_identity(second_url, "f" * 32)
    else:
        second_url = str(request.getfixturevalue("pg_url"))
    extra: dict[str, Any] = {"TASKFORCE_AUDIT_KEY": KEY} if keyed else {}
    urls = [second_url, sqlite_url, second_url]
    for url in urls:
        app = await make_app(url, TASKFORCE_AUDIT_CHECKPOINT_SECONDS=300, **extra)
        await ok(app, "op list")
        logs = await served_start_stop(app)
        assert not [e for e in logs if e["log_level"] == "error"], logs
        assert (await verify(app)).startswith("Audit chain intact"), url
        code, output = await cli_run(app, "audit", "verify")
        assert code == 0 and "intact" in output, output
        await app.close()
    files = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert len(files) == 2 and all(f.startswith("audit-checkpoint-") for f in files), files


async def raw_identity(url: str, identity: str) -> None:
    """Set a database's audit identity (a copied SQLite file carries its original's)."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sql("UPDATE auditdatabase SET identity = :i"), {"i": identity})
    await engine.dispose()


async def test_tampering_after_a_switch_still_alarms(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    app = await keyed_app(make_app, db_url)
    chain = await history(app)
    assert await app.checkpointer.write() is None
    await app.close()
    other = tmp_path / "elsewhere.db"  # another database, same data folder
    elsewhere = await keyed_app(make_app, f"sqlite+aiosqlite:///{other}")
    assert (await verify(elsewhere)).startswith("Audit chain intact")
    assert await elsewhere.checkpointer.write() is None
    await elsewhere.close()
    back = await keyed_app(make_app, db_url)
    await truncate(back, chain, 2)
    said = await verify(back)
    assert said.startswith("Audit chain BROKEN: the chain of operation") and "is missing" in said


async def test_a_checkpoint_of_another_database_renamed_is_named(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    app = await keyed_app(make_app, db_url)
    await history(app)
    path = await checkpoint_file(app)
    other = await keyed_app(make_app, f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    await ok(other, "op list")
    assert await other.checkpointer.write() is None
    shutil.copy(await checkpoint_file(other), path)  # B's checkpoint passed off as A's
    said = await verify(app)
    assert said.startswith(f"Audit chain BROKEN: the audit checkpoint {path} names database")


async def test_removing_the_database_identity_is_named(make_app: AppFactory, db_url: str) -> None:
    app = await keyed_app(make_app, db_url)
    await history(app)
    path = await checkpoint_file(app)
    before = path.read_text()
    await raw(app, "DELETE FROM auditdatabase")
    assert (await verify(app)) == f"Audit chain BROKEN: {audit_anchor.IDENTITY_GONE}."
    assert await app.checkpointer.write() == audit_anchor.IDENTITY_GONE
    assert path.read_text() == before


# ------------------------------------------------------------ the key cannot be stripped


async def test_a_checkpoint_stripped_of_its_mac_fails_and_is_not_overwritten(
    make_app: AppFactory, db_url: str
) -> None:
    # Truncate 3 entries, fix the tip, make the checkpoint agree and drop its HMAC.
    app = await keyed_app(make_app, db_url, TASKFORCE_AUDIT_CHECKPOINT_SECONDS=300)
    chain = await history(app)
    assert await app.checkpointer.write() is None
    path = await checkpoint_file(app)
    await truncate(app, chain, 3)
    rows = await chain_rows(app, chain)
    data = json.loads(path.read_text())
    data["chains"][str(chain)] = [len(rows), rows[-1]["hash"], 0]
    del data["mac"], data["key_id"]
    path.write_text(json.dumps(data))
    forged = path.read_text()
    said = await verify(app)
    assert said == (
        f"Audit chain BROKEN: the audit checkpoint {path} carries no authentication code "
        "(HMAC) although TASKFORCE_AUDIT_KEY is set: it was written or rewritten without "
        "the key."
    )
    code, output = await cli_run(app, "audit", "verify")
    assert code == 1 and "carries no authentication code" in output
    # A restart logs the refusal at error and keeps the forged file as evidence.
    logs = await served_start_stop(app)
    refused = [e for e in logs if e["event"] == "audit.checkpoint_refused"]
    assert refused and all(e["log_level"] == "error" for e in refused)
    assert not [e for e in logs if e["event"] == "audit.checkpoint"]
    assert path.read_text() == forged


async def test_keys_stripped_and_checkpoint_deleted_fails_and_a_restart_keeps_it_failing(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url, TASKFORCE_AUDIT_CHECKPOINT_SECONDS=300)
    await history(app)
    assert await app.checkpointer.write() is None
    path = await checkpoint_file(app)
    await strip_keys_everywhere(app)
    path.unlink()
    said = await verify(app)
    assert said.startswith(
        f"Audit chain BROKEN: there is no audit checkpoint of this database at {path}"
    )
    logs = await served_start_stop(app)  # a restart
    assert [e["log_level"] for e in logs if e["event"] == "audit.checkpoint_refused"]
    assert not path.exists()  # no fresh keyed checkpoint over the forged heads
    assert (await verify(app)).startswith("Audit chain BROKEN: there is no audit checkpoint")
    # Whoever runs `audit anchor` without looking is told what is wrong.
    code, output = await cli_run(app, "audit", "anchor")
    assert code == 1 and "entries carry no key and no checkpoint records them" in output
    assert not path.exists()


async def test_keyless_entries_fail_even_with_the_checkpoint_in_place(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url)
    await history(app)
    assert await app.checkpointer.write() is None
    await strip_keys_everywhere(app)
    said = await verify(app)
    assert "it carries no key although TASKFORCE_AUDIT_KEY is set" in said, said


async def test_a_process_without_the_key_writing_a_new_chain_is_named(
    make_app: AppFactory, db_url: str
) -> None:
    keyed = await keyed_app(make_app, db_url)
    await history(keyed)
    assert await keyed.checkpointer.write() is None
    await keyed.close()
    # Someone runs the bot without the key: a new operation, a chain with no key at all.
    plain = await make_app(db_url, TASKFORCE_AUDIT_CHECKPOINT_SECONDS=0)
    await ok(plain, 'op new "Unkeyed" --code OP-UNKEYED')
    await plain.close()
    again = await keyed_app(make_app, db_url)
    said = await verify(again)
    assert said.startswith("Audit chain BROKEN at entry #") and "carries no key" in said


async def test_dropping_a_chain_written_since_the_checkpoint_is_named(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url)
    await history(app)
    assert await app.checkpointer.write() is None
    await ok(app, 'op new "Later" --code OP-LATER')
    await ok(app, "op show OP-LATER")
    async with app.store.engine.connect() as conn:
        later = (
            await conn.execute(sql("SELECT id FROM operation WHERE code = 'OP-LATER'"))
        ).scalar_one()
    await raw(app, "DELETE FROM auditentry WHERE chain = :c", c=later)
    await raw(app, "DELETE FROM auditchain WHERE chain = :c", c=later)
    said = await verify(app)
    assert said == (
        f"Audit chain BROKEN: operation #{later} has no audit chain: its chain was removed "
        "with its tip."
    )
    code, output = await cli_run(app, "audit", "verify")
    assert code == 1 and f"operation #{later} has no audit chain" in output


async def test_dropping_a_checkpointed_chain_is_named(make_app: AppFactory, db_url: str) -> None:
    # The admin chain belongs to no operation: only the checkpoint remembers it.
    app = await keyed_app(make_app, db_url)
    await history(app)
    assert await app.checkpointer.write() is None
    entries = len(await chain_rows(app, audit.ADMIN_CHAIN))
    assert entries > 0
    await raw(app, "DELETE FROM auditentry WHERE chain = 0")
    await raw(app, "DELETE FROM auditchain WHERE chain = 0")
    said = await verify(app)
    assert f"the admin chain had {entries} entries at the checkpoint" in said, said
    assert "is missing" in said


async def test_entries_are_anchored_after_every_n_without_waiting_for_the_timer(
    make_app: AppFactory, db_url: str
) -> None:
    # No timer: only the count. Five entries later, truncating them is caught.
    app = await keyed_app(make_app, db_url, TASKFORCE_AUDIT_CHECKPOINT_ENTRIES=5)
    path = await checkpoint_file(app)
    app.checkpointer.start()
    try:
        chain = await history(app)  # more than five entries
        count = len(await chain_rows(app, chain))

        def anchored() -> bool:
            return str(chain) in json.loads(path.read_text())["chains"]

        # Written once five entries were appended (the bootstrap's among them), long
        # before any timer or the stop.
        await wait_until(anchored)
        recorded = json.loads(path.read_text())["chains"][str(chain)][0]
        assert 1 <= recorded < count
    finally:
        await app.checkpointer.stop()
    await truncate(app, chain, count - recorded + 1)
    said = await verify(app)
    assert said.startswith("Audit chain BROKEN: the chain of operation") and "is missing" in said


async def test_deleting_the_checkpoint_alone_fails_and_is_logged(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url)
    await history(app)
    assert await app.checkpointer.write() is None
    path = await checkpoint_file(app)
    path.unlink()
    said = await verify(app)
    assert said.startswith(
        f"Audit chain BROKEN: there is no audit checkpoint of this database at {path}"
    )
    with captured_logs() as logs:
        problem = await app.checkpointer.write()
    assert problem is not None and "there is no audit checkpoint" in problem
    assert [e["log_level"] for e in logs if e["event"] == "audit.checkpoint_refused"] == ["error"]
    assert not path.exists()


async def test_without_a_key_a_deleted_checkpoint_is_logged_at_error(
    make_app: AppFactory, db_url: str
) -> None:
    app = await make_app(db_url, TASKFORCE_AUDIT_CHECKPOINT_SECONDS=0)
    await history(app)
    path = await checkpoint_file(app)
    path.unlink()
    with captured_logs() as logs:
        assert await app.checkpointer.write() is None
    assert [e["log_level"] for e in logs if e["event"] == "audit.checkpoint_missing"] == ["error"]
    assert path.exists()


# ------------------------------------------------------------ the copy on another volume


async def test_the_copy_is_written_and_verify_compares_against_it(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    copy = tmp_path / "elsewhere"
    app = await keyed_app(make_app, db_url, TASKFORCE_AUDIT_CHECKPOINT_COPY=str(copy))
    chain = await history(app)
    path = await checkpoint_file(app)
    older = path.read_text()  # the checkpoint before the history
    assert await app.checkpointer.write() is None
    copied = await checkpoint_file(app, copy)
    assert copied.read_text() == path.read_text()
    assert oct(copied.stat().st_mode & 0o777) == "0o600"
    # Someone with the data directory and the database replays an older (valid) checkpoint
    # and removes what came after it: the copy still anchors the newest entries.
    path.write_text(older)
    await truncate(app, chain, 2)
    said = await verify(app)
    assert said.startswith("Audit chain BROKEN: the chain of operation") and "is missing" in said
    code, output = await cli_run(app, "audit", "verify")
    assert code == 1 and "is missing" in output


async def test_a_missing_copy_is_named(make_app: AppFactory, db_url: str, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    app = await keyed_app(make_app, db_url, TASKFORCE_AUDIT_CHECKPOINT_COPY=str(copy))
    await history(app)
    assert await app.checkpointer.write() is None
    copied = await checkpoint_file(app, copy)
    copied.unlink()
    said = await verify(app)
    assert said.startswith(
        f"Audit chain BROKEN: there is no audit checkpoint of this database at {copied}"
    )
    # The data directory's checkpoint vouches for the heads: the copy is written again,
    # and its absence logged at error.
    with captured_logs() as logs:
        assert await app.checkpointer.write() is None
    assert [e["path"] for e in logs if e["event"] == "audit.checkpoint_missing"] == [str(copied)]
    assert (await verify(app)).startswith("Audit chain intact")


# ------------------------------------------------------------ `taskforce audit anchor`


async def test_setting_a_key_on_a_running_deployment_then_anchoring(
    make_app: AppFactory, db_url: str
) -> None:
    plain = await make_app(db_url, TASKFORCE_AUDIT_CHECKPOINT_SECONDS=0)
    chain = await history(plain)
    assert await plain.checkpointer.write() is None
    await plain.close()
    app = await keyed_app(make_app, db_url)
    assert "carries no authentication code (HMAC)" in await verify(app)
    code, output = await cli_run(app, "audit", "anchor")
    assert code == 1 and "Nothing was anchored:" in output and "--accept-unkeyed" in output
    code, output = await cli_run(app, "audit", "anchor", "--accept-unkeyed")
    assert code == 0 and output.splitlines()[-1].startswith("Audit checkpoint written for"), output
    path = await checkpoint_file(app)
    assert list(path.parent.glob(path.name + ".replaced-*"))  # the old one, kept
    said = await verify(app)
    assert said.startswith("Audit chain intact") and "carry no key" in said
    # The keyless entries accepted are those before the key; new entries carry the key.
    await ok(app, "op show", channel="room")
    assert (await verify(app)).startswith("Audit chain intact")
    last = (await chain_rows(app, chain))[-1]
    assert last["key_id"] == audit.key_id(KEY.encode())


async def test_anchor_refuses_a_broken_chain_and_writes_nothing(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url)
    chain = await history(app)
    assert await app.checkpointer.write() is None
    path = await checkpoint_file(app)
    before = path.read_text()
    await truncate(app, chain, 2)
    code, output = await cli_run(app, "audit", "anchor")
    assert code == 1 and "is missing" in output and "Nothing was anchored." in output
    assert path.read_text() == before
