"""Identity and onboarding: `whoami`, `link`, `join`, `me tz|lang`.

README, "Identity and operations".
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from bot.base.i18n import LANGUAGES, N_, _, current_language, supported, switch_language
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, NotFound, UsageError
from bot.commands.registry import Arg, command
from bot.commands.values import zone
from bot.contracts import Reply
from bot.core import members
from bot.core.vocabulary import term
from bot.store.audit import Action
from bot.store.models import Identity

LINK_CODE_TTL = timedelta(minutes=10)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed on phones


def new_code(length: int = 8) -> str:
    """A random code that is easy to read out and type."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def identity_label(ident: Identity) -> str:
    """`telegram 987654 (@ana)`."""
    shown = f" ({ident.display_name})" if ident.display_name else ""
    return f"{ident.platform} {ident.key}{shown}"


def _newcomer(ctx: CommandContext) -> members.Newcomer:
    """The actor as `bot.core.members` records a new identity."""
    actor = ctx.inv.actor
    return members.Newcomer(
        actor.platform, actor.key, actor.display_name, reachable=not ctx.inv.channel.is_group
    )


def admins_entry(platform: str, key: str) -> str:
    """This identity as `TASKFORCE_ADMINS` names it: `slack:T0123/U0456`, `telegram:987654`."""
    return f"{platform}:{key}"


@command(
    "whoami",
    "whoami",
    N_("Show who you are here: member, agency, identities, operations."),
    needs_member=False,
)
async def whoami(ctx: CommandContext) -> Reply:
    """The actor's member record, identities and memberships, and this account's exact
    `TASKFORCE_ADMINS` entry (how an operator finds the Slack or Telegram ids)."""
    entry = admins_entry(ctx.inv.actor.platform, ctx.inv.actor.key)
    if ctx.actor is None:
        return Reply(
            Message(
                title=_("Not registered"),
                fields=[(_("TASKFORCE_ADMINS entry"), entry)],
                lines=[
                    _("You are {identity}, not yet a Taskforce member.").format(
                        identity=f"{ctx.inv.actor.platform} {ctx.inv.actor.key}"
                    ),
                    _(
                        "Ask a lead for an invite and type `join <code>`; or, if you already "
                        "use Taskforce elsewhere, type `link` there and `link <code>` here."
                    ),
                ],
            )
        )
    member = ctx.actor
    s = ctx.session
    agency = await members.agency_of(s, member)
    idents = await members.identities(s, member.id or 0)
    rows = await members.memberships_of(s, member.id or 0)
    tz = await ctx.tz()
    shown = current_language()
    fields = [
        (
            _("Agency"),
            f"{agency.code} — {agency.name} ({agency.country})" if agency else _("none"),
        ),
        (_("Time zone"), str(tz)),
        (_("Language"), f"{LANGUAGES[shown]} ({shown})"),
    ]
    if member.is_admin:
        fields.append((_("Admin"), _("yes")))
    fields.append((_("TASKFORCE_ADMINS entry"), entry))
    lines = [_("Identities:")] + [f"  {identity_label(i)}" for i in idents]
    lines += [_("Operations:")] + (
        [f"  {op.code} {op.name} — {term(ms.role)} ({term(op.status)})" for ms, op in rows]
        or ["  " + _("none")]
    )
    return Reply(Message(title=member.name, fields=fields, lines=lines))


@command(
    "link",
    "link [code]",
    N_("Without a code: get a one-time code (10 minutes). With one: attach this account."),
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
                _(
                    "This account is not registered yet: type `link` on the platform where "
                    "you already use Taskforce, then `link <code>` here."
                )
            )
        value = new_code()
        members.issue_link_code(s, value, ctx.member().id or 0, ctx.now + LINK_CODE_TTL)
        ctx.audit(Action.COLLECT, object_ref="link-code")
        return Reply(
            Message(
                title=_("Link code"),
                lines=[
                    _("Your code: {code}").format(code=value),
                    _("On your other platform, type `{command}` within 10 minutes.").format(
                        command=f"link {value}"
                    ),
                ],
            )
        )
    row = await members.link_code(s, code.strip().upper())
    if row is None or row.used_at is not None or row.expires_at <= ctx.now:
        raise NotFound(
            _(
                "The link code {code} is wrong, used or expired; type `link` again on your "
                "other platform for a new one."
            ).format(code=code)
        )
    if ctx.actor is not None:
        if ctx.actor.id == row.member_id:
            raise CommandError(_("This account is already yours; nothing to link."))
        raise CommandError(
            _("This account already belongs to another Taskforce member; it cannot be linked.")
        )
    member = await members.redeem_link_code(s, row, _newcomer(ctx), ctx.now)
    ctx.actor = member
    ctx.audit(Action.ALTER, object_ref=f"member:{row.member_id}", reason="identity linked")
    if member is not None:
        switch_language(member.language or ctx.inv.locale)
    name = member.name if member else _("your member record")
    return Reply(
        Message(
            lines=[
                _("Linked: this {platform} account is now {name}.").format(
                    platform=ctx.inv.actor.platform, name=name
                )
            ]
        )
    )


