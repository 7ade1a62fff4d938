"""Messages to the marketplace's users: render from templates, send over channels, macros.

(Template overrides live in ``templating``; the email sending job in ``tasks``.)

Rules kept here:
- A message is rendered in the user's language (``es-MX`` -> ``es``, unknown -> ``en``) from
  the most specific template: (policy, action, locale) -> (any policy, action, locale) -> the
  same two in English. At each step a policy lead's active override beats the shipped file.
- Nothing with an unfilled variable leaves Vigil: rendering refuses a missing context key, and
  :func:`send` refuses text that still holds template markup.
- :func:`send` writes one ``Message`` per channel, a ``message_sent`` case event and an audit
  record per message, in the caller's transaction; delivery happens after commit (the email
  job, the webhook outbox).

Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from vigil.accounts.models import Account
from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases import states
from vigil.cases.models import Case, CaseEventKind, CaseType
from vigil.communications import channels as ch
from vigil.communications import templating
from vigil.communications.models import (
    Macro,
    Message,
    MessageChannel,
    MessageStatus,
    MessageTemplate,
)
from vigil.communications.templating import (
    DEFAULT_LOCALE,
    LOCALES,
    MAX_BODY_CHARS,
    MAX_SUBJECT_CHARS,
    STATEMENT,
)
from vigil.config import Settings
from vigil.integrations import service as integrations
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, VersionConflict
from vigil.kit.pagination import decode_cursor, encode_cursor
from vigil.policies import service as policies

MAX_STATEMENT_CHARS = 10_000
MAX_REASON_CHARS = 4_000
MAX_MACRO_NAME = 120
MAILER = Principal.system("mailer")
_MARKUP = ("{{", "{%", "{#")


# --- locales and dates --------------------------------------------------------------------------


def normalize_locale(locale: str | None) -> tuple[str, bool]:
    """The shipped language for an account's locale, and whether it fell back to English.
    ``pt-BR`` -> ``("pt", False)``; ``fr`` -> ``("en", True)``."""
    language = (locale or "").replace("_", "-").split("-", 1)[0].strip().lower()
    if language in LOCALES:
        return language, False
    return DEFAULT_LOCALE, True


_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
    "diciembre",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro "
    "dezembro",
}


def format_date(value: date | datetime, locale: str) -> str:
    """A date as a user reads it in their language: "November 28, 2026", "28 de noviembre de
    2026", "28 de novembro de 2026". Datetimes are taken in UTC."""
    if isinstance(value, datetime):
        value = clock.as_utc(value).date()
    language, _ = normalize_locale(locale)
    month = _MONTHS[language].split()[value.month - 1]
    if language == "en":
        return f"{month} {value.day}, {value.year}"
    return f"{value.day} de {month} de {value.year}"


# --- rendering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    statement_section: str  # not editable by the reviewer: statement of reasons + appeal
    locale: str  # the language actually used
    template_id: int | None  # the override's id; None for a shipped file or a macro
    fell_back: bool  # True when the user's language was not available
    template_key: str = ""  # provenance: "shipped:es/suspend", "override:es/suspend@v3"...


@dataclass(frozen=True)
class _Source:
    subject: str
    body: str
    locale: str
    template_id: int | None
    key: str


def _lookup(session: Session, policy_code: str | None, action: str, language: str) -> _Source:
    candidates: list[tuple[str | None, str]] = []
    for locale in dict.fromkeys((language, DEFAULT_LOCALE)):
        if policy_code:
            candidates.append((policy_code, locale))
        candidates.append((None, locale))
    paths = [templating.template_path(code, action, locale) for code, locale in candidates]
    overrides = {
        t.key: t
        for t in session.scalars(
            select(MessageTemplate).where(
                MessageTemplate.key.in_(paths), MessageTemplate.active.is_(True)
            )
        )
    }
    files = templating.shipped()
    for (code, locale), path in zip(candidates, paths, strict=True):
        override = overrides.get(path)
        if override is not None:
            return _Source(
                override.subject,
                override.body,
                locale,
                override.id,
                f"override:{path}@v{override.version}",
            )
        file = files.get((code, action, locale))
        if file is not None:
            return _Source(file.subject, file.body, locale, None, file.key)
    raise NotFound(f"no template for {action!r}", field="action", code="template_not_found")


