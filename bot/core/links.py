"""Co-sightings: subjects sighted near each other in space and time.

Two sightings of different subjects are a co-sighting when they are within a distance
(default 200 m) and a time window (default 30 min) of each other. Sightings carry the grid
cell of their coordinates (`grid_cell`, about 550 m of latitude), so the sightings near one
are found through the index (operation, cell, observed time): the 3×3 (or wider) cells
around it in a time range. Exact distances are checked afterwards (haversine).

What comes out is an analytic inference, never a fact; access is decided by the caller.
"""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Float, bindparam, cast, extract, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import _
from bot.store import tables

CELL_DEG = 0.005  # one grid cell: 0.005° of latitude (~556 m) by 0.005° of longitude
_ROW = 100_000  # cells per row of the grid (more than the 72,000 of longitude)
M_PER_DEG = 111_320.0
EARTH_M = 6_371_000.0
MAX_CELL_SPAN = 5  # beyond ±5 cells, search by time and a lat/lon box instead
DEFAULT_DISTANCE_M = 200.0
DEFAULT_WINDOW = timedelta(minutes=30)
MAX_PERIOD = 200_000  # `links` alone reads at most this many sightings of a period
MAX_ANCHORS = 1000  # `links S-n` looks around the subject's newest 1,000 sightings


def _index(value: float) -> int:
    return math.floor(value / CELL_DEG)


def grid_cell(lat: float | None, lon: float | None) -> int | None:
    """The grid cell of a point (None without coordinates)."""
    if lat is None or lon is None:
        return None
    return (_index(lat) + 18_000) * _ROW + (_index(lon) + 36_000)


def _span(lat: float, metres: float) -> tuple[int, int]:
    """How many cells of latitude and longitude `metres` can cross at latitude `lat`."""
    dlat = metres / M_PER_DEG
    cos = max(math.cos(math.radians(min(abs(lat) + dlat, 89.9))), 1e-6)
    dlon = metres / (M_PER_DEG * cos)
    return math.ceil(dlat / CELL_DEG), math.ceil(dlon / CELL_DEG)


def near_cells(lat: float, lon: float, metres: float) -> list[int] | None:
    """Every cell within `metres` of the point; None when that is too many cells."""
    span_lat, span_lon = _span(lat, metres)
    if span_lat > MAX_CELL_SPAN or span_lon > MAX_CELL_SPAN:
        return None
    centre = grid_cell(lat, lon)
    assert centre is not None
    return [
        centre + dy * _ROW + dx
        for dy in range(-span_lat, span_lat + 1)
        for dx in range(-span_lon, span_lon + 1)
    ]


@functools.lru_cache(maxsize=65_536)
def cells_around(cell: int, metres: float) -> tuple[int, ...] | None:
    """Every cell within `metres` of any point of `cell` (None: too many cells)."""
    row = cell // _ROW - 18_000
    edge = max(abs(row * CELL_DEG), abs((row + 1) * CELL_DEG))  # the edge nearer a pole
    span_lat, span_lon = _span(edge, metres)
    if span_lat > MAX_CELL_SPAN or span_lon > MAX_CELL_SPAN:
        return None
    return tuple(
        cell + dy * _ROW + dx
        for dy in range(-span_lat, span_lat + 1)
        for dx in range(-span_lon, span_lon + 1)
    )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


class Spot(NamedTuple):
    """The parts of a sighting the co-sighting search needs (`t`: observed, Unix seconds)."""

    id: int
    seq: int
    subject_id: int
    lat: float
    lon: float
    t: float
    tlp: str
    reporter_id: int | None
    place_kind: str | None = None  # a protected place (`bot.core.disclosure`)

    @property
    def observed_at(self) -> datetime:
        """When it was observed (UTC, to the second)."""
        return datetime.fromtimestamp(self.t, UTC)


@dataclass
class Link:
    """Subjects `a` and `b` (a < b) seen together, with the sightings that say so."""

    a: int
    b: int
    support: list[tuple[Spot, Spot]] = field(default_factory=list)  # (a's, b's)

    @property
    def count(self) -> int:
        """Occasions: separate sightings on both sides (the smaller number)."""
        return min(len({x.id for x, _ in self.support}), len({y.id for _, y in self.support}))

    def other(self, subject_id: int) -> int:
        """The subject on the other side of the link."""
        return self.b if subject_id == self.a else self.a


