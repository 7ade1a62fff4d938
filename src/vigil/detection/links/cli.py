"""``vigil links``: the cluster around one account, and figures for the whole graph."""

from __future__ import annotations

import typer
from sqlalchemy import select

from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.detection.links import service
from vigil.detection.links.schemas import REASON_TEXT
from vigil.kit.errors import VigilError

cli = typer.Typer(help="Linked accounts: clusters and why they are linked.", no_args_is_help=True)


@cli.command("cluster")
def cluster(
    external_id: str = typer.Argument(..., help="The marketplace's id of the account."),
    max_accounts: int = typer.Option(200, min=1, max=1000, help="Stop after this many accounts."),
    reveal: bool = typer.Option(False, "--reveal", help="Print identifier values unmasked."),
) -> None:
    """The accounts linked to one account and the shared values that explain it."""
    engine = make_engine(Settings())
    try:
        with transaction(make_sessionmaker(engine)) as session:
            account = accounts.account_by_external_id(session, external_id)
            found = service.cluster_for(session, account.id, max_accounts=max_accounts)
            external = {m.account.id: m.account.external_id for m in found.accounts}
            more = " (truncated: more are linked)" if found.truncated else ""
            typer.echo(f"{found.size} accounts, {found.banned} banned{more}")
            typer.echo(f"{'depth':>5}  {'account':<28}{'side':<12}{'status':<11}banned")
            for m in found.accounts:
                a = m.account
                typer.echo(
                    f"{m.depth:>5}  {a.external_id:<28}{a.side.value:<12}{a.status.value:<11}"
                    f"{'yes' if m.banned else ''}"
                )
            if found.links:
                typer.echo("\nlinked by")
            for link in found.links:
                value = link.raw_value if reveal else link.value
                why = "; ".join(REASON_TEXT[r] for r in link.reasons)
                names = ", ".join(external[i] for i in link.account_ids)
                typer.echo(f"  {link.kind.value:<9}{value:<32}{why}\n           {names}")
            for c in found.crowded:
                value = c.raw_value if reveal else c.value
                typer.echo(
                    f"not a link: {c.kind.value} {value} is on {c.at_least - 1}+ other accounts"
                )
    except VigilError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@cli.command("stats")
def stats(
    top: int = typer.Option(10, min=0, help="How many of the largest clusters to list."),
) -> None:
    """Cluster sizes over every account (reads the whole identifier table)."""
    engine = make_engine(Settings())
    try:
        with transaction(make_sessionmaker(engine)) as session:
            figures = service.graph_stats(session, top=top)
            rows = session.execute(
                select(Account.id, Account.external_id).where(
                    Account.id.in_([first for _s, _b, first in figures.largest])
                )
            )
            names = {account_id: external_id for account_id, external_id in rows}
            largest = [(size, banned, names[first]) for size, banned, first in figures.largest]
    finally:
        engine.dispose()
    share = figures.linked_accounts / figures.accounts if figures.accounts else 0.0
    typer.echo(
        f"{figures.accounts} accounts, {figures.linked_accounts} in a cluster of two or more "
        f"({share:.1%})"
    )
    typer.echo(f"\n{'size':<6}{'clusters':>9}{'accounts':>10}{'banned':>8}")
    for label, (clusters, count, banned) in figures.by_size.items():
        typer.echo(f"{label:<6}{clusters:>9}{count:>10}{banned:>8}")
    typer.echo("\nshared values (not crowded) and crowded values, by kind")
    for kind in sorted(set(figures.shared_values) | set(figures.crowded_values)):
        typer.echo(
            f"  {kind:<9}{figures.shared_values.get(kind, 0):>7} shared"
            f"{figures.crowded_values.get(kind, 0):>7} crowded"
        )
    if largest:
        typer.echo("\nlargest clusters")
    for size, banned, external_id in largest:
        typer.echo(f"  {size:>5} accounts, {banned:>3} banned, e.g. {external_id}")
