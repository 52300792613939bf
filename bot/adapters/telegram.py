"""The Telegram adapter: python-telegram-bot driven from the server's lifespan.

Inbound: `POST /telegram/webhook` (secret token checked in constant time) or long polling
(`TELEGRAM_POLLING=1`) feed updates to a PTB `Application`; one handler turns commands
(`/tf <command>`, `/op …`, `/check …`, with or without `@botname`) and button presses into
core invocations. Everything else (edited messages, stickers, channel posts, plain text) is
ignored without touching the store. Each update is processed once (its key is recorded with
the command's effect; a redelivered update is dropped before anything is sent).

Outbound: replies are rendered as Telegram HTML (`telegram_render`) with inline keyboards
(`telegram_buttons`). A reply only the actor may see (private visibility, or confidential:
above the chat's TLP ceiling, TLP:RED always) goes to the member's private chat with the
bot, with a short pointer in the group; it never goes to the group. `TelegramSender` delivers
outbox posts and maps Telegram's errors onto `SendError`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import (
    Bot,
    BotCommand,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    ReplyParameters,
    Update,
    User,
)
from telegram import Message as TgMessage
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.warnings import PTBDeprecationWarning

from bot.adapters.telegram_buttons import decode, encode_all
from bot.adapters.telegram_field import PhotoRef, field_line, photo_line, photo_of
from bot.adapters.telegram_render import button_rows, render_html, split_html
from bot.base import metrics
from bot.base.config import Settings
from bot.base.i18n import CHANNEL_LANGUAGE, _, pick_language, use_language
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
)
from bot.gateway import Gateway, InboxEntry, Placement, Registry

log = structlog.get_logger(__name__)

# PTB 22 warns on every RetryAfter it builds (the int → timedelta migration of retry_after);
# `retry_seconds` reads both forms, so the warning says nothing to an operator.
warnings.filterwarnings("ignore", message=r".*retry_after", category=PTBDeprecationWarning)

PLATFORM = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
INBOX_KIND = "telegram_update"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
# A later part of a split message that hits the flood limit is retried here, for waits up to
# this long: raising instead would make the outbox resend the parts already delivered.
MAX_PART_WAIT = 10.0

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)\s*(.*)$", re.S)
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
# No reply only the actor sees inside a group: those go to the private chat.
CAPABILITIES = Capabilities(private_replies=False, files=True, buttons=True, max_length=4096)


def file_url(api_url: str) -> str:
    """The Bot API's file download base for an API base (`…/bot` → `…/file/bot`)."""
    base = api_url.rstrip("/")
    return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file/bot"


class TelegramConfigError(RuntimeError):
    """The Telegram configuration cannot work; the message says what to set."""


# ------------------------------------------------------------------- identity


def actor_of(user: User) -> Actor:
    """The platform identity of a Telegram user: key is the numeric user id."""
    name = user.full_name or (f"@{user.username}" if user.username else str(user.id))
    return Actor(PLATFORM, str(user.id), name)


def channel_of(chat: Chat) -> Channel:
    """The channel of a Telegram chat: key is the numeric chat id (negative for groups)."""
    name = chat.title or chat.full_name or str(chat.id)
    return Channel(PLATFORM, str(chat.id), name, is_group=chat.type != Chat.PRIVATE)


@dataclass(frozen=True)
class ParsedCommand:
    """A Telegram command message: its name (`op`), the core line, and whether it named us."""

    name: str
    line: str
    addressed: bool


def parse_command(text: str, bot_username: str | None) -> ParsedCommand | None:
    """Read `/name[@bot] rest`; None when it is not a command or is meant for another bot."""
    match = _COMMAND.match(text)
    if match is None:
        return None
    name, target, rest = match.group(1).lower(), match.group(2), match.group(3).strip()
    if target and (bot_username is None or target.lower() != bot_username.lower()):
        return None
    line = (rest or "help") if name == "tf" else f"{name} {rest}".strip()
    return ParsedCommand(name=name, line=line, addressed=bool(target))


