"""A sighting from Telegram reaches the operation's Slack channel and its other Telegram chat.

One served app (uvicorn, real slack-bolt and python-telegram-bot) talks to a fake Slack Web
API and a fake Telegram Bot API; posts go through the outbox and its worker. Nothing
reaches the channels of another operation.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.adapters.telegram import TelegramAdapter
from bot.store.audit import Action
from bot.store.models import AuditEntry, OutboxMessage
from tests.conftest import AppFactory
from tests.fakes.slack_api import SlackStack, slack_stack, text_of
from tests.fakes.telegram_api import (
    FakeBotAPI,
    UpdateFactory,
    group_chat,
    post_update,
    private_chat,
    tg_user,
)
from tests.fieldintel import RED
from tests.serving import wait_until

SECRET = "s3cret-Token_1"
ANA = tg_user(1001, "Ana", "ana")  # a Taskforce admin on Telegram
ANA_DM = private_chat(ANA)
FIELD = group_chat(-1001, "Nightjar field team")  # OP-NIGHTJAR
HQ = group_chat(-1002, "Nightjar HQ")  # OP-NIGHTJAR
ELSEWHERE = group_chat(-1003, "Other op")  # OP-OTHER
OP = "OP-NIGHTJAR"


@dataclass
class Both:
    """The served app with both platforms, and the means to speak on each."""

    slack: SlackStack
    tg: FakeBotAPI
    adapter: TelegramAdapter
    client: httpx.AsyncClient
    updates: UpdateFactory

    async def telegram(self, text: str, chat: dict[str, Any], user: dict[str, Any] = ANA) -> str:
        """Say `text` on Telegram, wait until handled; return what the bot said meanwhile."""
        before = len(self.tg.sent())
        update = self.updates.command(text, user=user, chat=chat)
        assert (await post_update(self.client, update, SECRET)).status_code == 200
        await self.adapter.idle()
        return "\n".join(m.plain for m in self.tg.sent()[before:])

    async def on_slack(self, text: str, channel: str = "C1", name: str = "ops-room") -> str:
        """Run `/tf text` on Slack as the Slack admin; return the answer's text."""
        resp = await self.slack.inbound.command(text, channel=channel, channel_name=name)
        assert resp.status_code == 200, resp.text
        return text_of(resp.json())


@pytest.fixture
async def both(make_app: AppFactory, db_url: str) -> AsyncIterator[Both]:
    async with FakeBotAPI() as tg:
        settings = tg.settings(SECRET)
        settings["TASKFORCE_ADMINS"] = "slack:T1/UADMIN,telegram:1001,console:admin"
        async with slack_stack(make_app, db_url, **settings) as slack:
            slack.app.extras.pop("scheduler", None)
            adapter = slack.app.extras["telegram_adapter"]
            assert isinstance(adapter, TelegramAdapter)
            slack.fake.add_channel("C2", "other-op-room")
            async with httpx.AsyncClient(base_url=slack.base_url) as client:
                yield Both(slack, tg, adapter, client, UpdateFactory())


async def _join_ana(b: Both, code: str) -> None:
    """Ana, an admin on Telegram, leads `code` too: admins are not readers of every
    operation, they act where they are members (issue 13)."""
    said = await b.on_slack(f"op invite {code} --role lead")
    invite = re.search(r"\*Code\*\s+`?([A-Z0-9]+)", said)
    assert invite is not None, said
    assert "Welcome" in await b.telegram(f"/join {invite.group(1)}", ANA_DM)


