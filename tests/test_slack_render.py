"""Block Kit rendering: escaping once, the MATCH mark, TLP context, buttons, Slack's limits."""

from __future__ import annotations

import json

from bot.adapters.slack_render import (
    ACTION_ID,
    MAX_BLOCKS,
    escape,
    fit,
    render,
    response_payload,
    unescape,
)
from bot.base.messages import Button, Message
from bot.contracts import Reply, Visibility
from tests.fakes.slack_api import text_of

HOSTILE = "<!channel> <@U123> <http://x|y> Tom & Jerry"


def test_every_text_is_escaped_exactly_once() -> None:
    message = Message(
        title=HOSTILE,
        fields=[(HOSTILE, HOSTILE)],
        lines=[HOSTILE, "plain"],
        context=HOSTILE,
        buttons=[Button(HOSTILE, "subject show S-1")],
        tlp="amber",
    )
    text, blocks = render([message])
    dumped = json.dumps([text, blocks])
    for raw in ("<!channel>", "<@U123>", "<http://x|y>", "Tom & Jerry"):
        assert raw not in dumped
    assert "&amp;amp;" not in dumped
    every = [text, *text_of(blocks).split("\n")]
    expected = "&lt;!channel&gt; &lt;@U123&gt; &lt;http://x|y&gt; Tom &amp; Jerry"
    assert sum(expected in t for t in every) >= 6  # title, text, field ×2, line, context
    assert unescape(escape(HOSTILE)) == HOSTILE


def test_a_mark_leads_the_header_and_the_fallback_text() -> None:
    text, blocks = render([Message(title="SG-4 Ivan Petrov at Algeciras", mark="MATCH")])
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == ":rotating_light: MATCH — SG-4 Ivan Petrov at Algeciras"
    assert text == "[MATCH] SG-4 Ivan Petrov at Algeciras"


def test_the_context_line_carries_the_tlp_label_and_refs() -> None:
    _, blocks = render([Message(title="t", context="OP-X/SG-4", tlp="amber+strict")])
    assert blocks[-1] == {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": "*TLP:AMBER+STRICT*  ·  OP-X/SG-4", "verbatim": True}
        ],
    }


def test_buttons_carry_their_command_under_one_action_id_pattern() -> None:
    buttons = [Button(f"Item {i}", f"check R-1 {i}") for i in range(30)]
    buttons.append(Button("Too long", "x" * 2001))  # a cut command would run something else
    _, blocks = render([Message(title="R-1", buttons=buttons)])
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]
    elements = [el for a in actions for el in a["elements"]]
    assert all(ACTION_ID.match(el["action_id"]) for el in elements)
    assert [el["value"] for el in elements] == [f"check R-1 {i}" for i in range(30)]
    for action in actions:
        ids = [el["action_id"] for el in action["elements"]]
        assert len(set(ids)) == len(ids)


def test_slack_limits_are_respected() -> None:
    message = Message(
        title="T" * 400,
        fields=[(f"F{i}", "v" * 3000) for i in range(25)],
        lines=[f"line {i} " + "&" * 500 for i in range(400)],
        context="c",
        buttons=[Button("b" * 100, "op show")],
    )
    text, blocks = render([message])
    assert len(blocks) == MAX_BLOCKS
    assert len(text) <= 3000
    header = blocks[0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…")
    for block in blocks:
        if block["type"] == "section" and "fields" in block:
            assert len(block["fields"]) <= 10
            assert all(len(f["text"]) <= 2000 for f in block["fields"])
        if block["type"] == "section" and "text" in block:
            body = block["text"]["text"]
            assert len(body) <= 3000
            assert not body.endswith("&am") and body.count("&") == body.count("&amp;")
    # The header, the note about what was cut, the context and the buttons stay.
    assert blocks[-1]["type"] == "actions"
    assert len(blocks[-1]["elements"][0]["text"]["text"]) <= 75
    assert blocks[-2]["type"] == "context"
    assert "not shown" in text_of(blocks[-3])


def test_fit_never_cuts_an_entity_in_half() -> None:
    for limit in range(5, 20):
        out = fit("&" * 50, limit)
        assert len(out) <= limit
        assert out.endswith("…")
        assert out[:-1] == "&amp;" * ((limit - 1) // 5)


def test_confidential_replies_are_never_in_channel() -> None:
    public = Reply(Message(lines=["ok"]), visibility=Visibility.CHANNEL)
    assert response_payload(public)["response_type"] == "in_channel"
    secret = Reply(Message(lines=["red"], tlp="red"), visibility=Visibility.CHANNEL)
    secret.confidential = True
    assert response_payload(secret)["response_type"] == "ephemeral"
    assert response_payload(Reply(Message(lines=["x"])))["response_type"] == "ephemeral"


def test_extra_messages_follow_after_a_divider() -> None:
    reply = Reply(Message(title="one"), extra=[Message(title="two")])
    payload = response_payload(reply)
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds == ["header", "divider", "header"]
    assert payload["text"] == "one"
