"""The interactive loop of `taskforce shell`."""

from __future__ import annotations

import structlog

from bot.adapters.console import Post, render
from bot.base.i18n import _
from bot.serving.app import App
from bot.serving.console_input import line_reader

log = structlog.get_logger(__name__)

BANNER = """Taskforce console — you are '{who}' in channel '{channel}'.
Type commands as on any chat platform (a leading slash is optional), `help` for the list,
`:as NAME` to speak as someone else, `:in CHANNEL` to move, `:quit` to leave."""


def _print_post(post: Post) -> None:
    body = post.text.replace("\n", "\n    ")
    print(f"  >> posted to #{post.channel}:\n    {body}")


async def run_repl(app: App, who: str, channel: str) -> None:
    """Read lines, dispatch them, print replies; posts appear as the outbox sends them."""
    await app.prepare()
    sender = app.console.sender
    sender.echo = _print_post
    app.worker.start()
    print(BANNER.format(who=who, channel=channel))
    reader = line_reader(app.settings.data_dir)
    try:
        while True:
            line = await reader.read(f"{who}@{channel}> ")
            if line is None:  # Ctrl-D, or the end of the piped input
                print()
                break
            line = line.strip()
            if not line:
                continue
            if line in (":quit", ":q", "exit", "quit"):
                break
            if line.startswith(":as "):
                who = line[4:].strip() or who
                continue
            if line.startswith(":in "):
                channel = line[4:].strip() or channel
                continue
            try:  # one line, whatever it does, never ends the session
                reply = await app.console.push(line, as_=who, channel=channel)
                print(render(reply))
                await app.worker.drain()
            except Exception:
                log.exception("console.line_failed")
                print("! " + _("That line failed on our side; the error is logged."))
    finally:
        await app.close()
