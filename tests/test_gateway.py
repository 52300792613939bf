"""The seam between adapters and the core: the gateway's writes, prefixes stripped by the
adapters (not by dispatch), the platform table, and the core deciding from capabilities."""

from __future__ import annotations

import pytest

from bot.adapters.console import command_line
from bot.adapters.slack import command_line as slack_line
from bot.base.messages import Attachment, Message
from bot.base.platforms import PLATFORMS
from bot.contracts import Actor, Capabilities, Channel, Invocation, Reply, Visibility, strip_prefix
from bot.gateway import Placement, outgoing, placement
from bot.serving.app import App
from bot.serving.bootstrap import parse_identity
from bot.serving.server import platform_of


async def test_a_cursor_is_kept_and_replaced(any_app: App) -> None:
    gw = any_app.gateway
    assert await gw.cursor("matrix", "sync") is None
    await gw.save_cursor("matrix", "sync", "s1")
    await gw.save_cursor("matrix", "sync", "s2")
    await gw.save_cursor("matrix", "other", "x")
    assert await gw.cursor("matrix", "sync") == "s2"
    assert await gw.cursor("matrix", "other") == "x"
    assert await gw.cursor("slack", "sync") is None


async def test_dispatch_no_longer_strips_a_platform_prefix(app: App) -> None:
    inv = Invocation(Actor("slack", "T1/U1", "U"), Channel("slack", "C1"), "/tf help", "k1")
    reply = await app.gateway.dispatch(inv)
    assert not reply.ok  # `/tf` is not a command: the adapter strips it, not the core
    assert (await app.gateway.dispatch(Invocation(inv.actor, inv.channel, "help", "k2"))).ok


@pytest.mark.parametrize(
    ("typed", "line"),
    [
        ("/tf op list", "op list"),
        ("tf op list", "op list"),
        ("op list", "op list"),
        ("/op list", "op list"),
        ("TF help", "help"),
    ],
)
def test_the_console_strips_its_prefixes(typed: str, line: str) -> None:
    assert command_line(typed) == line


def test_slack_strips_the_mention_and_the_prefix() -> None:
    assert slack_line("<@UBOT> tf op list") == "op list"
    assert slack_line("<@UBOT|taskforce>: /tf help") == "help"
    assert slack_line("op list") == "op list"
    assert strip_prefix("tfx op") is None


def test_the_core_places_replies_from_capabilities() -> None:
    group_only = Capabilities(private_replies=False)
    ephemeral = Capabilities(private_replies=True)
    secret = Reply(Message(lines=["x"]), Visibility.CHANNEL, confidential=True)
    public = Reply(Message(lines=["x"]), Visibility.CHANNEL)
    mine = Reply(Message(lines=["x"]), Visibility.PRIVATE)
    assert placement(secret, group_only, is_group=True) is Placement.DIRECT
    assert placement(secret, ephemeral, is_group=True) is Placement.EPHEMERAL
    assert placement(mine, group_only, is_group=True) is Placement.DIRECT
    assert placement(public, group_only, is_group=True) is Placement.CHANNEL
    assert placement(secret, group_only, is_group=False) is Placement.CHANNEL


def test_the_platform_table_drives_the_server_and_identities() -> None:
    names = [p.name for p in PLATFORMS]
    assert {"slack", "telegram"} <= set(names)
    for name in names:
        assert platform_of(f"/{name}/events") == name
    assert platform_of("/healthz") == "http"
    assert parse_identity("telegram:42") == ("telegram", "42")
    with pytest.raises(ValueError, match="numeric user id"):
        parse_identity("telegram:@ana")
    with pytest.raises(ValueError, match="is not an identity"):
        parse_identity("skype:bob")


def test_the_core_leaves_files_out_where_the_platform_takes_none() -> None:
    file = Attachment("case.zip", "application/zip", b"x")
    reply = Reply(Message(title="Export", attachments=[file]), Visibility.PRIVATE)
    kept = outgoing(reply, Capabilities(files=True))
    assert kept[0].attachments == [file] and len(kept) == 1
    without = outgoing(reply, Capabilities(files=False))
    assert [m.attachments for m in without] == [[], []]
    assert "Files cannot be delivered on this platform" in without[-1].lines[0]
    assert reply.message.attachments == [file]  # the reply itself is not changed
