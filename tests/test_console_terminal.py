"""`taskforce shell` on a real pseudo-terminal: line editing, history, Ctrl-C and Ctrl-D.

The shell runs as its own process on a pty (pexpect), and keys are sent as a terminal sends
them: Up is `ESC [ A`, Ctrl-C is byte 3, Ctrl-D byte 4. A reply is recognised by a line only
that command prints (`whoami` prints the member's `TASKFORCE_ADMINS` entry).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pexpect
import pytest

TASKFORCE = str(Path(sys.executable).parent / "taskforce")
PROMPT = "ana@console>"
WHOAMI = "TASKFORCE_ADMINS entry: console:ana"
UP, CTRL_C, CTRL_D = "\x1b[A", "\x03", "\x04"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The shell's environment: a SQLite file and data folder of this test alone."""
    child = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TASKFORCE_", "SLACK_", "TELEGRAM_", "MATRIX_"))
    }
    child.update(
        TASKFORCE_DATABASE_URL=f"sqlite:///{tmp_path / 'taskforce.db'}",
        TASKFORCE_DATA_DIR=str(tmp_path / "data"),
        TASKFORCE_ADMINS="console:ana",
        TERM="xterm",
        # A pty that nobody reads cursor positions from: do not ask (and warn) each time.
        PROMPT_TOOLKIT_NO_CPR="1",
    )
    return child


@contextmanager
def shell(env: dict[str, str]) -> Iterator[pexpect.spawn]:
    """`taskforce shell --as ana` on a pseudo-terminal, at its first prompt."""
    child = pexpect.spawn(
        TASKFORCE,
        ["shell", "--as", "ana"],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 200),
    )
    try:
        child.expect(PROMPT)
        yield child
    finally:
        if child.isalive():
            child.terminate(force=True)


def answered(child: pexpect.spawn, text: str) -> None:
    """Wait for `text` in the output, then for the next prompt."""
    child.expect_exact(text)
    child.expect_exact(PROMPT)


def test_up_repeats_ctrl_c_drops_the_line_ctrl_d_leaves(env: dict[str, str]) -> None:
    with shell(env) as child:
        child.send("whoami\r")
        answered(child, WHOAMI)
        child.send(UP + "\r")  # the line comes back from the history and runs again
        answered(child, WHOAMI)
        child.send("op li" + CTRL_C)  # half typed, then dropped: a fresh prompt
        child.expect_exact(PROMPT)
        # Had the line survived, this would run `op liwhoami` and be refused.
        child.send("whoami\r")
        answered(child, WHOAMI)
        child.send(CTRL_D)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0


def test_the_history_outlives_the_session_in_a_private_file(env: dict[str, str]) -> None:
    with shell(env) as child:
        child.send("whoami\r")
        answered(child, WHOAMI)
        child.send(CTRL_D)
        child.expect(pexpect.EOF)
    history = Path(env["TASKFORCE_DATA_DIR"]) / "console-history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    with shell(env) as child:  # a new process: Up reaches the last session's line
        child.send(UP + "\r")
        answered(child, WHOAMI)
        child.send(CTRL_D)
        child.expect(pexpect.EOF)


def test_a_pipe_is_read_plainly_and_leaves_no_history(env: dict[str, str]) -> None:
    done = subprocess.run(
        [TASKFORCE, "shell", "--as", "ana"],
        input="whoami\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert WHOAMI in done.stdout
    assert "\x1b" not in done.stdout  # no terminal codes in a script's output
    assert not (Path(env["TASKFORCE_DATA_DIR"]) / "console-history").exists()