_S = tables.SIGHTING
_SPOT_COLUMNS = (
    _S.c.id,
    _S.c.seq,
    _S.c.subject_id,
    _S.c.lat,
    _S.c.lon,
    # Seconds, not datetimes: no parsing of each row's timestamp (`links` alone reads many).
    cast(extract("epoch", _S.c.observed_at), Float),
    _S.c.tlp,
    _S.c.reporter_id,
    _S.c.place_kind,
)
_NEAR_BY_CELL = select(*_SPOT_COLUMNS).where(
    _S.c.operation_id == bindparam("op_id"),
    _S.c.cell.in_(bindparam("cells", expanding=True)),
    _S.c.observed_at >= bindparam("low"),
    _S.c.observed_at <= bindparam("high"),
    _S.c.subject_id.is_not(None),
    _S.c.subject_id != bindparam("subject_id"),
)
_NEAR_BY_TIME = select(*_SPOT_COLUMNS).where(
    _S.c.operation_id == bindparam("op_id"),
    _S.c.observed_at >= bindparam("low"),
    _S.c.observed_at <= bindparam("high"),
    _S.c.lat.between(bindparam("lat_low"), bindparam("lat_high")),
    _S.c.cell.is_not(None),
    _S.c.subject_id.is_not(None),
    _S.c.subject_id != bindparam("subject_id"),
)
_OF_SUBJECT = (
    select(*_SPOT_COLUMNS)
    .where(
        _S.c.operation_id == bindparam("op_id"),
        _S.c.subject_id == bindparam("subject_id"),
        _S.c.cell.is_not(None),
    )
    .order_by(_S.c.observed_at.desc())
    .limit(MAX_ANCHORS)
)
_SINCE = (
    select(*_SPOT_COLUMNS, _S.c.cell)
    .where(
        _S.c.operation_id == bindparam("op_id"),
        _S.c.observed_at >= bindparam("since"),
        _S.c.subject_id.is_not(None),
        _S.c.cell.is_not(None),
    )
    .limit(MAX_PERIOD + 1)
)


class PeriodTooLong(ValueError):
    """More sightings in the period than `links` alone goes through in one command."""


def _spot(row: Sequence[Any]) -> Spot:
    return Spot._make(row[:9])


def _close(x: Spot, y: Spot, metres: float, seconds: float) -> bool:
    return abs(x.t - y.t) <= seconds and distance_m(x.lat, x.lon, y.lat, y.lon) <= metres


async def spots_near(
    session: AsyncSession,
    op_id: int,
    anchor: Spot,
    metres: float,
    window: timedelta,
) -> list[Spot]:
    """Sightings of other subjects within `metres` and `window` of `anchor`."""
    conn = await session.connection()
    params: dict[str, object] = {
        "op_id": op_id,
        "low": anchor.observed_at - window - timedelta(seconds=1),
        "high": anchor.observed_at + window + timedelta(seconds=1),
        "subject_id": anchor.subject_id,
    }
    cells = near_cells(anchor.lat, anchor.lon, metres)
    if cells is not None:
        result = await conn.execute(_NEAR_BY_CELL, {**params, "cells": cells})
    else:
        dlat = metres / M_PER_DEG
        params |= {"lat_low": anchor.lat - dlat, "lat_high": anchor.lat + dlat}
        result = await conn.execute(_NEAR_BY_TIME, params)
    seconds = window.total_seconds()
    return [s for s in map(_spot, result.all()) if _close(anchor, s, metres, seconds)]


async def links_of(
    session: AsyncSession,
    op_id: int,
    subject_id: int,
    *,
    metres: float = DEFAULT_DISTANCE_M,
    window: timedelta = DEFAULT_WINDOW,
    anchors: Iterable[Spot] | None = None,
) -> list[Link]:
    """Every subject sighted near `subject_id`, by link (before any access check)."""
    conn = await session.connection()
    if anchors is None:
        result = await conn.execute(_OF_SUBJECT, {"op_id": op_id, "subject_id": subject_id})
        anchors = [_spot(r) for r in result.all()]
    found: dict[int, Link] = {}
    for anchor in anchors:
        for near in await spots_near(session, op_id, anchor, metres, window):
            a, b = sorted((subject_id, near.subject_id))
            link = found.setdefault(near.subject_id, Link(a, b))
            link.support.append((anchor, near) if a == subject_id else (near, anchor))
    return list(found.values())


