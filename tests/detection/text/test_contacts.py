# ruff: noqa: RUF001, RUF003
"""The contact and off-platform detector: each disguise it must see through, the ordinary talk
it must leave alone, and its precision and recall on the project's labelled corpus."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from vigil.detection.text import contacts
from vigil.detection.text.contacts import FLAG_AT, scan

HERE = Path(__file__).parent
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def read_corpus(name: str) -> list[tuple[int, str, str, str]]:
    rows = []
    for line in (HERE / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, lang, family, text = line.split("\t")
        rows.append(
            (int(label), lang, family, _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))
        )
    return rows


def precision_recall(rows: list[tuple[int, str, str, str]]) -> tuple[float, float, list[str]]:
    tp = fp = fn = 0
    errors = []
    for label, _lang, family, text in rows:
        flagged = scan(text).flagged
        tp += flagged and label == 1
        fp += flagged and label == 0
        fn += (not flagged) and label == 1
        if flagged != bool(label):
            errors.append(f"{'missed' if label else 'false alarm'} [{family}] {text}")
    return tp / max(1, tp + fp), tp / max(1, tp + fn), errors


# --- the corpus ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "floor"),
    [
        ("contact_corpus.tsv", 0.97),
        ("contact_corpus_holdout.tsv", 0.9),
        ("contact_corpus_blind.tsv", 0.9),
    ],
)
def test_corpus_precision_and_recall(name: str, floor: float) -> None:
    rows = read_corpus(name)
    precision, recall, errors = precision_recall(rows)
    assert precision >= floor and recall >= floor, "\n".join(errors)


def test_corpus_is_big_enough_and_in_three_languages() -> None:
    rows = [
        row
        for name in ("contact_corpus.tsv", "contact_corpus_holdout.tsv", "contact_corpus_blind.tsv")
        for row in read_corpus(name)
    ]
    assert sum(r[0] for r in rows) >= 150
    assert sum(1 - r[0] for r in rows) >= 150
    assert {r[1] for r in rows} == {"en", "es", "pt"}


# --- emails -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("write to mark.taylor88@gmail.com", "mark.taylor88@gmail.com"),
        ("john dot smith at g m a i l dot com", "john.smith@gmail.com"),
        ("john[at]gmail(dot)com", "john@gmail.com"),
        ("john (at) gmail (dot) com", "john@gmail.com"),
        ("studio{at}pixelworks{dot}io", "studio@pixelworks.io"),
        ("j o h n @ gmail", "john@gmail"),
        ("JohnATgmailDOTcom", "john@gmail.com"),
        ("maria.lopez arroba hotmail punto com", "maria.lopez@hotmail.com"),
        ("ana.souza arroba gmail ponto com", "ana.souza@gmail.com"),
        ("sarah underscore k at hotmail dot com", "sarah_k@hotmail.com"),
        ("ｊｏｈｎ＠ｇｍａｉｌ．ｃｏｍ", "john@gmail.com"),
        ("jоhn@gmаil.com", "john@gmail.com"),  # Cyrillic о and а
        ("john\u200b@\u200bgmail.com", "john@gmail.com"),
        ("mike.r @ yahoo . com", "mike.r@yahoo.com"),
        ("drop me a line at kate_designs at gmail", "kate_designs@gmail"),
        ("a n a . r 8 8 @ m a i l . e x a m p l e", "ana.r88@mail.example"),
    ],
)
def test_emails_through_disguises(text: str, email: str) -> None:
    result = scan(text)
    assert result.emails == [email]
    assert result.flagged


def test_a_disguised_email_counts_as_obfuscated_and_a_plain_one_does_not() -> None:
    assert scan("john[at]gmail(dot)com").obfuscated
    assert not scan("john@gmail.com").obfuscated
    assert scan("john[at]gmail(dot)com").score > scan("john@gmail.com").score


@pytest.mark.parametrize(
    "text",
    [
        "I'll send the file at 5",
        "the gmail integration is broken",
        "look at gmail for the invite",
        "we met at the google office",
        "sold at amazon.com last year",
        "show msg+ticket@kiosk.Valid 4-7/12",
        "I'm at home",
    ],
)
def test_no_email_in_ordinary_sentences(text: str) -> None:
    assert scan(text).emails == []


# --- phones -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Call me at 917-555-0123 tonight", "9175550123"),
        ("my cell is (415) 555-2671", "4155552671"),
        ("text +1 646 555 0199", "+16465550199"),
        ("reach me 917.555.0123", "9175550123"),
        ("9 1 7 5 5 5 0 1 2 3 call me", "9175550123"),
        ("zap 1-1-9-8-7-6-5-4-3-2-1", "11987654321"),
        ("nine one seven five five five zero one two three", "9175550123"),
        ("my number: 9one7 5five5 01two3", "9175550123"),
        ("four one five, five five five, two six seven oh", "4155552670"),
        ("call me on double seven nine one one, one two three four five six", "77911123456"),
        ("call 917 555 O1O2", "9175550102"),
        ("📞 9️⃣1️⃣7️⃣5️⃣5️⃣5️⃣0️⃣1️⃣2️⃣3️⃣", "9175550123"),
        ("llámame al nueve uno siete, cinco cinco cinco, cero uno dos tres", "9175550123"),
        ("mi número es tres cero cero, uno dos tres, cuatro cinco seis siete", "3001234567"),
        ("meu número é onze nove oito sete seis cinco quatro três dois um", "11987654321"),
        ("liga pra mim: nove meia meia dois, três quatro cinco seis", "96623456"),
        ("mi cel: veinticinco treinta y dos cuarenta y uno noventa", "25324190"),
        ("+55 11 98765-4321", "+5511987654321"),
        ("me chama no zap 11 98765-4321", "11987654321"),
        ("mi whatsapp es +34 612 345 678", "+34612345678"),
        ("ring me on 07911 123456", "07911123456"),
        ("wa.me/15551234567", "+15551234567"),
    ],
)
def test_phones_through_disguises(text: str, phone: str) -> None:
    result = scan(text)
    assert phone in result.phones
    assert result.flagged


def test_a_spelled_out_number_counts_as_obfuscated() -> None:
    assert scan("nine one seven five five five zero one two three").obfuscated
    assert not scan("call 917-555-0123").obfuscated


@pytest.mark.parametrize(
    "text",
    [
        "It costs $150",
        "o total é R$ 1.500,00",
        "$1,250 for the full project",
        "cuesta 2.500.000 pesos",
        "budget 1500-2000",
        "delivery on 2024-05-12",
        "due 12/05/2024",
        "between 9.30-10.30 works for me",
        "years 2019 2020 2021 were slow",
        "order #123456789 shipped",
        "my order number is 112-4567890-1234567",
        "número de pedido 98765432",
        "mi número de orden es 556677889",
        "o número do pedido é 987654321",
        "tracking 9400111899223856922476",
        "IP 192.168.1.10 is blocked",
        "ISBN 978-3-16-148410-0",
        "sizes 36 38 40 42 44",
        "prices 150 200 300 400",
        "the function returns 1234567 rows",
        "call me when you arrive",
        "one or two revisions, maybe three",
    ],
)
def test_no_phone_in_numbers_that_are_something_else(text: str) -> None:
    result = scan(text)
    assert result.phones == []
    assert not result.flagged


def test_a_short_local_number_needs_a_word_that_says_phone() -> None:
    assert scan("555-0123").phones == []
    assert scan("call me 555-0123").phones == ["5550123"]


# --- links, handles, apps -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("join here t.me/cheapdeals_bot", "t.me/cheapdeals_bot"),
        ("https://wa.me/5511987654321?text=hi", "https://wa.me/5511987654321?text=hi"),
        ("wa(.)me/5215512345678", "wa.me/5215512345678"),
        ("wa dot me slash 15551234567", "wa.me/15551234567"),
        ("paypal.me/johnsmith88 send it there", "paypal.me/johnsmith88"),
    ],
)
def test_off_platform_links(text: str, url: str) -> None:
    result = scan(text)
    assert url in result.urls
    assert result.score >= contacts.W_OFF_PLATFORM_LINK


def test_an_ordinary_link_is_noted_but_not_flagged() -> None:
    result = scan("the docs are at docs.python.org/3/library")
    assert result.urls == ["docs.python.org/3/library"]
    assert not result.flagged


@pytest.mark.parametrize(
    "text", ["thanks.so much", "done.it works", "file.pdf attached", "use node.js", "e.g. this"]
)
def test_no_link_in_words_glued_to_a_dot(text: str) -> None:
    assert scan(text).urls == []


@pytest.mark.parametrize(
    ("text", "handle"),
    [
        ("IG: @jenny.designs", "ig:@jenny.designs"),
        ("my insta is @mike_photo", "insta:@mike_photo"),
        ("snap: johnny_b23", "snap:@johnny_b23"),
        ("telegram @cryptoking99", "telegram:@cryptoking99"),
        ("venmo @Mike-Jones-12", "venmo:@mike-jones-12"),
        ("discord: wolf#1234", "discord:@wolf"),
    ],
)
def test_handles_on_other_apps(text: str, handle: str) -> None:
    assert handle in scan(text).handles


def test_a_bare_mention_is_a_handle_only_when_an_app_is_named() -> None:
    assert scan("@maria thanks for the files").handles == []
    assert "@maria_fotos" in scan("búscame en ig como @maria_fotos").handles


@pytest.mark.parametrize(
    ("text", "app"),
    [
        ("whatsapp me", "whatsapp"),
        ("w h a t s a p p me", "whatsapp"),
        ("wh4ts@pp me pls", "whatsapp"),
        ("w.h.a.t.s.a.p.p", "whatsapp"),
        ("𝔀𝓱𝓪𝓽𝓼𝓪𝓹𝓹", "whatsapp"),
        ("mándame un wasap", "whatsapp"),
        ("me chama no zap", "whatsapp"),
        ("add me on telegram", "telegram"),
        ("text me on signal", "signal"),
        ("hit me up on insta", "instagram"),
    ],
)
def test_messaging_apps(text: str, app: str) -> None:
    assert app in scan(text).messaging_apps


@pytest.mark.parametrize(
    ("text", "app"),
    [
        ("send the money to my venmo", "venmo"),
        ("zelle me the rest", "zelle"),
        ("p4yp@l only, friends and family", "paypal"),
        ("I accept Cash App", "cash app"),
        ("faz um pix que eu já começo", "pix"),
        ("hazme un bizum y listo", "bizum"),
        ("te paso mi nequi", "nequi"),
        ("paga por mercado pago", "mercado pago"),
        ("I'll pay you via Wise", "wise"),
        ("pay via western union", "western union"),
        ("deposítame en OXXO", "oxxo"),
        ("me paga por PicPay", "picpay"),
        ("send USDT (TRC20)", "crypto"),
        ("mi CBU es 0110599520000001234567", "bank transfer"),
    ],
)
def test_payment_apps(text: str, app: str) -> None:
    result = scan(text)
    assert app in result.payment_apps
    assert result.flagged


@pytest.mark.parametrize(
    "text",
    [
        "send me pix of the damage",
        "that's a wise choice",
        "drop me a line when it's done",
        "can you zap the background noise?",
        "the signal is weak in my area",
    ],
)
def test_app_names_that_are_ordinary_words(text: str) -> None:
    result = scan(text)
    assert result.payment_apps == [] and result.messaging_apps == []


def test_naming_an_app_alone_stays_below_the_flag() -> None:
    for text in (
        "PayPal checkout on the platform failed",
        "does the app support WhatsApp notifications?",
        "My WhatsApp is broken so I'll check messages here",
    ):
        result = scan(text)
        assert result.payment_apps or result.messaging_apps
        assert result.score < FLAG_AT


# --- payment identifiers ------------------------------------------------------------------------


def test_crypto_addresses_with_a_valid_checksum() -> None:
    assert (
        "crypto:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
        in scan("btc: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").payment_handles
    )
    assert (
        "crypto:TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"
        in scan("USDT TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7").payment_handles
    )
    eth = "0x742d35Cc6634C0532925a3b844Bc454e4438f44e"
    assert f"crypto:{eth}" in scan(f"ETH: {eth}").payment_handles
    # One character changed: the base58 checksum fails, so it is just a token.
    assert scan("ref 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb").payment_handles == []


def test_iban_with_a_valid_check_and_not_as_a_phone() -> None:
    result = scan("IBAN GB29 NWBK 6016 1331 9268 19, wire it there")
    assert result.payment_handles == ["iban:GB29NWBK60161331926819"]
    assert result.phones == []
    assert scan("GB28 NWBK 6016 1331 9268 19").payment_handles == []  # check digits wrong


def test_pix_keys_and_cashtags() -> None:
    assert "pix:123.456.789-09" in scan("chave pix: 123.456.789-09").payment_handles
    key = "1f2e3d4c-aaaa-bbbb-cccc-1234567890ab"
    assert f"pix:{key}" in scan(f"manda o pix pra chave aleatória {key}").payment_handles
    assert "cashtag:$jsmith22" in scan("cash app $jsmith22").payment_handles
    assert scan("it costs $150").payment_handles == []


# --- phrases ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "If you pay me directly I can knock off the 20% fee",
        "we can avoid the fees if you pay me off the platform",
        "Let's do this outside the platform",
        "cancel the order and pay me direct",
        "contact me directly so we skip the middleman",
        "let's continue on telegram",
        "págame directamente y te hago descuento",
        "mejor lo arreglamos por fuera",
        "sin comisión si me pagas aparte",
        "así evitamos la comisión de la página",
        "me paga direto que eu te dou desconto",
        "fora da plataforma sai mais barato",
        "sem taxa se fechar por fora",
        "cancela o pedido e te pago no pix",
    ],
)
def test_off_platform_phrases(text: str) -> None:
    result = scan(text)
    assert result.off_platform_phrases
    assert result.flagged


@pytest.mark.parametrize(
    "text",
    [
        "Never pay outside the platform!",
        "He asked me to pay outside the platform, is that allowed?",
        "no pagues por fuera, es contra las reglas",
        "não pague fora da plataforma",
        "We can't work outside the platform",
        "the freelancer asked me to pay via Zelle, I refused",
        "I paid the invoice through the platform",
    ],
)
def test_warnings_and_reports_are_not_solicitation(text: str) -> None:
    assert not scan(text).flagged


def test_a_negation_only_reaches_within_its_clause() -> None:
    assert scan("Don't worry, I'll pay you directly tomorrow").flagged


# --- the result ---------------------------------------------------------------------------------


def test_empty_and_ordinary_text_give_the_empty_result() -> None:
    assert scan("") == contacts.EMPTY
    assert scan("   ") == contacts.EMPTY
    result = scan("see you at the meeting tomorrow")
    assert result.score == 0.0 and result.contact_count == 0 and not result.flagged


def test_score_combines_evidence_and_counts_details() -> None:
    one = scan("email me: john@gmail.com")
    two = scan("email me: john@gmail.com or whatsapp +1 646 555 0199")
    assert 0.0 < one.score < two.score <= 1.0
    assert two.contact_count == 2
    payload = two.to_dict()
    assert payload["contact_count"] == 2 and payload["flagged"] is True
    assert payload["phones"] == ["+16465550199"]


def test_never_raises_on_odd_input() -> None:
    rng = random.Random(1)
    alphabet = "ab@.:/$# 0123456789()[]{}<>-_*+ñçãé\u200b\u0301🙂𝔀＠"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200)))
        result = scan(text)
        assert 0.0 <= result.score <= 1.0
    long = "nine one seven " * 5_000 + "john@gmail.com " * 1_000
    assert 0.0 <= scan(long).score <= 1.0
