"""Telegram field input as core command lines: locations, venues, photos, replies to the bot.

The adapter stays thin: it reads the platform's event into a platform-free command line
(`pin LAT,LON [--place …] [--live]`, `pin text …`) and the core (`bot.commands.fieldpins`)
does the rest. User text is escaped for the core's tokenizer, so a quote or a backslash in a
venue name or a reply is kept as typed and never ends the value early.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Message as TgMessage

from bot.contracts import caption_line

_SPECIAL = set("\"'“”„‘’«»\\")


def escape(text: str) -> str:
    """`text` as one word for the core's tokenizer: spaces and quotes backslash-escaped."""
    return "".join("\\" + ch if ch in _SPECIAL or ch.isspace() else ch for ch in text.strip())


def field_line(msg: TgMessage, bot_id: int) -> str | None:
    """The core command line for a field message, or None when it is not one.

    A venue or a location starts (or finishes) a sighting; a text that is not a command and
    answers one of the bot's messages answers a waiting pin or `sighting`."""
    venue = msg.venue
    location = venue.location if venue is not None else msg.location
    if location is not None:
        line = f"pin {location.latitude:.6f},{location.longitude:.6f}"
        if venue is not None and venue.title:
            place = venue.title if not venue.address else f"{venue.title}, {venue.address}"
            line += " --place " + escape(place)
        if location.to_dict().get("live_period"):  # the attribute warns (PTB 22 timedelta move)
            line += " --live"
        return line
    text = (msg.text or "").strip()
    answered = msg.reply_to_message
    if (
        text
        and not text.startswith("/")
        and answered is not None
        and answered.from_user is not None
        and answered.from_user.id == bot_id
    ):
        return "pin text " + " ".join(escape(word) for word in text.split())
    return None


# ------------------------------------------------------------------------- photos

_SIGHTING_POST = re.compile(r"\b(OP-[A-Z0-9][A-Z0-9-]*/SG-[0-9]{1,9})\b")


@dataclass(frozen=True)
class PhotoRef:
    """A photo (or an image sent as a file) in a message: what Telegram says of it."""

    file_id: str
    filename: str
    mime_type: str
    size: int


def photo_of(msg: TgMessage) -> PhotoRef | None:
    """The largest size of a photo, or an image document; None for anything else."""
    if msg.photo:
        best = max(msg.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return PhotoRef(
            best.file_id, f"photo-{msg.message_id}.jpg", "image/jpeg", best.file_size or 0
        )
    doc = msg.document
    if doc is not None and (doc.mime_type or "").startswith("image/"):
        return PhotoRef(
            doc.file_id, doc.file_name or "image", doc.mime_type or "", doc.file_size or 0
        )
    return None


def photo_line(msg: TgMessage, bot_id: int) -> str | None:
    """The `photo …` line for a photo's caption, or for a photo answering a sighting's post;
    None when the photo is not meant for the bot (a caption that is not a sighting's)."""
    caption = (msg.caption or "").strip()
    line = caption_line(caption)
    if line is not None:
        return line
    answered = msg.reply_to_message
    if (
        not caption
        and answered is not None
        and answered.from_user is not None
        and answered.from_user.id == bot_id
    ):
        found = _SIGHTING_POST.findall(answered.text or answered.caption or "")
        if len(set(found)) == 1:
            return "photo " + found[0]
    return None
