"""The Transparency Database's rules, one row per rule, passing and failing. Pure: no database.

Each failing row must produce exactly the one violation named, so a rule never trips another.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.dsa.conftest import VALID, valid_fields
from vigil.dsa import vocabulary as v
from vigil.dsa.rules import (
    BATCH_MAX,
    KNOWN_FIELDS,
    FieldError,
    validate_batch,
    validate_fields,
)

_ = ...  # "remove this field" in a row's changes

NO_DECISIONS = {
    "decision_visibility": _,
    "end_date_visibility_restriction": _,
    "decision_monetary": _,
    "decision_provision": _,
    "decision_account": _,
}
ILLEGAL = {
    "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
    "illegal_content_legal_ground": "Art. 5 of the national unfair commercial practices act",
    "illegal_content_explanation": "A fake job offer that asks for an upfront fee is a scam.",
    "incompatible_content_ground": _,
    "incompatible_content_explanation": _,
    "incompatible_content_illegal": _,
}
VOLUNTARY = {"source_type": "SOURCE_VOLUNTARY", "source_identity": _}

# fmt: off
VALID_ROWS: list[tuple[str, dict[str, Any]]] = [
    ("everything that applies", {}),
    ("only decision_account", {**NO_DECISIONS, "decision_account": "DECISION_ACCOUNT_TERMINATED"}),
    ("only decision_visibility",
     {**NO_DECISIONS, "decision_visibility": list(v.DecisionVisibility)[:-1]}),
    ("only decision_monetary",
     {**NO_DECISIONS, "decision_monetary": "DECISION_MONETARY_TERMINATION"}),
    ("only decision_provision",
     {**NO_DECISIONS, "decision_provision": "DECISION_PROVISION_TOTAL_TERMINATION"}),
    ("decision fields may be null when another is set",
     {"decision_visibility": None, "decision_monetary": None, "decision_provision": None}),
    ("visibility other, specified",
     {"decision_visibility": ["DECISION_VISIBILITY_OTHER"], "decision_visibility_other": "Hidden"}),
    ("monetary other, specified",
     {"decision_monetary": "DECISION_MONETARY_OTHER", "decision_monetary_other": "Fee held"}),
    ("illegal content with legal ground and explanation", ILLEGAL),
    ("incompatible content illegal: Yes", {"incompatible_content_illegal": "Yes"}),
    ("incompatible content illegal left out", {"incompatible_content_illegal": _}),
    ("no reference url", {"decision_ground_reference_url": _}),
    ("content type other, specified",
     {"content_type": ["CONTENT_TYPE_OTHER"], "content_type_other": "A service offer"}),
    ("every content type", {"content_type": list(v.ContentType)[:-1]}),
    ("keyword other, specified",
     {"category_specification": ["KEYWORD_OTHER"], "category_specification_other": "Off-site pay"}),
    ("keyword other, not specified", {"category_specification": ["KEYWORD_OTHER"]}),
    ("no keywords", {"category_specification": _}),
    ("empty keywords", {"category_specification": []}),
    ("no additional categories", {"category_addition": _}),
    ("voluntary, without source identity", VOLUNTARY),
    ("voluntary, source identity null", {**VOLUNTARY, "source_identity": None}),
    ("other notification", {"source_type": "SOURCE_TYPE_OTHER_NOTIFICATION"}),
    ("trusted flagger", {"source_type": "SOURCE_TRUSTED_FLAGGER"}),
    ("all of the EEA", {"territorial_scope": list(v.EEA_COUNTRY_CODES)}),
    ("no content language", {"content_language": _}),
    ("content language null", {"content_language": None}),
    ("no account type", {"account_type": _}),
    ("business account", {"account_type": "ACCOUNT_TYPE_BUSINESS"}),
    ("end date on the application date", {"end_date_visibility_restriction": "2026-11-21"}),
    ("end date null (indefinite)", {"end_date_visibility_restriction": None}),
    ("every end date",
     {"end_date_monetary_restriction": "2026-12-02", "end_date_service_restriction": "2026-12-03",
      "end_date_account_restriction": "2038-01-01"}),
    ("earliest content date", {"content_date": "2000-01-01"}),
    ("earliest application date", {"application_date": "2020-01-01", "content_date": "2019-05-01",
                                   "end_date_visibility_restriction": _}),
    ("latest application date", {"application_date": "2038-01-01",
                                 "end_date_visibility_restriction": "2038-01-01"}),
    ("puid with hyphens and underscores", {"puid": "abc-DEF_123"}),
    ("puid of 500 characters", {"puid": "p" * 500}),
    ("facts of 5000 characters", {"decision_facts": "f" * 5000}),
    ("explanation of 2000 characters", {"incompatible_content_explanation": "e" * 2000}),
    ("fully automated", {"automated_decision": "AUTOMATED_DECISION_FULLY",
                         "automated_detection": "Yes"}),
    ("partially automated", {"automated_decision": "AUTOMATED_DECISION_PARTIALLY"}),
    ("an EAN-13 content id", {"content_id": {"EAN-13": "4006381333931"}}),
]

INVALID_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    # at least one decision
    ("no decision at all", NO_DECISIONS, "decision_visibility", "required"),
    ("only empty decisions", {**NO_DECISIONS, "decision_visibility": [], "decision_account": None},
     "decision_visibility", "required"),
    ("visibility not an array", {"decision_visibility": "DECISION_VISIBILITY_CONTENT_DISABLED"},
     "decision_visibility", "invalid_type"),
    ("unknown visibility", {"decision_visibility": ["DECISION_VISIBILITY_HIDDEN"]},
     "decision_visibility", "invalid_choice"),
    ("unknown monetary", {"decision_monetary": "DECISION_MONETARY_FINE"},
     "decision_monetary", "invalid_choice"),
    ("unknown provision", {"decision_provision": "PARTIAL_SUSPENSION"},
     "decision_provision", "invalid_choice"),
    ("unknown account decision", {"decision_account": "DECISION_ACCOUNT_BANNED"},
     "decision_account", "invalid_choice"),
    ("unknown account type", {"account_type": "ACCOUNT_TYPE_PERSONAL"},
     "account_type", "invalid_choice"),
    # the _other fields
    ("visibility other, unspecified", {"decision_visibility": ["DECISION_VISIBILITY_OTHER"]},
     "decision_visibility_other", "required"),
    ("visibility other, blank", {"decision_visibility": ["DECISION_VISIBILITY_OTHER"],
                                 "decision_visibility_other": "   "},
     "decision_visibility_other", "required"),
    ("visibility other without other", {"decision_visibility_other": "Hidden"},
     "decision_visibility_other", "not_applicable"),
    ("visibility other too long", {"decision_visibility": ["DECISION_VISIBILITY_OTHER"],
                                   "decision_visibility_other": "x" * 501},
     "decision_visibility_other", "too_long"),
    ("monetary other, unspecified", {"decision_monetary": "DECISION_MONETARY_OTHER"},
     "decision_monetary_other", "required"),
    ("monetary other without other", {"decision_monetary_other": "Fee held"},
     "decision_monetary_other", "not_applicable"),
    ("monetary other too long", {"decision_monetary": "DECISION_MONETARY_OTHER",
                                 "decision_monetary_other": "x" * 501},
     "decision_monetary_other", "too_long"),
    # grounds
    ("no ground", {"decision_ground": _}, "decision_ground", "required"),
    ("unknown ground", {"decision_ground": "ILLEGAL_CONTENT"}, "decision_ground", "invalid_choice"),
    ("illegal without legal ground", {**ILLEGAL, "illegal_content_legal_ground": _},
     "illegal_content_legal_ground", "required"),
    ("illegal without explanation", {**ILLEGAL, "illegal_content_explanation": ""},
     "illegal_content_explanation", "required"),
    ("legal ground too long", {**ILLEGAL, "illegal_content_legal_ground": "x" * 501},
     "illegal_content_legal_ground", "too_long"),
    ("illegal explanation too long", {**ILLEGAL, "illegal_content_explanation": "x" * 2001},
     "illegal_content_explanation", "too_long"),
    ("illegal with a contractual ground", {**ILLEGAL, "incompatible_content_ground": "ToS 7"},
     "incompatible_content_ground", "not_applicable"),
    ("illegal with 'also illegal'", {**ILLEGAL, "incompatible_content_illegal": "Yes"},
     "incompatible_content_illegal", "not_applicable"),
    ("incompatible without its ground", {"incompatible_content_ground": _},
     "incompatible_content_ground", "required"),
    ("incompatible without explanation", {"incompatible_content_explanation": None},
     "incompatible_content_explanation", "required"),
    ("contractual ground too long", {"incompatible_content_ground": "x" * 501},
     "incompatible_content_ground", "too_long"),
    ("incompatible explanation too long", {"incompatible_content_explanation": "x" * 2001},
     "incompatible_content_explanation", "too_long"),
    ("incompatible with a legal ground", {"illegal_content_legal_ground": "Art. 5"},
     "illegal_content_legal_ground", "not_applicable"),
    ("'also illegal' neither yes nor no", {"incompatible_content_illegal": "yes"},
     "incompatible_content_illegal", "invalid_choice"),
    ("reference url not a url", {"decision_ground_reference_url": "terms section 7"},
     "decision_ground_reference_url", "invalid_format"),
    ("reference url too long",
     {"decision_ground_reference_url": "https://market.example/" + "t" * 480},
     "decision_ground_reference_url", "too_long"),
    # content
    ("no content type", {"content_type": _}, "content_type", "required"),
    ("empty content type", {"content_type": []}, "content_type", "required"),
    ("content type not an array", {"content_type": "CONTENT_TYPE_TEXT"},
     "content_type", "invalid_type"),
    ("unknown content type", {"content_type": ["CONTENT_TYPE_LISTING"]},
     "content_type", "invalid_choice"),
    ("content type other, unspecified", {"content_type": ["CONTENT_TYPE_OTHER"]},
     "content_type_other", "required"),
    ("content type other without other", {"content_type_other": "A service offer"},
     "content_type_other", "not_applicable"),
    ("content type other too long", {"content_type": ["CONTENT_TYPE_OTHER"],
                                     "content_type_other": "x" * 501},
     "content_type_other", "too_long"),
    ("content id not an object", {"content_id": ["4006381333931"]}, "content_id", "invalid_type"),
    ("content id of another kind", {"content_id": {"ISBN": "9780306406157"}},
     "content_id", "invalid_choice"),
    ("content id not 13 digits", {"content_id": {"EAN-13": "400638133393"}},
     "content_id", "invalid_format"),
    ("lower-case language", {"content_language": "pt"}, "content_language", "invalid_choice"),
    ("unknown language", {"content_language": "XX"}, "content_language", "invalid_choice"),
    # category and keywords
    ("no category", {"category": _}, "category", "required"),
    ("v1 category", {"category": "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT"},
     "category", "invalid_choice"),
    ("category label instead of key", {"category": "Scams and/or fraud"},
     "category", "invalid_choice"),
    ("unknown additional category", {"category_addition": ["STATEMENT_CATEGORY_SPAM"]},
     "category_addition", "invalid_choice"),
    ("v1 keyword", {"category_specification": ["KEYWORD_DANGEROUS_TOYS"]},
     "category_specification", "invalid_choice"),
    ("keywords not an array", {"category_specification": "KEYWORD_PHISHING"},
     "category_specification", "invalid_type"),
    ("other keyword without KEYWORD_OTHER", {"category_specification_other": "Off-site pay"},
     "category_specification_other", "not_applicable"),
    ("other keyword too long", {"category_specification": ["KEYWORD_OTHER"],
                                "category_specification_other": "x" * 501},
     "category_specification_other", "too_long"),
    # territorial scope
    ("no territorial scope", {"territorial_scope": _}, "territorial_scope", "required"),
    ("empty territorial scope", {"territorial_scope": []}, "territorial_scope", "required"),
    ("country outside the EEA", {"territorial_scope": ["PT", "BR"]},
     "territorial_scope", "invalid_choice"),
    ("'EU' is not a country", {"territorial_scope": ["EU"]}, "territorial_scope", "invalid_choice"),
    # dates
    ("no content date", {"content_date": _}, "content_date", "required"),
    ("content date with slashes", {"content_date": "2026/11/20"}, "content_date", "invalid_format"),
    ("content date that does not exist", {"content_date": "2026-02-30"},
     "content_date", "invalid_format"),
    ("content date before 2000", {"content_date": "1999-12-31"}, "content_date", "out_of_range"),
    ("content date after 2037", {"content_date": "2038-01-02"}, "content_date", "out_of_range"),
    ("no application date", {"application_date": _}, "application_date", "required"),
    ("application date with a time", {"application_date": "2026-11-21 10:00"},
     "application_date", "invalid_format"),
    ("application date day first", {"application_date": "21-11-2026"},
     "application_date", "invalid_format"),
    ("application date before 2020", {"application_date": "2019-12-31",
                                      "end_date_visibility_restriction": _},
     "application_date", "out_of_range"),
    ("end date before the application date", {"end_date_visibility_restriction": "2026-11-20"},
     "end_date_visibility_restriction", "out_of_range"),
    ("account end date before the application date",
     {"end_date_account_restriction": "2026-01-01"}, "end_date_account_restriction",
     "out_of_range"),
    ("end date after 2037", {"end_date_monetary_restriction": "2038-01-02"},
     "end_date_monetary_restriction", "out_of_range"),
    ("end date without leading zeros", {"end_date_service_restriction": "2026-12-1"},
     "end_date_service_restriction", "invalid_format"),
    # facts, source, automation
    ("no facts", {"decision_facts": _}, "decision_facts", "required"),
    ("blank facts", {"decision_facts": "  \n "}, "decision_facts", "required"),
    ("facts too long", {"decision_facts": "f" * 5001}, "decision_facts", "too_long"),
    ("facts not text", {"decision_facts": 42}, "decision_facts", "invalid_type"),
    ("no source type", {"source_type": _, "source_identity": _}, "source_type", "required"),
    ("unknown source type", {"source_type": "SOURCE_OTHER"}, "source_type", "invalid_choice"),
    ("voluntary with a source identity", {"source_type": "SOURCE_VOLUNTARY"},
     "source_identity", "not_applicable"),
    ("source identity too long", {"source_identity": "s" * 501}, "source_identity", "too_long"),
    ("no automated detection", {"automated_detection": _}, "automated_detection", "required"),
    ("automated detection lower case", {"automated_detection": "no"},
     "automated_detection", "invalid_choice"),
    ("automated detection boolean", {"automated_detection": False},
     "automated_detection", "invalid_choice"),
    ("no automated decision", {"automated_decision": _}, "automated_decision", "required"),
    ("v1 automated decision", {"automated_decision": "No"}, "automated_decision", "invalid_choice"),
    # puid
    ("no puid", {"puid": _}, "puid", "required"),
    ("puid with a space", {"puid": "vgl 1"}, "puid", "invalid_format"),
    ("puid with a slash", {"puid": "user/1"}, "puid", "invalid_format"),
    ("puid with a newline", {"puid": "vgl-1\n"}, "puid", "invalid_format"),
    ("puid not ascii", {"puid": "vgl-ü"}, "puid", "invalid_format"),
    ("puid too long", {"puid": "p" * 501}, "puid", "too_long"),
    # fields the database does not know
    ("a v0 field", {"decision_taken": "DECISION_ALL"}, "decision_taken", "unknown_field"),
]
# fmt: on


@pytest.mark.parametrize(("changes"), [r[1] for r in VALID_ROWS], ids=[r[0] for r in VALID_ROWS])
def test_accepted(changes: dict[str, Any]) -> None:
    assert validate_fields(valid_fields(**changes)) == []


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [r[1:] for r in INVALID_ROWS],
    ids=[r[0] for r in INVALID_ROWS],
)
def test_refused(changes: dict[str, Any], field: str, code: str) -> None:
    errors = validate_fields(valid_fields(**changes))
    assert [(e.field, e.code) for e in errors] == [(field, code)], errors
    assert errors[0].message  # a sentence a person can act on


def test_every_violation_is_reported_once_per_field() -> None:
    fields = valid_fields(
        decision_ground="SOMETHING", content_type=[], puid="a b", territorial_scope=["US"]
    )
    errors = validate_fields(fields)
    assert [(e.field, e.code) for e in errors] == [
        ("decision_ground", "invalid_choice"),
        ("content_type", "required"),
        ("territorial_scope", "invalid_choice"),
        ("puid", "invalid_format"),
    ]


def test_an_empty_statement_names_every_required_field() -> None:
    fields = {e.field for e in validate_fields({}) if e.code == "required"}
    assert fields == {
        "decision_visibility",
        "decision_ground",
        "content_type",
        "category",
        "territorial_scope",
        "content_date",
        "application_date",
        "decision_facts",
        "source_type",
        "automated_detection",
        "automated_decision",
        "puid",
    }


def test_a_statement_must_be_an_object() -> None:
    assert validate_fields(["not", "an", "object"]) == [  # type: ignore[arg-type]
        FieldError("statement", "invalid_type", "A statement must be a JSON object.")
    ]


def test_the_example_statement_uses_every_field_but_the_rarest() -> None:
    assert set(VALID) <= KNOWN_FIELDS
    unused = KNOWN_FIELDS - set(VALID)
    assert unused == {
        "decision_visibility_other", "decision_monetary_other", "category_specification_other",
        "illegal_content_legal_ground", "illegal_content_explanation", "content_type_other",
        "end_date_monetary_restriction", "end_date_service_restriction",
        "end_date_account_restriction", "content_id",
    }  # fmt: skip


# --- batches ----------------------------------------------------------------------------------


def _batch(n: int) -> dict[str, Any]:
    return {"statements": [valid_fields(puid=f"vgl-{i}") for i in range(n)]}


def test_a_full_batch_is_valid() -> None:
    assert validate_batch(_batch(BATCH_MAX)) == []


@pytest.mark.parametrize("size", [0, BATCH_MAX + 1])
def test_a_batch_holds_1_to_100(size: int) -> None:
    errors = validate_batch(_batch(size))
    assert [(e.index, e.error.field, e.error.code) for e in errors] == [
        (None, "statements", "out_of_range")
    ]


def test_batch_errors_name_the_statement() -> None:
    body = _batch(3)
    body["statements"][2]["decision_ground"] = "NOPE"
    body["statements"][1]["puid"] = "vgl-0"
    errors = validate_batch(body)
    assert [(e.location, e.error.code) for e in errors] == [
        ("statement_1.puid", "duplicate"),
        ("statement_2.decision_ground", "invalid_choice"),
    ]


@pytest.mark.parametrize("body", [[], {"statement": []}, {"statements": {"a": 1}}, "text"], ids=str)
def test_a_batch_body_is_an_object_with_statements(body: Any) -> None:
    errors = validate_batch(body)
    assert [(e.location, e.error.code) for e in errors] == [("statements", "required")]


def test_a_batch_refuses_unknown_keys_and_non_objects() -> None:
    body = {"statements": [valid_fields(), "oops"], "platform": "x"}
    errors = validate_batch(body)
    assert [(e.index, e.error.field, e.error.code) for e in errors] == [
        (None, "platform", "unknown_field"),
        (1, "statement", "invalid_type"),
    ]
