"""Sightings in bulk, straight into the store (executemany on SQLite, COPY on PostgreSQL).

History for the briefing benchmark: `total` sightings of OP-BENCH, of which the newest
`new` were reported after `since` (the last briefing) and the rest over the year before.
Subjects are few and sightings spread over them, as in a long operation.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Column

from bot.core.links import grid_cell
from bot.store.models import Sighting

LOCATIONS = (
    "Algeciras port",
    "Tarifa ferry terminal",
    "Ceuta border post",
    "Faro bus station",
    "Huelva industrial estate",
    "Sines container terminal",
    "Málaga airport, arrivals",
    "Lisbon Santa Apolónia",
)
GRADES = ("A1", "B2", "B3", "C2", "C3", "D4", "F6")
TLPS = ("amber", "amber", "green", "clear", "amber+strict")
BATCH = 20_000


def _naive(dt: datetime) -> datetime:
    return dt.replace(tzinfo=None)


def sighting_rows(
    *,
    operation_id: int,
    subject_ids: list[int],
    reporter_id: int | None,
    total: int,
    new: int,
    since: datetime,
    first_seq: int = 1,
    seed: int = 7,
) -> Iterator[dict[str, Any]]:
    """Rows for the sighting table (naive UTC datetimes); the last `new` come after `since`."""
    rng = random.Random(seed)
    old = total - new
    year = timedelta(days=365).total_seconds()
    for n in range(total):
        if n < old:
            # Spread evenly over the year before `since`, oldest first.
            reported = since - timedelta(seconds=year * (old - n) / max(old, 1))
        else:
            reported = since + timedelta(seconds=(n - old + 1) * 60)
        observed = reported - timedelta(minutes=rng.randint(1, 180))
        with_subject = subject_ids and rng.random() < 0.85
        lat, lon = round(36.0 + rng.random(), 5), round(-6.0 + rng.random(), 5)
        yield {
            "operation_id": operation_id,
            "seq": first_seq + n,
            "subject_id": rng.choice(subject_ids) if with_subject else None,
            "description": None if with_subject else f"white van, plate ending {n % 1000:03d}",
            "location": rng.choice(LOCATIONS),
            "lat": lat,
            "lon": lon,
            "observed_at": _naive(observed),
            "reported_at": _naive(reported),
            "grade": rng.choice(GRADES),
            "tlp": rng.choice(TLPS),
            "note": None,
            "observer": None,
            "reporter_id": reporter_id,
            "match_notice_id": None,
            "cell": grid_cell(lat, lon),
        }


def _columns() -> list[Column[Any]]:
    """The sighting table's columns except the key, checked against what we generate."""
    cols = [c for c in Sighting.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
    return cols


def _tuples(rows: Iterator[dict[str, Any]], names: list[str]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield tuple(row.get(name) for name in names)


def _check(cols: list[Column[Any]]) -> None:
    known = set(
        next(
            sighting_rows(
                operation_id=1,
                subject_ids=[1],
                reporter_id=None,
                total=1,
                new=0,
                since=datetime(2026, 1, 1),
            )
        )
    )
    missing = [c.name for c in cols if c.name not in known and not c.nullable]
    if missing:
        raise RuntimeError(f"bench/bulk.py does not fill sighting columns {missing}")


def _sqlite_value(value: Any) -> Any:
    # The format SQLAlchemy's SQLite DateTime stores, so the ORM reads these rows back.
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def insert_sqlite(path: str, rows: Iterator[dict[str, Any]]) -> int:
    """executemany into a SQLite file, in batches; returns how many rows."""
    cols = _columns()
    _check(cols)
    names = [c.name for c in cols]
    sql = f"INSERT INTO sighting ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
    count = 0
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        batch: list[tuple[Any, ...]] = []
        for values in _tuples(rows, names):
            batch.append(tuple(_sqlite_value(v) for v in values))
            if len(batch) >= BATCH:
                conn.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            conn.executemany(sql, batch)
            count += len(batch)
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()
    return count


def insert_postgres(url: str, rows: Iterator[dict[str, Any]]) -> int:
    """COPY into PostgreSQL (`postgresql://…`); returns how many rows."""
    cols = _columns()
    _check(cols)
    names = [c.name for c in cols]
    count = 0
    with psycopg.connect(url) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY sighting ({', '.join(names)}) FROM STDIN") as copy,
        ):
            for values in _tuples(rows, names):
                copy.write_row(values)
                count += 1
        conn.execute("ANALYZE sighting")
    return count
