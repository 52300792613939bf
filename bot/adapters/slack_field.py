"""Slack field input (issue 16): images shared with a sighting's caption, as core uploads.

A file shared in the app's DM (`message` with subtype `file_share`) or with a mention in a
linked channel (`app_mention` with `files`) carries its caption as the message text. The
adapter keeps the image files' metadata with the event (so a recovery can finish it) and
hands them to the core's `photo` command with a way to fetch their bytes with the bot token
(`files:read`): the core fetches them only for a sender who may post there, and never a
file Slack says is over the limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.contracts import Upload

MAX_FILES = 4  # per message: more are left out, and the reply counts only what was kept


def images_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The image files of a Slack message event, as plain data kept with the event."""
    out: list[dict[str, Any]] = []
    for item in event.get("files") or []:
        if not isinstance(item, dict):
            continue
        mime = str(item.get("mimetype") or "")
        url = str(item.get("url_private_download") or item.get("url_private") or "")
        if not mime.startswith("image/") or not url:
            continue
        size = item.get("size")
        out.append(
            {
                "name": str(item.get("name") or "image")[:200],
                "mimetype": mime[:40],
                "size": int(size) if isinstance(size, int) else 0,
                "url": url,
            }
        )
    return out[:MAX_FILES]


def uploads_of(
    files: list[dict[str, Any]], token: str, limit: int, timeout: float = 30.0
) -> tuple[Upload, ...]:
    """The uploads of `files`, each with a way to fetch its bytes with the bot token: the
    core fetches them only for a sender who may post there, and never a file Slack says
    is over `limit` (the core refuses it with its sentence). At most `limit + 1` bytes
    are read, whatever the file holds."""

    def fetcher(url: str) -> Callable[[], Awaitable[bytes]]:
        async def fetch() -> bytes:
            headers = {"Authorization": f"Bearer {token}"}
            client_timeout = aiohttp.ClientTimeout(total=timeout)
            async with (
                aiohttp.ClientSession(timeout=client_timeout) as session,
                session.get(url, headers=headers) as resp,
            ):
                resp.raise_for_status()
                return await resp.content.read(limit + 1)

        return fetch

    return tuple(
        Upload(
            str(item["name"]),
            str(item["mimetype"]),
            int(item.get("size") or 0),
            None,
            fetch=fetcher(str(item["url"])),
        )
        for item in files
    )
