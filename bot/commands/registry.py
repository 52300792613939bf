"""The command registry: each command declares its grammar, help text and required role."""

from __future__ import annotations

import difflib
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.base.i18n import _
from bot.commands.errors import UsageError
from bot.commands.fieldtime import time_words
from bot.commands.refs import is_op_code, looks_like_ref
from bot.commands.values import DB_INT_MAX, coords_words, parse_int, parse_path
from bot.commands.walltime import looks_like_zone_word
from bot.contracts import Invocation, Reply, Visibility
from bot.core.access import Perm
from bot.store.audit import Action

if TYPE_CHECKING:
    from bot.commands.context import CommandContext, Core

Handler = Callable[["CommandContext"], Awaitable[Reply]]
# Slow work a command needs before its transaction (fetching and decoding a photo): run by
# the dispatch once the actor is admitted, outside any transaction; the result is
# `CommandContext.prepared`.
Prepare = Callable[["Core", Invocation], Awaitable[Any]]


@dataclass(frozen=True)
class Arg:
    """A positional argument. `rest` takes every remaining word (as a list).

    `ref`: the argument is a reference (`R-1`, `OP-X/R-1`), and may name the operation the
    command is about. Only declared references do: a reference typed inside free text (a
    note, a description, a place) never moves a command to another operation. For a
    `rest` argument only its first word is read as the reference (`sighting S-1 at …`).
    """

    name: str
    required: bool = True
    rest: bool = False
    ref: bool = False


@dataclass(frozen=True)
class Flag:
    """A `--flag`. kind: `str`, `bool` (no value), `time` (may span words: `20m ago`), `coords`
    (may span two: `36,1600, -5,3480`),
    `int` (a whole number `low`..`high`, read by `values.parse_int`) or `path` (a directory
    on this machine, read by `values.parse_path`). Numbers and paths are read here, once,
    for every command: a handler gets an `int` or a `Path`, never the raw text."""

    name: str
    kind: str = "str"
    multi: bool = False
    required: bool = False
    ref: bool = False  # a reference that may name the operation (see `Arg.ref`)
    low: int = 1
    high: int = DB_INT_MAX

    def read(self, value: str) -> Any:
        """The flag's value as its kind says; `UsageError` with one sentence otherwise."""
        if self.kind == "int":
            return parse_int(value, f"--{self.name}", self.low, self.high)
        if self.kind == "path":
            return parse_path(value, f"--{self.name}")
        return value


class OpMode(enum.Enum):
    """How a command finds its operation."""

    NONE = "none"  # the command is not about one operation
    OPTIONAL = "optional"  # resolved when possible; the handler copes without one
    REQUIRED = "required"  # resolved from OP, a reference, the channel or the only membership


@dataclass(frozen=True)
class Command:
    """One command of the core: grammar, help, permission and handler."""

    name: str
    usage: str
    summary: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    flags: tuple[Flag, ...] = ()
    perm: Perm | None = None
    op: OpMode = OpMode.NONE
    admin_only: bool = False
    # Service management an admin may do in any operation without reading its records
    # (`op status`): the role check is skipped for admins, membership is not needed.
    admin_manages: bool = False
    needs_member: bool = True
    writes: bool = False
    action: Action = Action.CONSULT
    visibility: Visibility = Visibility.PRIVATE
    details: str = ""
    prepare: Prepare | None = None
    # A second command of a noun chosen by its arguments' shape (`link S-1 S-4 --as …`
    # beside `link <code>`): the words after the noun; True takes the line.
    shape: Callable[[list[str]], bool] | None = None

    def references(self, args: ParsedArgs) -> list[str]:
        """The values of the arguments declared as references, in declaration order."""
        out: list[str] = []
        for arg in self.args:
            value = args.values.get(arg.name) if arg.ref else None
            if isinstance(value, list):
                out.extend(str(v) for v in value[:1])
            elif value is not None:
                out.append(str(value))
        for flag in self.flags:
            value = args.values.get(flag.name) if flag.ref else None
            if isinstance(value, list):
                out.extend(str(v) for v in value)
            elif isinstance(value, str):
                out.append(value)
        return out

    @property
    def noun(self) -> str:
        """The first word of the command name."""
        return self.name.split(" ")[0]

    def parse(self, words: list[str], max_text: int) -> ParsedArgs:
        """Match `words` (after the command name) against this command's grammar."""
        return _parse(self, words, max_text)


