"""The catalogue: every user-facing sentence is in it, every language translates all of it,
what must never be translated is not, and right-to-left text is marked for both platforms.

Two scans keep it whole:
- `test_every_sentence_is_in_the_catalogue`: the sentences `pybabel extract` finds in `bot/`
  (`_`, `N_`, `ngettext`) must each have a translation in every language, in the `.po` and
  in the committed `.mo` the bot loads;
- `test_reply_and_error_texts_go_through_the_catalogue`: an AST scan of `bot/` for literal
  text passed to the reply and error constructors (`CommandError` and its kinds,
  `error_reply`, `Message(title=, lines=, fields=, context=)`, `Button`, a command's
  summary and details) without `_()`/`N_()`/`ngettext`. A literal that is a command word
  (`help op`, a status) is marked on its line with `# i18n: keep`.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from datetime import UTC, datetime
from gettext import c2py
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.base import i18n
from bot.base.bidi import LRI, PDI, RLM, isolate_ltr, rtl_line, rtl_message
from bot.base.i18n import (
    LANGUAGES,
    N_,
    _,
    current_language,
    ngettext,
    pick_language,
    supported,
    use_language,
)
from bot.base.localtime import format_local, format_time
from bot.base.messages import Button, Message

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
TRANSLATED = [code for code in LANGUAGES if code != i18n.DEFAULT_LANGUAGE]

# Modules whose sentences are not converted to the catalogue yet. Shrink this list: a module
# taken off it must pass the scan below.
NOT_YET_CONVERTED = {
    # The operator's command line on the server (`taskforce …`): English on purpose for now.
    "bot/serving/cli.py",
    "bot/serving/preflight.py",
}

ERRORS = {"CommandError", "UsageError", "Denied", "NotFound", "error_reply"}
MESSAGE_TEXT = {"title", "lines", "fields", "context"}
WRAPPERS = {"_", "N_", "ngettext"}
GATHERED = {"lines", "fields", "title"}  # names a reply's text is gathered in


# ------------------------------------------------------------------ the catalogue


def extracted() -> dict[str, str | None]:
    """msgid -> msgid_plural (None for a plain sentence), as `make i18n-extract` finds them."""
    found: dict[str, str | None] = {}
    keywords = {"_": None, "N_": None, "ngettext": (1, 2)}
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(BOT), [("**.py", "python")], keywords=keywords
    ):
        if isinstance(message, tuple):
            found[message[0]] = message[1]
        else:
            found[message] = None
    return found


def catalogue(code: str):  # type: ignore[no-untyped-def]
    path = BOT / "locale" / code / "LC_MESSAGES" / "taskforce.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=code)


def test_languages_are_the_five_of_the_task_force() -> None:
    assert list(LANGUAGES) == ["en", "es", "pt", "fr", "ar"]
    for code in TRANSLATED:
        assert (BOT / "locale" / code / "LC_MESSAGES" / "taskforce.mo").is_file(), code


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_sentence_is_in_the_catalogue(code: str) -> None:
    """A sentence added without a translation (or a stale `.mo`) fails here."""
    sentences = extracted()
    assert len(sentences) > 150  # the scan found the code's sentences
    cat = catalogue(code)
    compiled = i18n.translations(code)
    missing, stale = [], []
    for msgid, plural in sentences.items():
        entry = cat.get(msgid)
        strings = (
            ()
            if entry is None
            else (entry.string if isinstance(entry.string, tuple) else (entry.string,))
        )
        if entry is None or not strings or not all(strings) or entry.fuzzy:
            missing.append(msgid)
            continue
        got = compiled.ngettext(msgid, plural, 2) if plural else compiled.gettext(msgid)
        want = strings[c2py(cat.plural_expr)(2)] if plural else strings[0]
        if got != want:
            stale.append(msgid)
    assert not missing, f"{code}: no translation for {missing[:5]} (make i18n-update)"
    assert not stale, f"{code}: the .mo is older than the .po for {stale[:5]} (i18n-compile)"


# What is never translated (TLP 2.0; the grammar people type): these must come through whole.
_KEPT = re.compile(
    r"`[^`]+`"  # command words and examples
    r"|TLP:[A-Z+]+"  # TLP labels
    r"|\b(?:OP-[A-Z0-9-]+|SG|S|N|R|M)-[0-9n]+\b|OP-[A-Z][A-Z0-9-]+"  # references
    r"|--[a-z][a-z-]*"  # flags
)
_PLACEHOLDER = re.compile(r"\{(\w*)\}")
# Arabic's plural forms 1 (one) and 2 (two) say the count with the noun, without a number.
_ARABIC_ONE_AND_TWO = (1, 2)


@pytest.mark.parametrize("code", TRANSLATED)
def test_translations_keep_placeholders_references_labels_and_commands(code: str) -> None:
    problems = []
    for entry in catalogue(code):
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for index, text in enumerate(strings):
            want = set(_PLACEHOLDER.findall(ids[-1]))
            if code == "ar" and len(ids) > 1 and index in _ARABIC_ONE_AND_TWO:
                want -= {"n"}  # the count is in the word: جهة واحدة, جهتان (never "1 جهة")
                if set(_PLACEHOLDER.findall(text)) | {"n"} != want | {"n"}:
                    problems.append(("placeholders", ids[0], text))
            elif set(_PLACEHOLDER.findall(text)) != want:
                problems.append(("placeholders", ids[0], text))
            if Counter(_KEPT.findall(text)) != Counter(_KEPT.findall(ids[0])):
                problems.append(("kept", ids[0], text))
            if text.format(**{k: "x" for k in _PLACEHOLDER.findall(text)}) is None:
                problems.append(("format", ids[0], text))
    assert not problems, problems[:5]


# ------------------------------------------------------ the scan for raw sentences


def _is_text(node: ast.AST) -> bool:
    """Whether `node` is literal text a person would read (it has letters)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(re.search(r"[A-Za-z]{2}", node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_is_text(v) for v in node.values if isinstance(v, ast.Constant))
    return False


def _raw_text(node: ast.AST | None) -> list[ast.AST]:
    """The literal sentences in an expression that reach the user untranslated."""
    if node is None:
        return []
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in WRAPPERS:
            return []
        if isinstance(func, ast.Attribute) and func.attr in ("format", "join"):
            return _raw_text(func.value)  # "….".format() formats an untranslated sentence
        return []
    if isinstance(node, ast.BinOp):
        return _raw_text(node.left) + _raw_text(node.right)
    if isinstance(node, ast.IfExp):
        return _raw_text(node.body) + _raw_text(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [n for v in node.values for n in _raw_text(v)]
    if isinstance(node, ast.List | ast.Tuple):
        return [n for e in node.elts for n in _raw_text(e)]
    if isinstance(node, ast.ListComp):
        return _raw_text(node.elt)
    return [node] if _is_text(node) else []


def _findings(tree: ast.AST, source: str = "") -> list[tuple[int, str]]:
    """Raw sentences in `tree`, but on lines marked `# i18n: keep` (a command word)."""
    kept = {n for n, line in enumerate(source.splitlines(), 1) if "# i18n: keep" in line}
    out: list[ast.AST] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = (
            node.func.id
            if isinstance(node.func, ast.Name)
            else node.func.attr
            if isinstance(node.func, ast.Attribute)
            else ""
        )
        if name in ERRORS and node.args:
            out += _raw_text(node.args[0])
        elif name == "Message":
            out += [
                n for kw in node.keywords if kw.arg in MESSAGE_TEXT for n in _raw_text(kw.value)
            ]
        elif name == "Button" and node.args:
            out += _raw_text(node.args[0])
        elif name == "command":
            if len(node.args) >= 3:
                out += _raw_text(node.args[2])  # the summary help shows
            out += [n for kw in node.keywords if kw.arg == "details" for n in _raw_text(kw.value)]
    for node in ast.walk(tree):
        # Text gathered before the message is built: `lines.append("…")`, `lines = ["…"]`.
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("append", "extend", "insert")
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in GATHERED
        ):
            out += [n for arg in node.args for n in _raw_text(arg)]
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in GATHERED for t in targets):
                out += _raw_text(node.value)
    return sorted(
        (line, ast.unparse(n)[:80]) for n in out if (line := getattr(n, "lineno", 0)) not in kept
    )


