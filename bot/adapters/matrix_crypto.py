"""End-to-end encryption for the Matrix adapter: matrix-nio's Olm/Megolm machine (its `e2e`
extra, built on vodozemac), a durable key store, and the operator's trust policy.

The device's identity keys, its Olm and Megolm sessions and what it knows of other devices
live in one SQLite file of nio's `SqliteStore` in `MATRIX_STORE_DIR` (the folder 0700, the
file 0600; default `TASKFORCE_DATA_DIR/matrix`), the keys pickled with `MATRIX_PICKLE_KEY`
(else a random key kept in the folder, 0600). The device is the access token's: a restart
reopens the same store, so the device, its keys and the sessions members already hold stay
what they were.

Trust (`MATRIX_TRUST`, README "Matrix"): `tofu` trusts each member device the first time
its keys are seen (nio keeps the first Ed25519 key of a device id and ignores a changed
one); `verified` shares room keys only with the devices listed in
`MATRIX_VERIFIED_DEVICES` (Ed25519 fingerprint compared), blacklists every other device,
and commands decrypted from an unlisted device are not run.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import structlog
from nio import AsyncClient, AsyncClientConfig
from nio.crypto import ENCRYPTION_ENABLED
from nio.store import SqliteStore

from bot.base.config import Settings

log = structlog.get_logger(__name__)

PICKLE_KEY_FILE = "pickle.key"
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600  # as bot/base/filemodes.py, whatever the umask
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """`path` (and missing parents) as a folder only the bot's user can enter."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)
    return path


def private_sqlite_file(path: Path) -> None:
    """The SQLite file `path` created empty and 0600 if missing; it and its companions 0600."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    for end in SQLITE_COMPANIONS:
        file = path.with_name(path.name + end)
        if file.exists():
            os.chmod(file, PRIVATE_FILE)
REQUEST_TIMEOUT = 30


class TrustConfigError(ValueError):
    """`MATRIX_VERIFIED_DEVICES` cannot be read; the message says which entry."""


@dataclass(frozen=True)
class VerifiedDevice:
    """One device the operator compared out of band: user id, device id, Ed25519 key."""

    user_id: str
    device_id: str
    ed25519: str


def verified_devices(text: str) -> dict[tuple[str, str], str]:
    """`@user:server DEVICE ed25519key, …` as {(user, device): key}; raises TrustConfigError."""
    found: dict[tuple[str, str], str] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        parts = entry.split()
        if len(parts) != 3 or not parts[0].startswith("@") or ":" not in parts[0]:
            raise TrustConfigError(
                f"MATRIX_VERIFIED_DEVICES: {entry!r} is not '@user:server DEVICE ed25519key'"
            )
        found[(parts[0], parts[1])] = parts[2]
    return found


def store_dir(settings: Settings) -> Path:
    """The folder of the device's key store."""
    return settings.matrix_store_dir or settings.data_dir / "matrix"


def pickle_key(settings: Settings, directory: Path) -> str:
    """The passphrase the keys are pickled with: `MATRIX_PICKLE_KEY`, else one generated once
    and kept in the store's folder (0600)."""
    if settings.matrix_pickle_key:
        return settings.matrix_pickle_key
    path = directory / PICKLE_KEY_FILE
    if not path.exists():
        private_dir(directory)
        path.write_text(secrets.token_urlsafe(32))
    path.chmod(PRIVATE_FILE)
    return path.read_text().strip()


def client_config(settings: Settings) -> AsyncClientConfig:
    """The adapter's client config: no retries of its own (the adapter and the outbox retry),
    and the durable key store."""
    directory = private_dir(store_dir(settings))
    return AsyncClientConfig(
        max_limit_exceeded=0,
        max_timeouts=0,
        request_timeout=REQUEST_TIMEOUT,
        encryption_enabled=True,
        store=SqliteStore,
        pickle_key=pickle_key(settings, directory),
    )


def available() -> bool:
    """Whether nio's encryption support (the `e2e` extra: vodozemac, peewee) is installed."""
    return bool(ENCRYPTION_ENABLED)


def open_store(client: AsyncClient, user_id: str, device_id: str, token: str) -> None:
    """Load (or create) the device's store, private from the first byte."""
    directory = Path(client.store_path or "")
    private_dir(directory)
    database = directory / f"{user_id}_{device_id}.db"
    private_sqlite_file(database)
    client.restore_login(user_id, device_id, token)
    private_sqlite_file(database)
    log.info("matrix.e2e_store_opened", device=device_id)


async def maintain(client: AsyncClient) -> None:
    """After each sync: send the queued to-device messages, upload one-time keys when the
    server runs low, query the keys of members whose devices changed, claim keys for new
    Olm sessions (what nio's own `sync_forever` does between syncs)."""
    if client.olm is None:
        return
    if client.outgoing_to_device_messages:
        await client.send_to_device_messages()
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())


def apply_trust(client: AsyncClient, settings: Settings) -> None:
    """Set every known member device's trust by the policy (see the module docstring)."""
    olm = client.olm
    if olm is None:
        return
    listed = verified_devices(settings.matrix_verified_devices)
    for device in olm.device_store:
        if device.user_id == client.user_id and device.id == client.device_id:
            continue
        if settings.matrix_trust == "tofu":
            if not device.verified and not device.blacklisted:
                olm.verify_device(device)
            continue
        expected = listed.get((device.user_id, device.id))
        if expected is not None and expected == device.ed25519:
            if not device.verified:
                olm.verify_device(device)
        elif not device.blacklisted:
            olm.blacklist_device(device)
            log.info("matrix.device_not_trusted", user=device.user_id, device=device.id)
