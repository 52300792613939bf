"""The `taskforce` command line (Typer): serve, shell, db, admin, audit, outbox."""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from sqlalchemy.engine import make_url

from bot.base.config import Settings
from bot.base.logs import configure_logging
from bot.serving.app import App, build_app
from bot.serving.preflight import SettingsError, database_url_problem, load_settings
from bot.store.engine import missing_migrations

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
templates_cli = typer.Typer(help="Checklist templates for raids.", no_args_is_help=True)
cli.add_typer(templates_cli, name="templates")
outbox_cli = typer.Typer(
    help="Posts waiting to be sent, and posts given up on (dead).", invoke_without_command=True
)
cli.add_typer(outbox_cli, name="outbox")


def _print_version(wanted: bool) -> None:
    if wanted:
        try:
            found = version("taskforce")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "unknown (not installed)"
        typer.echo(f"taskforce {found}")
        raise typer.Exit()


@cli.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Taskforce: one operation picture for cross-border task forces."""


def _settings() -> Settings:
    """The settings, or one sentence and exit 1 when the environment does not make them."""
    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc))


def _usable(settings: Settings) -> None:
    """One sentence and exit 1 for a database URL Taskforce cannot use, or an install
    without its migrations (a broken package): no traceback, nothing written."""
    problem = database_url_problem(settings) or missing_migrations()
    if problem:
        _fail(problem)


def _app(quiet: bool = True) -> App:
    settings = _settings()
    _usable(settings)
    configure_logging(json=settings.log_json, level=logging.WARNING if quiet else logging.INFO)
    return build_app(settings)


def _fail(message: str) -> NoReturn:
    typer.secho(message, err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


@cli.command()
def serve() -> None:
    """Run the HTTP server: Slack, Telegram, health, readiness and metrics.

    The configuration is checked first: a half-configured platform is one sentence naming
    the missing variable and exit 1, before any port is bound.
    """
    from bot.serving.preflight import NO_PLATFORM_NOTICE, config_problems, platforms
    from bot.serving.server import run

    settings = _settings()
    problems = config_problems(settings)
    if problems:
        _fail("\n".join(problems))
    _usable(settings)  # before a port is bound: waiting would not bring the migrations
    served = platforms(settings)
    typer.echo(f"Taskforce serves {', '.join(served)}." if served else NO_PLATFORM_NOTICE, err=True)
    configure_logging(json=settings.log_json)
    run(settings)


@cli.command()
def check() -> None:
    """Check the configuration and reach the database, Slack and Telegram; exit 1 on a FAIL.

    One row per check: configuration, database, migrations, slack (auth.test), telegram
    (getMe). Nothing is written, and a SQLite file that does not exist is not created.
    """
    from bot.serving.preflight import Status, run_checks, table

    settings = _settings()
    configure_logging(json=settings.log_json, level=logging.WARNING)
    rows = asyncio.run(run_checks(settings))
    typer.echo(table(rows))
    failed = [r.check for r in rows if r.status is Status.FAIL]
    if failed:
        _fail(f"{len(failed)} check{'s' if len(failed) != 1 else ''} failed: {', '.join(failed)}.")
    warned = [r.check for r in rows if r.status is Status.WARN]
    typer.echo(
        f"No check failed; look at: {', '.join(warned)}." if warned else "All checks passed."
    )


@cli.command()
def shell(
    as_: Annotated[str, typer.Option("--as", help="Your console name.")] = "console",
    channel: Annotated[str, typer.Option(help="The console channel you are in.")] = "console",
) -> None:
    """A REPL against the store: type commands as on any chat platform."""
    from bot.serving.repl import run_repl

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
    from bot.store import audit, audit_anchor

    app = _app()

    async def go() -> audit.VerifyResult:
        try:
            await app.store.migrate()
            async with app.store.transaction() as session:
                places = audit_anchor.Places.of(app.settings)
                return await audit_anchor.verify_anchored(session, places)
        finally:
            await app.store.dispose()

    result = asyncio.run(go())
    if not result.ok:
        _fail(result.sentence())
    typer.echo(result.sentence())


@audit_cli.command("anchor")
def audit_anchor_cmd(
    accept_unkeyed: Annotated[
        bool,
        typer.Option(
            "--accept-unkeyed",
            help="Accept entries without a key as written before TASKFORCE_AUDIT_KEY was set.",
        ),
    ] = False,
) -> None:
    """Check every chain, then write a new checkpoint of this database (README, "Audit
    tamper evidence"): after a key is first set, a checkpoint lost, or an alarm examined.
    Files it replaces are kept beside it as `….replaced-<time>`."""
    from bot.store import audit_anchor

    app = _app()

    async def go() -> str:
        try:
            await app.store.migrate()
            places = audit_anchor.Places.of(app.settings)
            return await audit_anchor.anchor(
                app.store, places, app.clock(), accept_unkeyed=accept_unkeyed
            )
        finally:
            await app.store.dispose()

    try:
        said = asyncio.run(go())
    except audit_anchor.AnchorRefused as exc:
        _fail(str(exc))
    typer.echo(said)


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
    from bot.serving.bootstrap import add_agency

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
    from bot.serving.bootstrap import add_member

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


@outbox_cli.callback()
def outbox_default(ctx: typer.Context) -> None:
    """Without a subcommand: the same as `taskforce outbox list`."""
    if ctx.invoked_subcommand is None:
        _list_outbox()


@outbox_cli.command("list")
def outbox_list() -> None:
    """List pending and dead posts: id, platform, channel, kind, attempts, error, next try.

    Read-only, and never a post's text (it may be TLP:RED): only where it goes and how it went.
    """
    _list_outbox()


def _list_outbox() -> None:
    from bot.store.outbox import list_open

    settings = _settings()
    _usable(settings)
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        _fail(f"There is no database at {url.database} yet: the outbox is empty.")
    app = _app()

    async def go() -> list[Any] | None:
        try:
            if not await app.store.migrations_at_head():
                return None
            return await list_open(app.store)
        finally:
            await app.store.dispose()

    rows = asyncio.run(go())
    if rows is None:
        _fail("The database is not at the newest migration: run `taskforce db upgrade` first.")
    if not rows:
        typer.echo("The outbox is empty: every post has been sent.")
        return
    typer.echo(
        f"{'id':>6}  {'status':<8} {'platform':<9} {'channel':<22} {'kind':<14} "
        f"{'tries':>5}  {'next attempt (UTC)':<19}  last error"
    )
    for r in rows:
        when = r.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if r.status != "dead" else "-"
        error = (r.last_error or "").replace("\n", " ")[:60]
        typer.echo(
            f"{r.id:>6}  {r.status:<8} {r.platform:<9} {r.channel_key[:22]:<22} "
            f"{r.kind[:14]:<14} {r.attempts:>5}  {when:<19}  {error}"
        )
    dead = sum(1 for r in rows if r.status == "dead")
    typer.echo(
        f"{len(rows) - dead} waiting, {dead} dead"
        + (" (put them back with `taskforce outbox retry [ID...]`)." if dead else ".")
    )


@cli.command("inbox")
def inbox_list() -> None:
    """List acknowledged inbound events not finished yet (no command text: kind and times)."""
    from bot.store.inbox import MAX_ATTEMPTS, pending

    app = _app()

    async def go() -> list[Any]:
        try:
            await app.store.migrate()
            return await pending(app.store)
        finally:
            await app.store.dispose()

    rows = asyncio.run(go())
    if not rows:
        typer.echo("The inbox is empty: every acknowledged command has been run and answered.")
        return
    typer.echo(
        f"{'id':>6}  {'platform':<9} {'kind':<16} {'received (UTC)':<19}  {'tries':>5}  "
        "claimed by (until, UTC)"
    )
    for r in rows:
        until = r.claimed_until.strftime("%H:%M:%S") if r.claimed_until else "-"
        typer.echo(
            f"{r.id:>6}  {r.platform:<9} {r.kind[:16]:<16} "
            f"{r.received_at.strftime('%Y-%m-%d %H:%M:%S'):<19}  {r.attempts:>5}  "
            f"{r.claimed_by or '-'} ({until})"
        )
    stuck = sum(1 for r in rows if r.attempts >= MAX_ATTEMPTS)
    typer.echo(
        f"{len(rows)} unfinished"
        + (
            f"; {stuck} failed {MAX_ATTEMPTS} times and wait for an operator (see the logs)."
            if stuck
            else "; a running server finishes them."
        )
    )


@outbox_cli.command("retry")
def outbox_retry(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Outbox ids; all dead posts when none given.")
    ] = None,
) -> None:
    """Put dead posts back in the queue; they are sent again at once."""
    from bot.store.outbox import list_open, retry_dead

    app = _app()

    async def go() -> tuple[int, list[int]]:
        try:
            await app.store.migrate()
            not_dead: list[int] = []
            if ids:
                dead = {r.id for r in await list_open(app.store, ids) if r.status == "dead"}
                not_dead = [i for i in ids if i not in dead]
            return await retry_dead(app.store, app.clock(), ids or None), not_dead
        finally:
            await app.store.dispose()

    count, not_dead = asyncio.run(go())
    if not_dead:
        listed = ", ".join(str(i) for i in not_dead)
        typer.secho(f"Not dead (sent, waiting or no such post): {listed}.", err=True)
    typer.echo(f"{count} dead post{'s' if count != 1 else ''} put back in the queue.")
    if not_dead and count == 0:
        raise typer.Exit(1)


@cli.command("export")
def export_case_file(
    operation: Annotated[str, typer.Argument(help="Operation code, like OP-NIGHTJAR.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Directory for the two files (default: TASKFORCE_EXPORT_DIR)."),
    ] = None,
) -> None:
    """Write an operation's case file (JSON + Markdown); audited as a disclosure."""
    import getpass

    from bot.commands.export import export_to_dir
    from bot.core.export_seal import SealError, load_private_key

    app = _app()
    try:
        path = app.settings.export_signing_key
        key = load_private_key(path) if path is not None else None
    except SealError as exc:
        _fail(str(exc))

    async def go() -> list[Path]:
        try:
            await app.prepare()
            _, paths = await export_to_dir(
                app.store,
                operation,
                out or app.settings.export_dir,
                now=app.clock(),
                actor=f"taskforce export (local user {getpass.getuser()})",
                key=key,
            )
            return paths
        finally:
            await app.store.dispose()

    try:
        paths = asyncio.run(go())
    except ValueError as exc:
        _fail(str(exc))
    for path in paths:
        typer.echo(f"Wrote {path}")


@cli.command("verify-export")
def verify_export(
    path: Annotated[
        Path,
        typer.Argument(help="The export: its directory, its manifest or any of its files."),
    ],
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="The task force's public key (PEM); default: the public half of "
            "TASKFORCE_EXPORT_SIGNING_KEY."
        ),
    ] = None,
) -> None:
    """Check a case file: the manifest's Ed25519 signature and every file's SHA-256."""
    from bot.core.export_seal import SealError, fingerprint, load_public_key, verify

    if public_key is None:
        configured = _settings().export_signing_key
        if configured is None:
            _fail(
                "Give the task force's public key with --public-key FILE "
                "(or set TASKFORCE_EXPORT_SIGNING_KEY on the server that signed it)."
            )
        public_key = configured
    try:
        key = load_public_key(public_key)
        names = verify(path, key)
    except SealError as exc:
        _fail(str(exc))
    typer.echo(f"Verified: {', '.join(names)} (signed with {fingerprint(key)}).")


