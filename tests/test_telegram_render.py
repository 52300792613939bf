"""Telegram rendering, splitting, command parsing and callback data, without a network."""

from __future__ import annotations

import pytest

from bot.adapters.telegram import TelegramSender, command_list, parse_command, send_error
from bot.adapters.telegram_buttons import CALLBACK_LIMIT, decode, encode_all
from bot.adapters.telegram_render import render_html, split_html
from bot.base.messages import Message
from bot.commands.registry import REGISTRY
from bot.serving.app import App
from tests.fakes.telegram_api import html_error, html_to_plain


def test_render_escapes_user_text_once_and_marks_matches() -> None:
    msg = Message(
        title="SG-3 <Mario> & co",
        fields=[("Where", "Porto <quay 4>")],
        lines=["<b>not bold</b>", "a &amp; b"],
        context="TLP:AMBER · OP-NH/SG-3",
        mark="MATCH",
    )
    out = render_html(msg)
    assert out.splitlines() == [
        "🔴 <b>MATCH</b>",
        "<b>SG-3 &lt;Mario&gt; &amp; co</b>",
        "<b>Where:</b> Porto &lt;quay 4&gt;",
        "&lt;b&gt;not bold&lt;/b&gt;",
        "a &amp;amp; b",
        "<i>TLP:AMBER · OP-NH/SG-3</i>",
    ]
    assert html_error(out) is None


def test_tags_never_span_lines_even_with_newlines_in_user_text() -> None:
    out = render_html(Message(title="two\nlines", context="a\nb"))
    assert out.splitlines() == ["<b>two</b>", "<b>lines</b>", "<i>a</i>", "<i>b</i>"]


def test_split_keeps_lines_whole_and_every_part_parses() -> None:
    lines = [f"line {i} &lt;x&gt; " + "y" * 50 for i in range(200)]
    text = "<b>Title</b>\n" + "\n".join(lines)
    parts = split_html(text, limit=1000)
    assert len(parts) > 5
    assert all(len(p) <= 1000 and html_error(p) is None for p in parts)
    assert "\n".join(parts) == text  # cut only at line breaks


def test_split_of_one_overlong_line_never_cuts_a_tag_or_entity() -> None:
    line = "<b>" + "&amp;" * 700 + "</b>"  # 3507 characters on one line
    parts = split_html(line, limit=100)
    assert all(len(p) <= 100 and html_error(p) is None for p in parts)
    assert "".join(html_to_plain(p) for p in parts) == "&" * 700


def test_short_text_is_one_part() -> None:
    assert split_html("<b>x</b>") == ["<b>x</b>"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/op new X", ("op", "op new X", False)),
        ("/op@TaskforceTestBot list", ("op", "op list", True)),
        ("/OP@taskforcetestbot list", ("op", "op list", True)),
        ("/tf op show", ("tf", "op show", False)),
        ("/tf@TaskforceTestBot", ("tf", "help", True)),
        ("/check R-1 3\n--note “ok”", ("check", "check R-1 3\n--note “ok”", False)),
        ("/start", ("start", "start", False)),
    ],
)
def test_parse_command(text: str, expected: tuple[str, str, bool]) -> None:
    parsed = parse_command(text, "TaskforceTestBot")
    assert parsed is not None
    assert (parsed.name, parsed.line, parsed.addressed) == expected


@pytest.mark.parametrize("text", ["/op@OtherBot list", "hello /op", "/", "/ op", "op list"])
def test_not_our_command(text: str) -> None:
    assert parse_command(text, "TaskforceTestBot") is None


def test_command_list_has_tf_and_each_noun_within_telegram_limits() -> None:
    commands = command_list(REGISTRY)
    names = [n for n, _ in commands]
    assert names[0] == "tf"
    assert set(REGISTRY.nouns()) <= set(names)
    assert len(names) == len(set(names)) <= 100
    assert all(1 <= len(d) <= 256 for _, d in commands)
    op = dict(commands)["op"]
    assert "new" in op and "link" in op


async def test_callback_data_always_fits_and_round_trips(app: App) -> None:
    short = "check R-1 3"
    long = "check OP-NIGHT-HARBOUR/R-12 7 --note " + "é" * 80
    data = await encode_all(app.gateway, [short, long, long])
    assert data[short] == "c:check R-1 3"
    assert len(data[long].encode()) <= CALLBACK_LIMIT
    assert await decode(app.gateway, data[long]) == long
    assert await decode(app.gateway, data[short]) == short
    again = await encode_all(app.gateway, [long])  # same token, no second row
    assert again[long] == data[long]
    assert await decode(app.gateway, "t:nope") is None
    assert await decode(app.gateway, "garbage") is None


def test_pace_per_chat_and_per_group(app: App) -> None:
    sender = TelegramSender(None, app.gateway, app.settings)  # type: ignore[arg-type]
    assert sender.min_interval("-1001234") == 3.0  # 20 per minute in a group
    assert sender.min_interval("1001") == 1.0


def test_send_errors_map_to_outbox_rules() -> None:
    from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

    assert send_error(RetryAfter(7)).retry_after == 7.0
    assert send_error(Forbidden("bot was kicked")).permanent
    assert send_error(BadRequest("chat not found")).permanent
    assert send_error(ChatMigrated(-100999)).permanent
    assert not send_error(NetworkError("Bad Gateway")).permanent
