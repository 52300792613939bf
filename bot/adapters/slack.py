"""The Slack adapter: `/tf` slash command, Block Kit buttons, DM and mention events, posts.

Everything arrives at `POST /slack/events` (or over Socket Mode when `SLACK_APP_TOKEN` is
set) and goes through slack-bolt's `AsyncApp`, which verifies the signature and timestamp
over the raw body. Before bolt sees a request this module refuses oversized (413) and
malformed (400) bodies without touching the bytes bolt verifies.

Slack wants an answer within 3 seconds. A command's reply goes in the ack when dispatch
finishes within `SLACK_ACK_SECONDS` (2 s); otherwise the ack says "working on it" and the
reply follows through the `response_url` from a task this adapter owns and drains on stop.
Bolt runs with `process_before_response=True`, so no listener outlives its request unowned.

Inbound work is processed once: slash commands by `trigger_id`, button clicks by their
`trigger_id`, Events API callbacks by `event_id` (a retry with `X-Slack-Retry-Num` finds
the key in the store and changes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any

import aiohttp
import structlog
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.adapters import slack_render as render
from bot.adapters.slack_field import images_of, uploads_of
from bot.base import metrics
from bot.base.i18n import N_, _
from bot.base.messages import Attachment, Message
from bot.contracts import (
    Actor,
    Capabilities,
    Channel,
    Invocation,
    Reply,
    Sender,
    SendError,
    Upload,
    caption_line,
    strip_prefix,
)
from bot.gateway import Gateway, InboxEntry

log = structlog.get_logger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
WORKING = "Working on it…"
KEPT = N_("Slack is not answering; your command was kept.")
NOT_KEPT = N_(
    "Slack is not answering and your command could not be kept; send it again in a minute."
)
STOP_GRACE_SECONDS = 20.0
RESPONSE_URL_SECONDS = 30 * 60 - 60  # Slack honours a response_url for 30 minutes
AUTH_RETRY_MAX = 60.0

# Errors after which the same post can never succeed: the outbox marks the row dead.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "restricted_action",
        "invalid_blocks",
        "msg_too_long",
    }
)
_MENTION_PREFIX = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[\s:,]*")
# Slack shows replies only the actor sees (ephemeral) in the channel itself.
CAPABILITIES = Capabilities(private_replies=True, files=True, buttons=True, max_length=3000)


def command_line(text: str) -> str:
    """A DM or mention as a core command line: the bot's mention, then `tf`/`/tf`, removed."""
    text = render.unescape(_MENTION_PREFIX.sub("", text, count=1))
    stripped = strip_prefix(text)
    return text if stripped is None else stripped


def api_url(url: str) -> str:
    """slack-sdk joins method names onto the base URL: it must end with a slash."""
    return url if url.endswith("/") else url + "/"