@cli.command("export-public-key")
def export_public_key() -> None:
    """Print the public key that checks this server's case files (PEM), to hand over."""
    from bot.core.export_seal import SealError, load_private_key, public_pem

    path = _settings().export_signing_key
    if path is None:
        _fail("There is no signing key: set TASKFORCE_EXPORT_SIGNING_KEY to a PEM file.")
    try:
        typer.echo(public_pem(load_private_key(path).public_key()), nl=False)
    except SealError as exc:
        _fail(str(exc))


@templates_cli.command("import")
def templates_import(
    file: Annotated[str, typer.Argument(help="A .toml, .yaml or .yml template file.")],
    replace: Annotated[bool, typer.Option(help="Update a template of that name.")] = False,
) -> None:
    """Import a checklist template (validates phases, roles and duplicate items)."""
    from pathlib import Path

    from bot.core.checklists import TemplateError, import_spec, parse_file

    try:
        spec = parse_file(Path(file))
    except TemplateError as exc:
        _fail(str(exc))
        return
    app = _app()

    async def go() -> tuple[str, int]:
        try:
            await app.prepare()
            return await import_spec(app.store, spec, replace=replace)
        finally:
            await app.store.dispose()

    try:
        status, count = asyncio.run(go())
    except TemplateError as exc:
        _fail(str(exc))
        return
    typer.echo(f"Template {status} from {file}: {count} items.")


@templates_cli.command("list")
def templates_list() -> None:
    """List the stored checklist templates."""
    from bot.core.checklists import list_templates

    app = _app()

    async def go() -> list[str]:
        try:
            await app.prepare()
            return await list_templates(app.store)
        finally:
            await app.store.dispose()

    for line in asyncio.run(go()):
        typer.echo(line)


def main() -> None:
    """Console-script entry point."""
    cli()
