"""The public appeal intake: where the "you can appeal at ..." link in every message to a user
and every statement of reasons leads (``settings.appeal_link``, by default
``{base_url}/appeals``).

Nobody logs in here. A user proves the appeal is theirs with the reference from our message
(``SOR-<id>`` for a statement of reasons, ``C-<id>`` for a case) and the email address that
message went to. Every way that proof can fail (unknown reference, another email, no decision
that can be appealed, the window closed) gets the same answer, so the form tells a stranger
nothing about which accounts or decisions exist (a decision whose appeal was already decided
included). The rules themselves live in :mod:`vigil.appeals.service`: an accepted appeal is an
``Appeal`` heard on a case of type ``appeal`` in the specialist tier, one per decision; a
second submission while it is open is added to it.

The form is protected against cross-site posting by a signed double-submit token (the cookie
holds a random value, the form an HMAC of it under the secret key), and each client address
may post only a few times per window (counted in this process: see ``docs/enforcement.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from vigil.accounts.normalize import normalize_email
from vigil.api.deps import DB, AppSettings
from vigil.appeals import service as appeals
from vigil.appeals.models import AppealChannel, ContactPreference
from vigil.communications.service import normalize_locale
from vigil.config import Settings
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, VigilError
from vigil.web.render import templates

log = logging.getLogger("vigil.appeals")

router = APIRouter(include_in_schema=False)

SYSTEM = appeals.SYSTEM

LANGUAGES = ("en", "es", "pt")
LANGUAGE_NAMES = {"en": "English", "es": "Español", "pt": "Português"}
CONTACTS = ("email", "in_app")

MIN_TEXT = appeals.MIN_TEXT
MAX_TEXT = appeals.MAX_TEXT
MAX_REFERENCE = 40
MAX_EMAIL = 254
# A form of 5,000 characters percent-encoded as UTF-8 takes up to ~60 KB; nothing honest
# sends more.
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 12

# Posts per client address: enough for a person correcting a typo a few times, too few to try
# email addresses against a reference.
POSTS_PER_WINDOW = 10
RATE_WINDOW = timedelta(minutes=15)
# Addresses remembered at once; past this the oldest are forgotten first.
MAX_TRACKED_CLIENTS = 20_000

COOKIE = "vigil_appeal_csrf"
COOKIE_PATH = "/appeals"
COOKIE_MAX_AGE = 12 * 3600
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{43}$")

# "SOR-42", "sor 42", "#C-123", with the dashes word processors and phones put in.
_REFERENCE = re.compile(r"^#?\s*(SOR|C)\s*[-\u2010\u2011\u2013\u2014]?\s*#?\s*(\d{1,18})$")


# --- words -------------------------------------------------------------------------------------

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Appeal a decision",
        "brand": "{marketplace} · Trust & Safety",
        "lead": (
            "If we took a decision about your account or your content and you believe it is "
            "wrong, you can ask us to review it. Appealing is free of charge. Every appeal is "
            "reviewed by a person on our team who was not involved in the original decision, "
            "never by automated means alone."
        ),
        "window": (
            "You can appeal for {days} days after the decision; the message we sent you says "
            "until which date."
        ),
        "need_title": "What you need",
        "need_reference": (
            "The reference from our message: SOR-… (in the statement of reasons) or C-… (the case)."
        ),
        "need_email": "The email address our message was sent to.",
        "need_text": "Why you think the decision is wrong, in your own words.",
        "label_reference": "Reference",
        "hint_reference": "For example SOR-42 or C-123.",
        "label_email": "Email address",
        "hint_email": "The address our message was sent to.",
        "label_text": "Why should we look at this decision again?",
        "hint_text": (
            "Between {min} and {max} characters. Anything that helps us understand what "
            "happened: dates, order numbers, what was said."
        ),
        "label_contact": "How should we tell you the outcome?",
        "contact_email": "By email",
        "contact_in_app": "In my messages on {marketplace}",
        "submit": "Send appeal",
        "privacy": (
            "We use what you send only to review your appeal; it is kept with the record of "
            "the decision."
        ),
        "other_routes": (
            "You can also refer the decision to a certified out-of-court dispute settlement "
            "body, or take it to court."
        ),
        "errors_title": "Please check the form",
        "err_reference": (
            "Enter the reference as it appears in our message, for example SOR-42 or C-123."
        ),
        "err_email": "Enter the email address our message was sent to.",
        "err_text_short": "Please tell us a little more (at least {min} characters).",
        "err_text_long": "Please keep it to {max} characters or fewer.",
        "err_contact": "Choose how we should tell you the outcome.",
        "err_no_match": (
            "We could not match that reference and email address to a decision that can "
            "still be appealed. Please check both against the message we sent you. If they "
            "are right, the time to appeal this decision may have ended."
        ),
        "err_csrf": (
            "This form expired or was not sent from this page. Please fill it in and send it again."
        ),
        "err_rate": (
            "This form has been sent too many times from your connection. Please wait "
            "{minutes} minutes and try again."
        ),
        "err_too_large": "That is more than this form accepts. Please shorten your message.",
        "err_unavailable": (
            "We could not take your appeal just now. Nothing was saved; please try again later."
        ),
        "done_title": "We received your appeal",
        "done_lead": (
            "The reference of your appeal is {ref}. Please quote it if you write to us about "
            "this appeal."
        ),
        "done_repeat": (
            "You already have an open appeal about this decision, {ref}. We added what you "
            "sent to it."
        ),
        "next_title": "What happens next",
        "next_review": (
            "A specialist on our team who was not involved in the original decision reviews "
            "your appeal, together with the decision and the facts behind it."
        ),
        "next_outcome_email": "We will tell you the outcome, and why, by email.",
        "next_outcome_in_app": (
            "We will tell you the outcome, and why, in your messages on {marketplace}."
        ),
        "next_reverse": (
            "If the decision was wrong, we reverse it and undo what it did, such as lifting "
            "a suspension."
        ),
        "next_more": (
            "If you think of something else while your appeal is open, send this form again "
            "with the same reference: we add it to your appeal."
        ),
        "back": "Back to the appeal form",
        "language": "Language",
    },
    "es": {
        "title": "Apelar una decisión",
        "brand": "{marketplace} · Confianza y Seguridad",
        "lead": (
            "Si tomamos una decisión sobre tu cuenta o tu contenido y crees que es incorrecta, "
            "puedes pedirnos que la revisemos. Apelar es gratuito. Cada apelación la revisa "
            "una persona de nuestro equipo que no participó en la decisión original, nunca "
            "solo medios automatizados."
        ),
        "window": (
            "Puedes apelar durante {days} días después de la decisión; el mensaje que te "
            "enviamos indica hasta qué fecha."
        ),
        "need_title": "Qué necesitas",
        "need_reference": (
            "La referencia de nuestro mensaje: SOR-… (en la declaración de motivos) o C-… "
            "(el caso)."
        ),
        "need_email": "La dirección de correo a la que enviamos el mensaje.",
        "need_text": "Por qué crees que la decisión es incorrecta, con tus propias palabras.",
        "label_reference": "Referencia",
        "hint_reference": "Por ejemplo, SOR-42 o C-123.",
        "label_email": "Correo electrónico",
        "hint_email": "La dirección a la que enviamos nuestro mensaje.",
        "label_text": "¿Por qué deberíamos revisar esta decisión?",
        "hint_text": (
            "Entre {min} y {max} caracteres. Todo lo que nos ayude a entender lo que pasó: "
            "fechas, números de pedido, lo que se dijo."
        ),
        "label_contact": "¿Cómo quieres recibir la respuesta?",
        "contact_email": "Por correo electrónico",
        "contact_in_app": "En mis mensajes de {marketplace}",
        "submit": "Enviar apelación",
        "privacy": (
            "Usamos lo que nos envías solo para revisar tu apelación; se guarda junto con el "
            "registro de la decisión."
        ),
        "other_routes": (
            "También puedes someter la decisión a un órgano certificado de resolución "
            "extrajudicial de litigios o llevarla a los tribunales."
        ),
        "errors_title": "Revisa el formulario",
        "err_reference": (
            "Escribe la referencia tal como aparece en nuestro mensaje, por ejemplo SOR-42 o C-123."
        ),
        "err_email": "Escribe la dirección de correo a la que enviamos nuestro mensaje.",
        "err_text_short": "Cuéntanos un poco más (al menos {min} caracteres).",
        "err_text_long": "Usa como máximo {max} caracteres.",
        "err_contact": "Elige cómo quieres recibir la respuesta.",
        "err_no_match": (
            "No pudimos relacionar esa referencia y ese correo con una decisión que todavía "
            "se pueda apelar. Compara ambos con el mensaje que te enviamos. Si son correctos, "
            "es posible que el plazo para apelar esta decisión haya terminado."
        ),
        "err_csrf": (
            "Este formulario caducó o no se envió desde esta página. Complétalo y envíalo de nuevo."
        ),
        "err_rate": (
            "Este formulario se envió demasiadas veces desde tu conexión. Espera {minutes} "
            "minutos y vuelve a intentarlo."
        ),
        "err_too_large": "Es más de lo que acepta este formulario. Acorta tu mensaje.",
        "err_unavailable": (
            "No pudimos recibir tu apelación en este momento. No se guardó nada; inténtalo "
            "de nuevo más tarde."
        ),
        "done_title": "Recibimos tu apelación",
        "done_lead": (
            "La referencia de tu apelación es {ref}. Indícala si nos escribes sobre esta apelación."
        ),
        "done_repeat": (
            "Ya tienes una apelación abierta sobre esta decisión, {ref}. Añadimos a ella lo "
            "que nos enviaste."
        ),
        "next_title": "Qué pasa ahora",
        "next_review": (
            "Un especialista de nuestro equipo que no participó en la decisión original "
            "revisa tu apelación, junto con la decisión y los hechos en los que se basa."
        ),
        "next_outcome_email": "Te comunicaremos el resultado, y sus motivos, por correo.",
        "next_outcome_in_app": (
            "Te comunicaremos el resultado, y sus motivos, en tus mensajes de {marketplace}."
        ),
        "next_reverse": (
            "Si la decisión fue incorrecta, la revocamos y deshacemos sus efectos, por "
            "ejemplo levantando una suspensión."
        ),
        "next_more": (
            "Si recuerdas algo más mientras tu apelación está abierta, envía de nuevo este "
            "formulario con la misma referencia: lo añadimos a tu apelación."
        ),
        "back": "Volver al formulario de apelación",
        "language": "Idioma",
    },
    "pt": {
        "title": "Recorrer de uma decisão",
        "brand": "{marketplace} · Confiança e Segurança",
        "lead": (
            "Se tomamos uma decisão sobre a sua conta ou o seu conteúdo e você acredita que "
            "ela está errada, pode pedir que a revisemos. Recorrer é gratuito. Cada recurso é "
            "analisado por uma pessoa da nossa equipe que não participou da decisão original, "
            "nunca apenas por meios automatizados."
        ),
        "window": (
            "Você pode recorrer durante {days} dias após a decisão; a mensagem que enviamos "
            "indica até que data."
        ),
        "need_title": "O que você precisa",
        "need_reference": (
            "A referência da nossa mensagem: SOR-… (na declaração de motivos) ou C-… (o caso)."
        ),
        "need_email": "O endereço de e-mail para o qual enviamos a mensagem.",
        "need_text": "Por que você acha que a decisão está errada, com suas próprias palavras.",
        "label_reference": "Referência",
        "hint_reference": "Por exemplo, SOR-42 ou C-123.",
        "label_email": "Endereço de e-mail",
        "hint_email": "O endereço para o qual enviamos nossa mensagem.",
        "label_text": "Por que devemos analisar esta decisão novamente?",
        "hint_text": (
            "Entre {min} e {max} caracteres. Tudo o que nos ajude a entender o que aconteceu: "
            "datas, números de pedido, o que foi dito."
        ),
        "label_contact": "Como você quer receber a resposta?",
        "contact_email": "Por e-mail",
        "contact_in_app": "Nas minhas mensagens em {marketplace}",
        "submit": "Enviar recurso",
        "privacy": (
            "Usamos o que você envia apenas para analisar o seu recurso; ele fica guardado "
            "junto com o registro da decisão."
        ),
        "other_routes": (
            "Você também pode submeter a decisão a um órgão certificado de resolução "
            "extrajudicial de litígios ou levá-la aos tribunais."
        ),
        "errors_title": "Verifique o formulário",
        "err_reference": (
            "Digite a referência como aparece na nossa mensagem, por exemplo SOR-42 ou C-123."
        ),
        "err_email": "Digite o endereço de e-mail para o qual enviamos nossa mensagem.",
        "err_text_short": "Conte-nos um pouco mais (pelo menos {min} caracteres).",
        "err_text_long": "Use no máximo {max} caracteres.",
        "err_contact": "Escolha como você quer receber a resposta.",
        "err_no_match": (
            "Não conseguimos associar essa referência e esse e-mail a uma decisão da qual "
            "ainda seja possível recorrer. Compare os dois com a mensagem que enviamos. Se "
            "estiverem corretos, o prazo para recorrer desta decisão pode ter terminado."
        ),
        "err_csrf": (
            "Este formulário expirou ou não foi enviado a partir desta página. Preencha-o e "
            "envie novamente."
        ),
        "err_rate": (
            "Este formulário foi enviado vezes demais a partir da sua conexão. Aguarde "
            "{minutes} minutos e tente novamente."
        ),
        "err_too_large": "Isso é mais do que este formulário aceita. Encurte sua mensagem.",
        "err_unavailable": (
            "Não conseguimos receber o seu recurso agora. Nada foi salvo; tente novamente "
            "mais tarde."
        ),
        "done_title": "Recebemos o seu recurso",
        "done_lead": (
            "A referência do seu recurso é {ref}. Informe-a se nos escrever sobre este recurso."
        ),
        "done_repeat": (
            "Você já tem um recurso aberto sobre esta decisão, {ref}. Acrescentamos a ele o "
            "que você enviou."
        ),
        "next_title": "O que acontece agora",
        "next_review": (
            "Um especialista da nossa equipe que não participou da decisão original analisa o "
            "seu recurso, junto com a decisão e os fatos em que ela se baseia."
        ),
        "next_outcome_email": "Informaremos o resultado, e os motivos, por e-mail.",
        "next_outcome_in_app": (
            "Informaremos o resultado, e os motivos, nas suas mensagens em {marketplace}."
        ),
        "next_reverse": (
            "Se a decisão estava errada, nós a revogamos e desfazemos os seus efeitos, por "
            "exemplo encerrando uma suspensão."
        ),
        "next_more": (
            "Se lembrar de mais alguma coisa enquanto o recurso estiver aberto, envie este "
            "formulário novamente com a mesma referência: nós o acrescentamos ao seu recurso."
        ),
        "back": "Voltar ao formulário de recurso",
        "language": "Idioma",
    },
}


def words(lang: str, settings: Settings) -> dict[str, str]:
    values = {
        "marketplace": settings.marketplace_name,
        "days": str(settings.appeal_window_days),
        "min": str(MIN_TEXT),
        "max": f"{MAX_TEXT:,}" if lang == "en" else f"{MAX_TEXT:,}".replace(",", "."),
        "minutes": str(int(RATE_WINDOW.total_seconds() // 60)),
    }
    return {key: text.format_map(_Keep(values)) for key, text in TEXT[lang].items()}


class _Keep(dict[str, str]):
    """Leaves placeholders filled later (``{ref}``) as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def pick_language(request: Request, chosen: str | None = None) -> str:
    """``chosen`` (the form's hidden field), then ``?lang=``, then the best of the browser's
    ``Accept-Language`` that we ship; English otherwise."""
    for candidate in (chosen, request.query_params.get("lang")):
        if candidate:
            language, fell_back = normalize_locale(candidate[:35])
            if not fell_back:
                return language
    ranked: list[tuple[float, int, str]] = []
    header = request.headers.get("accept-language", "")[:1000]
    for position, part in enumerate(header.split(",")[:30]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        language, fell_back = normalize_locale(tag)
        if not fell_back and weight > 0:
            ranked.append((-weight, position, language))
    return min(ranked)[2] if ranked else "en"


# --- the anonymous form's CSRF token ------------------------------------------------------------


def _form_token(settings: Settings, cookie_value: str) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, b"vigil-appeal-form:" + cookie_value.encode(), hashlib.sha256).hexdigest()


