"""Unit tests of the command core's parsers: tokenizer, flags, time, coordinates, grade, refs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.base.localtime import format_time
from bot.commands.errors import UsageError
from bot.commands.refs import fmt_ref, is_op_code, looks_like_ref, parse_ref
from bot.commands.registry import Arg, Command, Flag, OpMode
from bot.commands.tokenizer import tokenize
from bot.commands.values import (
    parse_coords,
    parse_countries,
    parse_dob,
    parse_duration,
    parse_grade,
    parse_hhmm,
    parse_time,
    parse_tlp,
    zone,
)
from bot.contracts import Reply
from bot.core.access import TLP

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)  # a Saturday; Madrid is UTC+1 in winter
MADRID = ZoneInfo("Europe/Madrid")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (
            'op new "Night Harbour" --countries ES,PT',
            ["op", "new", "Night Harbour", "--countries", "ES,PT"],
        ),
        ("op new 'Night Harbour'", ["op", "new", "Night Harbour"]),
        ("op new “Night Harbour”", ["op", "new", "Night Harbour"]),
        ("op new ‘Night Harbour’", ["op", "new", "Night Harbour"]),
        ("op new „Noche Puerto“", ["op", "new", "Noche Puerto"]),
        ("op new «Porto Noite»", ["op", "new", "Porto Noite"]),
        ("subject add person O'Brien", ["subject", "add", "person", "O'Brien"]),
        ('--note ""', ["--note", ""]),
        (r"say a\ b", ["say", "a b"]),
        ("  spaced   out\t words ", ["spaced", "out", "words"]),
        ("", []),
    ],
)
def test_tokenize(line: str, words: list[str]) -> None:
    assert tokenize(line) == words


@pytest.mark.parametrize("line", ['op new "Night', "op new “Night", "op new 'x", "x «y"])
def test_tokenize_refuses_an_unclosed_quote(line: str) -> None:
    with pytest.raises(UsageError, match="A quote is not closed"):
        tokenize(line)


async def _noop(ctx: object) -> Reply:  # pragma: no cover - never called
    raise AssertionError


CMD = Command(
    name="thing do",
    usage="thing do [OP] <a> [rest…] [--when TIME] [--tag T]... [--force]",
    summary="test",
    handler=_noop,  # type: ignore[arg-type]
    args=(Arg("a"), Arg("rest", required=False, rest=True)),
    flags=(Flag("when", kind="time"), Flag("tag", multi=True), Flag("force", kind="bool")),
    op=OpMode.REQUIRED,
)


def test_flags_and_arguments() -> None:
    parsed = CMD.parse(
        ["OP-X", "one", "two", "three", "--when", "20m", "ago", "--tag", "a", "--tag=b", "--force"],
        1000,
    )
    assert parsed.op_code == "OP-X"
    assert parsed["a"] == "one" and parsed["rest"] == ["two", "three"]
    assert parsed["when"] == "20m ago" and parsed["tag"] == ["a", "b"] and parsed["force"] is True
    assert CMD.parse(["x", "--when", "tomorrow", "05:30"], 1000)["when"] == "tomorrow 05:30"
    assert CMD.parse(["x", "--when", "2026-11-28", "14:30"], 1000)["when"] == "2026-11-28 14:30"
    assert CMD.parse(["x", "--when", "20", "min", "ago"], 1000)["when"] == "20 min ago"
    assert CMD.parse(["x", "--WHEN", "now"], 1000)["when"] == "now"
    # A negative number is a value, not a flag.
    assert CMD.parse(["x", "--tag", "-9.1"], 1000)["tag"] == ["-9.1"]


@pytest.mark.parametrize(
    ("words", "sentence"),
    [
        ([], "<a> is missing."),
        (
            ["x", "--colour", "red"],
            "`thing do` has no flag --colour; it takes --when, --tag, --force.",
        ),
        (["x", "--when"], "--when needs a value."),
        (["x", "--when", "--force"], "--when needs a value."),
        (["x", "--force=yes"], "--force takes no value."),
        (["x", "--when", "now", "--when", "now"], "--when is given twice; give it once."),
        (
            ["x", "--tag", "y" * 11],
            "The text of --tag is too long (11 characters); the limit is 10.",
        ),
        (["y" * 11], "<a> is too long (11 characters); the limit is 10."),
        (["x", "yyyyy", "zzzzz"], "<rest> is too long (12 characters); the limit is 10."),
    ],
)
def test_parse_errors(words: list[str], sentence: str) -> None:
    with pytest.raises(UsageError) as err:
        CMD.parse(words, 10)
    assert err.value.sentence == sentence


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("now", NOW),
        ("20m ago", NOW - timedelta(minutes=20)),
        ("2h ago", NOW - timedelta(hours=2)),
        ("20 min ago", NOW - timedelta(minutes=20)),
        ("in 2h", NOW + timedelta(hours=2)),
        ("14:30", datetime(2026, 11, 28, 13, 30, tzinfo=UTC)),  # Madrid time, UTC+1
        ("tomorrow 05:30", datetime(2026, 11, 29, 4, 30, tzinfo=UTC)),
        ("yesterday 23:00", datetime(2026, 11, 27, 22, 0, tzinfo=UTC)),
        ("2026-11-28 14:30", datetime(2026, 11, 28, 13, 30, tzinfo=UTC)),
        ("2026-07-01 14:30", datetime(2026, 7, 1, 12, 30, tzinfo=UTC)),  # summer: UTC+2
        ("2026-11-28T14:30:00Z", datetime(2026, 11, 28, 14, 30, tzinfo=UTC)),
        ("2026-11-28T14:30+00:00", datetime(2026, 11, 28, 14, 30, tzinfo=UTC)),
        ("  Tomorrow   05:30 ", datetime(2026, 11, 29, 4, 30, tzinfo=UTC)),
    ],
)
def test_parse_time(raw: str, expected: datetime) -> None:
    got = parse_time(raw, NOW, MADRID)
    assert got == expected and got.tzinfo is not None


@pytest.mark.parametrize("raw", ["", "soon", "25:00", "tomorrow", "2026-13-01", "20x ago"])
def test_parse_time_refuses(raw: str) -> None:
    with pytest.raises(UsageError):
        parse_time(raw, NOW, MADRID)


def test_format_time_shows_the_readers_zone_with_utc() -> None:
    at = datetime(2026, 11, 28, 13, 30, tzinfo=UTC)
    assert format_time(at, MADRID) == "Sat 28 Nov 2026 14:30 CET (13:30 UTC)"
    assert format_time(at, "UTC") == "Sat 28 Nov 2026 13:30 UTC"
    assert format_time(at, "Europe/Lisbon") == "Sat 28 Nov 2026 13:30 WET (13:30 UTC)"


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("30m", 1800), ("2h", 7200), ("72h", 259200), ("7d", 604800), ("1w", 604800), ("1.5h", 5400)],
)
def test_parse_duration(raw: str, seconds: int) -> None:
    assert parse_duration(raw) == timedelta(seconds=seconds)


@pytest.mark.parametrize("raw", ["", "h", "5", "5 parsecs", "-2h", "forever"])
def test_parse_duration_refuses(raw: str) -> None:
    with pytest.raises(UsageError, match="is not a duration"):
        parse_duration(raw)


def test_parse_hhmm() -> None:
    assert parse_hhmm("07:00").hour == 7 and parse_hhmm("7h05").minute == 5
    with pytest.raises(UsageError, match="is not a time of day"):
        parse_hhmm("24:00")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("38.7223,-9.1393", (38.7223, -9.1393)),
        (" 38.7223 , -9.1393 ", (38.7223, -9.1393)),
        ("38.7223;-9.1393", (38.7223, -9.1393)),
        ("-90,180", (-90.0, 180.0)),
        ("0,0", (0.0, 0.0)),
    ],
)
def test_parse_coords(raw: str, expected: tuple[float, float]) -> None:
    assert parse_coords(raw) == expected


@pytest.mark.parametrize(
    ("raw", "sentence"),
    [
        ("91,0", "out of range"),
        ("0,181", "out of range"),
        ("-90.5,0", "out of range"),
        ("nan,0", "is not a pair of coordinates"),
        ("inf,0", "is not a pair of coordinates"),
        ("38.7", "is not a pair of coordinates"),
        ("a,b", "is not a pair of coordinates"),
        ("1,2,3", "is not a pair of coordinates"),
    ],
)
def test_parse_coords_refuses(raw: str, sentence: str) -> None:
    with pytest.raises(UsageError, match=sentence):
        parse_coords(raw)


def test_parse_grade() -> None:
    assert parse_grade("b2") == "B2" and parse_grade(" F6 ") == "F6" and parse_grade("A1") == "A1"
    for bad in ("G1", "A7", "A0", "B", "2B", "B22", ""):
        with pytest.raises(UsageError, match="is not an Admiralty grade"):
            parse_grade(bad)


def test_parse_tlp() -> None:
    assert parse_tlp("amber") is TLP.AMBER
    assert parse_tlp("TLP:AMBER+STRICT") is TLP.AMBER_STRICT
    assert parse_tlp("amber-strict") is TLP.AMBER_STRICT
    assert parse_tlp("white") is TLP.CLEAR
    assert TLP.RED.label == "TLP:RED"
    with pytest.raises(UsageError, match="is not a TLP label"):
        parse_tlp("purple")


def test_countries_and_zones() -> None:
    assert parse_countries("es, pt,UK,es") == ["ES", "PT", "GB"]
    with pytest.raises(UsageError, match="'XX' is not an ISO 3166 country code"):
        parse_countries("ES,XX")
    assert str(zone("Europe/Madrid")) == "Europe/Madrid"
    for bad in ("Mars/Base", "", "/etc/passwd", "../../etc/passwd", "Europe"):
        with pytest.raises(UsageError, match="is not a time zone I know"):
            zone(bad)


def test_parse_dob() -> None:
    assert parse_dob("1990") == "1990" and parse_dob("1990-02-28") == "1990-02-28"
    for bad in ("1990-02-30", "90", "1850", "3000", "28/02/1990"):
        with pytest.raises(UsageError):
            parse_dob(bad)


def test_references() -> None:
    ref = parse_ref("sg-15")
    assert (ref.prefix, ref.seq, ref.kind, str(ref)) == ("SG", 15, "sighting", "SG-15")
    full = parse_ref("op-nightjar/S-3")
    assert (full.op_code, full.kind) == ("OP-NIGHTJAR", "subject")
    assert parse_ref("R-1", expect="R").kind == "raid"
    with pytest.raises(UsageError, match="is a subject reference; this needs a raid"):
        parse_ref("S-1", expect="R")
    with pytest.raises(UsageError):
        parse_ref("X-1")
    assert looks_like_ref("N-2") and not looks_like_ref("N2") and not looks_like_ref("OP-X")
    assert is_op_code("OP-NIGHT-HARBOUR") and not is_op_code("NIGHT")
    assert fmt_ref("SG", 15, "OP-X") == "OP-X/SG-15" and fmt_ref("S", 3) == "S-3"
