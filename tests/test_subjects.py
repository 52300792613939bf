"""Subjects: kinds, person categories kept apart, aliases, nationality, review date, show."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.store.models import Subject
from tests.conftest import START
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import OP, RED, fetch, ok, operation, refused, text


async def test_add_a_person_with_everything(any_app: App) -> None:
    app = any_app
    await operation(app)
    reply = await ok(
        app,
        "subject add person Ivan Petrov --category suspect --alias Vanya --alias 'I. Petrov' "
        '--nationality bg --dob 1985-04-02 --sex m --desc "scar on left cheek" --tlp amber+strict',
        who="mia",
    )
    assert reply.message.title == "Added S-1 Ivan Petrov"
    assert reply.message.context == f"{OP}/S-1 · TLP:AMBER+STRICT"
    assert reply.message.tlp == "amber+strict"
    [s] = await fetch(app, Subject)
    assert (s.kind, s.name, s.category) == ("person", "Ivan Petrov", "suspect")
    assert s.aliases == ["Vanya", "I. Petrov"]
    assert (s.nationality, s.dob, s.sex, s.description) == (
        "BG",
        "1985-04-02",
        "m",
        "scar on left cheek",
    )
    assert s.review_at == START.replace(year=START.year + 1)  # 12 months on
    assert s.tlp == "amber+strict"


@pytest.mark.parametrize("kind", ["vehicle", "vessel", "organisation", "place", "asset"])
async def test_every_other_kind_has_no_category_and_takes_the_operation_tlp(
    app: App, kind: str
) -> None:
    await operation(app, tlp="green", people=False)
    reply = await ok(app, f"subject add {kind} Sea Breeze --nationality PT")
    assert reply.message.context == f"{OP}/S-1 · TLP:GREEN"
    [s] = await fetch(app, Subject)
    assert (s.kind, s.category, s.tlp) == (kind, None, "green")


BAD = [
    ("subject add person Ivan Petrov", "A person must be recorded as a suspect, victim, witness"),
    ("subject add person Ivan --category boss", "'boss' is not a category; use one of suspect"),
    ("subject add vehicle Transit --category suspect", "--category is for persons only"),
    ("subject add vehicle Transit --dob 1999", "--dob is for persons only"),
    ("subject add spaceship Enterprise", "'spaceship' is not a subject kind"),
    ("subject add person Ivan --category suspect --nationality XX", "'XX' is not an ISO 3166"),
    ("subject add person Ivan --category suspect --dob 85", "'85' is not a date of birth"),
    ("subject add person Ivan --category suspect --sex q", "'q' is not a sex"),
    ("subject add person Ivan --category suspect --tlp white-ish", "is not a TLP label"),
    ("subject add person", "<name> is missing."),
]


@pytest.mark.parametrize(("line", "sentence"), BAD)
async def test_bad_input_is_one_sentence_and_stores_nothing(
    app: App, line: str, sentence: str
) -> None:
    await operation(app)
    before = await snapshot(app.store)
    assert sentence in await refused(app, line, who="mia")
    assert changed_tables(before, await snapshot(app.store)) == {}


async def test_who_may_add(app: App) -> None:
    await operation(app)
    for who, role in (("pat", "partner"), ("obe", "observer")):
        said = await refused(app, "subject add vehicle Transit", who=who)
        assert said == f"As {role} in {OP} you cannot add subjects."
    assert await fetch(app, Subject) == []


async def test_show_has_notices_and_latest_sightings(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, f'notice record red S-1 {RED} --charges "trafficking"')
    for i in range(7):
        await ok(app, f"sighting S-1 at 'Stop {i}' --when '{10 - i}m ago'")
    shown = await ok(app, f"subject show {OP}/S-1", who="mia")
    body = text(shown)
    assert "N-1 Red — S-1 Ivan Petrov · active until 28 Nov 2031 · TLP:AMBER" in body
    assert [ln.split()[0] for ln in shown.message.lines if ln.startswith("  SG-")] == [
        "SG-7",
        "SG-6",
        "SG-5",
        "SG-4",
        "SG-3",
    ]
    assert f"more: `sightings {OP} --subject S-1`" in body
    assert shown.message.context == f"{OP}/S-1 · TLP:AMBER"


async def test_list_pages_and_marks_review_due(app: App, clock: ManualClock) -> None:
    await operation(app)
    for i in range(23):
        await ok(app, f"subject add place 'Safe house {i}'")
    first = await ok(app, "subject list")
    assert first.message.title == f"{OP} subjects (page 1 of 2)"
    assert first.message.buttons[0].command == f"subject list {OP} --page 2"
    second = text(await ok(app, "subject list --page 2"))
    assert "S-23 Safe house 22 — place · TLP:AMBER" in second and "review due" not in second
    clock.advance(timedelta(days=366))
    assert "S-23 Safe house 22 — place · TLP:AMBER · review due" in text(
        await ok(app, "subject list --page 2")
    )
    assert "S-1 " not in text(await ok(app, "subject list --kind vehicle"))


async def test_possible_duplicates_are_pointed_out(app: App) -> None:
    await operation(app, people=False)
    await ok(app, "subject add person Ivan Petrov --category suspect --alias Vanya")
    said = await refused(app, "subject add person vanya --category associate")
    assert said.startswith("Possibly the same as S-1 Ivan Petrov (alias 'Vanya')")
    assert "--new" in said
    assert len(await fetch(app, Subject)) == 1
    reply = await ok(app, "subject add person vanya --category associate --new")
    assert reply.message.title == "Added S-2 vanya"
