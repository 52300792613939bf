"""The console adapter: a REPL for `taskforce shell`, and the push/pop form tests use.

Console channels are names (`briefing-room`); `op link` works in them like in any chat,
and posts to a linked console channel are collected here (and printed in the REPL).
Files a reply carries (`export`) are written to a directory on this machine (mode 0600),
their full paths added to the reply, and only then is their disclosure audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.base.i18n import _, use_language
from bot.base.messages import Message
from bot.contracts import Actor, Capabilities, Channel, Invocation, Reply, strip_prefix
from bot.gateway import Gateway

PLATFORM = "console"
# The console is the person at the server's terminal: everything it shows is private.
CAPABILITIES = Capabilities(private_replies=True, files=True, buttons=False, max_length=1_000_000)


@dataclass
class Post:
    """A post the bot made to a console channel."""

    channel: str
    message: Message

    @property
    def text(self) -> str:
        """The post as plain text."""
        return self.message.plain_text()


@dataclass
class ConsoleSender:
    """Outbox sender for console channels: collects posts (and echoes them in the REPL)."""

    platform: str = PLATFORM
    capabilities: Capabilities = CAPABILITIES
    posts: list[Post] = field(default_factory=list)
    echo: Callable[[Post], None] | None = None
    fail_next: list[Exception] = field(default_factory=list)

    def min_interval(self, channel_key: str) -> float:
        """The console has no pace limit."""
        return 0.0

    async def send(
        self, channel_key: str, message: Message, *, key: str | None = None
    ) -> str | None:
        """Record the post (or raise the next queued failure, for drills and tests)."""
        if self.fail_next:
            raise self.fail_next.pop(0)
        post = Post(channel_key, message)
        self.posts.append(post)
        if self.echo:
            self.echo(post)
        return str(len(self.posts))


def command_line(line: str) -> str:
    """The console takes `op list`, `tf op list` and `/tf op list` (or `/op list`) alike."""
    stripped = strip_prefix(line, ("/tf", "tf"))
    if stripped is not None:
        return stripped
    text = line.strip()
    return text[1:] if text.startswith("/") else line


def render(reply: Reply) -> str:
    """A reply as console text (the console is private to the person at it)."""
    prefix = "" if reply.ok else "! "
    return prefix + reply.message.plain_text()


class ConsoleAdapter:
    """Push a line as a person in a channel; pop the replies and the posts.

    `deliver` runs the outbox until nothing is due, so tests see posts without sleeping.
    `export_dir` is where files a reply carries are written (`TASKFORCE_EXPORT_DIR`).
    """

    def __init__(
        self,
        gateway: Gateway,
        sender: ConsoleSender,
        deliver: Callable[[], object] | None = None,
        *,
        export_dir: Path = Path("exports"),
    ):
        self.gateway = gateway
        self.sender = sender
        self._deliver = deliver
        self.export_dir = export_dir
        self.replies: list[tuple[str, Reply]] = []

    async def push(
        self,
        line: str,
        *,
        as_: str = "console",
        channel: str = "console",
        is_group: bool = True,
        event_key: str | None = None,
    ) -> Reply:
        """Run one line as console user `as_` in console channel `channel`; return the reply."""
        inv = Invocation(
            actor=Actor(PLATFORM, as_, as_),
            channel=Channel(PLATFORM, channel, channel, is_group=is_group),
            text=command_line(line),
            event_key=event_key,
            local=True,
        )
        reply = await self.gateway.dispatch(inv)
        if reply.message.attachments:
            reply = await self._write_files(reply)
        self.replies.append((as_, reply))
        return reply

    async def _write_files(self, reply: Reply) -> Reply:
        """Write the reply's files to disk, say where, then audit their disclosure."""
        files = reply.message.attachments
        asked = next((a.disclosure.directory for a in files if a.disclosure), None)
        out_dir = Path(asked) if asked else self.export_dir  # read by `values.parse_path`
        try:
            paths = await self.gateway.deliver_to_dir(files, out_dir)
        except ValueError as exc:
            return Reply(Message(lines=[str(exc)]), ok=False, command=reply.command)
        with use_language(reply.language):  # the rest of the reply's language
            reply.message.lines.extend(_("Written: {path}").format(path=path) for path in paths)
        return reply

    async def say(self, who: str, line: str, channel: str = "console") -> str:
        """Run a line and return the reply as text (the REPL's view)."""
        return render(await self.push(line, as_=who, channel=channel))

    def pop_replies(self) -> list[tuple[str, Reply]]:
        """Replies since the last pop, oldest first."""
        out, self.replies = self.replies, []
        return out

    async def pop_posts(self, channel: str | None = None) -> list[Post]:
        """Deliver what is due, then return (and forget) the posts, optionally of one channel."""
        if self._deliver is not None:
            result = self._deliver()
            if hasattr(result, "__await__"):
                await result
        keep: list[Post] = []
        out: list[Post] = []
        for post in self.sender.posts:
            (out if channel is None or post.channel == channel else keep).append(post)
        self.sender.posts = keep
        return out