def _one_line(subject: str) -> str:
    line = " ".join(subject.split())
    if len(line) > MAX_SUBJECT_CHARS:
        line = line[: MAX_SUBJECT_CHARS - 1].rstrip() + "…"
    return line


def render_statement(context: Mapping[str, Any], language: str) -> str:
    """The statement of reasons and how to appeal, from the locale's shipped file; "" when
    the context has no statement (a warning, a reinstatement)."""
    if not context.get("statement"):
        return ""
    files = templating.shipped()
    file = files.get((None, STATEMENT, language)) or files[(None, STATEMENT, DEFAULT_LOCALE)]
    return templating.render_source(file.body, context, field="message")


def render(
    session: Session,
    *,
    policy_code: str | None,
    action: str,
    locale: str,
    context: Mapping[str, Any],
) -> Rendered:
    """The message for ``action`` under ``policy_code`` in the user's language. Refuses
    (``template_variable_missing``, field ``message``) when the chosen template reads a
    context key that ``context`` lacks. Writes nothing."""
    templating.check_action(action)
    language, unknown = normalize_locale(locale)
    source = _lookup(session, policy_code, action, language)
    subject = templating.render_source(source.subject, context, field="message")
    body = templating.render_source(source.body, context, field="message")
    return Rendered(
        subject=_one_line(subject),
        body=body,
        statement_section=render_statement(context, source.locale),
        locale=source.locale,
        template_id=source.template_id,
        fell_back=unknown or source.locale != language,
        template_key=source.key,
    )


def _policy_text(
    session: Session, policy_code: str, language: str, *, field: str = "policy_code"
) -> tuple[str, str]:
    version = policies.resolve(session, policy_code, field=field)
    titles = version.user_title or {}
    explanations = version.user_explanation or {}
    title = titles.get(language) or titles.get(DEFAULT_LOCALE) or version.title
    explanation = explanations.get(language) or explanations.get(DEFAULT_LOCALE) or ""
    return title, explanation


def context_for_case(
    session: Session,
    settings: Settings,
    case: Case,
    account: Account | None,
    *,
    locale: str | None = None,
    policy_code: str | None = None,
    action: str = "",
) -> dict[str, Any]:
    """A context filled from what a case and its account already say: for macros, ad-hoc
    messages and previews. Decision-specific keys (end date, statement) are left empty."""
    language, _ = normalize_locale(locale or (account.locale if account else case.language))
    code = policy_code or case.policy_code
    title = explanation = ""
    if code:
        try:
            title, explanation = _policy_text(session, code, language)
        except InvalidInput:
            if policy_code:  # asked for by name: say it is unknown
                raise
    deadline = clock.now() + timedelta(days=settings.appeal_window_days)
    return {
        "user_name": (account.display_name or "") if account else "",
        "marketplace": settings.marketplace_name,
        "policy_title": title,
        "policy_explanation": explanation,
        "action": action,
        "scope": "account",
        "ends_at": "",
        "duration_days": 0,
        "case_ref": f"C-{case.id}",
        "reference": f"C-{case.id}",
        "appeal_url": settings.appeal_link,
        "appeal_deadline": format_date(deadline, language),
        "statement": None,
    }


