"""Access rules hold across replicas at once: no cache stands between a change and a read.

Two `taskforce serve` processes share one PostgreSQL database, with Slack pointed at a
fake Web API. A lead removes a member through replica A; the member's very next command,
sent to replica B, is refused exactly as for an outsider.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.fakes.slack_api import SECRET, TEAM, TOKEN, FakeSlack, SlackInbound, text_of
from tests.serving import ServerProcess, replica_env

OP = "OP-NIGHT-HARBOUR"


async def test_op_remove_on_one_replica_is_refused_on_the_other_in_the_next_command(
    pg_url: str, tmp_path: Path
) -> None:
    async with FakeSlack() as fake:
        fake.add_channel("C1", "ops-room")
        fake.add_im("UBOB")
        fake.add_user("UADMIN", "admin", "Ada Admin")
        fake.add_user("UBOB", "bob", "Bob Field")
        env = replica_env(
            pg_url,
            tmp_path / "data",
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.url,
            TASKFORCE_ADMINS=f"slack:{TEAM}/UADMIN",
            TASKFORCE_RATE_LIMIT_PER_MINUTE="1000",
        )
        a = await ServerProcess(env).start()
        b = await ServerProcess(env).start()
        client = httpx.AsyncClient(timeout=30)
        to_a = SlackInbound(a.url, fake, client=client)
        to_b = SlackInbound(b.url, fake, client=client)
        try:

            async def say(inbound: SlackInbound, line: str, **who: str) -> str:
                return text_of(await answer(inbound, line, **who))

            async def answer(inbound: SlackInbound, line: str, **who: str) -> dict[str, Any]:
                resp = await inbound.command(line, **who)
                assert resp.status_code == 200, resp.text
                body: dict[str, Any] = resp.json()
                return body

            bob = {
                "user": "UBOB",
                "user_name": "bob",
                "channel": "DUBOB",
                "channel_name": "directmessage",
            }
            await say(to_a, f'op new "Night Harbour" --code {OP}')
            invite = await answer(to_a, f"op invite {OP}")
            fields = [
                f["text"].partition("\n")
                for block in invite["blocks"]
                for f in block.get("fields", [])
            ]
            code = next(value for label, _, value in fields if label.strip("*") == "Code")
            code = code.strip("`")
            joined = await say(to_b, f"join {code}", **bob)
            assert "joined" in joined.lower() or OP in joined, joined
            before = await say(to_b, f"op show {OP}", **bob)
            assert "Night Harbour" in before, before

            removed = await say(to_a, f"op remove {OP} bob")
            assert f"is no longer in {OP}" in removed, removed
            after = await say(to_b, f"op show {OP}", **bob)
            assert after.splitlines()[0] == f"There is no operation {OP} that you belong to."
            outsider = await say(to_b, "op show OP-NONE", **bob)
            assert outsider.splitlines()[0] == "There is no operation OP-NONE that you belong to."
        finally:
            await client.aclose()
            await a.stop()
            await b.stop()