def _cookie_value(request: Request) -> str | None:
    value = request.cookies.get(COOKIE)
    return value if value and _COOKIE_VALUE.match(value) else None


def csrf_ok(request: Request, settings: Settings, submitted: str) -> bool:
    cookie = _cookie_value(request)
    if cookie is None or not submitted:
        return False
    return hmac.compare_digest(submitted.encode(), _form_token(settings, cookie).encode())


# --- per-address rate limit ---------------------------------------------------------------------


class RateLimiter:
    """Sliding window of post times per client address, in this process only: with several
    ``vigil serve`` processes each counts its own share (the documented limitation)."""

    def __init__(self, limit: int, window: timedelta, max_clients: int) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._hits: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = clock.now()
        cutoff = now - self.window
        with self._lock:
            hits = self._hits.pop(client, None)
            if hits is None:
                hits = deque()
                while len(self._hits) >= self.max_clients:
                    # Dicts keep insertion order and a client is re-inserted on each post:
                    # the first key is the one that posted longest ago.
                    del self._hits[next(iter(self._hits))]
            while hits and hits[0] <= cutoff:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            self._hits[client] = hits
            return allowed


_limiter_lock = threading.Lock()


def limiter_for(request: Request) -> RateLimiter:
    """One limiter per app (each test's app starts with a clean count)."""
    state = request.app.state
    with _limiter_lock:
        limiter = getattr(state, "appeal_limiter", None)
        if limiter is None:
            limiter = RateLimiter(POSTS_PER_WINDOW, RATE_WINDOW, MAX_TRACKED_CLIENTS)
            state.appeal_limiter = limiter
        return limiter