def preview(
    session: Session,
    actor: Principal,
    settings: Settings,
    *,
    policy_code: str | None,
    action: str,
    locale: str | None = None,
    context: Mapping[str, Any] | None = None,
    case_id: int | None = None,
    scope: str | None = None,
) -> Rendered:
    """Render for a person to look at. The context is the case's (with ``case_id``) or a
    sample one (without), with ``context`` laid over it; a ``context`` given alone is used
    as it is, so a preview also shows what a context lacks."""
    templating.check_action(action)
    base: dict[str, Any] = {}
    if case_id is not None:
        case = cases.get_case(session, actor, case_id)
        account = session.get(Account, case.account_id) if case.account_id else None
        base = context_for_case(
            session,
            settings,
            case,
            account,
            locale=locale,
            policy_code=policy_code,
            action=action,
        )
        base["scope"] = scope or templating.SAMPLE_SCOPE.get(action, "account")
        locale = locale or (account.locale if account else case.language)
    elif context is None:
        base = templating.sample_context(normalize_locale(locale)[0], action, scope=scope)
        base["marketplace"] = settings.marketplace_name
        base["appeal_url"] = settings.appeal_link
        if policy_code:
            language = normalize_locale(locale)[0]
            base["policy_title"], base["policy_explanation"] = _policy_text(
                session, policy_code, language
            )
            if base.get("statement"):
                base["statement"] = templating.sample_statement(
                    session, base["statement"], policy_code, language, base["action"], base["scope"]
                )
    merged = {**base, **dict(context or {})}
    return render(
        session, policy_code=policy_code, action=action, locale=locale or "en", context=merged
    )


# --- sending --------------------------------------------------------------------------------


def _text(value: str, field: str, limit: int, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"{field} is required", field=field, code=f"{field}_required")
    if len(text) > limit:
        raise InvalidInput(
            f"{field} is longer than {limit} characters", field=field, code="too_long"
        )
    if any(mark in text for mark in _MARKUP):
        raise InvalidInput(
            f"{field} still contains template markup ({{{{, {{% or {{#}}): fill in or remove "
            "it before sending",
            field=field,
            code="unrendered_template",
        )
    return text


def _check_channels(names: Sequence[str]) -> list[str]:
    if not names:
        raise InvalidInput("choose at least one channel", field="channels", code="no_channel")
    chosen: list[str] = []
    for name in names:
        if ch.get(name) is None:
            raise InvalidInput(
                f"unknown channel {name!r}; expected one of {', '.join(ch.names())}",
                field="channels",
                code="unknown_channel",
            )
        if name not in chosen:
            chosen.append(name)
    return chosen


def _names_account(case: Case, account_id: int) -> bool:
    """Whether a dispute case names ``account_id`` as one of its two parties."""
    if case.type != CaseType.dispute:
        return False
    attributes = case.attributes or {}
    return account_id in (attributes.get("buyer_account_id"), attributes.get("seller_account_id"))


