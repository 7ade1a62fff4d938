"""Word lists and patterns the contact detector searches for, en/es/pt.

All patterns run on folded text (lower case, accents removed: see ``normalize.fold``), so
"págame" is written "pagame" and "comissão" "comissao" here. Each off-platform phrase carries
a weight (how strongly it alone suggests taking the deal or the payment off the platform) and a
trigger word that must appear in the message for the pattern to be tried at all: that keeps a
message without any trigger word at a handful of set look-ups instead of dozens of regexes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Top-level domains accepted in bare domains ("mysite.com") and email addresses. Short ones
# that are also everyday words or typos ("it", "in", "to", "me", "us", "so", "is", "at",
# "be", "do", "no", "go") are in AMBIGUOUS_TLDS: a bare domain needs a path or a known host.
TLDS = words(
    """com net org io co me info biz app dev ly gg xyz site online store shop link page ai tv
    to in it us es pt br mx ar cl pe uy ve ec bo py cr gt hn ni pa sv do pr cu uk ca de fr
    nl be ch at ru cn jp eu edu gov mil int live email club top vip pro tech cc ws la ee gl
    be example test tk ml ga cf au nz za ng ke pk ph sg my id tr pl se fi dk ie gr ro hu cz
    il ae sa kr tw hk vn th agency digital company solutions services cloud media news blog
    today world network systems"""
)
AMBIGUOUS_TLDS = words(
    """it in to me us so is at be do no go la co pe pa ws tv cc es pt de at ch ca ee gl my id
    se fi no tk ml ga cf il"""
)

# Email providers. Those in STRONG_PROVIDERS make "john @ gmail" an address even without
# ".com"; the others ("live", "mail", "me") need the TLD because they are ordinary words.
STRONG_PROVIDERS = words(
    """gmail googlemail hotmail outlook yahoo ymail icloud protonmail proton aol gmx yandex
    zoho hushmail tutanota tuta fastmail rocketmail"""
)
PROVIDERS = STRONG_PROVIDERS | words("live msn mail me uol bol terra ig qq naver")

# Words that come before "at" in ordinary sentences ("look at gmail", "sold at amazon.com"):
# never the local part of a spelled-out address.
STOP_LOCAL = words(
    """i me you we they he she it us them him her my your our their this that these those the a
    an at is are am was were be been being look looking looked log logged sign signed check
    checked work works working worked job team office meet met see seen saw arrive arrived
    stay staying stayed live lives lived here there what who where when which all not best
    good great sold buy bought found find available online only also just now still back
    account login email mail message messages inbox folder invoice file files re ll ve m s d
    t ok okay yes no one two there's it's im ive id ill"""
)

# Hosts whose only purpose is to move a conversation or a payment elsewhere.
OFF_PLATFORM_HOSTS = words(
    """wa.me api.whatsapp.com chat.whatsapp.com whatsapp.com wa.link t.me telegram.me
    telegram.dog m.me messenger.com signal.me signal.group discord.gg discord.com
    instagram.com instagr.am ig.me snapchat.com tiktok.com linktr.ee paypal.me paypal.com
    venmo.com cash.app cash.me zelle.com nequi.com.co mpago.la mercadopago.com
    link.mercadopago.com.br mercadopago.com.br wise.com revolut.me revolut.com skype.com
    join.skype.com line.me viber.com u.wechat.com"""
)


@dataclass(frozen=True, slots=True)
class Brand:
    """An app named in a message. ``patterns`` run on the leet-folded text ("wh4ts@pp" →
    "whatsapp"); ``keys`` are words of which at least one must be in the message before the
    patterns are tried (a set intersection, so most messages try none)."""

    name: str
    patterns: tuple[re.Pattern[str], ...]
    keys: frozenset[str]


def _brand(name: str, keys: str, *patterns: str) -> Brand:
    # No leading boundary in the pattern itself: see ``word_start``.
    compiled = tuple(re.compile(rf"{p}(?![a-z0-9])") for p in patterns)
    return Brand(name, compiled, frozenset(keys.split()))


def word_start(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, keeping only matches that start a word.

    The boundary is checked here rather than written as a leading ``\\b`` because CPython's
    regex engine only uses its fast literal-prefix scan when a pattern starts with a literal
    or an alternation of literals: ``\\bchave\\s+pix`` is about 30 times slower to search
    than ``chave\\s+pix``, and a message is searched by dozens of patterns.
    """
    pos = 0
    end = len(text)
    while pos <= end:
        m = pattern.search(text, pos)
        if m is None:
            return
        start = m.start()
        if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
            yield m
            pos = m.end() if m.end() > start else start + 1
        else:
            pos = start + 1