# --- the posted form ----------------------------------------------------------------------------


@dataclass
class Posted:
    """The form as read, or the page to answer with instead (rate limit, size, type)."""

    fields: dict[str, str] = field(default_factory=dict)
    refusal: Response | None = None


def _first(parsed: dict[str, list[str]], name: str) -> str:
    values = parsed.get(name)
    return values[0] if values else ""


async def read_form(request: Request) -> Posted:
    """The urlencoded body, at most ``MAX_BODY_BYTES`` (checked while it streams in, so a
    body without Content-Length cannot be larger), after the client's rate limit."""
    settings: Settings = request.app.state.settings
    client = request.client.host if request.client else "unknown"
    if not limiter_for(request).allow(client):
        log.info("appeal form rate-limited for a client")
        return Posted(refusal=_notice_page(request, settings, "err_rate", 429))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return Posted(refusal=_notice_page(request, settings, "err_csrf", 415))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return Posted(refusal=_notice_page(request, settings, "err_too_large", 413))
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return Posted(refusal=_notice_page(request, settings, "err_too_large", 413))
    try:
        parsed = parse_qs(
            body.decode("utf-8", errors="replace"),
            max_num_fields=MAX_FIELDS,
            encoding="utf-8",
            errors="replace",
        )
    except ValueError:  # more fields than the form has
        return Posted(refusal=_notice_page(request, settings, "err_too_large", 413))
    names = ("reference", "email", "explanation", "contact", "lang", "csrf_token")
    return Posted(fields={name: _first(parsed, name) for name in names})


