"""The Matrix adapter: matrix-nio against the configured homeserver, driven from the lifespan.

Inbound: one sync loop (`/sync`, long-polled). The bot account joins the rooms it is invited
to, end-to-end encrypted ones too: nio decrypts their events with the device's durable key
store (`matrix_crypto`), and encrypts what the bot posts there to the devices the trust
policy allows. An encrypted event whose room key has not come within `DECRYPT_WAIT` seconds
gets one private sentence (asking to send it again) and is logged without content. `!tf …`
or `/tf …` typed as text in a room or a DM is a core command; a reply to one of the bot's
messages that is just a number presses that numbered button. Everything else is ignored
without touching the store.

Nothing is missed or run twice across restarts: every command event of a sync batch is
committed to the durable inbox (`bot/store/inbox.py`, key = the event id) *before* the batch's
`next_batch` token is saved (the gateway's platform cursor), and the event id is the
command's processed-once key. A restart resumes from the saved token; an event the server
sends again finds its key and posts nothing. On the very first start (no token yet) the
room history of the initial sync is not run. The sync's filter asks for long room timelines
(`TIMELINE_LIMIT`); a timeline the server still cuts (`limited`) is paged back with
`/messages` from its `prev_batch` to the previous sync token, and those events go to the
inbox first, in order (README "Matrix").

Outbound: replies and posts are `m.notice` events with a plain `body` and an escaped HTML
`formatted_body`; buttons become numbered lines (and the command to type). A room is one
person's private chat only while the homeserver counts exactly the bot and them as joined
members — asked when the command comes in and again before a private answer is sent, never
taken from an invite's `is_direct`. A reply only the actor may see goes to such a DM room
(the bot opens it; they must accept), with a short pointer in the room; until one is
confirmed, nothing private is sent and the pointer says to accept the invitation. A reply's
transaction ids come from the command's event id, so a reply sent again after a crash is
posted once. `MatrixSender` delivers outbox posts; a 429 becomes `SendError` with the
server's `retry_after_ms`, so the outbox waits and sends the post once. Files are not
delivered on Matrix yet (the reply says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import aiohttp
import structlog
from nio import (
    AsyncClient,
    EncryptionError,
    ErrorResponse,
    JoinedMembersResponse,
    MatrixRoom,
    MegolmEvent,
    MessageDirection,
    OlmUnverifiedDeviceError,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
)
from starlette.routing import BaseRoute

from bot.adapters import matrix_crypto as crypto
from bot.adapters import matrix_media as media
from bot.base import metrics
from bot.base.config import Settings
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
    Visibility,
    caption_line,
    strip_prefix,
)
from bot.gateway import Gateway, InboxEntry, Placement

log = structlog.get_logger(__name__)

PLATFORM = "matrix"
INBOX_KIND = "matrix_event"
PREFIXES = ("!tf", "/tf")
BUTTONS_KEY = "org.taskforce.buttons"  # the commands behind a message's numbered buttons
SYNC_CURSOR = "sync"
DM_CURSOR = "dm:"  # + user id → the DM room the bot opened (or was invited to) with them
# Matrix allows 64 KiB per event (body and HTML body together, in UTF-8): parts stay well below.
CAPABILITIES = Capabilities(private_replies=False, files=True, buttons=True, max_length=10_000)
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*$")
# README "Matrix": a sync's room timeline holds up to this many events (a burst of commands
# and the bot's replies); a timeline the server still cuts (`limited`) is paged back.
TIMELINE_LIMIT = 100
SYNC_FILTER: dict[str, Any] = {
    "room": {"timeline": {"limit": TIMELINE_LIMIT}, "state": {"lazy_load_members": True}}
}
PAGE = 100  # events per `/messages` page when fetching a gap
# README "Matrix": an encrypted event whose room key has not come within this many seconds
# gets one private sentence instead of an answer (its content is never logged).
DECRYPT_WAIT = 30.0
_UNREADABLE = N_("I could not read your message; please send it again.")
_UNVERIFIED = N_(
    "I did not run your command: it came from a device this bot's operator has not "
    "verified. Ask them to add your device, or send it from a verified one."
)
DM_WAIT = 60.0  # seconds the outbox waits before trying a DM room not accepted yet
# A DM room the bot opens shows a later joiner nothing from before their invitation.
_DM_STATE = [
    {
        "type": "m.room.history_visibility",
        "state_key": "",
        "content": {"history_visibility": "invited"},
    },
    {  # end-to-end encrypted
        "type": "m.room.encryption",
        "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
    },
]


class MatrixConfigError(RuntimeError):
    """The Matrix configuration cannot work; the message says what to set."""


class NoKeyYet(Exception):
    """An encrypted event's room key has not come (yet)."""


