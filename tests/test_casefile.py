"""The case file a prosecutor accepts (issue 28): complete for the lead who asks (TLP:RED
included, its disclosure audited), exhibits and statements in it, a manifest of every file
with SHA-256, signed with the operator's Ed25519 key and checked by `taskforce
verify-export`; the Markdown carries what the JSON has, in correct English."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.serving.app import App
from bot.serving.cli import cli
from bot.store.audit import Action
from bot.store.models import AuditEntry
from tests.conftest import AppFactory
from tests.fieldintel import OP, ok, operation, text


def _key(path: Path) -> Path:
    """A fresh Ed25519 key as the operator makes one (`openssl genpkey -algorithm ed25519`)."""
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _public(private: Path, out: Path) -> Path:
    """The public half, as `taskforce export-public-key` prints it."""
    result = CliRunner().invoke(
        cli, ["export-public-key"], env={"TASKFORCE_EXPORT_SIGNING_KEY": str(private)}
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("-----BEGIN PUBLIC KEY-----")
    out.write_text(result.output)
    return out


@pytest.fixture
async def signed_app(make_app: AppFactory, db_url: str, tmp_path: Path) -> App:
    """An app on each store whose exports are signed."""
    return await make_app(db_url, TASKFORCE_EXPORT_SIGNING_KEY=str(_key(tmp_path / "k.pem")))


async def _case(app: App) -> None:
    await operation(app)
    await ok(app, 'op intent "Dismantle the Porto-Vigo network; safeguard every victim."')
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(
        app,
        'notice record red S-1 --charges "trafficking in human beings" --ref 2026/4411 '
        "--requested-by PT --warrant W/1 --warrant-country PT",
    )
    await ok(
        app,
        'sighting S-1 at Porto --activity "loading people into a van" --count "6 adults"',
        who="mia",
    )
    # TLP:RED for mia and obe only: the lead is neither its author nor a recipient.
    await ok(app, 'sighting "red van" at Vigo --tlp red --to M-4', who="mia")
    await ok(
        app,
        'exhibit add "Nokia phone" --number AR/1 --seal SEAL-004211 --found "kitchen drawer" '
        '--sighting SG-1 --at "2026-11-28 06:10"',
        who="mia",
    )
    await ok(
        app,
        'exhibit transfer E-1 --to "Ana Costa, PJ forensic laboratory" --why "extraction" '
        '--at "2026-11-28 08:00"',
        who="mia",
    )
    await ok(app, 'statement add "Marie D." --lang fr "Je suis arrivée en octobre."')
    await ok(app, 'statement translate ST-1 --lang en --by "J. Silva" "I arrived in October."')
    await app.console.pop_posts()


def _written(reply: Any) -> dict[str, Path]:
    paths = [
        Path(line.removeprefix("Written: "))
        for line in reply.message.lines
        if line.startswith("Written: ")
    ]
    return {p.name.split(".", 1)[1]: p for p in paths}


def _verify(path: Path, public: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify-export", str(path), "--public-key", str(public)])
    return result.exit_code, result.output.strip()


async def test_the_signed_case_file_verifies_and_a_tampered_file_fails(
    signed_app: App, tmp_path: Path
) -> None:
    app = signed_app
    await _case(app)
    reply = await ok(app, f"export {OP}")
    assert "The manifest is signed; check it with `taskforce verify-export`." in text(reply)
    files = _written(reply)
    assert set(files) == {"json", "md", "sha256", "sha256.sig"}
    # The manifest is what `sha256sum -c` reads: every other file with its SHA-256.
    assert files["sha256"].read_text() == "".join(
        f"{hashlib.sha256(files[k].read_bytes()).hexdigest()}  {files[k].name}\n"
        for k in ("json", "md")
    )
    checked = subprocess.run(
        ["sha256sum", "-c", files["sha256"].name],
        cwd=files["sha256"].parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0 and checked.stdout.count(": OK") == 2, checked.stderr
    public = _public(tmp_path / "k.pem", tmp_path / "public.pem")
    code, said = _verify(files["json"].parent, public)
    assert code == 0 and said.startswith(f"Verified: {files['json'].name}, {files['md'].name}")
    # One changed byte in the Markdown: one sentence naming the file.
    md = files["md"]
    md.write_bytes(md.read_bytes().replace(b"Nokia phone", b"Nokia phonE", 1))
    code, said = _verify(md, public)
    assert (code, said) == (
        1,
        f"{md.name} was altered: its SHA-256 is not the one the signed manifest records.",
    )
    # A manifest rewritten to match the change no longer matches its signature.
    body = files["sha256"].read_text()
    listed = body.splitlines()[1].split()[0]
    files["sha256"].write_text(body.replace(listed, hashlib.sha256(md.read_bytes()).hexdigest()))
    code, said = _verify(files["json"].parent, public)
    assert (code, said) == (
        1,
        f"The signature does not match {files['sha256'].name}: the manifest was "
        "altered or signed with another key.",
    )
    # Another task force's key does not verify it either.
    other = _public(_key(tmp_path / "other.pem"), tmp_path / "other-public.pem")
    files["sha256"].write_text(body)
    md.write_bytes(md.read_bytes().replace(b"Nokia phonE", b"Nokia phone", 1))
    assert _verify(md, public)[0] == 0
    assert _verify(md, other)[0] == 1


async def test_without_a_key_the_manifest_is_unsigned_and_does_not_verify(
    app: App, tmp_path: Path
) -> None:
    await operation(app)
    reply = await ok(app, f"export {OP}")
    assert (
        "The manifest is not signed: the server has no signing key "
        "(TASKFORCE_EXPORT_SIGNING_KEY)." in text(reply)
    )
    files = _written(reply)
    assert set(files) == {"json", "md", "sha256"}
    public = _public(_key(tmp_path / "k.pem"), tmp_path / "public.pem")
    code, said = _verify(files["sha256"], public)
    assert code == 1 and said == (
        f"{files['sha256'].name} is not signed: there is no {files['sha256'].name}.sig beside it."
    )


async def test_the_lead_gets_every_red_item_and_the_audit_names_them(signed_app: App) -> None:
    app = signed_app
    await _case(app)
    reply = await ok(app, f"export {OP}")
    assert (
        "It includes SG-2, restricted to others (TLP:RED or AMBER+STRICT); the audit records "
        "their disclosure to you." in text(reply)
    )
    assert dict(reply.message.fields)["Raids"] == "0"
    data = json.loads(_written(reply)["json"].read_text())
    assert [s["location"] for s in data["sightings"]] == ["Porto", "Vigo"]
    assert data["tlp"] == "TLP:RED"
    async with app.store.transaction() as session:
        entries = (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.command == "export")
                .order_by(col(AuditEntry.id))
            )
        ).all()
    disclosed = [e for e in entries if e.action == Action.DISCLOSE]
    assert len(disclosed) == 1 and disclosed[0].reason is not None
    assert disclosed[0].reason.startswith("case file to admin (M-1): ")
    assert "restricted to others, disclosed to the lead: SG-2" in disclosed[0].reason
    # Only a lead exports: the member who is the item's recipient gets no file at all.
    refusal = await app.console.push(f"export {OP}", as_="obe")
    assert not refusal.ok and not refusal.message.attachments


async def test_the_markdown_carries_what_the_json_has(signed_app: App) -> None:
    app = signed_app
    await _case(app)
    files = _written(await ok(app, f"export {OP}"))
    data = json.loads(files["json"].read_text())
    md = files["md"].read_text()
    assert data["operation"]["intent"].startswith("Dismantle")
    for part in (
        "**Intent:** Dismantle the Porto-Vigo network; safeguard every victim.",
        "## Linked channels",
        "| console | room |",
        "### N-1 red notice — active · TLP:AMBER",
        "- **Requested by:** PT",
        "- **Warrant:** W/1 (PT)",
        "- **Reference:** 2026/4411",
        "- **Activity:** loading people into a van",
        "- **Count:** 6 adults",
        "## Exhibits (1)",
        "### E-1 AR/1 — Nokia phone",
        "- **Seal:** SEAL-004211",
        "- **Held by:** Ana Costa, PJ forensic laboratory",
        ": seized by mia (M-2) — found at kitchen drawer",
        "  2. 2026-11-28T08:00:00Z: mia (M-2) to Ana Costa, PJ forensic laboratory — extraction",
        "### ST-1 — Marie D.",
        "### SG-1 — S-1 Ivan Petrov · TLP:AMBER",
        "### SG-2 — red van · TLP:RED",
        "- **Language:** French (fr)",
        "> Je suis arrivée en octobre.",
        "Translation into English (en) by J. Silva",
        "> I arrived in October.",
        "No raids.",
    ):
        assert part in md, part
    assert "1 raids" not in md and "None." not in md.splitlines()
    assert "0 raids, 1 exhibit, 1 statement, " in md
    assert f"## Audit trail ({len(data['audit'])} entries)" in md
    e1 = data["exhibits"][0]
    assert [(c["from"], c["to"]["name"]) for c in e1["custody"]] == [
        (None, "mia"),
        ({"ref": "M-2", "name": "mia"}, "Ana Costa, PJ forensic laboratory"),
    ]
    assert data["statements"][0]["translations"][0]["language"] == "en"


async def test_an_unusable_signing_key_is_one_sentence_and_exports_nothing(
    make_app: AppFactory, sqlite_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("hello\n")
    app = await make_app(sqlite_url, TASKFORCE_EXPORT_SIGNING_KEY=str(bad))
    await operation(app)
    reply = await app.console.push(f"export {OP}", as_="admin")
    assert not reply.ok and not reply.message.attachments
    assert reply.message.lines[0] == (
        "The case file cannot be signed: the server's signing key is unusable; the operator "
        "runs `taskforce check`."
    )
    assert not (tmp_path / "exports").exists()


def test_check_and_the_cli_export_refuse_an_unusable_signing_key(
    sqlite_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("hello\n")
    env = {
        "TASKFORCE_DATABASE_URL": sqlite_url,
        "TASKFORCE_DATA_DIR": str(tmp_path / "data"),
        "TASKFORCE_EXPORT_SIGNING_KEY": str(bad),
    }
    checked = CliRunner().invoke(cli, ["check"], env=env)
    assert checked.exit_code == 1, checked.output
    [row] = [line for line in checked.output.splitlines() if line.startswith("export-key")]
    assert row.split()[1] == "FAIL" and "is not an unencrypted PEM private key" in row
    exported = CliRunner().invoke(cli, ["export", "OP-ANY", "--out", str(tmp_path / "x")], env=env)
    assert exported.exit_code == 1 and not (tmp_path / "x").exists()
    assert "is not an unencrypted PEM private key" in exported.output
    good = _key(tmp_path / "good.pem")
    env["TASKFORCE_EXPORT_SIGNING_KEY"] = str(good)
    checked = CliRunner().invoke(cli, ["check"], env=env)
    [row] = [line for line in checked.output.splitlines() if line.startswith("export-key")]
    assert row.split()[1] == "ok" and "Ed25519 SHA256:" in row