PostedForm = Annotated[Posted, Depends(read_form)]


@dataclass
class Checked:
    kind: str = ""  # "SOR" or "C"
    number: int = 0
    reference: str = ""
    email: str = ""
    explanation: str = ""
    contact: str = "email"
    errors: dict[str, str] = field(default_factory=dict)


def check_fields(values: dict[str, str], t: dict[str, str]) -> Checked:
    """Shape only: nothing here depends on what is stored, so these messages may be precise."""
    out = Checked()
    reference = " ".join(values.get("reference", "").split()).upper()
    match = _REFERENCE.match(reference) if len(reference) <= MAX_REFERENCE else None
    if match is None:
        out.errors["reference"] = t["err_reference"]
    else:
        out.kind, out.number = match.group(1), int(match.group(2))
        out.reference = f"{out.kind}-{out.number}"
    raw_email = values.get("email", "").strip()
    try:
        if len(raw_email) > MAX_EMAIL:
            raise ValueError("too long")
        out.email = normalize_email(raw_email)
    except ValueError:
        out.errors["email"] = t["err_email"]
    raw_text = values.get("explanation", "")
    try:
        out.explanation = appeals.clean_text(raw_text, "explanation")
    except InvalidInput as exc:
        # The service's rule (the API's too), in the user's language.
        out.errors["explanation"] = (
            t["err_text_short"] if exc.code == "statement_too_short" else t["err_text_long"]
        )
        out.explanation = raw_text.strip()
    contact = values.get("contact", "") or "email"
    if contact not in CONTACTS:
        out.errors["contact"] = t["err_contact"]
    out.contact = contact
    return out


