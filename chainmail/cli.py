"""The `chainmail` command: every subcommand is listed under `chainmail --help`."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from chainmail.config import Settings, load_settings
from chainmail.heap import freeze_startup_heap
from chainmail.identity import cli as oauth_cli
from chainmail.logs import configure_logging
from chainmail.mail import acme as acme_cli
from chainmail.mail import cli as mail_cli
from chainmail.mail.housekeeping import Housekeeping
from chainmail.store.migrations import head_revisions, missing_event_tables, schema_is_current, upgrade
from chainmail.system import System

if TYPE_CHECKING:
    from chainmail.audit import AsOf

OPS = Path(__file__).resolve().parents[1] / "ops"
console = Console(stderr=True)


def _system(settings: Settings, *, create_tables: bool = False) -> System:
    return System(settings, create_tables=create_tables)


def migrate(settings: Settings) -> None:
    """Bring the read-model schema to head and create the event store's tables."""
    upgrade(settings.database_url)
    system = _system(settings, create_tables=True)
    try:
        # read models that are now kept inline take over from their old catch-up position, once
        if folded := system.projections.hand_over():
            console.print(f"folded {folded} events into read models now kept inline")
    finally:
        system.close()
    console.print(f"schema at {', '.join(sorted(head_revisions()))} on {_redacted(settings.database_url)}")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def root_token(settings: Settings) -> str | None:
    """The configured root token; with access control on and none configured, one kept under var/."""
    if settings.api_access_token or not settings.api_access_control:
        return settings.api_access_token
    path = settings.root_token_file
    if path.is_file():
        return path.read_text().strip()
    token = secrets.token_hex(20)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    console.print(f"[bold]Generated the root access token for /api (kept in {path}):[/bold]\n{token}")
    return token


def serve(settings: Settings, *, migrate_first: bool) -> None:
    prepare_to_serve(settings, migrate_first=migrate_first)
    console.print(
        f"chainmail serving on http://{settings.host}:{settings.port} "
        f"(api at '{settings.api_prefix or '/'}', indexer at '{settings.idx_prefix or '/'}', "
        f"{settings.workers} workers)"
    )
    argv = [sys.executable, "-m", "gunicorn", "-c", str(OPS / "gunicorn.conf.py"), "chainmail.http.wsgi:served"]
    os.execv(sys.executable, argv)


def prepare_to_serve(settings: Settings, *, migrate_first: bool) -> None:
    """Check (or with `migrate_first` bring) the schema to head and export the root token for the workers."""
    from chainmail.store.database import make_engine

    engine = make_engine(settings.database_url)
    try:
        current = schema_is_current(engine) and not missing_event_tables(engine)
    finally:
        engine.dispose()
    if not current:
        if not migrate_first:
            raise SystemExit(
                "The database schema is not up to date. Run `chainmail migrate` first "
                "(or start with `chainmail serve --migrate`)."
            )
        migrate(settings)
    token = root_token(settings)
    if token:
        os.environ["CHAINMAIL_API_ACCESS_TOKEN"] = token


def up(settings: Settings, *, smtp_host: str, smtp_port: int, without: list[str]) -> None:
    """Migrate if behind, then run every service as a supervised child until SIGTERM/SIGINT."""
    from chainmail.metrics import fresh_multiprocess_dir
    from chainmail.supervisor import Supervisor, services_for

    prepare_to_serve(settings, migrate_first=True)
    # every child writes its Prometheus metrics here; the API's /metrics sums them (SMTP's included)
    fresh_multiprocess_dir(settings.var_dir / "metrics" / "up")
    services = services_for(settings, smtp_host=smtp_host, smtp_port=smtp_port, without=without)
    supervisor = Supervisor(services)
    supervisor.install_signals()
    console.print(
        f"chainmail up: {', '.join(s.name for s in services)}; API on http://{settings.host}:{settings.port}",
        soft_wrap=True,
    )
    supervisor.run()


def project(settings: Settings) -> None:
    """Keep every read model caught up until stopped."""
    system = _system(settings)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    console.print(f"projecting {', '.join(system.projections.projections)}")
    housekeeping = Housekeeping(system)

    def stop_or_sweep() -> bool:
        housekeeping.when_due()  # purges what time made due, at most once a minute, between catch-up passes
        return stopping

    freeze_startup_heap()
    try:
        system.projections.run_forever(settings.projection_poll_interval, stop=stop_or_sweep)
    finally:
        system.close()


def purge(settings: Settings) -> None:
    """Purge what is due now: deleted accounts past deleteAfter, expired messages, old archive entries."""
    system = _system(settings)
    try:
        swept = Housekeeping(system).run_exclusively()
    finally:
        system.close()
    if swept is None:
        raise SystemExit("another process is sweeping (chainmail project or purge); try again later")
    console.print(
        f"purged {swept.accounts} deleted accounts ({swept.messages_purged} messages), "
        f"archived {swept.messages_expired} expired messages, dropped {swept.archive_purged} archive entries"
    )


def replay(settings: Settings, name: str, until: int | None, at: str | None = None, block: str | None = None) -> None:
    system = _system(settings)
    if name not in system.projections.projections:
        raise SystemExit(f"unknown read model {name!r}; known: {', '.join(system.projections.projections)}")
    if at is not None or block is not None:
        from chainmail.audit import replay_bound

        until = replay_bound(system, name, _as_of(at, block))
        console.print(f"{name}: as of {at or block} is notification {until}")
    columns = (TextColumn("replaying {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(name, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = system.projections.replay(name, until=until, progress=advance)
    system.close()
    where = ", ".join(f"{live} -> {built}" for live, built in result.tables.items())
    console.print(f"{name}: {result.events} events applied; {'swapped in' if result.swapped else 'built'} ({where})")


def _as_of(at: str | None, block: str | None) -> AsOf:
    from chainmail.audit import AsOf, parse_block, parse_time

    if block is not None:
        chain_id, number = parse_block(block)
        return AsOf(chain_id=chain_id, block=number)
    return AsOf(at=parse_time(at) if at is not None else None)


def audit(settings: Settings, wallet: str, at: str | None, block: str | None) -> None:
    """Print a wallet's points, mails and delegations as of a time or a block, each traced to its event."""
    from chainmail.audit import audit_wallet

    system = _system(settings)
    try:
        for line in audit_wallet(system, wallet, _as_of(at, block)):
            print(line)
    finally:
        system.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="chainmail",
        description="The back end of a wallet-based mail service: a WildDuck-compatible API and the indexer.",
    )
    config_help = "a TOML file of settings (environment variables still win)"
    parser.add_argument("--config", help=config_help)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the HTTP API under gunicorn")
    serve_cmd.add_argument("--migrate", action="store_true", help="migrate the schema first if it is behind")
    up_cmd = commands.add_parser(
        "up", help="run the API, projections, indexer (if chains are configured), delivery and SMTP, supervised"
    )
    up_cmd.add_argument("--smtp-host", default="127.0.0.1", help="address the SMTP receiver listens on")
    up_cmd.add_argument("--smtp-port", type=int, default=2525, help="port the SMTP receiver listens on (2525)")
    up_cmd.add_argument(
        "--without", action="append", default=[], choices=("index", "deliver", "smtp"), help="leave one service out"
    )
    commands.add_parser("migrate", help="create or upgrade the database schema")
    commands.add_parser("project", help="keep all read models caught up with the event store")
    commands.add_parser("purge", help="purge deleted accounts, expired messages and old archive entries now")
    index_cmd = commands.add_parser("index", help="index the configured EVM chains (Mailer, 3DNS) until stopped")
    index_cmd.add_argument("--chain", type=int, action="append", help="only this chain id (repeatable)")
    replay_cmd = commands.add_parser("replay", help="rebuild one read model from the first event")
    replay_cmd.add_argument("name", help="the read model, e.g. users")
    bound = replay_cmd.add_mutually_exclusive_group()
    bound.add_argument(
        "--until", type=int, help="stop at this notification id and keep the tables beside the live ones"
    )
    bound.add_argument("--at", help="as --until, at the last event at or before this time (ISO 8601 or Unix seconds)")
    bound.add_argument("--block", help="as --until, at the last event at or before block CHAIN:N")
    audit_cmd = commands.add_parser("audit", help="a wallet's points, mails and delegations as of a time or block")
    audit_of = audit_cmd.add_subparsers(dest="audit_of", required=True)
    wallet_cmd = audit_of.add_parser("wallet", help="points with their ledger, mails, delegations, traced to events")
    wallet_cmd.add_argument("address")
    when = wallet_cmd.add_mutually_exclusive_group()
    when.add_argument("--at", help="a time (ISO 8601 or Unix seconds); default now")
    when.add_argument("--block", help="a block, CHAIN:N")
    oauth_cli.add_parser(commands)
    acme_cli.add_parser(commands)
    mail_cli.add_parsers(commands)
    for subcommand in commands.choices.values():  # `--config` also after the subcommand: `chainmail migrate --config f`
        subcommand.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    configure_logging(settings.log_level)
    if args.command == "serve":
        serve(settings, migrate_first=args.migrate)
    elif args.command == "up":
        up(settings, smtp_host=args.smtp_host, smtp_port=args.smtp_port, without=args.without)
    elif args.command == "migrate":
        migrate(settings)
    elif args.command == "project":
        project(settings)
    elif args.command == "purge":
        purge(settings)
    elif args.command in mail_cli.COMMANDS:
        mail_cli.run(settings, args, console)
    elif args.command == "index":
        from chainmail.indexer.worker import run_index

        run_index(settings, args.chain, console)
    elif args.command == "replay":
        replay(settings, args.name, args.until, args.at, args.block)
    elif args.command == "audit":
        audit(settings, args.address, args.at, args.block)
    elif args.command == "acme-challenge":
        system = _system(settings)
        try:
            status = acme_cli.run(system, args)
        finally:
            system.close()
        raise SystemExit(status)
    elif args.command == "oauth-client":
        system = _system(settings)
        try:
            oauth_cli.run(system, args)
        finally:
            system.close()


if __name__ == "__main__":
    main()
