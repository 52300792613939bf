"""A fake Slack Web API and Telegram Bot API that answer at once, with no rate limit.

Run in its own process (`python -m bench.fakeapi PORT`) so that its work is not counted
against the process under test. Slack lives under `/api/`, Telegram under `/bot<token>/`,
Slack `response_url`s under `/response/`. `GET /_stats` returns how many posts arrived;
`GET /_requests` the recorded posts (path, content type, body) so a baseline can replay
exactly the same bodies; `POST /_reset` forgets both.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bench.common import ROOT, Server, free_port, running

RECORD_LIMIT = 1000


def create_app() -> Starlette:
    """The fake API as an ASGI app."""
    counts: dict[str, int] = {"slack": 0, "telegram": 0, "response": 0, "other": 0}
    recorded: list[dict[str, str]] = []
    ids = itertools.count(1)

    def record(kind: str, request: Request, body: bytes) -> None:
        counts[kind] += 1
        if len(recorded) < RECORD_LIMIT:
            recorded.append(
                {
                    "path": request.url.path,
                    "content_type": request.headers.get("content-type", ""),
                    "body": base64.b64encode(body).decode(),
                }
            )

    async def slack(request: Request) -> Response:
        method = request.path_params["method"]
        body = await request.body()
        if method == "auth.test":
            return JSONResponse(
                {
                    "ok": True,
                    "team_id": "TBENCH",
                    "user_id": "UBOT",
                    "bot_id": "BBOT",
                    "team": "bench",
                    "user": "taskforce",
                    "url": "https://bench.slack.test/",
                }
            )
        if method in ("chat.postMessage", "chat.postEphemeral"):
            record("slack", request, body)
            channel = _field(request, body, "channel")
            return JSONResponse(
                {"ok": True, "channel": channel, "ts": f"{time.time():.6f}", "message": {}}
            )
        if method == "users.info":
            user = _field(request, body, "user") or "U0"
            return JSONResponse(
                {
                    "ok": True,
                    "user": {
                        "id": user,
                        "name": user.lower(),
                        "tz": "UTC",
                        "profile": {"real_name": f"User {user}", "display_name": user},
                    },
                }
            )
        if method == "conversations.info":
            channel = _field(request, body, "channel") or "C0"
            return JSONResponse(
                {
                    "ok": True,
                    "channel": {
                        "id": channel,
                        "name": channel.lower(),
                        "is_channel": True,
                        "is_member": True,
                        "is_private": False,
                        "is_im": False,
                    },
                }
            )
        counts["other"] += 1
        return JSONResponse({"ok": True})

    async def telegram(request: Request) -> Response:
        method = request.path_params["method"]
        body = await request.body()
        if method == "getMe":
            return JSONResponse(
                {
                    "ok": True,
                    "result": {
                        "id": 4242,
                        "is_bot": True,
                        "first_name": "Taskforce",
                        "username": "taskforce_bench_bot",
                    },
                }
            )
        if method == "sendMessage":
            record("telegram", request, body)
            chat = _field(request, body, "chat_id") or "0"
            return JSONResponse(
                {
                    "ok": True,
                    "result": {
                        "message_id": next(ids),
                        "date": int(time.time()),
                        "chat": {
                            "id": int(chat) if chat.lstrip("-").isdigit() else 0,
                            "type": "group",
                        },
                        "text": _field(request, body, "text") or "",
                    },
                }
            )
        counts["other"] += 1
        return JSONResponse({"ok": True, "result": True})

    async def response_url(request: Request) -> Response:
        record("response", request, await request.body())
        return PlainTextResponse("ok")

    async def stats(_: Request) -> Response:
        return JSONResponse(counts)

    async def requests(_: Request) -> Response:
        return JSONResponse(recorded)

    async def reset(_: Request) -> Response:
        for key in counts:
            counts[key] = 0
        recorded.clear()
        return JSONResponse(counts)

    async def ready(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/api/{method}", slack, methods=["POST", "GET"]),
            Route("/bot{token}/{method}", telegram, methods=["POST", "GET"]),
            Route("/response/{rest:path}", response_url, methods=["POST"]),
            Route("/_stats", stats, methods=["GET"]),
            Route("/_requests", requests, methods=["GET"]),
            Route("/_reset", reset, methods=["POST"]),
            Route("/readyz", ready, methods=["GET"]),
        ]
    )


def _field(request: Request, body: bytes, name: str) -> str | None:
    """One field of a form or JSON body (both SDKs use either)."""
    ctype = request.headers.get("content-type", "")
    try:
        if "json" in ctype:
            value: Any = json.loads(body or b"{}").get(name)
        else:
            from urllib.parse import parse_qs

            value = parse_qs(body.decode()).get(name, [None])[0]
    except (ValueError, UnicodeDecodeError):
        return None
    return None if value is None else str(value)


@contextlib.contextmanager
def fake_api(name: str = "fake-api") -> Iterator[Server]:
    """The fake API in its own process, on a free port, for the length of the block."""
    port = free_port()
    env = {"PYTHONPATH": str(ROOT)}
    with running([sys.executable, "-m", "bench.fakeapi", str(port)], env, port, name) as server:
        yield server


def fetch(server: Server, what: str) -> Any:
    """`stats` or `requests` from a running fake."""
    return httpx.get(f"{server.url}/_{what}", timeout=10).json()


def reset(server: Server) -> None:
    """Forget the counts and recorded posts of a running fake."""
    httpx.post(f"{server.url}/_reset", timeout=10)


if __name__ == "__main__":
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
    )
