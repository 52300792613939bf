"""Pre-flight checks: is this configuration complete, and can it reach what it names?

`taskforce serve` runs `config_problems` before it binds a port: a half-configured platform
is one sentence naming the missing variable and a non-zero exit, never a traceback or a
server that silently leaves the platform out. `taskforce check` runs the same checks, then
reaches out — the database, its migrations, Slack's `auth.test`, Telegram's `getMe` — and
prints one row per check, for an operator's first try and for a CI/CD gate.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.base.config import Settings
from bot.base.platforms import PLATFORMS, Platform
from bot.serving.bootstrap import parse_identity
from bot.store.audit import AuditKeys
from bot.store.engine import Store, missing_migrations

CHECK_TIMEOUT = 10.0  # seconds per reachability check
TELEGRAM_SECRET_CHARS = "1-256 letters, digits, _ or -"
NO_PLATFORM_NOTICE = (
    "No chat platform is configured: serving only /healthz, /readyz and /metrics. "
    "For Slack set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket "
    "Mode); for Telegram set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET (or "
    "TELEGRAM_POLLING=1). See docs/deploy.md."
)
_SECRETS = ("TOKEN", "SECRET", "DATABASE_URL")  # never echo these values back


class SettingsError(Exception):
    """The environment does not make valid settings; the message is one sentence."""


def load_settings() -> Settings:
    """Build the settings from the environment (and `.env`), or raise one sentence."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "a setting"
        why = str(first["msg"])
        why = why[:1].lower() + why[1:]
        shown = "" if any(s in name for s in _SECRETS) else f" (got {first.get('input')!r})"
        raise SettingsError(f"{name} is not valid: {why}{shown}.") from None


def platforms(settings: Settings) -> list[str]:
    """The chat platforms this configuration serves, described for people."""
    out: list[str] = []
    if settings.slack_enabled:
        out.append(
            "Slack over Socket Mode" if settings.slack_app_token else "Slack at POST /slack/events"
        )
    if settings.telegram_enabled:
        out.append(
            "Telegram by long polling"
            if settings.telegram_polling
            else "Telegram at POST /telegram/webhook"
        )
    out += [p.name.capitalize() for p in PLATFORMS if p.probe and p.enabled(settings)]
    return out


def config_problems(settings: Settings) -> list[str]:
    """Every way this configuration is incomplete or malformed, one sentence each."""
    return [*_slack(settings), *_telegram(settings), *_general(settings)]


def _slack(s: Settings) -> list[str]:
    if s.slack_bot_token:
        if not (s.slack_signing_secret or s.slack_app_token):
            return [
                "Slack is half-configured: SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is "
                "missing (copy it from the app's Basic Information page, or set "
                "SLACK_APP_TOKEN to use Socket Mode instead of HTTP)."
            ]
        if s.slack_app_token and not s.slack_app_token.startswith("xapp-"):
            return [
                "SLACK_APP_TOKEN must be an app-level token starting with xapp- "
                "(Basic Information → App-Level Tokens, scope connections:write)."
            ]
        return []
    given = [n for n, v in (("SLACK_SIGNING_SECRET", s.slack_signing_secret),
                            ("SLACK_APP_TOKEN", s.slack_app_token)) if v]  # fmt: skip
    if given:
        return [
            f"Slack is half-configured: {' and '.join(given)} "
            f"{'is' if len(given) == 1 else 'are'} set but SLACK_BOT_TOKEN is missing "
            "(the xoxb- Bot User OAuth Token from the app's Install App page)."
        ]
    return []


def _telegram(s: Settings) -> list[str]:
    from bot.adapters.telegram import _SECRET

    if not s.telegram_bot_token:
        given = [n for n, v in (("TELEGRAM_WEBHOOK_SECRET", s.telegram_webhook_secret),
                                ("TELEGRAM_WEBHOOK_URL", s.telegram_webhook_url),
                                ("TELEGRAM_POLLING", s.telegram_polling)) if v]  # fmt: skip
        if given:
            return [
                f"Telegram is half-configured: {' and '.join(given)} "
                f"{'is' if len(given) == 1 else 'are'} set but TELEGRAM_BOT_TOKEN is missing "
                "(the token @BotFather gave you)."
            ]
        return []
    if s.telegram_polling:
        return []
    if not s.telegram_webhook_secret:
        return [
            "Telegram is half-configured: TELEGRAM_BOT_TOKEN is set but "
            f"TELEGRAM_WEBHOOK_SECRET is missing (choose {TELEGRAM_SECRET_CHARS} and give "
            "Telegram the same value as setWebhook's secret_token, or set TELEGRAM_POLLING=1 "
            "for development without a public URL)."
        ]
    if not _SECRET.match(s.telegram_webhook_secret):
        return [f"TELEGRAM_WEBHOOK_SECRET must be {TELEGRAM_SECRET_CHARS} (Telegram's rule)."]
    if s.telegram_webhook_url and not s.telegram_webhook_url.startswith("https://"):
        return ["TELEGRAM_WEBHOOK_URL must start with https:// (Telegram delivers only over TLS)."]
    return []


