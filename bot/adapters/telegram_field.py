"""Telegram field input as core command lines: shared locations, venues, replies to the bot.

The adapter stays thin: it reads the platform's event into a platform-free command line
(`pin LAT,LON [--place …] [--live]`, `pin text …`) and the core (`bot.commands.fieldpins`)
does the rest. User text is escaped for the core's tokenizer, so a quote or a backslash in a
venue name or a reply is kept as typed and never ends the value early.
"""

from __future__ import annotations

from telegram import Message as TgMessage

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
