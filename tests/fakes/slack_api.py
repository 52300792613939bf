"""A fake Slack, for tests that run the real slack-bolt / slack-sdk code over real HTTP.

Three pieces, usable on their own or together:

`FakeSlack` — the Web API on a local port (aiohttp, port 0). Point the app at it with
`SLACK_API_URL=fake.url`. It answers `auth.test`, `chat.postMessage`, `chat.postEphemeral`,
`conversations.info`, `conversations.open`, `users.info`, the files upload v2 flow
(`files.getUploadURLExternal`, the upload URL, `files.completeUploadExternal`),
`apps.connections.open`, and the `response_url`s handed out in slash commands and clicks.

    async with FakeSlack() as fake:
        fake.add_channel("C1", "ops-room")                 # the bot is a member
        fake.add_channel("C2", "secret", member=False)     # conversations.info: is_member false
        fake.fail_next(429, retry_after=7)                 # next chat.postMessage: HTTP 429
        fake.fail_next(500)                                # the one after: HTTP 500
        fake.fail_next(error="channel_not_found")          # HTTP 200 {"ok": false, ...}
        fake.fail_next(500, method="response")             # the next response URL post
        posts = await fake.wait_for_posts(1, "C1")        # successful chat.postMessage args
        fake.posts("C1"); fake.calls("chat.postMessage")   # all attempts, with their status
        fake.responses("k1")                               # bodies posted to response URL k1
        gate = fake.hold_responses()                       # response URLs wait for gate.set()
        fake.files                                         # completed uploads (bytes, channel)
        await fake.wait_for(lambda: ...)                   # any condition, woken per request

A user id as the channel posts to the app's DM with that user (`D` + user id), as Slack
does. Unknown channels answer `channel_not_found`; posting to a channel the bot is not in answers
`not_in_channel`; an archived one `is_archived`; a wrong token `invalid_auth`.
`text_of(blocks_or_payload)` flattens Block Kit into one string for content checks.

`SlackInbound` — speaks to the served app as Slack does: signed slash commands
(`command`), button clicks (`click`), Events API callbacks (`event`, with `retry_num`), and
raw bodies with any headers (`send`). `signed_headers()` signs with
`slack_sdk.signature.SignatureVerifier(secret).generate_signature`.

`slack_stack(make_app, db_url, **settings)` wires it all: a fake (channel `C1`
"ops-room", user `UADMIN`), an App configured for it (posts unpaced, Slack admin
`T1/UADMIN`), the app served by uvicorn on port 0 (`tests.serving.serving`), and an inbound
client, as a `SlackStack` (`.fake`, `.app`, `.inbound`, `.adapter`, `.base_url`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
TEAM = "T1"
BOT_USER = "UBOT"


@dataclass
class ApiCall:
    """One Web API request the fake received, with the HTTP status it answered."""

    method: str
    args: dict[str, Any]
    status: int
    ok: bool
    at: float = field(default_factory=time.monotonic)  # when the request arrived
    answered: float | None = None  # when its answer left (after any `slow_next` delay)


@dataclass
class FakeChannel:
    """A conversation the fake knows about."""

    id: str
    name: str
    is_member: bool = True
    is_archived: bool = False
    is_private: bool = False
    is_im: bool = False
    user: str | None = None

    def info(self) -> dict[str, Any]:
        """The `channel` object of conversations.info."""
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": not (self.is_im or self.is_private),
            "is_group": self.is_private,
            "is_im": self.is_im,
            "is_private": self.is_private or self.is_im,
            "is_archived": self.is_archived,
        }
        if self.is_im:
            data["user"] = self.user
        else:
            data["is_member"] = self.is_member
        return data


@dataclass
class Failure:
    """A queued failure for the next call of `method`."""

    method: str
    status: int
    retry_after: float | None
    error: str | None


@dataclass
class UploadedFile:
    """A file that went through the upload v2 flow."""

    id: str
    filename: str
    length: int
    content: bytes = b""
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None
    completed: bool = False


def text_of(value: Any) -> str:
    """Every `text` string in a payload, blocks list or post, joined by newlines."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if key == "text" and isinstance(item, str):
                    out.append(item)
                else:
                    walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value)
    return "\n".join(out)