async def _two_operations(b: Both) -> None:
    assert "Linked to" not in await b.on_slack(f'op new "Nightjar" --code {OP}')
    assert f"Linked to {OP}" in await b.on_slack(f"op link {OP}")
    await _join_ana(b, OP)
    await b.on_slack('op new "Other" --code OP-OTHER')
    await _join_ana(b, "OP-OTHER")
    assert "Linked to OP-OTHER" in await b.on_slack(
        "op link OP-OTHER", channel="C2", name="other-op-room"
    )
    for chat, code in ((FIELD, OP), (HQ, OP), (ELSEWHERE, "OP-OTHER")):
        assert f"Linked to {code}" in await b.telegram(f"/op link {code}", chat)
    added = await b.telegram(f'/subject add {OP} person "Ivan Petrov" --category suspect', ANA_DM)
    assert "Added S-1 Ivan Petrov" in added
    await b.telegram('/subject add OP-OTHER person "Zed Elsewhere" --category suspect', ANA_DM)


async def _sent_rows(b: Both, kind: str) -> list[OutboxMessage]:
    async with b.slack.app.store.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind))).all()
    return list(rows)


async def test_a_telegram_sighting_reaches_slack_and_the_other_telegram_chat(both: Both) -> None:
    b = both
    await _two_operations(b)
    reply = await b.telegram('/sighting S-1 at "Porto, Cais da Ribeira" --grade B2', FIELD)
    assert "Recorded Sighting SG-1" in reply and "Posted to 3 linked channels." in reply

    async def all_sent() -> bool:
        rows = await _sent_rows(b, "sighting")
        return len(rows) == 3 and {r.status for r in rows} == {"sent"}

    await wait_until(all_sent)
    assert sorted((r.platform, r.channel_key) for r in await _sent_rows(b, "sighting")) == [
        ("slack", "C1"),
        ("telegram", str(FIELD["id"])),
        ("telegram", str(HQ["id"])),
    ]
    [slack_post] = [p for p in b.slack.fake.posts("C1") if "SG-1" in p["text"]]
    assert slack_post["text"] == "Sighting SG-1 — S-1 Ivan Petrov"
    assert f"{OP}/SG-1 · TLP:AMBER · reporter's assessment B2" in text_of(slack_post["blocks"])
    for chat in (HQ, FIELD):
        [post] = [m for m in b.tg.sent(chat["id"]) if "SG-1" in m.plain and m.reply_to is None]
        assert "Sighting SG-1 — S-1 Ivan Petrov" in post.plain
        assert "Porto, Cais da Ribeira" in post.plain
        assert f"{OP}/SG-1 · TLP:AMBER · reporter's assessment B2" in post.plain

    # Nothing of OP-NIGHTJAR in another operation's channels, on either platform.
    assert not [p for p in b.slack.fake.posts("C2") if "Petrov" in json.dumps(p)]
    assert not [m for m in b.tg.sent(ELSEWHERE["id"]) if "Petrov" in m.plain]
    async with b.slack.app.store.transaction() as session:
        entries = (await session.exec(select(AuditEntry))).all()
    disclosed = sorted(
        e.channel or ""
        for e in entries
        if e.action == Action.DISCLOSE and e.object_ref == f"{OP}/SG-1"
    )
    assert disclosed == ["slack:C1", f"telegram:{FIELD['id']}", f"telegram:{HQ['id']}"]


async def test_a_match_is_marked_on_both_platforms(both: Both) -> None:
    b = both
    await _two_operations(b)
    issued = await b.on_slack(
        f'notice record red {OP}/S-1 {RED} --charges "trafficking in human beings"'
    )
    assert "Recorded Red notice N-1" in issued
    reply = await b.telegram('/sighting S-1 at "Vigo ferry terminal"', FIELD)
    assert "MATCH" in reply and "Red notice N-1 — sighting SG-1" in reply

    async def all_sent() -> bool:
        rows = await _sent_rows(b, "match")
        return len(rows) == 3 and {r.status for r in rows} == {"sent"}

    await wait_until(all_sent)
    [on_slack] = [p for p in b.slack.fake.posts("C1") if "Vigo" in json.dumps(p)]
    assert on_slack["text"].startswith("[MATCH] Red notice N-1 — sighting SG-1")
    assert on_slack["blocks"][0]["text"]["text"].endswith(
        "MATCH — Red notice N-1 — sighting SG-1 of S-1 Ivan Petrov"
    )
    for chat in (HQ, FIELD):
        [post] = [m for m in b.tg.sent(chat["id"]) if "Vigo" in m.plain and m.reply_to is None]
        assert post.plain.startswith("🔴 MATCH\nRed notice N-1 — sighting SG-1 of S-1")
    assert not [m for m in b.tg.sent(ELSEWHERE["id"]) if "Vigo" in m.plain]
    assert not [p for p in b.slack.fake.posts("C2") if "Vigo" in json.dumps(p)]