def test_reply_and_error_texts_go_through_the_catalogue() -> None:
    listed = {p for p in NOT_YET_CONVERTED}
    assert all((ROOT / p).is_file() for p in listed), "a listed module no longer exists"
    problems = {}
    for path in sorted(BOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in listed:
            continue
        source = path.read_text(encoding="utf-8")
        found = _findings(ast.parse(source), source)
        if found:
            problems[rel] = found
    assert not problems, f"untranslated sentences (wrap them in _()): {problems}"


def test_the_scan_catches_raw_sentences() -> None:
    """The scan itself can fail: each of these forms is flagged, the wrapped ones are not."""
    flagged = _findings(
        ast.parse(
            "raise UsageError('Plain sentence.')\n"
            "raise NotFound(f'No {x} here.')\n"
            "Message(title='Title', lines=['A line', f'{a} ok'], fields=[('Label', v)])\n"
            "command('x', 'x', 'A summary.')\n"
            "error_reply('Nope {a}.'.format(a=1))\n"
            "Button('Press me', 'cmd')\n"
            "lines.append(f'{n} hidden.')\n"
            "lines = ['Heading:']\n"
        )
    )
    assert [line for line, _text in flagged] == [1, 2, 3, 3, 3, 3, 4, 5, 6, 7, 8]
    assert not _findings(
        ast.parse(
            "raise UsageError(_('Plain sentence.'))\n"
            "raise NotFound(_('No {x} here.').format(x=x))\n"
            "Message(title=_('Title'), lines=[f'  {a} — {b}', ngettext('a', 'b', n)])\n"
            "command('x', 'x', N_('A summary.'), details=N_('More.'))\n"
        )
    )


def test_every_permission_has_its_refusal_text() -> None:
    """A refusal names the permission in the reader's language: the table follows `Perm`."""
    from bot.commands.context import PERM_TEXT
    from bot.core.access import Perm

    assert {perm: perm.value for perm in Perm} == PERM_TEXT


def test_a_raid_card_in_another_language_loses_its_address_on_the_way_to_a_channel() -> None:
    """`without_target` drops the address field whatever language the card was built in."""
    from bot.core import raidview

    for code in LANGUAGES:
        with use_language(code):
            label = _(raidview.LOCATION)
        card = Message(title="R-1", fields=[("x", "1"), (label, "Calle Mayor 3")])
        assert raidview.shows_target(card), code
        assert [k for k, _v in raidview.without_target(card).fields] == ["x"], code


def test_builtin_template_texts_are_in_the_catalogue() -> None:
    """The shipped templates' title and items are translated at display (`item_text`)."""
    import tomllib

    from bot.core.checklists import item_text
    from bot.core.template_texts import BUILTIN_TEXTS

    shipped: set[str] = set()
    for path in (BOT / "core" / "templates").glob("*.toml"):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        shipped |= {data["title"], *(" ".join(i["text"].split()) for i in data["items"])}
    assert shipped == BUILTIN_TEXTS, shipped ^ BUILTIN_TEXTS
    item = "Rendezvous point set"
    assert item_text(item) == item and item_text("Our own item") == "Our own item"
    with use_language("es"):
        assert item_text(item) != item  # a built-in item in the reader's language
        assert item_text("Our own item") == "Our own item"  # a custom one as typed


# ------------------------------------------------------------------ the contract


def test_language_names_and_platform_locales() -> None:
    assert supported("fr") == "fr" and supported("pt-BR") == "pt" and supported("es_419") == "es"
    assert supported("AR") == "ar" and supported("de") is None and supported("") is None
    assert pick_language(None, "de", "fr-CA", "es") == "fr"
    assert pick_language(None, "", "xx") == "en"


def test_use_language_nests_and_restores() -> None:
    sentence = "Which operation? Add its code, like OP-NIGHTJAR."
    assert _(sentence) == sentence
    with use_language("es"):
        assert current_language() == "es"
        assert _(sentence) == "¿Qué operación? Añade su código, como OP-NIGHTJAR."
        with use_language("ar"):
            assert _(sentence).startswith("أي عملية؟")
        assert current_language() == "es"
        i18n.switch_language("fr")
        assert _(sentence).startswith("Quelle opération ?")
    assert current_language() == "en" and _(sentence) == sentence
    with use_language("klingon"):
        assert current_language() == "en"
    assert _("") == "" and N_("Some text.") == "Some text."


def test_plurals_follow_each_language() -> None:
    one, many = "{n} item", "{n} items"
    with use_language("fr"):
        assert ngettext(one, many, 0).format(n=0) == "0 élément"  # French: 0 is singular
        assert ngettext(one, many, 3).format(n=3) == "3 éléments"
    with use_language("es"):
        assert ngettext(one, many, 0).format(n=0) == "0 puntos"
    with use_language("ar"):
        assert ngettext(one, many, 1).format(n=1) == "بند واحد"  # never "1 بنود"
        assert ngettext(one, many, 2).format(n=2) == "بندان"
        assert ngettext(one, many, 5).format(n=5) == "5 بنود"
        assert ngettext(one, many, 11).format(n=11) == "11 بندًا"


def test_times_in_the_readers_zone_and_language() -> None:
    summer = datetime(2026, 7, 4, 21, 5, tzinfo=UTC)
    lisbon, paris = ZoneInfo("Europe/Lisbon"), ZoneInfo("Europe/Paris")
    assert format_time(summer, lisbon) == "Sat 04 Jul 2026 22:05 WEST (21:05 UTC)"  # English
    assert format_local(summer, lisbon, "pt") == "sáb., 4 de jul. de 2026 22:05 WEST (21:05 UTC)"
    assert format_local(summer, paris, "fr") == "sam. 4 juil. 2026 23:05 CEST (21:05 UTC)"
    assert format_local(summer, ZoneInfo("UTC"), "es") == "sáb, 4 jul 2026 21:05 UTC"
    assert format_local(summer, ZoneInfo("Africa/Casablanca"), "ar").startswith(
        "السبت، 4 يوليو 2026"
    )
    with use_language("fr"):
        assert format_time(summer, paris) == "sam. 4 juil. 2026 23:05 CEST (21:05 UTC)"


# ------------------------------------------------------------------- right to left


def test_left_to_right_inserts_are_isolated_in_arabic() -> None:
    assert isolate_ltr("أُنشئت OP-NH") == f"أُنشئت {LRI}OP-NH{PDI}"
    # One isolate for a whole Latin run, its inner spaces and punctuation included; the
    # sentence's own final punctuation stays outside.
    assert isolate_ltr("الاستخدام: op status [OP] <planning|closed>.") == (
        f"الاستخدام: {LRI}op status [OP] <planning|closed>{PDI}."
    )
    assert isolate_ltr("`join <code>`؛") == f"`{LRI}join <code>{PDI}`؛"
    assert isolate_ltr("حتى TLP:AMBER+STRICT") == f"حتى {LRI}TLP:AMBER+STRICT{PDI}"
    # Arabic typed by a member, and digits between Arabic words, are left to the algorithm.
    assert isolate_ltr("مكان: ميناء هويلفا") == "مكان: ميناء هويلفا"
    assert rtl_line("a\n\nب") == f"{RLM}{LRI}a{PDI}\n\n{RLM}ب"
    msg = rtl_message(
        Message(
            title="S-1",
            fields=[("TLP", "TLP:RED")],
            lines=["شخص S-1"],
            buttons=[Button("S-1", "subject show S-1")],
            tlp="red",
        )
    )
    assert msg.title == f"{RLM}{LRI}S-1{PDI}" and msg.tlp == "red"
    assert msg.fields == [(f"{RLM}{LRI}TLP{PDI}", f"{RLM}{LRI}TLP:RED{PDI}")]
    assert msg.buttons[0].command == "subject show S-1"  # what the button runs is untouched


_MARKED = re.compile(
    r"""(?<![A-Za-z0-9_])(?:_|N_)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)]"""
)


def test_every_marked_sentence_in_the_code_is_in_the_catalogue() -> None:
    """A `_("…")` the extractor cannot see (inside an f-string, on Python 3.11) would stay
    English in every language; this finds each literal and looks for it in the catalogue."""
    with (ROOT / "bot/locale/taskforce.pot").open("rb") as handle:
        catalogue = read_po(handle)
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.id}
    unseen = {}
    for path in sorted(BOT.rglob("*.py")):
        for found in _MARKED.finditer(path.read_text(encoding="utf-8")):
            literal = found.group(1) if found.group(1) is not None else found.group(2)
            if literal not in known and "\\" not in literal:
                unseen.setdefault(path.relative_to(ROOT).as_posix(), []).append(literal)
    assert unseen == {}, f"not in the catalogue (make i18n-update): {unseen}"
