"""The `taskforce` command line: db upgrade, admin, audit verify, and the console shell."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner, Result

from bot.serving.cli import cli
from bot.store.engine import alembic_config

TASKFORCE = Path(sys.executable).parent / "taskforce"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment for one CLI run: a SQLite file of this test alone, no admins, no tokens."""
    return {
        "TASKFORCE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli' / 'taskforce.db'}",
        "TASKFORCE_DATA_DIR": str(tmp_path / "data"),
        "TASKFORCE_ADMINS": "",
    }


def invoke(env: dict[str, str], *args: str) -> Result:
    """Run the CLI in-process, as `taskforce ARGS`."""
    return CliRunner().invoke(cli, list(args), env=env)


def run(
    env: dict[str, str], *args: str, stdin: str = "", cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run the installed `taskforce` script in a child process."""
    child_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TASKFORCE_", "SLACK_", "TELEGRAM_"))
    }
    child_env.update(env)
    return subprocess.run(
        [str(TASKFORCE), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=child_env,
        cwd=cwd,
        timeout=120,
    )


def db_path(env: dict[str, str]) -> Path:
    """The SQLite file behind `env`."""
    return Path(env["TASKFORCE_DATABASE_URL"].removeprefix("sqlite:///"))


def test_db_upgrade_creates_and_migrates_the_database(env: dict[str, str], tmp_path: Path) -> None:
    assert not db_path(env).exists()
    done = run(env, "db", "upgrade", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Database is at the newest migration." in done.stdout
    with sqlite3.connect(db_path(env)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"agency", "member", "operation", "auditentry", "outboxmessage"} <= tables
    head = ScriptDirectory.from_config(alembic_config(env["TASKFORCE_DATABASE_URL"]))
    assert version == (head.get_current_head(),)
    again = invoke(env, "db", "upgrade")
    assert again.exit_code == 0, again.output


def test_admin_add_agency_and_member(env: dict[str, str]) -> None:
    result = invoke(
        env, "admin", "add-agency", "es-pn", "Policía Nacional",
        "--country", "es", "--kind", "police", "--tz", "Europe/Madrid", "--lang", "es",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Agency ES-PN added." in result.output
    result = invoke(
        env, "admin", "add-member", "Ana Ruiz", "--agency", "ES-PN",
        "--identity", "slack:T0123/U0456", "--identity", "console:ana", "--admin",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Member M-1 Ana Ruiz added." in result.output
    with sqlite3.connect(db_path(env)) as conn:
        member = conn.execute("SELECT name, is_admin, agency_id FROM member").fetchall()
        idents = conn.execute("SELECT platform, key FROM identity ORDER BY id").fetchall()
        audit = conn.execute("SELECT command, actor FROM auditentry ORDER BY id").fetchall()
    assert member == [("Ana Ruiz", 1, 1)]
    assert idents == [("slack", "T0123/U0456"), ("console", "ana")]
    assert audit == [("admin add-agency", "cli"), ("admin add-member", "cli")]
    assert invoke(env, "audit", "verify").exit_code == 0


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("add-agency", "ES-PN", "X", "--country", "XX"), "'XX' is not an ISO 3166 country code"),
        (
            ("add-agency", "ES-PN", "X", "--country", "ES", "--kind", "army"),
            "'army' is not an agency kind",
        ),
        (
            ("add-agency", "ES-PN", "X", "--country", "ES", "--tz", "Mars/Base"),
            "'Mars/Base' is not a time zone",
        ),
        (("add-agency", "ES PN!", "X", "--country", "ES"), "'ES PN!' is not an agency code"),
        (
            ("add-agency", "ES-PN", "X", "--country", "ES", "--lang", "spanish"),
            "'spanish' is not a language",
        ),
        (("add-agency", "PT-PJ", "X", "--country", "PT"), "Agency PT-PJ exists already."),
        (("add-member", "Bob", "--identity", "skype:bob"), "'skype:bob' is not an identity"),
        (("add-member", "Bob", "--identity", "console:"), "'console:' is not an identity"),
        (("add-member", "Bob", "--identity", "telegram:@bob"), "use the numeric user id"),
        (("add-member", "Bob", "--identity", "console:bob", "--agency", "NOPE"), "No agency NOPE"),
        (
            ("add-member", "Bob", "--identity", "console:ana"),
            "console:ana already belongs to a member.",
        ),
        (
            ("add-member", "Bob", "--identity", "console:bob", "--tz", "Nowhere"),
            "'Nowhere' is not a time zone",
        ),
        (("add-member", " ", "--identity", "console:bob"), "The member name must be 1 to 200"),
    ],
    ids=lambda v: " ".join(v[:4]) if isinstance(v, tuple) else None,
)
def test_admin_bad_input_is_one_sentence_and_exit_1(
    env: dict[str, str], args: tuple[str, ...], sentence: str
) -> None:
    assert (
        invoke(
            env, "admin", "add-agency", "PT-PJ", "Polícia Judiciária", "--country", "PT"
        ).exit_code
        == 0
    )
    assert invoke(env, "admin", "add-member", "Ana", "--identity", "console:ana").exit_code == 0
    with sqlite3.connect(db_path(env)) as conn:
        before = conn.execute("SELECT count(*) FROM auditentry").fetchone()
    result = invoke(env, "admin", *args)
    assert result.exit_code == 1, result.output
    assert sentence in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    with sqlite3.connect(db_path(env)) as conn:
        assert conn.execute("SELECT count(*) FROM auditentry").fetchone() == before
        assert conn.execute("SELECT count(*) FROM member").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM agency").fetchone() == (1,)


def test_the_real_script_fails_with_a_sentence(env: dict[str, str], tmp_path: Path) -> None:
    done = run(env, "admin", "add-member", "Bob", "--identity", "skype:bob", cwd=tmp_path)
    assert done.returncode == 1
    assert "'skype:bob' is not an identity" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_audit_verify_names_an_altered_entry(env: dict[str, str]) -> None:
    for code in ("ES-PN", "PT-PJ", "FR-PN"):
        assert invoke(env, "admin", "add-agency", code, code, "--country", code[:2]).exit_code == 0
    ok = invoke(env, "audit", "verify")
    assert ok.exit_code == 0 and "Audit chain intact: 3 entries verified in 1 chain." in ok.output
    with sqlite3.connect(db_path(env)) as conn:
        conn.execute("UPDATE auditentry SET object_ref = 'agency:XX' WHERE id = 2")
    broken = invoke(env, "audit", "verify")
    assert broken.exit_code == 1
    assert "Audit chain BROKEN at entry #2: its content does not match its hash" in broken.output


def test_bad_admins_setting_is_one_sentence(env: dict[str, str]) -> None:
    result = invoke(
        {**env, "TASKFORCE_ADMINS": "skype:bob"},
        "admin",
        "add-agency",
        "ES-PN",
        "X",
        "--country",
        "ES",
    )
    assert result.exit_code == 1
    assert "'skype:bob' is not an identity" in result.output


def test_shell_through_stdin(env: dict[str, str], tmp_path: Path) -> None:
    lines = [
        'op new "Night Harbour" --countries ES,PT',
        "op link",
        "op status active",
        "op nwe typo",
        ":as stranger",
        "op show OP-NIGHT-HARBOUR",
    ]
    done = run(
        {**env, "TASKFORCE_ADMINS": "console:alice"},
        "shell", "--as", "alice",
        stdin="\n".join(lines) + "\n",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Taskforce console — you are 'alice' in channel 'console'." in out
    assert "OP-NIGHT-HARBOUR created" in out and "Countries: ES, PT" in out
    assert "Linked to OP-NIGHT-HARBOUR" in out
    assert "OP-NIGHT-HARBOUR is now active (was planning)." in out
    assert ">> posted to #console:\n    OP-NIGHT-HARBOUR is now active" in out
    assert "! `op nwe` is not a command. Did you mean `op new`?" in out
    assert "! You are not registered with Taskforce yet" in out
    assert "Traceback" not in out + done.stderr
    # The session's work is in the store, the post marked sent.
    with sqlite3.connect(db_path(env)) as conn:
        assert conn.execute("SELECT code, status FROM operation").fetchall() == [
            ("OP-NIGHT-HARBOUR", "active")
        ]
        assert conn.execute("SELECT channel_key, status FROM outboxmessage").fetchall() == [
            ("console", "sent")
        ]


def test_version_is_the_installed_packages(tmp_path: Path) -> None:
    from importlib.metadata import version

    done = run({}, "--version", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"taskforce {version('taskforce')}\n")


@pytest.mark.parametrize("url", ["mysql://x@localhost/db", "not-a-url"])
def test_an_unusable_database_url_is_one_sentence_and_nothing_is_written(
    url: str, env: dict[str, str], tmp_path: Path
) -> None:
    for command in (["db", "upgrade"], ["outbox", "list"], ["serve"]):
        done = run({**env, "TASKFORCE_DATABASE_URL": url}, *command, cwd=tmp_path)
        assert done.returncode == 1, command
        assert done.stderr.strip() == (
            "TASKFORCE_DATABASE_URL must be a sqlite:///PATH or postgresql://USER@HOST/DB URL."
        )
        assert "Traceback" not in done.stdout
    assert not Path(env["TASKFORCE_DATA_DIR"]).exists()


def test_the_shell_survives_any_single_line(env: dict[str, str], tmp_path: Path) -> None:
    """A line that crashed the shell (`export --out "~XS~"`: RuntimeError from the home
    lookup), one that fails outside the dispatch (a test hook), then good lines: all run."""
    lines = [
        'op new "Night Harbour"',
        'export --out "~XS~"',
        "links --window 99999999999999999999",
        "CRASH op list",
        "op list",
    ]
    repo = Path(__file__).resolve().parents[1]
    done = run(
        {
            **env,
            "TASKFORCE_ADMINS": "console:alice",
            "TASKFORCE_TEST_HOOKS": "tests.hooks",
            "PYTHONPATH": str(repo),
        },
        "shell", "--as", "alice",
        stdin="\n".join(lines) + "\n",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "! --out must be a directory path of at most 1024 characters" in out
    assert "! '99999999999999999999' is not a time window" in out
    assert "! That line failed on our side; the error is logged." in out
    assert "OP-NIGHT-HARBOUR Night Harbour — planning (lead)" in out  # the line after it ran
    assert "Traceback" not in out
    assert not any(p.name.startswith("~") for p in tmp_path.rglob("*"))
