"""The role table (the README's command tables, column "who") for every `op` command and
`audit`, role by role.

Each case runs on a fresh operation OP-A ("Alpha") with a lead, a member, a partner and an
observer, an admin who is not in it, a member of another operation, and a stranger.
Allowed commands must succeed; refused ones must say why in one sentence and write nothing
but the denied-access audit entry the leads of OP-A read (`audit --denied`). Admins manage
the service (create operations, change their status, verify the audit chain) but are not
readers: outside their own operations they get a sentence naming `op access`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.commands import REGISTRY
from bot.contracts import Reply
from bot.serving.app import App
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, denied_only, snapshot

ACTORS = ("lead", "member", "partner", "observer", "nonmember", "admin", "stranger")
WHO = {
    "lead": "ana",
    "member": "mia",
    "partner": "pat",
    "observer": "obe",
    "nonmember": "nora",  # member of OP-B only
    "admin": "root",  # a Taskforce admin without any membership in OP-A
    "stranger": "zed",  # not registered at all
}
MEMBERS = {"lead", "member", "partner", "observer"}
LEADS = {"lead"}

# command → (line, channel, who may run it). `room` is linked to OP-A.
TABLE: dict[str, tuple[str, str, set[str]]] = {
    "op new": ('op new "Gamma"', "hq", {"admin"}),
    "op list": ("op list", "hq", MEMBERS | {"nonmember", "admin"}),
    "op show": ("op show OP-A", "hq", MEMBERS),
    "op members": ("op members OP-A", "hq", MEMBERS),
    "op status": ("op status OP-A active", "hq", LEADS | {"admin"}),
    "op access": ('op access OP-A --reason "court order 12/2026"', "hq", {"admin"}),
    "op invite": ("op invite OP-A --role member", "hq", LEADS),
    "op role": ("op role OP-A mia observer", "hq", LEADS),
    "op remove": ("op remove OP-A obe", "hq", LEADS),
    "op link": ("op link OP-A --max-tlp green", "new-room", LEADS),
    "op unlink": ("op unlink", "room", LEADS),
    "op retention": ("op retention OP-A 12", "hq", LEADS),
    "op intent": ('op intent OP-A "dismantle the network"', "hq", LEADS),
    "op deconfliction": ("op deconfliction OP-A --contact open", "hq", LEADS),
    "audit": ("audit OP-A --limit 5", "hq", LEADS),
    "audit verify": ("audit verify", "hq", LEADS | {"admin"}),
}


def text(reply: Reply) -> str:
    """The reply as the console shows it."""
    return reply.message.plain_text()


ADMINS = "console:admin,console:root"
_READY: list[Path] = []  # the set-up database, built once and copied for every case


async def _setup(make_app: AppFactory, url: str) -> App:
    path = Path(url.split(":///", 1)[1])
    if _READY:
        shutil.copy(_READY[0], path)
        return await make_app(url, TASKFORCE_ADMINS=ADMINS)
    app = await _build(make_app, url)
    await app.store.dispose()  # checkpoints the WAL into the file
    kept = path.with_name("roles-ready.db")
    shutil.copy(path, kept)
    _READY.append(kept)
    return app


async def _build(make_app: AppFactory, url: str) -> App:
    app = await make_app(url, TASKFORCE_ADMINS=ADMINS)

    async def ok(line: str, as_: str = "admin", channel: str = "hq") -> Reply:
        reply = await app.console.push(line, as_=as_, channel=channel)
        assert reply.ok, f"setup {line!r}: {text(reply)}"
        return reply

    await ok('op new "Alpha" --code OP-A')
    await ok('op new "Beta" --code OP-B')
    await ok("op link OP-A", channel="room")
    for role in ("lead", "member", "partner", "observer"):
        code = dict((await ok(f"op invite OP-A --role {role}")).message.fields)["Code"]
        await ok(f"join {code}", as_=WHO[role])
    code = dict((await ok("op invite OP-B --role member")).message.fields)["Code"]
    await ok(f"join {code}", as_="nora")
    return app


def test_the_table_covers_every_op_command() -> None:
    names = {c.name for c in REGISTRY.all() if c.noun in ("op", "audit")}
    assert names == set(TABLE)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("name", list(TABLE))
async def test_role_table(make_app: AppFactory, sqlite_url: str, name: str, actor: str) -> None:
    line, channel, allowed = TABLE[name]
    app = await _setup(make_app, sqlite_url)
    before = await snapshot(app.store)
    reply = await app.console.push(line, as_=WHO[actor], channel=channel)
    if actor in allowed:
        assert reply.ok, f"{actor} was refused {line!r}: {text(reply)}"
        return
    assert not reply.ok, f"{actor} was allowed {line!r}: {text(reply)}"
    after = await snapshot(app.store)
    sentence = text(reply)
    if actor == "stranger" or name in ("op new", "op access", "audit verify"):
        # Not about OP-A (an unregistered account, an admin-only command): nothing written.
        assert changed_tables(before, after) == {}
    else:
        [entry] = denied_only(before, after)
        assert (entry["command"], entry["operation_id"], entry["reason"]) == (name, 1, sentence)
        assert entry["actor"].startswith(f"{WHO[actor]} ")
    assert "Traceback" not in sentence and "\n" not in sentence.strip()
    if actor == "stranger":
        assert sentence.startswith("You are not registered with Taskforce yet")
    elif actor == "nonmember":
        # Nothing about OP-A leaks: the same answer as for an operation that does not exist.
        assert "Alpha" not in sentence
        if "OP-A" in line:
            reply_nope = await app.console.push(
                line.replace("OP-A", "OP-NOPE"), as_=WHO[actor], channel=channel
            )
            assert sentence.replace("OP-A", "OP-?") == text(reply_nope).replace("OP-NOPE", "OP-?")
        else:
            assert sentence in (
                "This channel's operation is not one you belong to.",
                "Only leads and admins can verify the audit log.",
                "Only Taskforce admins can `op new`.",
                "Only Taskforce admins can `op access`.",
            )
    elif actor == "admin":
        assert sentence == (
            "You are not a member of OP-A; an admin reads an operation only through "
            '`op access OP-A --reason "…"` (audited and announced to its leads).'
        )
    elif name in ("op new", "op access"):
        assert sentence == f"Only Taskforce admins can `{name}`."
    elif name == "audit verify":
        assert sentence == "Only leads and admins can verify the audit log."
    else:
        perm = "read the audit log" if name == "audit" else "manage the operation"
        assert sentence == f"As {actor} in OP-A you cannot {perm}."


async def test_roles_are_the_only_way_in(make_app: AppFactory, sqlite_url: str) -> None:
    """A stranger in a linked channel learns nothing: no operation code, no name."""
    app = await _setup(make_app, sqlite_url)
    for line in ("op show", "op members", "audit", "op list"):
        reply = await app.console.push(line, as_="zed", channel="room")
        assert not reply.ok
        assert "OP-A" not in text(reply) and "Alpha" not in text(reply)
