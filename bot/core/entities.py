"""Entities investigators chase, and the normalised keys that find and deconflict them.

A phone number, a bank account, a handset, an identity document, an online advert or an
address is a subject of its own kind (`subject add phone +34 612 34 56 78`). Its value is
normalised with the library made for it, so that every written form gives one key:

- phones: `phonenumbers`, to E.164, read with the operation's countries as default regions
  (`612345678` in an ES operation, `0034612345678` and `+34 612 34 56 78` are
  `+34612345678`);
- accounts: `schwifty` for an IBAN (its check digits verified) and a BIC; any other account
  number is kept as its letters and digits;
- handsets: `python-stdnum`'s IMEI (the Luhn check digit verified; the key is the 14
  digits of type allocation code and serial, so an IMEISV finds the IMEI);
- documents: the number and its issuing country; a national identity card is checked with
  `python-stdnum`'s module for that country where it has one (ES DNI/NIE, PT CC, …);
- adverts: a URL without scheme, `www.`, fragment or tracking parameters, or `site:handle`;
- addresses: the words in Latin letters, lower case;
- persons: name (words sorted) and date of birth; vehicles: a plate without spaces.

Each key is stored as a search key of the subject (`SubjectKey`, part = its kind, token =
`kind:key`), beside its name's words: `subject find` reads it through the same index, and
the deconfliction across operations (`bot.core.deconfliction`) looks it up by token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

import phonenumbers
from schwifty import BIC, IBAN
from schwifty.exceptions import InvalidChecksumDigits, SchwiftyException
from stdnum import imei, luhn
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.util import get_cc_module

from bot.base.i18n import _
from bot.core.search import fold
from bot.store.models import Subject

ENTITY_KINDS = ("phone", "account", "handset", "document", "advert", "address")
DOC_TYPES = ("passport", "id", "residence", "other")
# National identity numbers python-stdnum checks, by issuing country (lower case ISO code).
_ID_MODULES: dict[str, tuple[str, ...]] = {
    "es": ("dni", "nie"),
    "pt": ("cc",),
    "bg": ("egn",),
    "ro": ("cnp",),
    "it": ("codicefiscale",),
    "nl": ("bsn",),
    "be": ("nn",),
    "pl": ("pesel",),
    "se": ("personnummer",),
    "dk": ("cpr",),
    "ee": ("ik",),
    "lt": ("asmens",),
    "cz": ("rc",),
    "fi": ("hetu",),
}
_PHONE_CHARS = re.compile(r"[0-9+()./\s-]+")
_IBAN_START = re.compile(r"^[A-Za-z]{2}\s*[0-9]{2}")
_ALNUM = re.compile(r"[^A-Z0-9]+")
_TRACKING = ("utm_", "fbclid", "gclid", "ref", "mc_")


class EntityError(ValueError):
    """A value that is not what its kind says: the message is one sentence for the user."""


@dataclass(frozen=True)
class Normal:
    """A value read: how it is shown (the subject's name), and its key."""

    display: str
    key: str


def token(kind: str, key: str) -> str:
    """The search-key token of a normalised key: `phone:+34612345678`."""
    return f"{kind}:{key}"[:200]


# --------------------------------------------------------------------------- readers


def phone(value: str, regions: Sequence[str]) -> Normal:
    """A phone number in E.164, read with `regions` (ISO codes) as default regions."""
    text = value.strip()
    if not _PHONE_CHARS.fullmatch(text) or sum(c.isdigit() for c in text) < 5:
        raise EntityError(
            _("'{value}' is not a phone number: write its digits, like +34 612 34 56 78.").format(
                value=value
            )
        )
    tries: list[str | None] = [r.upper() for r in regions if r] if not text.startswith("+") else []
    tries = tries or [None]
    for region in tries:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            shown = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            key = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            return Normal(shown, key)
    if tries == [None]:
        raise EntityError(
            _(
                "'{value}' is not a valid phone number; write it with its country code "
                "(+34 …), or set the operation's countries (`op new … --countries ES,PT`)."
            ).format(value=value)
        )
    raise EntityError(
        _(
            "'{value}' is not a valid phone number in {countries}; write it with its country "
            "code (+34 …)."
        ).format(value=value, countries=", ".join(r for r in tries if r))
    )


def account(value: str) -> Normal:
    """An IBAN (check digits verified), or another account number as letters and digits."""
    text = value.strip()
    if _IBAN_START.match(text):
        try:
            iban = IBAN(text)
        except InvalidChecksumDigits:
            raise EntityError(
                _(
                    "'{value}' is not a valid IBAN: its check digits are wrong (a digit "
                    "mistyped or two swapped)."
                ).format(value=value)
            ) from None
        except SchwiftyException as exc:
            raise EntityError(
                _("'{value}' is not a valid IBAN: {problem}.").format(
                    value=value, problem=str(exc).rstrip(".")
                )
            ) from None
        return Normal(iban.formatted, iban.compact)
    compact = _ALNUM.sub("", text.upper())
    if not 4 <= len(compact) <= 34:
        raise EntityError(
            _("'{value}' is not an account number: give 4 to 34 letters and digits.").format(
                value=value
            )
        )
    return Normal(text, compact)


def bic(value: str) -> str:
    """A BIC (SWIFT code), checked: `DEUTDEFF`."""
    try:
        return str(BIC(value.strip()))
    except SchwiftyException:
        raise EntityError(
            _("'{value}' is not a valid BIC (8 or 11 characters, like DEUTDEFF).").format(
                value=value
            )
        ) from None


def handset(value: str) -> Normal:
    """An IMEI (15 digits, check digit verified), an IMEI without it (14) or an IMEISV
    (16): the key is the 14 digits of allocation code and serial."""
    digits = imei.compact(value.strip())
    try:
        if len(digits) == 15:
            imei.validate(digits)
        elif len(digits) in (14, 16) and digits.isdigit():
            pass
        else:
            raise ValidationError()
    except InvalidChecksum:
        raise EntityError(
            _("'{value}' is not a valid IMEI: its check digit (the last) is wrong.").format(
                value=value
            )
        ) from None
    except ValidationError:
        raise EntityError(
            _("'{value}' is not an IMEI: it has 15 digits (dial *#06# on the handset).").format(
                value=value
            )
        ) from None
    body = digits[:14]
    full = body + luhn.calc_check_digit(body)
    return Normal(full, body)


def document(value: str, country: str | None, doc_type: str) -> Normal:
    """A document number with its issuing country; a national identity number is checked
    where python-stdnum knows the country's."""
    if not country:
        raise EntityError(
            _("A document needs its issuing country: add --country XX (ISO code, like ES).")
        )
    compact = _ALNUM.sub("", value.upper())
    if not 4 <= len(compact) <= 20:
        raise EntityError(
            _("'{value}' is not a document number: give 4 to 20 letters and digits.").format(
                value=value
            )
        )
    if doc_type in ("id", "residence"):
        modules = [
            get_cc_module(country.lower(), name) for name in _ID_MODULES.get(country.lower(), ())
        ]
        checkers = [m for m in modules if m is not None]
        if checkers:
            for module in checkers:
                try:
                    compact = module.compact(module.validate(compact))
                    break
                except ValidationError:
                    continue
            else:
                raise EntityError(
                    _(
                        "'{value}' is not a valid identity number of {country}: its format or "
                        "check character is wrong."
                    ).format(value=value, country=country.upper())
                )
            compact = _ALNUM.sub("", compact.upper())
    return Normal(compact, f"{country.upper()}:{compact}")


def advert(value: str) -> Normal:
    """An advert: a URL (no scheme, `www.`, fragment or tracking parameters) or
    `site handle` / `site:handle` (`locanto @anna`)."""
    text = value.strip()
    words = text.replace(":", " ").split() if "/" not in text else [text]
    if len(words) == 2 and "." not in words[1]:
        site = words[0].lower().removeprefix("www.")
        handle = words[1].lstrip("@").lower()
        if site and handle:
            return Normal(f"{site} @{handle}", f"{site}:{handle}")
    url = text if "://" in text else f"https://{text}"
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for prefix in ("www.", "m."):
        host = host.removeprefix(prefix)
    if "." not in host or " " in text:
        raise EntityError(
            _(
                "'{value}' is not an advert: give its address (https://site/…) or the site "
                "and the handle (`locanto @anna`)."
            ).format(value=value)
        )
    query = [(k, v) for k, v in parse_qsl(parts.query) if not k.lower().startswith(_TRACKING)]
    path = parts.path.rstrip("/")
    key = host + path + (f"?{urlencode(sorted(query))}" if query else "")
    return Normal(text, key)


def address(value: str) -> Normal:
    """An address: the words in Latin letters, lower case, in order."""
    words = fold(value)
    if not words:
        raise EntityError(_("An address needs letters or digits."))
    return Normal(value.strip(), " ".join(words))


def read(
    kind: str,
    value: str,
    *,
    regions: Sequence[str],
    country: str | None = None,
    doc_type: str = "passport",
) -> Normal:
    """Read `value` as an entity of `kind` (one of ENTITY_KINDS); EntityError if it is not."""
    if kind == "phone":
        return phone(value, regions)
    if kind == "account":
        return account(value)
    if kind == "handset":
        return handset(value)
    if kind == "document":
        return document(value, country, doc_type)
    if kind == "advert":
        return advert(value)
    return address(value)


# ----------------------------------------------------------------------- keys


def _plate(name: str) -> str | None:
    """A vehicle's plate key when its name is a plate (digits and at most 10 characters)."""
    words = fold(name)
    joined = "".join(words)
    if 1 <= len(words) <= 3 and any(c.isdigit() for c in joined) and 4 <= len(joined) <= 10:
        return joined
    return None


def person_key(name: str, dob: str | None) -> str | None:
    """A person's identity key: the name's words sorted, and the date of birth."""
    if not dob:
        return None
    words = sorted(fold(name))
    return f"{' '.join(words)}|{dob}" if words else None


def strong_keys(subject: Subject) -> list[tuple[str, str]]:
    """The subject's normalised keys as (part, token) search keys: what deconfliction and
    `subject find` look up by exact value."""
    out: list[tuple[str, str]] = []
    if subject.kind == "person":
        for name in (subject.name, *subject.aliases):
            key = person_key(name, subject.dob)
            if key:
                out.append(("identity", token("person", key)))
    elif subject.kind == "vehicle":
        plate = _plate(subject.name)
        if plate:
            out.append(("plate", token("plate", plate)))
    elif subject.kind in ENTITY_KINDS:
        try:
            normal = read(
                subject.kind,
                subject.name,
                regions=(),
                country=subject.nationality,
                doc_type="other",
            )
        except EntityError:
            return out
        out.append((subject.kind, token(subject.kind, normal.key)))
    return list(dict.fromkeys(out))


def query_keys(text: str, regions: Sequence[str]) -> list[str]:
    """Every key a search text may stand for (a phone, an IBAN, an IMEI, an advert, an
    address), as tokens: `subject find` looks each up exactly (plates are found by their
    name's words, run together)."""
    out: list[str] = []
    for kind in ("phone", "account", "handset", "advert", "address"):
        try:
            normal = read(kind, text, regions=regions)
        except EntityError:
            continue
        out.append(token(kind, normal.key))
    return list(dict.fromkeys(out))
