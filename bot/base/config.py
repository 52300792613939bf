"""Configuration: one pydantic-settings object, built once in the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything Taskforce reads from the environment (and `.env`): README, "Configuration".

    No other module reads the environment: build one `Settings` in `app.py` and pass it down.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, alias="TASKFORCE_DATABASE_URL")
    data_dir: Path = Field(default=Path("./data"), alias="TASKFORCE_DATA_DIR")
    # Where the console's `export` and `taskforce export` write case files (mode 0600).
    export_dir: Path = Field(default=Path("./exports"), alias="TASKFORCE_EXPORT_DIR")
    # The Ed25519 private key (PEM) that signs every case file's manifest (issue 28); None:
    # exports carry an unsigned manifest, which `taskforce verify-export` refuses.
    export_signing_key: Path | None = Field(default=None, alias="TASKFORCE_EXPORT_SIGNING_KEY")
    photo_max_bytes: int = Field(default=10 * 1024 * 1024, alias="TASKFORCE_PHOTO_MAX_BYTES")
    admins: str = Field(default="", alias="TASKFORCE_ADMINS")
    host: str = Field(default="127.0.0.1", alias="TASKFORCE_HOST")
    port: int = Field(default=8000, alias="TASKFORCE_PORT")
    timezone: str = Field(default="UTC", alias="TASKFORCE_TIMEZONE")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    # Outbox pace per Slack channel (Slack allows about one message per second per channel).
    slack_post_interval: float = Field(default=1.0, alias="SLACK_POST_INTERVAL")
    # How long a slash command may run before the ack says "working on it" (Slack allows 3 s).
    slack_ack_seconds: float = Field(default=2.0, alias="SLACK_ACK_SECONDS")

    telegram_bot_token: str | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_secret: str | None = Field(default=None, alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_polling: bool = Field(default=False, alias="TELEGRAM_POLLING")
    telegram_api_url: str = Field(default="https://api.telegram.org/bot", alias="TELEGRAM_API_URL")
    # Optional: when set, the bot registers this URL (+ the secret) with setWebhook at start-up.
    telegram_webhook_url: str | None = Field(default=None, alias="TELEGRAM_WEBHOOK_URL")
    # Outbox pace (seconds between posts): about 1 message/s per chat, 20/min per group.
    telegram_chat_interval: float = Field(default=1.0, alias="TELEGRAM_CHAT_INTERVAL")
    telegram_group_interval: float = Field(default=3.0, alias="TELEGRAM_GROUP_INTERVAL")

    # Matrix: the homeserver's URL and the bot account's access token (or user id + password).
    matrix_homeserver: str | None = Field(default=None, alias="MATRIX_HOMESERVER")
    matrix_access_token: str | None = Field(default=None, alias="MATRIX_ACCESS_TOKEN")
    matrix_user_id: str | None = Field(default=None, alias="MATRIX_USER_ID")
    matrix_password: str | None = Field(default=None, alias="MATRIX_PASSWORD")
    matrix_sync_timeout_ms: int = Field(default=30_000, alias="MATRIX_SYNC_TIMEOUT_MS")
    matrix_post_interval: float = Field(default=0.5, alias="MATRIX_POST_INTERVAL")
    # End-to-end encryption (README "Matrix"): the device's keys and sessions live in this
    # folder (0700, its database 0600; default TASKFORCE_DATA_DIR/matrix), encrypted at rest
    # with MATRIX_PICKLE_KEY (else a random key kept in the folder). MATRIX_TRUST: which
    # members' devices get the room keys — `tofu` (each device trusted when first seen) or
    # `verified` (only the devices in MATRIX_VERIFIED_DEVICES: `@user:server DEVICE ed25519`,
    # comma-separated; commands from other devices are not run).
    matrix_store_dir: Path | None = Field(default=None, alias="MATRIX_STORE_DIR")
    matrix_pickle_key: str | None = Field(default=None, alias="MATRIX_PICKLE_KEY")
    matrix_trust: Literal["tofu", "verified"] = Field(default="tofu", alias="MATRIX_TRUST")
    matrix_verified_devices: str = Field(default="", alias="MATRIX_VERIFIED_DEVICES")

    # Limits that keep one noisy user from hurting the others.
    max_command_chars: int = Field(default=2000, alias="TASKFORCE_MAX_COMMAND_CHARS")
    max_text_chars: int = Field(default=1000, alias="TASKFORCE_MAX_TEXT_CHARS")
    max_body_bytes: int = Field(default=64 * 1024, alias="TASKFORCE_MAX_BODY_BYTES")
    # A request body must have arrived within this many seconds (else 408, connection closed).
    body_read_seconds: float = Field(default=5.0, alias="TASKFORCE_BODY_READ_SECONDS")
    rate_limit_per_minute: int = Field(default=30, alias="TASKFORCE_RATE_LIMIT_PER_MINUTE")

    # Outbox delivery.
    outbox_max_attempts: int = Field(default=8, alias="TASKFORCE_OUTBOX_MAX_ATTEMPTS")
    outbox_base_backoff: float = Field(default=2.0, alias="TASKFORCE_OUTBOX_BASE_BACKOFF")
    outbox_max_backoff: float = Field(default=300.0, alias="TASKFORCE_OUTBOX_MAX_BACKOFF")
    outbox_claim_seconds: float = Field(default=60.0, alias="TASKFORCE_OUTBOX_CLAIM_SECONDS")
    outbox_poll_seconds: float = Field(default=1.0, alias="TASKFORCE_OUTBOX_POLL_SECONDS")
    outbox_batch: int = Field(default=50, alias="TASKFORCE_OUTBOX_BATCH")

    # Scheduler: how often a standby replica tries for the leader lock (the failover time),
    # and how often every replica re-reads the schedules changed on other replicas.
    scheduler_leader_retry: float = Field(default=5.0, alias="TASKFORCE_SCHEDULER_LEADER_RETRY")
    scheduler_sync_seconds: float = Field(default=60.0, alias="TASKFORCE_SCHEDULER_SYNC_SECONDS")

    # Inbox of acknowledged inbound events: how long a process's claim on an event it is
    # finishing lasts without renewal (renewed every third of it while the process lives):
    # the longest a surviving replica waits before it runs a stopped one's events.
    inbox_lease_seconds: float = Field(default=15.0, alias="TASKFORCE_INBOX_LEASE_SECONDS")
    # Handled events' keys and first answers (what recognises a redelivery): kept this many
    # days, then deleted by the scheduler's leader (platforms redeliver within minutes, or
    # 24 h for Telegram's queue); the answers quote records, so they are not kept for good.
    processed_keep_days: int = Field(default=7, ge=1, alias="TASKFORCE_PROCESSED_KEEP_DAYS")
    # Audit tamper evidence: the key that authenticates every audit entry (an HMAC; never
    # stored in the database), keys of earlier entries after a rotation (comma-separated),
    # and how often the chains' heads are anchored in the checkpoint file (0: only at stop).
    audit_key: str | None = Field(default=None, alias="TASKFORCE_AUDIT_KEY", repr=False)
    audit_old_keys: str = Field(default="", alias="TASKFORCE_AUDIT_OLD_KEYS", repr=False)
    audit_checkpoint_seconds: float = Field(
        default=300.0, alias="TASKFORCE_AUDIT_CHECKPOINT_SECONDS"
    )
    # … and after every this many entries a process appends (0: no count), and a second
    # directory the checkpoint is copied to, on a volume the database host cannot write.
    audit_checkpoint_entries: int = Field(
        default=100, ge=0, alias="TASKFORCE_AUDIT_CHECKPOINT_ENTRIES"
    )
    audit_checkpoint_copy: Path | None = Field(
        default=None, alias="TASKFORCE_AUDIT_CHECKPOINT_COPY"
    )
    # Situation room (`room`, served under /room/): the public base URL people open (the
    # links point there; https also makes the session cookie Secure), how long a signed-in
    # browser lasts, an optional tile server (`https://tiles.example/{z}/{x}/{y}.png`; none:
    # a coordinate grid with place labels) and how often open pages look for changes.
    public_url: str | None = Field(default=None, alias="TASKFORCE_PUBLIC_URL")
    room_session_hours: float = Field(default=12.0, alias="TASKFORCE_ROOM_SESSION_HOURS")
    room_tiles: str | None = Field(default=None, alias="TASKFORCE_ROOM_TILES")
    room_poll_seconds: float = Field(default=3.0, alias="TASKFORCE_ROOM_POLL_SECONDS")
    # Live event streams open at once: per signed-in browser, and in all (one busy page
    # must not slow everyone's commands; README "Situation room").
    room_streams_per_session: int = Field(
        default=3, ge=1, alias="TASKFORCE_ROOM_STREAMS_PER_SESSION"
    )
    room_streams_total: int = Field(default=60, ge=1, alias="TASKFORCE_ROOM_STREAMS_TOTAL")
    # Test hooks only: a module whose `install(app)` is called at start-up (see tests/hooks.py).
    test_hooks: str | None = Field(default=None, alias="TASKFORCE_TEST_HOOKS")

    log_json: bool | None = Field(default=None, alias="TASKFORCE_LOG_JSON")

    @property
    def effective_database_url(self) -> str:
        """The async SQLAlchemy URL: the configured one, or SQLite in the data directory."""
        if self.database_url:
            return to_async_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'taskforce.db').resolve()}"

    @property
    def slack_enabled(self) -> bool:
        """Slack is on with the bot token plus the signing secret (HTTP) or the app token
        (Socket Mode, where Slack authenticates the socket and signs nothing)."""
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_app_token))

    @property
    def telegram_enabled(self) -> bool:
        """Telegram is on when the bot token is set."""
        return bool(self.telegram_bot_token)

    @property
    def matrix_enabled(self) -> bool:
        """Matrix is on with the homeserver and a token (or a user id and password)."""
        return bool(
            self.matrix_homeserver
            and (self.matrix_access_token or (self.matrix_user_id and self.matrix_password))
        )

    @field_validator("audit_checkpoint_copy", mode="before")
    @classmethod
    def _no_empty_copy(cls, value: object) -> object:
        # `TASKFORCE_AUDIT_CHECKPOINT_COPY=` means no copy, not the working directory.
        return None if isinstance(value, str) and not value.strip() else value

    def audit_keys(self) -> list[str]:
        """The earlier audit keys (`TASKFORCE_AUDIT_OLD_KEYS`), in the order given."""
        return [k.strip() for k in self.audit_old_keys.split(",") if k.strip()]

    def admin_identities(self) -> list[tuple[str, str]]:
        """Parse `TASKFORCE_ADMINS` into (platform, key) pairs."""
        out: list[tuple[str, str]] = []
        for raw in self.admins.split(","):
            item = raw.strip()
            if not item:
                continue
            platform, _, key = item.partition(":")
            if not key:
                raise ValueError(f"TASKFORCE_ADMINS entry {item!r} must look like platform:id")
            out.append((platform.strip().lower(), key.strip()))
        return out


def to_async_url(url: str) -> str:
    """Map a plain SQLAlchemy URL to the async driver Taskforce uses for it."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def to_sync_url(url: str) -> str:
    """Map an async SQLAlchemy URL to its sync twin (Alembic, APScheduler, leader lock)."""
    if url.startswith("sqlite+aiosqlite:///"):
        return "sqlite:///" + url[len("sqlite+aiosqlite:///") :]
    return url
