"""Tasks (issue 28): `task add`, `task done`, `tasks`.

An action is given to a named member of the operation with a deadline (`T-n`). The member
is told in private at once and reminded in private an hour before it is due, on their own
platform (`bot/jobs/taskreminder.py`). Tasks are read through the disclosure rule
(`bot.core.disclosure`, clause 10) and listed in the briefing's Administration.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.base.i18n import N_, _, use_language
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, Denied, NotFound, UsageError
from bot.commands.fieldtime import Direction, member_language, read_time
from bot.commands.intel import reader
from bot.commands.operations import find_member_in_op, member_ref
from bot.commands.refs import parse_ref
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.values import parse_tlp
from bot.contracts import Reply
from bot.core.access import TLP, Perm, Role
from bot.core.protection import deliver_private
from bot.core.tasks import next_seq, reminder_at, tasks_seen
from bot.store.audit import Action
from bot.store.models import Member
from bot.store.models_victims import Task


def task_line(task: Task, assignee: Member, tz: ZoneInfo | str, now_overdue: bool) -> str:
    """`T-2 Call the NCB — mia (M-3), by Sat 05 Dec 2026 10:00 UTC (overdue)`."""
    line = _("{ref} {text} — {name} ({mref}), by {time}").format(
        ref=f"T-{task.seq}",
        text=task.text,
        name=assignee.name,
        mref=member_ref(assignee),
        time=format_time(task.due_at, tz),
    )
    if task.done_at is not None:
        return line + " " + _("(done)")
    return line + (" " + _("(overdue)") if now_overdue else "")


async def find_task(ctx: CommandContext, raw: str) -> Task:
    """A task of the operation the actor may read, by `T-n`."""
    ref = parse_ref(raw, "T")
    op = ctx.operation()
    task = (
        await ctx.session.exec(select(Task).where(Task.operation_id == op.id, Task.seq == ref.seq))
    ).first()
    if task is None or (await reader(ctx)).task(task, task.tlp) == 0:
        raise NotFound(
            _("There is no task {ref} in {op}; see `tasks all`.").format(
                ref=f"T-{ref.seq}", op=op.code
            ),
            denied=task is not None,
            operation_id=op.id,
        )
    return task


@command(
    "task add",
    'task add [OP] "<what>" --to <M-n|name> --by TIME [--tlp amber]',
    N_("Give a task to a named member with a deadline; they are reminded in private."),
    args=(Arg("text", rest=True),),
    flags=(Flag("to", required=True), Flag("by", kind="time", required=True), Flag("tlp")),
    op=OpMode.REQUIRED,
    perm=Perm.PLAN_RAID,
    writes=True,
    action=Action.COLLECT,
    details=N_(
        "TIME is read in your time zone and must be ahead. The member is told in private "
        "now and reminded in private an hour before the deadline, once. The task carries "
        "--tlp (default: the operation's label); partners and observers read only the tasks "
        "given to them or by them."
    ),
)
async def task_add(ctx: CommandContext) -> Reply:
    """Record a task for one member and queue their private notice."""
    op = ctx.operation()
    what = " ".join(ctx.args["text"]).strip()
    if not what:
        raise UsageError(_('The task needs a description: `task add "…" --to M-3 --by …`.'))
    if len(what) > 500:
        raise UsageError(_("A task is at most 500 characters; put the detail elsewhere."))
    tz = await ctx.tz()
    due = read_time(
        str(ctx.args["by"]), ctx.now, tz, lang=member_language(ctx), direction=Direction.FUTURE
    )
    if due <= ctx.now:
        raise UsageError(
            _("{time} is in the past; a task needs a deadline ahead.").format(
                time=format_time(due, tz)
            )
        )
    label = parse_tlp(ctx.args["tlp"]) if ctx.args.get("tlp") else TLP(op.tlp)
    if label is TLP.RED:
        raise UsageError(_("A task goes to a named member: use --tlp amber+strict at most."))
    member, membership = await find_member_in_op(ctx, str(ctx.args["to"]))
    if membership.role == Role.OBSERVER.value:
        raise CommandError(
            _("{name} is an observer in {op}; observers are given no tasks.").format(
                name=member.name, op=op.code
            )
        )
    task = Task(
        operation_id=op.id or 0,
        seq=await next_seq(ctx.session, op),
        text=what,
        assignee_id=member.id or 0,
        due_at=due,
        tlp=label.value,
        created_by=ctx.member().id,
        created_at=ctx.now,
    )
    ctx.session.add(task)
    await ctx.session.flush()
    ref = f"T-{task.seq}"
    ctx.audit(Action.COLLECT, object_ref=f"{op.code}/{ref}", reason=f"to {member_ref(member)}")
    ctx.schedule_changed("task", task.id or 0)
    lines = [task_line(task, member, tz, False)]
    remind = reminder_at(task)
    if member.id != ctx.member().id:
        with use_language(member.language):
            notice = Message(
                title=_("{op}/{ref}: a task for you from {name}").format(
                    op=op.code, ref=ref, name=ctx.member().name
                ),
                lines=[
                    what,
                    _("Due {time}.").format(time=format_time(due, member.timezone or op.timezone)),
                    _("When it is done: `task done {op}/{ref}`.").format(op=op.code, ref=ref),
                ],
                tlp=label.value,
            )
        sent = await deliver_private(
            ctx.session,
            now=ctx.now,
            op=op,
            member_ids=[member.id or 0],
            message=notice,
            kind="task",
            object_ref=ref,
            tlp=label,
        )
        ctx.posts += len(sent.reached)
        note = sent.summary(_("The task"))
        if note:
            lines.append(note)
    lines.append(
        _("Reminder to {name} in private on {time}.").format(
            name=member.name, time=format_time(remind, tz)
        )
        if remind is not None
        else _("Due within the hour: no reminder before it.")
    )
    return Reply(Message(title=_("{ref} given").format(ref=ref), lines=lines, tlp=label.value))


@command(
    "task done",
    "task done <T-n>",
    N_("Mark a task done (its member, who gave it, or a lead)."),
    args=(Arg("task", ref=True),),
    op=OpMode.REQUIRED,
    perm=Perm.READ_OP,
    writes=True,
    action=Action.ALTER,
)
async def task_done(ctx: CommandContext) -> Reply:
    """Close a task; its reminder is not sent."""
    op = ctx.operation()
    task = await find_task(ctx, ctx.args["task"])
    ref = f"T-{task.seq}"
    me = ctx.member().id
    if me not in (task.assignee_id, task.created_by) and ctx.role is not Role.LEAD:
        raise Denied(
            _("{ref} is another member's task; they, who gave it, or a lead mark it done.").format(
                ref=ref
            )
        )
    if task.done_at is not None:
        raise CommandError(
            _("{ref} was done on {time}.").format(
                ref=ref, time=format_time(task.done_at, await ctx.tz())
            )
        )
    task.done_at, task.done_by = ctx.now, me
    ctx.session.add(task)
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{ref}", reason="done")
    ctx.schedule_changed("task", task.id or 0)
    return Reply(Message(lines=[_("{ref} done.").format(ref=ref)], tlp=task.tlp))


@command(
    "tasks",
    "tasks [OP] [all]",
    N_("Your open tasks, or with `all` the operation's (what your role may read)."),
    args=(Arg("scope", required=False),),
    op=OpMode.REQUIRED,
    perm=Perm.READ_OP,
)
async def tasks_list(ctx: CommandContext) -> Reply:
    """Open tasks, by deadline: the actor's, or the operation's."""
    op = ctx.operation()
    scope = str(ctx.args.get("scope") or "").strip().lower()
    if scope not in ("", "all", "mine"):
        raise UsageError(_("`tasks` lists yours; `tasks all` the operation's."))
    everyone = scope == "all"
    rows = await tasks_seen(
        ctx.session, op, await reader(ctx), assignee_id=None if everyone else ctx.member().id
    )
    tz = await ctx.tz()
    lines = [task_line(t, m, tz, t.due_at <= ctx.now) for t, m in rows]
    top = max((TLP(t.tlp) for t, _m in rows), key=lambda x: x.rank, default=TLP.CLEAR)
    ctx.audit(Action.CONSULT, object_ref=f"{op.code}/tasks")
    title = _("Open tasks of {op}") if everyone else _("Your open tasks in {op}")
    return Reply(
        Message(
            title=title.format(op=op.code),
            lines=lines or [_("None.")],
            tlp=top.value,
        )
    )
