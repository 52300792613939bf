"""Audit tamper evidence against someone with write access to the database (issue 20, item 8).

Entries are authenticated with TASKFORCE_AUDIT_KEY (an HMAC the database cannot give), and
the chains' heads are anchored outside the database (a checkpoint file, a log line). Each
attack below is what someone with the database alone can do; `audit verify` names each one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text as sql

from bot.serving.app import App
from bot.serving.preflight import Status, run_checks
from bot.serving.server import create_app
from bot.store import audit, audit_anchor
from bot.store.models import AuditEntry
from tests.conftest import AppFactory, make_settings
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import OP, fetch, ok, operation, text
from tests.serving import captured_logs, serving

KEY = "k1-correct-horse-battery-staple"
NEW_KEY = "k2-a-fresh-key-after-rotation"


async def keyed_app(make_app: AppFactory, db_url: str, **extra: Any) -> App:
    values: dict[str, Any] = {
        "TASKFORCE_AUDIT_KEY": KEY,
        "TASKFORCE_AUDIT_CHECKPOINT_SECONDS": 0,
    }
    values.update(extra)
    return await make_app(db_url, **values)


async def history(app: App) -> int:
    """An operation with a few entries in its chain; returns its chain number."""
    await operation(app, people=False)
    for line in ("op show", "op members", "op show", "op members", "op show"):
        await ok(app, line, channel="room")
    async with app.store.engine.connect() as conn:
        return int(
            (await conn.execute(sql(f"SELECT id FROM operation WHERE code = '{OP}'"))).one()[0]
        )


async def chain_rows(app: App, chain: int) -> list[dict[str, Any]]:
    """The entries of one chain, in order, as the ORM reads them (typed columns)."""
    rows = [e for e in await fetch(app, AuditEntry) if e.chain == chain]
    return [e.model_dump() for e in sorted(rows, key=lambda e: e.chain_seq)]


async def raw(app: App, statement: str, **params: Any) -> None:
    """One raw SQL statement, as someone with database access would run it."""
    async with app.store.engine.begin() as conn:
        await conn.execute(sql(statement), params)


async def rewrite_from(app: App, chain: int, seq: int, *, keep_key_id: bool, **change: Any) -> int:
    """Change entry `seq` of `chain`, then recompute it and every later entry with the
    public algorithm (SHA-256, no key) and move the tip: the best forgery without the key.
    Returns the id of the entry changed."""
    rows = await chain_rows(app, chain)
    prev = rows[seq - 2]["hash"] if seq > 1 else audit.GENESIS
    changed_id = 0
    for row in rows[seq - 1 :]:
        if row["chain_seq"] == seq:
            row.update(change)
            changed_id = row["id"]
        row["prev_hash"] = prev
        if not keep_key_id:
            row["key_id"] = None
        row["hash"] = prev = audit.entry_hash(row)
        await raw(
            app,
            "UPDATE auditentry SET reason = :reason, object_ref = :object_ref, "
            "prev_hash = :prev_hash, hash = :hash, key_id = :key_id WHERE id = :id",
            **{k: row[k] for k in ("reason", "object_ref", "prev_hash", "hash", "key_id", "id")},
        )
    await raw(app, "UPDATE auditchain SET head = :h WHERE chain = :c", h=prev, c=chain)
    return changed_id


async def checkpoint_file(app: App, directory: Path | None = None) -> Path:
    """The checkpoint file of the app's database in `directory` (the data directory)."""
    async with app.store.transaction() as session:
        identity = await audit_anchor.database_identity(session)
    assert identity is not None
    return audit_anchor.checkpoint_path(directory or app.settings.data_dir, identity)


async def verify(app: App) -> str:
    reply = await app.console.push("audit verify", as_="admin", channel="dm-admin", is_group=False)
    return text(reply)


async def test_entries_are_authenticated_with_the_key_and_verify(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url)
    chain = await history(app)
    rows = await chain_rows(app, chain)
    assert {r["key_id"] for r in rows} == {audit.key_id(KEY.encode())}
    # The hash is the HMAC under the key, not the public SHA-256.
    assert rows[0]["hash"] == audit.entry_hash(rows[0], KEY.encode())
    assert rows[0]["hash"] != audit.entry_hash(rows[0])
    said = await verify(app)
    assert said.startswith("Audit chain intact:") and "carry no key" not in said


