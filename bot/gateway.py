"""The core's entry points for platform adapters: all an adapter may reach.

An adapter gets one `Gateway` (never the `App`, the store, the models or the outbox
tables): it runs commands (`dispatch`), checks whether an event was handled, keeps
acknowledged events in the durable inbox, hands replies it could not send to the outbox,
records what the bot may do for an identity (`set_can_dm`, `greet`), audits delivered files,
keeps long button commands and its read position (`cursor`), and registers its sender with
the outbox worker. Everything that touches the store lives behind these methods.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from bot.base.config import Settings
from bot.base.i18n import _
from bot.base.messages import Attachment, Message
from bot.commands.context import Core
from bot.commands.dispatch import dispatch as run_command
from bot.commands.dispatch import was_processed
from bot.commands.export import deliver_to_dir, record_delivery
from bot.commands.registry import Registry
from bot.contracts import Capabilities, Invocation, Reply, Sender, Visibility
from bot.core.evidence import file_store
from bot.store import buttons, reachability
from bot.store.inbox import Inbox
from bot.store.inbox import InboxEntry as InboxEntry  # the adapters recover entries by it
from bot.store.outbox import enqueue

__all__ = ["Gateway", "Placement", "Registry"]



class Placement(enum.StrEnum):
    """Where a reply to a command typed in a group may be shown."""

    CHANNEL = "channel"  # the group sees it
    EPHEMERAL = "ephemeral"  # in the group, shown to the actor alone (Slack)
    DIRECT = "direct"  # the actor's one-to-one chat with the bot, a pointer in the group


def outgoing(reply: Reply, capabilities: Capabilities) -> list[Message]:
    """The reply's messages as the platform can take them: on a platform without files, the
    files are left out (nothing is disclosed) and one sentence says where to get them."""
    messages = [reply.message, *reply.extra]
    if capabilities.files or not any(m.attachments for m in messages):
        return messages
    kept = [replace(m, attachments=[]) for m in messages]
    note = _(
        "Files cannot be delivered on this platform yet; run the command on Slack, Telegram "
        "or the console to receive them."
    )
    return [*kept, Message(lines=[note])]


def placement(reply: Reply, capabilities: Capabilities, is_group: bool) -> Placement:
    """The core's decision, from the platform's declared capabilities: a refusal or a reply
    for the channel (not confidential) goes to the group; anything else only to the actor."""
    if not is_group:
        return Placement.CHANNEL
    if not reply.ok or (reply.visibility is Visibility.CHANNEL and not reply.confidential):
        return Placement.CHANNEL
    return Placement.EPHEMERAL if capabilities.private_replies else Placement.DIRECT


class Gateway:
    """What a platform adapter is given (see the module docstring)."""

    def __init__(
        self,
        core: Core,
        inbox: Inbox,
        *,
        notify: Callable[[], None],
        add_sender: Callable[[Sender], None],
    ) -> None:
        self._core = core
        self.inbox = inbox
        self._notify = notify
        self._add_sender = add_sender

    # ------------------------------------------------------------------ services

    @property
    def settings(self) -> Settings:
        """The one configuration object."""
        return self._core.settings

    def clock(self) -> datetime:
        """Now, from the process's clock (tests move it)."""
        return self._core.clock()

    @property
    def registry(self) -> Registry:
        """The commands (for a platform's command menu)."""
        return self._core.registry

    def add_sender(self, sender: Sender) -> None:
        """Make the adapter's platform deliverable by the outbox worker."""
        self._add_sender(sender)

    # ------------------------------------------------------------------ commands

    async def dispatch(self, inv: Invocation) -> Reply:
        """Run one command line (already stripped of the platform's prefix and mention)."""
        return await run_command(self._core, inv)

    async def was_processed(self, platform: str, event_key: str) -> bool:
        """Whether an inbound event with this key has been handled already."""
        return await was_processed(self._core, platform, event_key)

    placement = staticmethod(placement)
    outgoing = staticmethod(outgoing)

    # ------------------------------------------------------------------ writes

    async def image(self, key: str) -> bytes:
        """The bytes of a photo copy a post carries (`Message.images`: without EXIF)."""
        return await asyncio.to_thread(file_store(self.settings.data_dir).get, key)

    async def queue_replies(
        self, platform: str, channel_key: str, messages: Sequence[Message]
    ) -> None:
        """Hand replies the adapter could not send now to the outbox (sent later, once)."""
        if not messages:
            return
        now = self.clock()
        async with self._core.store.transaction() as session:
            for message in messages:
                enqueue(
                    session,
                    now=now,
                    platform=platform,
                    channel_key=channel_key,
                    message=message,
                    operation_id=None,
                    tlp=message.tlp or "clear",
                    kind="reply",
                )
        self._notify()

    async def set_can_dm(self, platform: str, key: str, value: bool) -> None:
        """Record whether the bot can write to this identity in a one-to-one chat."""
        await reachability.set_can_dm(self._core.store, platform, key, value)

    async def private_link_reader(self, platform: str, channel_key: str) -> str | None:
        """When the channel is linked to an operation as a one-to-one chat (`is_group` false:
        its posts are written for one reader), that reader's identity key on `platform` (the
        member who linked it); None for a group channel or one not linked. A platform whose
        rooms can gain members (Matrix) counts them again before each post."""
        return await reachability.private_link_reader(self._core.store, platform, channel_key)

    async def greet(self, platform: str, key: str, event_key: str, *, private: bool) -> bool:
        """A person opened a conversation with the bot (Telegram's /start): mark the event
        handled and, in a private chat, the identity reachable; return whether the identity
        is registered."""
        return await reachability.greet(
            self._core.store, platform, key, event_key, self.clock(), private=private
        )

    async def record_delivery(
        self, delivered: Sequence[tuple[Attachment, str]], channel: str
    ) -> int:
        """Audit the disclosure of files the platform confirmed it delivered."""
        return await record_delivery(self._core.store, self.clock(), delivered, channel)

    async def deliver_to_dir(self, files: Sequence[Attachment], out_dir: Path) -> list[Path]:
        """Write files to a directory on this machine (mode 0600) and audit them (console)."""
        return await deliver_to_dir(self._core.store, files, out_dir, now=self.clock())

    async def keep_button_commands(self, commands: list[str]) -> dict[str, str]:
        """Keep commands too long for a button's payload; return command → token."""
        return await buttons.keep(self._core.store, commands, self.clock())

    async def button_command(self, token: str) -> str | None:
        """The command kept under a button token (None: unknown)."""
        return await buttons.lookup(self._core.store, token)

    # ------------------------------------------------------------------ cursors

    async def cursor(self, platform: str, name: str) -> str | None:
        """Where the adapter has read its platform's event stream up to, if anywhere."""
        return await reachability.cursor(self._core.store, platform, name)

    async def save_cursor(self, platform: str, name: str, value: str) -> None:
        """Remember the read position (after the events before it are in the inbox)."""
        await reachability.save_cursor(self._core.store, platform, name, value, self.clock())
