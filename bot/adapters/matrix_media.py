"""Matrix files (issue 30): images sent as evidence, and files the bot sends (exports).

In: an `m.image` whose caption is a sighting's (`S-1 at "Pier 9"`, `SG-4`, `!tf photo …`)
becomes the core's `photo` command with one upload, as on Telegram and Slack. The caption
is the event's `body` when the event also names the file (`filename`, as Element sends a
captioned image); an image without a caption is chat. The size the sender's client declared
(`info.size`) is checked by the core before anything is fetched, and at most `limit + 1`
bytes are ever read. An image in an encrypted room comes as an encrypted attachment
(`file`: its key, IV and SHA-256): it is decrypted (and its hash checked) after download.

Out: a file is uploaded to the media repository and posted as `m.file` — in an encrypted
room encrypted first (AES-CTR, nio's `encrypt_attachment`), its key only inside the
encrypted event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp
from nio.crypto import decrypt_attachment, encrypt_attachment

from bot.contracts import Upload

# The authenticated media API (Synapse ≥ 1.111, spec v1.11), then the older one.
DOWNLOAD_PATHS = (
    "/_matrix/client/v1/media/download/{server}/{media}",
    "/_matrix/media/v3/download/{server}/{media}",
)
UPLOAD_PATH = "/_matrix/media/v3/upload"


class MediaError(RuntimeError):
    """The homeserver would not give or take a file."""


def caption_of(content: dict[str, Any]) -> str | None:
    """The caption of an `m.image`: its body when the event names the file apart."""
    if content.get("msgtype") != "m.image":
        return None
    body, filename = content.get("body"), content.get("filename")
    if not isinstance(body, str) or not isinstance(filename, str) or body == filename:
        return None
    return body


def image_of(content: dict[str, Any]) -> dict[str, Any] | None:
    """What is kept of an image event to fetch it later: name, type, declared size, and its
    `mxc://` URL (plain) or encrypted-file description; None when it has neither."""
    info = content.get("info") if isinstance(content.get("info"), dict) else {}
    encrypted = content.get("file") if isinstance(content.get("file"), dict) else None
    url = (encrypted or content).get("url")
    if not isinstance(url, str) or not url.startswith("mxc://"):
        return None
    size = info.get("size") if isinstance(info, dict) else None
    return {
        "name": str(content.get("filename") or "image")[:200],
        "mimetype": str((info or {}).get("mimetype") or "")[:40],
        "size": int(size) if isinstance(size, int) and size >= 0 else 0,
        "url": url,
        "file": encrypted,
    }


def upload_of(image: dict[str, Any], homeserver: str, token: str, limit: int) -> Upload:
    """The core's upload for a kept image: fetched (and decrypted) only when the core asks."""
    return Upload(
        str(image["name"]),
        str(image["mimetype"]),
        int(image["size"]),
        None,
        fetch=_fetcher(image, homeserver, token, limit),
    )


def _fetcher(
    image: dict[str, Any], homeserver: str, token: str, limit: int
) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        data = await download(homeserver, token, str(image["url"]), limit)
        encrypted = image.get("file")
        if not encrypted or len(data) > limit:  # too large: the core refuses it as such
            return data
        try:
            return bytes(
                decrypt_attachment(
                    data,
                    encrypted["key"]["k"],
                    encrypted["hashes"]["sha256"],
                    encrypted["iv"],
                )
            )
        except Exception as exc:  # a wrong key or hash: nothing of it is kept
            raise MediaError("the attachment did not decrypt") from exc

    return fetch


async def download(homeserver: str, token: str, mxc: str, limit: int) -> bytes:
    """At most `limit + 1` bytes of a `mxc://server/id` file."""
    server, _, media = mxc.removeprefix("mxc://").partition("/")
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for path in DOWNLOAD_PATHS:
            url = homeserver.rstrip("/") + path.format(
                server=quote(server, safe=""), media=quote(media, safe="")
            )
            async with session.get(url, headers=headers) as resp:
                if resp.status == 404 and path is not DOWNLOAD_PATHS[-1]:
                    continue  # an older homeserver: the unauthenticated path
                if resp.status != 200:
                    raise MediaError(f"download refused: {resp.status}")
                return await resp.content.read(limit + 1)
    raise MediaError("download refused")


async def upload(homeserver: str, token: str, data: bytes, mime: str, name: str) -> str:
    """Put `data` in the media repository; its `mxc://` URL."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": mime}
    timeout = aiohttp.ClientTimeout(total=120)
    url = f"{homeserver.rstrip('/')}{UPLOAD_PATH}?filename={quote(name)}"
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=data, headers=headers) as resp,
    ):
        body = await resp.json(content_type=None)
        if resp.status != 200 or not isinstance(body, dict) or "content_uri" not in body:
            code = body.get("errcode") if isinstance(body, dict) else None
            raise MediaError(f"upload refused: {code or resp.status}")
        return str(body["content_uri"])


async def file_content(
    homeserver: str, token: str, data: bytes, mime: str, name: str, *, encrypted: bool
) -> dict[str, Any]:
    """An `m.file` event's content for `data`, uploaded (encrypted first when the room is)."""
    content: dict[str, Any] = {
        "msgtype": "m.file",
        "body": name,
        "filename": name,
        "info": {"mimetype": mime, "size": len(data)},
    }
    if not encrypted:
        content["url"] = await upload(homeserver, token, data, mime, name)
        return content
    ciphertext, keys = encrypt_attachment(data)
    url = await upload(homeserver, token, ciphertext, "application/octet-stream", name)
    content["file"] = {**keys, "url": url, "mimetype": mime}
    return content
