"""Photos for the evidence tests: real JPEGs with (or without) EXIF, made by Pillow."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image
from PIL.ExifTags import GPS, IFD, Base

CAMERA = "PhoneCo"
TAKEN = "2026:11:28 08:40:00"


def jpeg(*, gps: bool = True, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small JPEG whose EXIF names the camera and the time, and the place with `gps`:
    37°15'N 6°57'W (Huelva)."""
    image = Image.new("RGB", (64, 48), colour)
    exif = Image.Exif()
    exif[Base.Make] = CAMERA
    exif[Base.Model] = "X1 Pro"
    exif[Base.Orientation] = 1
    exif.get_ifd(IFD.Exif)[Base.DateTimeOriginal] = TAKEN
    if gps:
        where = exif.get_ifd(IFD.GPSInfo)
        where[GPS.GPSLatitudeRef] = "N"
        where[GPS.GPSLatitude] = (37.0, 15.0, 0.0)
        where[GPS.GPSLongitudeRef] = "W"
        where[GPS.GPSLongitude] = (6.0, 57.0, 0.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def has_exif(content: bytes) -> bool:
    """Whether an image carries any EXIF at all (or the camera's name anywhere)."""
    with Image.open(io.BytesIO(content)) as image:
        return bool(image.getexif()) or "exif" in image.info or CAMERA.encode() in content


def png_bomb(width: int, height: int, *, rgba: bool = False) -> bytes:
    """A PNG of `width`×`height` zero pixels (1-bit grey, or 8-bit RGBA), written row by
    row through one zlib stream: a 1×59,000,000 one is about 112 KB, and nothing of its
    decoded size is ever held here."""
    colour, depth, channels = (6, 8, 4) if rgba else (0, 1, 1)
    row = b"\x00" + bytes(-(-width * depth * channels // 8))  # filter byte, then the pixels

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    parts: list[bytes] = []
    batch = max(1, 1_000_000 // len(row))
    for start in range(0, height, batch):
        parts.append(packer.compress(row * min(batch, height - start)))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )
