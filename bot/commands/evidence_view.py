"""How a sighting's photos are shown (`sighting show`) and exported (issue 16)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import _
from bot.store.models import Evidence


async def photos_of(
    session: AsyncSession, sighting_ids: Iterable[int | None]
) -> dict[int, list[Evidence]]:
    """The photos of each sighting, in the order they were added."""
    ids = [i for i in sighting_ids if i is not None]
    if not ids:
        return {}
    rows = (
        await session.exec(
            select(Evidence).where(col(Evidence.sighting_id).in_(ids)).order_by(col(Evidence.id))
        )
    ).all()
    out: dict[int, list[Evidence]] = {}
    for row in rows:
        out.setdefault(row.sighting_id, []).append(row)
    return out


def photo_lines(photos: list[Evidence]) -> list[str]:
    """`Photo 1: IMG_0042.jpg, image/jpeg, 2.1 MB, SHA-256 …` for each photo."""
    return [
        _("Photo {n}: {name}, {type}, {size} bytes, SHA-256 {sha}").format(
            n=i, name=p.filename, type=p.mime_type, size=p.size, sha=p.sha256
        )
        for i, p in enumerate(photos, 1)
    ]


def photo_records(photos: list[Evidence], iso: Any) -> list[dict[str, Any]]:
    """The export's `photos` of one sighting."""
    return [
        {
            "sha256": p.sha256,
            "filename": p.filename,
            "mime_type": p.mime_type,
            "size": p.size,
            "width": p.width,
            "height": p.height,
            "added_at": iso(p.added_at),
            "exif_time": p.exif_time,
            "exif_lat": p.exif_lat,
            "exif_lon": p.exif_lon,
            "stored_as": f"evidence/{p.stored_key}",
        }
        for p in photos
    ]