def command_list(registry: Registry) -> list[tuple[str, str]]:
    """(command, description) pairs for `setMyCommands`: `/tf` and one per noun."""
    out = [("tf", "Any Taskforce command, for example /tf op list")]
    for noun in registry.nouns():
        if not _COMMAND_NAME.match(noun) or noun in ("tf", "start"):
            continue
        whole = registry.get(noun)
        verbs = [
            c.name.split(" ", 1)[1] for c in registry.all() if c.noun == noun and c is not whole
        ]
        if whole and verbs:
            desc = f"{whole.summary} Also: {', '.join(verbs)}."
        elif whole:
            desc = whole.summary
        else:
            desc = f"{noun}: {', '.join(verbs)}"
        out.append((noun, desc[:256]))
    return out[:100]


def retry_seconds(exc: RetryAfter) -> float:
    """Seconds Telegram asked us to wait (PTB 22 warns when reading it as an int)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def send_error(exc: Exception) -> SendError:
    """Map a Telegram failure onto the outbox's retry rules."""
    if isinstance(exc, RetryAfter):
        return SendError("telegram flood control", retry_after=retry_seconds(exc))
    if isinstance(exc, ChatMigrated):
        return SendError(
            f"the group became a supergroup (new id {exc.new_chat_id}): link it again",
            permanent=True,
        )
    if isinstance(exc, Forbidden):
        return SendError(f"telegram refused: {exc.message}", permanent=True)
    if isinstance(exc, BadRequest):  # a NetworkError subclass: test it first
        return SendError(f"telegram rejected the message: {exc.message}", permanent=True)
    if isinstance(exc, TelegramError):
        return SendError(f"telegram unavailable: {exc.message}")
    # The class only: an exception's text may quote the message being sent.
    return SendError(type(exc).__name__, permanent=isinstance(exc, UnicodeError))


# ------------------------------------------------------------------- outbound


class TelegramSender:
    """Sends messages (and files) to Telegram chats; the outbox's sender for `telegram`."""

    platform = PLATFORM
    capabilities = CAPABILITIES

    def __init__(self, bot: Bot, gateway: Gateway, settings: Settings) -> None:
        self.bot = bot
        self.gateway = gateway
        self.settings = settings

    def min_interval(self, channel_key: str) -> float:
        """About 1 message/s per chat and 20/min per group (negative chat ids are groups)."""
        if channel_key.startswith("-"):
            return self.settings.telegram_group_interval
        return self.settings.telegram_chat_interval

    async def send(
        self, channel_key: str, message: Message, *, key: str | None = None
    ) -> str | None:
        """Deliver one outbox post; raise `SendError` (retry-after, retryable or permanent)."""
        try:
            if message.images:
                return str(await self.send_photos(int(channel_key), message))
            ids = await self.post(int(channel_key), message)
        except Exception as exc:
            raise send_error(exc) from exc
        return str(ids[0]) if ids else None

    async def send_photos(self, chat_id: int, message: Message) -> int:
        """A photo post: the stored copies (without EXIF), the text as caption (≤ 1024)."""
        caption = render_html(Message(title=message.title, context=message.context))
        first = 0
        for i, key in enumerate(message.images):
            sent = await self.bot.send_photo(
                chat_id=chat_id,
                photo=await self.gateway.image(key),
                caption=caption[:1024] if i == 0 else None,
                parse_mode=ParseMode.HTML,
            )
            first = first or sent.message_id
        return first

    async def keyboard(self, message: Message) -> InlineKeyboardMarkup | None:
        """The message's buttons as an inline keyboard (callback data within 64 bytes)."""
        if not message.buttons:
            return None
        data = await encode_all(self.gateway, [b.command for b in message.buttons])
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(b.label, callback_data=data[b.command]) for b in row]
                for row in button_rows(message.buttons)
            ]
        )

    async def post(self, chat_id: int, message: Message, reply_to: int | None = None) -> list[int]:
        """Send `message` as one or more HTML messages (split at 4096); return their ids.

        Raises Telegram's errors. Buttons go on the last part.
        """
        parts = split_html(render_html(message))
        markup = await self.keyboard(message)
        ids: list[int] = []
        for i, part in enumerate(parts):
            kwargs: dict[str, Any] = {
                "chat_id": chat_id,
                "text": part,
                "parse_mode": ParseMode.HTML,
                "link_preview_options": LinkPreviewOptions(is_disabled=True),
            }
            if i == len(parts) - 1 and markup is not None:
                kwargs["reply_markup"] = markup
            if i == 0 and reply_to is not None:
                kwargs["reply_parameters"] = ReplyParameters(
                    reply_to, allow_sending_without_reply=True
                )
            sent = await self._send_part(kwargs, later=i > 0)
            ids.append(sent.message_id)
        return ids

    async def _send_part(self, kwargs: dict[str, Any], *, later: bool) -> TgMessage:
        try:
            return await self.bot.send_message(**kwargs)
        except RetryAfter as exc:
            wait = retry_seconds(exc)
            if not later or wait > MAX_PART_WAIT:
                raise
            await asyncio.sleep(wait)
            return await self.bot.send_message(**kwargs)

    async def send_file(self, chat_id: int, attachment: Attachment) -> int:
        """Send one attachment as a document; return the message id."""
        sent = await self.bot.send_document(
            chat_id=chat_id, document=attachment.content, filename=attachment.filename
        )
        return sent.message_id


