"""What a command handler works with: the core's services and one command's context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.config import Settings
from bot.base.i18n import N_, _
from bot.base.messages import Message
from bot.base.ratelimit import RateLimiter
from bot.commands.errors import Denied
from bot.commands.registry import REGISTRY, Command, ParsedArgs, Registry
from bot.commands.values import zone
from bot.contracts import Invocation
from bot.core.access import TLP, Perm, Role, role_allows, tlp_max
from bot.core.disclosure import BreakGlassNote, owner_if_strict
from bot.core.fanout import FanoutResult
from bot.core.fanout import fanout as fanout_to_channels
from bot.core.vocabulary import term
from bot.store import tables
from bot.store.audit import Action, Entry
from bot.store.engine import Store
from bot.store.fastsql import Prepared
from bot.store.models import Agency, ChannelLink, Identity, Member, Operation

Clock = Callable[[], datetime]

# What each permission lets a role do, as the refusal says it (`Perm` values, translated).
PERM_TEXT: dict[Perm, str] = {
    Perm.READ_OP: N_("read the operation"),
    Perm.READ_INTEL: N_("read subjects, notices and sightings"),
    Perm.ADD_SUBJECT: N_("add subjects"),
    Perm.POST_SIGHTING: N_("post sightings"),
    Perm.ISSUE_NOTICE: N_("record notices"),
    Perm.PLAN_RAID: N_("plan raids"),
    Perm.TICK_ITEM: N_("tick checklist items"),
    Perm.CANCEL_NOTICE: N_("renew or cancel notices"),
    Perm.RAID_COMMAND: N_("give the raid go or abort"),
    Perm.SCHEDULE_BRIEF: N_("schedule briefings"),
    Perm.MANAGE: N_("manage the operation"),
    Perm.AUDIT: N_("read the audit log"),
    Perm.EXPORT: N_("export the case file"),
    Perm.DECIDE_LINK: N_("confirm or dismiss links between subjects"),
    Perm.ASSIGN_DUTY: N_("assign raid duties"),
    Perm.GRADE: N_("grade intelligence"),
    Perm.ERASE: N_("erase records or keep them past review"),
    Perm.RECORD_EVIDENCE: N_("record exhibits and statements"),
}

_OPERATION = tables.OPERATION
_NEXT_SEQ = {
    counter: Prepared(
        update(_OPERATION)
        .where(_OPERATION.c.id == bindparam("op_id"))
        .values({counter: _OPERATION.c[counter] + 1})
        .returning(_OPERATION.c[counter])
    )
    for counter in ("subject_seq", "notice_seq", "sighting_seq", "raid_seq")
}


@dataclass
class Core:
    """The core's dependencies, built once in the composition root (`app.py`)."""

    store: Store
    settings: Settings
    clock: Clock
    registry: Registry = field(default_factory=lambda: REGISTRY)
    on_outbox: Callable[[], None] = lambda: None
    # Called after commit for each raid/briefing schedule a command created or changed
    # (`raid`/`brief`, id): the scheduler re-registers its jobs. Platform-free hook.
    on_schedule_change: Callable[[str, int], None] = lambda kind, ref_id: None
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # Awaited before a command's transaction starts. None in production; a test hook
    # (TASKFORCE_TEST_HOOKS) sets it to hold a command past the platform's ack budget.
    before_transaction: Callable[[Invocation], Awaitable[None]] | None = None