class GapError(RuntimeError):
    """The homeserver did not give the events a limited timeline left out."""


class NotPrivate(SendError):
    """No room the homeserver confirms is the bot's and the reader's alone (README "Matrix"):
    nothing private may be sent; the DM room is opened, or the reader invited to it again."""

    def __init__(self, user: str) -> None:
        super().__init__("matrix: no direct chat confirmed", retry_after=DM_WAIT)
        self.user = user


# ------------------------------------------------------------------- rendering


def _inline(text: str) -> str:
    """User text escaped for HTML, then `code` spans (their content escaped too)."""
    parts = html.escape(text, quote=False).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def render(message: Message) -> dict[str, Any]:
    """The neutral message as `m.notice` content: plain body, escaped HTML, numbered buttons."""
    lines: list[str] = []
    head = message.title
    if message.mark:
        head = f"[{message.mark}] {head}" if head else f"[{message.mark}]"
    if head:
        lines.append(f"<b>{_inline(head)}</b>")
    lines += [f"<b>{_inline(k)}</b>: {_inline(v)}" for k, v in message.fields]
    lines += [_inline(line) for line in message.lines]
    if message.context:
        lines.append(f"<i>{_inline(message.context)}</i>")
    plain = message.plain_text().splitlines()
    if message.buttons:
        plain = plain[:-1]  # plain_text's "[a]  [b]" row: numbered lines instead
        lines.append(_inline(_("Reply to this message with a number:")))
        plain.append(_("Reply to this message with a number:"))
        for i, b in enumerate(message.buttons, 1):
            code = html.escape(b.command)
            lines.append(f"{i}. {_inline(b.label)} — <code>!tf {code}</code>")  # i18n: keep
            plain.append(f"{i}. {b.label} — !tf {b.command}")
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": "\n".join(plain),
        "format": "org.matrix.custom.html",
        "formatted_body": "<br>".join(lines),
    }
    if message.buttons:
        content[BUTTONS_KEY] = [b.command for b in message.buttons]
    return content


def parts(message: Message, limit: int = CAPABILITIES.max_length) -> list[Message]:
    """The message cut into messages of at most `limit` characters, between lines: the title
    and fields open the first, the context and buttons close the last."""
    if len(message.plain_text()) <= limit:
        return [message]
    head = replace(message, lines=[], context="", buttons=[])
    out: list[Message] = []
    current = head
    for line in message.lines:
        line = line if len(line) <= limit else line[: limit - 1] + "…"
        candidate = replace(current, lines=[*current.lines, line])
        if current.lines and len(candidate.plain_text()) > limit:
            out.append(current)
            candidate = Message(lines=[line], tlp=message.tlp)
        current = candidate
    closed = replace(current, context=message.context, buttons=message.buttons)
    if len(closed.plain_text()) > limit:  # the closing lines get a part of their own
        out.append(current)
        closed = Message(context=message.context, buttons=message.buttons, tlp=message.tlp)
    out.append(closed)
    return out


def command_of(content: dict[str, Any]) -> str | None:
    """The core command line of a text message: after `!tf` or `/tf`; None when it is none."""
    if content.get("msgtype") != "m.text" or not isinstance(content.get("body"), str):
        return None
    line = strip_prefix(_without_reply_fallback(content["body"]), PREFIXES)
    if line is None:
        return None
    return line or "help"


def photo_of(content: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(the `photo …` command line, the image to fetch) when the event is an image whose
    caption is a sighting's (`S-1 at "Pier 9"`, `SG-4`, `!tf photo …`); None otherwise."""
    caption = media.caption_of(content)
    if caption is None:
        return None
    line = caption_line(strip_prefix(caption, PREFIXES) or caption)
    image = media.image_of(content)
    if line is None or image is None:
        return None
    return line, image


def _without_reply_fallback(body: str) -> str:
    """A reply's body without the quoted lines (`> …`) clients put before it."""
    lines = body.splitlines()
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).strip()


