# ruff: noqa: RUF001, RUF003
"""Obfuscation folding, one family at a time."""

from __future__ import annotations

import pytest

from vigil.detection.text.normalize import (
    collapse_spaced,
    fold,
    leet_digits,
    prepare,
    unbracket,
    words_to_digits,
)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Págame por FUERA", "pagame por fuera"),
        ("ｊｏｈｎ＠ｇｍａｉｌ", "john@gmail"),
        ("𝔀𝓱𝓪𝓽𝓼𝓪𝓹𝓹", "whatsapp"),
        ("ⓦⓗⓐⓣⓢⓐⓟⓟ", "whatsapp"),
        ("wh\u200bats\u200dapp", "whatsapp"),
        ("gmаil", "gmail"),  # Cyrillic а
        ("what\u2019s", "what's"),
        ("9\ufe0f\u20e31\ufe0f\u20e3", "91"),  # keycap emoji digits
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_unbracket_replaces_bracketed_separators_only() -> None:
    assert unbracket("john[at]gmail(dot)com") == "john @ gmail.com"
    assert unbracket("x {arroba} y <punto> z") == "x  @  y . z"
    assert unbracket("see (attached) [draft]") == "see (attached) [draft]"


@pytest.mark.parametrize(
    ("text", "collapsed"),
    [
        ("j o h n @ gmail", "john @ gmail"),
        ("g.m.a.i.l", "gmail"),
        ("w-h-a-t-s-a-p-p", "whatsapp"),
        ("a n a . r 8 8 @ x", "ana.r88 @ x"),
        ("plan a or b", "plan a or b"),
        ("1 2 3 go", "1 2 3 go"),  # digits alone are left to the phone detector
    ],
)
def test_collapse_spaced(text: str, collapsed: str) -> None:
    assert collapse_spaced(text) == collapsed


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("nine one seven five five five zero one two three", "9175550123"),
        ("nueve uno siete cinco cinco cinco cero", "9175550"),
        ("nove um nove oito sete seis cinco", "9198765"),
        ("nove meia meia dois tres quatro cinco", "9662345"),
        ("9 one 7 five 5 five 0", "9175550"),
        ("twenty five thirty two forty one ninety", "25324190"),
        ("veinte y cinco treinta y dos cuarenta y uno", "253241"),
        ("double seven triple one two", "7711120"[:6]),
    ],
)
def test_words_to_digits(text: str, digits: str) -> None:
    converted = words_to_digits(text)
    if len(digits) >= 7:
        assert converted == digits
    else:  # short runs are left alone
        assert converted == text


@pytest.mark.parametrize(
    "text", ["one or two revisions", "I have 2 dogs and one cat", "uns dois ou tres dias"]
)
def test_words_to_digits_leaves_ordinary_numbers(text: str) -> None:
    assert words_to_digits(text) == text


def test_leet_digits_inside_numbers_only() -> None:
    assert leet_digits("917 555 o1o2") == "917 555 0102"
    assert leet_digits("2o24") == "2024"
    assert leet_digits("hello world 5 o'clock") == "hello world 5 o'clock"


def test_prepare_chains_everything() -> None:
    prepared = prepare("J O H N [at] GMAIL (dot) com, nine one seven five five five zero")
    assert prepared.folded.startswith("j o h n [at] gmail")
    assert prepared.plain == "john  @  gmail . com, 9175550"
    assert prepared.original.startswith("J O H N")