async def strongest(
    session: AsyncSession,
    op_id: int,
    since: datetime,
    *,
    metres: float = DEFAULT_DISTANCE_M,
    window: timedelta = DEFAULT_WINDOW,
) -> list[Link]:
    """Every pair of subjects sighted near each other since `since` (before any access
    check): one indexed read of the period, then a sweep over grid cells and time slots."""
    conn = await session.connection()
    result = await conn.execute(_SINCE, {"op_id": op_id, "since": since})
    rows = result.all()
    if len(rows) > MAX_PERIOD:
        raise PeriodTooLong(
            _(
                "More than {limit} sightings with coordinates in that period; give a shorter "
                "--since, or ask about one subject with `links S-n`."
            ).format(limit=f"{MAX_PERIOD:,}")
        )
    seconds = window.total_seconds()
    slot = max(seconds, 1.0)
    buckets: dict[tuple[int, int], list[Spot]] = defaultdict(list)
    for row in rows:
        spot = _spot(row)
        buckets[(int(row[9]), math.floor(spot.t / slot))].append(spot)
    found: dict[tuple[int, int], Link] = {}

    def pair(x: Spot, y: Spot) -> None:
        if x.subject_id == y.subject_id or not _close(x, y, metres, seconds):
            return
        if x.subject_id > y.subject_id:
            x, y = y, x
        key = (x.subject_id, y.subject_id)
        link = found.get(key)
        if link is None:
            link = found[key] = Link(*key)
        link.support.append((x, y))

    by_slot: dict[int, list[tuple[int, list[Spot]]]] = defaultdict(list)
    for (cell, k), spots in buckets.items():
        by_slot[k].append((cell, spots))
    # Each pair of buckets once: the same bucket, later cells of the same time slot, and
    # every neighbouring cell of the next slot.
    get = buckets.get
    for (cell, k), spots in buckets.items():
        for i, x in enumerate(spots):
            for y in spots[i + 1 :]:
                pair(x, y)
        cells = cells_around(cell, metres)
        if cells is None:  # a very wide distance: every cell of this slot and the next
            groups = [g for c, g in by_slot.get(k, ()) if c > cell]
            groups += [g for _c, g in by_slot.get(k + 1, ())]
        else:
            groups = []
            for other in cells:
                if other > cell and (same := get((other, k))):
                    groups.append(same)
                if nxt := get((other, k + 1)):
                    groups.append(nxt)
        for group in groups:
            for x in spots:
                for y in group:
                    pair(x, y)
    return list(found.values())


_DISTANCE = re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,3})?)(km|m)?", re.ASCII)


def parse_distance(raw: str) -> float:
    """`200`, `200m`, `1.5km` → metres (10 m to 50 km): ASCII digits only (`float()` would
    also read `nan`, `1e9` and other scripts' digits)."""
    m = _DISTANCE.fullmatch(raw.strip().lower().replace(" ", ""))
    if m is None:
        raise ValueError(_("'{value}' is not a distance; write 200m or 1.5km.").format(value=raw))
    metres = float(m.group(1)) * (1000.0 if m.group(2) == "km" else 1.0)
    if not 10 <= metres <= 50_000:
        raise ValueError(_("--distance must be between 10m and 50km."))
    return metres


_WINDOW = re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,3})?)(min|m|h|d)?", re.ASCII)
_WINDOW_UNITS = {None: 60, "min": 60, "m": 60, "h": 3600, "d": 86400}


def parse_window(raw: str) -> timedelta:
    """`30m`, `45min`, `2h`, `1d`, `30` (minutes) → a time window (1 minute to 7 days).

    ASCII digits of bounded length only: twenty digits are refused with the sentence, never
    handed to `timedelta` (which overflows)."""
    text = raw.strip().lower().replace(" ", "")
    m = _WINDOW.fullmatch(text)
    if m is None:
        raise ValueError(
            _("'{value}' is not a time window; write 30m, 2h or 1d.").format(value=raw)
        )
    window = timedelta(seconds=float(m.group(1)) * _WINDOW_UNITS[m.group(2)])
    if not timedelta(minutes=1) <= window <= timedelta(days=7):
        raise ValueError(_("--window must be between 1 minute and 7 days."))
    return window