def pressed(content: dict[str, Any]) -> tuple[str, int] | None:
    """(event id replied to, number) when the message is a reply that is just a number."""
    relates = content.get("m.relates_to")
    reply_to = relates.get("m.in_reply_to") if isinstance(relates, dict) else None
    event_id = reply_to.get("event_id") if isinstance(reply_to, dict) else None
    body = content.get("body")
    if not isinstance(event_id, str) or not isinstance(body, str):
        return None
    match = _NUMBER.match(_without_reply_fallback(body))
    return (event_id, int(match.group(1))) if match else None


def send_error(resp: ErrorResponse) -> SendError:
    """Map a homeserver's refusal onto the outbox's retry rules."""
    code = str(resp.status_code or "")
    if code in ("M_LIMIT_EXCEEDED", "429"):
        wait = (resp.retry_after_ms or 5000) / 1000
        return SendError("matrix rate limited", retry_after=wait)
    if code in ("M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_TOKEN", "M_TOO_LARGE", "M_BAD_JSON"):
        return SendError(f"matrix refused: {code}", permanent=True)
    return SendError(f"matrix unavailable: {code or 'error'}")


async def probe(settings: Settings) -> tuple[bool, str]:
    """`taskforce check`: does the homeserver answer and accept the token (or the login)?"""
    client = AsyncClient(settings.matrix_homeserver or "", settings.matrix_user_id or "")
    try:
        if settings.matrix_access_token:
            client.access_token = settings.matrix_access_token
        else:
            login = await client.login(
                settings.matrix_password or "", device_name="taskforce-check"
            )
            if isinstance(login, ErrorResponse):
                return False, f"login refused: {login.status_code}"
        who = await client.whoami()
        if isinstance(who, ErrorResponse):
            return False, f"whoami refused the token: {who.status_code}"
        return True, f"whoami: {who.user_id}"
    finally:
        await client.close()


# ------------------------------------------------------------------- outbound