async def test_a_middle_row_rewritten_with_the_public_algorithm_is_named(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url)
    chain = await history(app)
    changed = await rewrite_from(app, chain, 3, keep_key_id=True, reason="nothing happened")
    assert (await verify(app)).startswith(
        f"Audit chain BROKEN at entry #{changed}: its content does not match its "
        "authentication code (HMAC): it was altered ("
    )


async def test_a_middle_row_rewritten_without_its_key_id_is_named(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url)
    chain = await history(app)
    changed = await rewrite_from(app, chain, 3, keep_key_id=False, object_ref="OP-X/S-9")
    said = await verify(app)
    assert said.startswith(f"Audit chain BROKEN at entry #{changed}: it carries no key although")


async def test_a_whole_chain_rewritten_without_the_key_is_named_by_its_first_entry(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url)
    chain = await history(app)
    first = await rewrite_from(app, chain, 1, keep_key_id=False, reason="rewritten")
    said = await verify(app)
    assert said.startswith(
        f"Audit chain BROKEN at entry #{first}: it carries no key although "
        "TASKFORCE_AUDIT_KEY is set, and no checkpoint of this database records it"
    ), said


async def test_a_whole_chain_rewritten_fails_against_the_checkpoint_without_a_key(
    make_app: AppFactory, db_url: str
) -> None:
    # Without a key every entry is plain SHA-256: only the checkpoint can tell.
    app = await make_app(db_url, TASKFORCE_AUDIT_CHECKPOINT_SECONDS=0)
    chain = await history(app)
    assert await app.checkpointer.write() is None
    entries = len(await chain_rows(app, chain))
    await rewrite_from(app, chain, 1, keep_key_id=False, reason="rewritten")
    said = await verify(app)
    assert said.startswith("Audit chain BROKEN: the chain of operation")
    assert f"had {entries} entries at the checkpoint of" in said
    assert "is not the one recorded" in said


async def test_deleting_the_newest_entries_is_caught_and_the_anchor_does_not_move_back(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url)
    chain = await history(app)
    assert await app.checkpointer.write() is None
    path = await checkpoint_file(app)
    anchored = path.read_text()
    rows = await chain_rows(app, chain)
    # Delete the newest two and make the tip agree, as an attacker would.
    await raw(
        app, "DELETE FROM auditentry WHERE chain = :c AND chain_seq > :n", c=chain, n=len(rows) - 2
    )
    await raw(
        app,
        "UPDATE auditchain SET entries = :n, head = :h WHERE chain = :c",
        n=len(rows) - 2,
        h=rows[-3]["hash"],
        c=chain,
    )
    said = await verify(app)
    assert said.startswith("Audit chain BROKEN: the chain of operation")
    assert f"had {len(rows)} entries" in said and "is missing" in said
    # The next checkpoint refuses to anchor the shortened chain.
    problem = await app.checkpointer.write()
    assert problem is not None and "is missing" in problem
    assert path.read_text() == anchored


async def test_renumbering_the_newest_entry_is_named(make_app: AppFactory, db_url: str) -> None:
    app = await keyed_app(make_app, db_url)
    chain = await history(app)
    last = (await chain_rows(app, chain))[-1]
    await raw(
        app,
        "UPDATE auditentry SET chain_seq = chain_seq + 1 WHERE id = :id",
        id=last["id"],
    )
    await raw(app, "UPDATE auditchain SET entries = entries + 1 WHERE chain = :c", c=chain)
    said = await verify(app)
    assert said.startswith(f"Audit chain BROKEN at entry #{last['id']}: entries before it")
    # Renumbered and re-hashed with the public algorithm: the HMAC still fails.
    await raw(app, "UPDATE auditentry SET chain_seq = chain_seq - 1 WHERE id = :id", id=last["id"])
    await raw(app, "UPDATE auditchain SET entries = entries - 1 WHERE chain = :c", c=chain)
    assert (await verify(app)).startswith("Audit chain intact")
    changed = await rewrite_from(app, chain, last["chain_seq"], keep_key_id=True)
    assert changed == last["id"]
    assert "authentication code (HMAC)" in await verify(app)


