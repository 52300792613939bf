"""The `op` lifecycle through the console adapter, and the rules around membership."""

from __future__ import annotations

from bot.base.clock import ManualClock
from bot.commands import dispatch
from bot.contracts import Actor, Channel, Invocation, Reply
from bot.serving.app import App
from tests.dbstate import changed_tables, count, denied_only, snapshot

OP = "OP-NIGHT-HARBOUR"


def text(reply: Reply) -> str:
    """The reply as the console shows it."""
    return reply.message.plain_text()


def field(reply: Reply, name: str) -> str:
    """One labelled field of a reply."""
    return dict(reply.message.fields)[name]


async def ok(app: App, line: str, as_: str = "admin", channel: str = "hq") -> Reply:
    """Push a line and insist that it succeeded."""
    reply = await app.console.push(line, as_=as_, channel=channel)
    assert reply.ok, f"{line!r} as {as_}: {text(reply)}"
    return reply


async def refused(app: App, line: str, as_: str = "admin", channel: str = "hq") -> str:
    """Push a line, insist that it was refused and wrote nothing; return the sentence."""
    before = await snapshot(app.store)
    reply = await app.console.push(line, as_=as_, channel=channel)
    assert not reply.ok, f"{line!r} as {as_} was accepted: {text(reply)}"
    assert changed_tables(before, await snapshot(app.store)) == {}
    return text(reply)


async def denied(app: App, line: str, as_: str = "admin", channel: str = "hq") -> str:
    """Like `refused`, for a refused access: the one thing written is its denied audit entry."""
    before = await snapshot(app.store)
    reply = await app.console.push(line, as_=as_, channel=channel)
    assert not reply.ok, f"{line!r} as {as_} was accepted: {text(reply)}"
    [entry] = denied_only(before, await snapshot(app.store))
    assert entry["reason"] == text(reply) and entry["actor"].startswith(f"{as_} ")
    return text(reply)


async def invite(app: App, extra: str = "", as_: str = "admin") -> str:
    """An invite code to the operation."""
    return field(await ok(app, f"op invite {OP} {extra}", as_=as_), "Code")


def telegram(user: str, line: str, name: str = "") -> Invocation:
    """An invocation from a Telegram user in a private chat with the bot."""
    return Invocation(
        actor=Actor("telegram", user, name),
        channel=Channel("telegram", user, "", is_group=False),
        text=line,
    )


async def test_whole_lifecycle_through_the_console(any_app: App, clock: ManualClock) -> None:
    app = any_app
    created = await ok(app, 'op new "Night Harbour" --countries ES,PT --tz Europe/Madrid')
    assert created.message.title == f"{OP} created"
    assert field(created, "Countries") == "ES, PT"
    assert field(created, "Time zone") == "Europe/Madrid"

    # Invite, and join from a console identity and from a Telegram identity.
    code = await invite(app)
    joined = await ok(app, f"join {code}", as_="bob", channel="bob-dm")
    assert f"Welcome to {OP} Night Harbour: you are member." in text(joined)
    partner_code = await invite(app, "--role partner")
    reply = await dispatch(app.core, telegram("987654", f"join {partner_code}", "Pat NGO"))
    assert reply.ok, text(reply)
    assert "you are partner" in text(reply)

    members = text(await ok(app, f"op members {OP}"))
    assert "admin (no agency) — lead" in members
    assert "bob (no agency) — member" in members
    assert "Pat NGO (no agency) — partner" in members

    # The Telegram member reads the operation; the console member sees it in whoami.
    shown = await dispatch(app.core, telegram("987654", "op show"))
    assert shown.ok and field(shown, "Your role") == "partner"
    bob = text(await ok(app, "whoami", as_="bob"))
    assert f"{OP} Night Harbour — member (planning)" in bob
    assert "TASKFORCE_ADMINS entry: console:bob" in bob

    # Change a role, then link a channel and move the status: the channel gets the post.
    assert "bob is now lead in" in text(await ok(app, f"op role {OP} bob lead"))
    linked = await ok(app, f"op link {OP} --max-tlp green", channel="room")
    assert "up to TLP:GREEN" in text(linked)
    assert await app.console.pop_posts("room") == []
    assert "now active (was planning)" in text(await ok(app, "op status active", channel="room"))
    posts = await app.console.pop_posts("room")
    assert [p.message.title for p in posts] == [f"{OP} is now active"]
    assert "Changed by admin." in posts[0].text

    # bob, now a lead, can manage; then the operation is closed.
    spare = await invite(app, as_="bob")
    await ok(app, "op status suspended", as_="bob", channel="room")
    closed = await ok(app, "op status closed", as_="bob", channel="room")
    assert "It takes no more changes." in text(closed)
    titles = [p.message.title for p in await app.console.pop_posts("room")]
    assert titles == [f"{OP} is now suspended", f"{OP} is now closed"]

    # A closed operation refuses every change, with one clear sentence, and writes nothing.
    closed_sentence = f"{OP} is closed; it takes no more changes."
    for line in (
        f"op invite {OP}",
        f"op role {OP} bob member",
        f"op remove {OP} bob",
        f"op link {OP}",
        f"op status {OP} active",
    ):
        assert await refused(app, line, as_="bob") == closed_sentence, line
    assert "is closed; it takes no new members" in await refused(app, f"join {spare}", as_="carl")
    # Reading still works; only an admin can reopen.
    assert field(await ok(app, f"op show {OP}", as_="bob"), "Status") == "closed"
    assert "now planning (was closed)" in text(await ok(app, f"op status {OP} planning"))