# -------------------------------------------------------------------- inbound queue


class DurableUpdateQueue(asyncio.Queue[object]):
    """PTB's update queue, with every update committed to the inbox before it is queued.

    In polling mode PTB's Updater puts each fetched update here and confirms the batch to
    Telegram (the next `getUpdates` offset) only after every `put` has returned: so an
    update is confirmed only once it is durable. While the store cannot take it, `put`
    keeps trying and polling waits; nothing is confirmed meanwhile.
    """

    def __init__(self, accept: Callable[[Update], Awaitable[bool]]) -> None:
        super().__init__()
        self._accept = accept

    async def put(self, item: object) -> None:
        """Commit the update to the inbox, then queue it (unless it is there already)."""
        if not isinstance(item, Update):
            await super().put(item)
            return
        delay = 0.5
        while True:
            try:
                fresh = await self._accept(item)
                break
            except Exception as exc:
                log.warning("telegram.inbox_unavailable", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        if fresh:
            await super().put(item)

    async def put_accepted(self, item: Update) -> None:
        """Queue an update the caller has already committed to the inbox."""
        await super().put(item)


# -------------------------------------------------------------------- adapter


class TelegramAdapter:
    """The Telegram platform adapter: routes, lifecycle, inbound updates, replies."""

    platform = PLATFORM

    def __init__(self, gateway: Gateway) -> None:
        settings = gateway.settings
        if not settings.telegram_bot_token:
            raise TelegramConfigError("TELEGRAM_BOT_TOKEN is not set.")
        self.polling = settings.telegram_polling
        secret = settings.telegram_webhook_secret or ""
        if not self.polling and not _SECRET.match(secret):
            raise TelegramConfigError(
                "TELEGRAM_WEBHOOK_SECRET is required in webhook mode: set it to 1-256 letters, "
                "digits, _ or - and give Telegram the same value as setWebhook's secret_token "
                "(or set TELEGRAM_POLLING=1 for development without a public URL)."
            )
        self.gateway = gateway
        self.settings = settings
        self._secret = secret.encode()
        self.inbox = gateway.inbox
        self.queue = DurableUpdateQueue(self._accept)
        builder = (
            Application.builder()
            .token(settings.telegram_bot_token)
            .base_url(settings.telegram_api_url)
            .job_queue(None)
            .update_queue(self.queue)
            .base_file_url(file_url(settings.telegram_api_url))
        )
        if not self.polling:
            builder = builder.updater(None)
        self.application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_queued_update))
        self.application.add_error_handler(self._on_error)
        self.out = TelegramSender(self.application.bot, gateway, settings)
        self.sender: Sender = self.out  # what the outbox worker uses
        gateway.inbox.register(INBOX_KIND, self._recover)
        self._started = False
        self._problem: str | None = None

    # ---------------------------------------------------------------- lifecycle

    def routes(self) -> list[BaseRoute]:
        """`POST /telegram/webhook`, or nothing in polling mode."""
        if self.polling:
            return []
        return [Route(WEBHOOK_PATH, self.webhook, methods=["POST"])]

    async def start(self) -> None:
        """getMe, publish the command list, start processing (and polling, in that mode)."""
        application = self.application
        await application.initialize()
        await self._publish_commands()
        await application.start()
        if self.polling:
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        elif self.settings.telegram_webhook_url:
            try:
                await application.bot.set_webhook(
                    self.settings.telegram_webhook_url,
                    secret_token=self.settings.telegram_webhook_secret,
                    allowed_updates=ALLOWED_UPDATES,
                )
            except TelegramError as exc:
                self._problem = f"setWebhook failed: {exc.message}"
                log.error("telegram.set_webhook_failed", error=exc.message)
        self._started = True
        log.info(
            "telegram.started",
            username=application.bot.username,
            mode="polling" if self.polling else "webhook",
        )

    async def stop(self) -> None:
        """Stop polling, finish the queued updates, close the client (the outbox's too)."""
        application = self.application
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        self._started = False

    def ready(self) -> str | None:
        """None when updates are being processed, else why not."""
        if not self._started or not self.application.running:
            return "not started"
        if self.polling and not (self.application.updater and self.application.updater.running):
            return "polling stopped"
        return self._problem

    async def idle(self) -> None:
        """Wait until every update received so far has been handled (tests, shutdown)."""
        await self.application.update_queue.join()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait (at most `timeout` s) until the updates received so far have been handled."""
        if not self.application.running:
            return
        try:
            await asyncio.wait_for(self.idle(), timeout)
        except TimeoutError:
            log.warning("telegram.drain_timeout", queued=self.application.update_queue.qsize())

    async def finish_inbound(self, timeout: float) -> None:
        """Shutdown, first half: stop polling and handle the queued updates (at most `timeout`
        s) with the Bot's client still open, for the outbox worker sends through it too;
        `stop()` handles whatever is still queued and only then closes the client."""
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        await self.drain(timeout)

    async def _publish_commands(self) -> None:
        commands = [BotCommand(n, d) for n, d in command_list(self.gateway.registry)]
        try:
            await self.application.bot.set_my_commands(commands)
        except TelegramError as exc:
            log.warning("telegram.set_my_commands_failed", error=exc.message)

    # ------------------------------------------------------------------ webhook

    async def webhook(self, request: Request) -> Response:
        """Check the secret token and size, parse the update, queue it, answer 200 at once."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("telegram.webhook_bad_secret")
            return PlainTextResponse("forbidden", status_code=403)
        body = await _read_limited(request, self.settings.max_body_bytes)
        if body is None:
            return PlainTextResponse("request body too large", status_code=413)
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
                raise ValueError("not an update")
            parsed = Update.de_json(payload, self.application.bot)
            if not _well_formed(parsed):
                raise ValueError("a message without its chat or sender")
        except Exception:
            log.info("telegram.webhook_bad_body", size=len(body))
            return PlainTextResponse("malformed update", status_code=400)
        if not self.application.running:
            return PlainTextResponse("not ready", status_code=503)
        # The 200 is a promise: the update is committed to the inbox before it leaves. If
        # the store cannot take it, Telegram gets an error and delivers the update again.
        try:
            fresh = await self._accept(parsed)
        except Exception as exc:
            log.warning("telegram.inbox_unavailable", error=type(exc).__name__)
            return PlainTextResponse("try again later", status_code=503)
        if fresh:
            await self.queue.put_accepted(parsed)
        return Response(status_code=200)

    async def _accept(self, upd: Update) -> bool:
        return await self.inbox.accept(PLATFORM, self.event_key(upd), INBOX_KIND, upd.to_dict())

    # ------------------------------------------------------------------ inbound

    async def _on_queued_update(self, upd: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await self._finish(upd, recovering=False)

    async def _recover(self, entry: InboxEntry) -> None:
        """Finish an update a stopped process acknowledged (the inbox's recovery handler)."""
        upd = Update.de_json(entry.payload, self.application.bot)
        await self._finish(upd, recovering=True)

    async def _finish(self, upd: Update, *, recovering: bool) -> None:
        """Handle one acknowledged update, then take it out of the inbox; on failure give
        it back to the inbox's recovery."""
        key = self.event_key(upd)
        try:
            await self._on_update(upd, recovering=recovering)
        except Exception:
            await self.inbox.release(PLATFORM, key)
            raise
        await self.inbox.done(PLATFORM, key)

    async def _on_update(self, upd: Update, *, recovering: bool = False) -> None:
        if upd.message is not None:
            await self._on_message(upd, upd.message, recovering=recovering)
        elif upd.callback_query is not None:
            await self._on_callback(upd, recovering=recovering)
        else:
            log.debug("telegram.ignored", update_id=upd.update_id)

    async def _on_error(self, upd: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = upd.update_id if isinstance(upd, Update) else None
        log.error("telegram.update_failed", update_id=update_id, exc_info=context.error)

    def event_key(self, upd: Update) -> str:
        """The update's key for deduplication (update ids are per bot)."""
        return f"{self.application.bot.id}:{upd.update_id}"

    async def _on_message(self, upd: Update, msg: TgMessage, *, recovering: bool = False) -> None:
        user = msg.from_user
        if user is None or user.is_bot:
            return
        if msg.chat is None:  # malformed (long polling does not pass through `webhook`)
            log.info("telegram.ignored", update_id=upd.update_id, reason="no chat")
            return
        media = photo_of(msg)
        if media is not None:  # a photo as evidence (issue 16)
            line = photo_line(msg, self.application.bot.id)
            if line is not None:
                await self._on_photo(upd, msg, user, line, media, recovering=recovering)
            return
        field = field_line(msg, self.application.bot.id)
        if field is not None:  # a shared location, or an answer to the bot (issue 16)
            await self._on_field(upd, msg, user, field, recovering=recovering)
            return
        if not msg.text:
            return
        parsed = parse_command(msg.text, self.application.bot.username)
        if parsed is None:
            return
        chat = msg.chat
        is_group = chat.type != Chat.PRIVATE
        known = parsed.name in ("tf", "start") or parsed.name in self.gateway.registry.nouns()
        if not known and is_group and not parsed.addressed:
            return  # probably another bot's command
        key = self.event_key(upd)
        if parsed.name == "start":
            if await self.gateway.was_processed(PLATFORM, key):
                log.info("telegram.duplicate", update_id=upd.update_id)
                metrics.INBOUND_DUPLICATES.labels(PLATFORM).inc()
                return
            await self._on_start(key, user, chat, msg.message_id)
            return
        inv = Invocation(
            actor_of(user), channel_of(chat), parsed.line, event_key=key, locale=user.language_code
        )
        reply = await self.gateway.dispatch(inv)
        if reply.duplicate and not recovering:
            # Handled and answered before (a redelivery): posting again would double it.
            log.info("telegram.duplicate", update_id=upd.update_id)
            return
        await self.deliver(reply, chat, user, reply_to=msg.message_id)

    async def _on_field(
        self, upd: Update, msg: TgMessage, user: User, line: str, *, recovering: bool
    ) -> None:
        """A location or a reply to the bot, as a core command. A refusal is the sender's
        alone (a group hears nothing of a stranger's pin or of a reply that answers nothing)."""
        inv = Invocation(
            actor_of(user),
            channel_of(msg.chat),
            line,
            event_key=self.event_key(upd),
            locale=user.language_code,
        )
        reply = await self.gateway.dispatch(inv)
        if reply.duplicate and not recovering:
            log.info("telegram.duplicate", update_id=upd.update_id)
            return
        if not reply.ok and (msg.chat.type != Chat.PRIVATE or line.startswith("pin text")):
            log.info("telegram.field_refused", update_id=upd.update_id)
            return
        await self.deliver(reply, msg.chat, user, reply_to=msg.message_id)

    async def _on_photo(
        self,
        upd: Update,
        msg: TgMessage,
        user: User,
        line: str,
        media: PhotoRef,
        *,
        recovering: bool,
    ) -> None:
        """A photo with a sighting's caption: the caption and a way to fetch its bytes to the
        core, which fetches them only for a sender who may post there and a size within the
        limit; a redelivery is not even downloaded again."""
        key = self.event_key(upd)
        if not recovering and await self.gateway.was_processed(PLATFORM, key):
            log.info("telegram.duplicate", update_id=upd.update_id)
            return
        bot = self.application.bot

        async def fetch() -> bytes:
            found = await bot.get_file(media.file_id)
            return bytes(await found.download_as_bytearray())

        upload = Upload(media.filename, media.mime_type, media.size, None, fetch=fetch)
        inv = Invocation(
            actor_of(user),
            channel_of(msg.chat),
            line,
            key,
            locale=user.language_code,
            uploads=(upload,),
        )
        reply = await self.gateway.dispatch(inv)
        if reply.duplicate and not recovering:
            return
        await self.deliver(reply, msg.chat, user, reply_to=msg.message_id)

    async def _on_callback(self, upd: Update, *, recovering: bool = False) -> None:
        query = upd.callback_query
        assert query is not None
        user = query.from_user
        key = self.event_key(upd)
        if not recovering and await self.gateway.was_processed(PLATFORM, key):
            log.info("telegram.duplicate", update_id=upd.update_id)
            metrics.INBOUND_DUPLICATES.labels(PLATFORM).inc()
            return
        command = await decode(self.gateway, query.data or "")
        if command is None:
            await _answer(query, "This button no longer works; type the command instead.")
            return
        chat = query.message.chat if query.message is not None else None
        channel = channel_of(chat) if chat else Channel(PLATFORM, str(user.id), is_group=False)
        reply = await self.gateway.dispatch(
            Invocation(actor_of(user), channel, command, key, locale=user.language_code)
        )
        if not reply.ok:
            # Only the presser sees an alert: a refusal need not interrupt the group.
            await _answer(query, (reply.message.lines or [_("Refused.")])[0], alert=True)
            return
        await _answer(query, _("Done."))
        if chat is None:
            await self._send_private(user, [reply.message, *reply.extra], [])
        else:
            await self.deliver(reply, chat, user, reply_to=None)

    async def _on_start(self, key: str, user: User, chat: Chat, message_id: int) -> None:
        private = chat.type == Chat.PRIVATE
        registered = await self.gateway.greet(PLATFORM, str(user.id), key, private=private)
        await self._post_or_queue(
            chat.id,
            start_message(user, private, registered, self.application.bot.username),
            reply_to=None if private else message_id,
        )

    # ----------------------------------------------------------------- replies

    async def deliver(self, reply: Reply, chat: Chat, user: User, reply_to: int | None) -> None:
        """Send a command's reply where it may be seen: the chat, or the actor's private chat."""
        messages = [reply.message, *reply.extra]
        files = [a for m in messages for a in m.attachments]
        if chat.type == Chat.PRIVATE:
            await self._post_all(chat.id, messages, reply_to=None)
            await self._send_files(chat.id, files)
            return
        if self.gateway.placement(reply, CAPABILITIES, is_group=True) is Placement.CHANNEL:
            await self._post_all(chat.id, messages, reply_to=reply_to)
            if files:
                outcome = await self._send_private(user, [], files)
                if outcome != "sent":
                    await self._post_or_queue(
                        chat.id,
                        pointer(user, outcome, self._username(), confidential=False),
                        reply_to,
                    )
            return
        outcome = await self._send_private(user, messages, files)
        note = pointer(user, outcome, self._username(), confidential=reply.confidential)
        await self._post_or_queue(chat.id, note, reply_to)

    def _username(self) -> str:
        return self.application.bot.username or "the bot"

    async def _send_private(
        self, user: User, messages: Sequence[Message], files: Sequence[Attachment]
    ) -> str:
        """Send to the user's private chat: `sent`, `forbidden` (never started) or `queued`."""
        try:
            for message in messages:
                await self.out.post(user.id, message)
        except Forbidden:
            await self._set_can_dm(user.id, False)
            return "forbidden"
        except TelegramError as exc:
            log.warning("telegram.private_reply_deferred", error=exc.message)
            await self._queue(user.id, messages)
            return "queued"
        await self._send_files(user.id, files)
        await self._set_can_dm(user.id, True)
        return "sent"

    async def _send_files(self, chat_id: int, files: Sequence[Attachment]) -> None:
        delivered: list[tuple[Attachment, str]] = []
        for attachment in files:
            try:
                await self.out.send_file(chat_id, attachment)
                delivered.append((attachment, attachment.filename))
            except TelegramError as exc:
                log.warning("telegram.file_failed", error=exc.message, filename=attachment.filename)
                await self._queue(
                    chat_id,
                    [
                        Message(
                            lines=[
                                _(
                                    "The file {name} could not be sent (Telegram refused or "
                                    "was unreachable); run the command again."
                                ).format(name=attachment.filename)
                            ]
                        )
                    ],
                )
        # Telegram confirmed these documents: only now are they disclosed.
        await self.gateway.record_delivery(delivered, f"{PLATFORM}:{chat_id}")

    async def _post_all(
        self, chat_id: int, messages: Sequence[Message], reply_to: int | None
    ) -> None:
        for i, message in enumerate(messages):
            await self._post_or_queue(chat_id, message, reply_to if i == 0 else None)

    async def _post_or_queue(self, chat_id: int, message: Message, reply_to: int | None) -> None:
        """Send now; if Telegram is busy or unreachable, hand the message to the outbox."""
        try:
            await self.out.post(chat_id, message, reply_to=reply_to)
        except (Forbidden, BadRequest) as exc:
            log.warning("telegram.reply_refused", chat=chat_id, error=exc.message)
        except TelegramError as exc:
            log.warning("telegram.reply_deferred", chat=chat_id, error=exc.message)
            await self._queue(chat_id, [message])

    async def _queue(self, chat_id: int, messages: Sequence[Message]) -> None:
        await self.gateway.queue_replies(PLATFORM, str(chat_id), messages)

    async def _set_can_dm(self, user_id: int, value: bool) -> None:
        await self.gateway.set_can_dm(PLATFORM, str(user_id), value)


def _well_formed(upd: Update) -> bool:
    """Whether an update has what handling it needs: a message's chat, a button's sender
    (the Bot API always sends them; a forged or broken body may not)."""
    message = upd.message
    if message is not None and getattr(message, "chat", None) is None:
        return False
    query = upd.callback_query
    if query is not None and getattr(query, "from_user", None) is None:
        return False
    if query is not None and query.message is not None:
        return getattr(query.message, "chat", None) is not None
    return True


# ---------------------------------------------------------------------- texts


def pointer(user: User, outcome: str, bot_username: str, *, confidential: bool) -> Message:
    """The short note left in a group when the answer went (or could not go) privately, in
    the language of the sender's phone (`language_code`)."""
    with use_language(pick_language(user.language_code)):
        return _pointer(user, outcome, bot_username, confidential=confidential)


def _pointer(user: User, outcome: str, bot_username: str, *, confidential: bool) -> Message:
    who = user.first_name or user.full_name
    if outcome == "forbidden":
        return Message(
            lines=[
                _(
                    "{who}, I can only answer this in a private chat, and you have not started "
                    "one with me yet: open a private chat with @{bot} and press Start, then try "
                    "again."
                ).format(who=who, bot=bot_username)
            ]
        )
    if outcome == "sent":
        text = _("{who}, I sent you the answer in a private chat{why}.")
    else:
        text = _("{who}, I sent you the answer in a private chat shortly{why}.")
    why = " " + _("(this chat may not see it)") if confidential else ""
    icon = "🔒 " if confidential else ""
    return Message(lines=[icon + text.format(who=who, why=why)])


def start_message(user: User, private: bool, registered: bool, bot_username: str | None) -> Message:
    """The greeting for `/start`: in a private chat in the language of the sender's phone,
    in a group in the channels' language (README "Languages")."""
    language = pick_language(user.language_code) if private else CHANNEL_LANGUAGE
    with use_language(language):
        return _start_message(user, private, registered, bot_username)


def _start_message(
    user: User, private: bool, registered: bool, bot_username: str | None
) -> Message:
    if not private:
        return Message(
            title="Taskforce",  # i18n: keep (the bot's name)
            lines=[
                _("I post this group's operation updates and answer /tf commands."),
                _(
                    "Members: open a private chat with @{bot} and press Start, so I can send you "
                    "answers that must not be shown here."
                ).format(bot=bot_username),
            ],
        )
    if registered:
        return Message(
            title=_("Hello {name}").format(name=user.first_name),
            lines=[
                _(
                    "You can now receive private answers here, including confidential replies to "
                    "commands you type in group chats."
                ),
                _("Type /help for the commands."),
            ],
        )
    return Message(
        title=_("Hello {name}").format(name=user.first_name),
        lines=[
            _("I am the Taskforce bot."),
            _("If a lead gave you an invite code, send /join <code>."),
            _(
                "If you already use Taskforce elsewhere, type `link` there and send /link <code> "
                "here."
            ),
            _("Type /help for the commands."),
        ],
    )


async def _answer(query: Any, text: str, *, alert: bool = False) -> None:
    """Answer a callback query (always; a late answer is only logged). Telegram: ≤ 200 chars."""
    if len(text) > 200:
        text = text[:199] + "…"
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError as exc:
        log.info("telegram.callback_answer_failed", error=exc.message)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
