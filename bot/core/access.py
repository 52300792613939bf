"""Roles, permissions and TLP rules (README, "A tour of the commands" and "Victim safety
and need-to-know")."""

from __future__ import annotations

import enum

from bot.base.i18n import _
from bot.base.tlp import TLP as TLP
from bot.base.tlp import TLP_ORDER as TLP_ORDER

ROLES = ["lead", "member", "partner", "observer"]


def tlp_max(*labels: str | TLP | None) -> TLP | None:
    """The most restrictive of the given labels (None if none)."""
    found = [TLP(x) for x in labels if x]
    return max(found, key=lambda t: t.rank) if found else None


def tlp_allows(ceiling: str | TLP, item: str | TLP) -> bool:
    """Whether an item with TLP `item` may be shown where the ceiling is `ceiling`."""
    return TLP(item).rank <= TLP(ceiling).rank


def channel_ceiling(max_tlp: str | TLP, single_agency: bool) -> TLP:
    """What a channel may show at most: its ceiling, never RED, AMBER+STRICT only for one
    agency."""
    ceiling = TLP(max_tlp)
    if ceiling is TLP.RED:
        ceiling = TLP.AMBER_STRICT
    if ceiling is TLP.AMBER_STRICT and not single_agency:
        ceiling = TLP.AMBER
    return ceiling


class Role(enum.StrEnum):
    """A member's role in one operation."""

    LEAD = "lead"
    MEMBER = "member"
    ANALYST = "analyst"  # a member who also grades intelligence (issue 15)
    PARTNER = "partner"
    OBSERVER = "observer"

    @classmethod
    def parse(cls, raw: str) -> Role:
        """Parse a role name; raise ValueError with the list of roles."""
        try:
            return cls(raw.strip().lower())
        except ValueError:
            raise ValueError(
                _(
                    "'{value}' is not a role; use one of lead, member, analyst, partner, observer."
                ).format(value=raw)
            ) from None


class Perm(enum.StrEnum):
    """An action class of the role table (the README's command tables, column "who")."""

    READ_OP = "read the operation"
    READ_INTEL = "read subjects, notices and sightings"
    ADD_SUBJECT = "add subjects"
    POST_SIGHTING = "post sightings"
    ISSUE_NOTICE = "record notices"
    PLAN_RAID = "plan raids"
    TICK_ITEM = "tick checklist items"
    CANCEL_NOTICE = "renew or cancel notices"
    RAID_COMMAND = "give the raid go or abort"
    SCHEDULE_BRIEF = "schedule briefings"
    MANAGE = "manage the operation"
    AUDIT = "read the audit log"
    EXPORT = "export the case file"
    DECIDE_LINK = "confirm or dismiss links between subjects"
    ASSIGN_DUTY = "assign raid duties"
    GRADE = "grade intelligence"
    ERASE = "erase records or keep them past review"
    RECORD_EVIDENCE = "record exhibits and statements"


_ALL = {Role.LEAD, Role.MEMBER, Role.ANALYST, Role.PARTNER, Role.OBSERVER}
_OFFICERS = {Role.LEAD, Role.MEMBER, Role.ANALYST}  # an analyst does what a member does
ROLE_TABLE: dict[Perm, set[Role]] = {
    Perm.READ_OP: _ALL,
    Perm.READ_INTEL: _ALL,  # partner and observer narrowed by `bot.core.disclosure`
    Perm.ADD_SUBJECT: _OFFICERS,
    Perm.POST_SIGHTING: {*_OFFICERS, Role.PARTNER},
    Perm.ISSUE_NOTICE: _OFFICERS,
    Perm.PLAN_RAID: _OFFICERS,
    Perm.TICK_ITEM: {*_OFFICERS, Role.PARTNER},  # partner: items of their role
    Perm.CANCEL_NOTICE: {Role.LEAD},
    Perm.RAID_COMMAND: {Role.LEAD},
    Perm.SCHEDULE_BRIEF: {Role.LEAD},
    Perm.MANAGE: {Role.LEAD},
    Perm.AUDIT: {Role.LEAD},
    Perm.EXPORT: {Role.LEAD},
    Perm.DECIDE_LINK: {Role.LEAD},
    Perm.ASSIGN_DUTY: {Role.LEAD},
    Perm.GRADE: {Role.LEAD, Role.ANALYST},
    Perm.ERASE: {Role.LEAD},
    Perm.RECORD_EVIDENCE: _OFFICERS,
}


def role_allows(role: Role | None, perm: Perm) -> bool:
    """Whether `role` may do `perm` (None: not a member, never)."""
    return role is not None and role in ROLE_TABLE[perm]
