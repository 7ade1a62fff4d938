"""``vigil messages``: the shipped templates, a check that every one renders, a test email."""

from __future__ import annotations

from collections import defaultdict

import typer

from vigil.communications import channels as ch
from vigil.communications import service, templating
from vigil.communications.models import Message, MessageChannel
from vigil.config import Settings
from vigil.kit import clock

cli = typer.Typer(help="Messages to users: templates, checks, test email.", no_args_is_help=True)


@cli.command("templates")
def list_templates() -> None:
    """The shipped templates, one line per template with the locales it ships in."""
    by_path: dict[str, list[str]] = defaultdict(list)
    for (code, action, locale), _file in templating.shipped().items():
        path = f"{code}/{action}" if code else action
        by_path[path].append(locale)
    order = {a: i for i, a in enumerate((*templating.TEMPLATE_ACTIONS, templating.STATEMENT))}
    paths = sorted(by_path, key=lambda p: (p.rpartition("/")[0], order[p.rpartition("/")[2]]))
    width = max(len(p) for p in paths) + 2
    for path in paths:
        locales = sorted(by_path[path], key=templating.LOCALES.index)
        typer.echo(f"{path:<{width}}{' '.join(locales)}")
    counts: dict[str, int] = defaultdict(int)
    for _code, _action, locale in templating.shipped():
        counts[locale] += 1
    typer.echo(
        f"{len(templating.shipped())} files: "
        + ", ".join(f"{counts[loc]} {loc}" for loc in templating.LOCALES)
    )


def check_shipped() -> list[str]:
    """Render every shipped template in every scope, with and without a user name and a
    statement; returns the failures (an empty list: all good)."""
    problems: list[str] = []
    scopes = ("account", "listing", "profile", "message", "payouts")
    for (code, action, locale), file in sorted(
        templating.shipped().items(), key=lambda kv: kv[1].key
    ):
        # A reversal message is told which action it undoes (``action`` in its context).
        undoes = ("restrict", "suspend", "remove", "ban") if action == "reinstate" else (None,)
        for scope, undone in ((s, u) for s in scopes for u in undoes):
            for variant in ("full", "no_name", "no_statement", "no_end"):
                context = templating.sample_context(
                    locale, action if action != templating.STATEMENT else "suspend", scope=scope
                )
                if undone is not None:
                    context["action"] = undone
                if variant == "no_name":
                    context["user_name"] = ""
                elif variant == "no_statement" and action != templating.STATEMENT:
                    context["statement"] = None
                elif variant == "no_end":
                    context["ends_at"] = ""
                    context["duration_days"] = 0
                    if context["statement"]:
                        context["statement"] = {**context["statement"], "ends_at": None}
                try:
                    subject = templating.render_source(file.subject, context, "subject")
                    body = templating.render_source(file.body, context, "body")
                except Exception as exc:  # report every failure, whatever it is
                    problems.append(f"{file.key} ({scope}, {variant}): {exc}")
                    continue
                if action != templating.STATEMENT and not subject.strip():
                    problems.append(f"{file.key} ({scope}, {variant}): empty subject")
                if not body.strip():
                    problems.append(f"{file.key} ({scope}, {variant}): empty body")
        if code is not None and (None, action, locale) not in templating.shipped():
            problems.append(f"{file.key}: no generic {locale}/{action} to fall back on")
    for action in templating.TEMPLATE_ACTIONS:
        for locale in templating.LOCALES:
            if (None, action, locale) not in templating.shipped():
                problems.append(f"missing shipped template {locale}/{action}")
    for locale in templating.LOCALES:
        if (None, templating.STATEMENT, locale) not in templating.shipped():
            problems.append(f"missing shipped template {locale}/statement")
    return problems


@cli.command("check")
def check() -> None:
    """Render every shipped template x locale with a sample context; exit 1 on any failure."""
    problems = check_shipped()
    total = len(templating.shipped())
    if problems:
        for problem in problems:
            typer.echo(f"FAIL {problem}", err=True)
        typer.echo(f"{len(problems)} problem(s) in {total} shipped templates", err=True)
        raise typer.Exit(1)
    typer.echo(f"all {total} shipped templates render in every scope")


@cli.command("send-test")
def send_test(
    to: str = typer.Option(..., "--to", help="Where to send the test email."),
    locale: str = typer.Option("en", "--locale", help="en, es or pt (es-MX, pt-BR... work)."),
    action: str = typer.Option("suspend", "--action", help="Which template to use."),
) -> None:
    """Send a sample message straight through the configured SMTP server (no job, no
    database row): checks VIGIL_SMTP_* and shows what users receive."""
    settings = Settings()
    if action not in templating.TEMPLATE_ACTIONS:
        typer.echo(f"error: unknown action {action!r}", err=True)
        raise typer.Exit(2)
    language, fell_back = service.normalize_locale(locale)
    context = templating.sample_context(language, action)
    context["marketplace"] = settings.marketplace_name
    context["appeal_url"] = settings.appeal_link
    file = templating.shipped()[(None, action, language)]
    body = templating.render_source(file.body, context)
    statement = service.render_statement(context, language)
    message = Message(
        id=0,
        account_id=0,
        channel=MessageChannel.email,
        locale=language,
        recipient=to,
        subject="[test] " + templating.render_source(file.subject, context, "subject"),
        body=f"{body}\n\n{statement}" if statement else body,
        created_at=clock.now(),
    )
    try:
        ch.smtp_send(settings, ch.build_email(settings, message))
    except ch.ChannelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    note = " (fell back to en)" if fell_back else ""
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    typer.echo(f"sent {file.key}{note} to {to} through {where}")
