"""Set-up shared by the field-intelligence tests: an operation, its channels, its people.

`OP-NIGHTJAR` has lead `admin` (who created it), member `mia`, partner `pat` and observer
`obe`; console channel `room` is linked up to TLP:AMBER and `lobby` up to TLP:GREEN.
"""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import SQLModel, col, func, select

from bot.contracts import Reply
from bot.serving.app import App

OP = "OP-NIGHTJAR"
PEOPLE = {"member": "mia", "partner": "pat", "observer": "obe"}


def text(reply: Reply) -> str:
    """The reply as the console shows it."""
    return reply.message.plain_text()


async def ok(app: App, line: str, who: str = "admin", channel: str = "hq", **kw: object) -> Reply:
    """Run a line that must succeed."""
    reply = await app.console.push(line, as_=who, channel=channel, **kw)  # type: ignore[arg-type]
    assert reply.ok, f"{who}: {line!r} -> {text(reply)}"
    return reply


async def refused(app: App, line: str, who: str = "admin", channel: str = "hq") -> str:
    """Run a line that must be refused; return the sentence."""
    reply = await app.console.push(line, as_=who, channel=channel)
    assert not reply.ok, f"{who}: {line!r} was accepted: {text(reply)}"
    return reply.message.lines[0]


async def join(app: App, code: str, who: str, role: str) -> None:
    """Invite `who` into operation `code` with `role`."""
    invite = dict((await ok(app, f"op invite {code} --role {role}")).message.fields)["Code"]
    await ok(app, f"join {invite}", who=who, channel=f"dm-{who}", is_group=False)


async def operation(
    app: App,
    code: str = OP,
    *,
    channels: dict[str, str] | None = None,
    tlp: str = "amber",
    people: bool = True,
) -> None:
    """Create `code` (lead: admin), link its channels, invite member, partner, observer."""
    await ok(app, f'op new "{code.removeprefix("OP-").title()}" --code {code} --tlp {tlp}')
    for channel, ceiling in (channels or {"room": "amber", "lobby": "green"}).items():
        await ok(app, f"op link {code} --max-tlp {ceiling}", channel=channel)
    if people:
        for role, who in PEOPLE.items():
            await join(app, code, who, role)


async def rows(app: App, model: type[SQLModel]) -> int:
    """How many rows the table of `model` holds."""
    async with app.store.transaction() as session:
        table = model.__table__  # type: ignore[attr-defined]
        return int((await session.exec(select(func.count()).select_from(table))).one())


M = TypeVar("M", bound=SQLModel)


async def fetch(app: App, model: type[M]) -> list[M]:
    """Every row of `model`, by id."""
    async with app.store.transaction() as session:
        return list(
            (await session.exec(select(model).order_by(col(model.id)))).all()  # type: ignore[attr-defined]
        )


# What every red notice is recorded with (issue 15): the requesting NCB, INTERPOL's
# reference, the warrant and its issuing country.
RED = "--requested-by PT --ref A-1/2026 --warrant W/1 --warrant-country PT"
