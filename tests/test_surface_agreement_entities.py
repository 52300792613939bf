"""The record kinds of issue 27 agree with the disclosure rule on every surface.

Entities (an advert, a TLP:RED address), typed links (to a readable subject and to a RED
one) and deconfliction notices, for each reader (lead, members, analyst, partner, observer,
an outsider, the lead of another operation) × surface (`subject show`, `subject list`,
`subject find`, `links`, the room page, the export, channel posts, private posts). The
expectations are written out by hand (`EXPECTED`), not read from the rule.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from sqlmodel import select

from bot.core.room_tokens import SignedIn
from bot.room.view import load_view
from bot.serving.app import App
from bot.store.models import Identity, Member
from tests.fieldintel import OP, join, ok, text
from tests.test_disclosure import in_agency

F, X = "full", "none"
OTHER = "OP-OTHER"

# reader → (console name, role in OP or None, agency)
READERS: dict[str, tuple[str, str | None, str]] = {
    "lead": ("admin", "lead", "ES-PN"),
    "member": ("mia", "member", "ES-PN"),
    "analyst": ("ana", "analyst", "PT-PJ"),
    "partner": ("pat", "partner", "NGO-HOPE"),
    "observer": ("obe", "observer", "EU-POL"),
    "outsider": ("out", None, "FR-PN"),
    "other-lead": ("lena", None, "FR-PN"),
}
# The markers: in the record's value or source.
MARKS = {
    "entity": "entitymark",  # S-2 advert, AMBER, by mia
    "entity-red": "redaddrmark",  # S-3 address, TLP:RED, by mia
    "relation": "RELMARK",  # S-1 uses-phone S-4, AMBER, by mia
    "relation-red": "REDRELMARK",  # S-1 uses-phone S-5 (a TLP:RED phone), by mia
}
EXPECTED: dict[str, dict[str, str]] = {
    "entity": {"lead": F, "member": F, "analyst": F, "partner": X, "observer": F},
    "entity-red": {"lead": X, "member": F, "analyst": X, "partner": X, "observer": X},
    "relation": {"lead": F, "member": F, "analyst": F, "partner": X, "observer": F},
    "relation-red": {"lead": X, "member": F, "analyst": X, "partner": X, "observer": X},
}
# Who gets a deconfliction notice privately: the leads of each side, nobody else.
TOLD = {"@admin", "@lena"}


async def _world(app: App) -> None:
    await ok(app, f'op new "Nightjar" --code {OP} --countries ES')
    await ok(app, f"op link {OP} --max-tlp amber", channel="room")
    for name, role, _agency in READERS.values():
        if role is not None and name != "admin":
            await join(app, OP, name, role)
    await ok(app, f'op new "Other" --code {OTHER} --countries ES')
    await join(app, OTHER, "lena", "lead")
    await join(app, OTHER, "out", "member")
    await ok(app, f"op link {OTHER} --max-tlp amber", channel="other")
    await ok(app, f"op remove {OTHER} admin", who="lena")
    for name, _role, agency in READERS.values():
        await in_agency(app, name, agency)
    await ok(app, f"subject add {OP} person Ivan Petrov --category suspect", who="mia")
    await ok(app, f"subject add {OP} advert https://ads.example/entitymark", who="mia")
    await ok(app, f'subject add {OP} address "redaddrmark 3, Vigo" --tlp red', who="mia")
    await ok(app, f"subject add {OP} phone 612345678", who="mia")
    await ok(app, f"subject add {OP} phone 699123456 --tlp red", who="mia")
    await ok(app, f'link {OP} S-1 S-4 --as uses-phone --source "RELMARK"', who="mia")
    await ok(app, f'link {OP} S-1 S-5 --as uses-phone --source "REDRELMARK"', who="mia")


@pytest.mark.parametrize("reader", list(READERS))
async def test_entities_links_and_hits_agree_with_the_rule(app: App, reader: str) -> None:
    await _world(app)
    await app.console.pop_posts()
    # The hit: OP-OTHER records the same phone (lena is not in OP).
    await ok(app, f"subject add {OTHER} phone +34 612 34 56 78", who="out", channel="other")
    posts = await app.console.pop_posts()
    told = {p.channel for p in posts if "Deconfliction" in p.text}
    assert told == TOLD, told
    for p in posts:
        if p.channel not in TOLD:
            assert "another operation" not in p.text, p
        for mark in MARKS.values():
            assert mark not in p.text, (p.channel, mark)

    name, role, _agency = READERS[reader]
    allowed = {cls: EXPECTED[cls].get(reader, X) for cls in MARKS}
    if role is None:
        for ref in ("S-2", "S-3", "S-1"):
            assert not (await app.console.push(f"subject show {OP}/{ref}", as_=name)).ok
        return
    surfaces = {
        "show S-1": text(await app.console.push(f"subject show {OP}/S-1", as_=name)),
        "show S-2": text(await app.console.push(f"subject show {OP}/S-2", as_=name)),
        "show S-3": text(await app.console.push(f"subject show {OP}/S-3", as_=name)),
        "list": text(await app.console.push(f"subject list {OP}", as_=name)),
        "find": text(await app.console.push(f"subject find {OP} ads example", as_=name))
        + text(await app.console.push(f"subject find {OP} Vigo", as_=name)),
        "links": text(await app.console.push(f"links {OP}", as_=name))
        + text(await app.console.push(f"links {OP} S-1", as_=name)),
    }
    async with app.store.transaction() as session:
        ident = (await session.exec(select(Identity).where(Identity.key == name))).one()
        member = await session.get(Member, ident.member_id)
        assert member is not None
    view = await load_view(app.core, SignedIn(0, member, ident), OP, audit_it=False)
    assert view is not None
    surfaces["room"] = json.dumps(asdict(view), ensure_ascii=False)
    exported = await app.console.push(f"export {OP}", as_=name)
    if exported.ok:
        surfaces["export"] = "".join(
            a.content.decode() if isinstance(a.content, bytes) else a.content
            for a in exported.message.attachments
        )
    for surface, shown in surfaces.items():
        for cls, mark in MARKS.items():
            if surface == "export" and role == "lead":
                continue  # the lead's case file is complete (disclosure clause 10), below
            if allowed[cls] != F:
                assert mark not in shown, (reader, surface, cls)
    # What the reader may read shows where it belongs.
    for cls, where in (
        ("entity", "show S-2"),
        ("entity", "find"),
        ("entity-red", "show S-3"),
        ("relation", "show S-1"),
        ("relation", "links"),
        ("relation", "room"),
        ("relation-red", "show S-1"),
    ):
        assert (MARKS[cls] in surfaces[where]) == (allowed[cls] == F), (reader, cls, where)
    if role == "lead":
        assert "RELMARK" in surfaces["export"] and "REDRELMARK" not in surfaces["export"]
