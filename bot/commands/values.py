"""Parsing and showing values: times, durations, time zones, coordinates, grades, countries.

Every parser raises `UsageError` with a sentence that says what was expected.
"""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.base.i18n import N_, _
from bot.commands.countries import ISO_3166_ALPHA2
from bot.commands.errors import UsageError
from bot.commands.walltime import exact_local
from bot.core.access import TLP

TIME_HELP = N_(  # the forms of `parse_time` and of `fieldtime.read_time` (issue 16)
    "use 2026-11-28 14:30, 14:30, 5pm, 17h, yesterday 23:30, 30/11/2026 06:00, 20m ago or in 2h"
)
_UNITS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
}
# ASCII digits only: `str.isdigit()` accepts "²" and `\d` accepts "٣", which `int()` and
# `float()` then refuse or read in ways nobody typed.
_DURATION = re.compile(r"^\s*([0-9]{1,9}(?:\.[0-9]{1,6})?)\s*([a-z]+)\s*$", re.ASCII)
_HHMM = re.compile(r"^([01]?[0-9]|2[0-3])[:h.]([0-5][0-9])$", re.ASCII)
_WHOLE = re.compile(r"[0-9]{1,18}", re.ASCII)
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+){0,2}", re.ASCII)
MAX_DURATION = timedelta(days=3660)  # ten years: more is a typing mistake, never a plan
MAX_TIME_SPAN = timedelta(days=36600)  # times are read within a century of now
DB_INT_MAX = 2**31 - 1  # the largest id every supported database stores in an INTEGER


def parse_int(raw: object, what: str, low: int = 1, high: int = DB_INT_MAX) -> int:
    """The one parser of whole numbers typed by a user: ASCII digits, `low`..`high`.

    `what` names the argument in the sentence (`--limit`, `the item number`). Anything
    else (`²`, `٣`, `-1`, `1e3`, twenty digits) gets one sentence, never reaches `int()`.
    """
    text = str(raw).strip()
    if not _WHOLE.fullmatch(text) or not low <= int(text) <= high:
        if high < DB_INT_MAX:
            sentence = _("{what} must be a whole number from {low} to {high}.")
        else:
            sentence = _("{what} must be a whole number from {low}.")
        raise UsageError(sentence.format(what=what, low=low, high=high))
    return int(text)


MAX_PATH_CHARS = 1024  # a directory typed by the operator; longer is a mistake
MAX_PATH_PART = 255  # bytes of one name: what every file system takes


