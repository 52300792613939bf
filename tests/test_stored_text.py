"""Stored text is never a template (issue 32): whatever a member types — `{0}`,
`{x.__class__}`, `%s`, `{{`, `}}` — comes back exactly as typed in every reply and post that
shows it, and never makes a command crash. Every sentence is formatted with the stored
values as arguments, never as the format string.

Every free-text field of every subject kind, of a sighting, a raid, a notice, a checklist
tick and the operation's intent holds the payload between two marker words; then every
command of the registry that only reads is run against every kind of reference.
"""

from __future__ import annotations

import re

from bot.commands.intel import SUBJECT_KINDS
from bot.commands.registry import REGISTRY
from bot.core.entities import ENTITY_KINDS
from bot.serving.app import App
from tests.fieldintel import RED, ok, operation, text

PAYLOAD = "{0} {x.__class__} {where.__class__.__mro__} %s %(x)s {{ }} {"
STORED = f"Qa {PAYLOAD} Zz"  # the marker words around it: Qa … Zz
SHOWN = re.compile(r"Qa (.*?) Zz")
# Commands that read but change something else on the way (files, links, sessions).
NOT_READS = {"export", "op new", "op unlink", "link", "room", "room logout"}
TARGETS = ["", "S-1", "S-2", "S-6", "SG-1", "R-1", "N-1", "Zz", "Horvat", "where", "1"]


async def _store_everywhere(app: App) -> None:
    await operation(app)
    # S-1 … S-6; an entity's value is read by its kind (a phone must be a number).
    for kind in [k for k in SUBJECT_KINDS if k not in ENTITY_KINDS]:
        category = " --category suspect" if kind == "person" else ""
        await ok(
            app,
            f'subject add {kind} "{STORED} Horvat" --alias "{STORED}" '
            f'--desc "{STORED}"{category} --new',
        )
    await ok(app, f'op intent "{STORED}"')
    await ok(
        app,
        f'sighting S-1 at "{STORED}" --note "{STORED}" --activity "{STORED}" '
        f'--direction "{STORED}" --count "{STORED}" --equipment "{STORED}" '
        f'--observer "{STORED}" --coords 37.25,-6.95',
        channel="room",
    )
    await ok(app, f'sighting S-2 at "{STORED}" --coords 37.25,-6.95', channel="room")
    await ok(app, f'subject edit S-1 --desc "{STORED} 2" --reason "{STORED}"')
    await ok(
        app,
        f'notice record red S-1 {RED} --charges "{STORED}" --summary "{STORED}" '
        f'--reason "{STORED}"',
    )
    await ok(
        app,
        f'raid plan "{STORED}" --at "tomorrow 05:30" --location "{STORED}"',
        channel="room",
    )
    await ok(app, f'check R-1 1 --note "{STORED}"')


async def test_typed_braces_and_percent_signs_come_back_exactly_as_typed(any_app: App) -> None:
    app = any_app
    await _store_everywhere(app)
    wrong: list[str] = []
    shown = 0
    posts = await app.console.pop_posts()
    texts = [(f"post to {p.channel}", p.text) for p in posts]
    reads = [c for c in REGISTRY.all() if not c.writes and c.name not in NOT_READS]
    for cmd in reads:
        for target in TARGETS if cmd.args else [""]:
            line = f"{cmd.name} {target}".strip()
            reply = await app.console.push(line, as_="admin", channel="hq")
            texts.append((line, text(reply)))
            texts += [(f"{line} → {p.channel}", p.text) for p in await app.console.pop_posts()]
    for line, said in texts:
        if "Something went wrong" in said:
            wrong.append(f"{line!r} crashed")
        for found in SHOWN.findall(said):
            shown += 1
            if found != PAYLOAD:
                wrong.append(f"{line!r} showed {found!r}")
    assert wrong == []
    assert shown > 50  # the payload was on show: the check above had something to check


async def test_a_name_with_a_placeholder_is_found_and_named(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Ivan {0} Horvat --category suspect")
    await ok(app, "subject add vehicle {where.__class__.__mro__}")
    found = text(await ok(app, "subject find Horvat"))
    assert "name 'Ivan {0} Horvat'" in found
    where = text(await ok(app, "subject find where"))
    assert "{where.__class__.__mro__}" in where and "<class" not in where
