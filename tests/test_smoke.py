"""A first walk through the console: an admin creates an operation and links a channel."""

from bot.serving.app import App


async def test_admin_creates_operation_and_posts_reach_linked_console_channel(any_app: App) -> None:
    console = any_app.console
    reply = await console.push('op new "Night Harbour" --countries ES,PT', as_="admin")
    assert reply.ok, reply.message.plain_text()
    assert "OP-NIGHT-HARBOUR created" in reply.message.title
    reply = await console.push("op link --max-tlp green", as_="admin", channel="room")
    assert reply.ok, reply.message.plain_text()
    reply = await console.push("op status active", as_="admin", channel="room")
    assert reply.ok, reply.message.plain_text()
    posts = await console.pop_posts("room")
    assert [p.message.title for p in posts] == ["OP-NIGHT-HARBOUR is now active"]
    verify = await console.push("audit verify", as_="admin")
    assert "intact" in verify.message.plain_text()
