"""Photos as evidence (issue 16): checked, hashed, stored once, EXIF read and stripped.

Platform-free. An adapter hands the core an `Upload` (bytes, the name and type the
platform gave); this module

- refuses what is too large or is not a JPEG, PNG or WebP image (Pillow opens it: the
  platform's MIME type is not trusted), with one sentence and nothing stored;
- hashes the original (SHA-256, the evidence's identity) and keeps it unchanged, content-
  addressed under the data directory (`evidence/ab/abcdef…`): the same bytes are one file
  however often they arrive;
- reads the EXIF time and GPS position, to offer them;
- makes the copy that may leave: pixels only (orientation applied, at most 2560 pixels a
  side), no EXIF, no XMP, no ICC profile, no comments — re-encoded by Pillow.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.ExifTags import GPS, IFD, Base

from bot.contracts import Upload, caption_line  # noqa: F401  (shared with the adapters)
from bot.filemodes import private_dir
from bot.i18n import _

MAX_BYTES = 10 * 1024 * 1024  # default of TASKFORCE_PHOTO_MAX_BYTES
ONWARD_SIDE = 2560  # the long side of the copy posted onward, in pixels
MAX_PIXELS = 60_000_000  # a decompression bomb is refused, not decoded
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


class EvidenceError(ValueError):
    """The upload cannot be evidence; the message is the sentence for the member."""


@dataclass(frozen=True)
class Photo:
    """A checked photo: the original's hash and facts, and the copy that may leave."""

    sha256: str
    size: int
    format: str
    mime_type: str
    width: int
    height: int
    original: bytes
    clean: bytes
    exif_time: str | None  # as the camera wrote it (`2026:11:29 23:30:00`), no zone
    exif_lat: float | None
    exif_lon: float | None

    @property
    def extension(self) -> str:
        """The file extension of its format."""
        return _EXTENSIONS[self.format]


def _limit_text(limit: int) -> str:
    return f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"


def check(upload: Upload, max_bytes: int = MAX_BYTES) -> Photo:
    """Check and read an upload; raise `EvidenceError` with the member's sentence."""
    size = len(upload.content) if upload.content is not None else upload.size
    if size > max_bytes or upload.content is None:
        raise EvidenceError(
            _("That file is too large ({size}); the limit is {limit}. Nothing was stored.").format(
                size=_limit_text(size), limit=_limit_text(max_bytes)
            )
        )
    if not upload.content:
        raise EvidenceError(_("That file is empty. Nothing was stored."))
    refuse = EvidenceError(_("Only photos can be evidence: JPEG, PNG or WebP. Nothing was stored."))
    try:
        with Image.open(io.BytesIO(upload.content)) as probe:
            kind = probe.format or ""
            if kind not in FORMATS:
                raise refuse
            if probe.width * probe.height > MAX_PIXELS:
                raise EvidenceError(
                    _(
                        "That photo is too large to read ({w}×{h} pixels). Nothing was stored."
                    ).format(w=probe.width, h=probe.height)
                )
            probe.load()
            exif = probe.getexif()
            taken = _exif_time(exif)
            lat, lon = _exif_position(exif)
            clean = _clean_copy(probe, kind)
            width, height = probe.width, probe.height
    except EvidenceError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise refuse from None
    return Photo(
        sha256=hashlib.sha256(upload.content).hexdigest(),
        size=size,
        format=kind,
        mime_type=FORMATS[kind],
        width=width,
        height=height,
        original=upload.content,
        clean=clean,
        exif_time=taken,
        exif_lat=lat,
        exif_lon=lon,
    )


def _exif_time(exif: Image.Exif) -> str | None:
    sub = exif.get_ifd(IFD.Exif)
    raw = sub.get(Base.DateTimeOriginal) or exif.get(Base.DateTime)
    text = str(raw).strip() if raw else ""
    return text[:19] or None


def _degrees(value: object) -> float:
    d, m, s = (float(x) for x in value)  # type: ignore[attr-defined]
    return d + m / 60 + s / 3600


def _exif_position(exif: Image.Exif) -> tuple[float | None, float | None]:
    gps = exif.get_ifd(IFD.GPSInfo)
    try:
        lat = _degrees(gps[GPS.GPSLatitude])
        lon = _degrees(gps[GPS.GPSLongitude])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None, None
    if str(gps.get(GPS.GPSLatitudeRef, "N")).upper().startswith("S"):
        lat = -lat
    if str(gps.get(GPS.GPSLongitudeRef, "E")).upper().startswith("W"):
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return round(lat, 6), round(lon, 6)


def _clean_copy(image: Image.Image, kind: str) -> bytes:
    """The pixels alone, upright, re-encoded: nothing of the camera or the phone."""
    upright = ImageOps.exif_transpose(image)
    upright.thumbnail((ONWARD_SIDE, ONWARD_SIDE))  # a chat needs no more; Telegram takes 10 MB
    mode = "RGBA" if upright.mode in ("RGBA", "LA", "P") and kind != "JPEG" else "RGB"
    pixels = Image.new(mode, upright.size)
    pixels.paste(upright.convert(mode))
    out = io.BytesIO()
    if kind == "JPEG":
        pixels.save(out, "JPEG", quality=90)
    else:
        pixels.save(out, kind)
    return out.getvalue()


class FileStore:
    """Content-addressed files under a directory (`evidence/` in the data directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """Where the file `key` lives."""
        if not key or ".." in key or key.startswith("/"):
            raise ValueError(key)
        return self.root / key

    def put(self, data: bytes, suffix: str) -> str:
        """Store `data` once; return its key (`ab/<sha256>.<suffix>`)."""
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest}.{suffix}"
        target = self.path(key)
        if target.exists() and target.stat().st_size == len(data):
            return key
        private_dir(self.root)  # README "Security": evidence folders 0700, files 0600
        private_dir(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        """The bytes of file `key`."""
        return self.path(key).read_bytes()

    def remove(self, key: str) -> None:
        """Delete file `key` (erasure); a file already gone is fine."""
        self.path(key).unlink(missing_ok=True)


def file_store(data_dir: Path) -> FileStore:
    """The evidence store of a data directory."""
    return FileStore(data_dir / "evidence")
