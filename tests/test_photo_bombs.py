"""Decompression bombs (issue 32): a photo is decoded within a pixel budget read from its
header, so a small file that inflates to a gigapixel is refused with one sentence and
never costs the process more than twice the file-size limit.

Memory is measured in a child process of its own (its peak resident set, `VmHWM`, reset to
the baseline before one photo: `ru_maxrss` would carry the parent's peak across `exec`),
with the bombs of the report: a 1-bit PNG of 1×59,000,000 pixels (112 KB) and
an RGBA PNG of 7000×8500 (226 KB); and, beside them, photos the budget lets through.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.core import evidence
from bot.core.evidence import EvidenceError, Upload
from tests.photos import jpeg, png_bomb

REPO = Path(__file__).resolve().parents[1]
LIMIT = evidence.MAX_BYTES  # 10 MB, the default TASKFORCE_PHOTO_MAX_BYTES

# Run in the child: warm up on a small photo, read the file, reset the peak resident set to
# what is resident now, then check the photo; print how far the peak rose and the outcome.
CHILD = """
import json, sys
from bot.core import evidence
from bot.contracts import Upload
from tests.photos import jpeg

def status(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)

small = jpeg()
evidence.check(Upload("warm.jpg", "image/jpeg", len(small), small))
content = open(sys.argv[1], "rb").read()
with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")  # VmHWM := VmRSS
before = status("VmRSS")
try:
    photo = evidence.check(Upload("x", "image/png", len(content), content), int(sys.argv[2]))
    outcome = f"kept {photo.width}x{photo.height}"
except evidence.EvidenceError as exc:
    outcome = str(exc)
print(json.dumps({"grew": (status("VmHWM") - before) * 1024, "outcome": outcome}))
"""


def _measure(tmp_path: Path, content: bytes, limit: int = LIMIT) -> tuple[int, str]:
    path = tmp_path / "photo"
    path.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(limit)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return int(result["grew"]), str(result["outcome"])


def _encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


@pytest.mark.parametrize(("width", "height", "rgba"), [(1, 59_000_000, False), (7000, 8500, True)])
def test_a_bomb_is_refused_from_its_header_within_twice_the_limit(
    tmp_path: Path, width: int, height: int, rgba: bool
) -> None:
    bomb = png_bomb(width, height, rgba=rgba)
    assert len(bomb) < 250_000  # small files: the size limit alone lets them in
    grew, outcome = _measure(tmp_path, bomb)
    assert outcome == (
        f"That photo is too large to read ({width}×{height} pixels). Nothing was stored."
    )
    assert grew <= 2 * LIMIT, f"grew by {grew / 2**20:.0f} MB"


def _turned() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turned 90°, so the onward copy is turned (a second copy)
    return exif


def _noise(side: int, mode: str) -> Image.Image:
    grey = Image.effect_noise((side, side), 100)  # incompressible: the largest encoded copy
    return Image.merge(mode, [grey] * len(mode))


def _within_the_budget() -> dict[str, tuple[bytes, str]]:
    """Photos at the edge of the budget, each the worst of its kind for memory."""
    budget = evidence.pixel_budget(LIMIT)
    side = math.isqrt(budget)
    webp = math.isqrt(budget // evidence.DECODER_COPIES["WEBP"])
    wide = budget // 2600
    return {
        # A 12-megapixel phone photo is decoded at a quarter of its size (DCT scaling).
        "phone photo": (
            _encoded(Image.new("RGB", (4032, 3024), (90, 120, 150)), "JPEG", quality=90),
            "4032x3024",
        ),
        "turned noise PNG": (
            _encoded(_noise(side, "RGBA"), "PNG", exif=_turned()),
            f"{side}x{side}",
        ),
        "turned noise JPEG": (
            _encoded(_noise(side, "RGB"), "JPEG", exif=_turned(), quality=95),
            f"{side}x{side}",
        ),
        "wider than the onward copy": (
            _encoded(Image.new("RGBA", (2600, wide), (1, 2, 3, 4)), "PNG"),
            f"2600x{wide}",
        ),
        "noise WebP": (_encoded(_noise(webp, "RGBA"), "WEBP"), f"{webp}x{webp}"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "phone photo",
        "turned noise PNG",
        "turned noise JPEG",
        "wider than the onward copy",
        "noise WebP",
    ],
)
def test_photos_within_the_budget_are_read_within_twice_the_limit(
    tmp_path: Path, case: str
) -> None:
    content, size = _within_the_budget()[case]
    grew, outcome = _measure(tmp_path, content)
    assert outcome == f"kept {size}"
    assert grew <= 2 * LIMIT, f"{case}: grew by {grew / 2**20:.1f} MB"


def test_each_side_and_their_product_are_checked_before_decoding() -> None:
    budget = evidence.pixel_budget(LIMIT)
    cases = {
        "one side too long": png_bomb(evidence.MAX_SIDE + 1, 2),
        "too many pixels": png_bomb(1024, budget // 1024 + 1),
        "a progressive JPEG whose coefficients exceed it": _encoded(
            Image.new("RGB", (2400, 2400)), "JPEG", progressive=True
        ),
    }
    for why, content in cases.items():
        with pytest.raises(EvidenceError, match="too large to read"):
            evidence.check(Upload("x", "image/png", len(content), content))
        assert why
    # At the budget's edge a PNG is read; a baseline JPEG far above it is read smaller.
    edge = png_bomb(1024, budget // 1024)
    assert evidence.check(Upload("x", "image/png", len(edge), edge)).height == budget // 1024
    big = _encoded(Image.new("RGB", (6000, 4000)), "JPEG")
    photo = evidence.check(Upload("x.jpg", "image/jpeg", len(big), big))
    assert (photo.width, photo.height) == (6000, 4000)
    with Image.open(io.BytesIO(photo.clean)) as onward:
        assert max(onward.size) <= evidence.ONWARD_SIDE


def test_the_format_is_read_from_the_bytes_not_from_the_platform() -> None:
    gif = _encoded(Image.new("RGB", (8, 8)), "GIF")
    with pytest.raises(EvidenceError, match="Only photos can be evidence"):
        evidence.check(Upload("x.jpg", "image/jpeg", len(gif), gif))
    photo = jpeg()
    assert evidence.check(Upload("x.png", "image/png", len(photo), photo)).format == "JPEG"
