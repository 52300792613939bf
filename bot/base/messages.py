"""The platform-neutral message: what the core says, before any adapter renders it.

All text here is plain and unescaped; each renderer escapes user text once, for its markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.base.i18n import N_

SECRET_NOT_REPEATED = N_("That answer held a one-time secret and is not repeated; ask again.")


@dataclass(frozen=True)
class Button:
    """An action button: `command` is the core command line it runs when pressed."""

    label: str
    command: str


@dataclass(frozen=True)
class Disclosure:
    """What delivering a file discloses, for the audit log.

    The core does not record it: whoever delivers the file (the console writing it to disk,
    an adapter whose platform confirmed the upload) records it once the file has arrived
    (`bot.commands.export.record_delivery`), so the log never claims a disclosure that did
    not happen. `directory` is where the console writes the file (`export --out DIR`;
    None: its default); the chat platforms ignore it.
    """

    operation_id: int
    object_ref: str
    recipient: str
    recipient_id: int | None
    summary: str
    directory: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file sent with a reply (an export): name, MIME type, bytes, what it discloses."""

    filename: str
    mime_type: str
    content: bytes
    disclosure: Disclosure | None = None


@dataclass
class Message:
    """A title, labelled fields, free lines, a context line (TLP and refs) and buttons.

    `mark` flags an item that must stand out on every platform (for example `MATCH`).
    `tlp` is the highest TLP label of anything the message shows (None: nothing labelled).
    """

    title: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    context: str = ""
    buttons: list[Button] = field(default_factory=list)
    mark: str | None = None
    tlp: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    # Photos the post carries: keys in the evidence file store (`bot.core.evidence`), of copies
    # without EXIF; the sender uploads them (issue 16).
    images: list[str] = field(default_factory=list)
    # Holds a one-time secret (a sign-in link): it may be shown once but never stored, so
    # its stored form (an event's first answer, an outbox row) says so instead.
    secret: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (attachments are not carried through the outbox; a secret
        message is stored as a sentence saying it is not repeated)."""
        if self.secret:
            return Message(lines=[SECRET_NOT_REPEATED]).to_json()
        # Field by field (not `asdict`, which deep-copies the attachments only to drop
        # them): this runs for every reply and post. Same keys, same order.
        return {
            "title": self.title,
            "fields": [list(f) for f in self.fields],
            "lines": list(self.lines),
            "context": self.context,
            "buttons": [{"label": b.label, "command": b.command} for b in self.buttons],
            "mark": self.mark,
            "tlp": self.tlp,
            "images": list(self.images),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        """Rebuild a message stored by `to_json`."""
        return cls(
            title=data.get("title", ""),
            fields=[(str(k), str(v)) for k, v in data.get("fields", [])],
            lines=list(data.get("lines", [])),
            context=data.get("context", ""),
            buttons=[Button(**b) for b in data.get("buttons", [])],
            mark=data.get("mark"),
            tlp=data.get("tlp"),
            images=[str(k) for k in data.get("images", [])],
        )

    def plain_text(self) -> str:
        """The message as plain text lines (console, logs, notification fallbacks)."""
        out: list[str] = []
        head = self.title
        if self.mark:
            head = f"[{self.mark}] {head}" if head else f"[{self.mark}]"
        if head:
            out.append(head)
        out.extend(f"{k}: {v}" for k, v in self.fields)
        out.extend(self.lines)
        if self.context:
            out.append(self.context)
        if self.buttons:
            out.append("  ".join(f"[{b.label}]" for b in self.buttons))
        return "\n".join(out)
