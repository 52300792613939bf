"""The composition root: build the store, the core, the outbox and the adapters once."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import structlog

from bot.adapters.console import ConsoleAdapter, ConsoleSender
from bot.base.clock import Clock, system_clock
from bot.base.config import Settings
from bot.base.filemodes import private_dir
from bot.commands import REGISTRY, Core
from bot.contracts import Sender
from bot.core.checklists import ensure_builtin as ensure_builtin_templates
from bot.gateway import Gateway
from bot.jobs.scheduler import Scheduler
from bot.serving.bootstrap import ensure_admins
from bot.store import audit, audit_anchor
from bot.store.engine import Store
from bot.store.inbox import Inbox
from bot.store.outbox import OutboxWorker

log = structlog.get_logger(__name__)


@dataclass
class App:
    """Everything one Taskforce process runs, wired together."""

    settings: Settings
    store: Store
    core: Core
    worker: OutboxWorker
    senders: dict[str, Sender]
    console: ConsoleAdapter
    clock: Clock
    inbox: Inbox
    checkpointer: audit_anchor.Checkpointer
    gateway: Gateway  # all a platform adapter is given (bot/base/platforms.py builds them)
    extras: dict[str, Any] = field(default_factory=dict)

    def add_sender(self, sender: Sender) -> None:
        """Make a platform deliverable by the outbox worker."""
        self.senders[sender.platform] = sender

    async def prepare(self) -> None:
        """Migrate, bootstrap admins, load built-in templates (idempotent; every start)."""
        if self.store.is_sqlite:
            private_dir(self.settings.data_dir)
        await self.store.migrate()
        await self.checkpointer.open()  # a new database is anchored before its first entry
        await ensure_admins(self.store, self.settings, self.clock())
        await ensure_builtin_templates(self.store)

    async def close(self) -> None:
        """Stop the scheduler (if started) and the worker, and close the store."""
        scheduler = self.extras.get("scheduler")
        if scheduler is not None:
            await scheduler.stop()
        await self.inbox.stop()
        await self.worker.stop()
        await self.store.dispose()


def build_app(
    settings: Settings, *, clock: Clock = system_clock, worker_id: str | None = None
) -> App:
    """Wire one App from settings. Nothing starts until `prepare()` and `worker.start()`."""
    keys = audit.AuditKeys.from_secrets(settings.audit_key, settings.audit_keys())
    store = Store(settings.effective_database_url, session_info={audit.SESSION_KEYS: keys})
    checkpointer = audit_anchor.Checkpointer(
        store,
        audit_anchor.Places.of(settings),
        clock,
        settings.audit_checkpoint_seconds,
        settings.audit_checkpoint_entries,
    )
    store.session_info[audit.SESSION_TALLY] = checkpointer.noted
    senders: dict[str, Sender] = {}
    console_sender = ConsoleSender()
    senders[console_sender.platform] = console_sender
    worker = OutboxWorker(store, settings, senders, clock, worker_id=worker_id)
    core = Core(
        store=store, settings=settings, clock=clock, registry=REGISTRY, on_outbox=worker.notify
    )
    inbox = Inbox(store, clock, lease_seconds=settings.inbox_lease_seconds, worker_id=worker_id)
    gateway = Gateway(
        core, inbox, notify=worker.notify, add_sender=lambda s: senders.__setitem__(s.platform, s)
    )
    console = ConsoleAdapter(
        gateway, console_sender, deliver=worker.drain, export_dir=settings.export_dir
    )
    app = App(
        settings=settings,
        store=store,
        core=core,
        worker=worker,
        senders=senders,
        console=console,
        clock=clock,
        inbox=inbox,
        gateway=gateway,
        checkpointer=checkpointer,
        # Started by the server's lifespan (bot/serving/server.py), or by tests.
        extras={
            "scheduler": Scheduler(
                core,
                node_id=worker_id,
                leader_retry=settings.scheduler_leader_retry,
                sync_seconds=settings.scheduler_sync_seconds,
            )
        },
    )
    if settings.test_hooks:
        # Tests only (tests/hooks.py): e.g. hold commands past the ack budget in a served
        # process. Nothing in production sets TASKFORCE_TEST_HOOKS.
        importlib.import_module(settings.test_hooks).install(app)
    return app
