"""The hash-chained audit log: one entry per command and per post; any alteration is named."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import text as sql
from typer.testing import CliRunner

from bot.base.clock import ManualClock
from bot.commands import dispatch
from bot.contracts import Actor, Channel, Invocation, Reply
from bot.serving.app import App
from bot.serving.cli import cli
from tests.dbstate import count

OP = "OP-NIGHT-HARBOUR"


def text(reply: Reply) -> str:
    """The reply as the console shows it."""
    return reply.message.plain_text()


async def entries(app: App) -> list[dict[str, Any]]:
    """Every audit entry, oldest first, as raw rows."""
    async with app.store.engine.connect() as conn:
        rows = (await conn.execute(sql("SELECT * FROM auditentry ORDER BY id"))).mappings().all()
    return [dict(r) for r in rows]


async def raw(app: App, statement: str, **params: Any) -> None:
    """Run one raw SQL statement, as someone with database access would."""
    async with app.store.engine.begin() as conn:
        await conn.execute(sql(statement), params)


async def build_chain(app: App) -> None:
    """A short history: an operation, a member, a linked channel, a status change, a post."""
    for line, who, channel in [
        ('op new "Night Harbour"', "admin", "hq"),
        (f"op invite {OP}", "admin", "hq"),
        ("op link --max-tlp green", "admin", "room"),
        ("op status active", "admin", "room"),
        ("op status suspended", "admin", "room"),
        (f"op show {OP}", "admin", "hq"),
    ]:
        reply = await app.console.push(line, as_=who, channel=channel)
        assert reply.ok, text(reply)
    assert len(await app.console.pop_posts("room")) == 2


async def test_every_command_leaves_one_entry(any_app: App) -> None:
    app = any_app
    steps = [
        ('op new "Night Harbour"', "admin", "hq", "op new", "collect"),
        (f"op invite {OP} --role member", "admin", "hq", "op invite", "collect"),
        ("help", "admin", "hq", "help", "consult"),
        ("whoami", "admin", "hq", "whoami", "consult"),
        ("op list", "admin", "hq", "op list", "consult"),
        (f"op show {OP}", "admin", "hq", "op show", "consult"),
        (f"op members {OP}", "admin", "hq", "op members", "consult"),
        ("op link", "admin", "room", "op link", "alter"),
        ("op status active", "admin", "room", "op status", "alter"),
        ("me tz Europe/Madrid", "admin", "hq", "me tz", "alter"),
        ("me lang es", "admin", "hq", "me lang", "alter"),
        ("link", "admin", "hq", "link", "collect"),
        (f"audit {OP}", "admin", "hq", "audit", "consult"),
        ("audit verify", "admin", "hq", "audit verify", "consult"),
        ("op unlink", "admin", "room", "op unlink", "alter"),
    ]
    for line, who, channel, command, action in steps:
        before = await entries(app)
        reply = await app.console.push(line, as_=who, channel=channel)
        assert reply.ok, f"{line}: {text(reply)}"
        new = (await entries(app))[len(before) :]
        assert [(e["command"], e["action"]) for e in new] == [(command, action)], line
        assert new[0]["actor"] == "admin (console:admin)"
        assert new[0]["channel"] == f"console:{channel}"
    # The post of `op status active` went out: one disclose entry naming its channel.
    await app.worker.drain()
    disclosed = [e for e in await entries(app) if e["action"] == "disclose"]
    assert [(e["command"], e["channel"], e["object_ref"]) for e in disclosed] == [
        ("post:op-status", "console:room", OP)
    ]
    # A newcomer joining by invite is an entry too, under the new member's name.
    # (The admin chose Spanish with `me lang es` above: the field is "Código".)
    code = dict((await app.console.push(f"op invite {OP}", as_="admin")).message.fields)["Código"]
    assert (await app.console.push(f"join {code}", as_="bob")).ok
    last = (await entries(app))[-1]
    assert (last["command"], last["actor"], last["reason"]) == (
        "join",
        "bob (console:bob)",
        f"invite {code}",
    )


# Each column of an entry, and a value that is not the one stored.
TAMPER: dict[str, Any] = {
    "at": datetime(2020, 1, 1, 12, 0),
    "actor_id": None,
    "actor": "someone else (console:eve)",
    "operation_id": None,
    "action": "consult",
    "command": "op show",
    "object_ref": "OP-OTHER",
    "channel": "console:elsewhere",
    "reason": "nothing to see",
    "outcome": "refused",
    "prev_hash": "f" * 64,
    "hash": "e" * 64,
}


async def cli_verify(app: App) -> tuple[int, str]:
    """`taskforce audit verify` against the app's database (in a thread: it runs its own loop)."""
    runner = CliRunner()
    env = {"TASKFORCE_DATABASE_URL": app.store.url, "TASKFORCE_ADMINS": ""}
    result = await asyncio.to_thread(runner.invoke, cli, ["audit", "verify"], env=env)
    return result.exit_code, result.output


