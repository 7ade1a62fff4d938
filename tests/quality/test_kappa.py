"""Cohen's kappa on tables computed by hand."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score

from vigil.quality.kappa import NOTE_ONE_LABEL, NOTE_TOO_FEW, cohen_kappa, kappa_with_note

# The classic 2x2 table: 50 items, raters agree on 20 "yes" and 15 "no".
# p_o = 35/50 = 0.7; A says yes 25 times, B 30 times: p_e = (25*30 + 25*20)/2500 = 0.5;
# kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
TWO_BY_TWO = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}

# Three labels, 50 items, 35 on the diagonal: p_o = 0.7. Rows (A) 15/20/15, columns (B)
# 13/20/17: p_e = (15*13 + 20*20 + 15*17)/2500 = 850/2500 = 0.34;
# kappa = (0.7 - 0.34)/(1 - 0.34) = 0.36/0.66 = 6/11.
THREE = {
    ("warn", "warn"): 10, ("warn", "suspend"): 2, ("warn", "no_violation"): 3,
    ("suspend", "warn"): 1, ("suspend", "suspend"): 15, ("suspend", "no_violation"): 4,
    ("no_violation", "warn"): 2, ("no_violation", "suspend"): 3,
    ("no_violation", "no_violation"): 10,
}  # fmt: skip


def _pairs(table: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    return [cell for cell, n in table.items() for _ in range(n)]


def test_the_classic_two_by_two_table_gives_0_4() -> None:
    assert cohen_kappa(TWO_BY_TWO) == pytest.approx(0.4, abs=1e-12)
    assert cohen_kappa(_pairs(TWO_BY_TWO)) == pytest.approx(0.4, abs=1e-12)


def test_a_three_label_table_gives_six_elevenths() -> None:
    assert cohen_kappa(THREE) == pytest.approx(6 / 11, abs=1e-12)


@pytest.mark.parametrize("table", [TWO_BY_TWO, THREE])
def test_it_agrees_with_scikit_learn(table: dict[tuple[str, str], int]) -> None:
    pairs = _pairs(table)
    expected = cohen_kappa_score([a for a, _ in pairs], [b for _, b in pairs])
    assert cohen_kappa(table) == pytest.approx(expected, abs=1e-12)


def test_perfect_and_opposite_agreement() -> None:
    assert cohen_kappa([("warn", "warn"), ("ban", "ban")]) == 1.0
    assert cohen_kappa([("warn", "ban"), ("ban", "warn")]) == -1.0


def test_undefined_cases_say_why() -> None:
    assert kappa_with_note([]) == (None, NOTE_TOO_FEW)
    assert kappa_with_note([("warn", "warn")]) == (None, NOTE_TOO_FEW)
    assert kappa_with_note({("warn", "warn"): 5}) == (None, NOTE_ONE_LABEL)
    # One label each, but different ones: p_e = 0, kappa = 0 (no agreement beyond chance).
    assert kappa_with_note({("warn", "ban"): 3}) == (0.0, None)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError):
        cohen_kappa({("warn", "warn"): -1})
