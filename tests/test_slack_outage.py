"""A Slack outage (issue 26): the Web API unreachable, or answering 500 or 429, while Slack
still delivers signed commands. The real slack-bolt app over real signed HTTP: never a 500;
a command is answered, or said to be kept (200) when stored, or refused with 503 when not;
an answer Slack did not take stays in the inbox to be given later."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bot.adapters.slack import SlackAdapter
from bot.serving.server import create_app
from bot.store.inbox import pending
from tests.conftest import AppFactory
from tests.fakes.slack_api import SECRET, TEAM, TOKEN, FakeSlack, SlackInbound, text_of
from tests.serving import serving, wait_until

KEPT = "Slack is not answering; your command was kept."
NOT_KEPT = "Slack is not answering and your command could not be kept"
ALWAYS = 1000


@asynccontextmanager
async def served_against(
    make_app: AppFactory, db_url: str, fake: FakeSlack, **settings: Any
) -> AsyncIterator[tuple[SlackInbound, SlackAdapter]]:
    """The served app pointed at `fake` (which may be down); an inbound client."""
    app = await make_app(
        db_url,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.url,
        SLACK_POST_INTERVAL=0,
        TASKFORCE_ADMINS=f"slack:{TEAM}/UADMIN",
        **settings,
    )
    asgi = create_app(app.settings, app=app)
    [adapter] = asgi.state.adapters
    async with serving(asgi) as base_url:
        inbound = SlackInbound(base_url, fake)
        try:
            yield inbound, adapter
        finally:
            await inbound.aclose()


def no_errors(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


async def test_an_unreachable_slack_api_still_answers_a_signed_command(
    make_app: AppFactory, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await FakeSlack().start()
    await fake.close()  # its port now refuses connections: Slack's API is unreachable
    async with served_against(make_app, sqlite_url, fake) as (inbound, _):
        answer = await inbound.command("whoami")
        assert answer.status_code == 200, answer.text
        assert "Identities" in text_of(answer.json()) or "registered" in answer.text
    no_errors(caplog)


@pytest.mark.parametrize("status", [500, 429])
async def test_a_slack_api_answering_errors_still_answers_a_signed_command(
    make_app: AppFactory, sqlite_url: str, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    async with FakeSlack() as fake:
        for method in ("auth.test", "users.info"):
            for _ in range(ALWAYS):
                fake.fail_next(status, method=method, retry_after=1)
        async with served_against(make_app, sqlite_url, fake) as (inbound, _):
            answer = await inbound.command("whoami")
            assert answer.status_code == 200, answer.text
            assert answer.json()["response_type"] == "ephemeral"
            assert "install" not in answer.text.lower()  # not bolt's "install the app"
    no_errors(caplog)


async def test_a_failure_after_the_command_was_stored_says_it_was_kept(
    make_app: AppFactory, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        FakeSlack() as fake,
        served_against(make_app, sqlite_url, fake) as (inbound, adapter),
    ):

        def slack_gone(*_: object, **__: object) -> None:
            raise aiohttp.ClientConnectionError("Slack is down")

        monkeypatch.setattr(adapter, "_after", slack_gone)  # after the command committed
        answer = await inbound.command('op new "Night Harbour" --code OP-NH')
        assert answer.status_code == 200
        assert answer.json() == {"response_type": "ephemeral", "text": KEPT}
        monkeypatch.undo()
        shown = await inbound.command("op show OP-NH")
        assert "Night Harbour" in text_of(shown.json())  # it was run, once


async def test_a_failure_before_the_command_was_stored_is_a_503(
    make_app: AppFactory, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        FakeSlack() as fake,
        served_against(make_app, sqlite_url, fake) as (inbound, adapter),
    ):

        async def slack_gone(*_: object, **__: object) -> None:
            raise aiohttp.ClientConnectionError("Slack is down")

        monkeypatch.setattr(adapter, "_locale", slack_gone)  # before dispatch
        answer = await inbound.command('op new "Night Harbour" --code OP-NH')
        assert answer.status_code == 503 and answer.text.startswith(NOT_KEPT)
        monkeypatch.undo()
        refused = await inbound.command("op show OP-NH")
        assert "OP-NH" in text_of(refused.json()) and "Night Harbour" not in refused.text


async def test_an_answer_slack_did_not_take_stays_in_the_inbox_and_is_given_later(
    make_app: AppFactory, sqlite_url: str
) -> None:
    """A slow command ("Working on it…") whose response_url Slack does not answer: the
    request stays in the inbox, and once Slack answers again its answer is given, once."""
    async with (
        FakeSlack() as fake,
        served_against(
            make_app, sqlite_url, fake, SLACK_ACK_SECONDS=0, TASKFORCE_INBOX_LEASE_SECONDS=3
        ) as (inbound, adapter),
    ):
        gateway = adapter.gateway
        fake.fail_next(500, method="response")  # Slack does not take the answer
        answer = await inbound.command("whoami", response_key="late")
        assert answer.json()["text"] == "Working on it…"
        store = adapter.gateway.inbox.store

        async def kept() -> bool:
            await adapter.drain()
            return len(await pending(store)) == 1

        await wait_until(kept, 10)
        assert fake.responses("late") == []
        gateway.inbox.start(0.2)
        try:

            async def given() -> bool:
                return len(await pending(store)) == 0 and len(fake.responses("late")) >= 1

            await wait_until(given, 20)
        finally:
            await gateway.inbox.stop()
        assert len(fake.responses("late")) == 1  # given once
