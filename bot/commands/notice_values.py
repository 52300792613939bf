"""What a recorded notice's own values must look like (issue 28): the requesting country
or NCB, INTERPOL's reference, the publication date, a UN Special Notice's committee.

A requesting country is an ISO 3166 alpha-2 code (`PT`) or the name INTERPOL gives its
National Central Bureau, which is named after the city it sits in (`NCB Lisbon`,
`INTERPOL Lisbon`); a country's name in a language (`Portugal`) or an unassigned code
(`XX`) is refused. A reference is INTERPOL's control number as printed
(`A-4411/11-2026`): letters, digits, `-`, `/` and `.`, with at least one digit and one
`/`. A UN Special Notice is issued at the request of a UN Security Council sanctions
committee, never of a country: it names the committee with `--committee`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from bot.base.i18n import _
from bot.commands.errors import UsageError
from bot.commands.values import parse_country

_NCB = re.compile(r"(?:NCB|INTERPOL)\s+[^\W\d_][^\W\d_' .-]*(?:[' .-][^\W\d_]+)*", re.IGNORECASE)
_REF = re.compile(r"(?=.*[0-9])(?=.*/)[A-Za-z0-9][A-Za-z0-9/.\-]{2,39}")


def parse_requesting(raw: str, flag: str = "requested-by") -> str:
    """`PT` (upper-cased) or `NCB Lisbon` (as typed); anything else one sentence."""
    value = " ".join(raw.split())
    if len(value) <= 3:
        try:
            return parse_country(value)
        except UsageError:
            pass
    elif _NCB.fullmatch(value):
        return value
    raise UsageError(
        _(
            "'{value}' is not a country code or an NCB's name; give --{flag} as the ISO 3166 "
            "code (PT) or the NCB's name (NCB Lisbon)."
        ).format(value=raw, flag=flag)
    )


def parse_notice_ref(raw: str) -> str:
    """A reference as INTERPOL prints it (`A-4411/11-2026`)."""
    value = raw.strip()
    if not _REF.fullmatch(value):
        raise UsageError(
            _(
                "'{value}' is not a notice reference; give it as printed on the notice, like "
                "A-4411/11-2026."
            ).format(value=raw)
        )
    return value


def parse_published(raw: str, now: datetime) -> datetime:
    """`--published YYYY-MM-DD`: the day INTERPOL published it, not after today."""
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        raise UsageError(
            _("'{value}' is not a publication date; give it as YYYY-MM-DD.").format(value=raw)
        ) from None
    if day > now.date():
        raise UsageError(
            _("'{value}' is in the future; a notice is recorded once published.").format(value=raw)
        )
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