def _general(s: Settings) -> list[str]:
    out: list[str] = []
    try:
        for platform, key in s.admin_identities():
            parse_identity(f"{platform}:{key}")
    except ValueError as exc:
        out.append(f"TASKFORCE_ADMINS: {exc}")
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        out.append(f"TASKFORCE_TIMEZONE {s.timezone!r} is not a time zone; use Area/City.")
    url_problem = database_url_problem(s)
    if url_problem:
        out.append(url_problem)
    return out


def database_url_problem(s: Settings) -> str | None:
    """The sentence for a TASKFORCE_DATABASE_URL Taskforce cannot use, else None."""
    if not s.database_url:
        return None
    try:
        backend = make_url(s.database_url).get_backend_name()
    except ArgumentError:
        backend = ""
    if backend in ("sqlite", "postgresql"):
        return None
    return "TASKFORCE_DATABASE_URL must be a sqlite:///PATH or postgresql://USER@HOST/DB URL."


# ------------------------------------------------------------------ reachability


class Status(enum.StrEnum):
    """How one check went."""

    OK = "ok"
    WARN = "warn"  # works, but look at it
    FAIL = "FAIL"
    SKIP = "skip"  # not configured, or depends on a check that failed


@dataclass(frozen=True)
class Row:
    """One line of `taskforce check`."""

    check: str
    status: Status
    detail: str


async def _timed(what: Callable[[], Awaitable[Row]], name: str) -> Row:
    try:
        return await asyncio.wait_for(what(), CHECK_TIMEOUT)
    except TimeoutError:
        return Row(name, Status.FAIL, f"no answer within {CHECK_TIMEOUT:g} s")


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def shown_url(url: str) -> str:
    """A database URL without its password."""
    return make_url(url).render_as_string(hide_password=True)


def database_unreachable(url: str, exc: BaseException) -> str:
    """Which database (no password) did not answer, and why: `check`'s row and `serve`'s log."""
    return f"{shown_url(url)}: unreachable ({_why(exc)})"


async def _database(settings: Settings) -> list[Row]:
    missing = missing_migrations()

    def migrations(skipped_because: str) -> Row:
        # An install without its migrations fails whatever the database's state.
        if missing:
            return Row("migrations", Status.FAIL, missing)
        return Row("migrations", Status.SKIP, skipped_because)

    if database_url_problem(settings):
        return [
            Row("database", Status.SKIP, "no usable TASKFORCE_DATABASE_URL (see configuration)"),
            migrations("no usable database"),
        ]
    url = settings.effective_database_url
    shown = shown_url(url)
    parsed = make_url(url)
    sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if sqlite_file and not Path(sqlite_file).exists():
        return [
            Row("database", Status.WARN, f"{shown}: not created yet (serve creates it)"),
            migrations("run `taskforce db upgrade`, or start serve"),
        ]
    try:
        store = Store(url)
    except Exception as exc:  # a driver that is not installed, an option it refuses
        return [
            Row("database", Status.FAIL, f"{shown}: not usable ({_why(exc)})"),
            migrations("no usable database"),
        ]
    try:
        try:
            await asyncio.wait_for(store.ping(), CHECK_TIMEOUT)
        except Exception as exc:
            return [
                Row("database", Status.FAIL, database_unreachable(url, exc)),
                migrations("database unreachable"),
            ]
        rows = [Row("database", Status.OK, f"{shown}: reachable")]
        if missing:
            return [*rows, migrations("")]  # the FAIL row
        try:
            at_head = await asyncio.wait_for(store.migrations_at_head(), CHECK_TIMEOUT)
        except Exception as exc:
            rows.append(Row("migrations", Status.FAIL, _why(exc)))
            return rows
        rows.append(
            Row("migrations", Status.OK, "at the newest migration")
            if at_head
            else Row(
                "migrations",
                Status.WARN,
                "behind the newest: run `taskforce db upgrade` (serve also migrates at start)",
            )
        )
        return rows
    finally:
        await store.dispose()


