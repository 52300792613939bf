"""SIGTERM in the middle of a burst of commands and fan-out: nothing half-done is lost.

`taskforce serve` runs as a child process on a file SQLite database, with Slack pointed at
a fake Slack Web API in this test. Signed slash commands come in concurrently; each records
a sighting that is posted to the linked channel. SIGTERM arrives while commands are in
flight and the outbox still has posts to send. Afterwards: every command Slack got a 200
for is stored, every outbox row is sent or pending (none left claimed), nothing was posted
twice, and the next start sends what was pending.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
from pathlib import Path

import httpx

from tests.fakes.slack_api import SECRET, TEAM, TOKEN, FakeSlack, SlackInbound, text_of
from tests.fakes.telegram_api import (
    FakeBotAPI,
    UpdateFactory,
    group_chat,
    post_update,
    tg_user,
)
from tests.serving import ServerProcess, replica_env

BURST = 40
TG_SECRET = "s3cret-Token_1"


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Read the server's database directly (another process's view)."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_sigterm_mid_burst_keeps_every_acknowledged_command_and_every_post(
    tmp_path: Path,
) -> None:
    db = tmp_path / "taskforce.db"
    async with FakeSlack() as fake:
        fake.add_channel("C1", "ops-room")
        fake.add_user("UADMIN", "admin", "Ada Admin")
        env = replica_env(
            f"sqlite:///{db}",
            tmp_path / "data",
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.url,
            SLACK_POST_INTERVAL="0.1",  # posts trail the commands: some are still queued
            TASKFORCE_ADMINS=f"slack:{TEAM}/UADMIN",
            TASKFORCE_RATE_LIMIT_PER_MINUTE="1000",
        )
        server = await ServerProcess(env).start()
        try:
            inbound = SlackInbound(server.url, fake, client=httpx.AsyncClient(timeout=30))
            for line in (
                'op new "Night Harbour" --code OP-NIGHT-HARBOUR',
                "op link",
                'subject add person "Viktor Test" --category suspect',
            ):
                resp = await inbound.command(line)
                assert resp.status_code == 200, resp.text

            done = 0
            enough = asyncio.Event()

            async def sighting(n: int) -> tuple[int, httpx.Response | BaseException]:
                nonlocal done
                try:
                    resp: httpx.Response | BaseException = await inbound.command(
                        f'sighting S-1 at "Pier {n}"'
                    )
                except httpx.HTTPError as exc:  # refused once the server stopped accepting
                    resp = exc
                done += 1
                if done >= BURST // 4:
                    enough.set()
                return n, resp

            burst = [asyncio.create_task(sighting(n)) for n in range(BURST)]
            await enough.wait()
            server.signal(signal.SIGTERM)
            await server.wait_for_line("Shutting down")
            # No longer accepting: a new connection is refused, the burst in flight goes on.
            late = httpx.AsyncClient(timeout=5)
            try:
                await late.get(f"{server.url}/healthz")
                raise AssertionError("a new connection was accepted after SIGTERM")
            except httpx.ConnectError:
                pass
            finally:
                await late.aclose()
            results = await asyncio.gather(*burst)
            # uvicorn re-raises the SIGTERM it caught once its graceful shutdown is done.
            assert await server.wait() in (0, -signal.SIGTERM)
            assert server.events("server.stopped"), "\n".join(server.lines[-30:])
            await inbound.aclose()
        finally:
            await server.stop()

        acked = {n for n, r in results if isinstance(r, httpx.Response) and r.status_code == 200}
        print(
            "DEBUG",
            len(acked),
            [type(r).__name__ for _, r in results if not isinstance(r, httpx.Response)],
            [
                r.status_code
                for _, r in results
                if isinstance(r, httpx.Response) and r.status_code != 200
            ],
        )
        assert len(acked) >= BURST // 4
        stored = {str(loc) for (loc,) in rows(db, "SELECT location FROM sighting")}
        assert {f"Pier {n}" for n in acked} <= stored

        statuses = dict(rows(db, "SELECT status, count(*) FROM outboxmessage GROUP BY status"))
        assert set(statuses) <= {"sent", "pending"}, statuses
        assert statuses.get("pending", 0) > 0, "SIGTERM came too late to leave posts queued"
        posted = [text_of(p) for p in fake.posts("C1")]
        assert len(posted) == len(set(posted)) == statuses.get("sent", 0)

        # The next start sends what was still queued, once.
        total = sum(statuses.values())
        again = await ServerProcess(env).start()
        try:
            await fake.wait_for(lambda: len(fake.posts("C1")) >= total, timeout=60)
        finally:
            assert await again.stop() in (0, -signal.SIGTERM)
        posted = [text_of(p) for p in fake.posts("C1")]
        assert len(posted) == len(set(posted)) == total
        assert rows(db, "SELECT DISTINCT status FROM outboxmessage") == [("sent",)]
        for place in stored:
            exact = re.compile(re.escape(place) + r"(?!\d)")
            assert sum(bool(exact.search(p)) for p in posted) == 1, place


async def test_sigterm_with_telegram_updates_queued_handles_every_acknowledged_update(
    tmp_path: Path,
) -> None:
    """Telegram gets its 200 before the update is handled: shutdown must handle the queue."""
    db = tmp_path / "taskforce.db"
    admin = tg_user(111, "Ana")
    room, feed = group_chat(-1001, "Harbour"), group_chat(-1002, "Harbour feed")
    ups = UpdateFactory()
    async with FakeBotAPI() as fake:
        settings = {k: str(v) for k, v in fake.settings(secret=TG_SECRET).items()}
        settings["TELEGRAM_GROUP_INTERVAL"] = "0.1"  # posts trail the commands
        env = replica_env(
            f"sqlite:///{db}",
            tmp_path / "data",
            TASKFORCE_ADMINS="telegram:111",
            TASKFORCE_RATE_LIMIT_PER_MINUTE="1000",
            **settings,
        )
        server = await ServerProcess(env).start()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                for text, chat in [
                    ('/tf op new "Night Harbour" --code OP-NIGHT-HARBOUR', room),
                    ("/tf op link", feed),
                    ('/tf subject add person "Viktor Test" --category suspect', room),
                ]:
                    resp = await post_update(
                        http, ups.command(text, user=admin, chat=chat), TG_SECRET
                    )
                    assert resp.status_code == 200
                await fake.wait_sent(3, timeout=30)  # the three answers: handled in order

                updates = [
                    ups.command(f'/tf sighting S-1 at "Pier {n}"', user=admin, chat=room)
                    for n in range(BURST)
                ]
                answers = await asyncio.gather(
                    *(post_update(http, u, TG_SECRET) for u in updates), return_exceptions=True
                )
            server.signal(signal.SIGTERM)
            assert await server.wait() in (0, -signal.SIGTERM)
            assert server.events("server.stopped"), "\n".join(server.lines[-30:])
        finally:
            await server.stop()
        # Updates were still queued when SIGTERM came, and were handled during shutdown.
        began = next(i for i, line in enumerate(server.lines) if "Shutting down" in line)
        assert any('"event": "command"' in line for line in server.lines[began:])

        acked = {
            n
            for n, a in enumerate(answers)
            if isinstance(a, httpx.Response) and a.status_code == 200
        }
        assert len(acked) == BURST
        stored = {str(loc) for (loc,) in rows(db, "SELECT location FROM sighting")}
        assert {f"Pier {n}" for n in acked} <= stored
        statuses = dict(rows(db, "SELECT status, count(*) FROM outboxmessage GROUP BY status"))
        assert set(statuses) <= {"sent", "pending"}, statuses

        total = sum(statuses.values())
        again = await ServerProcess(env).start()
        try:
            await fake.wait_for(lambda: len(fake.sent(-1002)) >= 1 + total, timeout=60)
        finally:
            assert await again.stop() in (0, -signal.SIGTERM)
        link_answer, *posted = [m.plain for m in fake.sent(-1002)]
        assert link_answer.startswith("Linked to OP-NIGHT-HARBOUR")
        assert len(posted) == total
        for place in stored:
            exact = re.compile(re.escape(place) + r"(?!\d)")
            assert sum(bool(exact.search(p)) for p in posted) == 1, place
