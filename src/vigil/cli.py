"""The ``vigil`` command. Each domain contributes its own sub-commands from ``<domain>/cli.py``."""

from __future__ import annotations

import logging
from importlib import import_module

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
]
# Modules that add top-level commands (``vigil worker``, ``vigil simulate``).
TOP_LEVEL = ["vigil.jobs.cli", "vigil.simulate.cli"]


def settings() -> Settings:
    return Settings()


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug output.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


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
    uvicorn.run(application, host=host or s.host, port=port or s.port, log_level="info")


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