def send(
    session: Session,
    actor: Principal,
    *,
    account_id: int,
    case_id: int | None,
    decision_id: int | None,
    locale: str,
    subject: str,
    body: str,
    statement_section: str = "",
    channels: list[str],
    template_id: int | None = None,
    template_key: str | None = None,
    macro_id: int | None = None,
    any_case_account: bool = False,
) -> list[Message]:
    """Write and dispatch one message per channel. Everything is checked before anything is
    written: a refused send leaves no trace.

    ``any_case_account``: the case may be about another account than the recipient, when it
    names the recipient as one of its parties (a dispute's case is about the buyer and the
    seller, ``attributes.buyer_account_id`` / ``seller_account_id``, and writes to both)."""
    subject = _text(subject, "subject", MAX_SUBJECT_CHARS)
    if "\n" in subject or "\r" in subject:
        raise InvalidInput("subject must be one line", field="subject", code="subject_multiline")
    body = _text(body, "body", MAX_BODY_CHARS)
    statement_section = _text(
        statement_section, "statement_section", MAX_STATEMENT_CHARS, required=False
    )
    chosen = _check_channels(channels)
    language, _ = normalize_locale(locale)
    account = session.get(Account, account_id)
    if account is None:
        raise InvalidInput("no such account", field="account_id", code="account_not_found")
    case: Case | None = None
    if case_id is not None:
        case = cases.get_case(session, actor, case_id)
        if (
            case.account_id is not None
            and case.account_id != account.id
            and not (any_case_account and _names_account(case, account.id))
        ):
            raise InvalidInput(
                "the case is about another account",
                field="account_id",
                code="case_account_mismatch",
            )
    if any(channels_need_email(name) for name in chosen) and not account.email:
        raise InvalidInput(
            "the account has no email address", field="channels", code="no_email_address"
        )
    full_body = f"{body}\n\n{statement_section}" if statement_section else body
    now = clock.now()
    written: list[Message] = []
    for name in chosen:
        message = Message(
            account_id=account.id,
            case_id=case.id if case else None,
            decision_id=decision_id,
            channel=MessageChannel(name),
            locale=language,
            recipient=account.email if name == MessageChannel.email else None,
            subject=subject,
            body=full_body,
            status=MessageStatus.queued,
            attempts=0,
            template_id=template_id,
            template_key=template_key,
            macro_id=macro_id,
            created_by_id=actor.staff_id,
            created_at=now,
        )
        session.add(message)
        session.flush()
        channel = ch.get(name)
        assert channel is not None
        channel.dispatch(session, message, account)
        written.append(message)
    session.flush()
    for message in written:
        data = {
            "message_id": message.id,
            "channel": message.channel.value,
            "locale": message.locale,
            "subject": message.subject,
        }
        if case is not None:
            states.record_event(session, case, CaseEventKind.message_sent, actor=actor, data=data)
        audit.record(
            session,
            actor,
            "communications.message.send",
            "message",
            message.id,
            data={
                **data,
                "account_id": account.id,
                "case_id": message.case_id,
                "decision_id": decision_id,
                "template_id": template_id,
                "template_key": template_key,
                "macro_id": macro_id,
            },
        )
        if message.status is MessageStatus.failed:
            record_failure(session, message, case)
    session.flush()
    return written


def channels_need_email(name: str) -> bool:
    channel = ch.get(name)
    return bool(channel and channel.needs_email)


