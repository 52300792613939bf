"""A task's notice and reminder reach the member on their own platform, privately (issue 28).

The served app (uvicorn, real slack-bolt and python-telegram-bot) against the fake Slack
Web API and the fake Telegram Bot API: a lead on Slack gives a task to a lead on Telegram;
the notice, and an hour before the deadline the reminder, go through the outbox to her
private chat with the bot — never to a channel of either platform.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from bot.adapters.telegram import TelegramAdapter
from bot.base.clock import ManualClock
from bot.jobs.scheduler import FireResult, Scheduler
from bot.store.models import OutboxMessage
from tests.conftest import START, AppFactory
from tests.fakes.slack_api import slack_stack
from tests.fakes.telegram_api import FakeBotAPI, UpdateFactory
from tests.serving import wait_until
from tests.test_fanout_cross_platform import ANA, ANA_DM, FIELD, OP, SECRET, Both, _join_ana

DUE = START.replace(hour=10) + timedelta(days=1)


@pytest.fixture
async def both_and_scheduler(
    make_app: AppFactory, db_url: str
) -> AsyncIterator[tuple[Both, Scheduler]]:
    async with FakeBotAPI() as tg:
        settings = tg.settings(SECRET)
        settings["TASKFORCE_ADMINS"] = "slack:T1/UADMIN,telegram:1001,console:admin"
        async with slack_stack(make_app, db_url, **settings) as slack:
            sched = slack.app.extras.pop("scheduler")  # driven by the test's clock below
            assert isinstance(sched, Scheduler)
            adapter = slack.app.extras["telegram_adapter"]
            assert isinstance(adapter, TelegramAdapter)
            async with httpx.AsyncClient(base_url=slack.base_url) as client:
                yield Both(slack, tg, adapter, client, UpdateFactory()), sched


async def _sent(b: Both, kind: str, n: int) -> None:
    async def done() -> bool:
        async with b.slack.app.store.transaction() as session:
            rows = (
                await session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind))
            ).all()
        return len(rows) == n and {r.status for r in rows} == {"sent"}

    await wait_until(done)


async def test_the_task_reaches_its_member_privately_on_telegram(
    both_and_scheduler: tuple[Both, Scheduler], clock: ManualClock
) -> None:
    b, sched = both_and_scheduler
    await b.on_slack(f'op new "Nightjar" --code {OP}')
    await b.on_slack(f"op link {OP}")
    await _join_ana(b, OP)
    await b.telegram("/start", ANA_DM)  # the bot may write to her privately
    assert f"Linked to {OP}" in await b.telegram(f"/op link {OP}", FIELD)
    said = await b.on_slack(
        'task add "Call the PT NCB about the file" --to Ana --by "tomorrow 10:00"'
    )
    assert "T-1 given" in said and "The task sent privately to Ana." in said
    await _sent(b, "task", 1)
    told = "\n".join(m.plain for m in b.tg.sent(ANA["id"]) if "T-1" in m.plain)
    assert "a task for you from" in told and "Call the PT NCB" in told

    clock.set(DUE - timedelta(minutes=59))
    assert [r for k, _ref, r in await sched.run_due() if k == "task"] == [FireResult.SENT]
    await _sent(b, "task", 2)
    reminded = [m.plain for m in b.tg.sent(ANA["id"]) if "Reminder: OP-NIGHTJAR/T-1" in m.plain]
    assert len(reminded) == 1 and "Call the PT NCB" in reminded[0]
    # Once, and never to a channel of either platform.
    assert [r for k, _ref, r in await sched.run_due() if k == "task"] == []
    assert not any("PT NCB" in m.plain for m in b.tg.sent(FIELD["id"]))
    assert not any("PT NCB" in json.dumps(p) for p in b.slack.fake.posts("C1"))
