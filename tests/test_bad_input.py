"""Bad input gets one clear sentence, and nothing is written (every table compared)."""

from __future__ import annotations

from bot.base.clock import ManualClock
from bot.commands.registry import REGISTRY, Command, Registry
from bot.contracts import Reply
from bot.serving.app import App
from tests.dbstate import changed_tables, snapshot

OP = "OP-NIGHT-HARBOUR"
LONG = "x" * 1001

# (line, who, what the reply must contain). The admin `admin` leads OP-NIGHT-HARBOUR,
# `bob` is a member of it; `zed` is not registered.
CASES: list[tuple[str, str, str]] = [
    # unknown commands and verbs, with a suggestion
    ("whoamii", "admin", "Unknown command `whoamii`. Did you mean `whoami`?"),
    ("opp list", "admin", "Unknown command `opp`. Did you mean `op`?"),
    ("frobnicate", "admin", "Unknown command `frobnicate`. Type `help` for the list."),
    ("op nwe Night", "admin", "`op nwe` is not a command. Did you mean `op new`?"),
    ("op frobnicate", "admin", "`op frobnicate` is not a command. op takes: new, list, show"),
    ("op", "admin", "`op` needs a verb."),
    ("me height 190", "admin", "`me height` is not a command."),
    # missing and extra arguments
    ("op new", "admin", "<name> is missing.\nUsage: op new <name>"),
    (f"op role {OP} bob", "admin", "<role> is missing.\nUsage: op role [OP] <member> <role>"),
    ("join", "zed", "<code> is missing.\nUsage: join <code>"),
    ("me tz", "admin", "<value> is missing.\nUsage: me tz <Area/City>"),
    ("op list everything", "admin", "Too many arguments: 'everything' is not expected here."),
    ("whoami now please", "admin", "Too many arguments: 'now please' is not expected here."),
    (f"op status {OP} active now", "admin", "Too many arguments: 'now' is not expected here."),
    # bad flags and flag values
    (f"op invite {OP} --colour red", "admin", "`op invite` has no flag --colour; it takes"),
    (f"op invite {OP} --uses", "admin", "--uses needs a value."),
    (f"op invite {OP} --uses 1 --uses 2", "admin", "--uses is given twice; give it once."),
    (f"op invite {OP} --uses 0", "admin", "--uses must be a whole number from 1 to 100."),
    (f"op invite {OP} --uses many", "admin", "--uses must be a whole number from 1 to 100."),
    (f"op invite {OP} --role chief", "admin", "'chief' is not a role; use one of lead,"),
    (f"op invite {OP} --expires soon", "admin", "'soon' is not a duration"),
    (f"op invite {OP} --expires 90d", "admin", "--expires must be more than 0 and at most 30"),
    ('op new "Gamma" --tlp purple', "admin", "'purple' is not a TLP label"),
    ('op new "Gamma" --countries ES,XX', "admin", "'XX' is not an ISO 3166 country code"),
    ('op new "Gamma" --tz Mars/Olympus', "admin", "'Mars/Olympus' is not a time zone I know"),
    ('op new "Gamma" --tz ../../etc/passwd', "admin", "is not a time zone I know"),
    (f"op link {OP} --max-tlp blue", "admin", "'blue' is not a TLP label"),
    (f"audit {OP} --limit 1000", "admin", "--limit must be a whole number from 1 to 200."),
    (f"op status {OP} finished", "admin", "'finished' is not a status; use planning, active"),
    (f"op status {OP} planning", "admin", f"{OP} is already planning."),
    (f"op role {OP} nobody lead", "admin", f"No member 'nobody' in {OP}; see `op members`."),
    (f"op role {OP} bob boss", "admin", "'boss' is not a role"),
    (f"op role {OP} bob member", "admin", f"bob is already member in {OP}."),
    ("me tz Mars/Olympus", "admin", "'Mars/Olympus' is not a time zone I know"),
    ("me lang klingon", "admin", "'klingon' is not a language I speak; choose one of"),
    ("help nothing", "admin", "There is no command `nothing`. Type `help` for the list."),
    # quotes
    ('op new "Night', "admin", "A quote is not closed; put a matching quote after the text."),
    ("op new “Night Harbour", "admin", "A quote is not closed"),
    # codes: wrong invite, wrong link code
    ("join NOSUCHCODE", "zed", "No invite NOSUCHCODE; check the code with the lead who sent it."),
    ("link WRONG123", "zed", "The link code WRONG123 is wrong, used or expired"),
    ("link", "zed", "This account is not registered yet"),
    # over-long text and command lines (limits: 1000 per text, 2000 per line)
    (f"op new {LONG}", "admin", "<name> is too long (1001 characters); the limit is 1000."),
    (f'op new "Gamma" --countries "{LONG}"', "admin", "The text of --countries is too long"),
    (
        "op new " + "y" * 1995,
        "admin",
        "That command is too long (2002 characters); the limit is 2000.",
    ),
    # operations one may not know of
    ("op show OP-NOWHERE", "bob", "There is no operation OP-NOWHERE that you belong to."),
    ("op show OP-NOWHERE", "zed", "You are not registered with Taskforce yet"),
]


