"""Search and links at scale read index ranges (issue 31): the statements `subject find`
and `links S-1` send to PostgreSQL, captured at the driver, EXPLAINed over an ANALYZE'd
operation of realistic shape (generated names and aliases with their search keys, a year
of sightings in a 1°×1° box, `bench.search_links`) — no sequential scan on the tables that
grow with an operation (sightings, subjects, their search keys)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bench.scenario import command, prepared_app
from bench.search_links import populate
from tests.conftest import PG_URL, fresh_pg_database

BIG = {"sighting", "subject", "subjectkey"}
SIGHTINGS, SUBJECTS = 40_000, 6_000


def _plain(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def _scans(plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(node type, relation) of every node of a JSON plan."""
    yield plan["Node Type"], plan.get("Relation Name", "")
    for child in plan.get("Plans", []):
        yield from _scans(child)


@pytest.fixture
def big_pg() -> Iterator[str]:
    """An empty PostgreSQL database (the App migrates it), as a libpq URL."""
    if not PG_URL:
        pytest.skip("TASKFORCE_TEST_POSTGRES_URL is not set")
    url, drop = fresh_pg_database()
    yield _plain(url)
    drop()


async def test_find_and_links_read_the_big_tables_by_index_only(
    big_pg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await prepared_app(big_pg)
    try:
        await populate(app, SIGHTINGS, SUBJECTS, big_pg)
        with psycopg.connect(big_pg, autocommit=True) as conn:
            conn.execute("ANALYZE")
        sent: list[tuple[str, Any]] = []
        real = psycopg.AsyncCursor.execute

        async def recording(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
            sent.append((query if isinstance(query, str) else query.as_string(self), params))
            return await real(self, query, params, **kw)

        monkeypatch.setattr(psycopg.AsyncCursor, "execute", recording)
        found = await command(app, "subject find Petrov")
        linked = await command(app, "links S-1")
        monkeypatch.undo()
    finally:
        await app.close()
    assert "Ivan Petrov" in found
    assert "S-2 Marko Horvat — seen together 3 times" in linked

    reads = [(q, p) for q, p in sent if q.lstrip().upper().startswith("SELECT")]
    touched: set[str] = set()
    with psycopg.connect(big_pg) as conn:
        for query, params in reads:
            row = conn.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchone()
            assert row is not None
            plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
            nodes = list(_scans(plan[0]["Plan"]))
            touched |= {rel for _node, rel in nodes if rel in BIG}
            seq = [rel for node, rel in nodes if node == "Seq Scan" and rel in BIG]
            assert not seq, f"sequential scan on {seq}:\n{query}\n{json.dumps(plan)[:2000]}"
    # The check saw the statements that matter: keys for find, sightings for links.
    assert {"subjectkey", "sighting"} <= touched
