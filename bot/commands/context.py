"""What a command handler works with: the core's services and one command's context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.access import TLP, Perm, Role, may_post_to_channel, role_allows
from bot.adapters.base import Invocation
from bot.audit import Action
from bot.commands.errors import Denied
from bot.commands.registry import REGISTRY, Command, ParsedArgs, Registry
from bot.commands.values import zone
from bot.config import Settings
from bot.messages import Message
from bot.models import Agency, ChannelLink, Identity, Member, Operation
from bot.outbox import enqueue
from bot.ratelimit import RateLimiter
from bot.store import Store

Clock = Callable[[], datetime]


@dataclass
class Core:
    """The core's dependencies, built once in the composition root (`app.py`)."""

    store: Store
    settings: Settings
    clock: Clock
    registry: Registry = field(default_factory=lambda: REGISTRY)
    on_outbox: Callable[[], None] = lambda: None
    limiter: RateLimiter = field(default_factory=RateLimiter)


@dataclass
class FanoutResult:
    """Where a post went, and where it was withheld and why."""

    posted: list[ChannelLink] = field(default_factory=list)
    withheld: list[tuple[ChannelLink, str]] = field(default_factory=list)

    def summary(self) -> str:
        """`Posted to 3 channels; withheld from 1 (ceiling TLP:GREEN).`"""
        n = len(self.posted)
        text = f"Posted to {n} linked channel{'s' if n != 1 else ''}"
        if self.withheld:
            reasons = "; ".join(
                f"{c.platform} {c.channel_name or c.channel_key}: {why}" for c, why in self.withheld
            )
            text += f"; withheld from {len(self.withheld)} ({reasons})"
        return text + "."


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
    audit_action: Action | None = None
    audit_object: str | None = None
    audit_reason: str | None = None
    audit_operation_id: int | None = None
    posts: int = 0
    _agency: Agency | None = None

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
            if self._agency is None:
                self._agency = await self.session.get(Agency, self.actor.agency_id)
            if self._agency and self._agency.timezone:
                return zone(self._agency.timezone)
        if self.op is not None:
            return zone(self.op.timezone)
        return zone(self.settings.timezone)

    def allowed(self, perm: Perm) -> bool:
        """Whether the actor's role in the operation allows `perm`."""
        return role_allows(self.role, perm)

    def require(self, perm: Perm) -> None:
        """Raise `Denied` with a clear sentence unless the actor may do `perm`."""
        if not self.allowed(perm):
            code = self.op.code if self.op else "this operation"
            role = self.role.value if self.role else "no role"
            raise Denied(f"As {role} in {code} you cannot {perm.value}.")

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
        """Allocate the next per-operation number (`subject_seq`, `sighting_seq`, …)."""
        op = self.operation()
        column = getattr(Operation, counter)
        result = await self.session.exec(
            update(Operation)
            .where(col(Operation.id) == op.id)
            .values({counter: column + 1})
            .returning(column)
        )
        value = int(result.scalar_one())
        setattr(op, counter, value)
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
        op = operation or self.operation()
        label = TLP(tlp)
        message.tlp = label.value
        links = (
            await self.session.exec(
                select(ChannelLink)
                .where(ChannelLink.operation_id == op.id)
                .order_by(col(ChannelLink.id))
            )
        ).all()
        result = FanoutResult()
        for link in links:
            if not may_post_to_channel(label, link.max_tlp, link.is_group):
                why = (
                    "TLP:RED is never posted to a group"
                    if label is TLP.RED
                    else f"ceiling {TLP(link.max_tlp).label}"
                )
                result.withheld.append((link, why))
                continue
            enqueue(
                self.session,
                now=self.now,
                platform=link.platform,
                channel_key=link.channel_key,
                message=message,
                operation_id=op.id,
                tlp=label.value,
                kind=kind,
                object_ref=f"{op.code}/{object_ref}" if object_ref else op.code,
            )
            result.posted.append(link)
        self.posts += len(result.posted)
        return result
