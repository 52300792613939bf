"""Socket Mode (SLACK_APP_TOKEN): the real SocketModeClient against the fake's WebSocket."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AppFactory
from tests.fakes.slack_api import slack_stack, text_of
from tests.serving import wait_until


@pytest.mark.parametrize("signing_secret", ["set", "unset"])
async def test_a_slash_command_over_socket_mode_is_acked_with_the_reply(
    make_app: AppFactory, sqlite_url: str, signing_secret: str
) -> None:
    # Slack authenticates the socket with the app token and signs nothing sent over it:
    # Socket Mode works without SLACK_SIGNING_SECRET.
    unset = {"SLACK_SIGNING_SECRET": ""} if signing_secret == "unset" else {}
    async with slack_stack(make_app, sqlite_url, SLACK_APP_TOKEN="xapp-test", **unset) as slack:
        fake, adapter = slack.fake, slack.adapter
        await wait_until(lambda: adapter.ready() is None)
        assert fake.calls("apps.connections.open")

        # No HTTP route in Socket Mode: requests come over the socket only.
        async with httpx.AsyncClient() as client:
            resp = await client.post(f"{slack.base_url}/slack/events", content=b"x")
        assert resp.status_code == 404

        fields = slack.inbound.command_fields('op new "Night Harbour"')
        envelope = fake.socket_send("slash_commands", fields)
        await fake.wait_for(lambda: any(a["envelope_id"] == envelope for a in fake.socket_acks))
        (ack,) = [a for a in fake.socket_acks if a["envelope_id"] == envelope]
        # #ops-room is not linked to the new operation: only its creator sees the answer.
        assert ack["payload"]["response_type"] == "ephemeral"
        assert "OP-NIGHT-HARBOUR created" in text_of(ack["payload"])
    assert adapter.ready() is not None  # closed on shutdown
