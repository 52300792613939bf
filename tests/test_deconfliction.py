"""Hit/no-hit deconfliction across operations (issue 27): the same normalised key in an
operation the member does not belong to tells each side's leads privately, naming only
their own subject; nothing reaches members, partners or channels; both chains audit it."""

from __future__ import annotations

import sqlalchemy as sa

from bot.core import deconfliction
from bot.serving.app import App
from bot.store.models import AuditEntry
from bot.store.models_entities import DeconflictionHit
from tests.conftest import AppFactory
from tests.fieldintel import RED, fetch, join, ok, text

BLUE, NIGHT = "OP-BLUE", "OP-NIGHT"


async def _two_operations(app: App) -> None:
    """OP-BLUE (leads admin and bea; member mia, partner pat; channel `blue`) and OP-NIGHT
    (lead lena, member nico; channel `night`); admin is in OP-NIGHT until removed."""
    await ok(app, f'op new "Blue" --code {BLUE} --countries ES,PT')
    await ok(app, f'op new "Night" --code {NIGHT} --countries ES')
    await ok(app, f"op link {BLUE} --max-tlp amber", channel="blue")
    await ok(app, f"op link {NIGHT} --max-tlp amber", channel="night")
    for op, who, role in (
        (BLUE, "bea", "lead"),
        (BLUE, "mia", "member"),
        (BLUE, "pat", "partner"),
        (NIGHT, "lena", "lead"),
        (NIGHT, "nico", "member"),
    ):
        await join(app, op, who, role)
    await app.console.pop_posts()


def _told(posts: list, to: str) -> str:
    return "\n".join(p.text for p in posts if p.channel == to)


async def test_a_hit_tells_both_sides_leads_and_nobody_else(any_app: App) -> None:
    app = any_app
    await _two_operations(app)
    await ok(app, f"op remove {NIGHT} admin", who="lena")
    await ok(app, f"subject add {NIGHT} phone 612345678 --desc NIGHTNOTES", who="nico")
    await ok(
        app, f"subject add {NIGHT} person Ivan Petrov --category suspect --dob 1985", who="nico"
    )
    assert not [p for p in await app.console.pop_posts() if "Deconfliction" in p.text]
    reply = await ok(app, f"subject add {BLUE} phone +34 612 34 56 78", who="mia", channel="blue")
    assert "Deconfliction" not in text(reply) and "another operation" not in text(reply)
    posts = await app.console.pop_posts()
    told = sorted({p.channel for p in posts})
    assert told == ["@admin", "@bea", "@lena"], told  # the leads of each side, privately
    for lead in ("@admin", "@bea"):
        said = _told(posts, lead)
        assert "OP-BLUE's S-1 matches a subject held by another operation (phone)" in said
        assert "Contact goes through a Taskforce admin: quote D-1." in said
        for leak in (NIGHT, "lena", "NIGHTNOTES", "nico"):
            assert leak not in said, (lead, leak)
    night = _told(posts, "@lena")
    assert "OP-NIGHT's S-1 matches a subject held by another operation (phone)" in night
    for leak in (BLUE, "mia", "bea", "admin ("):
        assert leak not in night, leak
    # Neither side reads the other's record.
    assert "612" not in text(await app.console.push(f"subject find {NIGHT} 612345678", as_="mia"))
    # Contact opened by OP-NIGHT: OP-BLUE's leads are told its lead's name on the next hit.
    await ok(app, f"op deconfliction {NIGHT} --contact open", who="lena")
    await ok(app, f"subject add {BLUE} person Petrov Ivan --category suspect --dob 1985", who="mia")
    posts = await app.console.pop_posts()
    assert "Contact its lead: lena. Quote D-2." in _told(posts, "@bea")
    assert "(identity)" in _told(posts, "@bea")
    assert "Contact goes through a Taskforce admin: quote D-2." in _told(posts, "@lena")
    # Both notices are `combine` entries, one in each chain; the other side's names nobody.
    entries = [e for e in await fetch(app, AuditEntry) if e.action == "combine"]
    night_side = [e for e in entries if e.object_ref == f"{NIGHT}/S-1"]
    assert len(night_side) == 1 and night_side[0].actor == "deconfliction"
    assert night_side[0].actor_id is None and "D-1" in (night_side[0].reason or "")
    assert any(e.object_ref == f"{BLUE}/S-1" and "mia" in e.actor for e in entries)
    assert "intact" in text(await ok(app, "audit verify")).lower()