def send_error(exc: Exception) -> SendError:
    """Map a Web API failure to the outbox's retry decision."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        data = exc.response.data
        error = str(data.get("error", "")) if isinstance(data, dict) else ""
        if status == 429 or error == "ratelimited":
            raw = exc.response.headers.get("Retry-After", "1")
            try:
                retry_after = float(raw)
            except (TypeError, ValueError):
                retry_after = 1.0
            return SendError(f"slack 429 ratelimited (retry after {raw}s)", retry_after=retry_after)
        if status >= 500:
            return SendError(f"slack HTTP {status}")
        if error in PERMANENT_ERRORS:
            return SendError(f"slack {error}", permanent=True)
        return SendError(f"slack HTTP {status} {error or 'error'}")
    # The class only: an exception's text may quote the message being sent.
    return SendError(f"slack unreachable: {type(exc).__name__}")


class SlackSender:
    """Outbox sender: `chat.postMessage` with blocks and a fallback text.

    `interval` is the pace per channel (Slack allows about one message per second per
    channel); the outbox worker keeps it per channel without holding up the others.
    """

    platform: str = PLATFORM
    capabilities = CAPABILITIES

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        interval: float = 1.0,
        images: Callable[[str], Awaitable[bytes]] | None = None,
    ) -> None:
        self.client = client
        self.interval = interval
        self.images = images  # reads a post's photos (issue 16)

    def min_interval(self, channel_key: str) -> float:
        """Seconds between two posts to one channel."""
        return self.interval

    async def send(
        self, channel_key: str, message: Message, *, key: str | None = None
    ) -> str | None:
        """Post to the channel; return the message `ts`. Raise `SendError` on failure."""
        text, blocks = render.render([message])
        if message.images and self.images is not None:
            return await self._send_photos(channel_key, message, text)
        try:
            resp = await self.client.chat_postMessage(
                channel=channel_key,
                text=text,
                blocks=blocks,
                **render.INERT,
            )
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise send_error(exc) from exc
        ts = resp.get("ts")
        return str(ts) if ts else None

    async def _send_photos(self, channel_key: str, message: Message, text: str) -> str | None:
        """A photo post: the stored copies (without EXIF) uploaded with the text as comment."""
        assert self.images is not None
        try:
            uploads = [
                {
                    "content": await self.images(key),
                    "filename": key.rsplit("/", 1)[-1],
                }
                for key in message.images
            ]
            resp = await self.client.files_upload_v2(
                channel=channel_key, file_uploads=uploads, initial_comment=text
            )
        except FileNotFoundError as exc:
            raise SendError("photo missing from the evidence store", permanent=True) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise send_error(exc) from exc
        files = resp.get("files") or []
        first = files[0] if files and isinstance(files[0], dict) else {}
        return str(first.get("id")) if first.get("id") else None


def is_direct(channel_id: str, channel_name: str) -> bool:
    """A one-to-one conversation (DM ids start with D; slash commands name it this way)."""
    return channel_name == "directmessage" or channel_id.startswith("D")


# How long a first command waits for the user's locale before answering in the default.
LOCALE_SECONDS = 1.0


class SlackAdapter:
    """Serves `/slack/events` (or Socket Mode) and delivers posts to Slack."""

    platform: str = PLATFORM

    def __init__(
        self,
        gateway: Gateway,
        *,
        ack_seconds: float | None = None,
        post_interval: float | None = None,
    ) -> None:
        settings = gateway.settings
        if not settings.slack_enabled:
            raise ValueError(
                "Slack needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN"
            )
        self.gateway = gateway
        self.settings = settings
        self.ack_seconds = settings.slack_ack_seconds if ack_seconds is None else ack_seconds
        base = api_url(settings.slack_api_url)
        self.client = AsyncWebClient(token=settings.slack_bot_token, base_url=base)
        # The sender's client retries nothing itself: the outbox owns retries and their count.
        sender_client = AsyncWebClient(
            token=settings.slack_bot_token, base_url=base, retry_handlers=[]
        )
        interval = settings.slack_post_interval if post_interval is None else post_interval
        self.slack_sender = SlackSender(sender_client, interval=interval, images=gateway.image)
        self.sender: Sender = self.slack_sender
        self.bolt = AsyncApp(
            client=self.client,
            # Socket Mode alone: no HTTP route, nothing signed; "" keeps bolt off os.environ.
            signing_secret=settings.slack_signing_secret or "",
            process_before_response=True,
            # Our own authorization, from the configured token and `auth.test` as `start`
            # got it: bolt's default asks Slack on the first request, and a Slack outage
            # then turned every signed command into an empty 500.
            authorize=self._authorizer(),
        )
        self.bolt.command(re.compile(r"^/"))(self._on_command)
        self.bolt.action(render.ACTION_ID)(self._on_action)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.event("message")(self._on_message)
        self.bot_user_id: str | None = None
        self.bot_name = "Taskforce"
        self._auth_problem: str | None = "not started"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight: set[str] = set()
        self._names: dict[str, str] = {}
        self._locales: dict[str, str | None] = {}
        self._socket: Any = None
        self._auth_task: asyncio.Task[None] | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._inbound_finished = False
        for kind in ("slack_command", "slack_action", "slack_event"):
            gateway.inbox.register(kind, self._recover)

    def _authorizer(self) -> Callable[..., Awaitable[AuthorizeResult]]:
        """Bolt's authorization of a signed request, without a call to Slack (a plain
        function: bolt passes arguments by the names of its parameters)."""

        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            return AuthorizeResult(
                enterprise_id=enterprise_id,
                team_id=team_id,
                bot_token=self.settings.slack_bot_token,
                bot_user_id=self.bot_user_id,
            )

        return authorize

    # ------------------------------------------------------------------ lifecycle

    def routes(self) -> list[BaseRoute]:
        """`POST /slack/events`, unless Socket Mode carries the requests."""
        if self.settings.slack_app_token:
            return []
        return [Route(EVENTS_PATH, self.endpoint, methods=["POST"])]

    async def start(self) -> None:
        """Check the token (retrying in the background) and connect Socket Mode if set."""
        self._inbound_finished = False
        if not await self._auth():
            self._auth_task = asyncio.create_task(self._auth_retry(), name="slack-auth")
        if self.settings.slack_app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.bolt, self.settings.slack_app_token)
            # connect_async() retries until it connects: never let it hold up start-up.
            self._connect_task = asyncio.create_task(
                self._socket.connect_async(), name="slack-socket-mode"
            )
        log.info("slack.started", socket_mode=bool(self._socket), bot=self.bot_user_id)

    async def finish_inbound(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Shutdown, first half: stop taking requests (Socket Mode disconnects) and wait, at
        most `timeout` s, for the replies in flight. The sender's client stays usable."""
        if self._inbound_finished:
            return
        self._inbound_finished = True
        if self._auth_task is not None:
            self._auth_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._auth_task
        self._auth_problem = "stopped"
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._connect_task is not None:
            self._connect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connect_task
            self._connect_task = None
        await self.drain(timeout=timeout)

    async def stop(self) -> None:
        """Stop taking requests, finish the replies in flight (once), cancel what is left."""
        await self.finish_inbound()
        for task in list(self._tasks):
            task.cancel()

    def ready(self) -> str | None:
        """None when the token works (and Socket Mode is connected), else why not."""
        if self._auth_problem:
            return self._auth_problem
        if self._socket is not None:
            client = self._socket.client
            session = client.current_session
            if client.closed or client.stale or session is None or session.closed:
                return "socket mode not connected"
        return None

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the replies, uploads and events in flight (tests, shutdown)."""
        while self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            if pending:
                log.warning("slack.drain_timeout", pending=len(pending))
                return

    async def _auth(self) -> bool:
        try:
            resp = await self.client.auth_test()
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._auth_problem = f"auth.test failed: {send_error(exc).reason}"
            log.warning("slack.auth_failed", reason=self._auth_problem)
            return False
        self.bot_user_id = resp.get("user_id")
        self.bot_name = str(resp.get("user") or self.bot_name)
        self._auth_problem = None
        return True

    async def _auth_retry(self) -> None:
        delay = 1.0
        while not await self._auth():
            await asyncio.sleep(delay)
            delay = min(delay * 2, AUTH_RETRY_MAX)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        # Bolt keeps no reference to work started from a listener; we do, and drain it.
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._settled)
        return task

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack.task_failed", exc_info=task.exception())

    # ------------------------------------------------------------------ HTTP

    async def endpoint(self, request: Request) -> Response:
        """`POST /slack/events`: size and shape checks, then bolt (signature, listeners)."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                return PlainTextResponse("Bad Content-Length.", status_code=400)
            if int(declared) > limit:
                return PlainTextResponse("Request body too large.", status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return PlainTextResponse("Request body too large.", status_code=413)
        if not body:
            return PlainTextResponse("Empty request body.", status_code=400)
        stamp = request.headers.get("x-slack-request-timestamp")
        if stamp is not None and not _TIMESTAMP.fullmatch(stamp):
            # Bolt would read it with int() before checking the signature: a 500 and a
            # traceback for anyone. A timestamp Slack sends is whole seconds.
            log.info("slack.refused", reason="bad_timestamp")
            return PlainTextResponse("Invalid request timestamp.", status_code=400)
        try:
            bolt_request = to_async_bolt_request(request, bytes(body))
        except Exception:  # undecodable bytes, broken JSON or form: bolt would answer 500
            return PlainTextResponse("Malformed request body.", status_code=400)
        if not isinstance(bolt_request.body, dict) or not bolt_request.body:
            return PlainTextResponse("Malformed request body.", status_code=400)
        bolt_response = await self.bolt.async_dispatch(bolt_request)
        if bolt_response.status >= 500:
            return await self._outage_answer(bolt_request.body)
        return to_starlette_response(bolt_response)

    async def _outage_answer(self, body: dict[str, Any]) -> Response:
        """A listener failed (bolt would answer an empty 500): 200 and a sentence when the
        request is stored (run, or in the inbox to be finished), else 503 so that Slack, or
        the member, sends it again. Never a 500 (README "Slack")."""
        key = _request_key(body)
        stored = False
        if key is not None:
            try:
                stored = await self.gateway.was_processed(
                    PLATFORM, key
                ) or await self.gateway.inbox.holds(PLATFORM, key)
            except Exception as exc:  # the store is down too: not stored
                log.warning("slack.store_unavailable", error=type(exc).__name__)
        log.warning("slack.request_failed", stored=stored)
        if stored:
            return JSONResponse({"response_type": "ephemeral", "text": _(KEPT)})
        return PlainTextResponse(_(NOT_KEPT), status_code=503, headers={"Retry-After": "60"})

    # ------------------------------------------------------------------ identities

    def _postable_check(
        self, channel_id: str, channel_name: str
    ) -> Callable[[], Awaitable[str | None]]:
        async def check() -> str | None:
            return await self.postable(channel_id, channel_name)

        return check

    async def postable(self, channel_id: str, channel_name: str = "") -> str | None:
        """None if the bot can post in the channel, else what is wrong and how to fix it."""
        where = (
            f"#{channel_name}"
            if channel_name and not is_direct(channel_id, channel_name)
            else "this channel"
        )
        invite = f"`/invite @{self.bot_name}`"
        try:
            resp = await self.client.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            data = exc.response.data
            error = data.get("error", "") if isinstance(data, dict) else ""
            if error == "channel_not_found":
                return (
                    f"I cannot see {where}, so posts would never arrive: invite me with "
                    f"{invite} there, then run `op link` again."
                )
            said = error or f"HTTP {exc.response.status_code}"
            return (
                f"I could not check whether I can post in {where} (Slack said {said}); "
                "try again in a minute."
            )
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError):
            return f"I could not reach Slack to check {where}; try again in a minute."
        channel = resp.get("channel") or {}
        if channel.get("is_archived"):
            return (
                f"{where[0].upper()}{where[1:]} is archived, so posts would never arrive: "
                "unarchive it, or link another channel."
            )
        if not channel.get("is_im") and channel.get("is_member") is False:
            return (
                f"I am not a member of {where}, so posts would never arrive: invite me with "
                f"{invite}, then run `op link` again."
            )
        return None

    async def _display_name(self, user_id: str, fallback: str, text: str) -> str:
        # Only `join` makes a member from the profile name; other commands need no lookup.
        if not text.strip().lower().startswith("join"):
            return fallback
        if user_id in self._names:
            return self._names[user_id]
        try:
            resp = await self.client.users_info(user=user_id, include_locale=True)
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError):
            return fallback
        user = resp.get("user") or {}
        self._locales[user_id] = str(user["locale"]) if user.get("locale") else None
        profile = user.get("profile") or {}
        name = str(
            profile.get("real_name")
            or user.get("real_name")
            or profile.get("display_name")
            or fallback
        )
        self._names[user_id] = name
        return name

    async def _locale(self, user_id: str) -> str | None:
        """The user's Slack locale (`users.info` with `include_locale`), asked once per user
        and process; None when Slack does not say (the reply then uses the member's or
        agency's language, else English). A failed or slow lookup (over `LOCALE_SECONDS`,
        which keeps the 3-second ack) is not remembered."""
        if user_id in self._locales:
            return self._locales[user_id]
        try:
            resp = await asyncio.wait_for(
                self.client.users_info(user=user_id, include_locale=True), LOCALE_SECONDS
            )
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError):
            return None
        locale = (resp.get("user") or {}).get("locale")
        self._locales[user_id] = str(locale) if locale else None
        return self._locales[user_id]

    def _channel(self, channel_id: str, channel_name: str) -> Channel:
        return Channel(
            PLATFORM,
            channel_id,
            channel_name or channel_id,
            is_group=not is_direct(channel_id, channel_name),
            check_postable=self._postable_check(channel_id, channel_name),
        )

    # ------------------------------------------------------------------ slash command

    async def _on_command(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        team, user = str(body.get("team_id") or ""), str(body.get("user_id") or "")
        channel_id = str(body.get("channel_id") or "")
        if not (team and user and channel_id):
            await ack(
                response_type="ephemeral",
                text="That request lacked the team, user or channel; nothing was done.",
            )
            return
        text = render.unescape(str(body.get("text") or ""))
        name = await self._display_name(user, str(body.get("user_name") or ""), text)
        inv = Invocation(
            actor=Actor(PLATFORM, f"{team}/{user}", name),
            channel=self._channel(channel_id, str(body.get("channel_name") or "")),
            text=text,
            event_key=_key("cmd", body.get("trigger_id") or _body_digest(body)),
            locale=await self._locale(user),
        )
        work = self._spawn(self.gateway.dispatch(inv))
        done, _ = await asyncio.wait({work}, timeout=self.ack_seconds)
        if work in done:
            # The command's own transaction has committed: the ack carries its reply.
            reply = work.result()
            await ack(**self._payload(reply))
            self._after(reply, user, respond)
            return
        # Not finished in time: the invocation goes to the inbox before the ack promises an
        # answer, so that a crash from here on does not lose it (Slack never resends it).
        key = inv.event_key
        durable = key is not None and await self._accept(
            key,
            "slack_command",
            {
                "team": team,
                "user": user,
                "user_name": name,
                "channel_id": channel_id,
                "channel_name": str(body.get("channel_name") or ""),
                "text": text,
                "response_url": str(body.get("response_url") or ""),
            },
        )
        await ack(response_type="ephemeral", text=WORKING)
        self._spawn(self._respond_later(work, respond, user, key if durable else None))

    async def _respond_later(
        self, work: asyncio.Task[Reply], respond: Any, user: str, inbox_key: str | None
    ) -> None:
        try:
            reply = await work
            if await self._answer(inbox_key, lambda: self._respond(respond, reply)):
                self._after(reply, user, respond)
        except BaseException:
            if inbox_key:
                await self.gateway.inbox.release(PLATFORM, inbox_key)
            raise

    async def _answer(self, key: str | None, deliver: Callable[[], Awaitable[bool]]) -> bool:
        """Give a stored request's answer once (`Inbox.answer`): forgotten when Slack took
        it; kept for the recovery to answer later when Slack did not (nothing lost); not
        sent at all when another process took the request over. Without a key (not in the
        inbox), just send it. True if this process sent it."""
        if key is None:
            await deliver()
            return True
        sent = await self.gateway.inbox.answer(PLATFORM, key, deliver)
        if sent is None:
            log.info("slack.answer_taken_over")
            return False
        return True

    async def _accept(self, key: str, kind: str, payload: dict[str, Any]) -> bool:
        """Commit an event to the inbox before its ack; False if it could not be (logged)."""
        try:
            await self.gateway.inbox.accept(PLATFORM, key, kind, payload)
        except Exception as exc:
            log.warning("slack.inbox_unavailable", kind=kind, error=type(exc).__name__)
            return False
        return True

    async def _respond(self, respond: Any, reply: Reply) -> bool:
        """Answer through the response_url; True if Slack took the answer."""
        try:
            result = await respond(**self._payload(reply), replace_original=False)
        except Exception as exc:  # the effect is stored; the answer may be given later
            log.warning("slack.respond_failed", error=type(exc).__name__)
            return False
        status = getattr(result, "status_code", 200)
        if status != 200:
            log.warning("slack.respond_failed", status=status)
            return False
        return True

    def _payload(self, reply: Reply) -> dict[str, Any]:
        payload = render.response_payload(reply)
        if reply.message.attachments:
            note = "The file is on its way to your direct messages with me."
            payload["blocks"].append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": note, "verbatim": True}],
                }
            )
        return payload

    def _after(self, reply: Reply, user: str, respond: Any = None) -> None:
        if reply.message.attachments:
            self._spawn(self._upload(reply.message, user, respond))

    async def _upload(self, message: Message, user: str, respond: Any = None) -> None:
        """Send a reply's files to the user's DM with the bot (never into a group channel)."""
        pending = [item.filename for item in message.attachments]
        delivered: list[tuple[Attachment, str]] = []
        dm = ""
        try:
            opened = await self.client.conversations_open(users=user)
            dm = opened["channel"]["id"]
            for item in message.attachments:
                await self.client.files_upload_v2(
                    channel=dm,
                    content=item.content,
                    filename=item.filename,
                    title=item.filename,
                    initial_comment=render.fit(
                        f"{render.headline(message) or 'Taskforce'}: {item.filename}", 1000
                    ),
                )
                pending.remove(item.filename)
                delivered.append((item, item.filename))
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError, KeyError) as exc:
            reason = send_error(exc).reason if not isinstance(exc, KeyError) else "no DM"
            log.warning("slack.upload_failed", error=reason)
            if respond is not None:
                names = ", ".join(pending)
                sorry = Message(
                    lines=[
                        _(
                            "I could not send you {names} ({reason}); it was not shared "
                            "anywhere else. Try again in a minute."
                        ).format(names=names, reason=reason)
                    ]
                )
                await self._respond(respond, Reply(sorry, ok=False))
        finally:  # Slack confirmed these uploads: only now are they disclosed
            await self.gateway.record_delivery(delivered, f"slack:{dm}")

    # ------------------------------------------------------------------ buttons

    async def _on_action(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        user_obj = body.get("user") or {}
        user = str(user_obj.get("id") or "")
        team = str(user_obj.get("team_id") or (body.get("team") or {}).get("id") or "")
        command = str(action.get("value") or "")
        channel_obj = body.get("channel") or {}
        channel_id = str(
            channel_obj.get("id") or (body.get("container") or {}).get("channel_id") or ""
        )
        channel_name = str(channel_obj.get("name") or "")
        if not (user and team and command):
            await ack()
            return
        key = _key("action", body.get("trigger_id") or f"{channel_id}:{action.get('action_ts')}")
        assert key is not None
        payload = {
            "team": team,
            "user": user,
            "user_name": str(user_obj.get("username") or user_obj.get("name") or ""),
            "channel_id": channel_id,
            "channel_name": channel_name,
            "text": command,
            "response_url": str(body.get("response_url") or ""),
        }
        # Durable before the ack: a click is never resent by Slack.
        durable = await self._accept(key, "slack_action", payload)
        await ack()
        self._spawn(self._run_and_respond(key, payload, respond, user, durable=durable))

    def _invocation(self, key: str, p: dict[str, Any]) -> Invocation:
        """A command or click rebuilt from what the inbox kept of it."""
        channel_id = str(p.get("channel_id") or "")
        return Invocation(
            actor=Actor(PLATFORM, f"{p['team']}/{p['user']}", str(p.get("user_name") or "")),
            channel=self._channel(channel_id, str(p.get("channel_name") or ""))
            if channel_id
            else Channel(PLATFORM, f"user:{p['user']}", is_group=False),
            text=str(p.get("text") or ""),
            event_key=key,
        )

    async def _run_and_respond(
        self, key: str, payload: dict[str, Any], respond: Any, user: str, *, durable: bool
    ) -> None:
        try:
            inv = replace(self._invocation(key, payload), locale=await self._locale(user))
            reply = await self.gateway.dispatch(inv)
            if await self._answer(key if durable else None, lambda: self._respond(respond, reply)):
                self._after(reply, user, respond)
        except BaseException:
            if durable:
                await self.gateway.inbox.release(PLATFORM, key)
            raise

    # ------------------------------------------------------------------ events

    async def _on_mention(self, ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        await self._take_event(ack, body, event, mention=True)

    async def _on_message(self, ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        # Only plain messages people send the bot in its DM; edits, joins and bots are not commands.
        subtype = event.get("subtype")
        if (
            event.get("channel_type") != "im"
            or (subtype and subtype != "file_share")  # a photo with a caption (issue 16)
            or event.get("bot_id")
        ):
            await ack()
            return
        await self._take_event(ack, body, event, mention=False)

    async def _take_event(
        self, ack: Any, body: dict[str, Any], event: dict[str, Any], *, mention: bool
    ) -> None:
        """Commit the event to the inbox, then ack. If the store cannot take it, no ack:
        Slack delivers the event again (at once, +1 min, +5 min)."""
        key = _key("event", body.get("event_id"))
        user = str(event.get("user") or "")
        team = str(body.get("team_id") or event.get("team") or "")
        channel_id = str(event.get("channel") or "")
        if not (key and user and team and channel_id):
            await ack()
            return
        payload = {
            "team": team,
            "user": user,
            "channel_id": channel_id,
            "direct": event.get("channel_type") == "im",
            "mention": mention,
            "text": str(event.get("text") or ""),
        }
        images = images_of(event)
        if images:
            payload["files"] = images
        elif event.get("subtype") == "file_share":
            await ack()  # a file that is not an image: not for us
            return
        fresh = await self.gateway.inbox.accept(PLATFORM, key, "slack_event", payload)
        await ack()
        if not fresh or key in self._inflight:
            # Still being finished (here, or by the recovery of a stopped process).
            log.info("slack.duplicate_event", retry=body.get("retry_num"))
            metrics.INBOUND_DUPLICATES.labels(PLATFORM).inc()
            return
        self._spawn(self._run_event(key, payload, recovering=False))

    async def _run_event(self, key: str, p: dict[str, Any], *, recovering: bool) -> None:
        self._inflight.add(key)
        try:
            user, channel_id = str(p["user"]), str(p["channel_id"])
            text = command_line(str(p.get("text") or ""))
            uploads: tuple[Upload, ...] = ()
            if p.get("files"):  # a photo: evidence if its caption is a sighting's (issue 16)
                photo = caption_line(text)
                if photo is None:
                    await self.gateway.inbox.done(PLATFORM, key)
                    return
                text = photo
                if recovering or not await self.gateway.was_processed(PLATFORM, key):
                    uploads = uploads_of(
                        list(p["files"]),
                        self.settings.slack_bot_token or "",
                        self.settings.photo_max_bytes,
                    )
            name = await self._display_name(user, "", text)
            inv = Invocation(
                actor=Actor(PLATFORM, f"{p['team']}/{user}", name),
                channel=self._channel(channel_id, "directmessage" if p.get("direct") else ""),
                text=text,
                event_key=key,
                locale=await self._locale(user),
                uploads=uploads,
            )
            reply = await self.gateway.dispatch(inv)
            # The reply is posted by us, not returned: an event handled and answered before
            # (a retry after we finished) must not post it again; nor one that another
            # process took over while this one stalled (it answers).
            if not reply.duplicate or recovering:

                async def deliver() -> bool:
                    await self._post_reply(
                        reply,
                        channel_id,
                        user,
                        ephemeral=bool(p.get("mention")) and not render.is_public(reply),
                    )
                    return True

                if not await self._answer(key, deliver):
                    return
                self._after(reply, user)
        except BaseException:
            await self.gateway.inbox.release(PLATFORM, key)
            raise
        finally:
            self._inflight.discard(key)
        await self.gateway.inbox.done(PLATFORM, key)

    # ------------------------------------------------------------------ recovery

    async def _recover(self, entry: InboxEntry) -> None:
        """Finish an event a stopped process acknowledged (the inbox's recovery handler)."""
        p = entry.payload
        if entry.kind == "slack_event":
            await self._run_event(entry.event_key, p, recovering=True)
            return
        reply = await self.gateway.dispatch(self._invocation(entry.event_key, p))
        url = str(p.get("response_url") or "")
        age = (self.gateway.clock() - entry.received_at).total_seconds()

        async def deliver() -> bool:
            if url and age < RESPONSE_URL_SECONDS and await self._respond_url(url, reply):
                return True
            await self._late_dm(str(p["user"]), str(p.get("text") or ""), entry, reply)
            return True  # a failed DM raises: the inbox retries it later

        await self._answer(entry.event_key, deliver)

    async def _respond_url(self, url: str, reply: Reply) -> bool:
        """Post a reply to a `response_url` (valid 30 minutes, 5 uses); True if Slack took it."""
        try:
            result = await AsyncWebhookClient(url).send_dict(
                {**self._payload(reply), "replace_original": False}
            )
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("slack.respond_failed", error=type(exc).__name__)
            return False
        return bool(result.status_code == 200)

    async def _late_dm(self, user: str, text: str, entry: InboxEntry, reply: Reply) -> None:
        """The response_url has expired: tell the user privately what their command answered."""
        when = entry.received_at.strftime("%H:%M UTC")
        command = text if len(text) <= 80 else text[:79] + "…"
        note = Message(
            lines=[
                _(
                    "Your command `{command}` (sent at {when}) was run late, after Taskforce "
                    "restarted; this is what it answered:"
                ).format(command=command, when=when)
            ]
        )
        opened = await self.client.conversations_open(users=user)
        dm = opened["channel"]["id"]
        await self._post_reply(Reply(note, ok=reply.ok), dm, user, ephemeral=False)
        await self._post_reply(reply, dm, user, ephemeral=False)

    async def _post_reply(
        self, reply: Reply, channel_id: str, user: str, *, ephemeral: bool
    ) -> None:
        payload = self._payload(reply)
        try:
            if ephemeral:
                await self.client.chat_postEphemeral(
                    channel=channel_id,
                    user=user,
                    text=payload["text"],
                    blocks=payload["blocks"],
                    link_names=False,
                    parse="none",
                )
            else:
                await self.client.chat_postMessage(
                    channel=channel_id,
                    text=payload["text"],
                    blocks=payload["blocks"],
                    **render.INERT,
                )
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("slack.reply_failed", error=send_error(exc).reason)


_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)


def _request_key(body: dict[str, Any]) -> str | None:
    """The processed-once key a listener gives this request (None: it has none)."""
    if body.get("type") == "event_callback":
        return _key("event", body.get("event_id"))
    if "payload" in body or body.get("type") == "block_actions":
        return None  # a click's key needs its action: it is not looked up here
    if body.get("command"):
        return _key("cmd", body.get("trigger_id") or _body_digest(body))
    return None


def _body_digest(body: dict[str, Any]) -> str:
    """A stand-in key for a request Slack sent without a trigger id: the same signed body
    delivered twice (a replay within the signature's five minutes) is run once."""
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return "body-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _key(kind: str, value: object) -> str | None:
    """The processed-once key of an inbound request (None when Slack sent none)."""
    return f"{kind}:{value}" if value else None
