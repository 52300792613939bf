"""After a SQLAlchemy upgrade that changes the private details the fast path reads
(`bot.store.fastsql`, `bot.store.entityrows`), commands still work: the store falls back
to SQLAlchemy's public path with one warning in the log — never an AttributeError to a user.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import structlog
from sqlmodel import select

from bot.serving.app import App
from bot.store import entityrows
from bot.store.models import Sighting, Subject
from tests.fieldintel import fetch, ok, operation, text

ROOT = Path(__file__).resolve().parent.parent

# What a SQLAlchemy release that renamed its compiler's private hooks looks like to the
# fast path: `statement.compile()` (public) gives an object with every public attribute
# and none of the private ones. SQLAlchemy's own execution does not go through `.compile()`.
UPGRADED = textwrap.dedent(
    """
    import sys
    from sqlalchemy.sql import elements

    _compile = elements.ClauseElement.compile

    class Upgraded:
        def __init__(self, compiled):
            self._compiled = compiled

        def __getattr__(self, name):
            if name.startswith("_"):
                raise AttributeError(f"'Compiled' object has no attribute {name!r}")
            return getattr(self._compiled, name)

        def __str__(self):
            return str(self._compiled)

    def compile(self, *args, **kwargs):
        return Upgraded(_compile(self, *args, **kwargs))

    elements.ClauseElement.compile = compile

    from bot.serving.cli import main

    sys.exit(main())
    """
)


def test_the_first_command_after_an_upgrade_runs_on_the_public_path(tmp_path: Path) -> None:
    script = tmp_path / "upgraded.py"
    script.write_text(UPGRADED)
    lines = [
        'op new "Night Harbour" --countries ES,PT',
        "op link --max-tlp amber",
        'subject add person "Ivan Petrov" --category suspect',
        'sighting S-1 at "Vigo port"',
        "sightings S-1",
    ]
    env = {
        **os.environ,
        "TASKFORCE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tf.db'}",
        "TASKFORCE_ADMINS": "console:ana",
        "TASKFORCE_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, str(script), "shell", "--as", "ana"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "AttributeError" not in done.stdout
    assert "Traceback" not in out
    assert "SG-1" in done.stdout and "Vigo port" in done.stdout
    assert out.count("fastsql_public_path") == 1  # one warning, not one per statement


async def test_entities_load_through_the_public_api_when_the_orm_internals_change(
    any_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    def renamed(*_args: object, **_kwargs: object) -> None:
        raise AttributeError("'ClassManager' object has no attribute 'new_instance'")

    monkeypatch.setattr(entityrows, "_PUBLIC_ONLY", [])
    monkeypatch.setattr(entityrows.EntityRows, "_shape", renamed)
    monkeypatch.setattr(entityrows, "_fresh", renamed)
    with structlog.testing.capture_logs() as logs:
        await operation(any_app)
        await ok(any_app, 'subject add person "Ivan Petrov" --category suspect')
        await ok(any_app, 'sighting S-1 at "Vigo port"', who="mia")
        shown = text(await ok(any_app, "subject show S-1"))
    assert "Ivan Petrov" in shown and "Vigo port" in shown
    assert [s.name for s in await fetch(any_app, Subject)] == ["Ivan Petrov"]
    async with any_app.store.transaction() as session:
        assert len((await session.exec(select(Sighting))).all()) == 1
    warnings = [e for e in logs if e["event"] == "entityrows_public_path"]
    assert len(warnings) == 1 and "new_instance" in warnings[0]["reason"]
