"""The app manifest an admin installs matches what the adapter serves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.adapters.slack import EVENTS_PATH

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "slack-manifest.yml"


def load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return data


def test_every_request_url_is_the_events_endpoint() -> None:
    data = load()
    urls = [c["url"] for c in data["features"]["slash_commands"]]
    urls.append(data["settings"]["event_subscriptions"]["request_url"])
    urls.append(data["settings"]["interactivity"]["request_url"])
    assert all(u.endswith(EVENTS_PATH) for u in urls), urls


def test_the_command_events_and_scopes_match_the_adapter() -> None:
    data = load()
    (command,) = data["features"]["slash_commands"]
    assert command["command"] == "/tf"
    assert command["should_escape"] is True  # mentions arrive as <@U…>, which `op role` reads
    assert set(data["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_mention",
        "message.im",
    }
    scopes = set(data["oauth_config"]["scopes"]["bot"])
    needed = {"commands", "chat:write", "im:write", "files:write", "channels:read"}
    assert needed <= scopes
    assert "chat:write.public" not in scopes  # posts only where the bot was invited


def test_the_readme_lists_the_manifests_scopes() -> None:
    """An admin who sets the app up by hand from the README gets the same scopes."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"the bot scopes: (.+?)\.\s+There is deliberately", readme, re.S)
    assert found, "README: the Slack section's list of bot scopes"
    listed = re.findall(r"`([^`]+)`", found.group(1))
    assert sorted(listed) == sorted(load()["oauth_config"]["scopes"]["bot"])
