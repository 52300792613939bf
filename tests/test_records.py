"""Records that stay true (issue 28): independent grading with its history, corrections
and retractions posted where the original went, late ticks marked, merges that keep what
they merge. Through the console, on SQLite and PostgreSQL."""

from __future__ import annotations

from bot.app import App
from bot.models import Sighting
from bot.models_records import SightingGrade
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import OP, fetch, join, ok, operation, refused, text


async def _setup(app: App) -> None:
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")  # S-1


async def test_grading_is_independent_and_its_history_is_shown(any_app: App) -> None:
    app = any_app
    await _setup(app)
    await join(app, OP, "ana", "analyst")
    await ok(app, 'sighting S-1 at "Vigo port" --grade A1', who="ana")  # SG-1, by the analyst
    await ok(app, 'sighting S-1 at "Vigo port"')  # SG-2, by the lead
    await ok(app, 'sighting S-1 at "Vigo port" --observer "Ana"', who="mia")  # SG-3, ana saw it
    before = await snapshot(app.store)
    independent = (
        "its grade is given by another lead or analyst, so that grading stays independent."
    )
    said = await refused(app, 'sighting grade SG-1 A1 --reason "own obs"', who="ana")
    assert said == f"You reported or observed SG-1; {independent}"
    said = await refused(app, 'sighting grade SG-2 A1 --reason "mine"')
    assert said == f"You reported or observed SG-2; {independent}"
    said = await refused(app, 'sighting grade SG-3 A1 --reason "I saw it"', who="ana")
    assert said == f"You reported or observed SG-3; {independent}"
    assert changed_tables(before, await snapshot(app.store)) == {}

    await ok(app, 'sighting grade SG-1 C3 --reason "single source"')
    await ok(app, 'sighting grade SG-2 B2 --reason "CCTV confirms"', who="ana")
    await ok(app, 'sighting grade SG-1 B2 --reason "confirmed by CCTV"')
    shown = text(await ok(app, "sighting show SG-1", who="mia"))
    assert "Grade history:" in shown
    assert "C3 (was ungraded) by admin, " in shown and ": single source" in shown
    assert "B2 (was C3) by admin, " in shown and ": confirmed by CCTV" in shown
    assert shown.index("single source") < shown.index("confirmed by CCTV")
    rows = await fetch(app, SightingGrade)
    assert [(r.grade, r.was, r.reason) for r in rows] == [
        ("C3", None, "single source"),
        ("B2", None, "CCTV confirms"),
        ("B2", "C3", "confirmed by CCTV"),
    ]
    # Erasing the sighting erases how it was graded.
    await ok(app, 'sighting erase SG-1 --reason "duplicate"')
    assert [r.sighting_id for r in await fetch(app, SightingGrade)] == [
        s.id for s in await fetch(app, Sighting) if s.seq == 2
    ]
