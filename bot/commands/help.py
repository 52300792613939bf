"""`help [command]`: the command list, or one command's usage and details."""

from __future__ import annotations

from bot.base.i18n import N_, _
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import NotFound
from bot.commands.registry import Arg, command
from bot.contracts import Reply

INTRO = N_(
    "Taskforce keeps one operation picture for the whole task force. "
    "Grammar: <noun> <verb> <arguments> [--flags]; quote text with spaces. "
    "References: S-3 subject, N-2 notice, SG-15 sighting, R-1 raid, OP-X/SG-15 from anywhere."
)


@command(
    "help",
    "help [command]",
    N_("List the commands, or explain one."),
    args=(Arg("command", required=False, rest=True),),
    needs_member=False,
)
async def help_command(ctx: CommandContext) -> Reply:
    """Show every command's usage, or one command (or noun) in full."""
    registry = ctx.core.registry
    words = [w.lower() for w in ctx.args.get("command", [])]
    if not words:
        lines = [_(INTRO)]
        if ctx.actor is None:
            lines.append(
                _(
                    "New here? Ask a lead of your operation for an invite and type "
                    "`join <code>`; if you use Taskforce on another platform, type `link` "
                    "there and `link <code>` here."
                )
            )
        lines.append("")
        lines += [f"{c.usage}  — {_(c.summary)}" for c in registry.all()]
        lines += ["", _("`help <command>` explains one, like `help op invite` or `help op`.")]
        return Reply(Message(title=_("Taskforce commands"), lines=lines))
    name = " ".join(words).lstrip("/")
    exact = registry.get(name)
    matches = [exact] if exact else [c for c in registry.all() if c.noun == words[0].lstrip("/")]
    if not matches:
        raise NotFound(
            _("There is no command `{command}`. Type `help` for the list.").format(command=name)
        )
    lines = []
    for c in matches:
        lines.append(f"{c.usage}")
        lines.append(f"  {_(c.summary)}")
        if c.details:
            lines.extend(f"  {d}" for d in _(c.details).splitlines())
    return Reply(Message(title=f"help {name}", lines=lines))  # i18n: keep (a command)
