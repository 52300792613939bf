"""Checklist templates: the built-in trafficking-raid list, `template list|show`, imports."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from typer.testing import CliRunner

from bot.core.checklists import ITEM_ROLES, PHASES, TemplateError, builtin_specs, parse_text
from bot.serving.app import App, build_app
from bot.serving.cli import cli
from bot.store.models import ChecklistTemplate, TemplateItem
from tests.conftest import make_settings
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import fetch, ok, operation, refused, rows, text

# Every item of DOMAIN.md's "trafficking raid checklist", as (phase, words the item must
# contain). The built-in template must carry each one in the right phase.
DOMAIN_CHECKLIST = [
    ("before", "warrant"),
    ("before", "signed, in date"),
    ("before", "threat and risk assessment"),
    ("before", "drive-by"),
    ("before", "site plan"),
    ("before", "entries, exits"),
    ("before", "named roles"),
    ("before", "radio channel and call signs"),
    ("before", "rendezvous point"),
    ("before", "nearest hospital and medical cover"),
    ("before", "interpreters"),
    ("before", "ngo / victim-support staff and shelter places"),
    ("before", "child-protection contact"),
    ("before", "transport for victims"),
    ("before", "separate from suspects"),
    ("before", "partner agencies in other countries informed"),
    ("before", "briefing held and roles read back"),
    ("on-site", "suspected victims separated from suspects before any interview"),
    ("on-site", "non-punishment principle"),
    ("on-site", "urgent needs first (medical, food, safety), then interviews with interpreters"),
    ("on-site", "evidence seized, sealed and logged (chain of custody)"),
    ("on-site", "phones and documents"),
    ("on-site", "passports"),
    ("after", "national referral mechanism"),
    ("after", "support services"),
    ("after", "under 18"),
    ("after", "debrief held"),
    ("after", "intelligence from the raid graded and recorded"),
    # What practitioners also expect (issue 15).
    ("before", "deconfliction"),
    ("before", "prosecutor / investigating judge"),
    ("on-site", "age assessed"),
    ("after", "reflection and recovery period"),
    ("after", "consular notification"),
    ("before", "same-gender officers"),
    ("before", "labour inspectorate"),
    ("before", "contingency and exit plan"),
    ("before", "media line"),
]
T = TypeVar("T")


def test_builtin_template_covers_every_item_of_the_domain_checklist() -> None:
    (spec,) = [s for s in builtin_specs() if s.name == "trafficking-raid"]
    for phase, words in DOMAIN_CHECKLIST:
        hits = [i for i in spec.items if words in i.text.lower()]
        assert hits, f"no item mentions {words!r}"
        assert hits[0].phase == phase, f"{words!r} is in phase {hits[0].phase}"
    assert [i.phase for i in spec.items] == sorted(
        (i.phase for i in spec.items), key=PHASES.index
    ), "items are ordered before, on-site, after"
    assert all(i.role in ITEM_ROLES for i in spec.items), "every item falls to a named duty"
    duties = {i.role for i in spec.items}
    assert duties == set(ITEM_ROLES), "lead, commander, evidence, victim liaison and partner"
    by_text = {i.text.lower(): i for i in spec.items}
    partner = [t for t, i in by_text.items() if i.role == "partner"]
    assert any("ngo" in t for t in partner) and any("support services" in t for t in partner)
    # The referral to the national referral mechanism is the authority's duty, not the NGO's.
    [nrm] = [i for t, i in by_text.items() if "national referral mechanism" in t]
    assert nrm.role == "victim-liaison"
    # Advisory: labour inspectorate (where relevant), consular notification, and informing
    # other countries (mandatory when the operation spans countries).
    assert sorted(i.text.split()[0] for i in spec.items if not i.mandatory) == [
        "Consular",
        "Labour",
        "Partner",
    ]
    [legal] = [i for i in spec.items if i.rule == "legal"]
    assert legal.text.startswith("Warrant / legal authority checked")
    [cross] = [i for i in spec.items if i.rule == "cross-border"]
    assert cross.text.startswith("Partner agencies in other countries informed")


async def test_builtin_loaded_at_start_idempotently(app: App) -> None:
    before = await rows(app, TemplateItem)
    await app.prepare()
    await app.prepare()
    assert await rows(app, TemplateItem) == before > 20
    (tpl,) = await fetch(app, ChecklistTemplate)
    assert tpl.name == "trafficking-raid" and tpl.builtin


async def test_template_list_and_show_through_the_console(app: App) -> None:
    await operation(app, people=False)
    listing = text(await ok(app, "template list"))
    assert "trafficking-raid — Trafficking raid (32 items, built-in)" in listing
    shown = text(await ok(app, "template show trafficking-raid"))
    assert shown.index("Before:") < shown.index("On site:") < shown.index("After:")
    assert "1. Warrant / legal authority checked: right form, signed, in date — operation lead" in (
        shown
    )
    assert "(optional)" in shown
    assert "partner (NGO / victim support)" in shown
    sentence = await refused(app, "template show no-such-thing")
    assert sentence == "There is no template 'no-such-thing'; known: trafficking-raid."


CUSTOM_TOML = """
name = "vessel-search"
title = "Vessel search"
[[items]]
phase = "after"
text = "Crew referred to support services"
role = "partner"
[[items]]
phase = "before"
text = "Port authority informed"
role = "operation lead"
[[items]]
phase = "on site"
text = "Containers opened with medical cover at hand"
mandatory = false
"""

CUSTOM_YAML = """
name: checkpoint
title: Border checkpoint
items:
  - phase: before
    text: Lane closed and signed
    role: site-commander
  - phase: on-site
    text: Passengers separated by vehicle