async def test_invites_are_single_use_and_expire_after_72_hours(
    app: App, clock: ManualClock
) -> None:
    await ok(app, 'op new "Night Harbour"')
    code = await invite(app)
    assert field(await ok(app, f"op invite {OP}"), "Uses") == "1"
    await ok(app, f"join {code}", as_="bob")
    sentence = await refused(app, f"join {code}", as_="carl")
    assert sentence == f"The invite {code} has been used up; ask the lead for a new one."

    later = await invite(app, "--uses 2")
    clock.advance(hours=71, minutes=59)
    await ok(app, f"join {later}", as_="carl")
    clock.advance(minutes=1)
    sentence = await refused(app, f"join {later}", as_="dora")
    assert sentence == f"The invite {later} has expired; ask the lead for a new one."


async def test_join_twice_keeps_the_invite(app: App) -> None:
    await ok(app, 'op new "Night Harbour"')
    await ok(app, f"join {await invite(app)}", as_="bob")
    again = await invite(app)
    sentence = await refused(app, f"join {again}", as_="bob")
    assert sentence == f"You are already in {OP} as member; the invite is kept."
    await ok(app, f"join {again}", as_="carl")


async def test_an_operation_always_keeps_a_lead(app: App) -> None:
    await ok(app, 'op new "Night Harbour"')
    await ok(app, f"join {await invite(app, '--role lead')}", as_="bob")
    await ok(app, f"op remove {OP} admin", as_="bob")
    only = f"bob is the only lead of {OP}; make someone else lead first."
    assert await refused(app, f"op role {OP} bob member", as_="bob") == only
    assert await refused(app, f"op remove {OP} bob", as_="bob") == only
    # An admin outside the operation does not manage its membership at all.
    assert await denied(app, f"op remove {OP} bob") == (
        f"You are not a member of {OP}; an admin reads an operation only through "
        f'`op access {OP} --reason "…"` (audited and announced to its leads).'
    )
    await ok(app, f"join {await invite(app, '--role member', as_='bob')}", as_="carl")
    await ok(app, f"op role {OP} carl lead", as_="bob")
    await ok(app, f"op role {OP} bob member", as_="bob")
    assert "carl (no agency) — lead" in text(await ok(app, f"op members {OP}", as_="carl"))


async def test_a_removed_member_can_no_longer_read_the_operation(app: App) -> None:
    await ok(app, 'op new "Night Harbour"')
    await ok(app, "op link", channel="room")
    await ok(app, f"join {await invite(app)}", as_="bob")
    await ok(app, f"op show {OP}", as_="bob")
    await ok(app, "op remove bob")
    gone = await denied(app, f"op show {OP}", as_="bob")
    nowhere = await refused(app, "op show OP-DOES-NOT-EXIST", as_="bob")
    assert gone.replace(OP, "OP-X") == nowhere.replace("OP-DOES-NOT-EXIST", "OP-X")
    assert "not one you belong to" in await denied(app, "op members", as_="bob", channel="room")
    assert "Operations:\n  none" in text(await ok(app, "whoami", as_="bob"))
    assert "You are in no operation yet." in text(await ok(app, "op list", as_="bob"))


async def test_unlink_stops_posts_and_works_on_a_closed_operation(app: App) -> None:
    await ok(app, 'op new "Night Harbour"')
    await ok(app, "op link", channel="room")
    await ok(app, "op status closed", channel="room")
    assert len(await app.console.pop_posts("room")) == 1
    # Stopping disclosure is allowed after closing: the channel can then serve another op.
    await ok(app, "op unlink", channel="room")
    await ok(app, 'op new "Second Tide"')
    await ok(app, "op link OP-SECOND-TIDE", channel="room")
    await ok(app, "op status OP-SECOND-TIDE active", channel="hq")
    assert [p.message.title for p in await app.console.pop_posts("room")] == [
        "OP-SECOND-TIDE is now active"
    ]


async def test_a_channel_serves_one_operation(app: App) -> None:
    await ok(app, 'op new "Night Harbour"')
    await ok(app, 'op new "Second Tide"')
    await ok(app, f"op link {OP}", channel="room")
    sentence = await refused(app, "op link OP-SECOND-TIDE", channel="room")
    assert "already linked to another operation" in sentence
    relinked = await ok(app, f"op link {OP} --max-tlp clear", channel="room")
    assert "ceiling now TLP:CLEAR" in text(relinked)


async def test_without_a_code_the_reply_asks_which_operation(app: App) -> None:
    await ok(app, 'op new "Night Harbour"')
    await ok(app, 'op new "Second Tide"')
    sentence = await refused(app, "op invite")
    assert sentence.startswith(f"Which operation? You are in {OP}, OP-SECOND-TIDE")