async def _slack_auth(settings: Settings) -> Row:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.adapters.slack import api_url

    client = AsyncWebClient(
        token=settings.slack_bot_token, base_url=api_url(settings.slack_api_url)
    )
    try:  # without a session of its own, the client opens and closes one per call
        auth = await client.auth_test()
    except SlackApiError as exc:
        data = exc.response.data
        error = str(data.get("error", "")) if isinstance(data, dict) else ""
        return Row("slack", Status.FAIL, f"auth.test refused the token: {error or 'error'}")
    except Exception as exc:
        return Row("slack", Status.FAIL, f"auth.test unreachable: {_why(exc)}")
    mode = "Socket Mode" if settings.slack_app_token else "HTTP"
    return Row(
        "slack",
        Status.OK,
        f"auth.test: team {auth.get('team')} ({auth.get('team_id')}), "
        f"bot {auth.get('user')} ({auth.get('user_id')}), {mode}",
    )


async def _telegram_me(settings: Settings) -> Row:
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError

    bot = Bot(token=settings.telegram_bot_token or "", base_url=settings.telegram_api_url)
    try:
        async with bot:  # initialize() is getMe
            me = bot.bot
    except InvalidToken:
        return Row("telegram", Status.FAIL, "getMe refused the token: Unauthorized")
    except TelegramError as exc:
        return Row("telegram", Status.FAIL, f"getMe failed: {_why(exc)}")
    except Exception as exc:
        return Row("telegram", Status.FAIL, f"getMe unreachable: {_why(exc)}")
    mode = "long polling" if settings.telegram_polling else "webhook"
    return Row("telegram", Status.OK, f"getMe: @{me.username} (id {me.id}), {mode}")


def _audit_key(settings: Settings) -> Row:
    """Whether audit entries are authenticated (TASKFORCE_AUDIT_KEY)."""
    if not settings.audit_key:
        return Row(
            "audit-key",
            Status.WARN,
            "TASKFORCE_AUDIT_KEY is not set: someone who can write to the database could "
            "rewrite the audit log undetected between checkpoints",
        )
    keys = AuditKeys.from_secrets(settings.audit_key, settings.audit_keys())
    old = len(keys.known) - 1
    return Row("audit-key", Status.OK, f"key {keys.current_id}" + (f", {old} old" if old else ""))


def _export_key(settings: Settings) -> Row:
    """Whether case files are signed, and with which key (TASKFORCE_EXPORT_SIGNING_KEY)."""
    from bot.core.export_seal import SealError, fingerprint, load_private_key

    path = settings.export_signing_key
    if path is None:
        return Row("export-key", Status.SKIP, "not configured: case-file manifests are unsigned")
    try:
        key = load_private_key(path)
    except SealError as exc:
        return Row("export-key", Status.FAIL, str(exc))
    return Row("export-key", Status.OK, f"Ed25519 {fingerprint(key.public_key())}")


async def run_checks(settings: Settings) -> list[Row]:
    """The configuration checks, then every reachability check; one row each."""
    problems = config_problems(settings)
    rows = [Row("configuration", Status.FAIL, p) for p in problems]
    if not problems:
        served = platforms(settings)
        rows.append(
            Row("configuration", Status.OK, "; ".join(served))
            if served
            else Row("configuration", Status.WARN, "no chat platform configured (probes only)")
        )
    rows.append(_audit_key(settings))
    rows.append(_export_key(settings))
    rows += await _database(settings)
    if settings.slack_enabled:
        rows.append(await _timed(lambda: _slack_auth(settings), "slack"))
    else:
        rows.append(Row("slack", Status.SKIP, "not configured"))
    if settings.telegram_enabled:
        rows.append(await _timed(lambda: _telegram_me(settings), "telegram"))
    else:
        rows.append(Row("telegram", Status.SKIP, "not configured"))
    for line in PLATFORMS:  # the platform table's other lines probe themselves
        if line.probe and line.enabled(settings):
            rows.append(await _timed(partial(_table_probe, line, settings), line.name))
    return rows


async def _table_probe(line: Platform, settings: Settings) -> Row:
    probe = line.load_probe()
    assert probe is not None
    try:
        ok, detail = await probe(settings)
    except Exception as exc:
        return Row(line.name, Status.FAIL, f"unreachable: {_why(exc)}")
    return Row(line.name, Status.OK if ok else Status.FAIL, detail)


def table(rows: list[Row]) -> str:
    """The rows as an aligned text table with a header."""
    width = max(len("check"), *(len(r.check) for r in rows))
    lines = [f"{'check':<{width}}  status  detail"]
    lines += [f"{r.check:<{width}}  {r.status.value:<6}  {r.detail}" for r in rows]
    return "\n".join(lines)
