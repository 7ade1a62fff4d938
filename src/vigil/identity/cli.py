"""``vigil identity``: verifications from the command line (placeholder)."""

from __future__ import annotations

import typer

cli = typer.Typer(help="Identity verification.", no_args_is_help=True)