async def test_an_admin_acts_by_role_but_always_manages_the_status(app: App) -> None:
    await ok(app, 'op new "Night Harbour"')
    await ok(app, "op link", channel="room")
    await ok(app, f"join {await invite(app, '--role lead')}", as_="bob")
    await ok(app, f"op role {OP} admin observer", as_="bob")
    # Admins are not readers (issue 13): in an operation they act by their role there.
    observer = f"As observer in {OP} you cannot"
    assert await denied(app, f"op invite {OP}") == f"{observer} manage the operation."
    assert await denied(app, f"audit {OP}") == f"{observer} read the audit log."
    # Managing the service is theirs, member or not: status, even reopening a closed one.
    await ok(app, f"op status {OP} active")
    await ok(app, f"op remove {OP} admin", as_="bob")
    await ok(app, f"op status {OP} closed")
    await ok(app, f"op status {OP} active")
    assert [p.message.title for p in await app.console.pop_posts("room")] == [
        f"{OP} is now active",
        f"{OP} is now closed",
        f"{OP} is now active",
    ]
    # …without reading the operation, and without managing its people.
    for line in (f"op show {OP}", f"op members {OP}", f"op invite {OP}", f"audit {OP}"):
        assert (await denied(app, line)).startswith(f"You are not a member of {OP}; an admin")
    # A lead cannot reopen a closed operation; only an admin can.
    await ok(app, f"op status {OP} closed", as_="bob")
    assert await refused(app, f"op status {OP} active", as_="bob") == (
        f"{OP} is closed; it takes no more changes."
    )


async def test_a_retried_platform_event_is_answered_once(any_app: App) -> None:
    await ok(any_app, 'op new "Night Harbour"')
    first = await any_app.console.push(f"op invite {OP}", as_="admin", event_key="evt-1")
    entries = await count(any_app.store, "auditentry")
    again = await any_app.console.push(f"op invite {OP}", as_="admin", event_key="evt-1")
    assert text(again) == text(first)
    assert await count(any_app.store, "invite") == 1
    assert await count(any_app.store, "auditentry") == entries


async def test_names_are_bounded_and_codes_validated(app: App) -> None:
    sentence = await refused(app, "op new " + "N" * 201)
    assert sentence.startswith("The operation name is too long (201 characters); the limit is 200.")
    sentence = await refused(app, 'op new "Night" --code "bad code!"')
    assert sentence.startswith("'bad code!' is not an operation code")
    await ok(app, 'op new "Night Harbour"')
    assert "is taken" in await refused(app, 'op new "Night Harbour"')
    assert (await ok(app, 'op new "Night Harbour" --code nh2')).message.title == "OP-NH2 created"


async def test_invite_expiry_is_shown_in_the_readers_zone_with_utc(app: App) -> None:
    await ok(app, 'op new "Night Harbour" --tz Europe/Madrid')
    await ok(app, "me tz Europe/Lisbon")
    reply = await ok(app, f"op invite {OP} --expires 1h")
    assert field(reply, "Expires") == "Sat 28 Nov 2026 10:00 WET (10:00 UTC)"


async def test_help_lists_and_explains(app: App) -> None:
    listing = text(await ok(app, "help", as_="zed"))
    assert "New here? Ask a lead of your operation for an invite" in listing
    for usage in ("op new <name>", "op invite [OP] [--role member]", "join <code>", "audit verify"):
        assert usage in listing
    assert "New here?" not in text(await ok(app, "help"))
    verbs = text(await ok(app, "help op"))
    assert verbs.count("\nop ") >= 10
    assert "TLP:RED is for named recipients only and is never posted to a channel" in verbs
    assert "op access <OP> --reason" in verbs
    one = text(await ok(app, "help /op invite"))
    assert one.splitlines()[1:3] == [
        "op invite [OP] [--role member] [--uses 1] [--expires 72h]",
        "  Create an invite code (lead).",
    ]
    assert (await app.console.push("", as_="zed")).message.title == "Taskforce commands"


async def test_long_platform_names_are_kept_within_bounds(any_app: App) -> None:
    await ok(any_app, 'op new "Night Harbour"')
    code = await invite(any_app)
    reply = await dispatch(any_app.core, telegram("4242", f"join {code}", "N" * 300))
    assert reply.ok, text(reply)
    assert "N" * 200 + " (no agency) — member" in text(await ok(any_app, f"op members {OP}"))


async def test_an_admin_named_only_by_id_takes_the_platform_name(make_app, sqlite_url) -> None:
    from bot.commands import dispatch
    from bot.contracts import Actor, Channel, Invocation

    app = await make_app(sqlite_url, TASKFORCE_ADMINS="telegram:1001")
    inv = Invocation(
        actor=Actor("telegram", "1001", "Ana Ruiz"),
        channel=Channel("telegram", "1001", "Ana Ruiz", is_group=False),
        text="whoami",
    )
    reply = await dispatch(app.core, inv)
    assert reply.message.title == "Ana Ruiz"
    assert "telegram 1001 (Ana Ruiz)" in reply.message.plain_text()
