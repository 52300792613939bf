"""Generated hostile command lines (Hypothesis) through dispatch, as every role and as an
outsider: no crash reply, nothing but `denied` audit entries written on a refusal, and
nothing of an operation the actor is not in in any reply or post (issue 20).

OP-NIGHTJAR (tests/fieldintel.py: lead `admin`, member `mia`, partner `pat`, observer `obe`)
and OP-OTHER, whose only member is `admin`, holding a subject and a sighting whose words
(`ZZSECRET`, `QQHIDDEN`) nobody else may ever see.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands.registry import REGISTRY
from bot.serving.app import App
from tests.dbstate import changed_tables, denied_only, snapshot
from tests.fieldintel import ok, operation, text

SECRETS = ("ZZSECRET", "QQHIDDEN")
COMMANDS = sorted(c.name for c in REGISTRY.all() if c.name not in ("export",))
WORDS = st.one_of(
    st.sampled_from(
        [
            "OP-OTHER",
            "OP-NIGHTJAR",
            "OP-OTHER/S-1",
            "OP-OTHER/SG-1",
            "OP-OTHER/R-1",
            "OP-OTHER/N-1",
            "S-1",
            "SG-1",
            "R-1",
            "N-1",
            "S-99999999999",
            "²",
            "٣",
            "-1",
            "99999999999999999999",
            "1e3",
            "NaN",
            "--page",
            "--limit",
            "--uses",
            "--when",
            "--at",
            "--since",
            "--tlp",
            "red",
            "--to",
            "--note",
            "--desc",
            "at",
            "ago",
            "in",
            "tomorrow",
            "25:99",
            "9999-12-31",
            "0001-01-01",
            '"',
            "“",
            "'",
            "@channel",
            "<!here>",
            "*bold*",
            "\u202e",
            "\x00",
            "\ud800",
            "Á",
            "e\u0301",
            "x" * 300,
        ]
    ),
    st.text(max_size=12),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)
TARGETS = st.sampled_from(
    ["", "OP-OTHER", "OP-OTHER/S-1", "OP-OTHER/SG-1", "OP-OTHER/R-1", "S-1", "SG-1", "R-1"]
)
LINES = st.tuples(st.sampled_from(COMMANDS), TARGETS, st.lists(WORDS, max_size=5)).map(
    lambda t: " ".join(w for w in [t[0], t[1], *t[2]] if w)
)
ACTORS = [("pat", "room"), ("obe", "room"), ("mia", "lobby"), ("zed", "room"), ("obe", "dm")]


async def _set_up(app: App) -> None:
    await operation(app)
    await ok(app, 'op new "Other" --code OP-OTHER --tlp green')
    await ok(app, "op link OP-OTHER", channel="other-room")
    await ok(app, "subject add OP-OTHER person ZZSECRET Man --category suspect --tlp green")
    await ok(app, "sighting OP-OTHER/S-1 at QQHIDDEN quay --tlp green")
    await ok(app, 'raid plan OP-OTHER "ZZSECRET dawn" --at "tomorrow 05:30"')
    await app.console.pop_posts()


async def test_generated_lines_never_crash_write_on_refusal_or_leak(any_app: App) -> None:
    app = any_app
    await _set_up(app)
    loop = asyncio.get_running_loop()
    problems: list[str] = []

    async def one(line: str) -> None:
        for who, channel in ACTORS:
            before = await snapshot(app.store)
            reply = await app.console.push(line, as_=who, channel=channel, is_group=channel != "dm")
            said = text(reply)
            posts = await app.console.pop_posts()
            if "Something went wrong" in said:
                problems.append(f"{who}: {line!r} crashed")
            seen = [said, *(p.text for p in posts if p.channel != "other-room")]
            if any(secret in shown for secret in SECRETS for shown in seen):
                problems.append(f"{who}: {line!r} showed OP-OTHER: {said[:100]!r}")
            if not reply.ok:
                after = await snapshot(app.store)
                try:
                    denied_only(before, after)
                except AssertionError:
                    problems.append(
                        f"{who}: {line!r} refused but wrote {changed_tables(before, after)}"
                    )

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        derandomize=True,
    )
    @given(LINES)
    def run(line: str) -> None:
        asyncio.run_coroutine_threadsafe(one(line), loop).result()

    await asyncio.to_thread(run)
    assert problems == []
