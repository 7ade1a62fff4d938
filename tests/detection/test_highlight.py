# ruff: noqa: RUF001, RUF003
"""Highlighting: what the contact detector found, marked where it is in the original text,
through the disguises the detector undoes, and rendered as safe HTML."""

from __future__ import annotations

import itertools
import random

import pytest

from tests.detection.text.test_contacts import read_corpus
from vigil.detection.text.contacts import scan
from vigil.detection.text.highlight import KINDS, Span, highlight, render_marked


def marked(text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in highlight(text)]


@pytest.mark.parametrize(
    ("text", "kind", "part"),
    [
        # emails, plain and disguised
        ("write to mark.taylor88@gmail.com today", "email", "mark.taylor88@gmail.com"),
        ("john dot smith at g m a i l dot com", "email", "john dot smith at g m a i l dot com"),
        ("mail john[at]gmail(dot)com now", "email", "john[at]gmail(dot)com"),
        ("studio{at}pixelworks{dot}io", "email", "studio{at}pixelworks{dot}io"),
        ("JohnATgmailDOTcom", "email", "JohnATgmailDOTcom"),
        ("maria.lopez arroba hotmail punto com", "email", "maria.lopez arroba hotmail punto com"),
        ("sarah underscore k at hotmail dot com", "email", "sarah underscore k at hotmail dot com"),
        ("escribe a ｊｏｈｎ＠ｇｍａｉｌ．ｃｏｍ", "email", "ｊｏｈｎ＠ｇｍａｉｌ．ｃｏｍ"),
        ("jоhn@gmаil.com", "email", "jоhn@gmаil.com"),  # Cyrillic о and а
        ("x john\u200b@\u200bgmail.com y", "email", "john\u200b@\u200bgmail.com"),
        ("drop me a line at kate_designs at gmail", "email", "kate_designs at gmail"),
        # phones
        ("Call me at 917-555-0123 tonight", "phone", "917-555-0123"),
        ("my cell is (415) 555-2671", "phone", "(415) 555-2671"),
        ("text +1 646 555 0199", "phone", "+1 646 555 0199"),
        ("call 917 555 O1O2", "phone", "917 555 O1O2"),
        (
            "nine one seven five five five zero one two three",
            "phone",
            "nine one seven five five five zero one two three",
        ),
        ("my number: 9one7 5five5 01two3", "phone", "9one7 5five5 01two3"),
        (
            "mi cel: veinticinco treinta y dos cuarenta y uno noventa",
            "phone",
            "veinticinco treinta y dos cuarenta y uno noventa",
        ),
        ("📞 9️⃣1️⃣7️⃣5️⃣5️⃣5️⃣0️⃣1️⃣2️⃣3️⃣ ok", "phone", "9️⃣1️⃣7️⃣5️⃣5️⃣5️⃣0️⃣1️⃣2️⃣3️⃣"),
        # links, usernames, payment details
        ("join here t.me/cheapdeals_bot", "url", "t.me/cheapdeals_bot"),
        ("wa dot me slash 15551234567", "url", "wa dot me slash 15551234567"),
        ("IG: @jenny.designs", "handle", "@jenny.designs"),
        ("discord: wolf#1234", "handle", "wolf#1234"),
        (
            "btc: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "payment_handle",
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        ),
        (
            "IBAN GB29 NWBK 6016 1331 9268 19, wire it",
            "payment_handle",
            "GB29 NWBK 6016 1331 9268 19",
        ),
        ("cash app $jsmith22", "payment_handle", "$jsmith22"),
        # phrases and app names
        ("If you pay me directly I can knock off the fee", "phrase", "pay me directly"),
        ("págame directamente y te hago descuento", "phrase", "págame directamente"),
        ("wh4ts@pp me pls", "phrase", "wh4ts@pp me"),
        ("w.h.a.t.s.a.p.p", "messaging_app", "w.h.a.t.s.a.p.p"),
        ("𝔀𝓱𝓪𝓽𝓼𝓪𝓹𝓹", "messaging_app", "𝔀𝓱𝓪𝓽𝓼𝓪𝓹𝓹"),
        ("is Cash App down today?", "payment_app", "Cash App"),
        ("cancela o pedido e te pago no pix", "payment_app", "pix"),
    ],
)
def test_each_finding_is_marked_where_it_is_written(text: str, kind: str, part: str) -> None:
    assert (kind, part) in marked(text)