# --- pages -------------------------------------------------------------------------------------


def _render(
    request: Request,
    settings: Settings,
    name: str,
    language: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    base = {
        "lang": language,
        "t": words(language, settings),
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "min_text": MIN_TEXT,
        "max_text": MAX_TEXT,
        "max_reference": MAX_REFERENCE,
        "max_email": MAX_EMAIL,
    }
    response = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _form_page(
    request: Request,
    settings: Settings,
    language: str,
    *,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
) -> HTMLResponse:
    """The form with a token tied to the cookie (a fresh cookie when there is none)."""
    cookie = _cookie_value(request)
    fresh = cookie is None
    if cookie is None:
        cookie = secrets.token_urlsafe(32)
    response = _render(
        request,
        settings,
        "appeal_form.html",
        language,
        status_code=status_code,
        form_token=_form_token(settings, cookie),
        values=values or {"contact": "email"},
        errors=errors or {},
        problem=problem,
    )
    if fresh:
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=COOKIE_MAX_AGE,
            path=COOKIE_PATH,
            httponly=True,
            secure=settings.cookie_secure,
            samesite="strict",
        )
    return response


def _notice_page(request: Request, settings: Settings, key: str, status_code: int) -> HTMLResponse:
    """A refusal before the form could be read: the blank form with the reason above it."""
    language = pick_language(request)
    response = _form_page(
        request, settings, language, status_code=status_code, problem=words(language, settings)[key]
    )
    if status_code == 429:
        response.headers["Retry-After"] = str(int(RATE_WINDOW.total_seconds()))
    return response


