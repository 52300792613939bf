"""`op …`: operations, membership, invites and channel links (README, "Identity and operations")."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.base.i18n import CHANNEL_LANGUAGE, N_, _, use_language
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, NotFound, UsageError
from bot.commands.members import new_code
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.values import (
    parse_countries,
    parse_duration,
    parse_tlp,
    zone,
)
from bot.contracts import Reply, Visibility
from bot.core import operations
from bot.core.access import TLP, Perm, Role
from bot.core.fanout import channel_link
from bot.core.vocabulary import term
from bot.store.audit import Action
from bot.store.models import ChannelLink, Invite, Member, Membership

STATUSES = ("planning", "active", "suspended", "closed")
MAX_INVITE_USES = 100
MAX_INVITE_TTL = timedelta(days=30)
MAX_NAME = 200  # Operation.name
MAX_COUNTRIES = 60  # Operation.countries holds "ES,PT,…" in 200 characters


def code_from_name(name: str) -> str:
    """`Night Harbour` → `OP-NIGHT-HARBOUR`."""
    slug = re.sub(r"[^A-Z0-9]+", "-", name.upper()).strip("-")[:30] or "OPERATION"
    return f"OP-{slug}"


def normalise_code(raw: str) -> str:
    """Validate an operation code given with `--code`; add `OP-` if missing."""
    code = raw.strip().upper()
    if not code.startswith("OP-"):
        code = f"OP-{code}"
    if not re.fullmatch(r"OP-[A-Z0-9][A-Z0-9-]{0,36}", code):
        raise UsageError(
            _(
                "'{value}' is not an operation code; use letters, digits and dashes, like "
                "OP-NIGHTJAR."
            ).format(value=raw)
        )
    return code


def member_ref(member: Member) -> str:
    """`M-7`: how members are addressed in `op role` and `op remove`."""
    return f"M-{member.id}"


async def find_member_in_op(ctx: CommandContext, raw: str) -> tuple[Member, Membership]:
    """A member of the current operation by `M-7`, name, name prefix or platform id."""
    op = ctx.operation()
    rows = await operations.memberships(ctx.session, op.id or 0)
    token = raw.strip()
    mention = re.fullmatch(r"<@([A-Z0-9]+)(?:\|[^>]*)?>", token)  # Slack mention
    if mention:
        token = mention.group(1)
    token_l = token.lower().lstrip("@")
    m_id = re.fullmatch(r"m-([0-9]{1,9})", token_l)
    if m_id:
        hits = [r for r in rows if r[0].id == int(m_id.group(1))]
    else:
        hits = [r for r in rows if r[0].name.lower() == token_l]
        if not hits:
            idents = await operations.identities_of(ctx.session, [m.id for m, _ in rows])
            ids = {
                i.member_id
                for i in idents
                if i.key.lower() == token_l
                or i.key.lower().endswith("/" + token_l)
                or (i.display_name or "").lower().lstrip("@") == token_l
            }
            hits = [r for r in rows if r[0].id in ids]
        if not hits:
            hits = [r for r in rows if r[0].name.lower().startswith(token_l)]
    if not hits:
        raise NotFound(
            _("No member '{value}' in {code}; see `op members`.").format(value=raw, code=op.code)
        )
    if len(hits) > 1:
        names = ", ".join(f"{member_ref(m)} {m.name}" for m, _ in hits)
        raise UsageError(
            _("'{value}' could be {names}; use the M-number.").format(value=raw, names=names)
        )
    return hits[0]


async def count_leads(ctx: CommandContext) -> int:
    """How many leads the current operation has."""
    return await operations.count_leads(ctx.session, ctx.operation().id or 0)


@command(
    "op new",
    "op new <name> [--code OP-X] [--countries ES,PT] [--tlp amber] [--tz Europe/Madrid]",
    N_("Create an operation (admins); you become its lead."),
    args=(Arg("name"),),
    flags=(Flag("code"), Flag("countries"), Flag("tlp"), Flag("tz")),
    admin_only=True,
    action=Action.COLLECT,
    visibility=Visibility.CHANNEL,
)
async def op_new(ctx: CommandContext) -> Reply:
    """Create an operation; its creator is its first lead."""
    s = ctx.session
    name = str(ctx.args["name"]).strip()
    if not name:
        raise UsageError(_("The operation needs a name."))
    if len(name) > MAX_NAME:
        raise UsageError(
            _("The operation name is too long ({length} characters); the limit is {limit}.").format(
                length=len(name), limit=MAX_NAME
            )
        )
    code = normalise_code(ctx.args["code"]) if ctx.args.get("code") else code_from_name(name)
    countries = parse_countries(ctx.args["countries"]) if ctx.args.get("countries") else []
    if len(countries) > MAX_COUNTRIES:
        raise UsageError(
            _("An operation spans at most {limit} countries.").format(limit=MAX_COUNTRIES)
        )
    tlp = parse_tlp(ctx.args["tlp"]) if ctx.args.get("tlp") else TLP.AMBER
    tz = zone(ctx.args["tz"]) if ctx.args.get("tz") else zone(ctx.settings.timezone)
    if await operations.code_taken(s, code):
        raise CommandError(_("{code} is taken; choose another with --code.").format(code=code))
    op = await operations.create(
        s,
        code=code,
        name=name,
        countries=countries,
        tlp=tlp.value,
        timezone=str(tz),
        creator_id=ctx.member().id or 0,
        now=ctx.now,
    )
    ctx.op, ctx.role = op, Role.LEAD
    ctx.audit(Action.COLLECT, object_ref=code)
    return Reply(
        Message(
            title=_("{code} created").format(code=code),
            fields=[
                (_("Name"), name),
                (_("Countries"), ", ".join(countries) or "—"),
                (_("Default TLP"), tlp.label),
                (_("Time zone"), str(tz)),
                (_("Status"), term("planning")),
            ],
            lines=[
                _("Next: `op invite` to bring people in, `op link` in a channel to post there.")
            ],
            context=_("{code} · you are lead").format(code=code),
        ),
        visibility=Visibility.CHANNEL,
    )


@command("op list", "op list", N_("List the operations you belong to."))
async def op_list(ctx: CommandContext) -> Reply:
    """The actor's operations (admins: all of them)."""
    s = ctx.session
    member = ctx.member()
    if member.is_admin:
        ops = await operations.all_operations(s)
        roles = await operations.roles_of(s, member.id or 0)
        lines = [
            f"{o.code} {o.name} — {term(o.status)} ({term(roles.get(o.id or 0, 'admin'))})"
            for o in ops
        ]
    else:
        rows = await operations.operations_of(s, member.id or 0)
        lines = [f"{o.code} {o.name} — {term(o.status)} ({term(ms.role)})" for o, ms in rows]
    return Reply(
        Message(title=_("Your operations"), lines=lines or [_("You are in no operation yet.")])
    )