def send_to_case(
    session: Session,
    actor: Principal,
    settings: Settings,
    case_id: int,
    *,
    channels: list[str],
    macro_id: int | None = None,
    subject: str | None = None,
    body: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> list[Message]:
    """An ad-hoc message to the case's account (ask for information, confirm receipt): from
    a macro, rendered with the case's context, or free text. Free text sent with a
    ``macro_id`` is the reviewer's edit of that macro and is recorded as such."""
    case = cases.get_case(session, actor, case_id)
    if case.account_id is None:
        raise InvalidInput(
            "the case has no account to write to", field="case_id", code="case_has_no_account"
        )
    account = session.get(Account, case.account_id)
    assert account is not None
    locale = account.locale
    key: str | None = None
    if subject is None and body is None:
        if macro_id is None:
            raise InvalidInput(
                "give a macro_id, or a subject and a body", field="body", code="body_required"
            )
        macro = _active_macro(session, macro_id)
        ctx = context_for_case(
            session, settings, case, account, locale=macro.locale, policy_code=macro.policy_code
        )
        rendered = render_macro(session, macro.id, {**ctx, **dict(context or {})})
        subject, body, locale, key = (
            rendered.subject,
            rendered.body,
            rendered.locale,
            rendered.template_key,
        )
    elif macro_id is not None:
        macro = _active_macro(session, macro_id)
        locale, key = macro.locale, f"macro:{macro.id}@v{macro.version} (edited)"
    return send(
        session,
        actor,
        account_id=account.id,
        case_id=case.id,
        decision_id=None,
        locale=locale,
        subject=subject or "",
        body=body or "",
        channels=channels,
        template_key=key,
        macro_id=macro_id,
    )


def messages_for(
    session: Session, *, case_id: int | None = None, decision_id: int | None = None
) -> list[Message]:
    """Messages of a case or a decision, oldest first."""
    if case_id is None and decision_id is None:
        raise ValueError("give case_id or decision_id")
    query = select(Message).order_by(Message.id)
    if case_id is not None:
        query = query.where(Message.case_id == case_id)
    if decision_id is not None:
        query = query.where(Message.decision_id == decision_id)
    return list(session.scalars(query))


def case_messages(session: Session, actor: Principal, case_id: int) -> list[Message]:
    case = cases.get_case(session, actor, case_id)
    return messages_for(session, case_id=case.id)


def get_message(session: Session, actor: Principal, message_id: int) -> Message:
    """A message, if ``actor`` may see its case (a legal case's messages are not admitted
    to exist)."""
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound("no such message", code="message_not_found")
    if message.case_id is not None:
        try:
            cases.get_case(session, actor, message.case_id)
        except NotFound:
            raise NotFound("no such message", code="message_not_found") from None
    return message


def deliveries_by_message(session: Session, messages: Sequence[Message]) -> dict[int, list[Any]]:
    """The webhook deliveries of in-app messages, by message id (the integrations outbox
    owns them; a message's status says only that it was handed over)."""
    ids = [m.id for m in messages if m.channel is MessageChannel.in_app]
    if not ids:
        return {}
    found: dict[int, list[Any]] = {}
    for delivery in integrations.deliveries_for(session, "message", ids):
        found.setdefault(delivery.subject_id, []).append(delivery)
    return found


# --- failures -----------------------------------------------------------------------------


def record_failure(session: Session, message: Message, case: Case | None) -> None:
    if case is None and message.case_id is not None:
        case = session.get(Case, message.case_id)
    data = {
        "message_id": message.id,
        "channel": message.channel.value,
        "attempts": message.attempts,
    }
    if case is not None:
        states.record_event(
            session,
            case,
            CaseEventKind.message_failed,
            actor=MAILER,
            reason=(message.last_error or "")[:MAX_REASON_CHARS],
            data=data,
        )
    audit.record(
        session,
        MAILER,
        "communications.message.fail",
        "message",
        message.id,
        reason=(message.last_error or "")[:MAX_REASON_CHARS],
        data=data,
    )


# --- macros ---------------------------------------------------------------------------------


def _macro_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("name is required", field="name", code="name_required")
    if len(name) > MAX_MACRO_NAME:
        raise InvalidInput("name is too long", field="name", code="too_long")
    return name


def _name_taken(session: Session, name: str, locale: str, but: int | None = None) -> None:
    query = select(Macro.id).where(Macro.name == name, Macro.locale == locale)
    if but is not None:
        query = query.where(Macro.id != but)
    if session.scalar(query) is not None:
        raise Conflict(
            f"a macro named {name!r} exists in {locale}", field="name", code="macro_exists"
        )


def create_macro(
    session: Session,
    actor: Principal,
    *,
    name: str,
    locale: str,
    subject: str,
    body: str,
    policy_code: str | None = None,
) -> Macro:
    name = _macro_name(name)
    templating.check_locale(locale)
    policy_code = templating.check_policy(session, policy_code)
    subject, body = templating.check_template_text(subject, body, "warn", locale)
    _name_taken(session, name, locale)
    macro = Macro(
        name=name,
        locale=locale,
        policy_code=policy_code,
        subject=subject,
        body=body,
        active=True,
        created_by_id=actor.staff_id,
    )
    session.add(macro)
    session.flush()
    audit.record(
        session,
        actor,
        "communications.macro.create",
        "macro",
        macro.id,
        data={
            "name": name,
            "locale": locale,
            "policy_code": policy_code,
            "subject": subject,
            "body": body,
        },
    )
    return macro


def update_macro(
    session: Session,
    actor: Principal,
    macro_id: int,
    *,
    name: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    policy_code: str | None = None,
    clear_policy: bool = False,
    active: bool | None = None,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Macro:
    """Edit a macro. The audit record keeps the text before and after, so edits have a
    history even though macros have no version table."""
    macro = session.scalar(
        select(Macro)
        .where(Macro.id == macro_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if macro is None:
        raise NotFound("no such macro", code="macro_not_found")
    if expected_version is not None and expected_version != macro.version:
        raise VersionConflict(
            f"the macro is at version {macro.version}",
            field="expected_version",
            code="version_conflict",
        )
    new_name = macro.name if name is None else _macro_name(name)
    new_policy = macro.policy_code
    if clear_policy:
        new_policy = None
    elif policy_code is not None:
        new_policy = templating.check_policy(session, policy_code)
    new_subject, new_body = templating.check_template_text(
        macro.subject if subject is None else subject,
        macro.body if body is None else body,
        "warn",
        macro.locale,
    )
    if new_name != macro.name:
        _name_taken(session, new_name, macro.locale, but=macro.id)
    before = {
        "name": macro.name,
        "policy_code": macro.policy_code,
        "subject": macro.subject,
        "body": macro.body,
        "active": macro.active,
    }
    after = {
        "name": new_name,
        "policy_code": new_policy,
        "subject": new_subject,
        "body": new_body,
        "active": macro.active if active is None else active,
    }
    changed = {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}
    if not changed:
        raise InvalidInput("nothing changes", field="body", code="no_change")
    macro.name, macro.policy_code = new_name, new_policy
    macro.subject, macro.body, macro.active = new_subject, new_body, bool(after["active"])
    try:
        session.flush()
    except StaleDataError as exc:
        raise VersionConflict(
            "someone else changed this macro; reload", code="version_conflict"
        ) from exc
    audit.record(
        session,
        actor,
        "communications.macro.update",
        "macro",
        macro.id,
        reason=(reason or "").strip() or None,
        data={"version": macro.version, "changed": changed},
    )
    return macro


def get_macro(session: Session, macro_id: int) -> Macro:
    macro = session.get(Macro, macro_id)
    if macro is None:
        raise NotFound("no such macro", code="macro_not_found")
    return macro


def _active_macro(session: Session, macro_id: int) -> Macro:
    macro = session.get(Macro, macro_id)
    if macro is None or not macro.active:
        raise InvalidInput("no such active macro", field="macro_id", code="macro_not_found")
    return macro


def list_macros(
    session: Session,
    *,
    locale: str | None = None,
    policy_code: str | None = None,
    include_inactive: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Macro], str | None]:
    query = select(Macro).order_by(Macro.id).limit(limit + 1)
    if locale:
        query = query.where(Macro.locale == normalize_locale(locale)[0])
    if policy_code:
        query = query.where(Macro.policy_code == policy_code)
    if not include_inactive:
        query = query.where(Macro.active.is_(True))
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int) or isinstance(after, bool):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(Macro.id > after)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


def render_macro(session: Session, macro_id: int, context: Mapping[str, Any]) -> Rendered:
    """A macro's text with ``context`` filled in; refused like a template when a key it
    reads is missing. Writes nothing."""
    macro = get_macro(session, macro_id)
    subject = templating.render_source(macro.subject, context, field="message")
    body = templating.render_source(macro.body, context, field="message")
    return Rendered(
        subject=_one_line(subject),
        body=body,
        statement_section="",
        locale=macro.locale,
        template_id=None,
        fell_back=False,
        template_key=f"macro:{macro.id}@v{macro.version}",
    )


def render_macro_for(
    session: Session,
    actor: Principal,
    settings: Settings,
    macro_id: int,
    *,
    case_id: int | None = None,
    context: Mapping[str, Any] | None = None,
) -> Rendered:
    """:func:`render_macro` with the context of a case (``case_id``), or the given one, or a
    sample one; ``context`` is laid over the case's."""
    macro = get_macro(session, macro_id)
    base: dict[str, Any] = {}
    if case_id is not None:
        case = cases.get_case(session, actor, case_id)
        account = session.get(Account, case.account_id) if case.account_id else None
        base = context_for_case(
            session, settings, case, account, locale=macro.locale, policy_code=macro.policy_code
        )
    elif context is None:
        base = templating.sample_context(macro.locale, "warn")
    return render_macro(session, macro.id, {**base, **dict(context or {})})
