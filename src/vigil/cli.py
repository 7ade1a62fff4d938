"""The ``vigil`` command. Each domain contributes its own sub-commands from ``<domain>/cli.py``."""

from __future__ import annotations

import logging
import sys
from importlib import import_module
from pathlib import Path

import typer

from vigil.config import Settings

app = typer.Typer(
    help="Vigil: Trust & Safety operations for online marketplaces.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

# (module, name) of each domain's Typer app; a module without ``cli`` is skipped.
SUBCOMMANDS = [
    ("vigil.auth.cli", "staff"),
    ("vigil.auth.cli_keys", "api-keys"),
    ("vigil.audit.cli", "audit"),
    ("vigil.cases.cli", "queues"),
    ("vigil.policies.cli", "policies"),
    ("vigil.dsa.cli", "dsa"),
    ("vigil.integrations.cli", "integrations"),
    ("vigil.communications.cli", "messages"),
    ("vigil.detection.cli", "events"),
    ("vigil.detection.rules.cli", "rules"),
    ("vigil.detection.text.cli", "models"),
    ("vigil.detection.links.cli", "links"),
    ("vigil.identity.cli", "identity"),
    ("vigil.screening.cli", "screening"),
    ("vigil.keys.cli", "keys"),
]
# Modules that add top-level commands (``vigil worker``, ``vigil simulate``).
TOP_LEVEL = ["vigil.jobs.cli", "vigil.simulate.cli", "vigil.privacy.cli"]


def settings() -> Settings:
    return Settings()


# Commands that work on a database without a schema (they create it, or need none).
NO_SCHEMA_NEEDED = {"db", "models"}
# Group commands that read only files (a marketplace engineer checks a batch without a Vigil).
NO_DATABASE_NEEDED = {("dsa", "validate"), ("events", "types"), ("simulate", "events")}


def _needs_schema(invoked: str | None) -> bool:
    if invoked in NO_SCHEMA_NEEDED:
        return False
    words = [a for a in sys.argv[1:] if not a.startswith("-")]
    return tuple(words[:2]) not in NO_DATABASE_NEEDED


@app.callback()
def main(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug output."),
) -> None:
    _configure_logging(verbose)
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    asking_help = "--help" in sys.argv[1:]
    needs_schema = _needs_schema(ctx.invoked_subcommand)
    if needs_schema and not ctx.resilient_parsing and not asking_help:
        _require_schema(settings())


def _configure_logging(verbose: bool) -> None:
    """VIGIL_LOG_FORMAT (text or json) and VIGIL_LOG_LEVEL for every command's logs; leaves
    logging alone when something else (a test runner) has set it up already."""
    from vigil.ops.logging import configure, is_configured_elsewhere

    if is_configured_elsewhere():
        return
    try:
        s = settings()
        log_format, level = s.log_format, s.log_level
    except Exception:  # invalid settings are reported by the command that reads them
        log_format, level = "text", "INFO"
    configure(log_format, "DEBUG" if verbose else level)


def _require_schema(s: Settings) -> None:
    """Say plainly when the database is missing or empty, instead of creating an empty
    SQLite file here and failing later with a traceback."""
    from vigil.db import make_engine
    from vigil.migrate import current

    if s.is_sqlite:
        path = s.database_url.split("///", 1)[-1]
        if path and path != ":memory:" and not Path(path).exists():
            typer.echo(
                f"No database at {Path(path).resolve()} (VIGIL_DATABASE_URL={s.database_url}). "
                "Run `vigil db upgrade` to create it, or run from the folder that holds ./var.",
                err=True,
            )
            raise typer.Exit(1)
    engine = make_engine(s)
    try:
        revision = current(engine)
    except Exception as exc:  # any failure to connect is reported the same way
        typer.echo(f"Cannot reach the database {engine.url!r}: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if revision is None:
        typer.echo("The database has no schema yet: run `vigil db upgrade` first.", err=True)
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from vigil.db import make_engine
    from vigil.migrate import current, upgrade

    engine = make_engine(settings())
    upgrade(engine, revision)
    typer.echo(f"database at revision {current(engine)}")
    engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision the database is at."""
    from vigil.db import make_engine
    from vigil.migrate import current

    engine = make_engine(settings())
    typer.echo(current(engine) or "empty (run `vigil db upgrade`)")
    engine.dispose()


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to bind (default VIGIL_HOST)."),
    port: int = typer.Option(None, help="Port (default VIGIL_PORT)."),
    worker: bool = typer.Option(
        None,
        "--worker/--no-worker",
        help="Run one in-process job worker (default VIGIL_SERVE_WORKER).",
    ),
) -> None:
    """Serve the API and the console."""
    import uvicorn

    from vigil.app import create_app

    s = settings()
    application = create_app(s, run_worker=worker)
    from vigil.ops.logging import uvicorn_log_settings

    uvicorn.run(
        application,
        host=host or s.host,
        port=port or s.port,
        log_level=s.log_level.lower(),
        proxy_headers=True,
        forwarded_allow_ips=s.forwarded_allow_ips or None,
        **uvicorn_log_settings(),
    )


def _register() -> None:
    for module_name, name in SUBCOMMANDS:
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        app.add_typer(module.cli, name=name)
    for module_name in TOP_LEVEL:
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(app)


_register()
