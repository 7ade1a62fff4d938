"""The sandbox that user-facing messages are rendered in, and the shipped template files.

Templates are written by policy leads and reviewers, so they run in Jinja2's
``SandboxedEnvironment`` with ``StrictUndefined``: a template can read only the context keys
listed in :data:`CONTEXT_KEYS`, call none of Python, and never render a blank where a value
was expected. A template is checked twice: when it is saved (every variable it reads must be a
context key, :func:`validate`) and when it is rendered (every key it reads must be filled,
:func:`render_source`). Either refusal is ``InvalidInput(code="template_variable_missing")``.

Shipped templates are package files under ``templates/<locale>/``; policy leads override
them per ``(policy, action, locale)`` in the database (``MessageTemplate``, every version
kept). ``docs/messages.md`` describes the file format and the lookup order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from jinja2 import (
    StrictUndefined,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
)
from jinja2.exceptions import SecurityError, TemplateError
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.communications import sandbox
from vigil.communications.models import MessageTemplate, MessageTemplateVersion
from vigil.communications.sandbox import (
    MAX_RENDERED_CHARS,
    Sandbox,
    TemplateTooCostly,
    TemplateTooLarge,
)
from vigil.dsa.service import RESTRICTION_WORDS
from vigil.dsa.vocabulary import DecisionGround
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, VersionConflict
from vigil.policies import service as policies
from vigil.policies.actions import ActionType, Scope

# Every template may read these and nothing else (the contract with enforcement, which fills
# them). ``statement`` is a dict (see ``vigil.dsa.service.template_context``) or None.
# ``reference`` is what the user is asked to quote: the statement of reasons' reference
# ("SOR-42") when the decision has one (also in a reinstatement), else ``case_ref``.
# ``appeal`` is a dict in an appeal's outcome message (``appeal_*`` actions: ``ref``,
# ``outcome``, ``reason``, ``decided_on``, ``original_reference``, ``new_reference``,
# ``new_action``, ``new_scope``, ``new_ends_at``; ``in_force`` and ``ended``, the appealed
# decision's actions that still held when it was heard and those that had already ended, each
# ``{action, scope, ends_at}`` plus ``ended_on`` and ``how`` (expired / lifted) for the ended;
# ``other_measures``, whether other restrictions still hold on the account after an overturn),
# None in every other message.
CONTEXT_KEYS: frozenset[str] = frozenset(
    {
        "user_name",
        "marketplace",
        "policy_title",
        "policy_explanation",
        "action",
        "scope",
        "ends_at",
        "duration_days",
        "case_ref",
        "reference",
        "appeal_url",
        "appeal_deadline",
        "statement",
        "appeal",
    }
)

LOCALES: tuple[str, ...] = ("en", "es", "pt")
DEFAULT_LOCALE = "en"

# An appeal's outcome, told to the user who appealed: the decision stands (``appeal_upheld``),
# was reversed (``appeal_overturned``: instead of the generic ``reinstate``), or was replaced by
# another (``appeal_modified``). The context's ``appeal`` says what was decided and why.
APPEAL_ACTIONS: tuple[str, ...] = ("appeal_upheld", "appeal_overturned", "appeal_modified")

# Template "actions": the decision's ActionType, plus the message that follows a decision
# undone (``reinstate``: overturned, or its suspension or restriction over; the context's
# ``action`` says which action is undone) and the reporter's "we looked and found no
# violation" (``no_violation``).
TEMPLATE_ACTIONS: tuple[str, ...] = (
    *(a.value for a in ActionType),
    "reinstate",
    "no_violation",
    *APPEAL_ACTIONS,
)
STATEMENT = "statement"

MAX_SUBJECT_CHARS = 300
MAX_BODY_CHARS = 20_000
MAX_REASON_CHARS = 4_000

_SAFE_FILTERS = (
    "capitalize",
    "default",
    "first",
    "int",
    "join",
    "last",
    "length",
    "lower",
    "replace",
    "string",
    "title",
    "trim",
    "truncate",
    "upper",
    "wordwrap",
)


def _environment() -> Sandbox:
    env = Sandbox(
        undefined=StrictUndefined,
        autoescape=False,  # plain text: an email body is not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    # Only a few filters that shape text; no globals at all (``range``, ``lipsum``,
    # ``namespace``...), so a template's every name is a context key or its own ``set``.
    env.filters = {name: env.filters[name] for name in _SAFE_FILTERS}
    env.filters.update(replace=sandbox.replace, join=sandbox.join, wordwrap=sandbox.wordwrap)
    env.globals.clear()
    return env


ENV = _environment()


def _refuse_syntax(exc: TemplateSyntaxError, field: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: template syntax error on line {exc.lineno}: {exc.message}",
        field=field,
        code="template_syntax_error",
        details=[{"line": exc.lineno, "error": exc.message}],
    )


def _missing(names: list[str], field: str, why: str) -> InvalidInput:
    listed = ", ".join(names)
    return InvalidInput(
        f"{field}: {why}: {listed}",
        field=field,
        code="template_variable_missing",
        details=[{"variable": n} for n in names],
    )


def _parse(source: str, field: str) -> nodes.Template:
    try:
        return ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise _refuse_syntax(exc, field) from None


def variables(source: str, field: str = "body") -> set[str]:
    """The context keys a template reads (raises on a syntax error)."""
    tree = _parse(source, field)
    try:
        return set(meta.find_undeclared_variables(tree))
    except TemplateSyntaxError as exc:  # an unknown filter or test
        raise _refuse_syntax(exc, field) from None


# Tags that load another template: the environment has no loader (a message is one
# self-contained text), so they could only fail when rendered.
_LOADING_TAGS = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


def validate(source: str, field: str = "body") -> None:
    """Refuse a template that does not parse, loads another template, or reads a name that
    no context provides."""
    if any(True for _ in _parse(source, field).find_all(_LOADING_TAGS)):
        raise InvalidInput(
            f"{field}: a message template cannot include, extend or import other templates",
            field=field,
            code="template_unsafe",
        )
    unknown = sorted(variables(source, field) - CONTEXT_KEYS)
    if unknown:
        raise _missing(unknown, field, "the template uses variables no message context has")
    try:
        _compiled(source)  # unknown filters and tests are found only when compiling
    except TemplateSyntaxError as exc:
        raise _refuse_syntax(exc, field) from None


@lru_cache(maxsize=512)
def _compiled(source: str) -> Any:
    return ENV.from_string(source)


_BLANK_RUNS = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """Trailing spaces off every line, at most one blank line in a row, no blank ends:
    conditionals in a template leave gaps that a reader should not see."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def with_reference(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """``context`` with ``reference`` filled when the caller left it out: the statement's
    reference when there is a statement, else ``case_ref`` (so a context written before the
    key existed renders as it did)."""
    if "reference" in context:
        return context
    statement = context.get("statement")
    found = statement.get("reference") if isinstance(statement, Mapping) else None
    found = found or context.get("case_ref")
    return {**context, "reference": found} if found is not None else context


def _render_capped(template: Any, values: dict[str, Any]) -> str:
    """Render chunk by chunk, stopping at :data:`MAX_RENDERED_CHARS` (a loop can repeat any
    value; each value is already capped by the sandbox)."""
    chunks: list[str] = []
    size = 0
    with sandbox.budget():
        for chunk in template.generate(values):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise TemplateTooLarge(f"the output would be over {MAX_RENDERED_CHARS} characters")
            chunks.append(chunk)
    return "".join(chunks)


def render_source(source: str, context: Mapping[str, Any], field: str = "body") -> str:
    """Render ``source`` with only the known context keys; refuse on anything unfilled."""
    validate(source, field)
    values = {k: v for k, v in with_reference(context).items() if k in CONTEXT_KEYS}
    try:
        text = _render_capped(_compiled(source), values)
    except UndefinedError as exc:
        names = sorted(variables(source, field) - values.keys()) or [str(exc.message)]
        raise _missing(names, field, "the message context lacks") from None
    except TemplateTooLarge as exc:
        raise InvalidInput(
            f"{field}: the template would render something too large: {exc}",
            field=field,
            code="template_too_large",
        ) from None
    except (TemplateTooCostly, RecursionError) as exc:
        # A macro calling itself without end reaches Python's recursion limit before the
        # step budget when each call is cheap; both mean the same to the author.
        raise InvalidInput(
            f"{field}: the template does too much work to render: {exc}",
            field=field,
            code="template_too_costly",
        ) from None
    except SecurityError as exc:
        raise InvalidInput(
            f"{field}: the template tried something the sandbox forbids: {exc}",
            field=field,
            code="template_unsafe",
        ) from None
    except TemplateSyntaxError as exc:  # pragma: no cover - validate() parsed it already
        raise _refuse_syntax(exc, field) from None
    except TemplateError as exc:
        raise InvalidInput(
            f"{field}: the template could not be rendered: {exc}",
            field=field,
            code="template_render_error",
        ) from None
    return tidy(text)


def template_path(policy_code: str | None, action: str, locale: str) -> str:
    return f"{locale}/{policy_code}/{action}" if policy_code else f"{locale}/{action}"


def check_action(action: str, field: str = "action") -> str:
    if action not in TEMPLATE_ACTIONS:
        raise InvalidInput(
            f"unknown message action {action!r}; expected one of {', '.join(TEMPLATE_ACTIONS)}",
            field=field,
            code="unknown_action",
        )
    return action


# --- shipped templates ----------------------------------------------------------------------


@dataclass(frozen=True)
class ShippedTemplate:
    """One package file: ``templates/<locale>/<action>.txt`` (generic) or
    ``templates/<locale>/<policy_code>/<action>.txt`` (one policy's wording). The first line
    is ``Subject: ...``, then a blank line, then the body. The statement template has no
    subject line."""

    locale: str
    action: str
    policy_code: str | None
    subject: str
    body: str

    @property
    def key(self) -> str:
        middle = f"{self.policy_code}/" if self.policy_code else ""
        return f"shipped:{self.locale}/{middle}{self.action}"


def parse_file(text: str, *, name: str, with_subject: bool = True) -> tuple[str, str]:
    """Split a template file into subject and body."""
    text = text.replace("\r\n", "\n")
    if not with_subject:
        return "", text.strip("\n")
    first, sep, rest = text.partition("\n")
    if not first.startswith("Subject:") or not sep:
        raise ValueError(f"{name}: the first line must be 'Subject: ...'")
    return first.removeprefix("Subject:").strip(), rest.strip("\n")


def _template_root() -> Any:
    return resources.files("vigil.communications") / "templates"


@lru_cache(maxsize=1)
def shipped() -> dict[tuple[str | None, str, str], ShippedTemplate]:
    """Every shipped template by ``(policy_code, action, locale)``, read once per process."""
    found: dict[tuple[str | None, str, str], ShippedTemplate] = {}
    root = _template_root()
    for locale in LOCALES:
        folder = root / locale
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.is_dir():
                for file in entry.iterdir():
                    _add_file(found, file, locale, entry.name)
            else:
                _add_file(found, entry, locale, None)
    return found


def _add_file(
    found: dict[tuple[str | None, str, str], ShippedTemplate],
    file: Any,
    locale: str,
    policy_code: str | None,
) -> None:
    if not file.name.endswith(".txt"):
        return
    action = file.name.removesuffix(".txt")
    if action not in TEMPLATE_ACTIONS and not (action == STATEMENT and policy_code is None):
        raise ValueError(f"shipped template {locale}/{file.name}: unknown action {action!r}")
    subject, body = parse_file(
        file.read_text(encoding="utf-8"),
        name=f"{locale}/{file.name}",
        with_subject=action != STATEMENT,
    )
    found[(policy_code, action, locale)] = ShippedTemplate(
        locale, action, policy_code, subject, body
    )


# --- sample context (previews, `vigil messages check`) ---------------------------------------

_SAMPLE_POLICY = {
    "en": (
        "Payments outside the platform",
        "Payments for work found on the marketplace must go through the marketplace. Asking "
        "for, offering or accepting payment by other means takes away the buyer protection "
        "both sides rely on.",
    ),
    "es": (
        "Pagos fuera de la plataforma",
        "Los pagos por trabajos contratados en el marketplace deben hacerse a través del "
        "marketplace. Pedir, ofrecer o aceptar pagos por otros medios elimina la protección "
        "de la que dependen ambas partes.",
    ),
    "pt": (
        "Pagamentos fora da plataforma",
        "Pagamentos por trabalhos contratados no marketplace devem passar pelo marketplace. "
        "Pedir, oferecer ou aceitar pagamento por outros meios elimina a proteção com que as "
        "duas partes contam.",
    ),
}
_SAMPLE_DATES = {
    "en": ("November 28, 2026", "May 23, 2027"),
    "es": ("28 de noviembre de 2026", "23 de mayo de 2027"),
    "pt": ("28 de novembro de 2026", "23 de maio de 2027"),
}
SAMPLE_SCOPE = {
    "warn": "account",
    "restrict": "payouts",
    "suspend": "account",
    "remove": "listing",
    "ban": "account",
    "reinstate": "account",
    "no_violation": "account",
    "appeal_upheld": "account",
    "appeal_overturned": "account",
    "appeal_modified": "account",
}

_SAMPLE_APPEAL_REASONS = {
    "en": "The messages show that the client proposed the outside payment and you declined.",
    "es": "Los mensajes muestran que el cliente propuso el pago externo y tú lo rechazaste.",
    "pt": "As mensagens mostram que o cliente propôs o pagamento externo e você recusou.",
}


def sample_appeal(locale: str, action: str) -> dict[str, Any] | None:
    """The ``appeal`` key of a sample context: filled for the appeal outcome messages."""
    if action not in APPEAL_ACTIONS:
        return None
    modified = action == "appeal_modified"
    return {
        "ref": "A-7",
        "outcome": action.removeprefix("appeal_"),
        "reason": _SAMPLE_APPEAL_REASONS.get(locale, _SAMPLE_APPEAL_REASONS[DEFAULT_LOCALE]),
        "decided_on": _SAMPLE_DATES.get(locale, _SAMPLE_DATES[DEFAULT_LOCALE])[0],
        "original_reference": "SOR-42",
        "new_reference": "SOR-43" if modified else "",
        "new_action": "warn" if modified else "",
        "new_scope": "account" if modified else "",
        "new_ends_at": "",
        "in_force": [{"action": "suspend", "scope": "account", "ends_at": ""}],
        "ended": [],
        "other_measures": False,
    }


def sample_context(
    locale: str, action: str = "suspend", *, scope: str | None = None
) -> dict[str, Any]:
    """A full, realistic context for previews and checks."""
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    title, explanation = _SAMPLE_POLICY[locale]
    ends_at, deadline = _SAMPLE_DATES[locale]
    takes_end = action in {"suspend", "restrict"}
    with_statement = action not in {"warn", "reinstate", "no_violation", *APPEAL_ACTIONS}
    return {
        "user_name": "Alex Morgan",
        "marketplace": "Example Market",
        "policy_title": title,
        "policy_explanation": explanation,
        "action": action,
        "scope": scope or SAMPLE_SCOPE.get(action, "account"),
        "ends_at": ends_at if takes_end else "",
        "duration_days": 7 if takes_end else 0,
        "case_ref": "C-1234",
        "reference": (
            "SOR-42"
            if with_statement or action == "reinstate" or action in APPEAL_ACTIONS
            else "C-1234"
        ),
        "appeal": sample_appeal(locale, action),
        "appeal_url": "https://market.example/appeals",
        "appeal_deadline": deadline,
        "statement": (
            None
            if not with_statement
            else {
                "reference": "SOR-42",
                "facts": "On 20 November 2026 the account asked a client to pay by bank "
                "transfer outside the marketplace, in messages sent through the platform.",
                "ground": "Terms of Service, section 7: payments stay on the platform",
                "automated_detection": True,
                "automated_decision": False,
                "ends_at": "2026-11-28" if takes_end else None,
                "restrictions": ["account suspended"],
            }
        ),
    }


_SAMPLE_FACTS = {
    "en": "[Here the user reads the facts the reviewer states, for example: {example}]",
    "es": "[Aquí el usuario lee los hechos que indica quien revisa, por ejemplo: {example}]",
    "pt": "[Aqui o usuário lê os fatos que quem analisa informa, por exemplo: {example}]",
}


def sample_statement(
    session: Session,
    sample: Mapping[str, Any],
    policy_code: str,
    language: str,
    action: str,
    scope: str,
) -> dict[str, Any]:
    """The sample statement of a preview without a case, for the chosen policy: its own
    ground (the terms clause as the user reads it, or the law) and an example of what it
    forbids as the facts, not the generic sample's fee-circumvention story."""
    version = policies.resolve(session, policy_code, field="policy_code")
    if version.dsa_ground == DecisionGround.ILLEGAL_CONTENT and version.legal_ground:
        ground = version.legal_ground
    else:
        grounds = version.user_ground or {}
        ground = grounds.get(language) or grounds.get(DEFAULT_LOCALE) or version.tos_ground
    examples = version.examples_not_allowed or [version.description]
    facts = _SAMPLE_FACTS.get(language, _SAMPLE_FACTS[DEFAULT_LOCALE]).format(
        example=examples[0].rstrip(".")
    )
    words = (
        RESTRICTION_WORDS.get((ActionType(action), Scope(scope))) if _known(action, scope) else None
    )
    return {
        **sample,
        "ground": ground,
        "facts": facts,
        "restrictions": [words] if words else list(sample.get("restrictions") or []),
    }


def _known(action: str, scope: str) -> bool:
    return action in ActionType.__members__ and scope in Scope.__members__


# --- template overrides ---------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateEntry:
    """A template as policy leads see it: a shipped file or a database override."""

    source: str  # "shipped" | "override"
    key: str  # "shipped:es/suspend", or the override's path "es/suspend"
    policy_code: str | None
    action: str
    locale: str
    subject: str
    body: str
    id: int | None = None
    version: int | None = None
    active: bool = True
    overridden_by: int | None = None  # shipped: the active override with the same path
    change_reason: str | None = None
    created_by_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


def list_templates(
    session: Session,
    *,
    locale: str | None = None,
    action: str | None = None,
    policy_code: str | None = None,
) -> list[TemplateEntry]:
    """Every shipped template and every override, shipped first, each sorted by path. The
    key space is bounded (policies x actions x locales), so this is one list, not pages."""
    query = select(MessageTemplate).order_by(MessageTemplate.key)
    if locale:
        query = query.where(MessageTemplate.locale == locale)
    if action:
        query = query.where(MessageTemplate.action == action)
    if policy_code:
        query = query.where(MessageTemplate.policy_code == policy_code)
    overrides = list(session.scalars(query))
    active = {t.key: t.id for t in overrides if t.active}
    entries: list[TemplateEntry] = []
    for (code, act, loc), file in sorted(shipped().items(), key=lambda kv: kv[1].key):
        if (locale and loc != locale) or (action and act != action):
            continue
        if policy_code and code != policy_code:
            continue
        entries.append(
            TemplateEntry(
                "shipped",
                file.key,
                code,
                act,
                loc,
                file.subject,
                file.body,
                overridden_by=active.get(template_path(code, act, loc)),
            )
        )
    entries.extend(override_entry(t) for t in overrides)
    return entries


def override_entry(t: MessageTemplate) -> TemplateEntry:
    return TemplateEntry(
        "override",
        t.key,
        t.policy_code,
        t.action,
        t.locale,
        t.subject,
        t.body,
        id=t.id,
        version=t.version,
        active=t.active,
        change_reason=t.change_reason,
        created_by_id=t.created_by_id,
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def check_template_text(subject: str, body: str, action: str, locale: str) -> tuple[str, str]:
    """Refuse a template that would fail when used: syntax, unknown variables, a subject
    over one line, and a trial render with a full sample context for every scope."""
    subject = (subject or "").strip()
    body = (body or "").strip()
    if not subject:
        raise InvalidInput("subject is required", field="subject", code="subject_required")
    if not body:
        raise InvalidInput("body is required", field="body", code="body_required")
    if len(subject) > MAX_SUBJECT_CHARS or "\n" in subject:
        raise InvalidInput(
            f"subject must be one line of at most {MAX_SUBJECT_CHARS} characters",
            field="subject",
            code="subject_invalid",
        )
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(
            f"body is longer than {MAX_BODY_CHARS} characters", field="body", code="too_long"
        )
    validate(subject, "subject")
    validate(body, "body")
    for scope in ("account", "listing", "profile", "message", "payouts"):
        full = sample_context(locale, action, scope=scope)
        # A name may be empty, and a decision may come without a statement (a warning) or an
        # end date: a template must read fine in each case, not only with everything filled.
        for sample in (
            full,
            {**full, "user_name": ""},
            {**full, "statement": None},
            {**full, "ends_at": "", "duration_days": 0},
        ):
            render_source(subject, sample, "subject")
            render_source(body, sample, "body")
    return subject, body


def _reason(value: str | None) -> str:
    reason = (value or "").strip()
    if not reason:
        raise InvalidInput(
            "say why (change_reason)", field="change_reason", code="change_reason_required"
        )
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInput("change_reason is too long", field="change_reason", code="too_long")
    return reason


def check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise InvalidInput(
            f"locale must be one of {', '.join(LOCALES)}", field="locale", code="unsupported_locale"
        )
    return locale


def check_policy(session: Session, policy_code: str | None) -> str | None:
    if not policy_code:
        return None
    return policies.resolve(session, policy_code, field="policy_code").code


def _add_version(session: Session, t: MessageTemplate, actor: Principal) -> None:
    session.add(
        MessageTemplateVersion(
            template_id=t.id,
            version=t.version,
            subject=t.subject,
            body=t.body,
            active=t.active,
            created_by_id=actor.staff_id,
            change_reason=t.change_reason,
            created_at=clock.now(),
        )
    )


def create_template(
    session: Session,
    actor: Principal,
    *,
    policy_code: str | None,
    action: str,
    locale: str,
    subject: str,
    body: str,
    change_reason: str,
) -> MessageTemplate:
    """Override the shipped template of one (policy, action, locale) key."""
    check_action(action)
    check_locale(locale)
    if action == STATEMENT:  # pragma: no cover - not in TEMPLATE_ACTIONS
        raise InvalidInput("the statement of reasons is not editable", field="action")
    policy_code = check_policy(session, policy_code)
    reason = _reason(change_reason)
    subject, body = check_template_text(subject, body, action, locale)
    path = template_path(policy_code, action, locale)
    if session.scalar(select(MessageTemplate.id).where(MessageTemplate.key == path)) is not None:
        raise Conflict(
            f"an override of {path} exists; change it with PATCH",
            field="action",
            code="template_exists",
        )
    t = MessageTemplate(
        key=path,
        policy_code=policy_code,
        action=action,
        locale=locale,
        subject=subject,
        body=body,
        active=True,
        created_by_id=actor.staff_id,
        change_reason=reason,
    )
    session.add(t)
    session.flush()
    _add_version(session, t, actor)
    session.flush()
    audit.record(
        session,
        actor,
        "communications.template.create",
        "message_template",
        t.id,
        reason=reason,
        data={"key": path, "version": t.version},
    )
    return t


def update_template(
    session: Session,
    actor: Principal,
    template_id: int,
    *,
    change_reason: str,
    subject: str | None = None,
    body: str | None = None,
    active: bool | None = None,
    expected_version: int | None = None,
) -> MessageTemplate:
    """A new version of an override (text, or switched on or off); every version is kept."""
    t = session.scalar(
        select(MessageTemplate)
        .where(MessageTemplate.id == template_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if t is None:
        raise NotFound("no such template override", code="template_not_found")
    if expected_version is not None and expected_version != t.version:
        raise VersionConflict(
            f"the template is at version {t.version}, not {expected_version}",
            field="expected_version",
            code="version_conflict",
        )
    reason = _reason(change_reason)
    if subject is None and body is None and active is None:
        raise InvalidInput("nothing to change", field="body", code="no_change")
    new_subject, new_body = check_template_text(
        t.subject if subject is None else subject,
        t.body if body is None else body,
        t.action,
        t.locale,
    )
    changed = [
        name
        for name, old, new in (
            ("subject", t.subject, new_subject),
            ("body", t.body, new_body),
            ("active", t.active, t.active if active is None else active),
        )
        if old != new
    ]
    if not changed:
        raise InvalidInput("nothing changes", field="body", code="no_change")
    t.subject, t.body, t.change_reason = new_subject, new_body, reason
    if active is not None:
        t.active = active
    try:
        session.flush()  # bumps ``version`` (the mapper's version counter)
    except StaleDataError as exc:
        raise VersionConflict(
            "someone else changed this template; reload", code="version_conflict"
        ) from exc
    _add_version(session, t, actor)
    session.flush()
    audit.record(
        session,
        actor,
        "communications.template.update",
        "message_template",
        t.id,
        reason=reason,
        data={"key": t.key, "version": t.version, "changed": changed},
    )
    return t


def get_template(session: Session, template_id: int) -> MessageTemplate:
    t = session.get(MessageTemplate, template_id)
    if t is None:
        raise NotFound("no such template override", code="template_not_found")
    return t


def template_versions(session: Session, template_id: int) -> list[MessageTemplateVersion]:
    get_template(session, template_id)
    return list(
        session.scalars(
            select(MessageTemplateVersion)
            .where(MessageTemplateVersion.template_id == template_id)
            .order_by(MessageTemplateVersion.version)
        )
    )