class FakeSlack:
    """The fake Web API server (see the module docstring)."""

    def __init__(
        self, *, token: str = TOKEN, team_id: str = TEAM, bot_user_id: str = BOT_USER
    ) -> None:
        self.token = token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_name = "Taskforce"
        self.channels: dict[str, FakeChannel] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.locales: dict[str, str] = {}
        self.files: list[UploadedFile] = []
        self._calls: list[ApiCall] = []
        self._responses: list[tuple[str, dict[str, Any]]] = []
        self._failures: list[Failure] = []
        self._slow: list[tuple[str, float]] = []
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._uploads: dict[str, UploadedFile] = {}
        self._shared: dict[str, bytes] = {}  # files people shared: url_private_download
        self._downloaded: list[str] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        # Socket Mode: envelopes queued for the connected client, and the acks it sent back.
        self.socket_acks: list[dict[str, Any]] = []
        self._socket_out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.socket_connections = 0
        self._response_gate: asyncio.Event | None = None
        self.responses_waiting = 0

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> FakeSlack:
        """Listen on a free local port."""
        web_app = web.Application(client_max_size=16 * 1024 * 1024)
        web_app.router.add_route("*", "/api/{method}", self._api)
        web_app.router.add_post("/upload/{file_id}", self._upload)
        web_app.router.add_get("/files-pri/{file_id}/{name}", self._download)
        web_app.router.add_post("/response/{key}", self._response)
        web_app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def root(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The Web API base URL (`SLACK_API_URL`)."""
        return f"{self.root}/api/"

    def response_url(self, key: str) -> str:
        """A response URL whose posts are kept under `key`."""
        return f"{self.root}/response/{key}"

    # ----------------------------------------------------------------- set-up

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        member: bool = True,
        archived: bool = False,
        private: bool = False,
    ) -> FakeChannel:
        """Make a channel known (the bot is a member unless `member=False`)."""
        channel = FakeChannel(
            channel_id, name, is_member=member, is_archived=archived, is_private=private
        )
        self.channels[channel_id] = channel
        return channel

    def add_im(self, user_id: str) -> str:
        """Open the bot's DM with `user_id` (as conversations.open would); return its id."""
        channel_id = f"D{user_id}"
        self.channels.setdefault(channel_id, FakeChannel(channel_id, "", is_im=True, user=user_id))
        return channel_id

    def add_user(
        self, user_id: str, name: str, real_name: str = "", locale: str | None = None
    ) -> None:
        """Make a user known to users.info (`locale` shown only with `include_locale`)."""
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real_name or name,
            "profile": {"real_name": real_name or name, "display_name": name},
        }
        if locale:
            self.locales[user_id] = locale

    def fail_next(
        self,
        status: int = 200,
        *,
        retry_after: float | None = None,
        error: str | None = None,
        method: str = "chat.postMessage",
    ) -> None:
        """Queue one failure for the next call of `method` (failures are used in order).

        429 answers `ratelimited` with `Retry-After`; 5xx answers a plain-text body; 200
        with `error` answers `{"ok": false, "error": error}`.
        """
        self._failures.append(Failure(method, status, retry_after, error))

    def slow_next(self, seconds: float, method: str = "chat.postMessage") -> None:
        """Answer the next call of `method` only after `seconds` (a slow Slack)."""
        self._slow.append((method, seconds))

    # ----------------------------------------------------------------- inspection

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every request (optionally of one method), failed ones included."""
        return [c for c in self._calls if method is None or c.method == method]

    def succeeded(self, method: str, channel: str | None = None) -> list[dict[str, Any]]:
        """The arguments of successful calls of `method` (optionally to one channel)."""
        return [
            c.args
            for c in self._calls
            if c.method == method and c.ok and channel in (None, c.args.get("channel"))
        ]

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """The arguments of successful chat.postMessage calls (optionally to one channel)."""
        return self.succeeded("chat.postMessage", channel)

    def ephemerals(self, channel: str | None = None) -> list[dict[str, Any]]:
        """The arguments of successful chat.postEphemeral calls."""
        return self.succeeded("chat.postEphemeral", channel)

    def responses(self, key: str | None = None) -> list[dict[str, Any]]:
        """Bodies posted to response URLs (optionally to the one with `key`)."""
        return [body for k, body in self._responses if key is None or k == key]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Return once `predicate()` holds; it is checked after every request."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_for_posts(
        self, n: int, channel: str | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until at least `n` posts arrived (to `channel`); return them."""
        await self.wait_for(lambda: len(self.posts(channel)) >= n, timeout)
        return self.posts(channel)

    async def wait_for_responses(
        self, n: int, key: str | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until at least `n` bodies arrived at response URLs (with `key`)."""
        await self.wait_for(lambda: len(self.responses(key)) >= n, timeout)
        return self.responses(key)

    async def _changed_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ----------------------------------------------------------------- HTTP

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in ("blocks", "files"):
            if isinstance(args.get(key), str):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        status, body, headers = self._answer(method, args, request.headers.get("Authorization"))
        ok = status == 200 and isinstance(body, dict) and bool(body.get("ok"))
        call = ApiCall(method, args, status, ok)
        self._calls.append(call)
        slow = next((i for i, (m, _s) in enumerate(self._slow) if m == method), None)
        if slow is not None:
            await asyncio.sleep(self._slow.pop(slow)[1])
        call.answered = time.monotonic()
        await self._changed_now()
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self, method: str, args: dict[str, Any], auth: str | None
    ) -> tuple[int, dict[str, Any] | str, dict[str, str]]:
        for i, failure in enumerate(self._failures):
            if failure.method == method:
                del self._failures[i]
                if failure.status == 429:
                    retry = str(int(failure.retry_after or 1))
                    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": retry}
                if failure.status >= 500:
                    return failure.status, "upstream trouble", {}
                return failure.status, {"ok": False, "error": failure.error or "fatal_error"}, {}
        token = args.get("token") or (auth or "").removeprefix("Bearer ")
        if method == "apps.connections.open":
            return 200, {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}, {}
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, handler(args), {}

    # Web API methods: each returns the JSON body (status 200).

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://taskforce-test.slack.com/",
            "team": "Test Team",
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": "BBOT",
        }

    def _postable(self, channel_id: str) -> str | None:
        channel = self.channels.get(channel_id)
        if channel is None:
            return "channel_not_found"
        if channel.is_archived:
            return "is_archived"
        if not channel.is_im and not channel.is_member:
            return "not_in_channel"
        return None

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel"))
        if channel[:1] in ("U", "W") and channel not in self.channels:
            # As Slack does: a user id posts to the app's DM with that user.
            self.add_im(channel)
            return self._m_chat_postMessage({**args, "channel": f"D{channel}"}) | {
                "channel": f"D{channel}"
            }
        error = self._postable(channel)
        if error:
            return {"ok": False, "error": error}
        ts = f"1700000000.{next(self._ts):06d}"
        return {"ok": True, "channel": args["channel"], "ts": ts, "message": {"ts": ts}}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if str(args.get("channel")) not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}

    def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel")))
        if channel is None or (channel.is_private and not channel.is_member):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": channel.info()}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("users", "")).split(",")[0]
        if not user:
            return {"ok": False, "error": "users_list_not_supplied"}
        return {"ok": True, "channel": {"id": self.add_im(user)}}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        locale = self.locales.get(str(args.get("user")))
        if locale and str(args.get("include_locale")).lower() in ("true", "1"):
            user = {**user, "locale": locale}
        return {"ok": True, "user": user}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):04d}"
        self._uploads[file_id] = UploadedFile(
            file_id, str(args.get("filename")), int(args.get("length", 0))
        )
        return {"ok": True, "upload_url": f"{self.root}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel_id")
        if channel is not None and self._postable(str(channel)):
            return {"ok": False, "error": self._postable(str(channel))}
        done = []
        for item in args.get("files") or []:
            upload = self._uploads.get(str(item.get("id")))
            if upload is None or len(upload.content) != upload.length:
                return {"ok": False, "error": "file_not_found"}
            upload.title = item.get("title")
            upload.channel = str(channel) if channel else None
            upload.initial_comment = args.get("initial_comment")
            upload.completed = True
            self.files.append(upload)
            done.append({"id": upload.id, "title": upload.title, "name": upload.filename})
        return {"ok": True, "files": done}

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="no such upload")
        upload.content = await request.read()
        await self._changed_now()
        return web.Response(text=f"OK - {len(upload.content)}", content_type="text/plain")

    def share_file(
        self, file_id: str, name: str, content: bytes, mimetype: str, size: int | None = None
    ) -> dict[str, Any]:
        """A file a person shares: the `files[]` item of its message event (`size` as Slack
        reports it, the real length by default); the bytes are served to the bot token."""
        self._shared[file_id] = content
        return {
            "id": file_id,
            "name": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(content) if size is None else size,
            "url_private": f"{self.root}/files-pri/{file_id}/{name}",
            "url_private_download": f"{self.root}/files-pri/{file_id}/{name}",
        }

    def downloads(self) -> list[str]:
        """The ids of shared files the bot fetched, in order."""
        return list(self._downloaded)

    async def _download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=403, text="not authed")
        file_id = request.match_info["file_id"]
        content = self._shared.get(file_id)
        if content is None:
            return web.Response(status=404)
        self._downloaded.append(file_id)
        return web.Response(body=content, content_type="application/octet-stream")

    def hold_responses(self) -> asyncio.Event:
        """Keep response-URL posts waiting until the returned event is set.

        A post whose sender gave up (closed the connection) meanwhile is not kept: it is
        what Slack would never show.
        """
        self._response_gate = asyncio.Event()
        return self._response_gate

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses_waiting += 1
        await self._changed_now()
        if self._response_gate is not None:
            await self._response_gate.wait()
        self.responses_waiting -= 1
        if request.transport is None or request.transport.is_closing():
            return web.Response(status=499, text="sender went away")
        for i, failure in enumerate(self._failures):
            if failure.method == "response":  # `fail_next(500, method="response")`
                del self._failures[i]
                return web.Response(status=failure.status, text="upstream trouble")
        self._responses.append((request.match_info["key"], body))
        await self._changed_now()
        return web.Response(text="ok")

    # ----------------------------------------------------------------- Socket Mode

    def socket_send(self, envelope_type: str, payload: dict[str, Any]) -> str:
        """Queue an envelope for the connected Socket Mode client; return its envelope id."""
        envelope_id = f"env-{next(self._ids)}"
        self._socket_out.put_nowait(
            {
                "envelope_id": envelope_id,
                "type": envelope_type,
                "payload": payload,
                "accepts_response_payload": envelope_type != "events_api",
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.socket_connections += 1
        await ws.send_json({"type": "hello", "num_connections": 1})
        await self._changed_now()

        async def pump() -> None:
            while True:
                await ws.send_json(await self._socket_out.get())

        sender = asyncio.create_task(pump())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(msg.data))
                    await self._changed_now()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws


# --------------------------------------------------------------------- inbound side


def signed_headers(
    body: str, *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """The signature headers Slack sends with `body` (now, unless `timestamp` is given)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


_triggers = itertools.count(1)


def new_trigger() -> str:
    """A fresh trigger id."""
    return f"trig-{next(_triggers)}-{time.monotonic_ns()}"


@dataclass
class SlackInbound:
    """Sends requests to the served app as Slack would (see the module docstring)."""

    base_url: str
    fake: FakeSlack
    secret: str = SECRET
    team_id: str = TEAM
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=10))

    @property
    def events_url(self) -> str:
        """The app's `/slack/events` URL."""
        return f"{self.base_url}/slack/events"

    async def send(
        self,
        body: str | bytes,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        sign: bool = True,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a raw body (signed unless `sign=False`) with extra `headers`."""
        raw = body.encode() if isinstance(body, str) else body
        all_headers = {"Content-Type": content_type}
        if sign:
            all_headers.update(
                signed_headers(
                    raw.decode("utf-8", "replace"), secret=self.secret, timestamp=timestamp
                )
            )
        all_headers.update(headers or {})
        return await self.client.post(self.events_url, content=raw, headers=all_headers)

    def command_fields(
        self,
        text: str,
        *,
        user: str = "UADMIN",
        user_name: str = "admin",
        channel: str = "C1",
        channel_name: str = "ops-room",
        trigger_id: str | None = None,
        response_key: str | None = None,
        command: str = "/tf",
        team_id: str | None = None,
    ) -> dict[str, str]:
        """The fields of a `/tf <text>` slash command (its response URL key: the trigger id)."""
        trigger = trigger_id or new_trigger()
        return {
            "token": "legacy-verification-token",
            "team_id": team_id or self.team_id,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": self.fake.response_url(response_key or trigger),
            "trigger_id": trigger,
        }

    async def command(self, text: str, **fields: Any) -> httpx.Response:
        """A signed slash command; keywords as for `command_fields`."""
        return await self.send(urllib.parse.urlencode(self.command_fields(text, **fields)))

    async def click(
        self,
        value: str,
        *,
        user: str = "UADMIN",
        user_name: str = "admin",
        channel: str = "C1",
        channel_name: str = "ops-room",
        action_id: str = "tf_cmd:0",
        trigger_id: str | None = None,
        response_key: str | None = None,
    ) -> httpx.Response:
        """A signed Block Kit button click whose button carries `value`."""
        trigger = trigger_id or new_trigger()
        payload = {
            "type": "block_actions",
            "team": {"id": self.team_id, "domain": "test"},
            "user": {"id": user, "username": user_name, "name": user_name, "team_id": self.team_id},
            "api_app_id": "A1",
            "trigger_id": trigger,
            "channel": {"id": channel, "name": channel_name},
            "container": {"type": "message", "channel_id": channel, "message_ts": "1.000001"},
            "response_url": self.fake.response_url(response_key or trigger),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b1",
                    "value": value,
                    "text": {"type": "plain_text", "text": "button"},
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return await self.send(urllib.parse.urlencode({"payload": json.dumps(payload)}))

    async def event(
        self, event: dict[str, Any], *, event_id: str, retry_num: int | None = None
    ) -> httpx.Response:
        """A signed Events API callback (with `X-Slack-Retry-Num` when `retry_num`)."""
        body = json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": self.team_id,
                "api_app_id": "A1",
                "event": event,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "authorizations": [
                    {"team_id": self.team_id, "user_id": self.fake.bot_user_id, "is_bot": True}
                ],
            }
        )
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.send(body, content_type="application/json", headers=headers)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()


# --------------------------------------------------------------------- the stack


@dataclass
class SlackStack:
    """A fake Slack, an App configured for it, the served app, and an inbound client."""

    fake: FakeSlack
    app: Any
    inbound: SlackInbound
    base_url: str

    @property
    def adapter(self) -> Any:
        """The running `SlackAdapter`."""
        return self.app.extras["slack_adapter"]


@contextlib.asynccontextmanager
async def slack_stack(
    make_app: Callable[..., Awaitable[Any]], db_url: str, **settings: Any
) -> AsyncIterator[SlackStack]:
    """Everything a Slack end-to-end test needs (see the module docstring)."""
    from bot.serving.server import create_app
    from tests.serving import serving

    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_POST_INTERVAL": 0,
        "TASKFORCE_ADMINS": f"slack:{TEAM}/UADMIN,console:admin",
    }
    values.update(settings)
    async with FakeSlack() as fake:
        fake.add_channel("C1", "ops-room")
        fake.add_user("UADMIN", "admin", "Ada Admin")
        app = await make_app(db_url, SLACK_API_URL=fake.url, **values)
        asgi = create_app(app.settings, app=app)
        for adapter in asgi.state.adapters:
            app.extras[f"{adapter.platform}_adapter"] = adapter
        async with serving(asgi) as base_url:
            inbound = SlackInbound(base_url, fake)
            try:
                yield SlackStack(fake, app, inbound, base_url)
            finally:
                await inbound.aclose()