def text(reply: Reply) -> str:
    """The reply as the console shows it."""
    return reply.message.plain_text()


async def _setup(app: App) -> str:
    reply = await app.console.push('op new "Night Harbour"', as_="admin")
    assert reply.ok, text(reply)
    reply = await app.console.push(f"op invite {OP} --uses 2", as_="admin")
    code = dict(reply.message.fields)["Code"]
    assert (await app.console.push(f"join {code}", as_="bob")).ok
    return code


async def assert_refused_and_nothing_written(app: App, line: str, who: str) -> str:
    """Run `line` as `who`; it must be refused with a sentence and leave every table as it was."""
    before = await snapshot(app.store)
    reply = await app.console.push(line, as_=who)
    assert not reply.ok, f"{line!r} was accepted: {text(reply)}"
    assert changed_tables(before, await snapshot(app.store)) == {}
    assert "Traceback" not in text(reply)
    return text(reply)


async def test_bad_input(any_app: App) -> None:
    """Every case on one set-up: each must leave the store as it found it."""
    await _setup(any_app)
    wrong = []
    for line, who, expected in CASES:
        sentence = await assert_refused_and_nothing_written(any_app, line, who)
        if expected not in sentence:
            wrong.append(f"{line[:60]!r}: got {sentence!r}")
    assert wrong == []


async def test_expired_and_used_up_invites(app: App, clock: ManualClock) -> None:
    code = await _setup(app)
    assert (await app.console.push(f"join {code}", as_="carl")).ok  # second and last use
    sentence = await assert_refused_and_nothing_written(app, f"join {code}", "dora")
    assert sentence == f"The invite {code} has been used up; ask the lead for a new one."
    fresh = dict((await app.console.push(f"op invite {OP}", as_="admin")).message.fields)["Code"]
    clock.advance(hours=72)
    sentence = await assert_refused_and_nothing_written(app, f"join {fresh.lower()}", "dora")
    assert sentence == f"The invite {fresh} has expired; ask the lead for a new one."


async def test_expired_and_used_link_codes(app: App, clock: ManualClock) -> None:
    await _setup(app)
    reply = await app.console.push("link", as_="bob")
    code = reply.message.lines[0].removeprefix("Your code: ")
    clock.advance(minutes=10)
    sentence = await assert_refused_and_nothing_written(app, f"link {code}", "bob-phone")
    assert sentence.startswith(f"The link code {code} is wrong, used or expired")
    # A code is for another account: the member's own account, or someone else's, is refused.
    reply = await app.console.push("link", as_="bob")
    code = reply.message.lines[0].removeprefix("Your code: ")
    sentence = await assert_refused_and_nothing_written(app, f"link {code}", "bob")
    assert sentence == "This account is already yours; nothing to link."
    sentence = await assert_refused_and_nothing_written(app, f"link {code}", "admin")
    assert sentence.startswith("This account already belongs to another Taskforce member")


async def test_a_bad_line_with_an_event_key_records_only_the_event(app: App) -> None:
    await _setup(app)
    before = await snapshot(app.store)
    reply = await app.console.push("op nwe Night", as_="admin", event_key="evt-9")
    assert not reply.ok
    assert changed_tables(before, await snapshot(app.store)) == {
        "processedevent": (len(before["processedevent"]), len(before["processedevent"]) + 1)
    }
    again = await app.console.push("op nwe Night", as_="admin", event_key="evt-9")
    assert text(again) == text(reply)


async def test_a_crashing_handler_gives_a_sentence_and_rolls_back(app: App) -> None:
    from bot.commands.context import CommandContext
    from bot.store.models import Agency

    async def crash(ctx: CommandContext) -> Reply:
        ctx.session.add(Agency(code="XX-TMP", name="temp", country="ES"))
        await ctx.session.flush()
        raise RuntimeError("database on fire: secret detail")

    registry = Registry()
    for cmd in REGISTRY.all():
        registry.add(cmd)
    registry.add(Command(name="crash", usage="crash", summary="test", handler=crash))
    app.core.registry = registry
    await _setup(app)
    before = await snapshot(app.store)
    reply = await app.console.push("crash", as_="admin")
    assert not reply.ok
    assert text(reply) == (
        "Something went wrong on our side and nothing was changed; the error is logged."
    )
    assert changed_tables(before, await snapshot(app.store)) == {}
