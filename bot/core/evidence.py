"""Photos as evidence (issue 16): checked, hashed, stored once, EXIF read and stripped.

Platform-free. An adapter hands the core an `Upload` (bytes, the name and type the
platform gave); this module

- refuses what is too large or is not a JPEG, PNG or WebP image (Pillow opens it: the
  platform's MIME type is not trusted), with one sentence and nothing stored;
- decodes within a pixel budget read from the header before any pixel is decoded (each
  side, and their product; a JPEG is decoded at 1/2, 1/4 or 1/8 of its size when that
  fits): the decoded pixels take at most 4/5 of the file-size limit in memory, so a small file
  that inflates to a gigapixel (a decompression bomb) is refused, not decoded. The caller
  runs `check` in a worker thread, outside any transaction (README "Photos as evidence");
- hashes the original (SHA-256, the evidence's identity) and keeps it unchanged, content-
  addressed under the data directory (`evidence/ab/abcdef…`): the same bytes are one file
  however often they arrive;
- reads the EXIF time and GPS position, to offer them;
- makes the copy that may leave: pixels only (orientation applied, at most 2560 pixels a
  side), no EXIF, no XMP, no ICC profile, no comments — re-encoded by Pillow (a WebP as
  PNG: WebP's encoder needs ten copies of the pixels in memory).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.ExifTags import GPS, IFD, Base

from bot.base.filemodes import private_dir
from bot.base.i18n import _
from bot.contracts import Upload, caption_line  # noqa: F401  (shared with the adapters)

MAX_BYTES = 10 * 1024 * 1024  # default of TASKFORCE_PHOTO_MAX_BYTES
ONWARD_SIDE = 2560  # the long side of the copy posted onward, in pixels
MAX_SIDE = 16_384  # pixels on either side, whatever the budget (WebP's own limit)
MIN_BUDGET = 1024 * 1024  # pixels any limit allows: a small limit still takes a small photo
BYTES_PER_PIXEL = 4  # Pillow keeps RGB, RGBA and CMYK in four bytes a pixel
# How many times the budget's share a format's decoder needs: WebP's decoder fills its own
# canvas, hands it over as bytes, and Pillow copies those into the image (four copies of
# the pixels at once, measured, where PNG and JPEG need one, and `_clean_copy` one more).
DECODER_COPIES = {"JPEG": 1, "PNG": 1, "WEBP": 3}
# Photos decoded at once in this process (each in its own worker thread): more wait.
_DECODING = threading.BoundedSemaphore(2)
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

    @property
    def onward_extension(self) -> str:
        """The file extension of the copy that may leave (`_clean_copy`)."""
        return "png" if self.format == "WEBP" else self.extension


def _limit_text(limit: int) -> str:
    return f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"


def pixel_budget(max_bytes: int) -> int:
    """How many pixels a photo may be decoded to: four fifths of the file-size limit, so
    that with the one more copy `_clean_copy` may make, and the encoder's output, reading
    a photo stays within twice the limit."""
    return max(MIN_BUDGET, max_bytes // (BYTES_PER_PIXEL + 1))


def decode_scale(probe: Image.Image, budget: int) -> int | None:
    """The divisor (1, 2, 4 or 8) a photo is decoded at to stay within `budget` pixels,
    read from the header alone; None when it cannot be. A progressive JPEG keeps every
    coefficient of the full image while it decodes (two bytes a sample), whatever the
    scale; PNG and WebP are decoded whole."""
    width, height = probe.size
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        return None
    if probe.format == "JPEG":
        if probe.info.get("progressive") or probe.info.get("progression"):
            samples = width * height * len(probe.getbands())
            if samples * 2 > budget * BYTES_PER_PIXEL:
                return None
        for scale in (1, 2, 4, 8):
            if -(-width // scale) * -(-height // scale) <= budget:
                return scale
        return None
    copies = DECODER_COPIES.get(probe.format or "", 1)
    return 1 if width * height * copies <= budget else None


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
        # Only the three formats' parsers ever see the bytes; opening reads the header.
        with _DECODING, Image.open(io.BytesIO(upload.content), formats=list(FORMATS)) as probe:
            kind = probe.format or ""
            if kind not in FORMATS:
                raise refuse
            scale = decode_scale(probe, pixel_budget(max_bytes))
            if scale is None:
                raise EvidenceError(
                    _(
                        "That photo is too large to read ({w}×{h} pixels). Nothing was stored."
                    ).format(w=probe.width, h=probe.height)
                )
            original_size = probe.size
            if scale > 1:  # libjpeg decodes straight to the smaller size (DCT scaling)
                probe.draft(None, (original_size[0] // scale, original_size[1] // scale))
            probe.load()
            exif = probe.getexif()
            taken = _exif_time(exif)
            lat, lon = _exif_position(exif)
            clean = _clean_copy(probe, kind)
            width, height = original_size
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


_REDUCIBLE = {"L", "LA", "RGB", "RGBA", "CMYK", "I", "F", "I;16"}  # what `reduce` takes


def _clean_copy(image: Image.Image, kind: str) -> bytes:
    """The pixels alone, upright, re-encoded: nothing of the camera or the phone.

    At most one more copy of the decoded pixels exists at any moment (turning the image;
    shrinking it makes one smaller image, `reduce`, with no full-size intermediate)."""
    ImageOps.exif_transpose(image, in_place=True)
    mode = "RGBA" if image.mode in ("RGBA", "LA", "P") and kind != "JPEG" else "RGB"
    factor = -(-max(image.size) // ONWARD_SIDE)  # a chat needs no more; Telegram takes 10 MB
    if factor > 1:
        if image.mode in _REDUCIBLE:
            image = image.reduce(factor)
        else:  # a palette or two-tone image: picked, not averaged, in its own one byte a pixel
            size = (-(-image.width // factor), -(-image.height // factor))
            image = image.resize(size, Image.Resampling.NEAREST)
    pixels = image if image.mode == mode else image.convert(mode)
    pixels.info = {}  # no EXIF, XMP, ICC profile or comment rides along into the copy
    out = io.BytesIO()
    if kind == "JPEG":
        pixels.save(out, "JPEG", quality=90)
    else:  # WebP's encoder holds ten copies of the pixels (measured): a WebP leaves as PNG
        pixels.save(out, "PNG")
    return out.getvalue()


class FileStore:
    """Content-addressed files under a directory (`evidence/` in the data directory).

    The directory and its folders are the service's alone (0700), the files too (0600)."""

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
