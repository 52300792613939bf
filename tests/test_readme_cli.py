"""Every `taskforce …` example in README.md and docs/ is a command the CLI accepts.

The examples are read from the pages — shell blocks and inline code, as typed, piped
(`printf … | taskforce shell`) or through compose (`docker compose run --rm taskforce
check`, `docker compose exec taskforce taskforce export …`) — and each is parsed by the
CLI's own parser (Typer's): the subcommand must exist and its options and arguments must be
accepted. `[--flag]` counts as the flag; a bare mention (`taskforce export`) or an example
with `…` in it is checked for its subcommand and option names only. The examples that are
safe on a scratch database (set-up, checks, listings) are then run, in the order the pages
show them, against a SQLite file of this test, and must succeed.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from bot.serving.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
SHELL_BLOCKS = ("sh", "bash", "console", "shell", "")
SEPARATORS = {"|", "||", "&&", ";", "&"}
REDIRECTS = {">", ">>", "<", "2>", "2>&1"}
ELLIPSIS = {"…", "..."}
# Run for real against a scratch database (in page order): set-up, checks and listings.
SAFE = {
    ("check",),
    ("db", "upgrade"),
    ("admin", "add-agency"),
    ("admin", "add-member"),
    ("audit", "verify"),
    ("inbox",),
    ("outbox",),
    ("templates", "list"),
    ("shell",),
}


def taskforce_args(segment: list[str]) -> list[str] | None:
    """The arguments given to `taskforce` by one shell command, or None if it is another."""
    while segment and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", segment[0]):
        segment = segment[1:]  # VAR=value before the command
    if not segment:
        return None
    if segment[0] == "taskforce" or segment[0].endswith("/taskforce"):
        return segment[1:]
    if segment[:2] == ["docker", "compose"] and segment[2:3] in (["run"], ["exec"]):
        if "--entrypoint" in segment:
            return None  # another program in the image
        rest = [t for t in segment[3:] if not t.startswith("-")]
        if not rest or rest[0] != "taskforce":
            return None  # another service
        if segment[2] == "run":  # the image's entrypoint is `taskforce`
            return rest[1:]
        return rest[2:] if rest[1:2] == ["taskforce"] else None
    return None


def commands_in(line: str) -> list[list[str]]:
    """The `taskforce` argument lists in one line of shell."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        return []  # prose in backquotes, not a command line
    found: list[list[str]] = []
    segment: list[str] = []
    for token in [*tokens, ";"]:
        if token in SEPARATORS:
            cut = next((i for i, t in enumerate(segment) if t in REDIRECTS), len(segment))
            args = taskforce_args(segment[:cut])
            if args:
                found.append([t.removeprefix("[").removesuffix("]") for t in args])
            segment = []
        else:
            segment.append(token)
    return found


def examples() -> list[tuple[str, list[str]]]:
    """(where, arguments) for every example, in page order, each once."""
    seen: set[tuple[str, ...]] = set()
    out: list[tuple[str, list[str]]] = []
    for page in PAGES:
        text = page.read_text()
        lines: list[str] = []
        for lang, body in FENCE.findall(text):
            if lang in SHELL_BLOCKS:
                lines.extend(body.splitlines())
        lines.extend(span for span in INLINE.findall(FENCE.sub("", text)) if "taskforce" in span)
        for line in lines:
            for args in commands_in(line):
                if tuple(args) not in seen:
                    seen.add(tuple(args))
                    out.append((str(page.relative_to(ROOT)), args))
    return out


EXAMPLES = examples()


def resolve(args: list[str]) -> tuple[list[str], Any, list[str]]:
    """(subcommand path, its command, the arguments left for it)."""
    command: Any = get_command(cli)
    path: list[str] = []
    rest = list(args)
    while getattr(command, "commands", None) and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        assert sub is not None, f"`taskforce {' '.join([*path, rest[0]])}`: no such command"
        command, path, rest = sub, [*path, rest[0]], rest[1:]
    return path, command, rest


def test_the_pages_show_the_commands_this_test_knows() -> None:
    # The extraction found the README's administration block and the compose forms.
    shown = {tuple(resolve(args)[0]) for _, args in EXAMPLES}
    assert {("check",), ("db", "upgrade"), ("admin", "add-member"), ("serve",)} <= shown
    assert ("export",) in shown  # `docker compose exec taskforce taskforce export OP-X`


@pytest.mark.parametrize(("page", "args"), EXAMPLES, ids=[" ".join(a) for _, a in EXAMPLES])
def test_each_example_is_accepted_by_the_cli(page: str, args: list[str]) -> None:
    path, command, rest = resolve(args)
    if not rest or ELLIPSIS & set(rest):
        names = {opt for param in command.params for opt in getattr(param, "opts", [])}
        flags = [t.split("=", 1)[0] for t in rest if t.startswith("--")]
        assert set(flags) <= names, f"{page}: `taskforce {' '.join(args)}`: {flags} vs {names}"
        return
    try:
        command.make_context(" ".join(["taskforce", *path]), rest)
    except typer.Exit as done:  # an eager option such as --help answered by itself
        assert done.exit_code == 0, f"{page}: `taskforce {' '.join(args)}`"
    except typer.TyperException as exc:  # the parser's usage errors
        pytest.fail(f"{page}: `taskforce {' '.join(args)}` is refused: {exc}")


def test_the_safe_examples_run_on_a_scratch_database(tmp_path: Path) -> None:
    env = {
        "TASKFORCE_DATABASE_URL": f"sqlite:///{tmp_path / 'taskforce.db'}",
        "TASKFORCE_DATA_DIR": str(tmp_path / "data"),
        "TASKFORCE_EXPORT_DIR": str(tmp_path / "exports"),
        "TASKFORCE_ADMINS": "",  # the README's add-member example names console:ana
    }
    ran = []
    for page, args in EXAMPLES:
        path, _, rest = resolve(args)
        if tuple(path) not in SAFE or ELLIPSIS & set(rest):
            continue
        result = CliRunner().invoke(cli, args, env=env, input="")
        assert result.exit_code == 0, f"{page}: `taskforce {' '.join(args)}`:\n{result.output}"
        ran.append(tuple(path))
    assert {("db", "upgrade"), ("admin", "add-agency"), ("admin", "add-member")} <= set(ran)
