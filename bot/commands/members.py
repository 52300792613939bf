"""Identity and onboarding: `whoami`, `link`, `join`, `me tz|lang` (SPEC section 2)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlmodel import col, select

from bot.audit import Action
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, NotFound, UsageError
from bot.commands.registry import Arg, command
from bot.commands.values import zone
from bot.contracts import Reply
from bot.messages import Message
from bot.models import Agency, Identity, Invite, LinkCode, Member, Membership, Operation

LINK_CODE_TTL = timedelta(minutes=10)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed on phones


def new_code(length: int = 8) -> str:
    """A random code that is easy to read out and type."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def identity_label(ident: Identity) -> str:
    """`telegram 987654 (@ana)`."""
    shown = f" ({ident.display_name})" if ident.display_name else ""
    return f"{ident.platform} {ident.key}{shown}"


def admins_entry(platform: str, key: str) -> str:
    """This identity as `TASKFORCE_ADMINS` names it: `slack:T0123/U0456`, `telegram:987654`."""
    return f"{platform}:{key}"


@command(
    "whoami",
    "whoami",
    "Show who you are here: member, agency, identities, operations.",
    needs_member=False,
)
async def whoami(ctx: CommandContext) -> Reply:
    """The actor's member record, identities and memberships, and this account's exact
    `TASKFORCE_ADMINS` entry (how an operator finds the Slack or Telegram ids)."""
    entry = admins_entry(ctx.inv.actor.platform, ctx.inv.actor.key)
    if ctx.actor is None:
        return Reply(
            Message(
                title="Not registered",
                fields=[("TASKFORCE_ADMINS entry", entry)],
                lines=[
                    f"You are {ctx.inv.actor.platform} {ctx.inv.actor.key}, "
                    "not yet a Taskforce member.",
                    "Ask a lead for an invite and type `join <code>`; or, if you already use "
                    "Taskforce elsewhere, type `link` there and `link <code>` here.",
                ],
            )
        )
    member = ctx.actor
    s = ctx.session
    agency = await s.get(Agency, member.agency_id) if member.agency_id else None
    idents = (await s.exec(select(Identity).where(Identity.member_id == member.id))).all()
    rows = (
        await s.exec(
            select(Membership, Operation)
            .join(Operation, col(Operation.id) == col(Membership.operation_id))
            .where(Membership.member_id == member.id)
            .order_by(col(Operation.code))
        )
    ).all()
    tz = await ctx.tz()
    fields = [
        ("Agency", f"{agency.code} — {agency.name} ({agency.country})" if agency else "none"),
        ("Time zone", str(tz)),
        ("Language", member.language or (agency.language if agency else "en")),
    ]
    if member.is_admin:
        fields.append(("Admin", "yes"))
    fields.append(("TASKFORCE_ADMINS entry", entry))
    lines = ["Identities:"] + [f"  {identity_label(i)}" for i in idents]
    lines += ["Operations:"] + (
        [f"  {op.code} {op.name} — {ms.role} ({op.status})" for ms, op in rows] or ["  none"]
    )
    return Reply(Message(title=member.name, fields=fields, lines=lines))


@command(
    "link",
    "link [code]",
    "Without a code: get a one-time code (10 minutes). With one: attach this account.",
    args=(Arg("code", required=False),),
    needs_member=False,
    action=Action.ALTER,
)
async def link(ctx: CommandContext) -> Reply:
    """Issue a link code, or redeem one to attach this platform identity to its member."""
    code = ctx.args.get("code")
    s = ctx.session
    if code is None:
        if ctx.actor is None:
            raise CommandError(
                "This account is not registered yet: type `link` on the platform where you "
                "already use Taskforce, then `link <code>` here."
            )
        value = new_code()
        s.add(
            LinkCode(code=value, member_id=ctx.member().id or 0, expires_at=ctx.now + LINK_CODE_TTL)
        )
        ctx.audit(Action.COLLECT, object_ref="link-code")
        return Reply(
            Message(
                title="Link code",
                lines=[
                    f"Your code: {value}",
                    f"On your other platform, type `link {value}` within 10 minutes.",
                ],
            )
        )
    row = (await s.exec(select(LinkCode).where(LinkCode.code == code.strip().upper()))).first()
    if row is None or row.used_at is not None or row.expires_at <= ctx.now:
        raise NotFound(
            f"The link code {code} is wrong, used or expired; type `link` again on your other "
            "platform for a new one."
        )
    if ctx.actor is not None:
        if ctx.actor.id == row.member_id:
            raise CommandError("This account is already yours; nothing to link.")
        raise CommandError(
            "This account already belongs to another Taskforce member; it cannot be linked."
        )
    row.used_at = ctx.now
    s.add(row)
    s.add(
        Identity(
            member_id=row.member_id,
            platform=ctx.inv.actor.platform,
            key=ctx.inv.actor.key,
            display_name=ctx.inv.actor.display_name[:200] or None,
            can_dm=not ctx.inv.channel.is_group,
            created_at=ctx.now,
        )
    )
    member = await s.get(Member, row.member_id)
    ctx.actor = member
    ctx.audit(Action.ALTER, object_ref=f"member:{row.member_id}", reason="identity linked")
    name = member.name if member else "your member record"
    return Reply(Message(lines=[f"Linked: this {ctx.inv.actor.platform} account is now {name}."]))


