"""The platform table: one line per platform the server can run.

A line names the platform, its adapter (`module:Class`, imported only when the platform is
configured, so the core never loads an SDK), the settings that turn it on, how an identity
is written in `TASKFORCE_ADMINS`, and where its private chat with a person is. Adding a
platform is its adapter module plus one line here (and its settings in `bot/base/config.py`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.base.config import Settings


@dataclass(frozen=True)
class Platform:
    """One platform: see the module docstring."""

    name: str
    adapter: str  # "bot.adapters.x:XAdapter"; built with the Gateway
    enabled: Callable[[Settings], bool]
    identity: str = r"\S+"  # the pattern an identity key matches (after `name:`)
    example: str = "USER"  # how the key is written (`slack:TEAM/USER`)
    hint: str = ""  # the refusal when a key does not match `identity`
    # The one-to-one chat with the bot for an identity key (and whether the person has
    # opened one with the bot); None when the bot cannot write to them privately.
    private_chat: Callable[[str, bool], str | None] = lambda key, can_dm: key
    # `taskforce check`'s reachability probe, "module:function": `async (Settings) -> (ok,
    # detail)`; None for platforms `bot/serving/preflight.py` probes itself (Slack, Telegram).
    probe: str | None = None

    def load(self) -> Callable[[Any], Any]:
        """The adapter class (imports its module, and so its SDK)."""
        module, _, cls = self.adapter.partition(":")
        found: Callable[[Any], Any] = getattr(importlib.import_module(module), cls)
        return found

    def load_probe(self) -> Callable[[Settings], Awaitable[tuple[bool, str]]] | None:
        """The probe function (imports the adapter's module), if the line declares one."""
        if self.probe is None:
            return None
        module, _, name = self.probe.partition(":")
        found: Callable[[Settings], Awaitable[tuple[bool, str]]] = getattr(
            importlib.import_module(module), name
        )
        return found

    def valid_key(self, key: str) -> bool:
        """Whether `key` is an identity on this platform."""
        return re.fullmatch(self.identity, key) is not None


PLATFORMS: tuple[Platform, ...] = (
    Platform(
        "slack",
        "bot.adapters.slack:SlackAdapter",
        lambda s: s.slack_enabled,
        example="TEAM/USER",
        private_chat=lambda key, _: key.rsplit("/", 1)[-1],  # a user id reaches the DM
    ),
    Platform(
        "telegram",
        "bot.adapters.telegram:TelegramAdapter",
        lambda s: s.telegram_enabled,
        identity=r"-?\d+",
        example="USERID",
        hint="is not a Telegram identity; use the numeric user id.",
        private_chat=lambda key, can_dm: key if can_dm else None,  # after /start only
    ),
    Platform(
        "matrix",
        "bot.adapters.matrix:MatrixAdapter",
        lambda s: s.matrix_enabled,
        identity=r"@[^:\s]+:\S+",
        example="@USER:SERVER",
        hint="is not a Matrix identity; use the full user id, @user:server.",
        private_chat=lambda key, _: key,  # the sender opens (and remembers) the DM room
        probe="bot.adapters.matrix:probe",
    ),
)


def platform(name: str) -> Platform | None:
    """The table's line for `name`, if any."""
    return next((p for p in PLATFORMS if p.name == name), None)


def platform_names() -> list[str]:
    """Every platform an identity may be on: the table's, then the console."""
    return [p.name for p in PLATFORMS] + ["console"]
