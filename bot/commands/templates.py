"""`template list|show`: the checklist templates raids are planned from."""

from __future__ import annotations

from sqlmodel import col, func, select

from bot.base.i18n import N_, _, ngettext
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import NotFound
from bot.commands.registry import Arg, command
from bot.contracts import Reply
from bot.core.checklists import PHASES, TemplateError, find, item_text, phase_title, role_title
from bot.store.models import ChecklistTemplate, TemplateItem


@command("template list", "template list", N_("List the checklist templates for raids."))
async def template_list(ctx: CommandContext) -> Reply:
    """Every template with its item counts."""
    rows = (
        await ctx.session.exec(
            select(ChecklistTemplate, func.count(col(TemplateItem.id)))
            .join(TemplateItem, col(TemplateItem.template_id) == col(ChecklistTemplate.id))
            .group_by(col(ChecklistTemplate.id))
            .order_by(col(ChecklistTemplate.name))
        )
    ).all()
    lines = [
        f"{t.name} — {item_text(t.title)} ("
        + (
            ngettext("{n} item, built-in", "{n} items, built-in", n)
            if t.builtin
            else ngettext("{n} item", "{n} items", n)
        ).format(n=n)
        + ")"
        for t, n in rows
    ]
    lines.append(
        _("`template show <name>` lists the items; `raid plan … --template <name>` uses one.")
    )
    return Reply(Message(title=_("Checklist templates"), lines=lines))


@command(
    "template show",
    "template show <name>",
    N_("Show a checklist template: items by phase, mandatory or not, and whose duty."),
    args=(Arg("name"),),
)
async def template_show(ctx: CommandContext) -> Reply:
    """The items of one template, grouped by phase."""
    try:
        tpl, items = await find(ctx.session, str(ctx.args["name"]))
    except TemplateError as exc:
        raise NotFound(str(exc)) from None
    lines: list[str] = []
    for phase in PHASES:
        of_phase = [i for i in items if i.phase == phase]
        if not of_phase:
            continue
        lines.append(f"{phase_title(phase)}:")
        lines += [
            f"  {i.position}. {item_text(i.text)} — {role_title(i.role)}"
            + ("" if i.mandatory else " " + _("(optional)"))
            for i in of_phase
        ]
    mandatory = sum(1 for i in items if i.mandatory)
    return Reply(
        Message(
            title=_("Template {name}: {title}").format(name=tpl.name, title=item_text(tpl.title)),
            lines=([tpl.description] if tpl.description else []) + lines,
            context=ngettext(
                "{n} item, {mandatory} mandatory", "{n} items, {mandatory} mandatory", len(items)
            ).format(n=len(items), mandatory=mandatory),
        )
    )