class MatrixSender:
    """Sends `m.notice` events to rooms, or to a user's DM room; the outbox's `matrix` sender."""

    platform = PLATFORM
    capabilities = CAPABILITIES

    def __init__(self, client: AsyncClient, gateway: Gateway, interval: float) -> None:
        self.client = client
        self.gateway = gateway
        self.interval = interval
        self._dm_lock = asyncio.Lock()

    def min_interval(self, channel_key: str) -> float:
        """Seconds between two posts to one room."""
        return self.interval

    async def send(
        self, channel_key: str, message: Message, *, key: str | None = None
    ) -> str | None:
        """Deliver one outbox post (`!room:server`, or `@user:server` for their DM room).
        The outbox row's `key` makes the transaction ids: a retry of a send whose answer
        was lost is the same transaction, which the homeserver does not post again."""
        try:
            room_id = await self.room_for(channel_key)
            reader = await self.gateway.private_link_reader(PLATFORM, channel_key)
            if reader is not None and not await self.private_with(room_id, reader):
                # Linked as one person's chat, its posts are written for them alone.
                raise SendError("matrix: a private room has others in it", permanent=True)
            return await self.post(room_id, message, key=key)
        except SendError:
            raise
        except Exception as exc:  # the class only: the text may quote the message
            raise SendError(f"matrix unreachable: {type(exc).__name__}") from exc

    async def post(self, room_id: str, message: Message, *, key: str | None = None) -> str:
        """Send one message (in parts when long); return the last event id (the one with
        the buttons). `key`: a stable transaction id stem (else each send is new). Raises
        `SendError`."""
        event_id = ""
        for i, part in enumerate(parts(message)):
            event_id = await self.send_content(room_id, render(part), f"{key}.{i}" if key else None)
        return event_id

    async def send_content(self, room_id: str, content: dict[str, Any], txn: str | None) -> str:
        """Send one `m.room.message` (encrypted in an encrypted room); its event id. Raises
        `SendError`."""
        await self._prepare(room_id)
        try:
            resp = await self.client.room_send(
                room_id, "m.room.message", content, txn or str(uuid.uuid4())
            )
        except OlmUnverifiedDeviceError as exc:  # a device seen since the trust was set
            raise SendError("matrix: a member device is not trusted yet") from exc
        if not isinstance(resp, RoomSendResponse):
            assert isinstance(resp, ErrorResponse)
            raise send_error(resp)
        return str(resp.event_id)

    async def send_file(self, room_id: str, item: Attachment, txn: str | None) -> str:
        """Upload one file to the media repository (encrypted first in an encrypted room)
        and post it as `m.file`. Raises `SendError`."""
        room = self.client.rooms.get(room_id) or await self._room(room_id)
        try:
            content = await media.file_content(
                self.client.homeserver,
                self.client.access_token,
                item.content,
                item.mime_type,
                item.filename,
                encrypted=room.encrypted,
            )
        except (media.MediaError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SendError(f"matrix upload failed: {type(exc).__name__}") from exc
        return await self.send_content(room_id, content, txn)

    async def _prepare(self, room_id: str) -> None:
        """Before a post to an encrypted room: the members and their devices known now, each
        device trusted or blacklisted by the policy (`tofu`: trusted when first seen), so
        the room key goes to no device the policy does not trust; one seen in between makes
        nio refuse (OlmUnverifiedDeviceError), and the post is tried again."""
        if self.client.olm is None:
            return
        room = self.client.rooms.get(room_id) or await self._room(room_id)
        if not room.encrypted:
            return
        if not room.members_synced:
            await self.client.joined_members(room_id)
        if self.client.should_query_keys:
            await self.client.keys_query()
        crypto.apply_trust(self.client, self.gateway.settings)

    async def _room(self, room_id: str) -> MatrixRoom:
        """A room no sync has shown this process yet (one it just opened, or a post before
        the first sync): whether it is encrypted, asked of the homeserver, for nio."""
        resp = await self.client.room_get_state_event(room_id, "m.room.encryption")
        if isinstance(resp, ErrorResponse) and str(resp.status_code) != "M_NOT_FOUND":
            raise send_error(resp)
        room = MatrixRoom(room_id, self.client.user_id, room_id in self.client.encrypted_rooms)
        if not isinstance(resp, ErrorResponse):
            room.encrypted = True
        self.client.rooms.setdefault(room_id, room)
        return self.client.rooms[room_id]

    async def joined(self, room_id: str) -> set[str] | None:
        """The room's joined members as the homeserver counts them now (None: it would not say)."""
        resp = await self.client.joined_members(room_id)
        if not isinstance(resp, JoinedMembersResponse):
            return None
        return {m.user_id for m in resp.members}

    async def private_with(self, room_id: str, user: str) -> bool:
        """Are the bot and `user` the room's only joined members, counted now? (Never taken
        from an invite's `is_direct`: anyone may be in such a room.)"""
        return await self.joined(room_id) == {self.client.user_id, user}

    async def room_for(self, channel_key: str) -> str:
        """The room to post to: the key itself, or the DM room of a user id — one the
        homeserver confirms, now, has exactly the bot and them as joined members. Otherwise
        `NotPrivate`, after opening a DM room (invited: they must accept) or inviting them to
        it again; a room a third person joined is given up for a new one."""
        if not channel_key.startswith("@"):
            return channel_key
        async with self._dm_lock:
            known = await self.gateway.cursor(PLATFORM, DM_CURSOR + channel_key)
            members = await self.joined(known) if known else None
            if known and members == {self.client.user_id, channel_key}:
                return known
            if known and members is not None and members <= {self.client.user_id}:
                await self.client.room_invite(known, channel_key)  # they left, or never came
                raise NotPrivate(channel_key)
            resp = await self.client.room_create(
                is_direct=True, invite=[channel_key], initial_state=_DM_STATE
            )
            if not isinstance(resp, RoomCreateResponse):
                assert isinstance(resp, ErrorResponse)
                raise send_error(resp)
            await self.gateway.save_cursor(PLATFORM, DM_CURSOR + channel_key, resp.room_id)
            if await self.private_with(resp.room_id, channel_key):
                return str(resp.room_id)
            raise NotPrivate(channel_key)


# -------------------------------------------------------------------- adapter


class MatrixAdapter:
    """The Matrix platform adapter: the sync loop, inbound commands, replies."""

    platform = PLATFORM

    def __init__(self, gateway: Gateway) -> None:
        settings = gateway.settings
        if not settings.matrix_homeserver:
            raise MatrixConfigError("MATRIX_HOMESERVER is not set.")
        if not (
            settings.matrix_access_token or (settings.matrix_user_id and settings.matrix_password)
        ):
            raise MatrixConfigError(
                "Set MATRIX_ACCESS_TOKEN (or MATRIX_USER_ID and MATRIX_PASSWORD to log in)."
            )
        self.gateway = gateway
        self.settings = settings
        # nio retries nothing itself: the outbox owns retries (and honours retry_after_ms).
        if not crypto.available():
            raise MatrixConfigError("Install matrix-nio[e2e] (vodozemac): `make install`.")
        crypto.verified_devices(settings.matrix_verified_devices)  # a bad entry stops here
        self.client = AsyncClient(
            settings.matrix_homeserver,
            settings.matrix_user_id or "",
            store_path=str(crypto.store_dir(settings)),
            config=crypto.client_config(settings),
        )
        if settings.matrix_access_token:
            self.client.access_token = settings.matrix_access_token
        self.out = MatrixSender(self.client, gateway, settings.matrix_post_interval)
        self.sender: Sender = self.out
        gateway.inbox.register(INBOX_KIND, self._recover)
        self.user_id = settings.matrix_user_id or ""
        self.position: str | None = None  # the last sync token whose events are handled
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._problem: str | None = "not started"
        # Encrypted events whose room key has not come yet: event id → inbox payload.
        self._waiting: dict[str, dict[str, Any]] = {}
        self._orphans: list[str] = []  # events of a failed batch whose lease to give up

    # ---------------------------------------------------------------- lifecycle

    def routes(self) -> list[BaseRoute]:
        """None: the bot pulls events from the homeserver."""
        return []

    async def start(self) -> None:
        """Log in (or check the token), then start the sync loop from the saved token."""
        if not self.client.access_token:
            resp = await self.client.login(
                self.settings.matrix_password or "", device_name="taskforce"
            )
            if isinstance(resp, ErrorResponse):
                raise MatrixConfigError(f"Matrix login failed: {resp.status_code}")
        who = await self.client.whoami()
        if isinstance(who, ErrorResponse):
            raise MatrixConfigError(f"Matrix refused the access token: {who.status_code}")
        self.user_id = self.client.user_id = who.user_id
        if not who.device_id:
            raise MatrixConfigError("The homeserver did not say the token's device id.")
        crypto.open_store(self.client, who.user_id, who.device_id, self.client.access_token)
        await crypto.maintain(self.client)  # the device's keys, uploaded once
        self.position = await self.gateway.cursor(PLATFORM, SYNC_CURSOR)
        self._stopping.clear()
        self._task = asyncio.create_task(self._sync_loop(), name="matrix-sync")
        self._problem = None
        log.info("matrix.started", user=self.user_id, resumed=self.position is not None)

    async def finish_inbound(self, timeout: float) -> None:
        """Stop syncing; the batch in hand is finished first (at most `timeout` s)."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    async def stop(self) -> None:
        """Stop the sync loop and close the client (after the outbox worker)."""
        await self.finish_inbound(1.0)
        await self.client.close()
        self._problem = "stopped"

    def ready(self) -> str | None:
        """None while syncing, else why not."""
        return self._problem

    # ---------------------------------------------------------------- sync loop

    async def _sync_loop(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            sync = asyncio.ensure_future(
                self.client.sync(
                    timeout=self.settings.matrix_sync_timeout_ms,
                    since=self.position,
                    sync_filter=SYNC_FILTER,
                )
            )
            stop = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({sync, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not sync.done():  # stopping during a long poll: nothing of it was taken
                sync.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sync
                return
            try:
                resp = sync.result()
                if isinstance(resp, SyncResponse):
                    await self._take(resp)
                    await self._after_sync()
                    delay, self._problem = 1.0, None
                    continue
                self._problem = f"sync failed: {getattr(resp, 'status_code', 'error')}"
                wait = (getattr(resp, "retry_after_ms", None) or 0) / 1000 or delay
            except Exception as exc:
                self._problem = f"sync failed: {type(exc).__name__}"
                log.warning("matrix.sync_failed", error=type(exc).__name__)
                wait = delay
            delay = min(delay * 2, 30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)

    async def _take(self, resp: SyncResponse) -> None:
        """One sync batch: invites, then the commands — with the events a limited timeline
        left out, fetched first — in the inbox, in order; only then the token."""
        first = self.position is None
        await self._release_orphans()
        rooms: list[tuple[str, list[Any]]] = []
        for room_id, info in resp.rooms.join.items():
            gap: list[Any] = []
            if info.timeline.limited and not first:  # raises: the token stays where it was
                gap = await self._gap(room_id, info.timeline.prev_batch)
            rooms.append((room_id, [*info.state, *gap, *info.timeline.events]))
        for room_id, invited in resp.rooms.invite.items():
            await self._on_invite(room_id, invited.invite_state)
        fresh: list[tuple[str, dict[str, Any]]] = []
        try:
            for room_id, events in rooms:
                for event in events:
                    source = getattr(event, "source", None)
                    if not isinstance(source, dict) or source.get("sender") == self.user_id:
                        continue
                    kind = source.get("type")
                    if first or kind not in ("m.room.message", "m.room.encrypted"):
                        continue  # the room history before this bot's first start is not run
                    payload = self._payload(room_id, event, source)
                    if payload is None:
                        continue
                    if await self.gateway.inbox.accept(
                        PLATFORM, source["event_id"], INBOX_KIND, payload
                    ):
                        fresh.append((source["event_id"], payload))
            # Every command of the batch is durable: only now may the server forget it.
            await self.gateway.save_cursor(PLATFORM, SYNC_CURSOR, resp.next_batch)
            await self._finish_all(fresh)
        finally:
            # A batch stopped mid-way (the store failed, a stop): what it took and did not
            # finish is in the inbox under this process's lease, which it renews — the
            # recovery would never take it. Its lease is given up now, for the recovery.
            self._orphans.extend(key for key, _ in fresh)
            await self._release_orphans()
        self.position = resp.next_batch

    async def _finish_all(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Finish events in order; each is removed from `items` once finished (what is left
        when this raises was not)."""
        while items:
            key, payload = items[0]
            await self._finish(key, payload, recovering=False)
            items.pop(0)

    async def _release_orphans(self) -> None:
        """Give up the leases of events a failed batch left (kept to retry if the store is
        still failing)."""
        while self._orphans:
            try:
                await self.gateway.inbox.release(PLATFORM, self._orphans[0])
            except Exception as exc:
                log.warning("matrix.release_failed", error=type(exc).__name__)
                return
            self._orphans.pop(0)

    def _payload(self, room_id: str, event: Any, source: dict[str, Any]) -> dict[str, Any] | None:
        """What the inbox keeps of a timeline event, or None when it is no command. An event
        nio could not decrypt (its room key has not come yet) is kept encrypted, to be
        decrypted when the key comes; a decrypted one says whether its device is trusted."""
        payload: dict[str, Any] = {"room_id": room_id, "event": source}
        if source.get("type") == "m.room.encrypted":
            payload["received"] = time.time()
            return payload
        content = source.get("content") or {}
        if command_of(content) is None and pressed(content) is None and photo_of(content) is None:
            return None
        if getattr(event, "decrypted", False):
            payload["encrypted"] = True
            payload["verified"] = bool(getattr(event, "verified", False))
        return payload

    async def _after_sync(self) -> None:
        """Key upkeep and trust after a sync; then the encrypted events waiting for a key."""
        await crypto.maintain(self.client)
        crypto.apply_trust(self.client, self.settings)
        waiting, self._waiting = list(self._waiting.items()), {}
        try:
            await self._finish_all(waiting)
        finally:
            self._orphans.extend(key for key, _ in waiting)
            await self._release_orphans()

    async def _gap(self, room_id: str, prev_batch: str | None) -> list[Any]:
        """The events a limited timeline left out, oldest first: paged back (`/messages`)
        from the timeline's start to the last sync position, whose events were all taken."""
        found: list[Any] = []
        start = prev_batch
        while start:
            resp = await self.client.room_messages(
                room_id, start, self.position, MessageDirection.back, PAGE
            )
            if not isinstance(resp, RoomMessagesResponse):
                raise GapError(f"messages refused: {getattr(resp, 'status_code', 'error')}")
            found += resp.chunk
            if not resp.chunk or resp.end in (None, start):
                break
            start = resp.end
        log.info("matrix.gap_fetched", room=room_id, events=len(found))
        return found[::-1]

    async def _recover(self, entry: InboxEntry) -> None:
        """Finish an event a stopped process took in and did not finish (inbox recovery)."""
        await self._finish(entry.event_key, entry.payload, recovering=True)

    async def _finish(self, key: str, payload: dict[str, Any], *, recovering: bool) -> None:
        try:
            payload = self._decrypted(payload)
        except NoKeyYet:
            if time.time() - float(payload.get("received") or 0) < DECRYPT_WAIT:
                self._waiting[key] = payload  # still this process's: tried after each sync
                return
            payload = {**payload, "unreadable": True}
        try:
            await self._on_event(key, payload, recovering)
        except Exception:
            log.exception("matrix.event_failed")
            await self.gateway.inbox.release(PLATFORM, key)
            return
        await self.gateway.inbox.done(PLATFORM, key)

    # ---------------------------------------------------------------- rooms

    async def _on_invite(self, room_id: str, state: Sequence[Any]) -> None:
        """Join (an encrypted room too); remember a DM (the invite says `is_direct`)."""
        mine = next((e for e in state if getattr(e, "state_key", None) == self.user_id), None)
        joined = await self.client.join(room_id)
        if isinstance(joined, ErrorResponse):
            log.warning("matrix.join_failed", room=room_id, error=joined.status_code)
            return
        content = getattr(mine, "content", None) or {}
        inviter = getattr(mine, "sender", None)
        if content.get("is_direct") and isinstance(inviter, str):
            await self.gateway.save_cursor(PLATFORM, DM_CURSOR + inviter, room_id)
        log.info("matrix.joined", room=room_id, direct=bool(content.get("is_direct")))

    # ---------------------------------------------------------------- commands

    def _decrypted(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload with its event decrypted, if it is still encrypted; NoKeyYet when the
        room key is still missing."""
        event = payload["event"]
        if event.get("type") != "m.room.encrypted":
            return payload
        olm = self.client.olm
        if olm is None:
            raise NoKeyYet
        try:
            clear = olm.decrypt_megolm_event(MegolmEvent.from_dict(event), payload["room_id"])
        except EncryptionError as exc:
            raise NoKeyYet from exc
        source = getattr(clear, "source", None)
        if not isinstance(source, dict):
            raise NoKeyYet
        return {
            **payload,
            "event": source,
            "encrypted": True,
            "verified": bool(getattr(clear, "verified", False)),
        }

    async def _on_event(self, key: str, payload: dict[str, Any], recovering: bool) -> None:
        room_id, event = str(payload["room_id"]), payload["event"]
        user = str(event.get("sender") or "")
        if payload.get("unreadable"):
            log.warning("matrix.undecryptable", event_id=key, sender=user)  # no content
            await self._tell(room_id, user, key, _UNREADABLE)
            return
        if (
            payload.get("encrypted")
            and self.settings.matrix_trust == "verified"
            and not payload.get("verified")
        ):
            log.warning("matrix.unverified_device", event_id=key, sender=user)
            await self._tell(room_id, user, key, _UNVERIFIED)
            return
        content = event.get("content") or {}
        uploads: tuple[Upload, ...] = ()
        line = command_of(content)
        photo = photo_of(content)
        if photo is not None:  # an image with a sighting's caption: evidence (README "Matrix")
            line, image = photo
            if recovering or not await self.gateway.was_processed(PLATFORM, key):
                uploads = (
                    media.upload_of(
                        image,
                        self.client.homeserver,
                        self.client.access_token,
                        self.settings.photo_max_bytes,
                    ),
                )
        elif line is None:
            press = pressed(content)
            if press is None:
                return
            line = await self._button(room_id, *press)
            if line is None:
                return
        room = self.client.rooms.get(room_id)
        direct = await self.out.private_with(room_id, user)
        name = room.user_name(user) if room is not None else None
        inv = Invocation(
            Actor(PLATFORM, user, name or user),
            Channel(
                PLATFORM,
                room_id,
                (room.display_name if room else "") or room_id,
                is_group=not direct,
            ),
            line,
            event_key=key,
            uploads=uploads,
        )
        reply = await self.gateway.dispatch(inv)
        if reply.duplicate and not recovering:
            log.info("matrix.duplicate", event_id=key)
            metrics.INBOUND_DUPLICATES.labels(PLATFORM).inc()
            return
        await self.deliver(reply, room_id, user, is_group=not direct, key=key)

    async def _tell(self, room_id: str, user: str, key: str, text: str) -> None:
        """One sentence only `user` may read, in place of running their event."""
        direct = await self.out.private_with(room_id, user)
        reply = Reply(Message(lines=[_(text)]), visibility=Visibility.PRIVATE)
        await self.deliver(reply, room_id, user, is_group=not direct, key=key)

    async def _button(self, room_id: str, event_id: str, number: int) -> str | None:
        """The command behind button `number` of the bot's message `event_id`."""
        resp = await self.client.room_get_event(room_id, event_id)
        if not isinstance(resp, RoomGetEventResponse):
            return None
        source = resp.event.source
        commands = (source.get("content") or {}).get(BUTTONS_KEY)
        if source.get("sender") != self.user_id or not isinstance(commands, list):
            return None
        if not 1 <= number <= len(commands):
            return None
        return str(commands[number - 1])

    # ---------------------------------------------------------------- replies

    async def deliver(
        self, reply: Reply, room_id: str, user: str, *, is_group: bool, key: str | None = None
    ) -> None:
        """Send a reply where it may be seen: the room, or the actor's DM room. A room taken
        as private when the command came in is counted again now: a third person who joined
        since makes it a group. `key` (the command's event id) makes the transaction ids, so
        a reply sent again after a crash is the same event."""
        messages = self.gateway.outgoing(reply, CAPABILITIES)
        files = [item for m in messages for item in m.attachments]
        messages = [replace(m, attachments=[]) for m in messages]
        if not is_group and not await self.out.private_with(room_id, user):
            is_group = True
        stem = f"re.{key}" if key else None
        if self.gateway.placement(reply, CAPABILITIES, is_group) is Placement.CHANNEL:
            await self._post_all(room_id, messages, stem)
            if files:  # files only ever go to a room the reader has alone with the bot
                await self._send_files(room_id if not is_group else user, files, stem)
            return
        icon = "🔒 " if reply.confidential else ""
        try:
            await self.out.room_for(user)  # the user's DM room, confirmed now, else NotPrivate
        except NotPrivate:
            note = _(
                "{icon}{who}, your answer is private and I have no direct chat with you yet: "
                "accept my invitation to one (or open one with me), then send the command again."
            ).format(icon=icon, who=user)
        except SendError:  # the homeserver is busy: the outbox delivers it once it is private
            await self.gateway.queue_replies(PLATFORM, user, messages)
            note = _("{icon}{who}, I sent you the answer in a private chat.").format(
                icon=icon, who=user
            )
        else:
            await self._post_all(user, messages, stem)
            if files:
                await self._send_files(user, files, stem)
            note = _("{icon}{who}, I sent you the answer in a private chat.").format(
                icon=icon, who=user
            )
        await self._post_all(room_id, [Message(lines=[note])], f"{stem}.note" if stem else None)

    async def _send_files(
        self, channel_key: str, files: Sequence[Attachment], stem: str | None
    ) -> None:
        """Send a reply's files (exports) to a room confirmed now as the reader's alone with
        the bot (a user id: their DM room); each file the homeserver took is recorded as
        delivered there. Files do not go through the outbox: one that could not be sent is
        named in one sentence, and was shared nowhere."""
        delivered: list[tuple[Attachment, str]] = []
        room_id = ""
        try:
            room_id = await self.out.room_for(channel_key)
            if channel_key.startswith("!") and len(await self.out.joined(room_id) or ()) != 2:
                raise NotPrivate(channel_key)
            for i, item in enumerate(files):
                await self.out.send_file(room_id, item, f"{stem}.f{i}" if stem else None)
                delivered.append((item, item.filename))
        except SendError as exc:
            log.warning("matrix.file_not_sent", error=exc.reason)
            names = ", ".join(f.filename for f in files[len(delivered) :])
            sorry = _(
                "I could not send you {names} ({reason}); it was not shared "
                "anywhere else. Try again in a minute."
            ).format(names=names, reason=exc.reason)
            await self._post_all(channel_key, [Message(lines=[sorry])])
        finally:  # the homeserver took these: only now are they disclosed
            if delivered:
                await self.gateway.record_delivery(delivered, f"matrix:{room_id}")

    async def _post_all(
        self, channel_key: str, messages: Sequence[Message], stem: str | None = None
    ) -> None:
        """Send now; what the homeserver refuses for now (429, down) goes to the outbox. A
        user id's DM room is confirmed private before each message (`room_for`)."""
        for i, message in enumerate(messages):
            try:
                txn = f"{stem}.{i}" if stem else None
                await self.out.post(await self.out.room_for(channel_key), message, key=txn)
            except SendError as exc:
                if exc.permanent:
                    log.warning("matrix.reply_refused", error=exc.reason)
                    continue
                log.info("matrix.reply_deferred", error=exc.reason)
                await self.gateway.queue_replies(PLATFORM, channel_key, messages[i:])
                return
            except Exception as exc:
                log.warning("matrix.reply_deferred", error=type(exc).__name__)
                await self.gateway.queue_replies(PLATFORM, channel_key, messages[i:])
                return
