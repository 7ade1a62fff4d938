"""The identity review screen over HTTP: who may see, reveal and decide; images masked until
a POST reveals them (each reveal audited, re-encoded upright); decisions with their reasons,
confirmation and version check; bad input refused without changing anything."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from tests.identity import imaging
from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.accounts.schemas import AccountUpsert
from vigil.audit.models import AuditRecord
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType, Severity
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.identity import messages
from vigil.identity import service as identity
from vigil.identity.models import IdentityVerification
from vigil.identity.types import (
    Check,
    CheckName,
    CheckStatus,
    DocumentKind,
    ImageSide,
    Outcome,
    Reason,
    VerificationStatus,
)

SYSTEM = Principal.system("test")
HTML = {"accept": "text/html"}


@dataclass
class Seeded:
    agent: StaffUser
    verification_id: int
    case_id: int
    account_id: int


def _checks(*, failed: bool) -> list[dict[str, object]]:
    face = (
        Check(
            CheckName.face_match,
            CheckStatus.failed,
            Reason.face_mismatch,
            {"distance": 0.71234, "match_max": 0.5, "mismatch_min": 0.65},
        )
        if failed
        else Check(CheckName.face_match, CheckStatus.passed, Reason.ok, {"distance": 0.31})
    )
    return [
        c.to_json()
        for c in (
            Check(CheckName.image_quality, CheckStatus.passed, Reason.ok,
                  {"front": {"blur": 812.5, "glare": 0.01}}),
            Check(CheckName.mrz_integrity, CheckStatus.passed, Reason.ok,
                  {"format": "TD3", "confirmed": True}),
            Check(CheckName.profile_name, CheckStatus.warning, Reason.name_partial_match,
                  {"score": 71.0, "profile": "MARIA EDUARDA SOUZA", "document": "MARIA SOUSA"}),
            Check(CheckName.profile_birth_date, CheckStatus.failed, Reason.birth_date_mismatch,
                  {"profile": "1990-04-12", "document": "1990-12-04"}),
            face,
            Check(CheckName.editing_signs, CheckStatus.warning, Reason.editing_suspected,
                  {"software": "GIMP 2.10"}, review_only=True),
            Check(CheckName.screening, CheckStatus.skipped, Reason.not_applicable, {}),
        )
    ]  # fmt: skip


def seed_review(
    db: Session,
    settings: Settings,
    *,
    failed: bool = True,
    external_id: str = "u-idv-1",
    agent: StaffUser | None = None,
) -> Seeded:
    """A Brazilian freelancer's passport in review, as the pipeline leaves it: real images in
    the encrypted blob store (the front with EXIF orientation 6: stored sideways, upright once
    decoded), checks and fields read, and an ``identity_review`` case in the identity queue.
    Committed, with a Portuguese-speaking agent."""
    ensure_default_queues(db, SYSTEM)
    if agent is None:
        agent = make_staff(db, role=Role.agent, name="Ana Souza", languages=["pt", "en"])
    account, _ = accounts.upsert_account(
        db,
        SYSTEM,
        external_id,
        AccountUpsert.model_validate(
            {
                "side": "freelancer",
                "display_name": "Duda S.",
                "legal_name": "Maria Eduarda Souza",
                "date_of_birth": "1990-04-12",
                "country": "BR",
                "locale": "pt-BR",
            }
        ),
    )
    front = imaging.document_like(900, 570, seed=1)
    verification = identity.submit(
        db,
        SYSTEM,
        account_external_id=external_id,
        kind=DocumentKind.passport,
        issuing_country="BRA",
        images={
            # Stored rotated a quarter turn with orientation 6 (rotate 90° clockwise to view).
            ImageSide.front: imaging.oriented_jpeg(front, 6),
            ImageSide.back: imaging.jpeg(imaging.document_like(900, 570, seed=2)),
            ImageSide.selfie: imaging.jpeg(imaging.document_like(480, 640, seed=3)),
        },
        settings=settings,
    )
    created = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.identity_review,
            title=f"Identity review: {external_id}",
            summary="The selfie does not match the portrait; the birth date differs.",
            account_id=account.id,
            language="pt",
            severity=Severity.medium,
        ),
    )
    mrz = {
        "source": "mrz", "document_kind": "passport", "issuing_country": "BRA",
        "document_number": "FZ1234567", "surname": "SOUSA", "given_names": "MARIA",
        "birth_date": "1990-12-04", "expiry_date": "2031-05-01", "sex": "F",
        "nationality": "BRA",
    }  # fmt: skip
    verification.status = VerificationStatus.review
    verification.outcome = Outcome.review
    verification.reasons = [
        Reason.face_mismatch.value, Reason.birth_date_mismatch.value,
        Reason.name_partial_match.value, Reason.editing_suspected.value,
    ]  # fmt: skip
    verification.user_reasons = [Reason.birth_date_mismatch.value]
    verification.checks = _checks(failed=failed)
    lines = [
        "P<BRASOUSA<<MARIA<<<<<<<<<<<<<<<<<<<<<<<<<<<",
        "FZ12345673BRA9012042F3105019<<<<<<<<<<<<<<06",
    ]
    verification.fields = {
        "document": {**mrz, "source": "mrz"},
        "mrz": {**mrz, "format": "TD3", "lines": lines, "valid": True,
                "check_digits": {"document_number": True, "birth_date": True}, "repairs": [],
                "errors": [], "confirmed_by_second_read": True},
        # Printed: accents and an alpha-2 code are not differences; the surname is.
        "viz": {**mrz, "source": "viz", "surname": "SOUZA", "given_names": "MARÍA",
                "nationality": "BR"},
    }  # fmt: skip
    verification.face_distance = 0.71234 if failed else 0.31
    verification.case_id = created.case.id
    db.commit()
    return Seeded(agent, verification.id, created.case.id, account.id)


def _count(db: Session, action: str) -> int:
    db.expire_all()
    n = db.scalar(select(func.count()).where(AuditRecord.action == action))
    db.rollback()  # end the read: on SQLite an open transaction blocks the app's writes
    return int(n or 0)


def _records(db: Session, action: str) -> list[AuditRecord]:
    db.expire_all()
    rows = list(db.scalars(select(AuditRecord).where(AuditRecord.action == action)))
    db.rollback()
    return rows


@dataclass
class State:
    status: VerificationStatus
    version: int
    decision: str | None
    decided_by_id: int | None
    user_reasons: list[str]
    decision_note: str | None
    case_status: CaseStatus | None
    case_tier: str | None


def _state(db: Session, verification_id: int) -> State:
    """The verification and its case as the database has them now (read, then the read is
    ended so the app can write)."""
    db.expire_all()
    v = db.get(IdentityVerification, verification_id)
    assert v is not None
    case = db.get(Case, v.case_id) if v.case_id else None
    state = State(
        v.status, v.version, v.decision, v.decided_by_id, list(v.user_reasons),
        v.decision_note, case.status if case else None, case.tier.value if case else None,
    )  # fmt: skip
    db.rollback()
    return state


def _change(db: Session, verification_id: int, **values: object) -> None:
    v = db.get(IdentityVerification, verification_id)
    assert v is not None
    for name, value in values.items():
        setattr(v, name, value)
    db.commit()


# --- reading the screen -----------------------------------------------------------------


def test_the_screen_lays_out_profile_fields_checks_with_images_masked(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    take(db, s)
    login_as(client, db, s.agent)
    page = client.get(f"/identity/verifications/{s.verification_id}")
    assert page.status_code == 200
    text = page.text
    # Masked: no picture of the document is anywhere in the page until a reveal.
    assert "data:image" not in text
    assert "<img" not in text.split('id="idv-viewer"')[0]
    assert text.count("data-reveal=") == 3
    # The profile is unmasked for comparing (an agent may reveal personal data), and the
    # view is recorded as a reveal with the verification as its reason.
    assert "Maria Eduarda Souza" in text
    assert "1990-04-12" in text
    reveal = _records(db, "accounts.account.reveal")
    assert len(reveal) == 1
    assert reveal[0].reason == (
        f"identity review of verification {s.verification_id} (case {s.case_id}, assigned to me)"
    )
    assert reveal[0].data == {"view": "identity_review"}
    assert _count(db, "identity.verification.view") == 1
    # Fields read vs the profile: the birth date row is marked as a mismatch, the name as
    # partly matching; the printed surname differs from the MRZ's and is marked too.
    rows = re.findall(r'<tr class="idv-row-(\w+)">\s*<th scope="row">([^<]+)</th>', text)
    states = {label: state for state, label in rows}
    assert states["Date of birth"] == "mismatch"
    assert states["Name"] == "partial"
    assert states["Nationality"] == "unknown"
    assert text.count("idv-source idv-differs") == 1
    assert re.search(r'idv-differs">MARÍA SOUZA<', text)
    # Checks: failed first, with their reason and evidence; review-only signals marked.
    checks = re.findall(r'<tr class="idv-check-(\w+)">', text)
    assert checks[:2] == ["failed", "failed"]
    assert checks[-1] == "skipped"
    assert "Selfie does not match the portrait" in text
    assert "0.712" in text  # the face distance as evidence, rounded
    assert "GIMP 2.10" in text and "review only" in text
    assert "P&lt;BRASOUSA&lt;&lt;MARIA" in text and "check digits pass" in text
    # One-key decisions, approve asking first because checks failed.
    assert 'id="idv-approve" data-open="idv-approve-dialog"' in text
    assert 'name="version" value="1"' in text or re.search(r'name="version" value="\d+"', text)


def test_reject_reasons_preview_the_users_text_in_their_language(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    text = client.get(f"/identity/verifications/{s.verification_id}").text
    # The account's locale is pt-BR: the preview is in Portuguese, the suggested reason
    # (the verification's user reason) ticked and first.
    pt = messages.user_text(Reason.birth_date_mismatch, "pt")
    assert pt in text
    boxes = re.findall(
        r'<input type="checkbox" name="reasons" value="(\w+)"[^>]*?(checked)?>', text
    )
    assert boxes[0] == ("birth_date_mismatch", "checked")
    assert sum(1 for _, checked in boxes if checked) == 1
    # Undisclosed reasons are offered with the neutral text, never their own.
    assert ("screening_hit", "") in boxes
    assert messages.GENERIC["pt"] in text


def test_roles_without_images_or_decisions_see_masked_read_only_screen(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    qa = make_staff(db, role=Role.qa)
    login_as(client, db, qa)
    page = client.get(f"/identity/verifications/{s.verification_id}")
    assert page.status_code == 200
    assert "may not see document images" in page.text
    assert "data-reveal=" not in page.text
    assert "Maria Eduarda Souza" not in page.text  # QA may not reveal personal data
    assert "Your role may look but not decide" in page.text
    assert 'id="idv-approve"' not in page.text
    assert _count(db, "accounts.account.reveal") == 0

    refused = client.post(
        f"/identity/verifications/{s.verification_id}/reveal", data={"side": "front"}
    )
    assert refused.status_code == 403
    assert _count(db, "identity.image.reveal") == 0
    denied = client.post(
        f"/identity/verifications/{s.verification_id}/decision",
        data={"decision": "approve", "confirm": "1"},
    )
    assert denied.status_code == 403
    assert _state(db, s.verification_id).status == VerificationStatus.review


# Personal values the seeded verification carries, and where a role without pii:reveal must
# not find them: the document's name (as the MRZ writes it, upper case), birth date and
# number, the MRZ lines, and the same values inside the checks' evidence.
PERSONAL = {
    "document name": "MARIA SOUSA",
    "document surname": "SOUSA",
    "printed name": "MARÍA SOUZA",
    "profile name in evidence": "MARIA EDUARDA SOUZA",
    "profile name": "Maria Eduarda Souza",
    "document birth date": "1990-12-04",
    "profile birth date": "1990-04-12",
    "document number": "FZ1234567",
    "MRZ line 1": "P&lt;BRASOUSA&lt;&lt;MARIA",
    "MRZ line 2": "FZ12345673BRA9012042F3105019",
    "screening name": "MARIA SOUSA LIMA",
    "screened alias": "SOUSA, MARIA",
    "back surname": "SOUZZA",
    "MRZ error value": "901304",
}


def _evidence_rich_checks() -> list[dict[str, object]]:
    """The seeded checks plus checks whose evidence carries personal values in other shapes:
    screening hits, both sides' readings, the printed zone vs the MRZ, the holder's age, the
    MRZ read with an error naming the birth date."""
    extra = [
        Check(CheckName.screening, CheckStatus.warning, Reason.screening_possible_hit,
              {"hits": [{"list": "sample", "entry_id": "e-1", "name": "MARIA SOUSA LIMA",
                         "matched_name": "SOUSA, MARIA", "score": 88.0,
                         "birth_date_agrees": None, "topics": ["role.pep"]}],
               "dismissed": [], "hit_score": 92.0, "possible_score": 85.0}),
        Check(CheckName.sides_consistency, CheckStatus.failed, Reason.sides_mismatch,
              {"compared": {"document_number": {"front": "FZ1234567", "back": "FZ1234567",
                                                "agrees": True},
                            "birth_date": {"front": "1990-12-04", "back": "1990-12-04",
                                           "agrees": True},
                            "surname": {"front": "SOUSA", "back": "SOUZZA", "score": 80.0,
                                        "agrees": False}},
               "differing": ["surname"]}),
        Check(CheckName.visual_zone, CheckStatus.passed, Reason.ok,
              {"reference": "mrz", "fields": {"document_number": "agrees",
                                              "birth_date": "agrees"},
               "agrees": 2, "differs": 0,
               "printed": {"document_number": {"reference": "FZ1234567",
                                               "printed": "FZ1234567", "how": "labelled"},
                           "birth_date": {"reference": "1990-12-04",
                                          "printed": "04/12/1990", "how": "labelled"}}}),
        Check(CheckName.minimum_age, CheckStatus.passed, Reason.ok,
              {"birth_date": "1990-12-04", "age": 35, "min_age": 18, "source": "mrz"}),
        Check(CheckName.mrz_integrity, CheckStatus.failed, Reason.mrz_invalid_field,
              {"format": "TD3", "lines": ["P<BRASOUSA<<MARIA<<<<<<<<<<<<<<<<<<<<<<<<<<<",
                                          "FZ12345673BRA9012042F3105019<<<<<<<<<<<<<<06"],
               "errors": ["impossible birth date: 901304", "unknown nationality: XXA"],
               "check_digits": {"document_number": True}, "confirmed": False}),
    ]  # fmt: skip
    return [*_checks(failed=True), *(c.to_json() for c in extra)]


@pytest.mark.parametrize("role", [Role.qa, Role.policy_lead])
def test_roles_without_pii_reveal_see_the_documents_personal_data_masked(
    client: TestClient, db: Session, settings: Settings, role: Role
) -> None:
    s = seed_review(db, settings)
    _change(db, s.verification_id, checks=_evidence_rich_checks())
    viewer = make_staff(db, role=role)
    login_as(client, db, viewer)
    text = client.get(f"/identity/verifications/{s.verification_id}").text
    leaked = {what: value for what, value in PERSONAL.items() if value in text}
    assert leaked == {}
    # Masked the way accounts mask them, and what is needed to judge the checks stays.
    assert "M*** S***" in text  # the document's name (MRZ and merged reading)
    assert "M*** E*** S***" in text  # the profile's name, in the name check's evidence
    assert "*******67" in text  # the document number: its last two characters
    assert "MRZ lines hidden" in text
    assert "impossible birth date: hidden" in text and "unknown nationality: XXA" in text
    # The hit: its list data and score stay, the names are masked.
    assert "name: M*** S*** L***" in text and "matched_name: S*** M***" in text
    assert "role.pep" in text and "score: 88" in text
    rows = re.findall(r'<tr class="idv-row-(\w+)">\s*<th scope="row">([^<]+)</th>', text)
    assert {label: state for state, label in rows}["Date of birth"] == "mismatch"
    assert text.count("idv-source idv-differs") == 1  # compared in clear, shown masked
    assert _count(db, "accounts.account.reveal") == 0

    # The agent deciding it (pii:reveal) sees every one of them, recorded as a reveal.
    take(db, s)
    login_as(client, db, s.agent)
    text = client.get(f"/identity/verifications/{s.verification_id}").text
    missing = {what: value for what, value in PERSONAL.items() if value not in text}
    assert missing == {}
    assert "MRZ lines hidden" not in text
    assert _count(db, "accounts.account.reveal") == 1


def test_the_list_shows_verifications_waiting_for_review(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    other = seed_review(db, settings, external_id="u-idv-2", agent=s.agent)
    _change(db, other.verification_id, status=VerificationStatus.approved)
    login_as(client, db, s.agent)
    page = client.get("/identity")
    assert page.status_code == 200
    assert f'href="/identity/verifications/{s.verification_id}"' in page.text
    assert f'href="/identity/verifications/{other.verification_id}"' not in page.text
    assert "u-idv-1" in page.text
    assert "Selfie does not match the portrait" in page.text
    assert 'href="/identity">Identity</a>' in page.text  # the header links here
    assert client.get("/identity?cursor=not-a-cursor").status_code == 422


# --- revealing images -------------------------------------------------------------------


def _data_urls(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', html)]


def test_revealing_one_image_is_a_post_audited_and_shows_it_upright(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    url = f"/identity/verifications/{s.verification_id}/reveal"
    assert client.get(url).status_code == 405  # a link cannot reveal anything

    shown = client.post(url, data={"side": "front"}, headers={"HX-Request": "true"})
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    (picture,) = _data_urls(shown.text)
    image = Image.open(io.BytesIO(picture))
    # Re-encoded: a fresh JPEG without the uploader's metadata, turned upright (the upload
    # was stored sideways with orientation 6).
    assert image.format == "JPEG"
    assert image.size == (900, 570)
    assert not image.getexif()
    assert 'id="idv-image-front"' in shown.text and "data-revealed" in shown.text

    (record,) = _records(db, "identity.image.reveal")
    assert record.data["side"] == "front"
    assert record.data["verification_id"] == s.verification_id
    assert (
        record.reason == f"identity review of verification {s.verification_id} (case {s.case_id})"
    )
    assert record.actor_id == str(s.agent.id)


def test_reveal_all_writes_one_record_per_image_and_needs_the_csrf_token(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    take(db, s)
    csrf = login_as(client, db, s.agent)
    url = f"/identity/verifications/{s.verification_id}/reveal"
    client.headers.pop("X-CSRF-Token")
    assert client.post(url, data={"side": "all"}).status_code == 403
    assert _count(db, "identity.image.reveal") == 0

    page = client.post(url, data={"side": "all", "csrf_token": csrf})
    assert page.status_code == 200
    assert len(_data_urls(page.text)) == 3
    assert "Maria Eduarda Souza" in page.text  # the whole screen, for a plain form post
    records = _records(db, "identity.image.reveal")
    assert sorted(r.data["side"] for r in records) == ["back", "front", "selfie"]


def test_an_image_that_no_longer_decodes_shows_a_placeholder_not_an_error(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    # The pixel limit lowered after the upload: the 900x570 front and back no longer decode
    # within it, the 480x640 selfie still does.
    settings.identity_max_pixels = 400_000
    url = f"/identity/verifications/{s.verification_id}/reveal"
    one = client.post(url, data={"side": "front"}, headers={"HX-Request": "true"})
    assert one.status_code == 200
    assert "Cannot display this image" in one.text
    assert "the limit is 400,000 pixels" in one.text
    assert "data:image" not in one.text and "data-reveal=" not in one.text

    page = client.post(url, data={"side": "all"})
    assert page.status_code == 200
    assert page.text.count("Cannot display this image") == 2
    assert len(_data_urls(page.text)) == 1  # the selfie
    # Each fetch of the bytes is still recorded.
    assert _count(db, "identity.image.reveal") == 4


def test_bad_reveal_input_is_refused_and_audits_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    bad = client.post(
        f"/identity/verifications/{s.verification_id}/reveal",
        data={"side": "passport-photo"},
        headers={"accept": "application/json"},
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_side"
    assert bad.json()["field"] == "side"
    missing = client.post("/identity/verifications/999999/reveal", data={"side": "all"})
    assert missing.status_code == 404
    huge = client.post(
        f"/identity/verifications/{2**64}/reveal", data={"side": "all"},
        headers={"accept": "application/json"},
    )  # fmt: skip
    assert huge.status_code == 422
    assert huge.json()["field"] == "verification_id"
    assert _count(db, "identity.image.reveal") == 0


# --- decisions --------------------------------------------------------------------------


def _decide(client: TestClient, verification_id: int, **data: object):  # type: ignore[no-untyped-def]
    return client.post(
        f"/identity/verifications/{verification_id}/decision",
        data=data,
        headers=HTML,
        follow_redirects=False,
    )


def test_approving_against_a_failed_check_needs_a_confirmation(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    version = _state(db, s.verification_id).version
    refused = _decide(client, s.verification_id, decision="approve", version=version)
    assert refused.status_code == 422
    assert "confirm that you approve anyway" in refused.text
    assert 'data-field="confirm"' in refused.text
    assert "data-show-on-load" in refused.text  # the confirmation opens again by itself
    assert _state(db, s.verification_id).status == VerificationStatus.review

    done = _decide(
        client, s.verification_id, decision="approve", confirm="1", version=version,
        note="Portrait checked by hand; the selfie is older.",
    )  # fmt: skip
    assert done.status_code == 303
    # Nothing else waits for this agent: back to the list, saying what was decided.
    assert done.headers["location"] == f"/identity?notice=approved&decided={s.verification_id}"
    v = _state(db, s.verification_id)
    assert v.status == VerificationStatus.approved
    assert v.decision == "approve" and v.decided_by_id == s.agent.id
    assert v.case_status == CaseStatus.closed
    assert _count(db, "identity.verification.approve") == 1
    listed = client.get(done.headers["location"])
    assert (
        f"Verification #{s.verification_id} approved. No other verification is waiting for you."
        in listed.text
    )


def test_a_clean_verification_approves_with_one_post(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings, failed=False)
    clean = [c for c in _checks(failed=False) if c["status"] not in ("failed", "warning")]
    _change(db, s.verification_id, checks=clean)
    login_as(client, db, s.agent)
    page = client.get(f"/identity/verifications/{s.verification_id}").text
    assert '<button class="primary" type="submit" id="idv-approve"' in page
    version = _state(db, s.verification_id).version
    done = _decide(client, s.verification_id, decision="approve", version=version)
    assert done.status_code == 303
    assert _state(db, s.verification_id).status == VerificationStatus.approved


@pytest.mark.parametrize(
    ("check", "label"),
    [
        (Check(CheckName.screening, CheckStatus.warning, Reason.screening_possible_hit,
               {"hits": [{"name": "SOMEONE", "score": 87.0}]}), "Sanctions / PEP screening"),
        (Check(CheckName.face_match, CheckStatus.warning, Reason.face_uncertain,
               {"distance": 0.58}), "Selfie vs portrait"),
        (Check(CheckName.mrz_integrity, CheckStatus.warning, Reason.mrz_unconfirmed,
               {"confirmed": False}), "MRZ integrity"),
        (Check(CheckName.editing_signs, CheckStatus.warning, Reason.editing_suspected,
               {"software": "GIMP 2.10"}, review_only=True), "Signs of editing"),
    ],
    ids=["screening", "face", "unconfirmed-read", "editing"],
)  # fmt: skip
def test_approving_while_a_check_warns_needs_a_confirmation(
    client: TestClient, db: Session, settings: Settings, check: Check, label: str
) -> None:
    s = seed_review(db, settings, failed=False)
    passed = [c for c in _checks(failed=False) if c["status"] in ("passed", "skipped")]
    _change(db, s.verification_id, checks=[*passed, check.to_json()])
    login_as(client, db, s.agent)
    page = client.get(f"/identity/verifications/{s.verification_id}").text
    # No one-key approve: the key opens a dialog naming what is open.
    assert 'id="idv-approve" data-open="idv-approve-dialog"' in page
    dialog = page.split('id="idv-approve-dialog"')[1].split("</dialog>")[0]
    assert "Approve although checks need a look?" in dialog
    assert f"<li>{label}</li>" in dialog

    version = _state(db, s.verification_id).version
    refused = _decide(client, s.verification_id, decision="approve", version=version)
    assert refused.status_code == 422
    assert "Some checks need a look: confirm that you approve anyway." in refused.text
    assert 'data-field="confirm"' in refused.text
    assert _state(db, s.verification_id).status == VerificationStatus.review
    assert _count(db, "identity.verification.approve") == 0

    done = _decide(client, s.verification_id, decision="approve", confirm="1", version=version)
    assert done.status_code == 303
    assert _state(db, s.verification_id).status == VerificationStatus.approved


@pytest.mark.parametrize("decision", ["approve", "reject", "escalate"])
def test_a_decision_without_the_version_seen_is_refused(
    client: TestClient, db: Session, settings: Settings, decision: str
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    data = {"approve": {"confirm": "1"}, "reject": {"reasons": "face_mismatch"},
            "escalate": {"note": "A specialist should look."}}[decision]  # fmt: skip
    for version in (None, "", "  "):
        sent = {"decision": decision, **data, **({} if version is None else {"version": version})}
        refused = _decide(client, s.verification_id, **sent)
        assert refused.status_code == 422
        assert 'data-field="version"' in refused.text
        assert "reload the screen" in refused.text
    v = _state(db, s.verification_id)
    assert v.status == VerificationStatus.review and v.decision is None
    assert v.case_status == CaseStatus.open and v.case_tier == "tier1"
    assert _count(db, f"identity.verification.{decision}") == 0


def test_rejecting_needs_reasons_and_tells_the_user_those(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    version = _state(db, s.verification_id).version
    none = _decide(client, s.verification_id, decision="reject", version=version)
    assert none.status_code == 422
    assert "Choose at least one reason to tell the user." in none.text
    unknown = _decide(
        client, s.verification_id, decision="reject", reasons="not_a_reason", version=version
    )
    assert unknown.status_code == 422
    assert _state(db, s.verification_id).status == VerificationStatus.review

    done = client.post(
        f"/identity/verifications/{s.verification_id}/decision",
        data={
            "decision": "reject",
            "reasons": ["birth_date_mismatch", "face_mismatch"],
            "note": "Selfie is another person.",
            "version": str(version),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/identity?notice=rejected&decided={s.verification_id}"
    v = _state(db, s.verification_id)
    assert v.status == VerificationStatus.rejected
    assert v.user_reasons == ["birth_date_mismatch", "face_mismatch"]
    assert v.decision_note == "Selfie is another person."


def test_escalating_needs_a_note_and_moves_the_case_up(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    version = _state(db, s.verification_id).version
    bare = _decide(client, s.verification_id, decision="escalate", note="  ", version=version)
    assert bare.status_code == 422
    assert "Say why you escalate: the specialist reads it first." in bare.text
    done = _decide(
        client, s.verification_id, decision="escalate", version=version,
        note="Possible impersonation; needs a specialist.",
    )  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == f"/identity?notice=escalated&decided={s.verification_id}"
    v = _state(db, s.verification_id)
    assert v.status == VerificationStatus.review
    assert v.case_tier == "specialist"


def test_a_second_reviewer_with_a_stale_version_gets_a_conflict(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    seen = _state(db, s.verification_id).version
    # Someone else changes the verification after this reviewer loaded the screen.
    _change(db, s.verification_id, decision_note="looked at by another reviewer")
    stale = _decide(client, s.verification_id, decision="approve", confirm="1", version=seen)
    assert stale.status_code == 409
    assert "reload and try again." in stale.text
    after = _state(db, s.verification_id)
    assert after.status == VerificationStatus.review
    assert _count(db, "identity.verification.approve") == 0
    # The screen shown with the conflict carries the current version, so a retry works.
    assert f'name="version" value="{after.version}"' in stale.text


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"decision": "delete"}, "decision"),
        ({"decision": "approve", "confirm": "1", "version": "v2"}, "version"),
        ({"decision": "approve", "confirm": "1", "version": "9" * 30}, "version"),
        ({"decision": "escalate", "note": "x" * 4001}, "note"),
    ],
)
def test_bad_decision_input_is_refused_and_changes_nothing(
    client: TestClient, db: Session, settings: Settings, data: dict[str, str], field: str
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    refused = _decide(client, s.verification_id, **data)
    assert refused.status_code == 422
    assert f'data-field="{field}"' in refused.text
    v = _state(db, s.verification_id)
    assert v.status == VerificationStatus.review and v.decision is None
    assert v.case_status == CaseStatus.open


def test_a_decided_verification_cannot_be_decided_again(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    version = _state(db, s.verification_id).version
    assert _decide(client, s.verification_id, decision="reject",
                   reasons="face_mismatch", version=version).status_code == 303  # fmt: skip
    current = _state(db, s.verification_id).version
    again = _decide(client, s.verification_id, decision="approve", confirm="1", version=current)
    assert again.status_code == 409
    assert "Only a verification in review can be decided" in again.text
    assert "Decided: <strong>reject</strong>" in again.text
    assert _state(db, s.verification_id).status == VerificationStatus.rejected


# --- from the case ----------------------------------------------------------------------


def test_the_case_page_links_to_its_verification(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    case_page = client.get(f"/cases/{s.case_id}")
    # The page fetches its button, which leads straight to the verification.
    assert f'hx-get="/identity/cases/{s.case_id}/link"' in case_page.text
    link = client.get(f"/identity/cases/{s.case_id}/link")
    assert link.status_code == 200
    assert f'href="/identity/verifications/{s.verification_id}" data-key="i"' in link.text
    hop = client.get(f"/identity/cases/{s.case_id}", follow_redirects=False)
    assert hop.status_code == 303
    assert hop.headers["location"] == f"/identity/verifications/{s.verification_id}"

    other = cases.create_case(
        db, SYSTEM, cases.NewCase(type=CaseType.user_report, title="Spam", account_id=s.account_id)
    )
    db.commit()
    assert "/identity/cases/" not in client.get(f"/cases/{other.case.id}").text
    assert client.get(f"/identity/cases/{other.case.id}", headers=HTML).status_code == 404
    assert client.get(f"/identity/verifications/{2**64}", headers=HTML).status_code == 404
    assert client.get("/identity/verifications/424242", headers=HTML).status_code == 404


def test_pages_need_a_login(client: TestClient, db: Session, settings: Settings) -> None:
    s = seed_review(db, settings)
    page = client.get(f"/identity/verifications/{s.verification_id}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == f"/login?next=/identity/verifications/{s.verification_id}"
    assert _count(db, "identity.verification.view") == 0


def test_an_identity_case_without_a_verification_offers_no_review_button(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    bare = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.identity_review, title="Identity review: no document",
            account_id=s.account_id, language="pt",
        ),
    )  # fmt: skip
    db.commit()
    login_as(client, db, s.agent)
    link = client.get(f"/identity/cases/{bare.case.id}/link")
    assert link.status_code == 200
    assert "data-key" not in link.text and "/identity/" not in link.text
    # The case page asks for the button; the case with a verification gets it.
    assert (
        f'hx-get="/identity/cases/{bare.case.id}/link"' in client.get(f"/cases/{bare.case.id}").text
    )
    assert "Open the identity review" in client.get(f"/identity/cases/{s.case_id}/link").text


# --- n: the next verification for this reviewer -----------------------------------------


def take(db: Session, s: Seeded) -> None:
    """Assign the seeded case to its agent: the review screen then shows personal data by
    itself, as it does to the reviewer deciding (docs/encryption.md)."""
    from vigil.auth.service import principal_for

    cases.assign(db, principal_for(s.agent), s.case_id)
    db.commit()


def _assignee(db: Session, verification_id: int) -> int | None:
    db.expire_all()
    v = db.get(IdentityVerification, verification_id)
    assert v is not None and v.case_id is not None
    case = db.get(Case, v.case_id)
    assert case is not None
    assignee = case.assignee_id
    db.rollback()  # end the read: on SQLite an open transaction blocks the app's writes
    return assignee


def _next(client: TestClient):  # type: ignore[no-untyped-def]
    return client.post("/identity/next", headers=HTML, follow_redirects=False)


def test_next_opens_the_oldest_verification_the_agent_may_work_and_takes_its_case(
    client: TestClient, db: Session, settings: Settings
) -> None:
    first = seed_review(db, settings)
    second = seed_review(db, settings, external_id="u-idv-2", agent=first.agent)
    third = seed_review(db, settings, external_id="u-idv-3", agent=first.agent)
    # The third went up to a specialist: not for a Tier 1 agent any more.
    cases.escalate(db, SYSTEM, third.case_id, reason="Needs a specialist.")
    db.commit()
    login_as(client, db, first.agent)
    agent_id = first.agent.id

    # The identity queue and the list both carry the key's button; other queues do not.
    identity_queue = db.scalar(select(Case.queue_id).where(Case.id == first.case_id))
    db.rollback()
    queue_page = client.get(f"/queues/{identity_queue}").text
    assert 'action="/identity/next"' in queue_page and "data-identity-queue" in queue_page
    assert 'id="idv-next" aria-keyshortcuts="n"' in client.get("/identity").text

    hop = _next(client)
    assert hop.status_code == 303
    assert hop.headers["location"] == f"/identity/verifications/{first.verification_id}"
    assert _assignee(db, first.verification_id) == agent_id
    # Pressed again, it comes back to the one the agent holds (still the oldest).
    assert _next(client).headers["location"] == hop.headers["location"]

    # Another agent gets the next one: the first is held.
    other = make_staff(db, role=Role.agent, languages=["pt"])
    login_as(client, db, other)
    other_id = other.id
    db.rollback()
    assert _next(client).headers["location"] == f"/identity/verifications/{second.verification_id}"
    assert _assignee(db, second.verification_id) == other_id
    # Nothing is left for a third agent: both are held, the third is a specialist's now.
    login_as(client, db, make_staff(db, role=Role.agent, languages=["pt"]))
    empty = _next(client)
    assert empty.headers["location"] == "/identity?notice=none_waiting"
    assert "No verification is waiting for you." in client.get(empty.headers["location"]).text

    # QA may read the list but works no verification: no key, and the route refuses.
    login_as(client, db, make_staff(db, role=Role.qa))
    assert 'action="/identity/next"' not in client.get("/identity").text
    assert _next(client).status_code == 403


def test_after_a_decision_the_next_waiting_verification_opens_saying_what_was_decided(
    client: TestClient, db: Session, settings: Settings
) -> None:
    first = seed_review(db, settings)
    second = seed_review(db, settings, external_id="u-idv-2", agent=first.agent)
    login_as(client, db, first.agent)
    agent_id = first.agent.id
    db.rollback()
    done = _decide(
        client, first.verification_id, decision="reject", reasons="face_mismatch",
        version=_state(db, first.verification_id).version,
    )  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == (
        f"/identity/verifications/{second.verification_id}"
        f"?notice=rejected&decided={first.verification_id}"
    )
    assert _assignee(db, second.verification_id) == agent_id
    page = client.get(done.headers["location"])
    assert page.status_code == 200
    assert f"Verification #{first.verification_id} rejected; the user is told why." in page.text
    assert f"<h1>Verification #{second.verification_id} ·" in page.text

    # The last one: back to the list, which says so.
    last = _decide(
        client, second.verification_id, decision="approve", confirm="1",
        version=_state(db, second.verification_id).version,
    )  # fmt: skip
    assert last.headers["location"] == (
        f"/identity?notice=approved&decided={second.verification_id}"
    )


# --- reuse evidence -----------------------------------------------------------------------


def test_reuse_evidence_links_the_other_verification_and_its_account_masked_by_role(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    other = seed_review(db, settings, external_id="u-idv-2", agent=s.agent)
    other_account = db.get(Account, other.account_id)
    assert other_account is not None
    other_account.legal_name = "Joana Pereira Lima"
    # The pipeline's evidence: the other account's front is this front's file; the document
    # fingerprint is the same on both (the document check names the account only).
    match = {
        "image_id": 1, "verification_id": other.verification_id, "account_id": other.account_id,
        "account_external_id": "u-idv-2", "side": "front", "distance": 0, "match": "same_file",
        "account": "u-idv-2", "this_side": "front",
    }  # fmt: skip
    reuse = [
        Check(CheckName.image_reuse, CheckStatus.failed, Reason.image_reused,
              {"matches": [match], "accounts": ["u-idv-2"], "max_distance": 6}).to_json(),
        Check(CheckName.document_reuse, CheckStatus.failed, Reason.document_reused,
              {"accounts": ["u-idv-2"], "count": 1}).to_json(),
    ]  # fmt: skip
    db.commit()
    _change(db, s.verification_id, checks=[*_checks(failed=True), *reuse],
            document_fingerprint="f" * 64)  # fmt: skip
    _change(db, other.verification_id, document_fingerprint="f" * 64)

    take(db, s)
    login_as(client, db, s.agent)
    text = client.get(f"/identity/verifications/{s.verification_id}").text
    assert "image_id:" not in text and "verification_id:" not in text  # no raw dump
    link = f'<a href="/identity/verifications/{other.verification_id}">'
    assert text.count(link) == 2  # once per reuse check
    assert text.count('<a href="/identity/accounts/u-idv-2">u-idv-2</a>') == 2
    assert "its front ↔ this front: the same file" in text
    assert "Joana Pereira Lima" in text  # an agent may reveal: the view is recorded
    reveals = _records(db, "accounts.account.reveal")
    assert {r.target_id for r in reveals} == {str(s.account_id), str(other.account_id)}

    # Without pii:reveal the other account's name is masked like the profile's.
    login_as(client, db, make_staff(db, role=Role.qa))
    masked = client.get(f"/identity/verifications/{s.verification_id}").text
    assert masked.count(link) == 2
    assert "Joana Pereira Lima" not in masked and "J*** P*** L***" in masked

    # The account link: that account's verifications, the profile masked for QA.
    page = client.get("/identity/accounts/u-idv-2")
    assert page.status_code == 200
    assert f'href="/identity/verifications/{other.verification_id}"' in page.text
    assert "J*** P*** L***" in page.text and "Joana" not in page.text
    assert client.get("/identity/accounts/nobody", headers=HTML).status_code == 404


def test_the_kind_row_compares_nothing_with_the_profile(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    text = client.get(f"/identity/verifications/{s.verification_id}").text
    row = re.search(r'<tr class="idv-row-(\w+)">\s*<th scope="row">Kind</th>(.*?)</tr>', text, re.S)
    assert row is not None
    state, cells = row.groups()
    assert state == "none"
    assert "matches" not in cells and "differs" not in cells
    values = re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)
    assert values[0] == "passport"  # what the document says
    assert values[-2].strip() == "" and values[-1].strip() == ""  # profile, comparison


def test_the_help_lists_this_screens_keys_and_the_global_keys_that_still_work(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    login_as(client, db, s.agent)
    text = client.get(f"/identity/verifications/{s.verification_id}").text
    help_ = text.split('<dialog id="idv-help"')[1].split("</dialog>")[0]
    keys = re.findall(r"<tr><td><kbd>([^<]+)</kbd>", help_)
    assert keys.count("a") == 1 and keys.count("e") == 1
    assert not {"c", "d", "p"} & set(keys)
    assert {"v", "r", "l", "n", "q", "?"} <= set(keys)
    listed = client.get("/identity").text.split('<dialog id="idv-help"')[1].split("</dialog>")[0]
    assert "Open the next verification waiting for you" in listed
    assert "Next case from your queues" not in listed