async def test_a_member_of_both_operations_makes_no_hit_and_a_sighting_does(any_app: App) -> None:
    app = any_app
    await _two_operations(app)
    await ok(app, f"subject add {NIGHT} handset 35-209900-176148-1", who="nico")
    await ok(app, f"subject add {BLUE} handset 352099001761481", who="admin")  # in both
    assert not [p for p in await app.console.pop_posts() if p.channel.startswith("@")]
    assert await fetch(app, DeconflictionHit) == []
    await ok(app, f"op remove {NIGHT} admin", who="lena")
    await ok(app, f"sighting {BLUE}/S-1 at Vigo", who="mia", channel="blue")
    posts = await app.console.pop_posts()
    private = sorted({p.channel for p in posts if p.channel.startswith("@")})
    assert private == ["@admin", "@bea", "@lena"]
    assert not [p for p in posts if not p.channel.startswith("@") and "another operation" in p.text]
    # Told once a day: a second sighting tells nobody again.
    await ok(app, f"sighting {BLUE}/S-1 at Vigo", who="mia", channel="blue")
    assert not [p for p in await app.console.pop_posts() if p.channel.startswith("@")]
    assert len(await fetch(app, DeconflictionHit)) == 1


async def test_contact_policy_is_a_leads_choice_in_one_sentence(any_app: App) -> None:
    app = any_app
    await _two_operations(app)
    reply = await app.console.push(f"op deconfliction {BLUE} --contact maybe", as_="admin")
    assert not reply.ok and "not a contact policy" in text(reply)
    reply = await app.console.push(f"op deconfliction {BLUE} --contact open", as_="mia")
    assert not reply.ok


async def test_the_lookup_reads_the_token_index_not_the_table(
    make_app: AppFactory, db_url: str
) -> None:
    """EXPLAIN of the deconfliction lookup on both stores: the token index, no full scan
    of the search keys (PostgreSQL told to avoid sequential scans where it can: on a tiny
    table it would rather read it all; the index must make that avoidable)."""
    app = await make_app(db_url)
    postgres = db_url.startswith("postgresql")
    async with app.store.transaction() as session:
        conn = await session.connection()
        bound = deconfliction.HITS.params(tokens=["phone:+34612345678"], op_id=1, member_id=1)
        compiled = bound.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        if postgres:
            await conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        word = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
        plan = (await conn.exec_driver_sql(f"{word} {compiled}")).all()
    shown = "\n".join(str(row) for row in plan)
    assert "ix_subjectkey_key" in shown, shown
    assert "SCAN subjectkey" not in shown and "Seq Scan on subjectkey" not in shown, shown


async def test_a_sighting_of_a_person_under_another_operations_red_notice_is_a_match(
    any_app: App,
) -> None:
    app = any_app
    await _two_operations(app)
    await ok(app, f"op remove {NIGHT} admin", who="lena")
    await ok(
        app, f"subject add {NIGHT} person Ivan Petrov --category suspect --dob 1985", who="nico"
    )
    await ok(app, f'notice record red {NIGHT}/S-1 {RED} --charges "trafficking"', who="lena")
    await ok(app, f"subject add {BLUE} person Petrov Ivan --category suspect --dob 1985", who="mia")
    await app.console.pop_posts()
    reply = await ok(app, f"sighting {BLUE}/S-1 at Vigo", who="mia", channel="blue")
    assert "MATCH" not in text(reply)  # the sighting's own reply and posts say nothing of it
    posts = await app.console.pop_posts()
    matched = {p.channel: p.text for p in posts if "MATCH across operations" in p.text}
    assert sorted(matched) == ["@admin", "@bea"], sorted(matched)
    said = matched["@bea"]
    assert "OP-BLUE's S-1, just sighted, is the subject of an active Red notice" in said
    assert "INTERPOL reference A-1/2026, requested by PT" in said
    assert "Confirm the notice's validity with your NCB before acting." in said
    for leak in (NIGHT, "W/1", "lena", "nico"):
        assert leak not in said, leak
    assert not [p for p in posts if not p.channel.startswith("@") and "MATCH across" in p.text]
