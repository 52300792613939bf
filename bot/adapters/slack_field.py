"""Slack field input (issue 16): images shared with a sighting's caption, as core uploads.

A file shared in the app's DM (`message` with subtype `file_share`) or with a mention in a
linked channel (`app_mention` with `files`) carries its caption as the message text. The
adapter keeps the image files' metadata with the event (so a recovery can finish it),
fetches their bytes with the bot token (`files:read`) unless Slack says they are over the
limit, and hands them to the core's `photo` command.
"""

from __future__ import annotations

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


async def fetch(
    files: list[dict[str, Any]], token: str, limit: int, timeout: float = 30.0
) -> tuple[Upload, ...]:
    """The uploads of `files`: bytes fetched with the bot token, none above `limit` (an
    over-sized file gets no bytes: the core refuses it with its sentence)."""
    uploads: list[Upload] = []
    headers = {"Authorization": f"Bearer {token}"}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        for item in files:
            size = int(item.get("size") or 0)
            content: bytes | None = None
            if size <= limit:
                async with session.get(str(item["url"]), headers=headers) as resp:
                    resp.raise_for_status()
                    content = await resp.content.read(limit + 1)
                size = len(content)
            uploads.append(Upload(str(item["name"]), str(item["mimetype"]), size, content))
    return tuple(uploads)
