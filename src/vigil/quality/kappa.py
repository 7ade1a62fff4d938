"""Cohen's kappa: agreement between two raters beyond what chance would give.

``kappa = (p_o - p_e) / (1 - p_e)`` where ``p_o`` is the share of items both raters labelled
the same and ``p_e`` the agreement expected by chance from each rater's label frequencies.
Computed with exact fractions, so known tables give exact values.

Kappa is undefined (``None``, with a note saying why) with fewer than two items, and when
chance agreement is total (``p_e = 1``: both raters used one and the same label throughout).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from fractions import Fraction

Confusion = Mapping[tuple[str, str], int]

NOTE_TOO_FEW = "fewer than 2 scored samples"
NOTE_ONE_LABEL = "both raters used a single label, so agreement by chance is total"


def _confusion(data: Confusion | Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    if isinstance(data, Mapping):
        out: dict[tuple[str, str], int] = {}
        for (a, b), n in data.items():
            if n < 0:
                raise ValueError("a count cannot be negative")
            out[(a, b)] = out.get((a, b), 0) + int(n)
        return out
    return dict(Counter((a, b) for a, b in data))


def kappa_with_note(
    data: Confusion | Iterable[tuple[str, str]],
) -> tuple[float | None, str | None]:
    """Kappa from ``(rater_a, rater_b)`` pairs or a ``{(label_a, label_b): count}`` table,
    with the reason when it is undefined."""
    table = _confusion(data)
    n = sum(table.values())
    if n < 2:
        return None, NOTE_TOO_FEW
    agreed = sum(count for (a, b), count in table.items() if a == b)
    rows: Counter[str] = Counter()
    cols: Counter[str] = Counter()
    for (a, b), count in table.items():
        rows[a] += count
        cols[b] += count
    p_o = Fraction(agreed, n)
    p_e = Fraction(sum(rows[label] * cols[label] for label in rows), n * n)
    if p_e == 1:
        return None, NOTE_ONE_LABEL
    return float((p_o - p_e) / (1 - p_e)), None


def cohen_kappa(data: Confusion | Iterable[tuple[str, str]]) -> float | None:
    """Cohen's kappa, or ``None`` where it is undefined (see :func:`kappa_with_note`)."""
    return kappa_with_note(data)[0]