def test_labels_say_what_a_span_is_without_repeating_it() -> None:
    text = "whatsapp me: john[at]gmail(dot)com or +1 646 555 0199"
    labels = {s.kind: s.label for s in highlight(text)}
    assert labels["email"] == "email address, disguised"
    assert labels["phone"] == "phone number"
    assert all("john" not in label and "646" not in label for label in labels.values())
    assert {s.label for s in highlight("IG: @jenny.designs")} >= {"username on Instagram"}


def test_a_plain_email_is_not_called_disguised() -> None:
    assert [s.label for s in highlight("mark.taylor88@gmail.com")] == ["email address"]


def test_ordinary_talk_and_negated_phrases_are_not_marked() -> None:
    assert highlight("The logo looks great, can you send the final files by Friday?") == []
    assert highlight("I'll send the file at 5, it costs $150") == []
    assert highlight("") == []
    assert highlight("   ") == []
    # The first clause warns against it, the second asks for it: only the second is marked.
    text = "Never pay outside the platform! But pay me directly."
    assert marked(text) == [("phrase", "pay me directly")]


def test_every_contact_detail_in_the_corpus_is_located() -> None:
    """Every value ``scan`` reports in the labelled corpus is marked in the original text
    (a phone inside a wa.me link is marked as the link), and every flagged message has a
    mark."""
    missing = []
    for name in ("contact_corpus.tsv", "contact_corpus_holdout.tsv", "contact_corpus_blind.tsv"):
        for _label, _lang, _family, text in read_corpus(name):
            found = scan(text)
            spans = highlight(text)
            kinds = {s.kind for s in spans}
            if found.flagged and not spans:
                missing.append(("anything", text))
            for kind, values in (
                ("email", found.emails),
                ("url", found.urls),
                ("handle", found.handles),
                ("payment_handle", found.payment_handles),
                ("phrase", found.off_platform_phrases),
            ):
                missing += [(kind, text) for _ in values if kind not in kinds]
            if found.phones and "phone" not in kinds and "url" not in kinds:
                missing.append(("phone", text))
    assert missing == []


def test_spans_are_sorted_disjoint_and_inside_the_text() -> None:
    rng = random.Random(7)
    alphabet = "ab@.:/$# 0123456789()[]{}<>-_*+ñçãé\u200b\u0301🙂𝔀＠"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200))) for _ in range(300)]
    texts += [
        "whatsapp +1 646 555 0199, wa.me/16465550199, john@gmail.com, pay me directly " * 3,
        "ｃａｌｌ ｍｅ ９１７ ５５５ ０１２３ ｏｒ ｗｈａｔｓａｐｐ",
        "é\u0301 café\u0301 john\u0301@gmail.com",
    ]
    for text in texts:
        spans = highlight(text)
        for a, b in itertools.pairwise(spans):
            assert a.end <= b.start
        for s in spans:
            assert 0 <= s.start < s.end <= len(text)
            assert s.kind in KINDS


def test_combining_accents_stay_inside_the_mark() -> None:
    text = "escribeme: jose\u0301@gmail.com gracias"
    [(kind, part)] = marked(text)[-1:]
    assert (kind, part) == ("email", "jose\u0301@gmail.com")


def test_render_escapes_everything_and_wraps_spans() -> None:
    text = '<b>hi</b> "pay me directly" & email x@gmail.com <script>alert(1)</script>'
    html = str(render_marked(text, highlight(text)))
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&amp;" in html
    phrase = (
        '<mark class="hit hit-phrase" title="asks to leave the platform">pay me directly</mark>'
    )
    assert phrase in html
    assert '<mark class="hit hit-email" title="email address">x@gmail.com</mark>' in html


def test_render_escapes_labels_and_ignores_bad_spans() -> None:
    text = "abcdef"
    spans = [
        Span(0, 2, "phrase", '"><script>'),
        Span(1, 3, "email", "overlaps the first"),
        Span(4, 99, "phone", "past the end"),
        Span(3, 3, "url", "empty"),
        Span(4, 5, "weird kind", "x"),
    ]
    html = str(render_marked(text, spans))
    assert html == (
        '<mark class="hit hit-phrase" title="&#34;&gt;&lt;script&gt;">ab</mark>cd'
        '<mark class="hit hit-other" title="x">e</mark>f'
    )


def test_redacted_rendering_hides_contact_details_but_not_phrases() -> None:
    text = "pay me directly: john@gmail.com or +1 646 555 0199"
    html = str(render_marked(text, highlight(text), redact=True))
    assert "john" not in html and "646" not in html
    assert "[email address hidden]" in html and "[phone number hidden]" in html
    assert ">pay me directly</mark>" in html
