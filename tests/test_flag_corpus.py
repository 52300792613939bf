"""Every flag of every command against the crash corpus (issue 32): huge and negative
numbers, NaN, `~user` paths, NUL, control characters, other scripts' digits, very long
text. Each gets a reply — one clear sentence when refused, and then nothing written —
never "Something went wrong". The flags are read from the registry, so a flag added
later is fed the corpus too (and a command added without a line here fails the test).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands.errors import UsageError
from bot.commands.registry import REGISTRY, Flag
from bot.commands.tokenizer import tokenize
from bot.serving.app import App
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import ok, operation, text

CORPUS = [
    "99999999999999999999",
    "-1",
    "0",
    "NaN",
    "inf",
    "1e309",
    "~XS~",
    "~root/x",
    "²",
    "٣",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "x" * 1200,
    "../up",
    "",
]
# A line that reaches each command's handler: its arguments and required flags.
BASE = {
    "audit": "audit",
    "brief schedule": "brief schedule 07:00",
    "export": "export",
    "op new": "op new Gamma",
    "op invite": "op invite",
    "op link": "op link",
    "sighting grade": 'sighting grade SG-1 B2 --reason "checked"',
    "sighting": "sighting S-1 at Huelva",
    "sightings": "sightings",
    "pin": "pin 37.25,-6.95",
    "subject find": "subject find Ivan",
    "subject search": "subject search Ivan",
    "links": "links S-1",
    "links confirm": 'links confirm S-1 S-2 --reason "seen together"',
    "links dismiss": 'links dismiss S-1 S-2 --reason "not together"',
    "notice record": "notice record blue S-1 --requested-by PT --ref A-1/2026",
    "notice diffusion": "notice diffusion blue S-1 --requested-by PT --countries FR",
    "notice issue": "notice issue",
    "notice list": "notice list",
    "notice cancel": 'notice cancel N-1 --reason "found"',
    "notice renew": 'notice renew N-1 --reason "still sought"',
    "photo": "photo S-1 at Huelva",
    "op access": 'op access OP-NIGHTJAR --reason "review"',
    "subject unprotect": 'subject unprotect S-1 --reason "adult"',
    "raid plan": 'raid plan Dawn --at "tomorrow 05:30"',
    "raid move": 'raid move R-1 --at "tomorrow 06:30"',
    "raid go": "raid go R-1",
    "raid done": "raid done R-1",
    "raid abort": 'raid abort R-99 --reason "called off"',
    "check": "check R-1 1",
    "uncheck": "uncheck R-1 1",
    "subject add": "subject add person Ana",
    "subject list": "subject list",
    "subject edit": 'subject edit S-1 --reason "passport seen"',
    "sighting edit": 'sighting edit SG-1 --reason "typo"',
    "subject merge": 'subject merge S-2 into S-1 --reason "same person"',
    "subject erase": 'subject erase S-99 --reason "error"',
    "sighting erase": 'sighting erase SG-99 --reason "error"',
    "notice erase": 'notice erase N-99 --reason "error"',
    "review keep": 'review keep S-1 --reason "still needed"',
    "victim age": "victim age S-3 --apparent 30",
    "victim refer": 'victim refer S-3 nrm --agency "ES NRM" --consent given',
    "task add": 'task add "Call the NCB" --to mia --by "tomorrow 10:00"',
    "exhibit add": 'exhibit add "a phone" --number X/1 --found hall --sighting SG-1',
    "exhibit transfer": 'exhibit transfer E-1 --to mia --why "to the lab"',
    "statement add": 'statement add S-1 --lang fr "Je ne sais rien."',
    "statement translate": 'statement translate ST-1 --lang en --by "A. Translator" "No."',
    "link subjects": 'link S-1 S-2 --as family --source "registry"',
    "op deconfliction": "op deconfliction --contact open",
}


def _valued(flag: Flag) -> bool:
    return flag.kind != "bool"


def _line(base: str, flag: str, value: str) -> str:
    """`base` with `--flag value` (replacing the base's own value of that flag)."""
    words = tokenize(base)
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word == f"--{flag}":
            skip = True
            continue
        kept.append(f'"{word}"' if " " in word else word)
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    return " ".join([*kept, f'--{flag} "{quoted}"'])


def test_every_command_with_a_valued_flag_has_a_line_here() -> None:
    flagged = {c.name for c in REGISTRY.all() if any(_valued(f) for f in c.flags)}
    assert flagged <= set(BASE), f"add a line for {sorted(flagged - set(BASE))}"


@pytest.mark.parametrize(
    "flag", [f for c in REGISTRY.all() for f in c.flags if f.kind in ("int", "path")]
)
def test_numbers_and_paths_refuse_the_corpus_with_one_sentence(flag: Flag) -> None:
    for value in CORPUS:
        named = value and value.isprintable() and "~" not in value and len(value) < 255
        if flag.kind == "path" and named:
            continue  # a directory may be called that
        with pytest.raises(UsageError) as refused:
            flag.read(value)
        assert refused.value.sentence.startswith(f"--{flag.name} must be")


async def test_every_flag_survives_the_crash_corpus(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # `export --out` writes relative to here
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "subject add person Marko Vidal --category suspect")
    await ok(app, "subject add person Ana Vera --category victim")
    await ok(app, "sighting S-1 at Huelva --coords 37.25,-6.95", channel="room")
    await ok(app, "notice record blue S-1 --requested-by PT --ref A-1/2026")
    await ok(app, 'raid plan "Dawn" --at "tomorrow 05:30"', channel="room")
    await ok(app, 'exhibit add "a phone" --number X/0 --found hall --sighting SG-1')
    await ok(app, 'statement add S-1 --lang fr "Je ne sais rien."')
    wrong: list[str] = []
    before = await snapshot(app.store)
    for cmd in REGISTRY.all():
        for flag in filter(_valued, cmd.flags):
            for value in CORPUS:
                line = _line(BASE[cmd.name], flag.name, value)
                reply = await app.console.push(line, as_="admin", channel="room")
                said = text(reply)
                after = await snapshot(app.store)
                shown = f"{line[:70]!r}"
                if "Something went wrong" in said or not reply.message.lines:
                    wrong.append(f"{shown} crashed: {said[:100]!r}")
                elif not reply.ok:
                    if len(reply.message.lines) > 2 or not reply.message.lines[0].strip():
                        wrong.append(f"{shown} is not one sentence: {said[:100]!r}")
                    if changed_tables(before, after):
                        wrong.append(f"{shown} refused but wrote {changed_tables(before, after)}")
                before = after
    assert wrong == []
    assert not any(p.name.startswith("~") for p in tmp_path.rglob("*"))