@dataclass
class ParsedArgs:
    """Parsed arguments: positionals and flags by name, plus an explicit operation code."""

    values: dict[str, Any] = field(default_factory=dict)
    op_code: str | None = None

    def get(self, name: str, default: Any = None) -> Any:
        """The value of an argument or flag, or `default`."""
        return self.values.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __contains__(self, name: str) -> bool:
        return name in self.values


def _flag_words(value: str, following: list[str]) -> int:
    """How many following words belong to a time value (`20m ago`, `tomorrow 05:30`), with
    a zone abbreviation after a clock time (`02:30 CET`, the answer to a repeated hour)."""
    taken = _time_value_words(value, following)
    last = following[taken - 1] if taken else value
    if len(following) > taken and any(c.isdigit() for c in last):
        taken += int(looks_like_zone_word(following[taken]))
    return taken


def _time_value_words(value: str, following: list[str]) -> int:
    if not following:
        return 0
    nxt = following[0].lower()
    low = value.lower()
    if nxt == "ago":
        return 1
    if low in ("today", "tomorrow", "yesterday", "in"):
        return max(1, time_words(value, following))
    if len(value) == 10 and value[4:5] == "-" and ":" in nxt and len(nxt) <= 8:
        return 1
    if len(following) > 1 and following[1].lower() == "ago" and value.isascii() and value.isdigit():
        return 2  # "20 min ago"
    return time_words(value, following)  # "ayer 23:30", "30/11/2026 06:00", "5 pm"


def _parse(cmd: Command, words: list[str], max_text: int) -> ParsedArgs:
    flags = {f.name: f for f in cmd.flags}
    out = ParsedArgs()
    positionals: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and len(word) > 2 and not word[2:3].isdigit():
            name, eq, inline = word[2:].partition("=")
            name = name.lower()
            spec = flags.get(name)
            if spec is None:
                known = ", ".join(f"--{f}" for f in flags) or _("no flags")
                raise UsageError(
                    _("`{command}` has no flag {flag}; it takes {known}.").format(
                        command=cmd.name, flag=f"--{name}", known=known
                    )
                )
            if spec.kind == "bool":
                if eq:
                    raise UsageError(_("{flag} takes no value.").format(flag=f"--{name}"))
                out.values[name] = True
                i += 1
                continue
            if eq:
                value = inline
                i += 1
            else:
                if i + 1 >= len(words) or (words[i + 1].startswith("--") and len(words[i + 1]) > 2):
                    raise UsageError(_("{flag} needs a value.").format(flag=f"--{name}"))
                value = words[i + 1]
                i += 2
            if spec.kind == "coords":
                extra = coords_words(value, words[i:])
                value = " ".join([value, *words[i : i + extra]])
                i += extra
            if spec.kind == "time":
                extra = _flag_words(value, words[i:])
                value = " ".join([value, *words[i : i + extra]])
                i += extra
            if len(value) > max_text:
                raise UsageError(
                    _(
                        "The text of {flag} is too long ({length} characters); the limit is "
                        "{limit}."
                    ).format(flag=f"--{name}", length=len(value), limit=max_text)
                )
            value = spec.read(value)
            if spec.multi:
                out.values.setdefault(name, []).append(value)
            elif name in out.values:
                raise UsageError(_("{flag} is given twice; give it once.").format(flag=f"--{name}"))
            else:
                out.values[name] = value
            continue
        positionals.append(word)
        i += 1

    if (
        cmd.op is not OpMode.NONE
        and positionals
        and is_op_code(positionals[0])
        and not looks_like_ref(positionals[0])
    ):
        out.op_code = positionals.pop(0).upper()

    for arg in cmd.args:
        if arg.rest:
            if arg.required and not positionals:
                raise UsageError(_("{arg} is missing.").format(arg=f"<{arg.name}>"))
            out.values[arg.name] = positionals
            total = sum(len(p) + 1 for p in positionals)
            if total > max_text:
                raise UsageError(
                    _("{arg} is too long ({length} characters); the limit is {limit}.").format(
                        arg=f"<{arg.name}>", length=total, limit=max_text
                    )
                )
            positionals = []
            continue
        if not positionals:
            if arg.required:
                raise UsageError(_("{arg} is missing.").format(arg=f"<{arg.name}>"))
            continue
        value = positionals.pop(0)
        if len(value) > max_text:
            raise UsageError(
                _("{arg} is too long ({length} characters); the limit is {limit}.").format(
                    arg=f"<{arg.name}>", length=len(value), limit=max_text
                )
            )
        out.values[arg.name] = value
    if positionals:
        raise UsageError(
            _("Too many arguments: {words} is not expected here.").format(
                words=repr(" ".join(positionals))
            )
        )
    for spec in cmd.flags:
        if spec.required and spec.name not in out.values:
            raise UsageError(_("{flag} is required.").format(flag=f"--{spec.name}"))
    return out