def search_word_start(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    return next(word_start(pattern, text), None)


# "on", "via", "my"... before an ambiguous app name ("signal", "line", "snap", "zap", "whats").
_VIA = r"(?:on|via|por|pelo|pela|no|na|en|al|my|mi|meu|minha|in|through|add me on|me on)\s+"

MESSAGING_APPS: tuple[Brand, ...] = (
    _brand(
        "whatsapp",
        "whatsapp whatsap watsapp whatsaap whatzapp wasap wassap guasap wsp wpp zap zapzap wa "
        "whats wats",
        r"w\W?h?\W?a\W?t\W?t?\W?s\W{0,2}a\W?p\W?p?",
        r"wh?ass?app?",
        r"guas+ap",
        r"wsp",
        r"wpp",
        r"zap\s?zap",
        rf"{_VIA}(?:zap|whats|wa)",
        r"(?:zap|whats)(?=\s*[:=])",
        r"wa\.me",
    ),
    _brand(
        "telegram",
        "telegram tg",
        r"t\W?e\W?l\W?e\W?g\W?r\W?a\W?m",
        r"t\.me",
        rf"{_VIA}tg",
        r"tg(?=\s*[:=@])",
    ),
    _brand(
        "signal",
        "signal",
        rf"{_VIA}signal(?:\s+app)?",
        r"signal(?=\s*[:=])",
        r"signal\s+(?:me|app)",
    ),
    _brand("wechat", "wechat weixin chat", r"we\W?chat", r"weixin"),
    _brand(
        "line",
        "line",
        r"line\s+(?:id|app)",
        r"line(?=\s*[:=])",
        r"add me on line",
    ),
    _brand("viber", "viber", r"viber"),
    _brand("skype", "skype", r"skype"),
    _brand("discord", "discord", r"discord"),
    _brand("kik", "kik", r"kik(?:\s+me)?(?=\s*[:=@]|\s+me)", rf"{_VIA}kik"),
    _brand(
        "instagram",
        "insta instagram ig",
        r"insta(?:gram)?",
        rf"{_VIA}ig",
        r"ig(?=\s*[:=@])",
    ),
    _brand(
        "snapchat",
        "snap snapchat",
        r"snap\W?chat",
        rf"{_VIA}snap",
        r"snap(?=\s*[:=@])",
    ),
    _brand(
        "facebook",
        "facebook messenger fb",
        r"facebook",
        r"messenger",
        rf"{_VIA}fb",
        r"fb(?=\s*[:=@])",
    ),
    _brand("tiktok", "tiktok tik", r"tik\W?tok"),
    _brand("imessage", "imessage facetime", r"imessage", r"facetime"),
)

PAYMENT_APPS: tuple[Brand, ...] = (
    _brand("paypal", "paypal pal", r"pay\W{0,2}pal"),
    _brand("venmo", "venmo", r"venmo"),
    _brand("zelle", "zelle", r"zelle"),
    _brand("cash app", "cashapp cash", r"cash\W{0,2}app"),
    _brand(
        "pix",
        "pix",
        r"(?:chave|chaves|key|via|por|pelo|no|meu|minha|um|o|de|faz|faca|manda|mande)\s+pix",
        r"pix(?=\s*[:=]|\s+(?:key|direto|copia|qr|aleatori|para|pra|na|no|ok))",
    ),
    _brand("picpay", "picpay pic", r"pic\W?pay"),
    _brand("pagseguro", "pagseguro pagbank", r"pag\W?seguro", r"pagbank"),
    _brand("bizum", "bizum", r"bizum"),
    _brand("nequi", "nequi", r"nequi"),
    _brand("daviplata", "daviplata plata", r"davi\W?plata"),
    _brand("mercado pago", "mercadopago mercado mpago", r"mercado\W{0,2}pago", r"mpago"),
    _brand("revolut", "revolut", r"revolut"),
    _brand(
        "wise",
        "wise transferwise",
        r"transfer\W?wise",
        r"wise\.com",
        rf"{_VIA}wise(?:\s+(?:account|transfer|app))?",
        r"wise\s+(?:account|transfer|app)",
    ),
    _brand("western union", "westernunion western union", r"western\W{0,2}union"),
    _brand("moneygram", "moneygram gram", r"money\W?gram"),
    _brand("skrill", "skrill", r"skrill"),
    _brand("payoneer", "payoneer", r"payoneer"),
    _brand("remitly", "remitly", r"remitly"),
    _brand("yape", "yape yapeame", r"yape(?:ame)?"),
    _brand("oxxo", "oxxo", r"oxxo"),
    _brand("apple pay", "applepay apple", r"apple\W?pay"),
    _brand("google pay", "googlepay google gpay", r"google\W?pay", r"gpay"),
    _brand(
        "bank transfer",
        "transfer transferencia deposito wire iban cbu cvu clabe swift",
        r"(?:bank|wire)\s+transfer",
        r"transferencia(?:\s+bancaria)?",
        r"deposito\s+(?:bancario|en (?:mi )?cuenta|na (?:minha )?conta)",
        r"(?:mi|meu|my)\s+(?:cbu|cvu|alias|clabe|iban|cuenta bancaria|conta bancaria)",
        r"(?:cbu|cvu|clabe|iban|swift)(?=\s*[:=]?\s*\d)",
    ),
    _brand(
        "crypto",
        "bitcoin bitcoins btc usdt tether ethereum eth binance crypto cryptocurrency cripto "
        "criptomoneda criptomonedas criptomoeda criptomoedas criptos trc erc bep wallet carteira "
        "billetera",
        r"bitcoins?",
        r"btc",
        r"usdt",
        r"tether",
        r"ethereum",
        r"eth",
        r"binance(?:\s+pay)?",
        r"crypto(?:currency)?",
        r"cripto(?:moneda|moeda)?s?",
        r"(?:trc|erc|bep)\W?20",
        r"(?:crypto|wallet|carteira|billetera)\s+(?:address|adress|endereco|direccion)",
    ),
)

BRAND_KEYS: frozenset[str] = frozenset().union(
    *(b.keys for b in MESSAGING_APPS), *(b.keys for b in PAYMENT_APPS)
)

# Leet-speak read back as letters, for brand names only ("p4yp@l", "wh4ts@pp", "v3nmo").
LEET = str.maketrans({"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s"})

# Words near a number that make it a phone number ("call me 555 0123", "mi cel 612...").
PHONE_CUES = words(
    """call calls calling text txt texting sms phone phones cell cellphone mobile number num
    numbers tel tele telephone ring dial whatsapp whats wsp wpp zap wa telegram signal viber
    contact reach llama llamame llamar llamada marca marcame telefono celular cel movil
    numero contacto escribeme escribime wasap mensaje ligue liga ligar ligacao chama fone
    contato telefone manda"""
)

# Words right before a long number that make it something else: an order, an invoice, a
# tracking code, a national ID, a postal code.
# "order 123456789", "número de pedido: 98765432", "o número do pedido é 987654321"; the words
# in the second group also name other things ("claim 0800..." is a prize line), so they only
# count with "number", "no", "#" or "id" after them.
NUMBER_NOT_PHONE = re.compile(
    r"(?:(?<![a-z])(?:order|orden|pedido|invoice|factura|fatura|nota|ticket|ref|reference|"
    r"referencia|tracking|track|rastreio|rastreo|guia|id|no|nr|nro|n|code|codigo|pin|otp|isbn|"
    r"sku|serial|cpf|cnpj|rg|dni|nit|rut|cuit|nie|ssn|contract|contrato|transaction|"
    r"transaccion|transacao|txn|version|zip|cep|postal|cp|lote|batch|receipt|recibo|booking|"
    r"reserva|confirmation|confirmacion|confirmacao|protocolo|protocol|poliza|apolice|vin|"
    r"build|release|ver|"
    r"iban|cbu|cvu|clabe)\W{0,4}(?:number|numero|num|no|nr|n|#)?"
    r"|(?<![a-z])(?:item|case|caso|claim|lot|model|modelo|part|parte|account|cuenta|conta|"
    r"policy)\W{0,3}(?:number|numero|num|no|nr|n|#|id))"
    r"(?:\s+(?:is|es|e|era|was|eh))?\W{0,3}$"
)
MONEY_BEFORE = re.compile(r"(?:[$€£¥₹]|r\$|us\$|usd|eur|brl|mxn|cop|ars|clp|pen|gbp)\s?$")
MONEY_AFTER = re.compile(
    r"^\s?(?:[$€£%]|k\b|usd|eur|brl|mxn|cop|ars|clp|pen|gbp|dollars?|dolares|euros?|"
    r"reais|real|pesos?|soles|bucks|units|unidades|unidades|pcs|km|kg|mb|gb|tb|ms)"
)


@dataclass(frozen=True, slots=True)
class Phrase:
    """One off-platform pattern: run only when ``trigger`` is one of the message's words."""

    triggers: frozenset[str]
    pattern: re.Pattern[str]
    weight: float


def _payment_names() -> str:
    return (
        r"(?:pay\W?pal|venmo|zelle|cash\W?app|pix|pic\W?pay|pagseguro|bizum|nequi|daviplata|"
        r"mercado\W?pago|"
        r"revolut|wise|western\W?union|moneygram|skrill|payoneer|yape|binance|usdt|btc|"
        r"bitcoin|crypto|cripto|apple\W?pay|google\W?pay|gpay|oxxo|transferencia|"
        r"bank transfer|wire|deposito)"
    )


def _messaging_names() -> str:
    return (
        r"(?:whats\W?app|whatsap|wh?atsapp|wasap|wassap|guasap|wsp|wpp|zap|whats|wa|telegram|"
        r"tg|signal|skype|discord|wechat|viber|line|insta(?:gram)?|ig|snap(?:chat)?|facebook|"
        r"fb|messenger|kik|imessage|e-?mail|gmail|hotmail|outlook|correo|mail|phone|cell|"
        r"celular|cel|telefono|telefone|fone|numero|number|privado|private|dm|direct|"
        r"personal (?:email|number|phone))"
    )


PAY = _payment_names()
MSG = _messaging_names()

_PHRASES_SOURCE: tuple[tuple[str, str, float], ...] = (
    # --- en: paying or dealing outside ---------------------------------------------------
    (
        "directly direct",
        r"\bpay(?:ing|ment)?\s+(?:me|us|you|him|her)?\s*(?:directly|direct)\b",
        0.75,
    ),
    (
        "outside off",
        r"\b(?:pay|paid|paying|payment|deal|work|transact|trade|continue|talk|chat|"
        r"communicate|contact|meet|do business|do this|do it|finish|complete|close)\w*\s+"
        r"(?:(?:me|us|you|him|her|this|it|the rest|the deal|the job)\s+)?(?:outside|off)\s+"
        r"(?:of\s+)?(?:the\s+|this\s+)?(?:platform|site|app|website|marketplace|fiverr|upwork|"
        r"workana|here)\b",
        0.8,
    ),
    (
        "outside",
        r"\boutside\s+(?:of\s+)?(?:the|this)\s+(?:platform|site|app|website|marketplace)\b",
        0.55,
    ),
    ("off offplatform", r"\boff[\s\-]?(?:the[\s\-]?)?(?:platform|site)\b", 0.55),
    (
        "fee fees commission commissions middleman cut",
        r"\b(?:avoid|avoiding|skip|skipping|save|saving|dodge|bypass|get around|cut out|lose|"
        r"don'?t pay|no need to pay|without paying)\s+(?:on\s+)?(?:the\s+|their\s+|any\s+|"
        r"paying\s+|(?:platform|site|app|service)(?:'s)?\s+|extra\s+|those\s+|these\s+|"
        r"that\s+)*"
        r"(?:fees?|commissions?|middleman|cut|platform)\b",
        0.75,
    ),
    ("fee fees commission", r"\bno\s+(?:platform\s+)?(?:fees?|commission)\s+if\b", 0.7),
    (
        "save saves saving",
        r"\b(?:save|saves|saving)\s+(?:us|you|me|both of us)?\s*(?:both\s+)?(?:on\s+)?"
        r"(?:the\s+)?(?:\d+\s*%\s*)?(?:platform\s+|site\s+|service\s+)?(?:fees?|commissions?)\b",
        0.7,
    ),
    ("without", r"\bwithout\s+(?:the\s+)?(?:platform|site|app|fiverr|upwork|middleman)\b", 0.6),
    (
        "privately personally",
        r"\bpay(?:ment)?\s+(?:me\s+)?(?:privately|in private|personally)\b",
        0.7,
    ),
    (
        "cancel close",
        r"\b(?:cancel|close|end)\s+(?:the\s+|this\s+|our\s+)?(?:order|contract|job|offer)\s+"
        r"(?:and|then)\s+(?:i'?ll|i will|we|you|just)?\s*(?:pay|send|do it|work|continue)",
        0.75,
    ),
    ("cash hand", r"\bcash\s+in\s+hand\b", 0.45),
    # --- en: moving the conversation -------------------------------------------------------
    (
        "text call message msg ping contact reach hit add find dm write email mail follow",
        rf"\b(?:text|call|message|msg|ping|contact|reach|hit|add|find|dm|write|email|mail|"
        rf"follow)\s+(?:me|us)\s+(?:up\s+)?(?:on|at|via|through|in|over)\s+(?:my\s+)?{MSG}\b",
        0.7,
    ),
    (
        "whatsapp telegram signal skype wechat viber kik email",
        r"\b(?:whats\W?app|telegram|signal|skype|wechat|viber|kik|e-?mail)\s+(?:me|us)\b",
        0.7,
    ),
    (
        "move continue talk chat switch go take",
        rf"\b(?:let'?s|lets|we can|can we|we could|shall we|please|better to|i prefer to)\s+"
        rf"(?:move|continue|talk|chat|switch|go|take (?:this|it))\w*\s+(?:\w+\s+){{0,2}}?"
        rf"(?:to|on|over|via|in)\s+{MSG}\b",
        0.75,
    ),
    (
        # "my number is" says little until the number follows (then the number is the
        # evidence): "my email is not working" must stay below the flag on its own.
        "my personal",
        r"\b(?:my|personal)\s+(?:phone|cell|mobile|whatsapp|whats app|number|email|e-mail|"
        r"contact|telegram|signal|skype|insta|instagram|ig|snap|cell phone)"
        r"(?:\s+(?:number|address|id|no))?\s+(?:is|:)",
        0.3,
    ),
    (
        "here this",
        r"\b(?:here'?s|here is|this is|heres)\s+my\s+(?:phone|cell|mobile|number|email|e-mail|"
        r"whatsapp|contact|telegram|personal)",
        0.6,
    ),
    ("email mail", r"\b(?:e-?mail|mail)\s+me\s+(?:at|directly|on|privately)\b", 0.6),
    (
        "contact reach talk deal",
        r"\b(?:contact|reach|talk to|deal with|work with)\s+me\s+(?:directly|privately|"
        r"outside|off)\b",
        0.65,
    ),
    (
        "give send share what's whats can",
        r"\b(?:give me|send me|share|what'?s|whats|can i (?:get|have))\s+your\s+"
        r"(?:phone|number|cell|mobile|email|e-mail|whatsapp|telegram|contact|personal)",
        0.55,
    ),
    # --- payment apps in a paying context (all languages) --------------------------------
    (
        "pay paying send sending transfer wire deposit paid manda mandar mandame envia enviar "
        "enviame paga pagar pagame pagarme transfiere transfiereme transferir deposita "
        "depositar depositame faz fazer faca pagas pague pagues pasas pasame mandas envias",
        rf"\b(?:pay|send|transfer|wire|deposit|paid|mandar?|enviar?|envia|pagar?|pagame|"
        rf"pagas|pague|pagues|transfiere|transferir|deposita|depositar|faz|fazer|faca|pasas|"
        rf"pasame|mandas|envias)\w*\b"
        rf"(?:\s+\S+){{0,4}}?\s+(?:to|into|on|via|through|with|by|using|over|por|en|a|al|con|com|"
        rf"pelo|pela|no|na|x)\s+(?:my\s+|mi\s+|meu\s+|minha\s+|o\s+|el\s+)?{PAY}\b",
        0.7,
    ),
    ("my mi meu minha", rf"\b(?:my|mi|meu|minha)\s+{PAY}\b", 0.55),
    (
        # The app as the object: "send USDT", "pay in bitcoin", "mándame nequi". Not "pix",
        # which in English is also pictures ("send me pix of the damage").
        "send pay transfer wire mandame enviame manda envia paga pagame",
        rf"\b(?:send|pay|transfer|wire|mandame|enviame|manda|envia|paga|pagame)\s+"
        rf"(?:me\s+|in\s+|en\s+|em\s+|por\s+|the\s+|it\s+)?(?!pix\b){PAY}\b",
        0.6,
    ),
    (
        "accept take prefer only acepto aceptamos aceito aceitamos prefiero prefiro solo so",
        rf"\b(?:accept|take|prefer|only (?:take|accept)|acepto|aceptamos|aceito|"
        rf"aceitamos|prefiero|prefiro|solo acepto|so aceito)\s+(?:\w+\s+){{0,2}}?{PAY}\b",
        0.55,
    ),
    ("only solo so instead", rf"\b{PAY}\s+(?:only|solamente|solo|so|instead|mejor)\b", 0.55),
    (
        "need go through",
        r"\bno\s+need\s+(?:to\s+)?(?:go|pay|use)\s+(?:through|via|on)\s+(?:the\s+)?"
        r"(?:site|platform|app|website)\b",
        0.7,
    ),
    (
        "venmo zelle paypal cashapp cash bizum nequi pix",
        r"\b(?:venmo|zelle|pay\W?pal|cash\W?app|bizum|nequi)\s+me\b",
        0.65,
    ),
    # --- es ------------------------------------------------------------------------------
    (
        "pagame pagas pagues pagarme pagar pago paga pague depositame transfiereme deposita "
        "transfiere pagarias",
        r"\b(?:pagame|me pagas|me pagues|me puedes pagar|pagarme|pagas|pago|pagar|paga|pagues|"
        r"pague|depositame|transfiereme|deposita|transfiere|pagarias)\s+(?:\w+\s+){0,3}?"
        r"(?:directo|directamente|por fuera|aparte|en efectivo|por privado|personalmente)\b",
        0.75,
    ),
    (
        "fuera",
        r"\bfuera\s+de\s+(?:la\s+|esta\s+)?(?:plataforma|app|aplicacion|pagina|sitio|web)\b",
        0.65,
    ),
    (
        "fuera",
        r"\b(?:arreglamos|arreglar|negociamos|negociar|cerramos|cerrar|acordamos|trabajamos|"
        r"trabajar|tratamos|hacemos|hacerlo|lo hacemos|cuadramos|seguimos|pagamos)\s+"
        r"(?:\w+\s+){0,2}?por\s+fuera\b",
        0.7,
    ),
    (
        "comision comisiones intermediario intermediarios plataforma",
        r"\bsin\s+(?:\w+\s+)?(?:comision|comisiones|intermediarios?|la plataforma|"
        r"pasar por la plataforma)\b",
        0.7,
    ),
    (
        "comision comisiones tarifa tarifas fee cargos intermediario plataforma",
        r"\b(?:evitar|evitamos|evitemos|ahorrar|ahorrarnos|ahorrarte|ahorramos|nos ahorramos|"
        r"te ahorras|saltarnos|saltar|no pagar|sin pagar|no pagamos|no pagas|no pagues)\s+"
        r"(?:\w+\s+){0,2}?(?:la |las |el |"
        r"los )?(?:comision|comisiones|tarifa|tarifas|fee|cargos?|intermediario|plataforma)\b",
        0.75,
    ),
    (
        "mi",
        r"\bmi\s+(?:numero|whatsapp|wsp|wasap|correo|email|mail|cel|celular|telefono|movil|"
        r"telegram|insta|instagram|ig|contacto)\b(?!\s+de\s+(?:pedido|orden|factura|"
        r"seguimiento|guia|rastreo|referencia|ticket|caso|cuenta))",
        0.3,
    ),
    (
        "paso dejo anota pasame dame este aqui",
        rf"\b(?:te paso mi|te dejo mi|este es mi|aqui esta mi|anota mi|pasame tu|dame tu)\s+"
        rf"(?:numero|whatsapp|wsp|wasap|correo|email|mail|cel|celular|telefono|movil|telegram|"
        rf"insta|instagram|ig|contacto|alias|cbu|cvu|clabe|cuenta|{PAY})\b(?!\s+de\s+(?:pedido|"
        rf"orden|factura|seguimiento|guia|rastreo|referencia|ticket|caso))",
        0.55,
    ),
    (
        "escribeme escribime llamame hablame contactame agregame mandame enviame marcame "
        "buscame textea sigueme seguime",
        rf"\b(?:escribeme|escribime|llamame|hablame|contactame|agregame|mandame|enviame|"
        rf"marcame|buscame|texteame|sigueme|seguime)\s+(?:\w+\s+){{0,2}}?(?:al|por|a|en|mi)\s+{MSG}\b",
        0.7,
    ),
    (
        "hablemos sigamos seguimos continuemos pasemos hablamos platicamos arreglamos "
        "cerramos cuadramos negociamos tratemos pasate pasemonos cambiemos",
        rf"\b(?:hablemos|sigamos|seguimos|continuemos|pasemos|hablamos|platicamos|arreglamos|"
        rf"cerramos|cuadramos|negociamos|tratemos|pasate|pasemonos|cambiemos)\s+(?:\w+\s+){{0,2}}?(?:por|en|al|a)\s+"
        rf"(?:{MSG}|fuera)\b",
        0.65,
    ),
    (
        "mandame",
        r"\bmandame\s+un\s+(?:wasap|whatsapp|wsp|mensaje al|msj al|correo)\b",
        0.7,
    ),
    (
        "bizum",
        r"\b(?:hazme|haceme|mandame|enviame|te hago|pasame|me haces|hacer)\s+un\s+bizum\b",
        0.7,
    ),
    ("pago", r"\bpago\s+(?:directo|por fuera|aparte|en efectivo|por privado)\b", 0.65),
    (
        "pedido orden contrato trabajo",
        r"\bcancel\w*\s+(?:el|la)\s+(?:pedido|orden|contrato|trabajo|proyecto)\s+y\s+"
        r"(?:te|me)\s+(?:pago|pagas|pagar|deposito|transfiero)",
        0.75,
    ),
    # --- pt ------------------------------------------------------------------------------
    (
        "paga pague pagar pagamento pago paguei deposita transfere",
        r"\b(?:me paga|me pague|pode pagar|paga|pagar|pague|pagamento|pago|paguei|deposita|"
        r"transfere|faz o pagamento)\s+(?:\w+\s+){0,3}?(?:direto|diretamente|por fora|a parte|"
        r"em maos|em dinheiro|no particular)\b",
        0.75,
    ),
    (
        "fora",
        r"\b(?:fora|por fora)\s+d[ao]\s+(?:plataforma|app|aplicativo|site|sistema)\b",
        0.8,
    ),
    (
        "fora",
        r"\b(?:fechar|fechamos|fecha|negociar|negociamos|combinar|combinamos|acertar|"
        r"acertamos|resolver|resolvemos|fazer|fazemos|trabalhar|trabalhamos|tratar|"
        r"tratamos|pagar|pagamos|vender|vendemos)\s+(?:\w+\s+){0,2}?por\s+fora\b",
        0.7,
    ),
    (
        "taxa taxas comissao comissoes intermediario intermediarios plataforma",
        r"\bsem\s+(?:\w+\s+)?(?:taxa|taxas|comissao|comissoes|intermediarios?|a plataforma|"
        r"passar pela plataforma)\b",
        0.7,
    ),
    (
        "taxa taxas comissao comissoes tarifa tarifas plataforma",
        r"\b(?:evitar|evita|economizar|economizamos|economiza|fugir|pular|nao pagar|sem pagar|"
        r"nao pagamos|nao paga)"
        r"\s+(?:\w+\s+){0,2}?(?:a |as |o |os |da |das |na |nas )?(?:taxa|taxas|comissao|"
        r"comissoes|tarifa|tarifas|plataforma)\b",
        0.75,
    ),
    (
        "meu minha",
        r"\b(?:meu|minha)\s+(?:numero|zap|whats|whatsapp|wpp|email|e-mail|celular|cel|"
        r"telefone|fone|insta|instagram|telegram|contato)\b(?!\s+d[oe]\s+(?:pedido|"
        r"protocolo|contrato|rastreio|cadastro|conta))",
        0.3,
    ),
    (
        "anota segue passo passa esse aqui",
        r"\b(?:anota meu|anota o meu|segue meu|segue o meu|esse e meu|esse e o meu|"
        r"aqui esta meu|te passo meu|te passo o meu|passa teu|passa seu|me passa seu|"
        r"me passa o seu|me passa teu)\s+"
        r"(?:numero|zap|whats|whatsapp|wpp|email|e-mail|celular|cel|telefone|fone|insta|"
        r"instagram|telegram|contato|chave pix)\b(?!\s+d[oe]\s+(?:pedido|protocolo|contrato|"
        r"rastreio|cadastro|conta))",
        0.55,
    ),
    (
        "chama liga manda add adiciona encontra fala procura chame ligue segue",
        rf"\b(?:me chama|me liga|me manda|manda|chama|me add|me adiciona|adiciona|me encontra|"
        rf"fala comigo|me procura|me chame|me ligue|me chamar|me segue|segue)\s+"
        rf"(?:\w+\s+){{0,2}}?(?:no|na|pelo|pela|por|via)\s+{MSG}\b",
        0.7,
    ),
    (
        "pix",
        r"\b(?:faz|faca|fazer|manda|mande|me manda|envia|me faz|me faca)\s+(?:um|o)\s+pix\b",
        0.65,
    ),
    ("pix", r"\bchave\s+pix\b", 0.6),
    (
        "vamos podemos bora melhor",
        rf"\b(?:vamos|podemos|bora|melhor)\s+(?:\w+\s+){{0,2}}?(?:falar|conversar|continuar|"
        rf"negociar|fechar|combinar|tratar)\s+(?:\w+\s+){{0,2}}?(?:no|pelo|por|via|na|pela)\s+"
        rf"(?:{MSG}|fora)\b",
        0.7,
    ),
    (
        "pedido contrato projeto trabalho",
        r"\bcancela\w*\s+(?:o|a)\s+(?:pedido|contrato|projeto|trabalho)\s+e\s+(?:te|me)\s+"
        r"(?:pago|paga|pagar|deposito|transfiro)",
        0.75,
    ),
)


def _phrase(triggers: str, pattern: str, weight: float) -> Phrase:
    if not pattern.startswith(r"\b"):
        raise ValueError(f"a phrase must start at a word boundary: {pattern[:40]}")
    # The leading \b is checked by ``word_start`` instead (much faster to search).
    return Phrase(frozenset(triggers.split()), re.compile(pattern[2:]), weight)


PHRASES: tuple[Phrase, ...] = tuple(_phrase(*source) for source in _PHRASES_SOURCE)
PHRASE_TRIGGERS: frozenset[str] = frozenset().union(*(p.triggers for p in PHRASES))
# trigger word -> indexes into PHRASES (in order), so a message tries only its phrases.
PHRASES_BY_TRIGGER: dict[str, tuple[int, ...]] = {
    word: tuple(i for i, p in enumerate(PHRASES) if word in p.triggers) for word in PHRASE_TRIGGERS
}

# Before a phrase, in the same clause: it is reported, refused or warned against, not asked
# for ("never pay outside the platform", "he asked me to pay him directly", "no pagues por
# fuera", "não pague fora da plataforma").
NEGATION = re.compile(
    r"(?:\b(?:don'?t|do not|dont|never|not|cannot|can'?t|won'?t|wont|shouldn'?t|should not|"
    r"mustn'?t|must not|refuse|refused|refusing|against|prohibited|forbidden|"
    r"asked me to|asks me to|asking me to|told me to|wants me to|wanted me to|tried to|"
    r"trying to|nunca|jamas|jamais|nao|me pidio|me pide|me pidieron|me pediu|me pediram|"
    r"pediu para|pediu pra|quiere que|queria que|quer que|no acepto|no aceptamos|no hago|"
    r"no hacemos|no trabajo|no trabajamos|no quiero|no puedo|no podemos|no se puede|"
    r"no permitimos|no se permite)\b\s*(?:\w+\s*){0,3}"
    r"|\bno\s+(?:\w+\s+)?)$"
)
CLAUSE_BREAK = re.compile(r"[.;!?,:\n]")
