"""Structured logs: one JSON object a line, with command, operation and outcome — never the
text of a command (names, notes), tokens, or the message of an exception."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bot.base.logs import configure_logging
from bot.commands import dispatch
from bot.contracts import Actor, Channel, Invocation
from tests.conftest import AppFactory

SECRET = "xoxb-1234567890-SECRETSECRETSECRET"
NAME = "Jelena Marković"
TG_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
TG_API = f"https://api.telegram.org/bot{TG_TOKEN}"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Configure logging as `taskforce serve` does (JSON) into a buffer; restore afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging(json=True, stream=stream)
    yield stream
    structlog.reset_defaults()
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    """Every log line, each parsed as one JSON object (fails if a line is not one)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_command_logs_carry_name_operation_outcome_and_no_personal_text(
    make_app: AppFactory, sqlite_url: str, log_stream: io.StringIO
) -> None:
    app = await make_app(sqlite_url, TASKFORCE_RATE_LIMIT_PER_MINUTE=3)
    console = app.console
    assert (await console.push('op new "Night Harbour"', as_="admin")).ok
    # Refused, with a name and a token in the line.
    reply = await console.push(f'op new "{NAME}" --tlp {SECRET}', as_="admin")
    assert not reply.ok
    await console.push(f'sighting add S-1 "{NAME} seen with {SECRET}"', as_="admin")
    await console.push(f"whoami {NAME} " + SECRET * 200, as_="admin")  # too long
    tg = Invocation(Actor("telegram", "42", NAME), Channel("telegram", "-100", "ops"), "")
    for _ in range(4):  # the fourth is rate-limited
        await dispatch(app.core, Invocation(tg.actor, tg.channel, f"help {NAME} {SECRET}"))

    out = log_stream.getvalue()
    assert SECRET not in out and SECRET[:12] not in out
    assert NAME not in out and "Marković" not in out and "Markovi\\u0107" not in out
    events = lines(log_stream)
    commands = [e for e in events if e["event"] == "command"]
    assert {"command": "op new", "operation": "OP-NIGHT-HARBOUR", "outcome": "ok"}.items() <= (
        commands[0].items()
    )
    assert {"command": "op new", "outcome": "refused"}.items() <= commands[1].items()
    outcomes = [e["outcome"] for e in commands]
    assert "too_long" in outcomes and "rate_limited" in outcomes
    assert all(e["level"] and e["timestamp"] for e in events)


def test_exception_messages_and_secret_fields_are_withheld(log_stream: io.StringIO) -> None:
    log = structlog.get_logger("tests")
    try:
        raise ValueError(f"could not parse {NAME!r} near {SECRET}")
    except ValueError:
        log.exception("command.crashed", command="sighting add")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    log.info("slack.request", text=NAME, slack_bot_token=SECRET, headers={"x": SECRET})
    logging.getLogger("httpx").warning("HTTP Request: POST %s", f"{TG_API}/sendMessage")

    out = log_stream.getvalue()
    assert SECRET not in out and NAME not in out
    assert TG_TOKEN not in out
    crashed, stdlib, request, httpx_line = lines(log_stream)
    assert crashed["command"] == "sighting add"
    assert crashed["error"] == "ValueError"
    assert "builtins.ValueError: (message withheld)" in str(crashed["exception"])
    assert "test_exception_messages_and_secret_fields_are_withheld" in str(crashed["exception"])
    assert stdlib["event"] == "Exception in ASGI application"
    assert stdlib["logger"] == "uvicorn.error"
    assert "(message withheld)" in str(stdlib["exception"])
    assert request["text"] == request["slack_bot_token"] == request["headers"] == "[redacted]"
    assert (
        httpx_line["event"]
        == "HTTP Request: POST https://api.telegram.org/bot[redacted]/sendMessage"
    )
