"""What simulated people write: chat, listings, job posts, proposals, reviews and reports, in
English, Spanish and Portuguese, as templates with slots.

Hand-written for the simulator; nothing is copied from a data set (the reference data beside
the project is for evaluation only). The pools are small on purpose but varied enough that a
text model cannot learn the simulator by heart: every message is a template filled with names,
tasks, prices and days, and ordinary talk deliberately mentions the words detectors look for
(PayPal on the checkout, a phone number to open the gate, "WhatsApp" in passing) without
asking anyone to leave the platform.

Contact details follow :mod:`vigil.simulate.pools`: e-mail addresses are the account's own
(``.example`` domains), phone numbers its own, links point at ``.example`` hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from random import Random
from typing import Any

Lang = str  # "en" | "es" | "pt"

# --- what buyers need, by marketplace and language -------------------------------------------

TASKS: dict[str, dict[Lang, tuple[str, ...]]] = {
    "freelance": {
        "en": (
            "a logo for my bakery",
            "a WordPress site for my dental clinic",
            "a landing page for a product launch",
            "someone to clean up a messy Excel file",
            "a short promo video edited from my footage",
            "translations of our app screens",
            "bookkeeping for the last quarter",
            "a Python script that merges CSV reports",
            "ten blog posts about home gardening",
            "an iOS app prototype",
        ),
        "es": (
            "un logo para mi panadería",
            "una web en WordPress para mi clínica",
            "una landing page para un lanzamiento",
            "ordenar un Excel con las ventas del año",
            "editar un vídeo corto para redes",
            "traducir las pantallas de nuestra app",
            "un script en Python que junte informes CSV",
            "diez artículos para el blog de la tienda",
        ),
        "pt": (
            "um logo para minha padaria",
            "um site em WordPress para meu consultório",
            "uma landing page para um lançamento",
            "organizar uma planilha de vendas",
            "editar um vídeo curto para o Instagram",
            "traduzir as telas do nosso app",
            "um script em Python para juntar relatórios",
            "dez textos para o blog da loja",
        ),
    },
    "services": {
        "en": (
            "a leaking kitchen tap fixed",
            "two rooms painted",
            "a deep clean before moving out",
            "a ceiling light installed",
            "help moving a sofa and boxes",
            "the garden hedges trimmed",
            "a new lock on the front door",
            "someone to walk my dog on weekdays",
        ),
        "es": (
            "arreglar un grifo que gotea",
            "pintar dos habitaciones",
            "una limpieza a fondo antes de la mudanza",
            "instalar una lámpara de techo",
            "ayuda para mover un sofá y cajas",
            "podar el seto del jardín",
            "cambiar la cerradura de la puerta",
        ),
        "pt": (
            "consertar uma torneira pingando",
            "pintar dois quartos",
            "uma faxina pesada antes da mudança",
            "instalar um lustre",
            "ajuda para levar um sofá e caixas",
            "podar a cerca viva do jardim",
            "trocar a fechadura da porta",
        ),
    },
    "courses": {
        "en": (
            "the course",
            "the advanced module",
            "the weekend workshop",
            "the exam preparation pack",
        ),
        "es": ("el curso", "el módulo avanzado", "el taller de fin de semana"),
        "pt": ("o curso", "o módulo avançado", "a oficina de fim de semana"),
    },
}

DAYS: dict[Lang, tuple[str, ...]] = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the weekend", "tomorrow"),
    "es": ("el lunes", "el martes", "el miércoles", "el jueves", "el viernes", "mañana"),
    "pt": ("segunda", "terça", "quarta", "quinta", "sexta", "amanhã", "o fim de semana"),
}

# --- an ordinary conversation, turn by turn ---------------------------------------------------
# {name} is the other person's first name, {task} what the buyer needs, {price} an amount,
# {day} a day. Turns alternate buyer / seller; a conversation uses a prefix of them.

BUYER_TURNS: dict[Lang, tuple[tuple[str, ...], ...]] = {
    "en": (
        (
            "Hi {name}, I saw your profile and I need {task}. Are you available this week?",
            "Hello! I'm looking for {task}. Could you do it by {day}?",
            "Hi {name}, quick question: do you have time for {task}?",
            "Good morning {name}. I need {task}, what would you charge?",
        ),
        (
            "My budget is around {price}. Is that realistic?",
            "Great. I'd need it done by {day} if possible.",
            "Sounds good. I can send more details here in the chat.",
            "Perfect, I'll pay through the platform once you send the offer.",
        ),
        (
            "Offer accepted, thanks!",
            "Deal. I've paid on the site, it shows as held until you deliver.",
            "Ok, go ahead. I accepted the milestone.",
            "Thanks, just sent the payment through the checkout here.",
        ),
        (
            "Looks great, thank you so much!",
            "Received, all good. I'll leave a review.",
            "Could you change the colours a bit? Otherwise perfect.",
            "Thanks {name}, really happy with it.",
        ),
    ),
    "es": (
        (
            "Hola {name}, vi tu perfil y necesito {task}. ¿Tienes disponibilidad esta semana?",
            "¡Buenas! Busco a alguien para {task}. ¿Podrías para {day}?",
            "Hola {name}, ¿tendrías tiempo para {task}?",
        ),
        (
            "Mi presupuesto es de unos {price}. ¿Te encaja?",
            "Genial. Lo necesitaría para {day} si puede ser.",
            "Perfecto, te pago por la plataforma cuando me mandes la oferta.",
        ),
        (
            "Oferta aceptada, ¡gracias!",
            "Hecho, ya pagué en la web y queda retenido hasta la entrega.",
            "Vale, adelante. Ya acepté el hito.",
        ),
        (
            "Quedó muy bien, ¡muchas gracias!",
            "Recibido, todo perfecto. Te dejo una reseña.",
            "¿Podrías cambiar un poco los colores? Por lo demás genial.",
        ),
    ),
    "pt": (
        (
            "Oi {name}, vi seu perfil e preciso de {task}. Você tem agenda essa semana?",
            "Olá! Estou procurando alguém para {task}. Consegue até {day}?",
            "Oi {name}, você teria tempo para {task}?",
        ),
        (
            "Meu orçamento é de uns {price}. Fica bom pra você?",
            "Ótimo. Eu precisaria até {day}, se der.",
            "Perfeito, pago pela plataforma quando você mandar a proposta.",
        ),
        (
            "Proposta aceita, obrigado!",
            "Fechado, já paguei pelo site e fica retido até a entrega.",
            "Ok, pode começar. Já aceitei a etapa.",
        ),
        (
            "Ficou ótimo, muito obrigado!",
            "Recebi, tudo certo. Vou deixar uma avaliação.",
            "Dá pra mudar um pouco as cores? De resto perfeito.",
        ),
    ),
}

SELLER_TURNS: dict[Lang, tuple[tuple[str, ...], ...]] = {
    "en": (
        (
            "Hi {name}! Yes, I can help with that. Could you tell me a bit more?",
            "Hello {name}, thanks for reaching out. I have time this week.",
            "Hi! Happy to help. Do you have an example of what you like?",
        ),
        (
            "I can deliver by {day} for {price}. I'll send the offer here on the platform.",
            "That works for me. Sending you the offer now, pay through the site when ready.",
            "Sure. For {price} I can include one round of changes.",
            "If it helps, I can call you on the number in the order to check the details.",
        ),
        (
            "Thanks! Starting today, I'll keep you posted here.",
            "Got it, I'll send a first draft by {day}.",
            "Great, I'll be there on {day} morning and ring the bell at the order's address.",
        ),
        (
            "Here is the final version, let me know if anything needs fixing.",
            "Done! Thanks for working with me, {name}.",
            "All finished. If you're happy, a review would help me a lot.",
        ),
    ),
    "es": (
        (
            "¡Hola {name}! Sí, te puedo ayudar. ¿Me cuentas un poco más?",
            "Hola {name}, gracias por escribir. Esta semana tengo hueco.",
        ),
        (
            "Te lo entrego para {day} por {price}. Te mando la oferta aquí en la plataforma.",
            "Me va bien. Te envío la oferta, pagas por la web cuando quieras.",
            "Si te viene mejor, te llamo al número del pedido para ver los detalles.",
        ),
        (
            "¡Gracias! Empiezo hoy y te voy contando por aquí.",
            "Perfecto, te mando un primer borrador para {day}.",
        ),
        (
            "Aquí tienes la versión final, dime si hay que ajustar algo.",
            "¡Listo! Gracias por confiar en mí, {name}.",
        ),
    ),
    "pt": (
        (
            "Oi {name}! Sim, consigo te ajudar. Me conta um pouco mais?",
            "Olá {name}, obrigado pelo contato. Tenho agenda essa semana.",
        ),
        (
            "Entrego até {day} por {price}. Te mando a proposta aqui na plataforma.",
            "Fechado. Vou enviar a proposta, você paga pelo site quando quiser.",
            "Se preferir, te ligo no número do pedido para alinhar os detalhes.",
        ),
        (
            "Obrigado! Começo hoje e vou te atualizando por aqui.",
            "Beleza, mando um primeiro rascunho até {day}.",
        ),
        (
            "Segue a versão final, me avisa se precisar ajustar algo.",
            "Pronto! Obrigado pela confiança, {name}.",
        ),
    ),
}

# --- listings, job posts, proposals, bios ------------------------------------------------------

LISTINGS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "{offer} with {years} years of experience. Clear quotes, on-time delivery. From {price}.",
        "{offer}. Fast turnaround, unlimited revisions within scope. Packages from {price}.",
        "Professional {offer_lc}. Message me here with your project; I reply within hours.",
    ),
    "es": (
        "{offer} con {years} años de experiencia. Presupuestos claros y entregas a tiempo. "
        "Desde {price}.",
        "{offer}. Entrega rápida y revisiones incluidas. Paquetes desde {price}.",
    ),
    "pt": (
        "{offer} com {years} anos de experiência. Orçamento claro e entrega no prazo. "
        "A partir de {price}.",
        "{offer}. Entrega rápida e revisões incluídas. Pacotes a partir de {price}.",
    ),
}

JOB_POSTS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "Looking for {task}. Budget about {price}. Please include examples of similar work.",
        "Need {task} by {day}. Budget {price}.",
        "Small job: {task}. Happy to pay {price} for a good result.",
    ),
    "es": (
        "Busco {task}. Presupuesto aproximado {price}. Enviad ejemplos de trabajos parecidos.",
        "Necesito {task} para {day}. Presupuesto {price}.",
    ),
    "pt": (
        "Procuro {task}. Orçamento de cerca de {price}. Mandem exemplos de trabalhos parecidos.",
        "Preciso de {task} até {day}. Orçamento {price}.",
    ),
}

PROPOSALS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "Hi {name}, I'd love to help with {task}. I've done {years} similar projects. "
        "I can deliver by {day} for {price}.",
        "Hello! I read your post about {task}. I can start right away, {price} all included.",
        "I have {years} years of experience with this kind of work. Quote: {price}.",
    ),
    "es": (
        "Hola {name}, me encantaría ayudarte con {task}. Puedo entregarlo para {day} por {price}.",
        "¡Hola! Leí tu anuncio sobre {task}. Puedo empezar ya, {price} todo incluido.",
    ),
    "pt": (
        "Oi {name}, adoraria ajudar com {task}. Consigo entregar até {day} por {price}.",
        "Olá! Li seu anúncio sobre {task}. Posso começar já, {price} com tudo incluído.",
    ),
}

BIOS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "{offer} based in {city}. I answer every message here within a day.",
        "{offer}. {years} years in the trade, references on request.",
    ),
    "es": ("{offer} en {city}. Respondo todos los mensajes en menos de un día.",),
    "pt": ("{offer} em {city}. Respondo todas as mensagens em até um dia.",),
}

# --- reviews ---------------------------------------------------------------------------------

GOOD_REVIEWS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "{name} did a great job on {task}, delivered on time.",
        "Very professional and friendly. Would hire again.",
        "Good communication, the result matched what we agreed.",
        "Solid work. A small delay but kept me informed.",
    ),
    "es": (
        "{name} hizo un gran trabajo, entregó a tiempo.",
        "Muy profesional y amable. Repetiría sin dudar.",
        "Buena comunicación y el resultado fue lo acordado.",
    ),
    "pt": (
        "{name} fez um ótimo trabalho, entregou no prazo.",
        "Muito profissional e atencioso. Contrataria de novo.",
        "Boa comunicação e o resultado foi o combinado.",
    ),
}
BAD_REVIEWS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "Delivered late and needed several rounds of fixes.",
        "Not what was agreed. Communication was slow.",
    ),
    "es": ("Entregó tarde y hubo que corregir varias veces.", "No fue lo acordado."),
    "pt": ("Entregou atrasado e precisou de várias correções.", "Não foi o combinado."),
}
# Fake reviewers copy one script with small changes.
FAKE_REVIEWS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "Amazing work!!! Best {offer_lc} ever, highly recommended 5 stars",
        "Amazing!! Best {offer_lc} on the site, highly recommend, 5 stars!!!",
        "Best {offer_lc} ever!!! Amazing work, recommended 100%",
    ),
    "es": (
        "¡¡¡Trabajo increíble!!! El mejor, súper recomendado 5 estrellas",
        "¡¡Increíble!! El mejor de la web, 100% recomendado, 5 estrellas",
    ),
    "pt": (
        "Trabalho incrível!!! O melhor, super recomendo 5 estrelas",
        "Incrível!! O melhor do site, recomendo 100%, 5 estrelas!!!",
    ),
}

# --- allowed contact, the hard negatives ------------------------------------------------------
# What the policy pack allows in so many words: a pro's phone number to coordinate a visit
# already paid on the platform, a portfolio link with no prices or booking, a question about
# paying with a wallet at the platform's own checkout. Detectors should not act on these.

VISIT_CONTACT: dict[Lang, tuple[str, ...]] = {
    "en": (
        "Thanks for booking! I'll be there {day} morning. If the gate is locked, call me on "
        "{phone}.",
        "Booked for {day}. My number for the day of the visit: {phone}, text me the door code.",
    ),
    "es": (
        "¡Gracias por reservar! Llego {day} por la mañana. Si el portal está cerrado, llámame "
        "al {phone}.",
    ),
    "pt": (
        "Obrigado pela reserva! Chego {day} de manhã. Se o portão estiver fechado, me liga no "
        "{phone}.",
    ),
}
PORTFOLIO_BIOS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "{offer}. Past work: https://{site}.portfolio.example (no bookings there, ask me here).",
    ),
    "es": ("{offer}. Trabajos anteriores: https://{site}.portfolio.example",),
    "pt": ("{offer}. Trabalhos anteriores: https://{site}.portfolio.example",),
}
PAYMENT_QUESTIONS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "Hi {name}, I need {task}. Can I pay with PayPal at the checkout here, or only by card?",
        "Hello! Before I book: does the site take Apple Pay or PayPal? I need {task}.",
    ),
    "es": ("Hola {name}, necesito {task}. ¿Puedo pagar con PayPal en la web o solo con tarjeta?",),
    "pt": ("Oi {name}, preciso de {task}. Dá para pagar com Pix aqui pelo site ou só cartão?",),
}

# --- off-platform solicitation ---------------------------------------------------------------
# {contact} is one way to reach the seller (a phone, spaced or spelled out; the account's
# e-mail, often obfuscated; a handle on a chat app); {pay} a payment channel.

PAY_CHANNELS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "PayPal",
        "Zelle",
        "Cash App",
        "Venmo",
        "Wise",
        "Western Union",
        "USDT",
        "bank transfer",
    ),
    "es": ("Bizum", "Mercado Pago", "Nequi", "PayPal", "transferencia bancaria", "USDT"),
    "pt": ("Pix", "PicPay", "Mercado Pago", "PayPal", "transferência", "USDT"),
}
CHAT_APPS = ("WhatsApp", "Telegram", "Signal")

SOLICITATIONS: dict[Lang, tuple[str, ...]] = {
    "en": (
        "Hi {name}, we can skip the platform fee. Message me on {app}: {contact}",
        "I can do it for {discount}% less if you pay me directly by {pay}. {app} {contact}",
        "The site takes a big cut. Send the payment by {pay} and I'll start today. {contact}",
        "Let's talk outside here, easier. {contact} ({app})",
        "Pay me by {pay} instead of the checkout and we both save. Reach me at {contact}",
    ),
    "es": (
        "Hola {name}, nos ahorramos la comisión si me escribes al {app}: {contact}",
        "Te lo dejo un {discount}% más barato si me pagas directo por {pay}. {app} {contact}",
        "La plataforma cobra mucho. Págame por {pay} y empiezo hoy. {contact}",
        "Mejor hablamos por fuera, {app} {contact}",
    ),
    "pt": (
        "Oi {name}, a gente economiza a taxa se você me chamar no {app}: {contact}",
        "Faço {discount}% mais barato se você pagar direto no {pay}. {app} {contact}",
        "A plataforma cobra muito. Me paga por {pay} que começo hoje. {contact}",
        "Vamos conversar por fora, {app} {contact}",
    ),
}
SOLICITING_LISTINGS: dict[Lang, tuple[str, ...]] = {
    "en": ("{offer}. Better prices if you contact me directly on {app} {contact}.",),
    "es": ("{offer}. Mejores precios si me contactas directo por {app} {contact}.",),
    "pt": ("{offer}. Preço melhor se me chamar direto no {app} {contact}.",),
}

# --- scams -----------------------------------------------------------------------------------

SCAM_PITCHES: dict[Lang, tuple[str, ...]] = {
    "en": (
        "Hi {name}! Limited offer today only: {offer_lc} at 90% off. Pay upfront at {url} to "
        "reserve your slot.",
        "Congratulations, you were selected for a remote job paying $400/day. Register at {url}",
        "I can deliver in 1 hour, guaranteed. Send a {price} deposit in gift cards to confirm.",
        "URGENT: your order is on hold. Verify your card at {url} within 24h or it is cancelled.",
    ),
    "es": (
        "¡Hola {name}! Solo hoy: {offer_lc} con 90% de descuento. Paga por adelantado en {url}",
        "Felicidades, fuiste seleccionado para un trabajo remoto de 400 USD al día. Regístrate "
        "en {url}",
        "URGENTE: tu pedido está retenido. Verifica tu tarjeta en {url} o se cancela.",
    ),
    "pt": (
        "Oi {name}! Só hoje: {offer_lc} com 90% de desconto. Pague antecipado em {url}",
        "Parabéns, você foi selecionado para um trabalho remoto de R$ 2.000 por dia. "
        "Cadastre-se em {url}",
        "URGENTE: seu pedido está retido. Confirme seu cartão em {url} ou será cancelado.",
    ),
}
FAKE_PAYMENT: dict[Lang, tuple[str, ...]] = {
    "en": (
        "I already sent the payment, click {url} to release the funds and start the work.",
        "Payment done, see the screenshot. Please confirm at {url} with your login.",
        "I overpaid by mistake, please refund the extra {price} by {pay} before you start.",
    ),
    "es": (
        "Ya te envié el pago, entra en {url} para liberar los fondos y empieza.",
        "Te pagué de más por error, devuélveme {price} por {pay} antes de empezar.",
    ),
    "pt": (
        "Já enviei o pagamento, clique em {url} para liberar o valor e comece.",
        "Paguei a mais sem querer, me devolve {price} por {pay} antes de começar.",
    ),
}
SCAM_LISTINGS: dict[Lang, tuple[str, ...]] = {
    "en": ("{offer}: 90% OFF today only, guaranteed results, pay upfront at {url}",),
    "es": ("{offer}: 90% de descuento solo hoy, resultados garantizados, paga en {url}",),
    "pt": ("{offer}: 90% OFF só hoje, resultado garantido, pague antecipado em {url}",),
}
SCAM_HOSTS = (
    "secure-pay-verify.example",
    "account-check.example",
    "release-funds.example",
    "promo-deals.example",
    "job-offer-now.example",
)
# What stolen-card buyers write: short, hurried, no questions about the work.
RUSHED: dict[Lang, tuple[str, ...]] = {
    "en": ("Need it urgently, paying now.", "Just start, money is not a problem.", "Paid. Go."),
    "es": ("Lo necesito urgente, ya pago.", "Empieza ya, el dinero no es problema."),
    "pt": ("Preciso com urgência, já paguei.", "Pode começar, dinheiro não é problema."),
}

# --- harassment ------------------------------------------------------------------------------

ABUSE: dict[Lang, tuple[str, ...]] = {
    "en": (
        "You are a useless idiot, {name}. Refund me or you will regret it.",
        "I know where you live. Fix this today or I'll make sure everyone knows what a fraud "
        "you are.",
        "Pathetic. Worst loser I have ever hired, shut up and give my money back.",
        "Keep ignoring me and see what happens to you.",
    ),
    "es": (
        "Eres un inútil, {name}. Devuélveme el dinero o te vas a arrepentir.",
        "Sé dónde vives. Arréglalo hoy o te vas a enterar.",
        "Patético. Eres un estafador y un idiota, cállate y devuélveme mi dinero.",
    ),
    "pt": (
        "Você é um inútil, {name}. Me devolve o dinheiro ou vai se arrepender.",
        "Eu sei onde você mora. Resolve isso hoje ou vai ver só.",
        "Patético. Seu idiota incompetente, cala a boca e devolve meu dinheiro.",
    ),
}

REPORT_KINDS = ("off_platform", "scam", "fake_reviews", "rude", "quality", "harassment")
HARASSMENT_REPORTS: dict[Lang, tuple[str, ...]] = {
    "en": ("He is threatening me in the chat and says he knows where I live.",),
    "es": ("Me está amenazando por el chat y dice que sabe dónde vivo.",),
    "pt": ("Está me ameaçando no chat e diz que sabe onde eu moro.",),
}

# --- obfuscation -------------------------------------------------------------------------------

_DIGIT_WORDS: dict[Lang, tuple[str, ...]] = {
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "es": ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"),
    "pt": ("zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove"),
}
_AT_DOT: dict[Lang, tuple[tuple[str, str], ...]] = {
    "en": ((" at ", " dot "), (" (at) ", " (dot) "), ("[at]", "[dot]")),
    "es": ((" arroba ", " punto "), (" (at) ", " (dot) ")),
    "pt": ((" arroba ", " ponto "), (" (at) ", " (dot) ")),
}


def spaced_phone(phone: str, rng: Random) -> str:
    """``+5511987654321`` as people type it to slip past filters: in groups, dashes or dots."""
    digits = phone.lstrip("+")
    sep = rng.choice((" ", " ", "-", ".", " . "))
    groups, i = [], 0
    while i < len(digits):
        step = rng.choice((2, 3, 4))
        groups.append(digits[i : i + step])
        i += step
    return ("+" if rng.random() < 0.5 else "") + sep.join(groups)


def spelled_phone(phone: str, lang: Lang, rng: Random) -> str:
    """Some digits spelled out as words: "nine 8 seven 6..."."""
    words = _DIGIT_WORDS[lang]
    out = [words[int(d)] if rng.random() < 0.7 else d for d in phone.lstrip("+")[-9:]]
    return " ".join(out)


def obfuscated_email(email: str, lang: Lang, rng: Random) -> str:
    local, _, domain = email.partition("@")
    style = rng.randrange(4)
    if style == 0:
        return email
    if style == 3:  # letters spaced out: "a n a . r 8 8 @ m a i l ..."
        return " ".join(email.replace("@", " @ "))
    at, dot = rng.choice(_AT_DOT[lang])
    return f"{local}{at}{domain.replace('.', dot)}"


def handle_for(display_name: str, rng: Random) -> str:
    base = "".join(ch for ch in display_name.lower() if ch.isascii() and ch.isalnum())
    return f"@{base or 'user'}{rng.randint(10, 999)}"


def contact(
    lang: Lang, rng: Random, *, phone: str, email: str, display_name: str
) -> tuple[str, str]:
    """One way to reach someone off the platform, and how it is written (for the label)."""
    style = rng.choices(
        ("phone", "spaced_phone", "spelled_phone", "email", "handle"), (2, 3, 2, 2, 2)
    )[0]
    if style == "phone":
        return phone, style
    if style == "spaced_phone":
        return spaced_phone(phone, rng), style
    if style == "spelled_phone":
        return spelled_phone(phone, lang, rng), style
    if style == "email":
        return obfuscated_email(email, lang, rng), style
    return handle_for(display_name, rng), style


def scam_url(rng: Random) -> str:
    path = rng.choice(("login", "verify", "claim", "pay", "release"))
    return f"https://{rng.choice(SCAM_HOSTS)}/{path}?id={rng.getrandbits(32):08x}"


def fill(template: str, slots: Mapping[str, Any]) -> str:
    """The template with its ``{slots}`` filled; ``slots`` may draw values on demand (only
    the ones the template names are looked up)."""
    return template.format_map(slots)
