"""Checklist templates: reading and validating TOML/YAML, and keeping them in the store.

A template is a name, a title and items; each item has a phase (`before`, `on-site`,
`after`), whether it is mandatory, and the duty it falls to. The built-in templates ship as
package data (`bot/core/templates/*.toml`) and are loaded at every start (`ensure_builtin`).
Custom ones come from `taskforce templates import FILE`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import N_, _
from bot.core.template_texts import BUILTIN_TEXTS
from bot.store.engine import Store
from bot.store.models import ChecklistTemplate, TemplateItem

PHASES = ("before", "on-site", "after")
PHASE_TITLES = {"before": N_("Before"), "on-site": N_("On site"), "after": N_("After")}
_PHASE_ALIASES = {"on site": "on-site", "onsite": "on-site", "on_site": "on-site"}
ITEM_ROLES = ("operation-lead", "site-commander", "evidence-officer", "victim-liaison", "partner")
ROLE_TITLES = {
    "operation-lead": N_("operation lead"),
    "site-commander": N_("site commander"),
    "evidence-officer": N_("evidence officer"),
    "victim-liaison": N_("victim liaison"),
    "partner": N_("partner (NGO / victim support)"),
}
# `legal`: the legal authority, never forced past with `raid go --force`;
# `cross-border`: mandatory when the operation's agencies are in more than one country.
ITEM_RULES = ("legal", "cross-border")
# Items that protect people: shown under Humanitarian in briefings.
SAFEGUARDING_ROLES = ("victim-liaison", "partner")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_ITEMS = 99
DEFAULT_TEMPLATE = "trafficking-raid"
BUILTIN_DIR = Path(__file__).resolve().parent / "templates"  # package data


class TemplateError(ValueError):
    """A template file that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class ItemSpec:
    """One validated item."""

    phase: str
    text: str
    mandatory: bool
    role: str | None
    rule: str | None = None


@dataclass(frozen=True)
class TemplateSpec:
    """A validated template, items ordered by phase (file order within a phase)."""

    name: str
    title: str
    description: str | None
    items: tuple[ItemSpec, ...]


def _phase(raw: object, where: str) -> str:
    value = str(raw or "").strip().lower()
    value = _PHASE_ALIASES.get(value, value)
    if value not in PHASES:
        raise TemplateError(f"{where}: phase '{raw}' is not one of {', '.join(PHASES)}.")
    return value


def _role(raw: object, where: str) -> str | None:
    if raw is None or raw == "":
        return None
    value = re.sub(r"[\s_]+", "-", str(raw).strip().lower())
    if value not in ITEM_ROLES:
        raise TemplateError(f"{where}: role '{raw}' is not one of {', '.join(ITEM_ROLES)}.")
    return value


def _rule(raw: object, where: str) -> str | None:
    if raw is None or raw == "":
        return None
    value = str(raw).strip().lower()
    if value not in ITEM_RULES:
        raise TemplateError(f"{where}: rule '{raw}' is not one of {', '.join(ITEM_RULES)}.")
    return value


def validate(data: Any) -> TemplateSpec:
    """Check a parsed template document; raise TemplateError naming the first problem."""
    if not isinstance(data, dict):
        raise TemplateError("The template must be a table with name, title and items.")
    name = str(data.get("name") or "").strip().lower()
    if not _NAME.match(name):
        raise TemplateError(
            f"Template name '{data.get('name') or ''}' must be lowercase letters, digits and "
            "dashes, like trafficking-raid."
        )
    title = str(data.get("title") or name).strip()[:200]
    description = str(data["description"]).strip()[:2000] if data.get("description") else None
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise TemplateError(f"Template '{name}' has no items; add [[items]] entries.")
    if len(raw_items) > MAX_ITEMS:
        raise TemplateError(f"Template '{name}' has {len(raw_items)} items; the limit is 99.")
    items: list[ItemSpec] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(raw_items, start=1):
        where = f"Item {n}"
        if not isinstance(raw, dict):
            raise TemplateError(f"{where} must be a table with phase, text, role and mandatory.")
        text = " ".join(str(raw.get("text") or "").split())
        if not text:
            raise TemplateError(f"{where} has no text.")
        if len(text) > 500:
            raise TemplateError(f"{where}: the text is longer than 500 characters.")
        key = text.lower()
        if key in seen:
            raise TemplateError(f"{where} repeats item {seen[key]}: '{text}'.")
        seen[key] = n
        mandatory = raw.get("mandatory", True)
        if not isinstance(mandatory, bool):
            raise TemplateError(f"{where}: mandatory must be true or false.")
        unknown = set(raw) - {"phase", "text", "role", "mandatory", "rule"}
        if unknown:
            raise TemplateError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}.")
        items.append(
            ItemSpec(
                phase=_phase(raw.get("phase"), where),
                text=text,
                mandatory=mandatory,
                role=_role(raw.get("role"), where),
                rule=_rule(raw.get("rule"), where),
            )
        )
    items.sort(key=lambda i: PHASES.index(i.phase))  # stable: file order within a phase
    return TemplateSpec(name=name, title=title, description=description, items=tuple(items))


