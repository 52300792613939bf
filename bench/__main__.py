"""`python -m bench` (`make bench`): run every benchmark and print one table.

Options: `--only fanout,briefing` to run some; `--quick` for the smoke sizes;
`--seconds`, `--big` (the large briefing size, default 1,000,000) and `--no-postgres`
to adjust; `--markdown FILE` to write the table with the date and machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    briefing,
    command_path,
    deconflict,
    fair,
    fanout,
    inprocess,
    national,
    search_links,
    startup,
)
from bench.common import Row, Sizes, machine, table

BENCHMARKS: dict[str, Callable[[Sizes], list[Row]]] = {
    "inprocess": inprocess.run,
    "command": command_path.run,
    "fanout": fanout.run,
    "briefing": briefing.run,
    "links": search_links.run,
    "deconflict": deconflict.run,
    "startup": startup.run,
    "fair": fair.run,
    "national": national.run,
}


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    p.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test's)")
    p.add_argument("--seconds", type=float, help="measured seconds per command-path case")
    p.add_argument("--big", type=int, help="sightings in the large briefing case")
    p.add_argument("--links-size", help="sightings,subjects of the find & links case")
    p.add_argument("--national", help="operations,sightings per operation of the morning case")
    p.add_argument("--links-postgres-only", action="store_true", help="find & links: PG only")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--markdown", type=Path, help="also write the table to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; print the table; exit 1 if a benchmark crashed."""
    args = parse(sys.argv[1:] if argv is None else argv)
    sizes = Sizes.tiny() if args.quick else Sizes.full()
    if args.seconds:
        sizes.seconds = args.seconds
    if args.big:
        sizes.briefing_sizes = (sizes.briefing_sizes[0], args.big)
    if args.links_size:
        n, _, m = args.links_size.partition(",")
        sizes.links_sightings, sizes.links_subjects = int(n), int(m or int(n) // 10)
    if args.national:
        ops, _, per = args.national.partition(",")
        sizes.national_ops = int(ops)
        sizes.national_sightings = int(per or sizes.national_sightings)
    if args.links_postgres_only:
        sizes.links_sqlite = False
    if args.no_postgres:
        sizes.postgres = False
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    before = machine()
    rows: list[Row] = []
    failed: list[str] = []
    for name in chosen:
        t0 = time.perf_counter()
        print(f"running {name} …", file=sys.stderr, flush=True)
        try:
            rows += BENCHMARKS[name](sizes)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
            print(f"  {name} FAILED: {exc}", file=sys.stderr)
        print(f"  {name} took {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    finished = datetime.now(UTC)
    out = table(rows)
    head = (
        f"Run {started:%Y-%m-%d %H:%M}–{finished:%H:%M} UTC\n"
        f"Machine at start: {before}\nMachine at end:   {machine()}\n"
        f"Sizes: {dataclasses.asdict(sizes)}\n"
    )
    print(head)
    print(out)
    for line in failed:
        print(f"FAILED {line}")
    if args.markdown:
        args.markdown.write_text(head + "\n" + out + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
