"""Start-up checks: `taskforce serve` refuses a half configuration in one sentence before it
binds; `taskforce check` reaches the database, Slack (`auth.test`) and Telegram (`getMe`)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
import pytest

from bot.serving.preflight import NO_PLATFORM_NOTICE, Status, run_checks
from tests.conftest import make_settings
from tests.fakes.slack_api import SECRET as SLACK_SECRET
from tests.fakes.slack_api import TOKEN as SLACK_TOKEN
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeBotAPI
from tests.serving import TASKFORCE, ServerProcess, replica_env

HALF_CONFIGURED = [
    pytest.param(
        {"SLACK_BOT_TOKEN": "xoxb-1"},
        "Slack is half-configured: SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is missing",
        id="slack-token-without-secret",
    ),
    pytest.param(
        {"SLACK_SIGNING_SECRET": "abc"},
        "Slack is half-configured: SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is missing",
        id="slack-secret-without-token",
    ),
    pytest.param(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"},
        "SLACK_APP_TOKEN must be an app-level token starting with xapp-",
        id="slack-app-token-of-the-wrong-kind",
    ),
    pytest.param(
        {"TELEGRAM_BOT_TOKEN": "1:A"},
        "Telegram is half-configured: TELEGRAM_BOT_TOKEN is set but TELEGRAM_WEBHOOK_SECRET is "
        "missing",
        id="telegram-token-without-secret",
    ),
    pytest.param(
        {"TELEGRAM_BOT_TOKEN": "1:A", "TELEGRAM_WEBHOOK_SECRET": "no spaces please"},
        "TELEGRAM_WEBHOOK_SECRET must be 1-256 letters, digits, _ or -",
        id="telegram-secret-malformed",
    ),
    pytest.param(
        {"TELEGRAM_WEBHOOK_SECRET": "s3cret"},
        "Telegram is half-configured: TELEGRAM_WEBHOOK_SECRET is set but TELEGRAM_BOT_TOKEN "
        "is missing",
        id="telegram-secret-without-token",
    ),
    pytest.param(
        {"TASKFORCE_PORT": "eighty"},
        "TASKFORCE_PORT is not valid: input should be a valid integer",
        id="port-not-a-number",
    ),
    pytest.param(
        {"TASKFORCE_ADMINS": "telegram:@ana"},
        "TASKFORCE_ADMINS: 'telegram:@ana' is not a Telegram identity; use the numeric user id.",
        id="admins-telegram-username",
    ),
]


@pytest.mark.parametrize(("extra", "sentence"), HALF_CONFIGURED)
def test_serve_refuses_a_half_configuration_in_one_sentence(
    extra: dict[str, str], sentence: str, tmp_path: Path
) -> None:
    env = {**replica_env(f"sqlite:///{tmp_path / 'tf.db'}", tmp_path / "data"), **extra}
    done = subprocess.run(
        [TASKFORCE, "serve"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    said = done.stderr.strip()
    assert "\n" not in said and said.startswith(sentence) and said.endswith("."), said
    assert "Traceback" not in said and done.stdout == ""
    assert not (tmp_path / "tf.db").exists()  # refused before anything was touched


async def test_serve_without_a_platform_says_so_and_serves_the_probes(
    sqlite_url: str, tmp_path: Path
) -> None:
    server = await ServerProcess(replica_env(sqlite_url, tmp_path / "data")).start()
    try:
        assert server.lines[0] == NO_PLATFORM_NOTICE
        async with httpx.AsyncClient(base_url=server.url) as client:
            await server.wait_for_line('"server.started"')
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.post("/slack/events")).status_code == 404
    finally:
        await server.stop()


async def _check(env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """`taskforce check` as a child process (the fakes keep serving in this loop)."""
    proc = await asyncio.create_subprocess_exec(
        TASKFORCE,
        "check",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _rows(table: str) -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for line in table.splitlines()[1:]:
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] in set(Status) and parts[0] not in rows:
            rows[parts[0]] = (parts[1], parts[2])
    return rows


def _platform_env(
    db_url: str, tmp_path: Path, slack: FakeSlack, telegram: FakeBotAPI, **extra: str
) -> dict[str, str]:
    platforms = {
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_API_URL": slack.url,
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_WEBHOOK_SECRET": "s3cret",
        "TELEGRAM_API_URL": telegram.api_url,
    }
    return {**replica_env(db_url, tmp_path / "data"), **platforms, **extra}


async def test_check_is_all_green_against_reachable_platforms(db_url: str, tmp_path: Path) -> None:
    async with FakeSlack() as slack, FakeBotAPI() as telegram:
        env = _platform_env(db_url, tmp_path, slack, telegram, TASKFORCE_AUDIT_KEY="k-1")
        code, out, err = await _check(env, tmp_path)
        assert code == 0, out + err
        rows = _rows(out)
        assert out.splitlines()[0].split() == ["check", "status", "detail"]
        assert {name: status for name, (status, _) in rows.items()} == {
            "configuration": "ok",
            "audit-key": "ok",
            "export-key": "skip",
            "database": "ok",
            "migrations": "ok",
            "slack": "ok",
            "telegram": "ok",
        }
        assert rows["slack"][1].startswith("auth.test: team Test Team (T1), bot ")
        assert rows["telegram"][1] == f"getMe: @{telegram.bot['username']} (id 123456), webhook"
        assert "All checks passed." in out and err == ""
        assert [c.method for c in telegram.calls()] == ["getMe"]  # nothing else was touched
        assert [c.method for c in slack.calls()] == ["auth.test"]


@pytest.mark.parametrize("wrong", ["SLACK_BOT_TOKEN", "TELEGRAM_BOT_TOKEN"])
async def test_check_names_the_failing_row_for_a_wrong_token(
    wrong: str, sqlite_url: str, tmp_path: Path
) -> None:
    async with FakeSlack() as slack, FakeBotAPI() as telegram:
        bad = {wrong: "xoxb-revoked" if wrong.startswith("SLACK") else "999:WRONG"}
        env = _platform_env(sqlite_url, tmp_path, slack, telegram, **bad)
        code, out, err = await _check(env, tmp_path)
    assert code == 1
    rows = _rows(out)
    failing = "slack" if wrong.startswith("SLACK") else "telegram"
    assert [name for name, (status, _) in rows.items() if status == "FAIL"] == [failing]
    assert rows[failing][1] == (
        "auth.test refused the token: invalid_auth"
        if failing == "slack"
        else "getMe refused the token: Unauthorized"
    )
    assert err.strip() == f"1 check failed: {failing}."
    assert "Traceback" not in out + err


async def test_check_reports_the_database_without_creating_or_migrating_it(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nowhere" / "tf.db"
    rows = await run_checks(make_settings(f"sqlite:///{missing}", tmp_path))
    by = {r.check: r for r in rows}
    assert by["database"].status is Status.WARN and "not created yet" in by["database"].detail
    assert by["migrations"].status is Status.SKIP
    assert by["configuration"].status is Status.WARN  # no platform: probes only
    assert not missing.exists() and not missing.parent.exists()

    empty = tmp_path / "empty.db"
    empty.touch()
    by = {r.check: r for r in await run_checks(make_settings(f"sqlite:///{empty}", tmp_path))}
    assert (by["database"].status, by["migrations"].status) == (Status.OK, Status.WARN)
    assert "taskforce db upgrade" in by["migrations"].detail

    gone = "postgresql://tf:hunter2@127.0.0.1:1/none"
    by = {r.check: r for r in await run_checks(make_settings(gone, tmp_path))}
    assert by["database"].status is Status.FAIL
    assert by["database"].detail.startswith("postgresql+psycopg://tf:***@127.0.0.1:1/none: ")
    assert "hunter2" not in by["database"].detail
    assert by["migrations"].status is Status.SKIP


@pytest.mark.parametrize("url", ["mysql://x@localhost/db", "not-a-url"])
async def test_check_names_an_unusable_database_url_in_one_row_without_a_traceback(
    url: str, tmp_path: Path
) -> None:
    env = replica_env(url, tmp_path / "data")
    code, out, err = await _check(env, tmp_path)
    assert code == 1
    rows = _rows(out)
    assert [name for name, (status, _) in rows.items() if status == "FAIL"] == ["configuration"]
    assert rows["configuration"][1] == (
        "TASKFORCE_DATABASE_URL must be a sqlite:///PATH or postgresql://USER@HOST/DB URL."
    )
    assert rows["database"][0] == rows["migrations"][0] == "skip"
    assert err.strip() == "1 check failed: configuration."
    assert "Traceback" not in out + err
    assert not (tmp_path / "data").exists()  # nothing was written
