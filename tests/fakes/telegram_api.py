"""A fake Telegram Bot API (a real HTTP server on port 0) and builders of real Update JSON.

The real python-telegram-bot client talks to it over HTTP: requests are form-encoded (or
multipart, for files) POSTs to `/bot<token>/<method>`, answers are `{"ok": true, "result": …}`
or Telegram's error shape (PTB raises `RetryAfter`, `Forbidden`, `BadRequest`, … from them).
Like Telegram, it refuses text over 4096 characters, callback data over 64 bytes and HTML it
cannot parse (an unknown tag, an unbalanced tag, a bare `<` or `&`): tests of rendering can
fail for real.

    async with FakeBotAPI() as fake:
        app = await make_app(db_url, **fake.settings(secret="s3cret"))  # token, API URL, no pace
        fake.sent(chat_id)             # sendMessage calls that succeeded, oldest first
        fake.documents(chat_id)        # sendDocument calls that succeeded
        fake.answers()                 # answerCallbackQuery calls
        fake.calls("setMyCommands")    # every call of a method (failed ones too)
        fake.fail_next("sendMessage", 429, retry_after=3, chat_id=-100)  # next matching call
        fake.forbid(user_id)           # the user never pressed Start: 403 to that chat
        hold = fake.hold_next("sendMessage", chat_id=-100)  # posted, but its answer waits:
        await hold.reached.wait(); hold.release()            # a response lost in flight
        await fake.queue_update(update)  # served by getUpdates (polling mode)
        await fake.wait_sent(2, chat_id)             # until 2 messages reached that chat
        await fake.wait_for(lambda: len(fake.answers()) == 1)

    ups = UpdateFactory()              # real Update JSON with increasing update_ids
    ups.command("/op list", user=ANA, chat=group_chat(-1001, "Harbour"))
    ups.callback(data, user=ANA, chat=GROUP, message_id=7)
    ups.edited_message(...), ups.sticker(...), ups.channel_post(...)

    await post_update(client, update, secret)   # POST /telegram/webhook, as Telegram does

Serve the app with `tests.serving.serving` (uvicorn on port 0) and point an httpx client at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

DEFAULT_TOKEN = "123456:TEST-TOKEN"
BOT_ID = 123456
BOT_USERNAME = "TaskforceTestBot"
START_DATE = 1_795_856_400  # 2026-11-28 09:00 UTC, the tests' ManualClock start

_ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
_HTML_TOKEN = re.compile(r"<(/?)([a-zA-Z-]+)[^<>]*>|&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);|[<>&]")


def html_error(text: str) -> str | None:
    """Why Telegram would refuse `text` in HTML parse mode (None: it parses)."""
    stack: list[str] = []
    for match in _HTML_TOKEN.finditer(text):
        token = match.group(0)
        if token in ("<", ">", "&"):
            if token == ">":
                continue  # Telegram accepts a bare '>'
            return f"Can't parse entities: unexpected {token!r} at byte offset {match.start()}"
        name = match.group(2)
        if name is None:
            continue  # an entity
        name = name.lower()
        if name not in _ALLOWED_TAGS:
            return f"Can't parse entities: unsupported start tag {name!r}"
        if match.group(1):
            if not stack or stack[-1] != name:
                return f"Can't parse entities: can't find end tag corresponding to {name!r}"
            stack.pop()
        else:
            stack.append(name)
    if stack:
        return f"Can't parse entities: can't find end tag corresponding to {stack[-1]!r}"
    return None


def html_to_plain(text: str) -> str:
    """What a Telegram user sees of an HTML message: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", text))


@dataclass
class Call:
    """One request the fake received: method, parameters (JSON values decoded), outcome."""

    method: str
    token: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        """Whether the fake answered with success."""
        return self.error is None

    @property
    def chat_id(self) -> int | None:
        """The `chat_id` parameter, as an int."""
        value = self.params.get("chat_id")
        return int(value) if value is not None else None


@dataclass
class SentMessage:
    """A successful sendMessage: where, the HTML text, and its keyboard."""

    call: Call

    @property
    def chat_id(self) -> int:
        """The chat it went to."""
        return int(self.call.params["chat_id"])

    @property
    def text(self) -> str:
        """The text as sent (HTML)."""
        return str(self.call.params.get("text", ""))

    @property
    def plain(self) -> str:
        """The text as the user sees it."""
        return html_to_plain(self.text)

    @property
    def parse_mode(self) -> str | None:
        """The parse mode (HTML for every Taskforce message)."""
        return self.call.params.get("parse_mode")

    @property
    def message_id(self) -> int:
        """The id the fake gave it."""
        return int(self.call.result["message_id"])

    @property
    def reply_to(self) -> int | None:
        """The message it replies to, if any."""
        rp = self.call.params.get("reply_parameters")
        return int(rp["message_id"]) if isinstance(rp, dict) else None

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button, row by row."""
        markup = self.call.params.get("reply_markup") or {}
        return [
            (b["text"], b.get("callback_data", ""))
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]


@dataclass
class Hold:
    """The next matching call is carried out and recorded, but its answer waits for `release()`.

    `reached` is set once the call has arrived (the message is posted, as far as the chat
    can see); the client gets the answer only after `release()` (if it is still listening).
    """

    method: str
    chat_id: int | None
    call: Call | None = None
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Let the held answer go."""
        self.released.set()


