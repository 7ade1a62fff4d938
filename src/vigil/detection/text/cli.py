"""``vigil models``: train the text models, list the shipped ones, score or scan a text.

None of these commands needs a database: models are files, scoring is pure.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vigil.detection.text import classifiers, contacts
from vigil.detection.text.artifact import ArtifactError

cli = typer.Typer(
    help="Text models: contact details, scam/spam and abuse classifiers.", no_args_is_help=True
)

DEFAULT_DATA = Path("../shared/data/text")


def _directory(path: Path | None) -> Path | None:
    if path is not None and not path.is_dir():
        raise typer.BadParameter(f"{path} is not a folder", param_hint="--dir")
    return path


@cli.command("train")
def train(
    data: Path = typer.Option(
        DEFAULT_DATA, "--data", help="Folder holding sms_spam/ and offensive/."
    ),
    out: Path = typer.Option(
        None, "--out", help="Folder to write the artifacts to (default: the shipped ones)."
    ),
    model: list[str] = typer.Option(
        None, "--model", "-m", help="Train only this model (repeatable): scam, abuse."
    ),
) -> None:
    """Train the models from the data sets whose licence allows a shipped model, check the
    JSON scorer against scikit-learn, and write a new version of each model that changed."""
    from vigil.detection.text import train as training

    names = model or list(training.TRAINING_SETS)
    unknown = [n for n in names if n not in training.TRAINING_SETS]
    if unknown:
        raise typer.BadParameter(
            f"unknown model {unknown[0]!r} (known: {', '.join(training.TRAINING_SETS)})",
            param_hint="--model",
        )
    if not data.is_dir():
        typer.echo(f"No data folder at {data.resolve()}: pass --data.", err=True)
        raise typer.Exit(1)
    target = out or classifiers.shipped_dir()
    for name in names:
        try:
            result = training.train_model(name, data, target, log=typer.echo)
        except (training.TrainingError, ArtifactError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        held = result.artifact.metrics["held_out"]
        figures = (
            f"precision {held['precision']:.3f} recall {held['recall']:.3f} "
            f"F1 {held['f1']:.3f} at {held['threshold']:.3f}; parity {result.parity:.1e}"
        )
        if result.path is None:
            typer.echo(f"{name}: unchanged, same weights as v{result.previous} ({figures})")
        else:
            typer.echo(f"{name}: wrote {result.path} ({figures})")
    classifiers.load.cache_clear()


@cli.command("list")
def list_(
    directory: Path = typer.Option(None, "--dir", help="Artifacts folder (default: shipped)."),
) -> None:
    """Every model version with its held-out figures; the newest of each is used."""
    folder = _directory(directory)
    found = classifiers.available(folder)
    if not found:
        typer.echo("no text models (train them with `vigil models train`)")
        return
    base = folder or classifiers.shipped_dir()
    header = (
        f"{'model':<8}{'ver':>4}  {'trained':<20}{'rows':>7}{'thresh':>8}{'prec':>7}"
        f"{'recall':>7}{'F1':>7}{'AUC':>7}{'size':>9}  licence"
    )
    typer.echo(header)
    for name, versions in found.items():
        for version in reversed(versions):
            path = base / f"{name}-v{version}.json"
            try:
                model = classifiers.load_file(path)
            except ArtifactError as exc:
                typer.echo(f"{name:<8}{version:>4}  INVALID: {exc.field}: {exc.message}")
                continue
            held = model.metrics.get("held_out", {})
            art = model.artifact
            used = " *" if version == versions[-1] else ""
            auc = held.get("roc_auc")
            typer.echo(
                f"{name:<8}{version:>4}  {art.trained_at[:19]:<20}"
                f"{art.data.get('rows_used', 0):>7}{art.threshold:>8.3f}"
                f"{held.get('precision', 0):>7.3f}{held.get('recall', 0):>7.3f}"
                f"{held.get('f1', 0):>7.3f}{auc if auc is not None else 0:>7.3f}"
                f"{path.stat().st_size / 1e6:>8.1f}M  {art.data.get('licence', '?')}{used}"
            )
    typer.echo("* the version in use (the newest)")


@cli.command("score")
def score(
    name: str = typer.Argument(..., help="Model name: scam or abuse."),
    text: str = typer.Argument(..., help="The text to score."),
    directory: Path = typer.Option(None, "--dir", help="Artifacts folder (default: shipped)."),
) -> None:
    """Score TEXT with the newest version of model NAME."""
    try:
        model = classifiers.load(name, _directory(directory))
    except ValueError as exc:  # ArtifactError included
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if model is None:
        typer.echo(
            f"no model named {name!r} (available: {', '.join(classifiers.available(directory))})",
            err=True,
        )
        raise typer.Exit(1)
    value = model.score(text)
    verdict = "above" if value >= model.threshold else "below"
    typer.echo(
        f"{name} v{model.version}: {value:.4f} ({verdict} its threshold {model.threshold:.3f})"
    )


@cli.command("scan")
def scan(
    text: str = typer.Argument(..., help="The text to scan."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Contact details and off-platform solicitation in TEXT, and the models' scores."""
    result = contacts.scan(text)
    scores = {name: round(classifiers.score(name, text), 4) for name in classifiers.MODEL_NAMES}
    if as_json:
        typer.echo(json.dumps(result.to_dict() | {"models": scores}, ensure_ascii=False, indent=2))
        return
    typer.echo(f"off-platform score {result.score:.2f}{' (flagged)' if result.flagged else ''}")
    for label, values in (
        ("emails", result.emails),
        ("phones", result.phones),
        ("urls", result.urls),
        ("handles", result.handles),
        ("payment handles", result.payment_handles),
        ("payment apps", result.payment_apps),
        ("messaging apps", result.messaging_apps),
        ("phrases", result.off_platform_phrases),
    ):
        if values:
            typer.echo(f"  {label}: {', '.join(values)}")
    if result.obfuscated:
        typer.echo("  (disguised: found only after undoing the obfuscation)")
    typer.echo("  " + ", ".join(f"{name} {value:.3f}" for name, value in scores.items()))
