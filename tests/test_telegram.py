"""The Telegram adapter end to end: real PTB, the served app over HTTP, a fake Bot API."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.adapters.telegram import TelegramAdapter, TelegramConfigError
from bot.adapters.telegram_buttons import CALLBACK_LIMIT
from bot.base.clock import ManualClock
from bot.base.messages import Attachment, Button, Message
from bot.commands.context import CommandContext
from bot.commands.registry import REGISTRY, Arg, Registry, command
from bot.contracts import Reply, Visibility
from bot.core.access import TLP
from bot.serving.app import App
from bot.serving.bootstrap import ensure_admins
from bot.serving.server import create_app
from bot.store.models import AuditEntry, Identity, Operation, OutboxMessage, Raid, Subject
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, snapshot
from tests.fakes.telegram_api import (
    BOT_USERNAME,
    FakeBotAPI,
    UpdateFactory,
    group_chat,
    post_update,
    private_chat,
    tg_user,
)
from tests.serving import captured_logs, serving, wait_until

SECRET = "s3cret-Token_1"
ADMIN = tg_user(1001, "Ana", "ana")
EVE = tg_user(2002, "<i>Eve</i> & co")
ADMIN_DM = private_chat(ADMIN)
GROUP_ID = -1001234
GROUP = group_chat(GROUP_ID, "Harbour <room>")
SECRET_TEXT = "Safe house at Calle Mayor 3"


def build_registry() -> Registry:
    """The real commands plus a few whose replies the tests control."""
    reg = Registry()
    for cmd in REGISTRY.all():
        reg.add(cmd)

    @command(
        "tsecret",
        "tsecret <tlp>",
        "Test: a channel reply labelled with the given TLP.",
        args=(Arg("tlp"),),
        visibility=Visibility.CHANNEL,
        registry=reg,
    )
    async def tsecret(ctx: CommandContext) -> Reply:
        label = TLP.parse(str(ctx.args["tlp"]))
        return Reply(
            Message(title="Lead", lines=[SECRET_TEXT], tlp=label.value),
            visibility=Visibility.CHANNEL,
        )

    @command(
        "tbuttons",
        "tbuttons",
        "Test: a reply with a short and a long button.",
        visibility=Visibility.CHANNEL,
        registry=reg,
    )
    async def tbuttons(ctx: CommandContext) -> Reply:
        long_arg = "x" * 150
        return Reply(
            Message(
                title="Pick",
                buttons=[Button("Short", "tping short"), Button("Long", f"tping {long_arg}")],
            ),
            visibility=Visibility.CHANNEL,
        )

    @command(
        "tping",
        "tping <word>",
        "Test: echo a word as the clicker.",
        args=(Arg("word"),),
        visibility=Visibility.CHANNEL,
        needs_member=False,
        registry=reg,
    )
    async def tping(ctx: CommandContext) -> Reply:
        word = str(ctx.args["word"])
        return Reply(
            Message(lines=[f"pong {len(word)} from {ctx.inv.actor.key}"]),
            visibility=Visibility.CHANNEL,
        )

    @command("tlong", "tlong", "Test: a very long reply.", needs_member=False, registry=reg)
    async def tlong(ctx: CommandContext) -> Reply:
        return Reply(
            Message(title="Long", lines=[f"{i:04d} <a&b> " + "z" * 40 for i in range(300)])
        )

    @command("tfile", "tfile", "Test: a reply with a file.", registry=reg)
    async def tfile(ctx: CommandContext) -> Reply:
        return Reply(
            Message(
                lines=["Your export."],
                attachments=[Attachment("export.json", "application/json", b'{"a": 1}')],
            ),
            visibility=Visibility.CHANNEL,
        )

    return reg


@dataclass
class Served:
    """The app served over HTTP, its Telegram adapter, and a client for the webhook."""

    app: App
    adapter: TelegramAdapter
    client: httpx.AsyncClient
    fake: FakeBotAPI
    updates: UpdateFactory

    async def post(self, update: dict[str, Any] | bytes, secret: str | None = SECRET) -> int:
        """POST an update to the webhook; return the HTTP status."""
        return (await post_update(self.client, update, secret)).status_code

    async def say(self, text: str, user: dict[str, Any], chat: dict[str, Any]) -> None:
        """Send a command as `user` in `chat` and wait until it has been handled."""
        assert await self.post(self.updates.command(text, user=user, chat=chat)) == 200
        await self.adapter.idle()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


def tg_settings(fake: FakeBotAPI, **extra: Any) -> dict[str, Any]:
    """Settings overrides that point the app at the fake; admin is Ana (telegram 1001)."""
    return fake.settings(SECRET, TASKFORCE_ADMINS="console:admin,telegram:1001", **extra)


@pytest.fixture
async def served(make_app: AppFactory, db_url: str, fake: FakeBotAPI) -> AsyncIterator[Served]:
    app = await make_app(db_url, **tg_settings(fake))
    app.core.registry = build_registry()
    app.extras.pop("scheduler", None)  # its start-up catch-up writes rows at its own pace
    starlette = create_app(app.settings, app=app)
    async with serving(starlette) as url, httpx.AsyncClient(base_url=url) as client:
        adapter = next(a for a in starlette.state.adapters if a.platform == "telegram")
        assert isinstance(adapter, TelegramAdapter)
        yield Served(app, adapter, client, fake, UpdateFactory())


async def setup_operation(s: Served, ceiling: str = "green", name: str = "Night Harbour") -> None:
    """Admin creates OP-NH privately and links the group with the given ceiling."""
    await s.say(f'/op new "{name}" --code OP-NH', ADMIN, ADMIN_DM)
    await s.say(f"/op@{BOT_USERNAME} link --max-tlp {ceiling}", ADMIN, GROUP)
    assert "Linked to OP-NH" in s.fake.sent(GROUP_ID)[-1].plain


# ------------------------------------------------------------------- commands


async def test_private_command_gets_html_reply_and_commands_are_published(
    served: Served,
) -> None:
    fake = served.fake
    published = fake.calls("setMyCommands")
    assert len(published) == 1
    names = [c["command"] for c in published[0].params["commands"]]
    assert names[0] == "tf" and {"op", "help", "join", "link", "whoami"} <= set(names)

    await served.say('/op new "Night Harbour"', ADMIN, ADMIN_DM)
    [reply] = fake.sent(ADMIN["id"])
    assert reply.parse_mode == "HTML"
    assert reply.text.startswith("<b>OP-NIGHT-HARBOUR created</b>")
    assert "<b>Name:</b> Night Harbour" in reply.text


async def test_group_commands_with_botname_tf_and_other_bots(served: Served) -> None:
    fake = served.fake
    await setup_operation(served)
    await served.say("/tf op status active", ADMIN, GROUP)

    # Besides its reply, the command announces the change to every linked channel (this group
    # too) through the outbox worker, which posts on its own schedule: wait for that post, or
    # it may land among the calls counted below (or be the group's last message).
    def announced() -> list[str]:
        return [m.plain for m in fake.sent(GROUP_ID) if "Changed by" in m.plain]

    await fake.wait_for(lambda: len(announced()) > 0)
    [reply] = [m for m in fake.sent(GROUP_ID) if "OP-NH is now active (was planning)" in m.plain]
    assert reply.reply_to is not None  # answers the command message
    assert len(announced()) == 1 and announced()[0].startswith("OP-NH is now active")
    before = len(fake.calls())
    await served.say("/op@SomeOtherBot status closed", ADMIN, GROUP)  # not for us
    await served.say("/weather", ADMIN, GROUP)  # an unknown command in a group: not for us
    assert len(fake.calls()) == before
    await served.say("/opp list", ADMIN, ADMIN_DM)  # in a private chat: answered
    assert "Did you mean `op`?" in fake.sent(ADMIN["id"])[-1].plain


async def test_private_reply_in_group_goes_to_private_chat(served: Served) -> None:
    fake = served.fake
    await setup_operation(served)
    await served.say("/op invite", ADMIN, GROUP)
    group_note = fake.sent(GROUP_ID)[-1].plain
    assert "I sent you the answer in a private chat" in group_note
    assert "Invite to OP-NH" in fake.sent(ADMIN["id"])[-1].plain
    assert all("Code:" not in m.plain for m in fake.sent(GROUP_ID))


async def test_start_records_that_the_member_can_be_messaged(served: Served) -> None:
    async def can_dm() -> bool:
        async with served.app.store.transaction() as session:
            ident = (
                await session.exec(select(Identity).where(Identity.key == str(ADMIN["id"])))
            ).one()
            return ident.can_dm

    assert not await can_dm()
    await served.say("/start", ADMIN, ADMIN_DM)
    assert await can_dm()
    assert "You can now receive private answers here" in served.fake.sent(ADMIN["id"])[-1].plain


# -------------------------------------------------------- refused and ignored


async def test_wrong_secret_malformed_and_oversized_bodies_store_nothing(
    served: Served,
) -> None:
    update = served.updates.command('/op new "X"', user=ADMIN, chat=ADMIN_DM)
    before = await snapshot(served.app.store)
    assert await served.post(update, secret="wrong") == 403
    assert await served.post(update, secret=None) == 403
    assert await served.post(b"{not json", secret=SECRET) == 400
    assert await served.post(b'["a list"]', secret=SECRET) == 400
    assert await served.post(b'{"no_update_id": 1}', secret=SECRET) == 400
    huge = b'{"update_id": 1, "pad": "' + b"x" * (70 * 1024) + b'"}'
    assert await served.post(huge, secret=SECRET) == 413
    await served.adapter.idle()
    assert changed_tables(before, await snapshot(served.app.store)) == {}
    assert served.fake.sent() == []


async def test_ignored_update_kinds_store_nothing(served: Served) -> None:
    ups = served.updates
    before = await snapshot(served.app.store)
    for update in [
        ups.edited_message("/op new Edited", user=ADMIN, chat=ADMIN_DM),
        ups.sticker(user=ADMIN, chat=GROUP),
        ups.channel_post("/op new Channel"),
        ups.command("just chatting about /op", user=ADMIN, chat=GROUP),
        ups.command("hello", user=ADMIN, chat=ADMIN_DM),
    ]:
        assert await served.post(update) == 200
    await served.adapter.idle()
    assert changed_tables(before, await snapshot(served.app.store)) == {}
    assert served.fake.calls("sendMessage") == []


# ---------------------------------------------------------------- delivery


async def test_redelivered_update_is_processed_once(served: Served) -> None:
    # A command whose repetition would show: a second run would add subject S-2.
    fake = served.fake
    await setup_operation(served)
    update = served.updates.command(
        "/subject add person Ivan Petrov --category suspect", user=ADMIN, chat=GROUP
    )
    assert await served.post(update) == 200
    assert await served.post(update) == 200  # Telegram redelivers
    await served.adapter.idle()
    async with served.app.store.transaction() as session:
        subjects = (await session.exec(select(Subject))).all()
        audited = (
            await session.exec(select(AuditEntry).where(AuditEntry.command == "subject add"))
        ).all()
    assert [s.name for s in subjects] == ["Ivan Petrov"]
    assert len(audited) == 1
    answers = [m for m in fake.sent() if "S-1" in m.plain and "Ivan Petrov" in m.plain]
    assert len(answers) == 1


async def test_a_reply_about_another_operation_goes_privately_with_a_pointer(
    served: Served,
) -> None:
    fake = served.fake
    await setup_operation(served, ceiling="amber")
    await served.say('/op new "Other" --code OP-OTHER', ADMIN, ADMIN_DM)
    await served.say('/raid plan OP-OTHER "Dawn" --at "tomorrow 05:30"', ADMIN, GROUP)
    await served.say("/raid show OP-OTHER/R-1", ADMIN, GROUP)
    await served.say("/check OP-OTHER/R-1 1", ADMIN, GROUP)
    group = [m.plain for m in fake.sent(GROUP_ID)]
    assert all("Dawn" not in m and "R-1" not in m for m in group), group
    assert sum("I sent you the answer in a private chat" in m for m in group) == 3
    private = [m.plain for m in fake.sent(ADMIN["id"])]
    assert any("Dawn" in m for m in private) and any("ticked by" in m for m in private)
    async with served.app.store.transaction() as session:
        [raid] = (await session.exec(select(Raid))).all()
        op = await session.get(Operation, raid.operation_id)
        assert op is not None and op.code == "OP-OTHER"


@pytest.mark.parametrize(
    "line", ["/tf \ud800", "/join ABC\udfff", "/sighting S-1 at Porto\ud83d", "/op new A\x07"]
)
async def test_a_lone_surrogate_gets_a_sentence_and_nothing_dies_in_the_outbox(
    served: Served, line: str
) -> None:
    fake = served.fake
    await setup_operation(served)
    before = await snapshot(served.app.store)
    for chat in (ADMIN_DM, GROUP):
        await served.say(line, ADMIN, chat)
    for chat_id in (ADMIN["id"], GROUP_ID):
        assert fake.sent(chat_id)[-1].plain == (
            "That message contains characters I cannot accept (control characters or broken "
            "Unicode); please type it again."
        )
    await served.app.worker.drain()
    changed = changed_tables(before, await snapshot(served.app.store))
    assert set(changed) <= {"processedevent", "inboxitem"}
    async with served.app.store.transaction() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    assert [r for r in rows if r.status == "dead" or r.last_error] == []


async def test_an_update_without_a_chat_is_refused_without_a_traceback(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    update = served.updates.command("/op list", user=ADMIN, chat=ADMIN_DM)
    del update["message"]["chat"]
    click = served.updates.callback("x", user=ADMIN, chat=GROUP, message_id=1)
    del click["callback_query"]["message"]["chat"]
    before = await snapshot(served.app.store)
    with captured_logs() as events:
        assert await served.post(update) == 400
        assert await served.post(click) == 400
        await served.adapter.idle()
    assert changed_tables(before, await snapshot(served.app.store)) == {}
    assert served.fake.calls("sendMessage") == []
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == []
    assert [e for e in events if e.get("log_level") in ("error", "critical")] == []


async def test_buttons_fit_callback_data_and_run_as_the_clicker(served: Served) -> None:
    fake = served.fake
    await served.say("/tbuttons", ADMIN, GROUP)
    msg = fake.sent(GROUP_ID)[-1]
    (short_label, _), (long_label, long_data) = msg.buttons
    assert (short_label, long_label) == ("Short", "Long")
    assert len(long_data.encode()) <= CALLBACK_LIMIT and "x" * 60 not in long_data

    press = served.updates.callback(long_data, user=EVE, chat=GROUP, message_id=msg.message_id)
    assert await served.post(press) == 200
    assert await served.post(press) == 200  # redelivered: not run or answered twice
    await served.adapter.idle()
    assert len(fake.answers()) == 1
    assert fake.answers()[0].params["callback_query_id"] == press["callback_query"]["id"]
    pongs = [m.plain for m in fake.sent(GROUP_ID) if m.plain.startswith("pong")]
    assert pongs == [f"pong 150 from {EVE['id']}"]

    stale = served.updates.callback("t:unknown", user=EVE, chat=GROUP, message_id=1)
    assert await served.post(stale) == 200
    await served.adapter.idle()
    assert "no longer works" in fake.answers()[-1].params["text"]

    in_group = len(fake.sent(GROUP_ID))
    bad = served.updates.callback("c:tping", user=EVE, chat=GROUP, message_id=msg.message_id)
    assert await served.post(bad) == 200
    await served.adapter.idle()
    refusal = fake.answers()[-1].params
    assert "<word> is missing" in refusal["text"] and refusal["show_alert"] == "true"
    assert len(fake.sent(GROUP_ID)) == in_group  # the refusal is the presser's alone


async def test_group_reply_above_ceiling_goes_to_the_private_chat(served: Served) -> None:
    fake = served.fake
    await setup_operation(served, ceiling="clear")
    await served.say("/tsecret clear", ADMIN, GROUP)  # within the ceiling: in the group
    assert SECRET_TEXT in fake.sent(GROUP_ID)[-1].plain

    await served.say("/tsecret amber", ADMIN, GROUP)
    assert SECRET_TEXT in fake.sent(ADMIN["id"])[-1].plain
    note = fake.sent(GROUP_ID)[-1].plain
    assert "this chat may not see it" in note and SECRET_TEXT not in note

    fake.forbid(ADMIN["id"])  # as if the member never pressed Start
    await served.say("/tsecret red", ADMIN, GROUP)
    note = fake.sent(GROUP_ID)[-1].plain
    assert f"open a private chat with @{BOT_USERNAME} and press Start" in note
    assert [m.plain for m in fake.sent(GROUP_ID)].count(SECRET_TEXT) == 0
    assert sum(SECRET_TEXT in m.plain for m in fake.sent(GROUP_ID)) == 1  # only the CLEAR one


async def test_files_go_to_the_private_chat_only(served: Served) -> None:
    fake = served.fake
    await served.say("/tfile", ADMIN, GROUP)
    [doc] = fake.documents()
    assert doc.chat_id == ADMIN["id"]
    assert doc.files["document"] == ("export.json", b'{"a": 1}')


async def _export_entries(app: App) -> list[AuditEntry]:
    async with app.store.transaction() as session:
        return list(
            e
            for e in (
                await session.exec(select(AuditEntry).where(AuditEntry.command == "export"))
            ).all()
            if e.action != "combine"  # its `combine` entry (issue 15) is tested elsewhere
        )


async def test_export_is_disclosed_once_telegram_has_the_documents(served: Served) -> None:
    fake = served.fake
    await setup_operation(served)
    await served.say("/export OP-NH", ADMIN, GROUP)
    docs = fake.documents(ADMIN["id"])
    assert sorted(d.files["document"][0].rsplit(".", 1)[1] for d in docs) == [
        "json",
        "md",
        "sha256",
    ]
    assert fake.documents(GROUP_ID) == []
    built, disclosed = await _export_entries(served.app)
    assert (built.action, disclosed.action) == ("consult", "disclose")
    assert disclosed.channel == f"telegram:{ADMIN['id']}"
    assert disclosed.reason is not None
    assert all(d.files["document"][0] in disclosed.reason for d in docs)


async def test_a_refused_document_is_not_recorded_as_disclosed(served: Served) -> None:
    fake = served.fake
    await setup_operation(served)
    for _file in ("json", "md", "sha256"):
        fake.fail_next("sendDocument", 400, chat_id=ADMIN["id"])
    await served.say("/export OP-NH", ADMIN, ADMIN_DM)
    assert fake.documents() == []
    [built] = await _export_entries(served.app)
    assert built.action == "consult"


async def test_long_reply_is_split_on_line_boundaries(served: Served) -> None:
    fake = served.fake
    await served.say("/tlong", ADMIN, ADMIN_DM)
    parts = fake.sent(ADMIN["id"])
    assert len(parts) >= 3
    assert all(len(p.text) <= 4096 for p in parts)
    lines = "\n".join(p.plain for p in parts).splitlines()
    assert lines[0] == "Long"
    assert lines[1:] == [f"{i:04d} <a&b> " + "z" * 40 for i in range(300)]


async def test_user_text_arrives_escaped_in_replies_and_posts(served: Served) -> None:
    fake = served.fake
    await setup_operation(served, name="<b>x</b>")
    created = fake.sent(ADMIN["id"])[0]
    assert "<b>Name:</b> &lt;b&gt;x&lt;/b&gt;" in created.text
    await served.say("/op invite --role lead", ADMIN, ADMIN_DM)
    code = re.search(r"Code: (\w+)", fake.sent(ADMIN["id"])[-1].plain)
    assert code
    await served.say(f"/join {code.group(1)}", EVE, private_chat(EVE))
    await served.say("/op status active", EVE, private_chat(EVE))
    await fake.wait_for(lambda: any("is now active" in m.plain for m in fake.sent(GROUP_ID)))
    post = next(m for m in fake.sent(GROUP_ID) if "is now active" in m.plain)
    assert "Changed by &lt;i&gt;Eve&lt;/i&gt; &amp; co." in post.text
    assert "Changed by <i>Eve</i> & co." in post.plain


async def op_status_post(app: App) -> OutboxMessage:
    """The outbox row of the `op status` post."""
    async with app.store.transaction() as session:
        return (
            await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "op-status"))
        ).one()


async def settled(app: App, attempts: int) -> bool:
    """Whether the worker has finished its attempt number `attempts` at the post."""
    row = await op_status_post(app)
    return row.attempts == attempts and row.status != "sending"


async def test_flood_limit_then_success_delivers_the_post_once(
    served: Served, clock: ManualClock
) -> None:
    fake = served.fake
    app = served.app
    await setup_operation(served)
    fake.fail_next("sendMessage", 429, retry_after=30, chat_id=GROUP_ID)
    started = clock()
    await served.say("/op status active", ADMIN, ADMIN_DM)
    await wait_until(lambda: settled(app, 1))
    row = await op_status_post(app)
    assert row.status == "pending"
    assert row.next_attempt_at == started + timedelta(seconds=30)  # retry_after honoured
    clock.advance(timedelta(seconds=30))
    app.worker.notify()
    await wait_until(lambda: settled(app, 2))
    assert (await op_status_post(app)).status == "sent"
    to_group = [c for c in fake.calls("sendMessage") if c.chat_id == GROUP_ID]
    assert [c.error["error_code"] if c.error else 200 for c in to_group][-2:] == [429, 200]
    assert len([m for m in fake.sent(GROUP_ID) if "OP-NH is now active" in m.plain]) == 1


@pytest.mark.parametrize(
    ("code", "description", "status"),
    [
        (403, "Forbidden: bot was kicked from the supergroup chat", "dead"),
        (400, "Bad Request: chat not found", "dead"),
        (502, "Bad Gateway", "pending"),
    ],
)
async def test_send_failures_are_permanent_or_retried(
    served: Served, code: int, description: str, status: str
) -> None:
    await setup_operation(served)
    served.fake.fail_next("sendMessage", code, description, chat_id=GROUP_ID)
    await served.say("/op status active", ADMIN, ADMIN_DM)
    await wait_until(lambda: settled(served.app, 1))
    assert (await op_status_post(served.app)).status == status


# ------------------------------------------------------------ configuration


async def test_webhook_mode_refuses_to_start_without_a_secret(
    make_app: AppFactory, sqlite_url: str, fake: FakeBotAPI
) -> None:
    app = await make_app(sqlite_url, **tg_settings(fake, TELEGRAM_WEBHOOK_SECRET=""))
    with pytest.raises(TelegramConfigError, match="TELEGRAM_WEBHOOK_SECRET is required"):
        create_app(app.settings, app=app)


async def test_polling_mode_serves_updates_from_get_updates(
    make_app: AppFactory, sqlite_url: str, fake: FakeBotAPI
) -> None:
    app = await make_app(
        sqlite_url, **tg_settings(fake, TELEGRAM_POLLING=True, TELEGRAM_WEBHOOK_SECRET="")
    )
    starlette = create_app(app.settings, app=app)
    ups = UpdateFactory()
    async with serving(starlette) as url, httpx.AsyncClient(base_url=url) as client:
        first = ups.command("/whoami", user=ADMIN, chat=ADMIN_DM)
        await fake.queue_update(first)
        await fake.queue_update(first)  # served twice: handled once
        await fake.queue_update(ups.command("/help op", user=ADMIN, chat=ADMIN_DM))
        await fake.wait_sent(2, ADMIN["id"])
        texts = [m.plain for m in fake.sent(ADMIN["id"])]
        assert texts[0].startswith("Ana") and "Identities:" in texts[0]  # named from the profile
        assert texts[1].startswith("help op")
        response = await post_update(client, first, SECRET)
        assert response.status_code in (404, 405)  # no webhook route in polling mode
        assert (await client.get("/readyz")).json()["ready"] is True
    offsets = [int(c.params.get("offset", 0) or 0) for c in fake.calls("getUpdates")]
    assert max(offsets) > first["update_id"]  # updates were confirmed


async def test_whoami_gives_the_exact_admins_entry_which_makes_an_admin(served: Served) -> None:
    ivo = tg_user(2002, "Ivo", "ivo")
    await served.say("/whoami", ivo, private_chat(ivo))
    said = served.fake.sent(2002)[-1].plain
    found = re.search(r"TASKFORCE_ADMINS entry: (\S+)", said)
    assert found is not None, said
    assert found.group(1) == "telegram:2002"
    settings = served.app.settings.model_copy(update={"admins": found.group(1)})
    assert await ensure_admins(served.app.store, settings, served.app.clock()) == 1
    await served.say("/whoami", ivo, private_chat(ivo))
    assert "Admin: yes" in served.fake.sent(2002)[-1].plain


async def test_a_sign_in_link_telegram_could_not_take_is_never_queued(served: Served) -> None:
    """`room` while Telegram answers 502: the outbox keeps a sentence, never the link."""
    served.app.settings.public_url = "https://room.example"
    await setup_operation(served)
    served.fake.fail_next("sendMessage", 502, "Bad Gateway", chat_id=ADMIN["id"])
    await served.post(served.updates.command("/room", user=ADMIN, chat=ADMIN_DM))
    await served.adapter.idle()
    async with served.app.store.transaction() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    replies = [row for row in rows if row.kind == "reply"]
    assert len(replies) == 1  # the answer is not lost: the member is told to ask again
    assert "room/login" not in repr(rows) and "one-time secret" in repr(replies[0].payload)
