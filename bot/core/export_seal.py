"""The case file's manifest and signature (issue 28): every file of an export listed with
its SHA-256 and size, the manifest signed with the task force's Ed25519 key, and the check
`taskforce verify-export` runs.

An export of `STEM` is `STEM.json`, `STEM.md`, the manifest `STEM.sha256` (one line per
file, `<sha256>  <name>`, as `sha256sum` writes and checks it) and its detached signature
`STEM.sha256.sig` (base64 of the Ed25519 signature of the manifest's exact bytes). The
operator configures the private key (`TASKFORCE_EXPORT_SIGNING_KEY`, a PEM file); whoever
verifies needs only the public key, which `taskforce export-public-key` prints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MANIFEST_SUFFIX = ".sha256"
SIGNATURE_SUFFIX = ".sha256.sig"
_LINE = re.compile(r"^([0-9a-f]{64})  ([^/\\\n]+)$")


class SealError(ValueError):
    """An export that does not verify, or a key that cannot be used: one sentence."""


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The operator's Ed25519 signing key from a PEM file (`openssl genpkey -algorithm
    ed25519`)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        why = (exc.strerror or type(exc).__name__).lower()
        raise SealError(f"Cannot read the export signing key {path}: {why}.") from exc
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SealError(
            f"{path} is not an unencrypted PEM private key (make one with "
            "`openssl genpkey -algorithm ed25519 -out export-signing.pem`)."
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SealError(f"{path} is not an Ed25519 key; the case file is signed with Ed25519.")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (or the public half of a private PEM key)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        why = (exc.strerror or type(exc).__name__).lower()
        raise SealError(f"Cannot read the public key {path}: {why}.") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return load_private_key(path).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise SealError(f"{path} is not an Ed25519 public key.")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    """The public key as PEM text, to hand to whoever verifies exports."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    """`SHA256:…` of the raw public key, hex: how the manifest names the key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Sealed:
    """The manifest's bytes and, when a key is configured, its detached signature."""

    manifest: bytes
    signature: bytes | None


def seal(files: Sequence[tuple[str, bytes]], *, key: Ed25519PrivateKey | None) -> Sealed:
    """The manifest of `files` (name, content) and its signature with `key` (None: no key
    configured; the export is unsigned)."""
    body = "".join(f"{hashlib.sha256(content).hexdigest()}  {name}\n" for name, content in files)
    manifest = body.encode()
    signature = base64.b64encode(key.sign(manifest)) + b"\n" if key is not None else None
    return Sealed(manifest, signature)


def find_manifest(path: Path) -> Path:
    """The manifest an export path means: the manifest itself, any file of the export, or
    a directory holding exactly one export."""
    if path.is_dir():
        found = sorted(path.glob("*" + MANIFEST_SUFFIX))
        if len(found) != 1:
            raise SealError(
                f"{path} holds {len(found)} case-file manifests; name one (`…{MANIFEST_SUFFIX}`)."
            )
        return found[0]
    name = path.name
    for suffix in (SIGNATURE_SUFFIX, MANIFEST_SUFFIX, ".json", ".md"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + MANIFEST_SUFFIX)
    raise SealError(f"{path} is not a file of a case-file export.")


def verify(path: Path, key: Ed25519PublicKey) -> list[str]:
    """Check an export: the manifest's signature with `key`, then every file's size and
    SHA-256. Returns the names of the files verified; raises `SealError` with one
    sentence on the first thing that does not hold."""
    manifest_path = find_manifest(path)
    try:
        body = manifest_path.read_bytes()
    except OSError as exc:
        raise SealError(f"Cannot read the manifest {manifest_path}: no such file.") from exc
    signature_path = manifest_path.with_name(
        manifest_path.name[: -len(MANIFEST_SUFFIX)] + SIGNATURE_SUFFIX
    )
    if not signature_path.exists():
        raise SealError(
            f"{manifest_path.name} is not signed: there is no {signature_path.name} beside it."
        )
    try:
        key.verify(base64.b64decode(signature_path.read_bytes().strip(), validate=True), body)
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise SealError(
            f"The signature does not match {manifest_path.name}: the manifest was altered or "
            "signed with another key."
        ) from exc
    try:
        lines = body.decode().splitlines()
    except UnicodeDecodeError:
        lines = [""]
    found = [_LINE.match(line) for line in lines]
    if not lines or not all(found):
        raise SealError(f"{manifest_path.name} is not a case-file manifest.")
    files = [(m.group(2), m.group(1)) for m in found if m]
    for name, digest in files:
        try:
            content = manifest_path.with_name(name).read_bytes()
        except OSError as exc:
            raise SealError(f"{name} is missing from the export.") from exc
        if hashlib.sha256(content).hexdigest() != digest:
            raise SealError(
                f"{name} was altered: its SHA-256 is not the one the signed manifest records."
            )
    return [name for name, _ in files]
