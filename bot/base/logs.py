"""Structured logging with structlog: JSON lines when not on a terminal, readable otherwise.

What may be logged: the command's name, the operation's code, the outcome, ids, counts,
timings. What never is: a command's text (names, notes, places), tokens, secrets, request
headers or bodies. Two processors hold that line even when a caller slips: values under
sensitive keys are redacted, and exception messages (which can quote a command's
arguments or a database row) are withheld — the traceback's frames and the exception's
type are kept. The stdlib loggers (uvicorn, alembic, sqlalchemy) go through the same
processors, so every line of a process is one JSON object.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any, TextIO

import structlog

SECRET_KEYS = {
    "token",
    "secret",
    "password",
    "signing_secret",
    "authorization",
    "text",
    "line",
    "body",
    "headers",
    "payload",
    "args",
}
REDACTED = "[redacted]"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


# Platform tokens wherever they appear in a line (a library logging a Bot API URL, say).
TOKEN_PATTERN = re.compile(
    r"xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|(?<![0-9])\d{5,}:[A-Za-z0-9_-]{30,}"
)


def _drop_secrets(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        low = key.lower()
        if low in SECRET_KEYS or low.endswith(("_token", "_secret", "_password")):
            event[key] = REDACTED
        elif isinstance(event[key], str):
            event[key] = TOKEN_PATTERN.sub(REDACTED, event[key])
    return event


def safe_traceback(exc_info: ExcInfo) -> str:
    """A traceback with every exception's message withheld (frames and types kept)."""
    parts: list[str] = []
    exc: BaseException | None = exc_info[1]
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        kind = type(exc)
        frames = "".join(traceback.format_tb(exc.__traceback__))
        parts.append(
            f"Traceback (most recent call last):\n{frames}"
            f"{kind.__module__}.{kind.__qualname__}: (message withheld)"
        )
        exc = exc.__cause__ or exc.__context__
    return "\n\nwhile handling or caused by:\n".join(reversed(parts)) if parts else ""


def _format_exc(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    exc_info = event.pop("exc_info", None)
    if not exc_info:
        return event
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if exc_info and exc_info[0] is not None:
        event["exception"] = safe_traceback(exc_info)
        event.setdefault("error", exc_info[0].__qualname__)
    return event


def _shared_processors() -> list[structlog.typing.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
        _format_exc,
    ]


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time (test runners swap it and close theirs)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    *, json: bool | None = None, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger once per process.

    `json=None` means JSON unless stderr is a terminal. `stream` defaults to stderr.
    """
    out: Any = stream or _CurrentStderr()
    use_json = (not out.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*_shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared_processors()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # Libraries speak at WARNING and above; uvicorn's start/stop lines are worth keeping.
    root.setLevel(max(level, logging.WARNING))
    logging.getLogger("uvicorn.error").setLevel(level)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