@command(
    "join",
    "join <code>",
    "Redeem an invite to an operation.",
    args=(Arg("code"),),
    needs_member=False,
    action=Action.COLLECT,
    writes=True,
)
async def join(ctx: CommandContext) -> Reply:
    """Redeem an invite: create the member if new, then the membership with the invite's role."""
    s = ctx.session
    code = str(ctx.args["code"]).strip().upper()
    invite = (await s.exec(select(Invite).where(Invite.code == code))).first()
    if invite is None:
        raise NotFound(f"No invite {code}; check the code with the lead who sent it.")
    if invite.expires_at <= ctx.now:
        raise CommandError(f"The invite {code} has expired; ask the lead for a new one.")
    if invite.uses_left <= 0:
        raise CommandError(f"The invite {code} has been used up; ask the lead for a new one.")
    op = await s.get(Operation, invite.operation_id)
    assert op is not None
    if op.status == "closed":
        raise CommandError(f"{op.code} is closed; it takes no new members.")
    member = ctx.actor
    created = False
    if member is None:
        member = Member(
            name=(ctx.inv.actor.display_name or f"{ctx.inv.actor.platform} {ctx.inv.actor.key}")[
                :200
            ],
            created_at=ctx.now,
        )
        s.add(member)
        await s.flush()
        s.add(
            Identity(
                member_id=member.id or 0,
                platform=ctx.inv.actor.platform,
                key=ctx.inv.actor.key,
                display_name=ctx.inv.actor.display_name[:200] or None,
                can_dm=not ctx.inv.channel.is_group,
                created_at=ctx.now,
            )
        )
        ctx.actor = member
        created = True
    existing = (
        await s.exec(
            select(Membership).where(
                Membership.operation_id == op.id, Membership.member_id == member.id
            )
        )
    ).first()
    if existing is not None:
        raise CommandError(f"You are already in {op.code} as {existing.role}; the invite is kept.")
    invite.uses_left -= 1
    s.add(invite)
    s.add(
        Membership(
            operation_id=op.id or 0, member_id=member.id or 0, role=invite.role, joined_at=ctx.now
        )
    )
    ctx.op = op
    ctx.audit(Action.COLLECT, object_ref=f"member:{member.id}", reason=f"invite {code}")
    lines = [f"Welcome to {op.code} {op.name}: you are {invite.role}."]
    if created:
        lines.append(
            "Set your time zone with `me tz Area/City` (for example `me tz Europe/Lisbon`)."
        )
    return Reply(Message(title="Joined", lines=lines))


@command(
    "me tz", "me tz <Area/City>", "Set your time zone.", args=(Arg("value"),), action=Action.ALTER
)
async def me_tz(ctx: CommandContext) -> Reply:
    """Set the actor's time zone (IANA name)."""
    tz = zone(str(ctx.args["value"]))
    member = ctx.member()
    member.timezone = str(tz)
    ctx.session.add(member)
    ctx.audit(Action.ALTER, object_ref=f"member:{member.id}", reason="time zone")
    return Reply(
        Message(lines=[f"Your time zone is now {tz}. Times are shown in it, with UTC beside."])
    )


LANGUAGES = {
    "en",
    "es",
    "pt",
    "fr",
    "de",
    "it",
    "nl",
    "pl",
    "ro",
    "bg",
    "el",
    "uk",
    "ru",
    "ar",
    "tr",
}


@command(
    "me lang",
    "me lang <code>",
    "Set your language (two letters, like es).",
    args=(Arg("value"),),
    action=Action.ALTER,
)
async def me_lang(ctx: CommandContext) -> Reply:
    """Set the actor's language (ISO 639-1)."""
    code = str(ctx.args["value"]).strip().lower()
    if len(code) != 2 or not code.isalpha():
        raise UsageError(f"'{code}' is not a language code; use two letters like es or pt.")
    member = ctx.member()
    member.language = code
    ctx.session.add(member)
    ctx.audit(Action.ALTER, object_ref=f"member:{member.id}", reason="language")
    note = "" if code in LANGUAGES else " (replies stay in English for now)"
    return Reply(Message(lines=[f"Your language is now {code}{note}."]))