async def test_altering_any_column_or_deleting_a_row_is_named(any_app: App) -> None:
    app = any_app
    await build_chain(app)
    rows = await entries(app)
    target = next(e for e in rows if e["command"] == "op status" and e["reason"])
    assert target["id"] not in (rows[0]["id"], rows[-1]["id"])
    intact = await app.console.push("audit verify", as_="admin")
    assert intact.ok and "Audit chain intact" in text(intact)
    assert (await cli_verify(app))[0] == 0

    for column, value in TAMPER.items():
        assert target[column] != value, column
        await raw(
            app, f"UPDATE auditentry SET {column} = :v WHERE id = :id", v=value, id=target["id"]
        )
        reply = await app.console.push("audit verify", as_="admin")
        assert not reply.ok, column
        assert f"Audit chain BROKEN at entry #{target['id']}:" in text(reply), column
        code, output = await cli_verify(app)
        assert code == 1 and f"BROKEN at entry #{target['id']}" in output, (column, output)
        # Put it back: the chain is whole again (the verify entries joined it properly).
        await raw(
            app,
            f"UPDATE auditentry SET {column} = :v WHERE id = :id",
            v=target[column],
            id=target["id"],
        )
        assert (await app.console.push("audit verify", as_="admin")).ok, column

    await raw(app, "DELETE FROM auditentry WHERE id = :id", id=target["id"])
    after = next(
        e["id"]
        for e in await entries(app)
        if e["chain"] == target["chain"] and e["chain_seq"] > target["chain_seq"]
    )
    reply = await app.console.push("audit verify", as_="admin")
    assert f"Audit chain BROKEN at entry #{after}:" in text(reply)
    assert "removed" in text(reply)
    code, output = await cli_verify(app)
    assert code == 1 and f"BROKEN at entry #{after}" in output


async def test_each_operation_has_its_own_chain_and_truncation_is_named(any_app: App) -> None:
    app = any_app
    await build_chain(app)
    assert (await app.console.push('op new "Second" --code OP-SECOND', as_="admin")).ok
    assert (await app.console.push("op show OP-SECOND", as_="admin")).ok
    rows = await entries(app)
    chains = {e["chain"] for e in rows}
    assert len(chains) >= 3  # the admin chain and one per operation
    for chain in chains:
        seqs = [e["chain_seq"] for e in rows if e["chain"] == chain]
        assert seqs == list(range(1, len(seqs) + 1))
    intact = await app.console.push("audit verify", as_="admin")
    assert intact.ok and "intact" in text(intact)

    # Removing a chain's newest entries leaves every remaining link intact: the tip row
    # still records how many there were.
    busiest = max(chains, key=lambda c: sum(1 for e in rows if e["chain"] == c))
    newest = max(e["chain_seq"] for e in rows if e["chain"] == busiest)
    await raw(
        app,
        "DELETE FROM auditentry WHERE chain = :c AND chain_seq >= :s",
        c=busiest,
        s=newest - 1,
    )
    reply = await app.console.push("audit verify", as_="admin")
    assert not reply.ok and "newest entries were removed" in text(reply)
    code, output = await cli_verify(app)
    assert code == 1 and "newest entries were removed" in output


async def test_a_renumbered_entry_is_named(app: App) -> None:
    await build_chain(app)
    rows = await entries(app)
    target = rows[len(rows) // 2]
    await raw(
        app,
        "UPDATE auditentry SET chain_seq = chain_seq + 1000 WHERE id = :id",
        id=target["id"],
    )
    reply = await app.console.push("audit verify", as_="admin")
    assert not reply.ok and "BROKEN" in text(reply)


async def test_a_reordered_chain_is_named(app: App) -> None:
    await build_chain(app)
    rows = await entries(app)
    a, b = rows[2], rows[3]
    # Swap the contents of two neighbours, keeping their ids and places in the chain.
    kept = ("id", "chain", "chain_seq")
    for row, other in ((a, b), (b, a)):
        sets = ", ".join(f"{c} = :{c}" for c in other if c not in kept)
        values = {c: v for c, v in other.items() if c not in kept}
        await raw(app, f"UPDATE auditentry SET {sets} WHERE id = :id", **values, id=row["id"])
    reply = await app.console.push("audit verify", as_="admin")
    assert f"BROKEN at entry #{a['id']}" in text(reply)


async def test_identity_linking_across_platforms(app: App, clock: ManualClock) -> None:
    assert (await app.console.push('op new "Night Harbour"', as_="admin")).ok
    reply = await app.console.push("link", as_="admin")
    code = reply.message.lines[0].removeprefix("Your code: ")
    assert len(code) == 8

    def telegram(line: str, user: str = "987654") -> Invocation:
        return Invocation(
            actor=Actor("telegram", user, "@ana"),
            channel=Channel("telegram", user, "", is_group=False),
            text=line,
        )

    def slack(line: str) -> Invocation:
        return Invocation(
            actor=Actor("slack", "T01/U02", "ana"), channel=Channel("slack", "D01"), text=line
        )

    clock.advance(minutes=9, seconds=59)
    linked = await dispatch(app.core, telegram(f"link {code.lower()}"))
    assert linked.ok and text(linked) == "Linked: this telegram account is now admin."
    who = text(await dispatch(app.core, telegram("whoami")))
    assert "console admin" in who and "telegram 987654 (@ana)" in who and OP in who
    # The Telegram identity acts as the same member: an admin and lead of the operation.
    assert (await dispatch(app.core, telegram(f"op invite {OP}"))).ok

    # One use only.
    again = await dispatch(app.core, slack(f"link {code}"))
    assert not again.ok and "wrong, used or expired" in text(again)
    # Ten minutes only.
    code = (await app.console.push("link", as_="admin")).message.lines[0].split(": ")[1]
    clock.advance(minutes=10)
    late = await dispatch(app.core, slack(f"link {code}"))
    assert not late.ok and "wrong, used or expired" in text(late)
    assert (await dispatch(app.core, slack("whoami"))).message.title == "Not registered"
    assert await count(app.store, "identity") == 2
    link_entries = [e for e in await entries(app) if e["command"] == "link"]
    assert [e["reason"] for e in link_entries] == [None, "identity linked", None]