@router.get("/appeals")
def appeal_form(request: Request, settings: AppSettings, ref: str = "") -> HTMLResponse:
    language = pick_language(request)
    values = {"contact": "email"}
    reference = " ".join(ref.split()).upper()[:MAX_REFERENCE]
    if _REFERENCE.match(reference):
        values["reference"] = reference
    return _form_page(request, settings, language, values=values)


@router.post("/appeals", response_model=None)
def appeal_submit(request: Request, posted: PostedForm, db: DB, settings: AppSettings) -> Response:
    if posted.refusal is not None:
        return posted.refusal
    values = posted.fields
    language = pick_language(request, values.get("lang"))
    t = words(language, settings)
    if not csrf_ok(request, settings, values.get("csrf_token", "")):
        # The blank form, not the posted values: another site's post is not echoed back.
        return _form_page(request, settings, language, status_code=403, problem=t["err_csrf"])
    checked = check_fields(values, t)
    shown = {
        "reference": values.get("reference", "")[: MAX_REFERENCE * 2],
        "email": values.get("email", "")[: MAX_EMAIL + 10],
        "explanation": values.get("explanation", "")[: MAX_TEXT * 2],
        "contact": checked.contact if checked.contact in CONTACTS else "email",
    }
    if checked.errors:
        return _form_page(
            request, settings, language, status_code=422, values=shown, errors=checked.errors,
            problem=t["errors_title"],
        )  # fmt: skip
    target = appeals.match(db, settings, checked.kind, checked.number, checked.email)
    if target is None:
        log.info("appeal refused: reference and email do not match an appealable decision")
        return _form_page(
            request, settings, language, status_code=422, values=shown, problem=t["err_no_match"]
        )
    submission = appeals.Submission(
        text=checked.explanation,
        language=language,
        contact=ContactPreference(checked.contact),
        reference=checked.reference,
        channel=AppealChannel.form,
    )
    try:
        opened = appeals.submit_appeal(
            db, SYSTEM, target, submission, settings=settings, add_to_open=True
        )
    except VigilError as exc:
        # Staff-facing reasons (no specialist queue, say) are for the log, not for the user.
        db.rollback()
        log.error("appeal for decision %s not opened: %s (%s)", target.decision.id, exc, exc.code)
        return _form_page(
            request, settings, language, status_code=503, values=shown,
            problem=t["err_unavailable"],
        )  # fmt: skip
    # The appeal's own reference, as every later message and the API name it.
    reference = opened.appeal.ref
    return _render(
        request,
        settings,
        "appeal_done.html",
        language,
        appeal_ref=reference,
        repeat=not opened.created,
        contact=checked.contact,
        lead=(t["done_lead"] if opened.created else t["done_repeat"]).replace("{ref}", reference),
    )