NORA = tg_user(1002, "Nora", "nora")  # NGO partner on Telegram
NORA_DM = private_chat(NORA)
SHELTER = '/sighting S-1 at "Shelter Casa Luz, Rua 5" --coords 41.1500,-8.6100'
SECRETS = ("Maria", "Mari ", "2009", "Shelter", "Casa Luz", "41.15", "-8.61")


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


async def test_the_shelter_sighting_reaches_no_group_only_the_reporter_and_leads_privately(
    both: Both,
) -> None:
    """Issue 13, replayed through the served app: an NGO partner reports a missing girl (a
    victim born 2009, under a yellow notice) at a shelter, from a Telegram group."""
    b = both
    await b.on_slack(f'op new "Nightjar" --code {OP}')
    assert f"Linked to {OP}" in await b.on_slack(f"op link {OP}")  # Slack C1
    await _join_ana(b, OP)  # a second lead, on Telegram
    await b.telegram("/start", ANA_DM)  # the bot may write to her privately
    for chat in (FIELD, HQ):
        assert f"Linked to {OP}" in await b.telegram(f"/op link {OP}", chat)
    await b.on_slack("subject add person Maria X --category victim --dob 2009 --alias Mari")
    await b.on_slack("notice record yellow S-1 --requested-by PT --ref A-1/2026")
    said = await b.on_slack("op invite --role partner")
    invite = re.search(r"\*Code\*\s+`?([A-Z0-9]+)", said)
    assert invite is not None, said
    assert "you are partner" in await b.telegram(f"/join {invite.group(1)}", NORA_DM, NORA)
    assert "Granted S-1" in await b.on_slack("subject grant S-1 nora")

    await b.telegram(SHELTER, FIELD, NORA)

    async def all_sent() -> bool:
        async with b.slack.app.store.transaction() as session:
            rows = (await session.exec(select(OutboxMessage))).all()
        mine = [r for r in rows if r.object_ref == f"{OP}/SG-1"]
        return len(mine) == 5 and {r.status for r in mine} == {"sent"}

    await wait_until(all_sent)
    # Every group channel, on both platforms: the neutral line, no name, place or coordinates.
    [slack_post] = [p for p in b.slack.fake.posts("C1") if "SG-1" in json.dumps(p)]
    assert _leaks(json.dumps(slack_post)) == [] and "A protected person was sighted" in (
        text_of(slack_post["blocks"])
    )
    for chat in (FIELD, HQ):
        for message in b.tg.sent(chat["id"]):
            assert _leaks(message.plain) == [], message.plain
        assert any("A protected person was sighted" in m.plain for m in b.tg.sent(chat["id"]))
    # The leads privately: the Slack lead in the bot's DM, the Telegram lead in hers.
    [to_lead] = [p for p in b.slack.fake.posts("UADMIN") if "SG-1" in json.dumps(p)]
    assert "Maria X" in text_of(to_lead["blocks"]) and "Shelter Casa Luz" in json.dumps(to_lead)
    ana = "\n".join(m.plain for m in b.tg.sent(ANA["id"]) if "SG-1" in m.plain)
    assert "Maria X" in ana and "Shelter Casa Luz" in ana and "41.15" in ana
    # The reporter gets her record back in her private chat with the bot.
    nora = "\n".join(m.plain for m in b.tg.sent(NORA["id"]))
    assert "Maria X" in nora and "Shelter Casa Luz" in nora