@dataclass
class _Failure:
    method: str
    error_code: int
    description: str
    retry_after: int | None
    chat_id: int | None


class FakeBotAPI:
    """A local Bot API: records calls, answers like Telegram, fails on request."""

    def __init__(self, token: str = DEFAULT_TOKEN, username: str = BOT_USERNAME) -> None:
        self.token = token
        self.bot = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Taskforce",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._calls: list[Call] = []
        self._failures: list[_Failure] = []
        self._forbidden: set[int] = set()
        self._holds: list[Hold] = []
        self._updates: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._files: dict[str, bytes] = {}  # file_id -> bytes, for getFile and downloads
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> FakeBotAPI:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for hold in self._holds:
            hold.release()
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    def settings(self, secret: str | None = "s3cret-Token_1", **extra: Any) -> dict[str, Any]:
        """Settings overrides for `make_app`: this bot, this API, the secret, no pacing."""
        values: dict[str, Any] = {
            "TELEGRAM_BOT_TOKEN": self.token,
            "TELEGRAM_API_URL": self.api_url,
            "TELEGRAM_WEBHOOK_SECRET": secret or "",
            "TELEGRAM_CHAT_INTERVAL": 0,
            "TELEGRAM_GROUP_INTERVAL": 0,
        }
        values.update(extra)
        return values

    @property
    def api_url(self) -> str:
        """The value for TELEGRAM_API_URL (the token is appended by the client)."""
        return f"{self.url}/bot"

    # ------------------------------------------------------------ test API

    def calls(self, method: str | None = None) -> list[Call]:
        """Every call (of one method), oldest first, failed ones included."""
        return [c for c in self._calls if method is None or c.method == method]

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        """Successful sendMessage calls (to one chat), oldest first."""
        return [
            SentMessage(c)
            for c in self._calls
            if c.method == "sendMessage" and c.ok and (chat_id is None or c.chat_id == chat_id)
        ]

    def documents(self, chat_id: int | None = None) -> list[Call]:
        """Successful sendDocument calls (to one chat); `call.files['document']` = (name, bytes)."""
        return [
            c
            for c in self._calls
            if c.method == "sendDocument" and c.ok and (chat_id is None or c.chat_id == chat_id)
        ]

    def photos(self, chat_id: int | None = None) -> list[Call]:
        """Successful sendPhoto calls (to one chat); `call.files['photo']` = (name, bytes)."""
        return [
            c
            for c in self._calls
            if c.method == "sendPhoto" and c.ok and (chat_id is None or c.chat_id == chat_id)
        ]

    def add_file(self, file_id: str, content: bytes) -> None:
        """A file users sent, for `getFile` and its download URL."""
        self._files[file_id] = content

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        content = self._files.get(request.match_info["path"].removeprefix("files/"))
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content)

    def answers(self) -> list[Call]:
        """answerCallbackQuery calls."""
        return self.calls("answerCallbackQuery")

    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Make the next call of `method` (to `chat_id`, if given) fail like Telegram would."""
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after or 1}",
                403: "Forbidden: bot was kicked from the group chat",
                400: "Bad Request: chat not found",
                500: "Internal Server Error",
            }.get(error_code, "Error")
        if error_code == 429 and retry_after is None:
            retry_after = 1
        self._failures.append(_Failure(method, error_code, description, retry_after, chat_id))

    def hold_next(self, method: str, *, chat_id: int | None = None) -> Hold:
        """Hold the answer to the next call of `method` (to `chat_id`, if given); see `Hold`."""
        hold = Hold(method, chat_id)
        self._holds.append(hold)
        return hold

    def forbid(self, chat_id: int) -> None:
        """Messages to this chat get 403 (a user who never started the bot)."""
        self._forbidden.add(chat_id)

    def allow(self, chat_id: int) -> None:
        """Undo `forbid`."""
        self._forbidden.discard(chat_id)

    async def queue_update(self, update: dict[str, Any]) -> None:
        """An update for getUpdates (polling mode) to serve."""
        self._updates.append(update)
        await self._notify()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until `predicate()` holds (checked after every call the fake receives)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_sent(self, n: int, chat_id: int | None = None, timeout: float = 10.0) -> None:
        """Wait until at least `n` messages reached `chat_id` (any chat if None)."""
        await self.wait_for(lambda: len(self.sent(chat_id)) >= n, timeout)

    # ------------------------------------------------------------- server

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = (value.filename, value.file.read())
            else:
                params[key] = _decode(str(value))
        call = Call(method=method, token=token, params=params, files=files)
        if token != self.token:
            call.error = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            status = 401
        elif method == "getUpdates":
            result = await self._get_updates(params)
            status, call.result = 200, result
        else:
            status = self._answer(call)
        self._calls.append(call)
        await self._notify()
        hold = self._take_hold(call)
        if hold is not None:
            hold.reached.set()
            await hold.released.wait()
        body = call.error if call.error else {"ok": True, "result": call.result}
        return web.json_response(body, status=status)

    def _answer(self, call: Call) -> int:
        failure = self._take_failure(call)
        if failure is not None:
            call.error = {
                "ok": False,
                "error_code": failure.error_code,
                "description": failure.description,
            }
            if failure.retry_after is not None:
                call.error["parameters"] = {"retry_after": failure.retry_after}
            return failure.error_code
        chat_id = call.chat_id
        if call.method in ("sendMessage", "sendDocument") and chat_id in self._forbidden:
            call.error = {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot can't initiate conversation with a user",
            }
            return 403
        problem = self._validate(call)
        if problem:
            call.error = {"ok": False, "error_code": 400, "description": f"Bad Request: {problem}"}
            return 400
        call.result = self._result(call)
        return 200

    def _take_hold(self, call: Call) -> Hold | None:
        for hold in self._holds:
            if (
                hold.call is None
                and hold.method == call.method
                and hold.chat_id in (None, call.chat_id)
            ):
                hold.call = call
                return hold
        return None

    def _take_failure(self, call: Call) -> _Failure | None:
        for i, failure in enumerate(self._failures):
            if failure.method == call.method and (
                failure.chat_id is None or failure.chat_id == call.chat_id
            ):
                return self._failures.pop(i)
        return None

    def _validate(self, call: Call) -> str | None:
        if call.method != "sendMessage":
            return None
        text = str(call.params.get("text", ""))
        if not text.strip():
            return "message text is empty"
        if len(text) > 4096:
            return "message is too long"
        if call.params.get("parse_mode") == "HTML":
            problem = html_error(text)
            if problem:
                return problem
        markup = call.params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    return "BUTTON_DATA_INVALID"
        return None

    def _result(self, call: Call) -> Any:
        if call.method == "getMe":
            return self.bot
        if call.method == "getFile":
            file_id = str(call.params.get("file_id", ""))
            content = self._files.get(file_id)
            if content is None:
                return {"file_id": file_id, "file_unique_id": f"U{file_id}"}
            return {
                "file_id": file_id,
                "file_unique_id": f"U{file_id}",
                "file_size": len(content),
                "file_path": f"files/{file_id}",
            }
        if call.method == "sendPhoto":
            chat_id = call.chat_id or 0
            return {
                "message_id": next(self._ids),
                "date": START_DATE,
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "from": self.bot,
                "photo": [{"file_id": "P1", "file_unique_id": "PU1", "width": 1, "height": 1}],
            }
        if call.method in ("sendMessage", "sendDocument"):
            chat_id = call.chat_id or 0
            message: dict[str, Any] = {
                "message_id": next(self._ids),
                "date": START_DATE,
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "from": self.bot,
            }
            if call.method == "sendMessage":
                message["text"] = html_to_plain(str(call.params.get("text", "")))
            else:
                name = call.files.get("document", ("file", b""))[0]
                message["document"] = {
                    "file_id": f"F{message['message_id']}",
                    "file_unique_id": f"U{message['message_id']}",
                    "file_name": name,
                }
            return message
        return True

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        timeout = float(params.get("timeout", 0) or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

        def pending() -> bool:
            return bool(self._updates)

        if not pending() and timeout > 0:
            with contextlib.suppress(TimeoutError):
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait_for(pending), timeout)
        limit = int(params.get("limit", 100) or 100)
        return list(self._updates[:limit])


def _decode(value: str) -> Any:
    """PTB sends objects (reply_markup, reply_parameters, lists) as JSON strings."""
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# --------------------------------------------------------------------- updates


def tg_user(user_id: int, first_name: str, username: str | None = None) -> dict[str, Any]:
    """A Telegram User object."""
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    return user


def private_chat(user: dict[str, Any]) -> dict[str, Any]:
    """The private chat between `user` and the bot (its id is the user's id)."""
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def group_chat(chat_id: int, title: str) -> dict[str, Any]:
    """A supergroup (ids of groups are negative)."""
    return {"id": chat_id, "type": "supergroup", "title": title}


class UpdateFactory:
    """Builds real Update JSON with increasing `update_id`s and message ids."""

    def __init__(self, first_update_id: int = 500_000) -> None:
        self._update_ids = itertools.count(first_update_id)
        self._message_ids = itertools.count(1000)

    def _message(self, text: str | None, user: dict[str, Any], chat: dict[str, Any]) -> dict:
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": START_DATE,
            "chat": chat,
            "from": user,
        }
        if text is not None:
            msg["text"] = text
            match = re.match(r"/\S+", text)
            if match:
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": match.end()}]
        return msg

    def command(self, text: str, *, user: dict[str, Any], chat: dict[str, Any]) -> dict:
        """A new message (a command if `text` starts with '/')."""
        return {"update_id": next(self._update_ids), "message": self._message(text, user, chat)}

    def callback(
        self, data: str, *, user: dict[str, Any], chat: dict[str, Any], message_id: int
    ) -> dict:
        """A button press on the bot's message `message_id` in `chat`."""
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": f"cq{next(self._message_ids)}",
                "from": user,
                "chat_instance": "ci-1",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": START_DATE,
                    "chat": chat,
                    "text": "…",
                },
            },
        }

    def location(
        self,
        lat: float,
        lon: float,
        *,
        user: dict[str, Any],
        chat: dict[str, Any],
        live_period: int | None = None,
        venue: tuple[str, str] | None = None,
    ) -> dict:
        """A shared location (live with `live_period`), or a venue (title, address)."""
        msg = self._message(None, user, chat)
        point: dict[str, Any] = {"latitude": lat, "longitude": lon}
        if live_period:
            point["live_period"] = live_period
        msg["location"] = point
        if venue is not None:
            msg["venue"] = {"location": point, "title": venue[0], "address": venue[1]}
        return {"update_id": next(self._update_ids), "message": msg}

    def reply(
        self, text: str, *, to: dict[str, Any], user: dict[str, Any], chat: dict[str, Any]
    ) -> dict:
        """A text message answering the message `to` (a dict with message_id and from)."""
        msg = self._message(text, user, chat)
        msg["reply_to_message"] = {
            "message_id": to["message_id"],
            "date": START_DATE,
            "chat": chat,
            "from": to["from"],
            "text": to.get("text", "…"),
        }
        return {"update_id": next(self._update_ids), "message": msg}

    def photo(
        self,
        file_id: str,
        size: int,
        *,
        user: dict[str, Any],
        chat: dict[str, Any],
        caption: str | None = None,
        as_document: str | None = None,
    ) -> dict:
        """A photo (or, with `as_document` = MIME type, an image sent as a file)."""
        msg = self._message(None, user, chat)
        if as_document:
            msg["document"] = {
                "file_id": file_id,
                "file_unique_id": f"U{file_id}",
                "file_name": f"{file_id}.jpg",
                "mime_type": as_document,
                "file_size": size,
            }
        else:
            msg["photo"] = [
                {"file_id": f"{file_id}-s", "file_unique_id": "small", "width": 90, "height": 60},
                {
                    "file_id": file_id,
                    "file_unique_id": f"U{file_id}",
                    "width": 1280,
                    "height": 853,
                    "file_size": size,
                },
            ]
        if caption is not None:
            msg["caption"] = caption
        return {"update_id": next(self._update_ids), "message": msg}

    def edited_message(self, text: str, *, user: dict[str, Any], chat: dict[str, Any]) -> dict:
        """An edit of an earlier message (even of a command: ignored)."""
        msg = self._message(text, user, chat)
        msg["edit_date"] = START_DATE + 60
        return {"update_id": next(self._update_ids), "edited_message": msg}

    def sticker(self, *, user: dict[str, Any], chat: dict[str, Any]) -> dict:
        """A sticker message."""
        msg = self._message(None, user, chat)
        msg["sticker"] = {
            "file_id": "S1",
            "file_unique_id": "SU1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return {"update_id": next(self._update_ids), "message": msg}

    def channel_post(self, text: str, *, chat_id: int = -100777) -> dict:
        """A post in a broadcast channel the bot is in."""
        chat = {"id": chat_id, "type": "channel", "title": "News"}
        msg = self._message(text, tg_user(1, "x"), chat)
        msg.pop("from")
        return {"update_id": next(self._update_ids), "channel_post": msg}


# ------------------------------------------------------------------ webhook


async def post_update(
    client: httpx.AsyncClient, update: dict[str, Any] | bytes, secret: str | None
) -> httpx.Response:
    """POST an update to `/telegram/webhook` like Telegram does (secret header if given)."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    return await client.post("/telegram/webhook", content=body, headers=headers)