@dataclass
class CommandContext:
    """One command being run: who, where, which operation, its arguments, its transaction."""

    core: Core
    session: AsyncSession
    inv: Invocation
    command: Command
    args: ParsedArgs
    now: datetime
    actor: Member | None = None
    identity: Identity | None = None
    op: Operation | None = None
    role: Role | None = None
    # The channel's link (None when unlinked), its operation and the actor's role there:
    # read once, with the actor, by dispatch.
    link: ChannelLink | None = None
    link_op: Operation | None = None
    link_role: Role | None = None
    agency_timezone: str | None = None
    # The role comes from a running break-glass (`op access`), not a membership; its end
    # and reason (shown by `op show`, written into every audit entry made under it).
    breakglass: bool = False
    breakglass_note: BreakGlassNote | None = None
    # The actor as a reader of the operation, loaded once per command (`intel.reader`).
    reader_cache: object | None = None
    audit_action: Action | None = None
    audit_object: str | None = None
    audit_reason: str | None = None
    audit_operation_id: int | None = None
    # More entries appended with the command's own, in the same call (chains locked in
    # order): a deconfliction notice writes one into the other operation's chain.
    extra_audit: list[Entry] = field(default_factory=list)
    posts: int = 0
    schedule_changes: list[tuple[str, int]] = field(default_factory=list)
    # What the command's `prepare` made before the transaction (`Command.prepare`).
    prepared: object = None

    @property
    def settings(self) -> Settings:
        """The process configuration."""
        return self.core.settings

    @property
    def is_admin(self) -> bool:
        """Whether the actor is a Taskforce admin."""
        return bool(self.actor and self.actor.is_admin)

    def operation(self) -> Operation:
        """The resolved operation (the dispatch guarantees one for `OpMode.REQUIRED`)."""
        assert self.op is not None, "command declared without an operation"
        return self.op

    def member(self) -> Member:
        """The acting member (the dispatch guarantees one unless `needs_member=False`)."""
        assert self.actor is not None, "command declared without a member"
        return self.actor

    async def tz(self) -> ZoneInfo:
        """The reader's time zone: member, else agency, else operation, else the default."""
        if self.actor and self.actor.timezone:
            return zone(self.actor.timezone)
        if self.actor and self.actor.agency_id:
            if self.agency_timezone is None:
                agency = await self.session.get(Agency, self.actor.agency_id)
                self.agency_timezone = agency.timezone if agency else ""
            if self.agency_timezone:
                return zone(self.agency_timezone)
        if self.op is not None:
            return zone(self.op.timezone)
        return zone(self.settings.timezone)

    def allowed(self, perm: Perm) -> bool:
        """Whether the actor's role in the operation allows `perm`."""
        return role_allows(self.role, perm)

    def require(self, perm: Perm) -> None:
        """Raise `Denied` with a clear sentence unless the actor may do `perm`."""
        if not self.allowed(perm):
            code = self.op.code if self.op else _("this operation")
            role = term(self.role.value) if self.role else _("no role")
            raise Denied(
                _("As {role} in {code} you cannot {action}.").format(
                    role=role, code=code, action=_(PERM_TEXT.get(perm, perm.value))
                )
            )

    def audit(
        self, action: Action, object_ref: str | None = None, reason: str | None = None
    ) -> None:
        """Set the action class, object and reason of this command's audit entry."""
        self.audit_action = action
        if object_ref is not None:
            self.audit_object = object_ref
        if reason is not None:
            self.audit_reason = reason

    async def next_seq(self, counter: str) -> int:
        """Allocate the next per-operation number (`subject_seq`, `sighting_seq`, …).

        The update takes the operation's row lock until commit: numbers have no gaps or
        repeats, and commands of other operations are not held up.
        """
        op = self.operation()
        rows = await _NEXT_SEQ[counter].execute(self.session, {"op_id": op.id})
        (value,) = (int(row[0]) for row in rows)  # exactly one row
        set_committed_value(op, counter, value)
        return value

    async def fanout(
        self,
        message: Message,
        *,
        tlp: str | TLP,
        kind: str,
        object_ref: str | None = None,
        operation: Operation | None = None,
    ) -> FanoutResult:
        """Queue `message` for every channel linked to the operation that may receive it."""
        result = await fanout_to_channels(
            self.session,
            now=self.now,
            op=operation or self.operation(),
            message=message,
            tlp=tlp,
            kind=kind,
            object_ref=object_ref,
            owner=await self.owner_if_strict(tlp_max(tlp, message.tlp)),
        )
        self.posts += len(result.posted)
        return result

    def here(self, ref: str) -> str:
        """A reference as a hint writes it: bare (`S-1`) where a bare reference typed in
        this channel means this operation's record, else in full (`OP-2/S-1`): the channel
        is linked to another operation (README "References")."""
        op = self.op
        if op is None or self.link_op is None or self.link_op.id == op.id:
            return ref
        return f"{op.code}/{ref}"

    async def owner_if_strict(self, label: str | TLP | None) -> str | None:
        """The actor's agency where `label` is TLP:AMBER+STRICT: what they share belongs
        to it (`bot.core.disclosure`)."""
        return await owner_if_strict(self.session, label, self.actor.id if self.actor else None)

    def schedule_changed(self, kind: str, ref_id: int) -> None:
        """Tell the scheduler, once this command commits, that a raid or schedule changed."""
        self.schedule_changes.append((kind, ref_id))