async def test_a_rotated_key_verifies_with_the_old_key_kept(
    make_app: AppFactory, db_url: str
) -> None:
    first = await keyed_app(make_app, db_url)
    chain = await history(first)
    await first.close()
    rotated = await keyed_app(
        make_app, db_url, TASKFORCE_AUDIT_KEY=NEW_KEY, TASKFORCE_AUDIT_OLD_KEYS=KEY
    )
    await ok(rotated, "op show", channel="room")
    kids = [r["key_id"] for r in await chain_rows(rotated, chain)]
    assert kids[0] == audit.key_id(KEY.encode()) and kids[-1] == audit.key_id(NEW_KEY.encode())
    assert (await verify(rotated)).startswith("Audit chain intact")
    assert await rotated.checkpointer.write() is None  # now under the new key
    await rotated.close()
    forgot = await keyed_app(make_app, db_url, TASKFORCE_AUDIT_KEY=NEW_KEY)
    said = await verify(forgot)
    assert said.startswith("Audit chain BROKEN at entry #")
    assert f"audit key {audit.key_id(KEY.encode())}, which this process does not hold" in said


async def test_an_altered_checkpoint_file_is_named(make_app: AppFactory, db_url: str) -> None:
    app = await keyed_app(make_app, db_url)
    chain = await history(app)
    assert await app.checkpointer.write() is None
    path = await checkpoint_file(app)
    data = json.loads(path.read_text())
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    data["chains"][str(chain)] = [1, (await chain_rows(app, chain))[0]["hash"]]
    path.write_text(json.dumps(data))
    assert "was altered (its HMAC fails)" in await verify(app)


async def test_the_served_app_anchors_the_heads_at_stop_in_the_file_and_the_log(
    make_app: AppFactory, db_url: str
) -> None:
    app = await keyed_app(make_app, db_url)
    chain = await history(app)
    path = await checkpoint_file(app)
    # A new database was anchored before its first entry (App.prepare).
    assert json.loads(path.read_text())["chains"] == {}
    asgi = create_app(app.settings, app=app)
    with captured_logs() as logs:
        async with serving(asgi) as url, httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/healthz")).status_code == 200
    anchored = [e for e in logs if e["event"] == "audit.checkpoint"]
    assert anchored, logs
    rows = await chain_rows(app, chain)
    expected = f"{len(rows)}:{rows[-1]['hash']}"
    assert anchored[-1]["heads"][str(chain)] == expected
    data = json.loads(path.read_text())
    assert data["chains"][str(chain)] == [len(rows), rows[-1]["hash"], 0]
    assert data["key_id"] == audit.key_id(KEY.encode())
    # The log line is a checkpoint too: the same heads, database and authentication code.
    assert (anchored[-1]["database"], anchored[-1]["mac"]) == (data["database"], data["mac"])


async def test_verify_reads_nothing_but_its_own_entry(make_app: AppFactory, db_url: str) -> None:
    app = await keyed_app(make_app, db_url)
    await history(app)
    before = await snapshot(app.store)
    assert (await verify(app)).startswith("Audit chain intact")
    assert set(changed_tables(before, await snapshot(app.store))) == {"auditentry", "auditchain"}


async def test_taskforce_check_says_whether_the_audit_is_keyed(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'none.db'}"
    by = {r.check: r for r in await run_checks(make_settings(db, tmp_path))}
    assert by["audit-key"].status is Status.WARN
    assert "TASKFORCE_AUDIT_KEY is not set" in by["audit-key"].detail
    keyed = make_settings(db, tmp_path, TASKFORCE_AUDIT_KEY=NEW_KEY, TASKFORCE_AUDIT_OLD_KEYS=KEY)
    by = {r.check: r for r in await run_checks(keyed)}
    assert by["audit-key"].status is Status.OK
    assert by["audit-key"].detail == f"key {audit.key_id(NEW_KEY.encode())}, 1 old"
    assert NEW_KEY not in by["audit-key"].detail and KEY not in by["audit-key"].detail
