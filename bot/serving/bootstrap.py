"""Admin bootstrap from `TASKFORCE_ADMINS`, and the admin helpers behind `taskforce admin`."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import select

from bot.base.config import Settings
from bot.base.platforms import PLATFORMS, platform_names
from bot.base.platforms import platform as platform_line
from bot.commands.countries import ISO_3166_ALPHA2
from bot.commands.errors import UsageError
from bot.commands.values import zone
from bot.store import audit
from bot.store.engine import Store
from bot.store.models import Agency, Identity, Member

AGENCY_KINDS = ("police", "border", "prosecution", "interpol-ncb", "europol", "ngo", "other")


def parse_identity(raw: str) -> tuple[str, str]:
    """`slack:T0123/U0456` → ("slack", "T0123/U0456"); ValueError with a sentence."""
    platform, _, key = raw.strip().partition(":")
    platform, key = platform.lower(), key.strip()
    names = platform_names()
    if platform not in names or not key or len(key) > 128 or any(c.isspace() for c in key):
        forms = [f"{p.name}:{p.example}" for p in PLATFORMS] + ["console:NAME"]
        raise ValueError(f"'{raw}' is not an identity; use {', '.join(forms[:-1])} or {forms[-1]}.")
    line = platform_line(platform)
    if line is not None and not line.valid_key(key):
        raise ValueError(f"'{raw}' {line.hint or 'is not an identity there.'}")
    return platform, key


def _zone(name: str) -> str:
    try:
        return str(zone(name))
    except UsageError as exc:
        raise ValueError(exc.sentence) from None


def _name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError(f"The {what} name must be 1 to 200 characters.")
    return name


async def ensure_admins(store: Store, settings: Settings, now: datetime) -> int:
    """Create or promote the members named in `TASKFORCE_ADMINS`; return how many changed."""
    changed = 0
    wanted = [parse_identity(f"{p}:{k}") for p, k in settings.admin_identities()]
    for platform, key in wanted:
        async with store.transaction() as session:
            ident = (
                await session.exec(
                    select(Identity).where(Identity.platform == platform, Identity.key == key)
                )
            ).first()
            if ident is not None:
                member = await session.get(Member, ident.member_id)
                if member is None or member.is_admin:
                    continue
                member.is_admin = True
                session.add(member)
            else:
                member = Member(
                    name=Member.placeholder_name(platform, key),
                    is_admin=True,
                    created_at=now,
                )
                session.add(member)
                await session.flush()
                session.add(
                    Identity(member_id=member.id or 0, platform=platform, key=key, created_at=now)
                )
            await audit.append(
                session,
                at=now,
                actor="taskforce",
                action=audit.Action.ALTER,
                command="bootstrap admin",
                object_ref=f"member:{member.id}",
                reason=f"TASKFORCE_ADMINS {platform}:{key}",
            )
            changed += 1
    return changed


async def add_agency(
    store: Store,
    now: datetime,
    *,
    code: str,
    name: str,
    country: str,
    kind: str = "other",
    timezone: str = "UTC",
    language: str = "en",
) -> Agency:
    """Create an agency (CLI). Raises ValueError with a sentence on bad input."""
    code = code.strip().upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{1,31}", code):
        raise ValueError(
            f"'{code}' is not an agency code; use letters, digits and dashes, like ES-PN."
        )
    name = _name(name, "agency")
    country = country.strip().upper()
    if country not in ISO_3166_ALPHA2:
        raise ValueError(f"'{country}' is not an ISO 3166 country code; use two letters like ES.")
    kind = kind.strip().lower()
    if kind not in AGENCY_KINDS:
        raise ValueError(f"'{kind}' is not an agency kind; use one of {', '.join(AGENCY_KINDS)}.")
    timezone = _zone(timezone)
    language = language.strip().lower()
    if not re.fullmatch(r"[a-z]{2}", language):
        raise ValueError(f"'{language}' is not a language code; use two letters like es.")
    async with store.transaction() as session:
        if (await session.exec(select(Agency).where(Agency.code == code))).first():
            raise ValueError(f"Agency {code} exists already.")
        agency = Agency(
            code=code, name=name, country=country, kind=kind, timezone=timezone, language=language
        )
        session.add(agency)
        await session.flush()
        await audit.append(
            session,
            at=now,
            actor="cli",
            action=audit.Action.COLLECT,
            command="admin add-agency",
            object_ref=f"agency:{code}",
        )
        return agency


async def add_member(
    store: Store,
    now: datetime,
    *,
    name: str,
    identities: list[str],
    agency: str | None = None,
    admin: bool = False,
    timezone: str | None = None,
) -> Member:
    """Create a member with identities (CLI). Raises ValueError with a sentence on bad input."""
    name = _name(name, "member")
    parsed = list(dict.fromkeys(parse_identity(i) for i in identities))
    if not parsed:
        raise ValueError("A member needs at least one --identity.")
    if timezone:
        timezone = _zone(timezone)
    async with store.transaction() as session:
        agency_id = None
        if agency:
            row = (await session.exec(select(Agency).where(Agency.code == agency.upper()))).first()
            if row is None:
                raise ValueError(f"No agency {agency}; add it with `taskforce admin add-agency`.")
            agency_id = row.id
        for platform, key in parsed:
            if (
                await session.exec(
                    select(Identity).where(Identity.platform == platform, Identity.key == key)
                )
            ).first():
                raise ValueError(f"{platform}:{key} already belongs to a member.")
        member = Member(
            name=name, agency_id=agency_id, is_admin=admin, timezone=timezone, created_at=now
        )
        session.add(member)
        await session.flush()
        for platform, key in parsed:
            session.add(
                Identity(member_id=member.id or 0, platform=platform, key=key, created_at=now)
            )
        await audit.append(
            session,
            at=now,
            actor="cli",
            action=audit.Action.COLLECT,
            command="admin add-member",
            object_ref=f"member:{member.id}",
        )
        return member
