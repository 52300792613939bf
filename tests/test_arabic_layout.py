"""Arabic replies as a reader sees them (issue 29.4): each line is laid out by the Unicode
bidirectional algorithm (python-bidi, the Rust `unicode-bidi` crate) and the visual order
is compared with the logical one: references and flags read whole, brackets pair, and the
Arabic text carries Arabic punctuation.
"""

from __future__ import annotations

import re

import pytest
from bidi import get_display
from bidi.mirror import MIRRORED

from bot.base.bidi import LRI, PDI, RLM, isolate_ltr, rtl_line
from bot.base.clock import ManualClock
from bot.serving.app import App
from tests.fieldintel import ok, operation
from tests.test_language_purity import SCRIPT

_MARKS = str.maketrans("", "", f"{LRI}{PDI}{RLM}\u200e")
_PAIRS = {")": "(", "]": "[", ">": "<", "}": "{"}
_FLAG = re.compile(r"--[a-z][a-z-]*")
_REF = re.compile(r"\b(?:OP-[A-Z0-9-]+/)?(?:SG|S|N|R|M)-[0-9]+\b|\bOP-[A-Z][A-Z0-9-]+")
_ARABIC = re.compile(r"[\u0600-\u06ff]")


_LEVEL = re.compile(r"Level\(\s*(\d+),\s*\)")


def levels(line: str) -> list[int]:
    """The embedding level of each character, as the bidi algorithm resolves it (the
    library reports one per UTF-8 byte)."""
    per_byte = [int(n) for n in _LEVEL.findall(str(get_display(line, debug=True)))]
    out, offset = [], 0
    for ch in line:
        out.append(per_byte[offset])
        offset += len(ch.encode("utf-8"))
    return out


def seen(line: str) -> str:
    """The line as a screen shows it, left to right (rule L2: runs reversed from the
    highest level down; L4: brackets at right-to-left levels mirrored), without marks."""
    chars, lv = list(line), levels(line)
    for level in range(max(lv, default=0), 0, -1):
        i = 0
        while i < len(chars):
            if lv[i] >= level:
                j = i
                while j < len(chars) and lv[j] >= level:
                    j += 1
                chars[i:j], lv[i:j] = chars[i:j][::-1], lv[i:j][::-1]
                i = j
            else:
                i += 1
    shown = [MIRRORED.get(c, c) if level % 2 else c for c, level in zip(chars, lv, strict=True)]
    return "".join(shown).translate(_MARKS)


def brackets_pair(visual: str) -> bool:
    """Whether every bracket on the screen closes one opened before it, on its left."""
    stack: list[str] = []
    for ch in visual:
        if ch in _PAIRS.values():
            stack.append(ch)
        elif ch in _PAIRS and (not stack or stack.pop() != _PAIRS[ch]):
            return False
    return not stack


def problems(line: str) -> list[str]:
    """What a reader of `line` would see wrong."""
    found: list[str] = []
    visual = seen(line)
    logical = line.translate(_MARKS)
    if brackets_pair(logical) and not brackets_pair(visual):
        found.append(f"brackets split: {visual!r}")
    for token in _FLAG.findall(logical) + _REF.findall(logical):
        if token not in visual:
            found.append(f"{token} broken: {visual!r}")
    outside = re.sub(f"{LRI}[^{PDI}]*{PDI}", "", line)
    if _ARABIC.search(outside) and re.search(r"[,;?]", outside):
        found.append(f"Latin punctuation in Arabic text: {line!r}")
    return found


@pytest.mark.parametrize(
    "text",
    [
        "لديك 17 (10 منها) في القائمة",  # the issue: "⁦17 (10⁩ منها"
        'يتجاوز --force --reason "…" البنود المفتوحة',  # the issue: "force --reason--"
        "حالة: مفتوح, مغلق; ماذا?",  # the issue: Latin ; and ,
        "بنود (S-1) مفتوحة في OP-NIGHTJAR/SG-12",
        "الاستخدام: raid go <R-n> [--force --reason …]",
    ],
)
def test_the_issues_lines_read_right(text: str) -> None:
    assert problems(rtl_line(text)) == []


def test_the_check_finds_what_the_issue_saw() -> None:
    """The old layout of the issue's lines fails the same check (the check can fail)."""
    assert problems(f"{RLM}لديك {LRI}17 (10{PDI} منها)")
    assert problems(f"{RLM}يتجاوز --{LRI}force --reason{PDI} البنود")
    assert problems(f"{RLM}حالة: مفتوح, مغلق")
    assert isolate_ltr("مفتوح, مغلق") == "مفتوح، مغلق"


async def test_arabic_replies_of_the_main_commands_read_right(app: App, clock: ManualClock) -> None:
    await operation(app)
    await ok(app, "me lang ar")
    found: dict[str, list[str]] = {}
    for line in [*SCRIPT, "help sighting", "help notice"]:
        reply = await app.console.push(line, as_="admin", channel="hq")
        for shown in reply.message.plain_text().splitlines():
            if hits := problems(shown):
                found.setdefault(line, []).extend([*hits, repr(shown)])
    assert found == {}
