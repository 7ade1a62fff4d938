"""Statements built from decisions, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.dsa.conftest import make_account, spec_for
from vigil.accounts.models import Account
from vigil.audit.models import AuditRecord
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.dsa import service
from vigil.dsa.models import Statement
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, NotFound
from vigil.policies.actions import ActionType, Scope

A, S = ActionType, Scope
READER = Principal.system("tests")
IN_7_DAYS = timedelta(days=7)


def _count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Statement)) or 0


def _dsa_audit(db: Session) -> list[AuditRecord]:
    query = (
        select(AuditRecord).where(AuditRecord.action.startswith("dsa.")).order_by(AuditRecord.id)
    )
    return list(db.scalars(query))


# (action, scope, has an end) -> the decision fields the statement declares; "END" stands for
# the action's end date.
MAPPING: list[tuple[ActionType, Scope, bool, dict[str, Any]]] = [
    (A.restrict, S.listing, True, {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"],
        "end_date_visibility_restriction": "END"}),
    (A.restrict, S.listing, False, {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"]}),
    (A.restrict, S.profile, True, {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_DEMOTED"],
        "end_date_visibility_restriction": "END"}),
    (A.restrict, S.message, True, {
        "decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION",
        "end_date_service_restriction": "END"}),
    (A.restrict, S.payouts, True, {
        "decision_monetary": "DECISION_MONETARY_SUSPENSION",
        "end_date_monetary_restriction": "END"}),
    (A.suspend, S.account, True, {
        "decision_account": "DECISION_ACCOUNT_SUSPENDED",
        "decision_provision": "DECISION_PROVISION_TOTAL_SUSPENSION",
        "end_date_account_restriction": "END", "end_date_service_restriction": "END"}),
    (A.ban, S.account, False, {
        "decision_account": "DECISION_ACCOUNT_TERMINATED",
        "decision_provision": "DECISION_PROVISION_TOTAL_TERMINATION"}),
    (A.remove, S.listing, False, {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]}),
    (A.remove, S.profile, False, {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]}),
    (A.remove, S.message, False, {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]}),
]  # fmt: skip
DECISION_KEYS = {
    "decision_visibility", "decision_monetary", "decision_provision", "decision_account",
    "end_date_visibility_restriction", "end_date_monetary_restriction",
    "end_date_service_restriction", "end_date_account_restriction",
}  # fmt: skip


@pytest.mark.parametrize(
    ("action", "scope", "ends", "expected"),
    MAPPING,
    ids=[f"{a}-{s}-{'dated' if e else 'open'}" for a, s, e, _ in MAPPING],
)
def test_every_action_makes_a_valid_statement(
    db: Session,
    settings: Settings,
    account: Account,
    frozen: clock.FrozenClock,
    action: ActionType,
    scope: Scope,
    ends: bool,
    expected: dict[str, Any],
) -> None:
    ends_at = clock.now() + IN_7_DAYS if ends else None
    statement = service.create_statement(
        db, spec_for(account, [(action, scope, ends_at)]), settings=settings
    )

    want = {k: ("2026-11-28" if val == "END" else val) for k, val in expected.items()}
    assert {k: val for k, val in statement.fields.items() if k in DECISION_KEYS} == want
    assert service.validate_fields(statement.fields) == []
    assert statement.account_id == account.id
    assert statement.actions == [
        {"action": action.value, "scope": scope.value,
         "ends_at": ends_at.isoformat() if ends_at else None}
    ]  # fmt: skip
    assert _count(db) == 1


def test_the_field_set_is_the_one_the_database_takes(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    spec = spec_for(account)
    statement = service.create_statement(db, spec, settings=settings)
    db.expire_all()
    stored = db.get(Statement, statement.id)
    assert stored is not None
    assert stored.fields == {
        "decision_account": "DECISION_ACCOUNT_SUSPENDED",
        "decision_provision": "DECISION_PROVISION_TOTAL_SUSPENSION",
        "end_date_account_restriction": "2026-11-28",
        "end_date_service_restriction": "2026-11-28",
        "account_type": "ACCOUNT_TYPE_PRIVATE",
        "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "incompatible_content_ground": spec.tos_ground,
        "incompatible_content_explanation": spec.facts,
        "incompatible_content_illegal": "No",
        "content_type": ["CONTENT_TYPE_TEXT"],
        "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "category_specification": ["KEYWORD_OTHER"],
        "territorial_scope": ["ES", "PT"],
        "content_language": "PT",
        "content_date": "2026-11-20",
        "application_date": "2026-11-21",
        "decision_facts": spec.facts,
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "Yes",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "puid": stored.puid,
    }
    assert (stored.category, stored.decision_ground, stored.automated_decision) == (
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    )
    assert stored.application_date == date(2026, 11, 21)
    assert stored.created_at == clock.now() and stored.exported_at is None
    [record] = _dsa_audit(db)
    assert (record.action, record.target_id) == ("dsa.statement.create", str(stored.id))


def test_several_actions_combine_into_one_statement(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    now = clock.now()
    actions = [
        (A.suspend, S.account, now + timedelta(days=7)),
        (A.restrict, S.payouts, now + timedelta(days=30)),
        (A.restrict, S.message, now + timedelta(days=14)),
        (A.restrict, S.listing, now + timedelta(days=3)),
        (A.remove, S.listing, None),
        (A.warn, S.account, None),
    ]
    fields = service.create_statement(db, spec_for(account, actions), settings=settings).fields
    assert fields["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    # The suspension of the whole service outranks the partial one on messages; the service
    # restriction ends when its last part ends.
    assert fields["decision_provision"] == "DECISION_PROVISION_TOTAL_SUSPENSION"
    assert fields["end_date_service_restriction"] == "2026-12-05"
    assert fields["decision_monetary"] == "DECISION_MONETARY_SUSPENSION"
    assert fields["end_date_monetary_restriction"] == "2026-12-21"
    assert fields["decision_visibility"] == [
        "DECISION_VISIBILITY_CONTENT_DISABLED",
        "DECISION_VISIBILITY_CONTENT_REMOVED",
    ]
    # A removal is permanent, so the visibility restriction has no end.
    assert "end_date_visibility_restriction" not in fields


def test_a_ban_outranks_a_suspension_and_has_no_end(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    actions = [(A.suspend, S.account, clock.now() + IN_7_DAYS), (A.ban, S.account, None)]
    fields = service.create_statement(db, spec_for(account, actions), settings=settings).fields
    assert fields["decision_account"] == "DECISION_ACCOUNT_TERMINATED"
    assert fields["decision_provision"] == "DECISION_PROVISION_TOTAL_TERMINATION"
    assert "end_date_account_restriction" not in fields
    assert "end_date_service_restriction" not in fields


def test_an_illegal_content_decision_carries_its_legal_ground(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    spec = spec_for(
        account,
        ground="DECISION_GROUND_ILLEGAL_CONTENT",
        legal_ground="EU Regulation 2022/2065 and national consumer law, art. 5",
        illegal_explanation="An upfront fee for a job that does not exist is a scam.",
    )
    fields = service.create_statement(db, spec, settings=settings).fields
    assert fields["illegal_content_legal_ground"] == spec.legal_ground
    assert fields["illegal_content_explanation"] == spec.illegal_explanation
    assert "incompatible_content_ground" not in fields
    assert service.validate_fields(fields) == []


def test_puids_are_opaque_unique_and_stable(
    db: Session, settings: Settings, frozen: clock.FrozenClock
) -> None:
    account = make_account(db, "maria.souza@example.com")
    spec = spec_for(account)
    first = service.create_statement(db, spec, settings=settings)
    second = service.create_statement(
        db, spec, settings=settings
    )  # a second statement for the same decision
    other = service.create_statement(db, spec_for(account), settings=settings)
    puids = {first.puid, second.puid, other.puid}
    assert len(puids) == 3
    for puid in puids:
        assert re.fullmatch(r"vgl-[0-9a-f]{40}", puid)
        assert "maria" not in puid
    assert first.puid == service.make_puid(settings, account.external_id, spec.decision_id, 0)
    assert service.statements_for(db, spec.decision_id) == [first, second]


def test_a_puid_is_an_hmac_under_the_secret_key(db: Session, settings: Settings) -> None:
    """Guessable inputs (the account's id, a decision number) must not lead back to a puid:
    without the key, nobody can recompute it, and another install's key gives another one."""
    account = make_account(db, "acct-42")
    spec = spec_for(account)
    stored = service.create_statement(db, spec, settings=settings)
    other_key = settings.model_copy(update={"secret_key": SecretStr("another-install")})
    assert service.make_puid(other_key, "acct-42", spec.decision_id, 0) != stored.puid
    key = settings.secret_key.get_secret_value().encode()
    for raw in (
        f"acct-42\x1f{spec.decision_id}\x1f0",
        f"dsa-puid\x1facct-42\x1f{spec.decision_id}\x1f0",
    ):
        bare = hashlib.sha256(raw.encode()).hexdigest()[:40]
        assert stored.puid != f"vgl-{bare}"  # not the unsalted hash it used to be
    keyed = hmac.new(
        key, f"dsa-puid\x1facct-42\x1f{spec.decision_id}\x1f0".encode(), hashlib.sha256
    )
    assert stored.puid == f"vgl-{keyed.hexdigest()[:40]}"
    assert re.fullmatch(r"vgl-[0-9a-f]{40}", stored.puid)  # hex: no external id fits in it
    # Stored once: the field set submitted to the database carries the same puid, and reading
    # or exporting later (even under another key, after a restart) does not recompute it.
    assert stored.fields["puid"] == stored.puid
    db.expire_all()
    again = service.get_statement(db, READER, stored.id)
    assert (again.puid, again.fields["puid"]) == (stored.puid, stored.puid)


# Facts feed the contractual explanation too; on an illegal-content statement they do not.
ILLEGAL = {
    "ground": "DECISION_GROUND_ILLEGAL_CONTENT",
    "legal_ground": "National consumer law, art. 5",
    "illegal_explanation": "An upfront fee for a job that does not exist is a scam.",
}

# (what differs from a valid spec) -> the field named, and the violation
REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown category", {"category": "STATEMENT_CATEGORY_SPAM"}, "category", "invalid_choice"),
    ("v1 keyword", {"keywords": ["KEYWORD_DANGEROUS_TOYS"]},
     "category_specification", "invalid_choice"),
    ("unknown ground", {"ground": "TOS"}, "decision_ground", "invalid_choice"),
    ("no contractual ground", {"tos_ground": ""}, "incompatible_content_ground", "required"),
    ("illegal without legal ground", {"ground": "DECISION_GROUND_ILLEGAL_CONTENT",
                                      "illegal_explanation": "It is a scam under national law."},
     "illegal_content_legal_ground", "required"),
    ("no content type", {"content_type": []}, "content_type", "required"),
    ("content type other unspecified", {"content_type": ["CONTENT_TYPE_OTHER"]},
     "content_type_other", "required"),
    ("outside the EEA", {"territorial_scope": ["PT", "BR"]}, "territorial_scope", "invalid_choice"),
    ("no territorial scope", {"territorial_scope": []}, "territorial_scope", "required"),
    ("unknown language", {"content_language": "xx-YY"}, "content_language", "invalid_choice"),
    ("no facts", {**ILLEGAL, "facts": ""}, "decision_facts", "required"),
    ("vague facts", {"facts": "Broke the rules."}, "decision_facts", "too_short"),
    ("facts too long", {**ILLEGAL, "facts": "x" * 5001}, "decision_facts", "too_long"),
    ("explanation too long", {"facts": "x" * 2001},
     "incompatible_content_explanation", "too_long"),
    ("facts with an email address",
     {"facts": "The user wrote 'pay me at maria@example.com' in the listing description."},
     "decision_facts", "personal_data"),
    ("unknown source", {"source_type": "SOURCE_USER_REPORT"}, "source_type", "invalid_choice"),
    ("v1 automated decision", {"automated_decision": "No"}, "automated_decision", "invalid_choice"),
    ("unknown account type", {"account_type": "ACCOUNT_TYPE_SELLER"},
     "account_type", "invalid_choice"),
    ("content dated before 2000", {"content_date": date(1999, 12, 31)},
     "content_date", "out_of_range"),
    ("applied before 2020", {"application_date": date(2019, 12, 31),
                             "content_date": date(2019, 1, 1)},
     "application_date", "out_of_range"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field", "code"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_a_bad_statement_is_refused_and_nothing_is_stored(
    db: Session,
    settings: Settings,
    account: Account,
    frozen: clock.FrozenClock,
    changes: dict[str, Any],
    field: str,
    code: str,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.create_statement(db, spec_for(account, **changes), settings=settings)
    assert caught.value.code == "invalid_statement"
    assert caught.value.field == f"statement.{field}"
    assert caught.value.details[0]["code"] == code
    assert _count(db) == 0
    assert _dsa_audit(db) == []


def test_only_warnings_make_no_statement(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.create_statement(
            db, spec_for(account, [(A.warn, S.account, None)]), settings=settings
        )
    assert caught.value.field == "statement.decision_visibility"
    assert _count(db) == 0


def test_an_end_before_the_application_date_is_refused(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    past: datetime = clock.now() - timedelta(days=2)
    with pytest.raises(InvalidInput) as caught:
        service.create_statement(
            db, spec_for(account, [(A.restrict, S.payouts, past)]), settings=settings
        )
    assert caught.value.field == "statement.end_date_monetary_restriction"
    assert _count(db) == 0


def test_an_action_outside_the_vocabulary_is_refused(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.create_statement(
            db, spec_for(account, [(A.suspend, S.listing, None)]), settings=settings
        )
    assert caught.value.field == "statement.actions"
    assert _count(db) == 0


def test_every_violation_is_in_the_details(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    spec = spec_for(account, category="NOPE", facts="", territorial_scope=["US"])
    with pytest.raises(InvalidInput) as caught:
        service.create_statement(db, spec, settings=settings)
    assert [d["field"] for d in caught.value.details] == [
        "statement.incompatible_content_explanation",
        "statement.category",
        "statement.territorial_scope",
        "statement.decision_facts",
    ]


# --- the user's message -----------------------------------------------------------------------


def test_template_context_of_a_seven_day_suspension(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    statement = service.create_statement(db, spec_for(account), settings=settings)
    assert service.template_context(statement) == {
        "reference": f"SOR-{statement.id}",
        "facts": statement.fields["decision_facts"],
        "ground": "Terms of Service, section 7: payments stay on the platform",
        "automated_detection": True,
        "automated_decision": False,
        "ends_at": "2026-11-28",
        "restrictions": ["account suspended"],
    }


def test_template_context_of_a_ban_and_a_removal(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    spec = spec_for(
        account,
        [(A.ban, S.account, None), (A.remove, S.listing, None)],
        ground="DECISION_GROUND_ILLEGAL_CONTENT",
        legal_ground="National consumer law, art. 5",
        illegal_explanation="An upfront fee for a job that does not exist is a scam.",
        automated_detection=False,
        automated_decision="AUTOMATED_DECISION_PARTIALLY",
    )
    context = service.template_context(service.create_statement(db, spec, settings=settings))
    assert context["ends_at"] is None
    assert context["ground"] == "National consumer law, art. 5"
    assert context["restrictions"] == ["account closed permanently", "listing removed"]
    assert (context["automated_detection"], context["automated_decision"]) == (False, True)


# --- reading ----------------------------------------------------------------------------------


def test_get_statement_and_not_found(db: Session, settings: Settings, account: Account) -> None:
    statement = service.create_statement(db, spec_for(account), settings=settings)
    assert service.get_statement(db, READER, statement.id) is statement
    with pytest.raises(NotFound):
        service.get_statement(db, READER, statement.id + 1)
    assert service.statements_for(db, 424242) == []


def test_list_pages_newest_first_and_filters(
    db: Session, settings: Settings, frozen: clock.FrozenClock
) -> None:
    account = make_account(db)
    made = []
    for i in range(5):
        category = "STATEMENT_CATEGORY_SCAMS_AND_FRAUD" if i % 2 else "STATEMENT_CATEGORY_VIOLENCE"
        made.append(
            service.create_statement(db, spec_for(account, category=category), settings=settings)
        )
        frozen.advance(timedelta(days=1))  # created 21, 22, 23, 24, 25 November
    page, cursor = service.list_statements(db, READER, limit=2)
    assert page == [made[4], made[3]] and cursor
    page, cursor = service.list_statements(db, READER, cursor=cursor, limit=2)
    assert page == [made[2], made[1]] and cursor
    page, cursor = service.list_statements(db, READER, cursor=cursor, limit=2)
    assert page == [made[0]] and cursor is None

    window = service.StatementFilter(since=date(2026, 11, 22), until=date(2026, 11, 24))
    assert service.list_statements(db, READER, window)[0] == [made[3], made[2], made[1]]
    fraud = service.StatementFilter(category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD")
    assert service.list_statements(db, READER, fraud)[0] == [made[3], made[1]]

    with pytest.raises(InvalidInput) as caught:
        service.list_statements(db, READER, service.StatementFilter(category="SPAM"))
    assert caught.value.field == "category"
    with pytest.raises(InvalidInput) as caught:
        service.list_statements(
            db, READER, service.StatementFilter(since=date(2026, 11, 2), until=date(2026, 11, 1))
        )
    assert caught.value.field == "until"


def test_a_content_date_after_the_application_date_is_refused(
    db: Session, settings: Settings, account: Account, frozen: clock.FrozenClock
) -> None:
    """Vigil's own rule: the database bounds content_date only by 2000-01-01 and 2038-01-01
    (its ``multi_rules``), so :func:`service.validate_fields` takes it; a statement about
    content dated after the decision is refused when it is built."""
    today = clock.now().date()
    spec = spec_for(account, content_date=today + timedelta(days=1))
    fields, _ = service.build_fields(spec, "vgl-test")
    assert service.validate_fields(fields) == []
    with pytest.raises(InvalidInput) as caught:
        service.create_statement(db, spec, settings=settings)
    assert caught.value.field == "statement.content_date"
    assert caught.value.details[0]["code"] == "after_application_date"
    assert _count(db) == 0
    same_day = service.create_statement(
        db, spec_for(account, content_date=today), settings=settings
    )
    assert same_day.fields["content_date"] == same_day.fields["application_date"]
