"""Raid deconfliction (issue 27): a raid planned at the address another operation raids
within 24 hours tells both operations' leads privately, and `raid go` then needs the
deconfliction item ticked — `--force` never skips it."""

from __future__ import annotations

from bot.serving.app import App
from bot.store.models import AuditEntry
from tests.fieldintel import fetch, ok, refused
from tests.test_deconfliction import BLUE, NIGHT, _two_operations


async def test_two_raids_on_one_door_are_deconflicted(any_app: App) -> None:
    app = any_app
    await _two_operations(app)
    await ok(app, f"op remove {NIGHT} admin", who="lena")
    await ok(
        app,
        f'raid plan {NIGHT} "OWL" --at "tomorrow 05:30" --location "Calle Mayor 3, Vigo"',
        who="nico",
        channel="night",
    )
    await ok(
        app,
        f'raid plan {BLUE} "HERON" --at "tomorrow 09:00" --location "Rúa Illa 9, Vigo"',
        who="mia",
        channel="blue",
    )
    assert not [p for p in await app.console.pop_posts() if "deconfliction" in p.text.lower()]
    await ok(
        app,
        f'raid plan {BLUE} "EGRET" --at "tomorrow 08:00" --location "calle mayor, 3 — VIGO"',
        who="mia",
        channel="blue",
    )
    posts = await app.console.pop_posts()
    told = {p.channel: p.text for p in posts if "Raid deconfliction" in p.text}
    assert sorted(told) == ["@admin", "@bea", "@lena"], sorted(told)
    assert "OP-BLUE's R-2 is at the same address as a raid another operation plans" in told["@bea"]
    assert "OP-NIGHT's R-1" in told["@lena"]
    for leak in (NIGHT, "OWL", "05:30", "lena"):
        assert leak not in told["@bea"], leak
    for leak in (BLUE, "EGRET", "Mayor", "mia"):
        assert leak not in told["@lena"], leak
    assert not [p for p in posts if not p.channel.startswith("@") and "another operation" in p.text]
    # The go: the deconfliction item first, whatever --force says.
    await ok(app, f'check {BLUE}/R-2 1 --note "warrant W-22 seen"')
    said = await refused(app, f'raid go {BLUE}/R-2 --force --reason "urgent"')
    assert "another operation plans a raid at the same address" in said
    assert "--force never overrides it" in said
    await ok(app, f'check {BLUE}/R-2 2 --note "agreed with the other lead via admin"')
    await ok(app, f'raid go {BLUE}/R-2 --force --reason "the rest is covered"')
    combined = [e for e in await fetch(app, AuditEntry) if e.action == "combine"]
    assert {e.object_ref for e in combined} == {f"{BLUE}/R-2", f"{NIGHT}/R-1"}