def _your_role(ctx: CommandContext, tz: ZoneInfo) -> str:
    """`member`, or, read through `op access`: `break-glass until 14:30 (reason)`."""
    note = ctx.breakglass_note
    if note is not None:
        return _("break-glass until {time} ({reason})").format(
            time=note.until.astimezone(tz).strftime("%H:%M"), reason=note.reason
        )
    return term(ctx.role.value) if ctx.role else "—"


@command("op show", "op show [OP]", N_("Show an operation."), op=OpMode.REQUIRED, perm=Perm.READ_OP)
async def op_show(ctx: CommandContext) -> Reply:
    """Operation details, counts and linked channels."""
    op = ctx.operation()
    s = ctx.session
    members = await operations.member_count(s, op.id or 0)
    links = await operations.links_of(s, op.id or 0)
    tz = await ctx.tz()
    ctx.audit(Action.CONSULT, object_ref=op.code)
    return Reply(
        Message(
            title=f"{op.code} {op.name}",
            fields=[
                (_("Status"), term(op.status)),
                (_("Countries"), op.countries.replace(",", ", ") or "—"),
                (_("Default TLP"), TLP(op.tlp).label),
                (_("Time zone"), op.timezone),
                (_("Members"), str(members)),
                (_("Created"), format_time(op.created_at, tz)),
                (_("Your role"), _your_role(ctx, tz)),
            ],
            lines=[_("Linked channels:")]
            + (
                [
                    "  "
                    + _("{platform} {channel} (up to {ceiling})").format(
                        platform=ln.platform,
                        channel=ln.channel_name or ln.channel_key,
                        ceiling=TLP(ln.max_tlp).label,
                    )
                    for ln in links
                ]
                or ["  " + _("none — `op link` in a channel to post there")]
            ),
            context=op.code,
        )
    )


