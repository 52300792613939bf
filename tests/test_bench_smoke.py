"""Each benchmark, run at tiny sizes so that it cannot rot. Nothing here asserts on timing.

What is checked is that every benchmark still drives the real pieces end to end: signed
requests get the real sighting reply from `taskforce serve`, every fanned-out post reaches
the fakes, the briefing is built over the bulk history, and the start-up and memory
figures are taken from a served process. PostgreSQL cases run when
`TASKFORCE_TEST_POSTGRES_URL` is set.
"""

from __future__ import annotations

import math
import os

import pytest

from bench import briefing, command_path, deconflict, fair, fanout, national, search_links, startup
from bench.common import Row, Sizes, table

PG_URL = os.environ.get("TASKFORCE_TEST_POSTGRES_URL")


@pytest.fixture
def sizes() -> Sizes:
    """The tiny sizes, on PostgreSQL too when the test database is configured."""
    s = Sizes.tiny()
    s.postgres = bool(PG_URL)
    if PG_URL:
        s.pg_admin_url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    return s


def backends() -> list[str]:
    """The store backends the smoke run covers."""
    return ["SQLite", "PostgreSQL"] if PG_URL else ["SQLite"]


def check_rows(rows: list[Row]) -> None:
    """Every row has a finite figure, no recorded failure, and prints in the table."""
    assert rows
    for row in rows:
        assert math.isfinite(row.value), row
        assert row.value >= 0, row
        assert not row.note or "failed" not in row.note, row.note
        assert "nothing succeeded" not in row.note, row.note
    assert table(rows).count("\n") >= len(rows) + 1


def test_command_path_gets_real_sighting_replies_from_the_served_app(sizes: Sizes) -> None:
    text, expect = command_path.command_text()
    assert text.startswith("sighting") and expect == "SG-"
    rows = command_path.run(sizes)
    check_rows(rows)
    cases = [r.case for r in rows]
    for backend in backends():
        assert f"{backend} closed loop, 2 clients" in cases
        assert f"{backend} open loop 20/s, p99" in cases
    closed = [r for r in rows if "closed" in r.case]
    assert all(r.value > 0 and r.baseline for r in closed), closed


def test_fanout_delivers_every_post_to_slack_and_telegram_fakes(sizes: Sizes) -> None:
    # run() raises unless the fakes received exactly one post per linked channel.
    rows = fanout.run(sizes)
    check_rows(rows)
    assert [r.case.split(",")[0] for r in rows] == backends()
    assert all(r.value > 0 and r.baseline for r in rows)


def test_briefing_is_built_over_bulk_history(sizes: Sizes) -> None:
    rows = briefing.run(sizes)
    check_rows(rows)
    small, big = sizes.briefing_sizes
    cases = " ".join(r.case for r in rows)
    assert f"{small:,}" in cases and f"{big:,}" in cases
    assert all(r.value > 0 for r in rows)


def test_find_and_links_run_over_bulk_history(sizes: Sizes) -> None:
    # The benchmark itself checks that `links S-1` finds the planted pattern (3 times)
    # and that `subject find Petrov` finds S-1; it raises otherwise.
    rows = search_links.run(sizes)
    check_rows(rows)
    assert len(rows) == 5 * len(backends())
    assert all(r.baseline and r.baseline > 0 for r in rows)
    assert any("`links S-1`" in r.case for r in rows)


def test_startup_and_memory_are_measured_on_the_served_process(sizes: Sizes) -> None:
    rows = startup.run(sizes)
    check_rows(rows)
    by_case = {r.case: r for r in rows}
    ready = by_case["ready after launch, empty database (migrates)"]
    assert ready.value > 0 and ready.baseline
    end = by_case[f"RSS after {sizes.memory_commands:,} commands"]
    assert end.value > 10 and end.baseline, end  # a Python process is never under 10 MiB


def test_fair_floor_and_taskforce_answer_the_same_sighting(sizes: Sizes) -> None:
    # The floor answers "Recorded Sighting SG-n" only after its transaction committed.
    rows = fair.run(sizes)
    check_rows(rows)
    cases = [r.case for r in rows]
    for backend in backends():
        assert f"HTTP {backend}, 10 clients closed loop" in cases
    assert all(r.value > 0 and r.baseline for r in rows)


def test_national_morning_queues_each_briefing_once_on_two_replicas(sizes: Sizes) -> None:
    if not PG_URL:
        pytest.skip("TASKFORCE_TEST_POSTGRES_URL is not set")
    rows = national.run(sizes)
    check_rows(rows)
    once = [r for r in rows if "fires claimed" in r.case]
    assert once and once[0].met, once


def test_deconfliction_checks_against_the_bare_lookup(sizes: Sizes) -> None:
    rows = deconflict.run(sizes)
    check_rows(rows)
    assert [r.case.split(",")[0] for r in rows] == backends()
    assert all(r.baseline for r in rows)
