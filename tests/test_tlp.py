"""TLP everywhere (README, "Victim safety and need-to-know"): channel ceilings, RED never in
a group, reading by role."""

from __future__ import annotations

from bot.contracts import Visibility
from bot.core.access import TLP
from bot.serving.app import App
from bot.store.models import ChannelLink, OutboxMessage, Sighting
from tests.fieldintel import OP, RED, fetch, ok, operation, refused, text


async def test_amber_sighting_is_withheld_from_a_green_channel(any_app: App) -> None:
    app = any_app
    await operation(app)  # room up to AMBER, lobby up to GREEN
    await ok(app, "subject add vehicle white Transit van")
    reply = await ok(app, "sighting S-1 at Vigo", who="mia")
    assert "Posted to 1 linked channel; withheld from 1 (console lobby: ceiling TLP:GREEN)." in (
        text(reply)
    )
    assert [p.channel for p in await app.console.pop_posts()] == ["room"]
    await ok(app, 'sighting "blue Seat Ibiza" at Vigo --tlp green', who="mia")
    posts = await app.console.pop_posts()
    assert sorted(p.channel for p in posts) == ["lobby", "room"]
    assert all(p.message.context.endswith("TLP:GREEN") for p in posts)


async def test_red_goes_to_no_channel_and_no_channel_takes_a_red_ceiling(any_app: App) -> None:
    app = any_app
    await operation(app, channels={"room": "amber", "lobby": "green"}, people=False)
    # TLP:RED is for named recipients (TLP 2.0): no channel, group or one-to-one, takes it.
    for channel, is_group in (("room", True), ("dm-admin", False)):
        said = await refused_link(app, channel, is_group)
        assert said.startswith("TLP:RED is for named recipients only and is never posted")
    await ok(app, f"op link {OP} --max-tlp amber", channel="dm-admin", is_group=False)
    await ok(app, "subject add person Ivan Petrov --category suspect --tlp red")
    reply = await ok(app, "sighting S-1 at Porto")
    assert reply.message.tlp == "red"
    assert "console room: TLP:RED goes to its named recipients only, never to a channel" in (
        text(reply)
    )
    assert "TLP:RED: only you can read it; name recipients with --to M-3,M-7." in text(reply)
    assert await app.console.pop_posts() == []
    assert await fetch(app, OutboxMessage) == []
    # Asked for in a group channel, the answer is kept out of the group.
    shown = await ok(app, "subject show S-1", channel="room")
    assert shown.confidential and shown.visibility is Visibility.PRIVATE


async def refused_link(app: App, channel: str, is_group: bool) -> str:
    """`op link --max-tlp red` in `channel`: refused, nothing linked; the sentence."""
    reply = await app.console.push(
        f"op link {OP} --max-tlp red", as_="admin", channel=channel, is_group=is_group
    )
    assert not reply.ok, text(reply)
    assert [c.channel_key for c in await fetch(app, ChannelLink)] == ["room", "lobby"]
    return reply.message.lines[0]


async def test_a_partner_cannot_read_a_suspect(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect --tlp green")
    await ok(app, "subject add person Lena --category victim")  # protected: by grant only
    await ok(app, "subject add vehicle white Transit van")  # AMBER, not a victim: hidden
    await ok(app, f'notice record red S-1 {RED} --charges "trafficking"')
    await ok(app, "sighting S-1 at Porto --tlp green")
    await ok(app, "sighting S-2 at Porto")
    nothing = await refused(app, "subject show S-99", who="pat")
    assert await refused(app, "subject show S-1", who="pat") == nothing.replace("S-99", "S-1")
    assert await refused(app, "notice show N-1", "pat") == "There is no notice N-1 in OP-NIGHTJAR."
    assert "There is no sighting SG-1" in await refused(app, "sighting show SG-1", "pat")
    assert "There is no subject S-1" in await refused(app, "sightings --subject S-1", "pat")
    listing = text(await ok(app, "subject list", who="pat"))
    assert "Lena" not in listing and "3 hidden by your role." in listing
    # A victim is read by a partner once a lead grants it by name (issue 13); a suspect never.
    await ok(app, "subject grant S-2 pat")
    listing = text(await ok(app, "subject list", who="pat"))
    assert "Lena" in listing and "Petrov" not in listing and "Transit" not in listing
    assert "2 hidden by your role." in listing
    sightings = text(await ok(app, "sightings", who="pat"))
    assert "SG-2" in sightings and "SG-1" not in sightings and "1 hidden by your role." in sightings
    assert "1 hidden by your role." in text(await ok(app, "notice list", who="pat"))
    assert "Lena" in text(await ok(app, "subject show S-2", who="pat"))
    assert "cannot" in await refused(app, "subject grant S-1 pat", who="mia")


async def test_an_observer_cannot_read_amber_strict(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "sighting S-1 at Porto --tlp amber+strict")
    await ok(app, "sighting S-1 at Braga")
    assert "There is no sighting SG-1" in await refused(app, "sighting show SG-1", who="obe")
    assert "Braga" in text(await ok(app, "sighting show SG-2", who="obe"))
    listing = await ok(app, "sightings", who="obe")
    assert "Porto" not in text(listing) and "Braga" in text(listing)
    assert "1 hidden by your role." in text(listing)
    assert listing.message.tlp == "amber"
    lead = await ok(app, "sightings")
    assert lead.message.tlp == "amber+strict"  # the highest label the reply shows
    shown = await ok(app, "subject show S-1", who="obe")
    assert "1 hidden by your role." in text(shown) and "Porto" not in text(shown)


async def test_the_sources_label_travels_with_the_data(any_app: App) -> None:
    app = any_app
    await operation(app, tlp="green")
    await ok(app, "subject add person Ivan Petrov --category suspect --tlp amber+strict")
    await ok(app, 'sighting "van" at Vigo')
    await ok(app, "sighting S-1 at Vigo")
    raised = await ok(app, "sighting S-1 at Vigo --tlp green")
    assert (
        "Marked TLP:AMBER+STRICT, not TLP:GREEN: S-1 is TLP:AMBER+STRICT and the source's "
        "restriction travels with the data."
    ) in text(raised)
    assert [s.tlp for s in await fetch(app, Sighting)] == ["green", "amber+strict", "amber+strict"]
    notice = await ok(app, "notice record blue S-1 --requested-by PT --ref A-1/2026 --tlp clear")
    assert notice.message.tlp == TLP.AMBER_STRICT.value
    assert notice.message.context == f"{OP}/N-1 · TLP:AMBER+STRICT · about S-1"