def parse_path(raw: object, what: str) -> Path:
    """The one parser of file-system paths typed by a user (`--out DIR`).

    `~` and `~/…` are the user's own home; anything else (`~root`, `~XS~`, a NUL, a control
    character, a name longer than a file system takes, a home that cannot be found) gets
    one sentence, and nothing touches the disk here.
    """
    text = str(raw).strip()
    parts = text.split("/")
    bad = (
        not text
        or len(text) > MAX_PATH_CHARS
        or any(unicodedata.category(ch).startswith("C") for ch in text)
        or any(len(part.encode("utf-8", "surrogatepass")) > MAX_PATH_PART for part in parts)
        or (text.startswith("~") and parts[0] != "~")
    )
    path: Path | None = None
    if not bad:
        try:
            path = Path(os.path.expanduser(text)) if parts[0] == "~" else Path(text)
        except (RuntimeError, KeyError, ValueError, OSError):
            path = None
    if path is None or str(path).startswith("~"):
        raise UsageError(
            _(
                "{what} must be a directory path of at most {limit} characters, without "
                "control characters; ~ stands only for your own home (~/…)."
            ).format(what=what, limit=MAX_PATH_CHARS)
        )
    return path


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name (`Europe/Madrid`); UsageError if unknown."""
    try:
        if len(name) > 64 or not _ZONE_NAME.fullmatch(name) or ".." in name:
            raise ValueError(name[:64])
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        shown = name if len(name) <= 64 else name[:64] + "…"
        raise UsageError(
            _(
                "'{value}' is not a time zone I know; use an Area/City name like Europe/Madrid."
            ).format(value=shown)
        ) from None


def parse_duration(raw: str) -> timedelta:
    """`30m`, `2h`, `72h`, `7d`, `1w` → timedelta."""
    m = _DURATION.match(raw.lower())
    if not m or m.group(2) not in _UNITS:
        raise UsageError(
            _("'{raw}' is not a duration; use a number and a unit, like 30m, 2h or 7d.").format(
                raw=raw
            )
        )
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise UsageError(
            _("'{raw}' is too long a duration; the most is {days} days.").format(
                raw=raw, days=MAX_DURATION.days
            )
        )
    return timedelta(seconds=seconds)


def parse_hhmm(raw: str) -> time:
    """`07:00` → time; UsageError otherwise."""
    m = _HHMM.match(raw.strip())
    if not m:
        raise UsageError(_("'{raw}' is not a time of day; use HH:MM, like 07:00.").format(raw=raw))
    return time(int(m.group(1)), int(m.group(2)))


def _local(d: date, t: time, tz: ZoneInfo, raw: str, zone_word: str | None) -> datetime:
    return exact_local(datetime.combine(d, t), tz, raw, zone_word)


def parse_time(raw: str, now: datetime, tz: ZoneInfo, zone_word: str | None = None) -> datetime:
    """Read a time expression (README, "Times as people write them") in zone `tz`; return an
    aware UTC datetime.

    Times more than a century from `now` are refused (they overflow later arithmetic); a
    local time the clocks skip or repeat is refused or asked about (`walltime.exact_local`;
    `zone_word`, like `CET`, picks one of two readings)."""
    when = _parse_time(raw, now, tz, zone_word)
    if abs(when - now) > MAX_TIME_SPAN:
        raise UsageError(
            _("'{raw}' is too far from today; {help}.").format(raw=raw, help=_(TIME_HELP))
        )
    return when


def _parse_time(raw: str, now: datetime, tz: ZoneInfo, zone_word: str | None) -> datetime:
    text = " ".join(raw.strip().lower().split())
    if not text:
        raise UsageError(_("A time is missing; {help}.").format(help=_(TIME_HELP)))
    if text == "now":
        return now
    if text.endswith(" ago") or text.endswith("ago"):
        return now - parse_duration(text.removesuffix("ago").strip())
    if text.startswith("in "):
        return now + parse_duration(text[3:])
    local_now = now.astimezone(tz)
    words = text.split(" ")
    if words[0] in ("today", "tomorrow", "yesterday") and len(words) == 2:
        shift = {"today": 0, "tomorrow": 1, "yesterday": -1}[words[0]]
        day = local_now.date() + timedelta(days=shift)
        return _local(day, parse_hhmm(words[1]), tz, raw, zone_word)
    if _HHMM.match(text):
        return _local(local_now.date(), parse_hhmm(text), tz, raw, zone_word)
    try:
        if not raw.strip().isascii():
            raise ValueError(raw)
        parsed = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            return exact_local(parsed, tz, raw.strip(), zone_word)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise UsageError(
            _("I can't read '{raw}' as a time; {help}.").format(raw=raw, help=_(TIME_HELP))
        ) from None


_NUMBER = re.compile(r"-?[0-9]{1,3}(?:[.,][0-9]+)?", re.ASCII)


def _coordinate_parts(raw: str) -> list[str]:
    """The two numbers of a pair of coordinates, with `.` as the decimal mark; ValueError
    when the text is not two numbers."""
    text = "".join(
        str(unicodedata.digit(c)) if c.isdigit() and not c.isascii() else c for c in raw.strip()
    )
    text = text.replace("٫", ".").replace("،", ",").replace("−", "-")
    if ";" in text:
        parts = text.split(";")
    elif len(text.split()) == 2:
        parts = [p.removesuffix(",") for p in text.split()]
    elif "." in text or text.count(",") == 1:
        parts = text.split(",")
    elif text.count(",") == 3:  # `36,1600,-5,3480`: comma decimals without spaces
        first, second, third, fourth = text.split(",")
        parts = [f"{first},{second}", f"{third},{fourth}"]
    else:
        raise ValueError(raw)
    parts = [p.strip() for p in parts]
    if len(parts) != 2 or not all(_NUMBER.fullmatch(p) for p in parts):
        raise ValueError(raw)
    if any("," in p for p in parts) and "." in text:
        raise ValueError(raw)  # both marks: not a pair anyone writes
    return [p.replace(",", ".") for p in parts]


def coords_words(value: str, following: list[str]) -> int:
    """1 when the next word is the longitude of `value` typed with a space
    (`--coords 36,1600, -5,3480`), else 0."""
    if following and _NUMBER.fullmatch(value.removesuffix(",")) and _NUMBER.fullmatch(following[0]):
        return 1
    return 0


def parse_coords(raw: str) -> tuple[float, float]:
    """`LAT,LON` in decimal degrees, lat −90..90, lon −180..180.

    Also as written where the comma is the decimal mark: `36,1600, -5,3480`,
    `36,1600 -5,3480`, `36,1600;-5,3480` (and Arabic `٣٦٫١٦، -٥٫٣٤`)."""
    try:
        lat, lon = (float(p) for p in _coordinate_parts(raw))
    except ValueError:
        raise UsageError(
            _(
                "'{value}' is not a pair of coordinates; use decimal degrees LAT,LON like "
                "38.7223,-9.1393."
            ).format(value=raw)
        ) from None
    if not (-90 <= lat <= 90) or not (-180 <= lon <= 180) or lat != lat or lon != lon:
        raise UsageError(
            _(
                "Coordinates {value} are out of range: latitude must be -90..90, longitude "
                "-180..180."
            ).format(value=raw)
        )
    return lat, lon


def parse_grade(raw: str) -> str:
    """An Admiralty grade like `B2`: reliability A–F, credibility 1–6."""
    value = raw.strip().upper()
    if not re.fullmatch(r"[A-F][1-6]", value):
        raise UsageError(
            _(
                "'{value}' is not an Admiralty grade: source reliability A-F then information "
                "credibility 1-6, like B2."
            ).format(value=raw)
        )
    return value


def parse_tlp(raw: str) -> TLP:
    """A TLP 2.0 label."""
    try:
        return TLP.parse(raw)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse_country(raw: str) -> str:
    """An ISO 3166 alpha-2 country code (`ES`); `UK` is read as `GB`."""
    code = raw.strip().upper()
    if code == "UK":
        code = "GB"
    if code not in ISO_3166_ALPHA2:
        raise UsageError(
            _("'{value}' is not an ISO 3166 country code; use two letters like ES or PT.").format(
                value=raw
            )
        )
    return code


def parse_countries(raw: str) -> list[str]:
    """A comma-separated list of country codes, each once, in the order given."""
    return list(dict.fromkeys(parse_country(c) for c in raw.split(",") if c.strip()))


def parse_dob(raw: str) -> str:
    """A date of birth: `YYYY` or `YYYY-MM-DD`, not in the future."""
    value = raw.strip()
    try:
        if re.fullmatch(r"[0-9]{4}", value):
            year = int(value)
        elif re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            year = date.fromisoformat(value).year
        else:
            raise ValueError
    except ValueError:
        raise UsageError(
            _("'{value}' is not a date of birth; use YYYY or YYYY-MM-DD.").format(value=raw)
        ) from None
    if not 1900 <= year <= datetime.now(UTC).year:
        raise UsageError(_("'{value}' is not a plausible year of birth.").format(value=raw))
    return value


MAX_REASON = 900


def required_reason(raw: object, what: str) -> str:
    """The `--reason` a change is recorded with: required, at most 900 characters; `what`
    names the change in the refusal ("a correction")."""
    reason = str(raw or "").strip()
    if not reason:
        raise UsageError(
            _('Say why with --reason "…": {what} is recorded with its reason.').format(what=what)
        )
    if len(reason) > MAX_REASON:
        raise UsageError(_("--reason is too long; the limit is 900 characters."))
    return reason