def parse_text(text: str, fmt: str) -> TemplateSpec:
    """Parse TOML (`fmt="toml"`) or YAML (`fmt="yaml"`) text into a validated template."""
    try:
        data = tomllib.loads(text) if fmt == "toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TemplateError(f"This is not valid {fmt.upper()}: {first}") from None
    return validate(data)


def parse_file(path: Path) -> TemplateSpec:
    """Read a `.toml`, `.yaml` or `.yml` template file."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise TemplateError(f"{path.name}: use a .toml, .yaml or .yml file.")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    return parse_text(text, "toml" if suffix == ".toml" else "yaml")


def builtin_specs() -> list[TemplateSpec]:
    """The templates shipped with Taskforce."""
    return [
        parse_text(f.read_text(encoding="utf-8"), "toml")
        for f in sorted(BUILTIN_DIR.glob("*.toml"))
    ]


async def _items_of(session: AsyncSession, template_id: int) -> list[TemplateItem]:
    return list(
        (
            await session.exec(
                select(TemplateItem)
                .where(TemplateItem.template_id == template_id)
                .order_by(col(TemplateItem.position))
            )
        ).all()
    )


def _same(items: list[TemplateItem], spec: TemplateSpec) -> bool:
    have = [ItemSpec(i.phase, i.text, i.mandatory, i.role, i.rule) for i in items]
    return have == list(spec.items)


async def save(session: AsyncSession, spec: TemplateSpec, *, builtin: bool, replace: bool) -> str:
    """Store `spec`; return `created`, `updated` or `unchanged`. TemplateError on a clash."""
    row = (
        await session.exec(select(ChecklistTemplate).where(ChecklistTemplate.name == spec.name))
    ).first()
    if row is not None:
        if row.builtin and not builtin:
            raise TemplateError(f"'{spec.name}' is a built-in template; choose another name.")
        old = await _items_of(session, row.id or 0)
        if _same(old, spec) and row.title == spec.title and row.description == spec.description:
            return "unchanged"
        if not replace:
            raise TemplateError(
                f"A template named '{spec.name}' exists already; use --replace to update it."
            )
        for item in old:
            await session.delete(item)
        await session.flush()
        row.title, row.description = spec.title, spec.description
        session.add(row)
        status = "updated"
    else:
        row = ChecklistTemplate(
            name=spec.name, title=spec.title, description=spec.description, builtin=builtin
        )
        session.add(row)
        await session.flush()
        status = "created"
    for pos, spec_item in enumerate(spec.items, start=1):
        session.add(
            TemplateItem(
                template_id=row.id or 0,
                position=pos,
                phase=spec_item.phase,
                text=spec_item.text,
                mandatory=spec_item.mandatory,
                role=spec_item.role,
                rule=spec_item.rule,
            )
        )
    return status


async def ensure_builtin(store: Store) -> None:
    """Load (or refresh) the built-in templates; safe to run on every replica at start-up."""
    for spec in builtin_specs():
        try:
            async with store.transaction() as session:
                await save(session, spec, builtin=True, replace=True)
        except IntegrityError:  # another replica inserted it at the same moment
            continue


async def import_spec(
    store: Store, spec: TemplateSpec, *, replace: bool = False
) -> tuple[str, int]:
    """Store a custom template; return (status, item count). TemplateError on a clash."""
    async with store.transaction() as session:
        status = await save(session, spec, builtin=False, replace=replace)
    return status, len(spec.items)


async def find(session: AsyncSession, name: str) -> tuple[ChecklistTemplate, list[TemplateItem]]:
    """A stored template and its items by name; TemplateError if unknown (names the known)."""
    row = (
        await session.exec(
            select(ChecklistTemplate).where(ChecklistTemplate.name == name.strip().lower())
        )
    ).first()
    if row is None:
        known = (
            await session.exec(select(ChecklistTemplate.name).order_by(ChecklistTemplate.name))
        ).all()
        raise TemplateError(
            _("There is no template '{name}'; known: {known}.").format(
                name=name, known=", ".join(known) or _("none")
            )
        )
    return row, await _items_of(session, row.id or 0)


def role_title(role: str | None) -> str:
    """`victim liaison`, or `anyone` for an item without a duty (in the reader's language)."""
    title = ROLE_TITLES.get(role or "")
    return _(title) if title else _("anyone")


def phase_title(phase: str) -> str:
    """`Before`, `On site` or `After`, in the reader's language."""
    return _(PHASE_TITLES[phase])


def item_text(text: str) -> str:
    """A checklist item's text for display: a built-in template's item in the reader's
    language (through the catalogue, keyed by its English text), a custom one as typed."""
    return _(text) if text in BUILTIN_TEXTS else text


async def list_templates(store: Store) -> list[str]:
    """One line per stored template: name, title, item count, built-in or not."""
    async with store.transaction() as session:
        rows = (
            await session.exec(select(ChecklistTemplate).order_by(col(ChecklistTemplate.name)))
        ).all()
        out = []
        for t in rows:
            items = await _items_of(session, t.id or 0)
            kind = "built-in" if t.builtin else "imported"
            out.append(f"{t.name}\t{t.title}\t{len(items)} items\t{kind}")
    return out