class Registry:
    """All commands by name (`op new`, `sighting`, `help`)."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(self, cmd: Command) -> Command:
        """Register a command; names are unique."""
        if cmd.name in self._commands:
            raise ValueError(f"command {cmd.name!r} registered twice")
        self._commands[cmd.name] = cmd
        return cmd

    def all(self) -> list[Command]:
        """Every command, in registration order."""
        return list(self._commands.values())

    def get(self, name: str) -> Command | None:
        """A command by its full name."""
        return self._commands.get(name)

    def nouns(self) -> list[str]:
        """The first words of all commands, unique, in order."""
        return list(dict.fromkeys(c.noun for c in self._commands.values()))

    def resolve(self, words: list[str]) -> tuple[Command, list[str]]:
        """Find the command for the first words of a line; UsageError with a suggestion."""
        first = words[0].lower()
        if len(words) > 1:
            two = f"{first} {words[1].lower()}"
            if two in self._commands:
                return self._commands[two], words[2:]
        for cmd in self._commands.values():
            if cmd.shape is not None and cmd.noun == first and cmd.shape(words[1:]):
                return cmd, words[1:]
        if first in self._commands:
            return self._commands[first], words[1:]
        verbs = [c.name.split(" ", 1)[1] for c in self._commands.values() if c.noun == first]
        if verbs:
            given = words[1] if len(words) > 1 else ""
            guess = difflib.get_close_matches(given.lower(), verbs, n=1, cutoff=0.6)
            hint = (
                " " + _("Did you mean `{command}`?").format(command=f"{first} {guess[0]}")
                if guess and given
                else ""
            )
            what = (
                _("`{command}` is not a command.").format(command=f"{first} {given}")
                if given
                else _("`{noun}` needs a verb.").format(noun=first)
            )
            takes = _("{noun} takes: {verbs}.").format(noun=first, verbs=", ".join(verbs))
            raise UsageError(f"{what}{hint} {takes}")
        guess = difflib.get_close_matches(first, self.nouns(), n=1, cutoff=0.6)
        hint = " " + _("Did you mean `{command}`?").format(command=guess[0]) if guess else ""
        raise UsageError(
            _("Unknown command `{command}`.").format(command=first)
            + hint
            + " "
            + _("Type `help` for the list.")
        )


REGISTRY = Registry()


def command(
    name: str,
    usage: str,
    summary: str,
    *,
    args: tuple[Arg, ...] = (),
    flags: tuple[Flag, ...] = (),
    perm: Perm | None = None,
    op: OpMode = OpMode.NONE,
    admin_only: bool = False,
    admin_manages: bool = False,
    needs_member: bool = True,
    writes: bool = False,
    action: Action = Action.CONSULT,
    visibility: Visibility = Visibility.PRIVATE,
    details: str = "",
    prepare: Prepare | None = None,
    shape: Callable[[list[str]], bool] | None = None,
    registry: Registry = REGISTRY,
) -> Callable[[Handler], Handler]:
    """Decorator: register the decorated async function as a command."""

    def wrap(fn: Handler) -> Handler:
        registry.add(
            Command(
                name=name,
                usage=usage,
                summary=summary,
                handler=fn,
                args=args,
                flags=flags,
                perm=perm,
                op=op,
                admin_only=admin_only,
                admin_manages=admin_manages,
                needs_member=needs_member,
                writes=writes,
                action=action,
                visibility=visibility,
                details=details,
                prepare=prepare,
                shape=shape,
            )
        )
        return fn

    return wrap