"""


def cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        "TASKFORCE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "TASKFORCE_DATA_DIR": str(tmp_path / "data"),
        "TASKFORCE_ADMINS": "console:admin",
    }


def in_app(tmp_path: Path, work: Callable[[App], Awaitable[T]]) -> T:
    """Run `work` against the CLI's database with a console App (the CLI runs its own loop)."""

    async def go() -> T:
        app = build_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", tmp_path))
        try:
            await app.prepare()
            return await work(app)
        finally:
            await app.close()

    return asyncio.run(go())


def test_import_toml_and_yaml_with_the_cli_then_plan_a_raid_from_one(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    toml_file = tmp_path / "vessel.toml"
    toml_file.write_text(CUSTOM_TOML)
    yaml_file = tmp_path / "checkpoint.yaml"
    yaml_file.write_text(CUSTOM_YAML)
    runner = CliRunner()
    first = runner.invoke(cli, ["templates", "import", str(toml_file)], env=env)
    assert first.exit_code == 0, first.output
    assert "Template created" in first.output and "3 items" in first.output
    second = runner.invoke(cli, ["templates", "import", str(yaml_file)], env=env)
    assert second.exit_code == 0, second.output
    again = runner.invoke(cli, ["templates", "import", str(toml_file)], env=env)
    assert again.exit_code == 0 and "unchanged" in again.output
    listing = runner.invoke(cli, ["templates", "list"], env=env)
    names = [line.split("\t")[0] for line in listing.output.splitlines()]
    assert names == ["checkpoint", "trafficking-raid", "vessel-search"]

    async def plan(app: App) -> tuple[str, str]:
        await operation(app, people=False)
        shown = text(await ok(app, "template show vessel-search"))
        line = 'raid plan "Trawler" --at "2099-11-30 10:00" --template vessel-search'
        return shown, text(await ok(app, line))

    shown, planned = in_app(tmp_path, plan)
    # Sorted by phase whatever the file order; the role "operation lead" normalised.
    assert (
        shown.index("1. Port authority informed — operation lead")
        < shown.index("2. Containers opened with medical cover at hand — anyone (optional)")
        < shown.index("3. Crew referred to support services — partner")
    )
    assert "vessel-search: 3 items, 2 mandatory" in planned


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (
            'name = "x"\n[[items]]\nphase = "during"\ntext = "a"\n',
            "Item 1: phase 'during' is not one of before, on-site, after.",
        ),
        (
            'name = "x"\n[[items]]\nphase = "before"\ntext = "a"\nrole = "sniper"\n',
            "Item 1: role 'sniper' is not one of operation-lead, site-commander, "
            "evidence-officer, victim-liaison, partner.",
        ),
        (
            'name = "x"\n[[items]]\nphase = "before"\ntext = "Warrant"\n'
            '[[items]]\nphase = "after"\ntext = "warrant"\n',
            "Item 2 repeats item 1: 'warrant'.",
        ),
        ('name = "x"\n', "Template 'x' has no items; add [[items]] entries."),
        (
            'name = "Bad Name"\n[[items]]\nphase = "before"\ntext = "a"\n',
            "Template name 'Bad Name' must be lowercase letters, digits and dashes, "
            "like trafficking-raid.",
        ),
        (
            'name = "x"\n[[items]]\nphase = "before"\ntext = "a"\nmandatory = "yes"\n',
            "Item 1: mandatory must be true or false.",
        ),
    ],
)
def test_invalid_templates_are_refused_with_a_sentence(body: str, sentence: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_text(body, "toml")
    assert str(caught.value) == sentence


def test_cli_import_refuses_bad_files_and_clashes_and_stores_nothing(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    before = in_app(tmp_path, lambda app: snapshot(app.store))
    runner = CliRunner()
    cases = {
        "broken.toml": ("name = [", "This is not valid TOML"),
        "broken.yaml": ("name: [unclosed", "This is not valid YAML"),
        "notes.txt": ("hello", "notes.txt: use a .toml, .yaml or .yml file."),
        "builtin.toml": (
            'name = "trafficking-raid"\n[[items]]\nphase = "before"\ntext = "only this"\n',
            "'trafficking-raid' is a built-in template; choose another name.",
        ),
        "dup.yaml": (
            "name: d\nitems:\n  - {phase: before, text: A}\n  - {phase: before, text: a}\n",
            "Item 2 repeats item 1: 'a'.",
        ),
    }
    for name, (body, expected) in cases.items():
        path = tmp_path / name
        path.write_text(body)
        result = runner.invoke(cli, ["templates", "import", str(path)], env=env)
        assert result.exit_code == 1, (name, result.output)
        assert expected in result.output, (name, result.output)
    missing = runner.invoke(cli, ["templates", "import", str(tmp_path / "nope.toml")], env=env)
    assert missing.exit_code == 1 and "Cannot read" in missing.output
    assert changed_tables(before, in_app(tmp_path, lambda app: snapshot(app.store))) == {}
    # A second template with an existing name needs --replace.
    (tmp_path / "v1.toml").write_text('name = "v"\n[[items]]\nphase = "before"\ntext = "one"\n')
    (tmp_path / "v2.toml").write_text('name = "v"\n[[items]]\nphase = "before"\ntext = "two"\n')
    first = runner.invoke(cli, ["templates", "import", str(tmp_path / "v1.toml")], env=env)
    assert first.exit_code == 0
    clash = runner.invoke(cli, ["templates", "import", str(tmp_path / "v2.toml")], env=env)
    assert clash.exit_code == 1
    assert "A template named 'v' exists already; use --replace to update it." in clash.output
    items = in_app(tmp_path, lambda app: fetch(app, TemplateItem))
    assert [i.text for i in items if i.text in ("one", "two")] == ["one"]
    replaced = runner.invoke(
        cli, ["templates", "import", "--replace", str(tmp_path / "v2.toml")], env=env
    )
    assert replaced.exit_code == 0 and "Template updated" in replaced.output
    items = in_app(tmp_path, lambda app: fetch(app, TemplateItem))
    assert [i.text for i in items if i.text in ("one", "two")] == ["two"]


def test_an_item_rule_is_legal_or_cross_border() -> None:
    base = 'name = "x"\n[[items]]\nphase = "before"\ntext = "Warrant seen"\n'
    assert parse_text(base + 'rule = "legal"\n', "toml").items[0].rule == "legal"
    with pytest.raises(TemplateError, match="rule 'optional' is not one of legal, cross-border"):
        parse_text(base + 'rule = "optional"\n', "toml")