@command(
    "op members",
    "op members [OP]",
    N_("List the members of an operation and their roles."),
    op=OpMode.REQUIRED,
    perm=Perm.READ_OP,
)
async def op_members(ctx: CommandContext) -> Reply:
    """Members with agency and role."""
    op = ctx.operation()
    rows = await operations.roster(ctx.session, op.id or 0)
    no_agency = _("no agency")
    lines = [
        f"{member_ref(m)} {m.name} ({a.code if a else no_agency}) — {term(ms.role)}"
        for m, ms, a in rows
    ]
    ctx.audit(Action.CONSULT, object_ref=f"{op.code}/members")
    return Reply(
        Message(title=_("{code} members").format(code=op.code), lines=lines, context=op.code)
    )


@command(
    "op status",
    "op status [OP] <planning|active|suspended|closed>",
    N_("Change an operation's status (lead; admins too, without reading its records)."),
    args=(Arg("status"),),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    admin_manages=True,
    writes=True,
    action=Action.ALTER,
)
async def op_status(ctx: CommandContext) -> Reply:
    """Move the operation to a new status and tell its channels."""
    op = ctx.operation()
    status = str(ctx.args["status"]).lower()
    if status not in STATUSES:
        raise UsageError(
            _("'{value}' is not a status; use planning, active, suspended or closed.").format(
                value=status
            )
        )
    if status == op.status:
        raise CommandError(_("{code} is already {status}.").format(code=op.code, status=status))
    old = await operations.set_status(ctx.session, op, status, ctx.now)
    ctx.audit(Action.ALTER, object_ref=op.code, reason=f"{old} -> {status}")
    who = ctx.member().name
    with use_language(CHANNEL_LANGUAGE):  # a post to the channels (README "Languages")
        post = Message(
            title=_("{code} is now {status}").format(code=op.code, status=status),
            lines=[_("Changed by {name}.").format(name=who)],
            context=op.code,
        )
    await ctx.fanout(post, tlp=TLP.GREEN, kind="op-status")
    note = " " + _("It takes no more changes.") if status == "closed" else ""
    return Reply(
        Message(
            lines=[
                _("{code} is now {status} (was {old}).").format(
                    code=op.code, status=term(status), old=term(old)
                )
                + note
            ]
        ),
        visibility=Visibility.CHANNEL,
    )


