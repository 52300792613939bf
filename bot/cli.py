"""The `taskforce` command line (Typer): serve, shell, db, admin, audit."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from bot.app import App, build_app
from bot.config import Settings
from bot.logs import configure_logging

cli = typer.Typer(
    help="Taskforce: one operation picture for cross-border task forces.",
    no_args_is_help=True,
    add_completion=False,
)
db_cli = typer.Typer(help="Database maintenance.", no_args_is_help=True)
admin_cli = typer.Typer(help="Agencies, members and admins.", no_args_is_help=True)
audit_cli = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(admin_cli, name="admin")
cli.add_typer(audit_cli, name="audit")


def _app(quiet: bool = True) -> App:
    settings = Settings()
    configure_logging(json=settings.log_json, level=logging.WARNING if quiet else logging.INFO)
    return build_app(settings)


def _fail(message: str) -> None:
    typer.secho(message, err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


@cli.command()
def serve() -> None:
    """Run the HTTP server: Slack, Telegram, health, readiness and metrics."""
    from bot.server import run

    settings = Settings()
    configure_logging(json=settings.log_json)
    run(settings)


@cli.command()
def shell(
    as_: Annotated[str, typer.Option("--as", help="Your console name.")] = "console",
    channel: Annotated[str, typer.Option(help="The console channel you are in.")] = "console",
) -> None:
    """A REPL against the store: type commands as on any chat platform."""
    from bot.repl import run_repl

    app = _app()
    asyncio.run(run_repl(app, as_, channel))


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Run the migrations up to the newest (also done at every start)."""
    app = _app()

    async def go() -> None:
        try:
            await app.store.migrate()
        finally:
            await app.store.dispose()

    asyncio.run(go())
    typer.echo("Database is at the newest migration.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chain; exit 1 and name the first broken entry if any."""
    from bot import audit

    app = _app()

    async def go() -> audit.VerifyResult:
        try:
            await app.store.migrate()
            async with app.store.transaction() as session:
                return await audit.verify(session)
        finally:
            await app.store.dispose()

    result = asyncio.run(go())
    if not result.ok:
        _fail(f"Audit chain BROKEN at entry #{result.broken_id}: {result.problem}.")
    typer.echo(f"Audit chain intact: {result.checked} entries verified.")


@admin_cli.command("add-agency")
def admin_add_agency(
    code: str,
    name: str,
    country: Annotated[str, typer.Option(help="ISO 3166 code, like ES.")],
    kind: Annotated[
        str, typer.Option(help="police, border, prosecution, interpol-ncb, europol, ngo, other")
    ] = "other",
    tz: Annotated[str, typer.Option(help="Time zone, like Europe/Madrid.")] = "UTC",
    lang: Annotated[str, typer.Option(help="Language, like es.")] = "en",
) -> None:
    """Add an agency (code like ES-PN)."""
    from bot.bootstrap import add_agency

    app = _app()

    async def go() -> None:
        try:
            await app.prepare()
            await add_agency(
                app.store,
                app.clock(),
                code=code,
                name=name,
                country=country,
                kind=kind,
                timezone=tz,
                language=lang,
            )
        finally:
            await app.store.dispose()

    try:
        asyncio.run(go())
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"Agency {code.upper()} added.")


@admin_cli.command("add-member")
def admin_add_member(
    name: str,
    identity: Annotated[
        list[str], typer.Option(help="slack:T/U, telegram:ID or console:NAME; repeatable.")
    ],
    agency: Annotated[str | None, typer.Option(help="Agency code.")] = None,
    admin: Annotated[bool, typer.Option(help="Make an admin.")] = False,
    tz: Annotated[str | None, typer.Option(help="Time zone.")] = None,
) -> None:
    """Add a member with one or more platform identities."""
    from bot.bootstrap import add_member

    app = _app()

    async def go() -> int | None:
        try:
            await app.prepare()
            m = await add_member(
                app.store,
                app.clock(),
                name=name,
                identities=identity,
                agency=agency,
                admin=admin,
                timezone=tz,
            )
            return m.id
        finally:
            await app.store.dispose()

    try:
        member_id = asyncio.run(go())
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(f"Member M-{member_id} {name} added.")


def main() -> None:
    """Console-script entry point."""
    cli()
