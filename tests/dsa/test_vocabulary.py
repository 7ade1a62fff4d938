"""The vocabulary other domains validate against (policies: category, keywords, ground)."""

from __future__ import annotations

from vigil.dsa import vocabulary as v


def test_the_sets_are_the_api_keys_of_the_enums() -> None:
    assert {c.value for c in v.Category} == v.CATEGORIES
    assert all(c.startswith("STATEMENT_CATEGORY_") for c in v.CATEGORIES)
    assert all(k.startswith("KEYWORD_") for k in v.KEYWORDS)
    assert {
        "DECISION_GROUND_ILLEGAL_CONTENT",
        "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    } == v.GROUNDS
    assert set(v.CATEGORY_LABELS) == v.CATEGORIES


def test_api_v2_lists() -> None:
    # Added by API v2 (1 July 2025) ...
    assert {"STATEMENT_CATEGORY_CONSUMER_INFORMATION", "STATEMENT_CATEGORY_CYBER_VIOLENCE",
            "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"} <= v.CATEGORIES  # fmt: skip
    assert {"KEYWORD_HIDDEN_ADVERTISEMENT", "KEYWORD_PROHIBITED_PRODUCTS"} <= v.KEYWORDS
    # ... and dropped by it.
    assert "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE" not in v.CATEGORIES
    assert "KEYWORD_DANGEROUS_TOYS" not in v.KEYWORDS
    assert len(v.CATEGORIES) == 16 and len(v.KEYWORDS) == 69


def test_territory_and_language() -> None:
    assert len(v.EU_COUNTRY_CODES) == 27
    assert set(v.EEA_COUNTRY_CODES) - set(v.EU_COUNTRY_CODES) == {"IS", "LI", "NO"}
    assert {"EN", "ES", "PT"} <= v.LANGUAGE_CODES
    assert "EU" not in v.TERRITORIAL_SCOPE