@command(
    "op invite",
    "op invite [OP] [--role member] [--uses 1] [--expires 72h]",
    N_("Create an invite code (lead)."),
    flags=(Flag("role"), Flag("uses", kind="int", high=MAX_INVITE_USES), Flag("expires")),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.COLLECT,
)
async def op_invite(ctx: CommandContext) -> Reply:
    """An invite with a role, a use count and an expiry."""
    op = ctx.operation()
    try:
        role = Role.parse(ctx.args.get("role", "member"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    uses = int(ctx.args.get("uses", 1))  # read by the registry (`Flag(kind="int")`)
    ttl = parse_duration(ctx.args.get("expires", "72h"))
    if ttl <= timedelta(0) or ttl > MAX_INVITE_TTL:
        raise UsageError(_("--expires must be more than 0 and at most 30 days, like 72h or 7d."))
    code = new_code(10)
    invite = Invite(
        code=code,
        operation_id=op.id or 0,
        role=role.value,
        uses_left=uses,
        expires_at=ctx.now + ttl,
        created_by=ctx.member().id,
        created_at=ctx.now,
    )
    operations.add_invite(ctx.session, invite)
    ctx.audit(Action.COLLECT, object_ref=f"{op.code}/invite", reason=f"role {role.value}")
    tz = await ctx.tz()
    return Reply(
        Message(
            title=_("Invite to {code}").format(code=op.code),
            fields=[
                (_("Code"), code),
                (_("Role"), role.value),
                (_("Uses"), str(uses)),
                (_("Expires"), format_time(invite.expires_at, tz)),
            ],
            lines=[
                _("Send it privately; the person types `{command}` on any platform.").format(
                    command=f"join {code}"
                )
            ],
            context=op.code,
        )
    )


@command(
    "op role",
    "op role [OP] <member> <role>",
    N_("Change a member's role (lead)."),
    args=(Arg("member"), Arg("role")),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.ALTER,
)
async def op_role(ctx: CommandContext) -> Reply:
    """Change a member's role; an operation keeps at least one lead."""
    op = ctx.operation()
    try:
        role = Role.parse(ctx.args["role"])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    member, ms = await find_member_in_op(ctx, ctx.args["member"])
    if ms.role == role.value:
        raise CommandError(
            _("{name} is already {role} in {code}.").format(
                name=member.name, role=term(role.value), code=op.code
            )
        )
    if ms.role == "lead" and await count_leads(ctx) <= 1:
        raise CommandError(
            _("{name} is the only lead of {code}; make someone else lead first.").format(
                name=member.name, code=op.code
            )
        )
    old = operations.set_role(ctx.session, ms, role.value)
    ctx.audit(
        Action.ALTER, object_ref=f"{op.code}/{member_ref(member)}", reason=f"{old} -> {role.value}"
    )
    return Reply(
        Message(
            lines=[
                _("{name} is now {role} in {code} (was {old}).").format(
                    name=member.name, role=term(role.value), code=op.code, old=term(old)
                )
            ]
        )
    )


@command(
    "op remove",
    "op remove [OP] <member>",
    N_("Remove a member from an operation (lead)."),
    args=(Arg("member"),),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.ALTER,
)
async def op_remove(ctx: CommandContext) -> Reply:
    """Remove a membership; never the last lead."""
    op = ctx.operation()
    member, ms = await find_member_in_op(ctx, ctx.args["member"])
    if ms.role == "lead" and await count_leads(ctx) <= 1:
        raise CommandError(
            _("{name} is the only lead of {code}; make someone else lead first.").format(
                name=member.name, code=op.code
            )
        )
    await operations.remove_membership(ctx.session, ms)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{member_ref(member)}", reason="removed")
    return Reply(
        Message(lines=[_("{name} is no longer in {code}.").format(name=member.name, code=op.code)])
    )


@command(
    "op link",
    "op link [OP] [--max-tlp green] [--agencies ES-PN]",
    N_("Link this channel to an operation: its posts arrive here up to the TLP ceiling (lead)."),
    flags=(Flag("max-tlp"), Flag("agencies")),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    writes=True,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
    details=N_(
        "The ceiling defaults to AMBER. TLP:RED is for named recipients only and is never "
        "posted to a channel. --agencies records the agencies whose members the channel "
        "reaches; only a channel that reaches one agency may receive TLP:AMBER+STRICT "
        "(`--max-tlp amber+strict --agencies ES-PN`)."
    ),
)
async def op_link(ctx: CommandContext) -> Reply:
    """Link the current channel after checking that the bot can post in it."""
    op = ctx.operation()
    ch = ctx.inv.channel
    ceiling = parse_tlp(ctx.args["max-tlp"]) if ctx.args.get("max-tlp") else TLP.AMBER
    if ceiling is TLP.RED:
        raise CommandError(
            _(
                "TLP:RED is for named recipients only and is never posted to a channel; link "
                "with --max-tlp amber+strict at most, and send RED items with --tlp red "
                "--to M-3,M-7."
            )
        )
    existing = await channel_link(ctx.session, ch.platform, ch.key)
    agencies = await _link_agencies(ctx, existing)
    if ceiling is TLP.AMBER_STRICT and len(agencies) != 1:
        raise CommandError(
            _(
                "TLP:AMBER+STRICT is for one organisation only: give the one agency this "
                "channel reaches with --agencies CODE (a channel several agencies share takes "
                "AMBER at most)."
            )
        )
    if existing is not None and existing.operation_id != op.id:
        raise CommandError(
            _("This channel is already linked to another operation; `op unlink` it there first.")
        )
    if ch.check_postable is not None:
        problem = await ch.check_postable()
        if problem:
            raise CommandError(problem)
    if existing is not None:
        old = operations.change_link(ctx.session, existing, ceiling.value, agencies)
        ctx.audit(
            Action.ALTER,
            object_ref=op.code,
            reason=f"ceiling {old} -> {ceiling.value}; agencies {existing.agencies or 'shared'}",
        )
        return Reply(
            Message(
                lines=[
                    _("This channel stays linked to {code}; ceiling now {ceiling}.").format(
                        code=op.code, ceiling=ceiling.label
                    )
                ]
            ),
            visibility=Visibility.CHANNEL,
        )
    operations.add_link(
        ctx.session,
        ChannelLink(
            operation_id=op.id or 0,
            platform=ch.platform,
            channel_key=ch.key,
            channel_name=ch.name or None,
            is_group=ch.is_group,
            max_tlp=ceiling.value,
            agencies=",".join(agencies),
            linked_by=ctx.member().id,
            linked_at=ctx.now,
        )
    )
    ctx.audit(Action.ALTER, object_ref=op.code, reason=f"linked {ch.platform}:{ch.key}")
    return Reply(
        Message(
            title=_("Linked to {code}").format(code=op.code),
            lines=[
                _(
                    "{name}: sightings, notices, reminders and briefings will be posted here, "
                    "up to {ceiling}."
                ).format(name=op.name, ceiling=ceiling.label)
            ],
            context=op.code,
        ),
        visibility=Visibility.CHANNEL,
    )


async def _link_agencies(ctx: CommandContext, existing: ChannelLink | None) -> list[str]:
    """`--agencies ES-PN,PT-PJ`: known agency codes; without it, what the link had."""
    raw = str(ctx.args.get("agencies") or "").strip()
    if not raw:
        return [c for c in (existing.agencies if existing else "").split(",") if c]
    codes: list[str] = []
    for token in (t.strip().upper() for t in raw.split(",") if t.strip()):
        found = await operations.agency_by_code(ctx.session, token)
        if found is None:
            raise UsageError(
                _("There is no agency {code}; an admin adds it with `admin add-agency`.").format(
                    code=token
                )
            )
        if token not in codes:
            codes.append(token)
    return codes


@command(
    "op unlink",
    "op unlink",
    N_("Stop posting this channel's operation here (lead)."),
    op=OpMode.REQUIRED,
    perm=Perm.MANAGE,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
)
async def op_unlink(ctx: CommandContext) -> Reply:
    """Remove the current channel's link."""
    op = ctx.operation()
    ch = ctx.inv.channel
    link = await operations.link_here(ctx.session, op.id or 0, ch.platform, ch.key)
    if link is None:
        raise CommandError(_("This channel is not linked to {code}.").format(code=op.code))
    await operations.remove_link(ctx.session, link)
    ctx.audit(Action.ALTER, object_ref=op.code, reason=f"unlinked {ch.platform}:{ch.key}")
    return Reply(
        Message(lines=[_("This channel no longer receives posts of {code}.").format(code=op.code)]),
        visibility=Visibility.CHANNEL,
    )
