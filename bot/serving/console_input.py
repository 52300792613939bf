"""How `taskforce shell` reads its lines: edited on a terminal, plain from a pipe.

On a terminal (standard input and output both are one) lines are read with
prompt_toolkit: the arrows and the usual Emacs keys edit the line, Up and Down walk the
history, Ctrl-C drops the line being typed (the shell goes on) and Ctrl-D on an empty line
leaves. The history is kept across sessions in `console-history` in the data directory,
mode 0600 (it holds what was typed: case data). From a pipe or a file, lines are read by
`input()` exactly as before — no escape codes, no history — so scripts see the same output
(README, "Administration (CLI)").
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory
from prompt_toolkit.patch_stdout import patch_stdout

HISTORY_FILE = "console-history"


class LineReader(Protocol):
    """Where the console's lines come from."""

    async def read(self, prompt: str) -> str | None:
        """The next line (without its newline), or None at the end of input."""
        ...


class PipeReader:
    """Lines from a pipe or a file, read by `input()` in a thread (the loop keeps running)."""

    async def read(self, prompt: str) -> str | None:
        """The next line; None at the end of input or on Ctrl-C."""
        try:
            return await asyncio.to_thread(input, prompt)
        except (EOFError, KeyboardInterrupt):
            return None


class TerminalReader:
    """Lines typed at a terminal, with line editing and a history file."""

    def __init__(self, history: Path) -> None:
        self.session: PromptSession[str] = PromptSession(history=FileHistory(str(history)))

    async def read(self, prompt: str) -> str | None:
        """The next line; Ctrl-C starts the line again, Ctrl-D on an empty line is None."""
        while True:
            try:
                with patch_stdout():  # posts printed meanwhile appear above the prompt
                    return await self.session.prompt_async(prompt)
            except KeyboardInterrupt:
                continue
            except EOFError:
                return None


def private_history(data_dir: Path) -> Path:
    """The history file in `data_dir`, created (or narrowed) to mode 0600."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / HISTORY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when the file was there already, wider
    finally:
        os.close(fd)
    return path


def line_reader(data_dir: Path) -> LineReader:
    """The reader for this process: a terminal's, or a pipe's."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return TerminalReader(private_history(data_dir))
    return PipeReader()
