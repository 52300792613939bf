"""Times written in the reader's language (Babel): `sáb, 28 nov 2026 11:30 CET (10:30 UTC)`.

English keeps the fixed form of `format_time` (`Sat 28 Nov 2026 11:30
CET (10:30 UTC)`); the other languages take the date as CLDR writes it for them (day and
month names, order, punctuation) with a 24-hour clock, the zone's abbreviation, and UTC
beside, so a time read across borders is never ambiguous.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton

from bot.base.i18n import DEFAULT_LANGUAGE, current_language


def format_local(dt: datetime, zone_info: ZoneInfo, language: str) -> str:
    """`dt` in `zone_info`, written for `language` (ISO 639-1), with UTC beside it."""
    local = dt.astimezone(zone_info)
    utc = dt.astimezone(UTC)
    day = format_skeleton("yMMMEd", local, locale=language)
    if local.utcoffset() == timedelta(0) and str(zone_info) in ("UTC", "Etc/UTC"):
        return f"{day} {utc:%H:%M} UTC"
    return f"{day} {local:%H:%M} {local.tzname() or zone_info} ({utc:%H:%M} UTC)"


def format_date(dt: datetime) -> str:
    """A calendar date in the current language: `28 Nov 2026`, `28 nov 2026`, `28 نوفمبر 2026`."""
    language = current_language()
    if language == DEFAULT_LANGUAGE:
        return f"{dt:%d %b %Y}"
    return format_skeleton("yMMMd", dt, locale=language)


def format_time(dt: datetime, tz: ZoneInfo | str = "UTC") -> str:
    """`Sat 28 Nov 2026 11:30 CET (10:30 UTC)`: the reader's zone with UTC beside it."""
    zone_info = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    if current_language() != DEFAULT_LANGUAGE:
        return format_local(dt, zone_info, current_language())
    local = dt.astimezone(zone_info)
    utc = dt.astimezone(UTC)
    shown = local.strftime("%a %d %b %Y %H:%M ") + (local.tzname() or str(zone_info))
    if local.utcoffset() == timedelta(0) and str(zone_info) in ("UTC", "Etc/UTC"):
        return utc.strftime("%a %d %b %Y %H:%M UTC")
    return f"{shown} ({utc.strftime('%H:%M')} UTC)"