@command(
    "join",
    "join <code>",
    N_("Redeem an invite to an operation."),
    args=(Arg("code"),),
    needs_member=False,
    action=Action.COLLECT,
    writes=True,
)
async def join(ctx: CommandContext) -> Reply:
    """Redeem an invite: create the member if new, then the membership with the invite's role."""
    s = ctx.session
    code = str(ctx.args["code"]).strip().upper()
    invite = await members.invite(s, code)
    if invite is None:
        raise NotFound(
            _("No invite {code}; check the code with the lead who sent it.").format(code=code)
        )
    if invite.expires_at <= ctx.now:
        raise CommandError(
            _("The invite {code} has expired; ask the lead for a new one.").format(code=code)
        )
    if invite.uses_left <= 0:
        raise CommandError(
            _("The invite {code} has been used up; ask the lead for a new one.").format(code=code)
        )
    op = await members.operation_of(s, invite)
    if op.status == "closed":
        raise CommandError(_("{code} is closed; it takes no new members.").format(code=op.code))
    member = ctx.actor
    created = False
    if member is None:
        member = await members.new_member(s, _newcomer(ctx), ctx.now)
        ctx.actor = member
        created = True
    existing = await members.membership(s, op.id or 0, member.id or 0)
    if existing is not None:
        raise CommandError(
            _("You are already in {code} as {role}; the invite is kept.").format(
                code=op.code, role=term(existing.role)
            )
        )
    members.redeem_invite(s, invite, member, ctx.now)
    ctx.op = op
    ctx.audit(Action.COLLECT, object_ref=f"member:{member.id}", reason=f"invite {code}")
    lines = [
        _("Welcome to {operation}: you are {role}.").format(
            operation=f"{op.code} {op.name}", role=term(invite.role)
        )
    ]
    if created:
        lines.append(
            _("Set your time zone with `me tz Area/City` (for example `me tz Europe/Lisbon`).")
        )
    return Reply(Message(title=_("Joined"), lines=lines))


@command(
    "me tz",
    "me tz <Area/City>",
    N_("Set your time zone."),
    args=(Arg("value"),),
    action=Action.ALTER,
)
async def me_tz(ctx: CommandContext) -> Reply:
    """Set the actor's time zone (IANA name)."""
    tz = zone(str(ctx.args["value"]))
    member = ctx.member()
    members.set_timezone(ctx.session, member, str(tz))
    ctx.audit(Action.ALTER, object_ref=f"member:{member.id}", reason="time zone")
    return Reply(
        Message(
            lines=[
                _("Your time zone is now {zone}. Times are shown in it, with UTC beside.").format(
                    zone=tz
                )
            ]
        )
    )


@command(
    "me lang",
    "me lang <code>",
    N_("Set your language: en, es, pt, fr or ar."),
    args=(Arg("value"),),
    action=Action.ALTER,
)
async def me_lang(ctx: CommandContext) -> Reply:
    """Set the actor's language: one of `bot.base.i18n.LANGUAGES` (this reply is already in it)."""
    raw = str(ctx.args["value"]).strip()
    code = raw.lower()
    if code not in LANGUAGES:
        code = supported(raw) or ""
    if code not in LANGUAGES or len(raw) > 16:
        raise UsageError(
            _("'{value}' is not a language I speak; choose one of {codes}.").format(
                value=raw[:16], codes=", ".join(LANGUAGES)
            )
        )
    member = ctx.member()
    members.set_language(ctx.session, member, code)
    ctx.audit(Action.ALTER, object_ref=f"member:{member.id}", reason="language")
    switch_language(code)
    return Reply(
        Message(
            lines=[
                _("Your language is now {language} ({code}).").format(
                    language=LANGUAGES[code], code=code
                )
            ]
        )
    )
