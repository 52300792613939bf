"""The contracts between adapters and the core: Invocation in, Reply out, Sender for posts."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.base.i18n import N_
from bot.base.messages import Message

# What no person types and no renderer can be trusted with: control characters (but tab
# and line breaks), lone UTF-16 surrogates (unencodable: a reply echoing one could never be
# sent), and the bidirectional overrides that make text read differently than it is stored.
_REFUSED_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]"
)
UNACCEPTABLE_TEXT = N_(
    "That message contains characters I cannot accept (control characters or broken "
    "Unicode); please type it again."
)


# The invisible marks right-to-left replies carry around references (`bot/base/bidi.py`): a
# member who copies `⁦OP-NH/S-1⁩` out of an Arabic reply types them back. They are dropped,
# not refused; they cannot reorder what is stored (the overrides U+202A-U+202E stay refused).
# The ARABIC LETTER MARK (U+061C) is the same kind of mark, and goes with them.
_REPLY_MARKS = re.compile("[\u061c\u200e\u200f\u2066-\u2069]")


def normalise_text(text: str) -> str | None:
    """User text as the core takes it: NFC-normalised, without the directional marks of
    our own replies; None when it holds a refused character (the adapter, or dispatch,
    answers `UNACCEPTABLE_TEXT` without echoing it)."""
    text = _REPLY_MARKS.sub("", text)
    if _REFUSED_CHARS.search(text):
        return None
    return unicodedata.normalize("NFC", text)


def clean_name(text: str) -> str:
    """A name a platform shows (not typed as a command): directional marks and refused
    characters dropped, NFC."""
    return unicodedata.normalize("NFC", _REFUSED_CHARS.sub("", _REPLY_MARKS.sub("", text)))


@dataclass(frozen=True)
class Actor:
    """Who is speaking: a platform identity and the name the platform shows for it."""

    platform: str  # slack | telegram | console
    key: str  # slack "T0123/U0456", telegram "987654", console "alice"
    display_name: str = ""


@dataclass(frozen=True)
class Channel:
    """Where it was said. `is_group` is False for a one-to-one chat with the bot.

    `check_postable`, when the adapter can tell, returns None if the bot can post here or a
    sentence saying why not and how to fix it (used by `op link`).
    """

    platform: str
    key: str
    name: str = ""
    is_group: bool = True
    check_postable: Callable[[], Awaitable[str | None]] | None = None


@dataclass(frozen=True)
class Upload:
    """A file a member sent: what the platform said of it, and its bytes.

    `content` is None until fetched. An adapter gives `fetch` instead of the bytes: the
    core calls it only once the sender is admitted (registered, a member who may post
    there), and never for a file the platform says is over the limit."""

    filename: str
    mime_type: str
    size: int
    content: bytes | None
    fetch: Callable[[], Awaitable[bytes]] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Invocation:
    """One command line from one actor in one channel, with the platform's event key.

    `locale` is the actor's language as the platform reports it (Telegram `language_code`,
    Slack user locale), when it does: the reply's language unless the member chose one.
    """

    actor: Actor
    channel: Channel
    text: str
    event_key: str | None = None
    locale: str | None = None
    # Files sent with the line (a photo and its caption, issue 16): platform-free.
    uploads: tuple[Upload, ...] = ()
    # The operator at the server's own terminal (the console), not a remote member: no
    # rate limit. Set only by the console adapter.
    local: bool = False


def strip_prefix(text: str, prefixes: tuple[str, ...] = ("/tf", "tf")) -> str | None:
    """The command line after one of `prefixes` (a whole first word, any case), or None when
    the text does not start with one. Adapters call it; the core sees bare command lines."""
    stripped = text.strip()
    first, _, rest = stripped.partition(" ")
    if first.lower() in prefixes:
        return rest.strip()
    head, sep, tail = stripped.partition("\n")
    if sep and head.strip().lower() in prefixes:
        return tail.strip()
    return None


class Visibility(enum.StrEnum):
    """Who sees a reply: only the actor, or everyone in the channel."""

    PRIVATE = "private"
    CHANNEL = "channel"


@dataclass
class Reply:
    """The core's answer. `confidential` means: never show this to the group.

    Dispatch sets `confidential` when the reply shows anything above the channel's TLP
    ceiling (TLP:RED always) in a group channel; adapters without private group replies
    (Telegram) then send it in a private chat and leave a short pointer in the group.
    """

    message: Message
    visibility: Visibility = Visibility.PRIVATE
    ok: bool = True
    confidential: bool = False
    command: str | None = None
    extra: list[Message] = field(default_factory=list)
    # The language the reply is written in, for what an adapter adds to it (`Written: …`).
    language: str = "en"
    # Set when the event was handled before: this is the first answer, read back. Adapters
    # that post answers themselves post nothing for a duplicate (unless they are finishing
    # an event whose answer never went out).
    duplicate: bool = False

    def to_json(self) -> dict[str, object]:
        """JSON-safe form, stored as the first answer to an inbound event."""
        return {
            "message": self.message.to_json(),
            "visibility": self.visibility.value,
            "ok": self.ok,
            "confidential": self.confidential,
            "command": self.command,
            "extra": [m.to_json() for m in self.extra],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Reply:
        """Rebuild a stored reply."""
        msg = data["message"]
        assert isinstance(msg, dict)
        return cls(
            message=Message.from_json(msg),
            visibility=Visibility(str(data.get("visibility", "private"))),
            ok=bool(data.get("ok", True)),
            confidential=bool(data.get("confidential", False)),
            command=str(data["command"]) if data.get("command") else None,
            extra=[Message.from_json(m) for m in _list(data.get("extra")) if isinstance(m, dict)],
        )


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


class SendError(Exception):
    """A post could not be delivered. `retry_after` (seconds) when the platform said so."""

    def __init__(self, reason: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent


@dataclass(frozen=True)
class Capabilities:
    """What a platform can do, declared by its sender; the core decides from it.

    `private_replies`: a reply only the actor sees can be shown in the group itself (Slack's
    ephemeral messages); without it, confidential replies go to a one-to-one chat.
    `files`: attachments can be delivered. `buttons`: messages carry pressable buttons
    (otherwise they are offered as numbered commands to type). `max_length`: characters
    per post before the sender splits it.
    """

    private_replies: bool = False
    files: bool = True
    buttons: bool = True
    max_length: int = 4000


class Sender(Protocol):
    """Delivers one outbox post to one channel of one platform."""

    platform: str
    capabilities: Capabilities

    def min_interval(self, channel_key: str) -> float:
        """Seconds to leave between two posts to the same channel (the platform's pace)."""
        ...

    async def send(
        self, channel_key: str, message: Message, *, key: str | None = None
    ) -> str | None:
        """Post `message`; return the platform's message id. Raise `SendError` on failure.

        `key` is the same for every attempt at the same post (the outbox row): a platform
        that deduplicates by such a key (Matrix's transaction id) posts a retried send
        whose first answer was lost only once; the others ignore it."""
        ...


_CAPTION_START = re.compile(r"^(?:(?:OP-[A-Za-z0-9-]+/)?S(?:G)?-[0-9]+\b|[\"“„«'‘])")
_EXPLICIT = re.compile(r"^/?(?:tf\s+)?(?:sighting|photo)(?:@\w+)?\s+", re.I)


def caption_line(caption: str) -> str | None:
    """The `photo …` command line for a photo's caption, or None when the caption is not
    a sighting's (`S-1 at …`, `SG-4`, `"white van" at …`, `sighting …`, `photo …`): a photo
    with any other caption, or none, is chat, not evidence."""
    text = caption.strip()
    explicit = _EXPLICIT.match(text)
    if explicit:
        return "photo " + text[explicit.end() :]
    if text and _CAPTION_START.match(text):
        return "photo " + text
    return None
