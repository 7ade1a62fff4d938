"""The whole pipeline on documents the simulator draws (``vigil.simulate.documents``): read,
checked, decided, stored, a case for review, the document in the linked-accounts graph, an
event for the rules and the webhook to the marketplace.

Reading a document (OCR, faces) takes seconds, so each document is analysed once per test
session, when a test first needs it (``analyses``), and the database half
(:func:`pipeline.finish`) runs on both databases; one test runs everything for real through
the API, the worker and a webhook receiver. Image analysis that touches no database (the
portrait in every turn) runs once, not per backend. (Under xdist each worker reads the
documents it needs; grouping the module on one worker to read them once was measured slower:
it serializes the module.)
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import auth_header, make_api_key
from tests.identity import imaging
from tests.identity.conftest import HOLDER, make_account
from tests.servers import WebhookReceiver
from vigil.accounts.models import Account, Identifier, IdentifierKind
from vigil.app import create_app, load_task_modules
from vigil.auth.permissions import API_KEY_SCOPES
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.cases.models import Case, CaseType, Queue
from vigil.config import Settings
from vigil.detection import service as detection_service
from vigil.detection.events import EventIn
from vigil.detection.links.service import link_features
from vigil.detection.models import Event
from vigil.detection.rules import service as rules_service
from vigil.identity import aamva, faces, forensics, mrz, ocr, pipeline, service
from vigil.identity.images import decode as decode_image
from vigil.identity.models import IdentityImage, IdentityVerification
from vigil.identity.types import (
    CheckName,
    DocumentKind,
    ImageSide,
    Outcome,
    Reason,
    VerificationStatus,
)
from vigil.integrations import service as integrations
from vigil.jobs.worker import Worker
from vigil.kit.blobs import new_key
from vigil.kit.errors import InvalidInput
from vigil.policies import pack as policy_pack
from vigil.screening import service as screening_service
from vigil.simulate import documents
from vigil.simulate.documents import Defect, Person, SyntheticDocument

# A fictional person of the shipped sample screening list (vigil/screening/data/sample.csv).
LISTED = Person("Dresk", "Viktor Almanzor", date(1968, 4, 17), "M", "USA", "US", face=1)


def _images(doc: SyntheticDocument) -> dict[ImageSide, bytes]:
    out = {ImageSide.front: doc.front}
    if doc.back is not None:
        out[ImageSide.back] = doc.back
    if doc.selfie is not None:
        out[ImageSide.selfie] = doc.selfie
    return out


def _resaved(data: bytes, *, scale: float = 0.8, quality: int = 70) -> bytes:
    """The image decoded, scaled and saved again as another JPEG (other bytes, same picture)."""
    with Image.open(io.BytesIO(data)) as img:
        size = (round(img.width * scale), round(img.height * scale))
        return imaging.jpeg(
            img.convert("RGB").resize(size, Image.Resampling.LANCZOS), quality=quality
        )


def _sideways(data: bytes, turn: Image.Transpose = Image.Transpose.ROTATE_270) -> bytes:
    """The photo turned (by default a quarter turn clockwise), as a phone held the wrong way
    saves it (no EXIF tag to put it upright)."""
    with Image.open(io.BytesIO(data)) as img:
        return imaging.jpeg(img.convert("RGB").transpose(turn), quality=95)


@pytest.fixture(scope="session")
def docs(holder_passport: SyntheticDocument) -> dict[str, SyntheticDocument]:
    clean = holder_passport
    made = {
        "clean": clean,
        # The selfie is the document's own photo: the same file, or a re-saved copy.
        "selfie_same_file": dataclasses.replace(clean, selfie=clean.front),
        "selfie_resaved": dataclasses.replace(clean, selfie=_resaved(clean.front)),
        # No selfie: the portrait must still be found, here on a photo taken sideways.
        "sideways_no_selfie": dataclasses.replace(clean, front=_sideways(clean.front), selfie=None),
        # No selfie and no face on the document at all.
        "faceless_no_selfie": dataclasses.replace(
            clean, front=imaging.jpeg(imaging.document_like(seed=5)), selfie=None
        ),
        "listed": documents.render(DocumentKind.passport, LISTED, rng=random.Random(5)),
        "blur": documents.render(
            DocumentKind.passport, HOLDER, rng=random.Random(2), defects=[Defect.blur]
        ),
        "expired": documents.render(
            DocumentKind.id_card, HOLDER, rng=random.Random(3), defects=[Defect.expired]
        ),
        "license": documents.render(DocumentKind.driver_license, HOLDER, rng=random.Random(4)),
    }
    if made["clean"].selfie is None:
        pytest.skip("the simulator's portraits need scikit-image and matplotlib")
    return made


class _Analyses(dict[str, pipeline.Analysis]):
    """Each document read once, when first asked for (the CPU half: no database)."""

    def __init__(self, docs: dict[str, SyntheticDocument]) -> None:
        super().__init__()
        self.docs = docs
        self.settings = Settings(database_url="sqlite:///:memory:")

    def __missing__(self, name: str) -> pipeline.Analysis:
        doc = self.docs[name]
        found = self[name] = pipeline.analyze(self.settings, doc.kind, None, _images(doc))
        return found


@pytest.fixture(scope="session")
def analyses(docs: dict[str, SyntheticDocument]) -> dict[str, pipeline.Analysis]:
    return _Analyses(docs)


def _account_for(
    db: Session, doc: SyntheticDocument, external_id: str, **override: object
) -> Account:
    profile = {**documents.profile_for(doc), **override}
    return make_account(db, external_id, **profile)


Finish = Callable[..., IdentityVerification]


@pytest.fixture
def finish(
    db: Session,
    settings: Settings,
    docs: dict[str, SyntheticDocument],
    analyses: dict[str, pipeline.Analysis],
) -> Finish:
    """Submit ``name``'s images for an account and finish it with the session's analysis."""
    routing.ensure_default_queues(db)

    def run(
        name: str,
        external_id: str = "acct-1",
        *,
        analysis: pipeline.Analysis | None = None,
        **profile: object,
    ) -> IdentityVerification:
        doc = docs[name]
        account = db.scalar(select(Account).where(Account.external_id == external_id))
        if account is None:
            account = _account_for(db, doc, external_id, **profile)
        v = service.submit(
            db,
            service.SYSTEM,
            account_external_id=external_id,
            kind=doc.kind,
            issuing_country=None,
            images=_images(doc),
            settings=settings,
        )
        assert pipeline.start(db, v)
        pipeline.finish(db, settings, v, analysis if analysis is not None else analyses[name])
        db.flush()
        return v

    return run


def _check(v: IdentityVerification, name: CheckName) -> dict:
    return next(c for c in v.checks if c["name"] == name.value)


def test_clean_passport_is_approved_with_every_consequence(db: Session, finish: Finish) -> None:
    v = finish("clean")
    assert v.status is VerificationStatus.approved and v.outcome is Outcome.approve, v.reasons
    assert v.reasons == [] and v.user_reasons == [] and v.case_id is None
    document = v.fields["document"]
    assert (document["surname"], document["given_names"]) == ("ERIKSSON", "ANNA MARIA")
    assert document["birth_date"] == "1985-03-04" and v.fields["mrz"]["valid"] is True
    assert _check(v, CheckName.mrz_integrity)["status"] == "passed"
    assert _check(v, CheckName.face_match)["status"] == "passed"
    assert "copy_of" not in _check(v, CheckName.face_match)["evidence"]
    present = _check(v, CheckName.face_present)
    assert present["status"] == "passed" and present["evidence"]["selfie_faces"] == 1
    assert v.face_distance is not None and v.face_distance < 0.5
    assert v.document_fingerprint and len(v.document_fingerprint) == 64
    assert document["document_number"] not in v.document_fingerprint
    # Hashes stored for reuse detection, including the portrait's.
    front = db.scalar(
        select(IdentityImage).where(
            IdentityImage.verification_id == v.id, IdentityImage.side == ImageSide.front
        )
    )
    assert front is not None and front.phash and front.portrait_phash
    # The linked-accounts graph sees the document; the rules see an identity event.
    issuer = document["issuing_country"]
    ident = db.scalars(select(Identifier).where(Identifier.kind == IdentifierKind.document)).one()
    assert ident.value.endswith(":" + document["document_number"]) and len(issuer) == 3
    event = db.scalars(select(Event).where(Event.type == "identity_verified")).one()
    assert event.payload["data"]["document_fingerprint"] == v.document_fingerprint
    assert event.payload["data"]["face_distance"] == pytest.approx(v.face_distance)
    assert event.payload["data"]["outcome"] == "approve"


def test_blurry_photo_is_rejected_with_a_reason_the_user_can_act_on(
    db: Session, finish: Finish
) -> None:
    v = finish("blur")
    assert v.status is VerificationStatus.rejected and v.outcome is Outcome.reject
    # A blurred photo also hides the portrait: both are the user's to fix by retaking it.
    assert v.user_reasons[0] == Reason.image_blurry.value
    assert set(v.user_reasons) <= {Reason.image_blurry.value, Reason.face_not_found.value}
    reason = service.describe(db, v).user_reasons[0]
    assert "blur" in reason.text.lower()
    assert v.case_id is None


def test_expired_id_card_is_rejected(db: Session, finish: Finish) -> None:
    v = finish("expired")
    assert v.outcome is Outcome.reject, (v.reasons, v.checks)
    assert Reason.document_expired.value in v.user_reasons


def test_us_license_barcode_confirmed_by_the_visual_zone(db: Session, finish: Finish) -> None:
    v = finish("license")
    assert _check(v, CheckName.barcode_integrity)["status"] == "passed"
    assert _check(v, CheckName.visual_zone)["status"] == "passed"
    assert v.fields["barcode"]["iin"] and v.outcome is Outcome.approve, (v.reasons, v.checks)


def test_mismatched_profile_goes_to_review_in_the_identity_queue(
    db: Session, finish: Finish
) -> None:
    v = finish("clean", legal_name="Joana Pereira", date_of_birth=date(1990, 1, 2))
    assert v.status is VerificationStatus.review and v.outcome is Outcome.review
    assert {Reason.name_mismatch.value, Reason.birth_date_mismatch.value} <= set(v.reasons)
    assert v.user_reasons == []
    case = db.get(Case, v.case_id)
    assert case is not None and case.type == CaseType.identity_review
    assert case.attributes["identity_verification_id"] == v.id
    assert db.get(Queue, case.queue_id).slug == "identity"  # type: ignore[union-attr]


def test_same_document_on_another_account_is_caught(db: Session, finish: Finish) -> None:
    first = finish("clean", "acct-1")
    assert first.outcome is Outcome.approve
    second = finish("clean", "acct-2")
    assert second.outcome is Outcome.review
    assert {Reason.document_reused.value, Reason.image_reused.value} <= set(second.reasons)
    assert _check(second, CheckName.document_reuse)["evidence"]["accounts"] == ["acct-1"]
    images = _check(second, CheckName.image_reuse)["evidence"]["matches"]
    assert {m["account"] for m in images} == {"acct-1"}
    assert {m["this_side"] for m in images} >= {"front", "portrait"}
    # Both accounts now share the document identifier: the graph links them.
    a2 = db.scalar(select(Account).where(Account.external_id == "acct-2"))
    links = link_features(db, a2.id)  # type: ignore[union-attr]
    assert links.linked_accounts == 1 and links.linked_by == ["document"]


def test_screening_is_skipped_while_no_list_is_loaded(db: Session, finish: Finish) -> None:
    """Screening against nothing is no evidence: the check says it was skipped, not passed."""
    v = finish("clean")
    screening = _check(v, CheckName.screening)
    assert (screening["status"], screening["reason"]) == ("skipped", "not_applicable")
    assert screening["evidence"]["lists_loaded"] == 0


def test_a_person_on_a_loaded_list_goes_to_review(db: Session, finish: Finish) -> None:
    screening_service.load_sample(db, service.SYSTEM)
    clean = finish("clean", "acct-1")
    screening = _check(clean, CheckName.screening)
    assert screening["status"] == "passed" and screening["evidence"]["lists_loaded"] == 1
    assert clean.outcome is Outcome.approve

    listed = finish("listed", "acct-2")
    screening = _check(listed, CheckName.screening)
    assert (screening["status"], screening["reason"]) == ("failed", Reason.screening_hit.value)
    (hit,) = screening["evidence"]["hits"]
    assert hit["entry_id"] == "vgl-sample-001" and hit["birth_date_agrees"] is True
    assert listed.outcome is Outcome.review and Reason.screening_hit.value in listed.reasons
    assert listed.user_reasons == []  # never told to the user
    case = db.get(Case, listed.case_id)
    assert case is not None and case.priority == 2
    event = db.scalars(
        select(Event).where(Event.event_id == f"identity_verification:{listed.id}")
    ).one()
    assert event.payload["data"]["screening_hit"] is True


@pytest.mark.parametrize("name", ["selfie_same_file", "selfie_resaved"])
def test_a_selfie_that_is_a_copy_of_the_document_goes_to_review(
    db: Session, settings: Settings, finish: Finish, name: str
) -> None:
    v = finish(name)
    match = _check(v, CheckName.face_match)
    assert (match["status"], match["reason"]) == ("warning", Reason.selfie_is_document_copy.value)
    evidence = match["evidence"]
    assert "front" in evidence["copy_of"]
    assert evidence["hash_distances"]["front"] <= settings.identity_image_hash_distance
    assert v.outcome is Outcome.review and Reason.selfie_is_document_copy.value in v.reasons
    assert v.user_reasons == [] and v.case_id is not None


def test_without_a_selfie_a_turned_portrait_is_found_and_hashed_upright(
    docs: dict[str, SyntheticDocument], analyses: dict[str, pipeline.Analysis]
) -> None:
    """The image half (no database, so once, not per backend): the portrait of a photo taken
    in any turn is found and hashes like the upright one's."""
    settings = Settings(database_url="sqlite:///:memory:")  # the thresholds' defaults
    sideways, upright = analyses["sideways_no_selfie"], analyses["clean"]
    assert sideways.faces is None and sideways.portrait_faces is not None
    # Photographed a quarter turn clockwise: a quarter turn counter-clockwise puts it upright.
    assert sideways.portrait_faces.document_rotation == 90
    assert sideways.portrait_phash is not None and upright.portrait_phash is not None
    distance = forensics.hash_distance(sideways.portrait_phash, upright.portrait_phash)
    assert distance <= settings.identity_image_hash_distance
    # Counter-clockwise and upside down, the portrait step the pipeline runs without a selfie
    # (reading every turn's text as well would add ~20 s of OCR per photo). In these two turns
    # the detector also sees a faint false face, which must not be taken for the portrait.
    for photographed, rotation in (
        (Image.Transpose.ROTATE_90, 270),
        (Image.Transpose.ROTATE_180, 180),
    ):
        photo = decode_image(
            _sideways(docs["clean"].front, photographed),
            max_bytes=settings.identity_max_upload_bytes,
            max_pixels=settings.identity_max_pixels,
        ).image
        box, count, angle = faces.largest_face(photo)
        assert box is not None and (count, angle) == (1, rotation), photographed
        turned_hash = forensics.portrait_hash(photo, box, rotation=angle)
        distance = forensics.hash_distance(turned_hash, upright.portrait_phash)
        assert distance <= settings.identity_image_hash_distance, photographed


def test_without_a_selfie_a_sideways_portrait_is_found_and_its_reuse_seen(
    db: Session, finish: Finish
) -> None:
    finish("clean", "acct-1")
    v = finish("sideways_no_selfie", "acct-2")
    present = _check(v, CheckName.face_present)
    assert present["status"] == "passed"
    assert (
        present["evidence"]["document_faces"] >= 1 and present["evidence"]["selfie_faces"] is None
    )
    match = _check(v, CheckName.face_match)
    assert (match["status"], match["reason"]) == ("skipped", Reason.image_missing.value)
    assert v.fields["faces"]["document_rotation"] == 90
    # The turned photo's portrait hashes like the upright one's: the reuse is seen.
    matches = _check(v, CheckName.image_reuse)["evidence"]["matches"]
    assert any(m["this_side"] == "portrait" and m["account"] == "acct-1" for m in matches)
    assert v.outcome is Outcome.review and Reason.image_reused.value in v.reasons


def test_without_a_selfie_a_document_showing_no_face_is_rejected(
    db: Session, finish: Finish
) -> None:
    v = finish("faceless_no_selfie")
    present = _check(v, CheckName.face_present)
    assert (present["status"], present["reason"]) == ("failed", Reason.face_not_found.value)
    assert present["evidence"] == {"document_faces": 0, "selfie_faces": None}
    assert v.outcome is Outcome.reject and Reason.face_not_found.value in v.user_reasons


def test_a_barcode_that_says_it_cut_the_name_matches_the_full_name(
    analyses: dict[str, pipeline.Analysis],
) -> None:
    """AAMVA's truncation flags reach the name check: a middle name cut to "MAR" matches the
    profile's "Maria" only when the barcode says it was cut (DDG = T)."""
    license = analyses["license"]
    assert license.barcode is not None and license.mrz is None
    context = pipeline.Context(
        legal_name=HOLDER.legal_name,
        birth_date=HOLDER.birth_date,
        country="US",
        fingerprint=None,
        reused_by=[],
        image_matches=[],
        screening_hits=[],
        screened=True,
        lists_loaded=0,
    )
    settings = Settings(database_url="sqlite:///:memory:")

    barcode = license.barcode

    def name_check(flag: str) -> dict:
        elements = {**barcode.elements, "DAD": "MAR", "DDG": flag}
        payload = aamva.encode(elements, iin=barcode.iin, version=barcode.version)
        cut = dataclasses.replace(license, barcode=aamva.parse(payload))
        assert cut.barcode is not None and cut.barcode.truncated is (flag == "T")
        results = pipeline.run_checks(settings, cut, context)
        return next(c.to_json() for c in results if c.name is CheckName.profile_name)

    flagged = name_check("T")
    assert flagged["status"] == "passed" and flagged["evidence"]["method"] == "truncated"
    unflagged = name_check("N")
    assert (unflagged["status"], unflagged["reason"]) == (
        "warning",
        Reason.name_partial_match.value,
    )


# --- only a verified read feeds the graph and reuse --------------------------------------------


def _forged(clean: pipeline.Analysis) -> pipeline.Analysis:
    """The clean passport's analysis with a forged document number: one number digit
    altered as printed, in the MRZ and in the visual zone alike, check digits as they were.
    The MRZ reader repairs it into a valid read of a third number (a confusion elsewhere in
    the number fixes both the number's and the composite check digit); two OCR reads of the
    same print agree on that repair, and the visual zone prints the forged number."""
    assert clean.mrz is not None
    truth = clean.mrz.fields
    rng = random.Random("forged-number")
    for _ in range(500):
        number = "".join(rng.choice("0O1I5S8B2Z3467ACEFHKMNPRTX") for _ in range(9))
        lines = mrz.build(dataclasses.replace(truth, document_number=number), mrz.MrzFormat.TD3)
        digits = [i for i, ch in enumerate(number) if ch.isdigit()]
        if not digits:
            continue
        at = rng.choice(digits)
        printed_number = number[:at] + str((int(number[at]) + rng.randint(1, 9)) % 10)
        printed_number += number[at + 1 :]
        printed = [lines[0], printed_number + lines[1][9:]]
        read = mrz.read(printed)
        if read is not None and read.valid and read.repairs:
            break
    else:
        raise AssertionError("no forged number read valid after a repair")
    again = mrz.read(printed)
    assert again is not None and again.lines == read.lines
    assert truth.birth_date is not None
    zone = [
        "PASSPORT / PASAPORTE",
        "Passport No. / N.º de pasaporte",
        printed_number,
        "Surname / Apellidos",
        truth.surname or "",
        "Given names / Nombre",
        truth.given_names or "",
        "Date of birth / Fecha de nacimiento",
        truth.birth_date.strftime("%d %b %Y").upper(),
        *printed,
    ]
    text = ocr.DocumentText(
        lines=[
            ocr.OcrLine(t, (20.0, 20.0 + 40 * i, 900.0, 50.0 + 40 * i), 0.99)
            for i, t in enumerate(zone)
        ],
        mrz=read,
        mrz_reads=[read, again],
        mrz_confirmed=ocr.confirmed(read, [read, again]),
    )
    front = dataclasses.replace(clean.sides[ImageSide.front], text=text)
    forged = dataclasses.replace(
        clean,
        sides={**clean.sides, ImageSide.front: front},
        mrz=read,
        mrz_side=ImageSide.front,
        mrz_confirmed=text.mrz_confirmed,
        viz_fields=None,
        viz_comparison=None,
    )
    pipeline.read_visual_zone(forged)
    return forged


def _document_identifiers(db: Session) -> list[str]:
    return list(
        db.scalars(select(Identifier.value).where(Identifier.kind == IdentifierKind.document))
    )


def test_a_forged_number_repaired_into_a_valid_read_is_neither_approved_nor_linked(
    db: Session, finish: Finish, analyses: dict[str, pipeline.Analysis]
) -> None:
    forged = _forged(analyses["clean"])
    assert forged.mrz is not None and forged.mrz.valid and forged.mrz.repairs
    assert not forged.mrz_confirmed and not forged.repairs_confirmed
    v = finish("clean", analysis=forged)
    assert v.outcome is Outcome.review and v.status is VerificationStatus.review, v.reasons
    integrity = _check(v, CheckName.mrz_integrity)
    assert (integrity["status"], integrity["reason"]) == ("warning", Reason.mrz_unconfirmed.value)
    assert integrity["evidence"]["repairs_confirmed"] is False
    # The printed number shows the very character the repair replaced: a contradiction.
    zone = _check(v, CheckName.visual_zone)
    assert (zone["status"], zone["reason"]) == ("failed", Reason.viz_mismatch.value)
    printed = zone["evidence"]["printed"]["document_number"]
    assert printed["how"] == "repaired_character_differs"
    # The third number feeds neither reuse nor the graph nor the rules.
    assert v.document_fingerprint is None
    reuse = _check(v, CheckName.document_reuse)
    assert reuse["status"] == "skipped"
    assert reuse["evidence"] == {"fingerprint_not_used": "mrz_repairs_unconfirmed"}
    assert _document_identifiers(db) == []
    event = db.scalars(select(Event).where(Event.type == "identity_verified")).one()
    assert event.payload["data"]["document_fingerprint"] is None
    assert v.fields["mrz"]["repairs_confirmed"] is False


def test_unverified_reads_feed_neither_reuse_nor_the_graph(
    db: Session, finish: Finish, analyses: dict[str, pipeline.Analysis]
) -> None:
    """The same document number read on another account, but not verified: from printed text
    only, from an MRZ that fails its check digits, from a blurred photo. None is fingerprinted
    or added to the graph, and the reuse check says why."""
    first = finish("clean", "acct-1")
    assert first.document_fingerprint is not None
    assert len(_document_identifiers(db)) == 1

    clean = analyses["clean"]
    assert clean.mrz is not None
    printed = dataclasses.replace(clean.mrz.fields, source="viz")
    printed_only = dataclasses.replace(clean, mrz=None, mrz_side=None, viz_fields=printed)
    lines = list(clean.mrz.lines)
    wrong = str((int(lines[1][19]) + 1) % 10)  # the birth date's check digit
    failing = mrz.read([lines[0], lines[1][:19] + wrong + lines[1][20:]])
    assert failing is not None and not failing.valid
    failing_mrz = dataclasses.replace(clean, mrz=failing, mrz_confirmed=False)
    blurred = analyses["blur"]
    for external_id, analysis, name, why in (
        ("acct-2", printed_only, "clean", "printed_text_only"),
        ("acct-3", failing_mrz, "clean", "mrz_invalid"),
        ("acct-4", blurred, "blur", "image_quality"),
    ):
        v = finish(name, external_id, analysis=analysis)
        assert v.document_fingerprint is None, external_id
        reuse = _check(v, CheckName.document_reuse)
        assert reuse["status"] == "skipped"
        assert reuse["evidence"] == {"fingerprint_not_used": why}, external_id
    # Only the verified read of the first account is in the graph: nothing links the others.
    assert len(_document_identifiers(db)) == 1
    for external_id in ("acct-2", "acct-3", "acct-4"):
        account = db.scalar(select(Account).where(Account.external_id == external_id))
        assert link_features(db, account.id).linked_accounts == 0  # type: ignore[union-attr]


def test_running_the_job_twice_does_the_work_once(
    db: Session, settings: Settings, finish: Finish, analyses: dict[str, pipeline.Analysis]
) -> None:
    v = finish("clean")
    before = (v.status, v.version, v.processed_at)
    assert pipeline.start(db, v) is False
    pipeline.finish(db, settings, v, analyses["clean"])
    assert (v.status, v.version, v.processed_at) == before
    assert len(db.scalars(select(Event).where(Event.type == "identity_verified")).all()) == 1


def test_the_marketplace_cannot_send_identity_events(db: Session, settings: Settings) -> None:
    make_account(db, "acct-1")
    event = EventIn(
        event_id="e1", type="identity_verified", account_id="acct-1", data={"outcome": "approve"}
    )
    with pytest.raises(InvalidInput) as info:
        detection_service.ingest(
            db, settings, event, actor=Principal.api_key(1, "m", API_KEY_SCOPES)
        )
    assert (info.value.field, info.value.code) == ("type", "reserved_event_type")


# --- end to end: API, worker, webhook ------------------------------------------------------------


@pytest.fixture
def e2e_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"webhook_backoff_base_seconds": 0.05, "webhook_backoff_max_seconds": 0.2}
    )


def test_end_to_end_over_http_with_the_worker_and_a_webhook(
    db: Session,
    session_factory: sessionmaker[Session],
    e2e_settings: Settings,
    docs: dict[str, SyntheticDocument],
    webhook_receiver: WebhookReceiver,
) -> None:
    routing.ensure_default_queues(db)
    doc = docs["clean"]
    _account_for(db, doc, "acct-9", locale="es")
    integrations.create_integration(
        db,
        service.SYSTEM,
        name="market",
        url=webhook_receiver.url,
        event_types=[service.WEBHOOK_EVENT],
    )
    _, secret = make_api_key(db)
    db.commit()
    with TestClient(create_app(e2e_settings, run_worker=False)) as client:
        files = {
            s.value: (f"{s.value}.jpg", data, "image/jpeg") for s, data in _images(doc).items()
        }
        r = client.post(
            "/v1/accounts/acct-9/documents",
            data={"kind": "passport"},
            files=files,
            headers={**auth_header(secret), "Idempotency-Key": "u1"},
        )
        assert r.status_code == 202, r.text
        vid = r.json()["id"]
        Worker(e2e_settings, session_factory, name="identity-e2e").drain()
        (request,) = webhook_receiver.wait_for(1)
        body = json.loads(request.body)
        assert request.headers["vigil-event"] == "identity.verification.completed"
        assert body["data"]["verification_id"] == vid and body["data"]["outcome"] == "approve"
        assert body["data"]["account_id"] == "acct-9" and body["data"]["locale"] == "es"
        got = client.get(f"/v1/identity/verifications/{vid}", headers=auth_header(secret)).json()
        assert got["status"] == "approved" and got["processed_at"] is not None
        assert got["fields"]["document"]["surname"] == "ERIKSSON"


def test_images_the_worker_cannot_open_fail_the_verification(
    db: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    docs: dict[str, SyntheticDocument],
    webhook_receiver: WebhookReceiver,
) -> None:
    make_account(db, "acct-1")
    integrations.create_integration(db, service.SYSTEM, name="market", url=webhook_receiver.url)
    v = service.submit(
        db,
        service.SYSTEM,
        account_external_id="acct-1",
        kind=DocumentKind.passport,
        issuing_country=None,
        images={ImageSide.front: docs["clean"].front},
        settings=settings,
    )
    db.commit()
    load_task_modules()  # the job handlers, as the app registers them
    wrong_key = settings.model_copy(
        update={"blob_key": SecretStr(new_key()), "webhook_backoff_base_seconds": 0.05}
    )
    Worker(wrong_key, session_factory, name="identity-fail").drain()
    db.expire_all()
    failed = db.get(IdentityVerification, v.id)
    assert failed is not None and failed.status is VerificationStatus.failed
    assert "not configured" in (failed.error or "")
    (request,) = webhook_receiver.wait_for(1)
    assert json.loads(request.body)["data"]["status"] == "failed"


def test_rules_can_use_what_the_document_check_found(db: Session, finish: Finish) -> None:
    """A shadow rule on the identity event fires on the second account holding the document."""
    policy_pack.load_pack(db, service.SYSTEM)
    rules_service.create_rule(
        db,
        service.SYSTEM,
        {
            "name": "shared_identity_document",
            "description": "The same identity document on two accounts.",
            "expression": "event.data.document_reused && event.data.face_distance != null"
            " && event.data.face_distance < 0.5",
            "score": 60,
            "outcome": "review",
            "policy_code": "spam",
            "queue": "detection",
            "tags": ["identity"],
            "event_types": ["identity_verified"],
        },
        state="shadow",
    )
    finish("clean", "acct-1")
    finish("clean", "acct-2")
    events = db.scalars(
        select(Event).where(Event.type == "identity_verified").order_by(Event.id)
    ).all()
    assert [[h["name"] for h in e.hits] for e in events] == [[], ["shared_identity_document"]]


def test_a_near_whole_image_counts_as_reuse_only_with_the_portrait_or_the_same_file() -> None:
    def match(verification_id: int, distance: int, how: str = "image_phash") -> dict[str, Any]:
        return {"verification_id": verification_id, "distance": distance, "match": how}

    # Two documents of one template, photographed alike: near by layout alone.
    layout_only = match(1, 2)
    same_face = match(2, 6)
    same_file = match(3, 0, "same_file")
    identical_hash = match(4, 0)
    portrait = match(2, 3, "portrait_phash")
    found = [layout_only, same_face, same_file, identical_hash]

    kept = pipeline.corroborated_image_matches(found, [portrait])
    assert kept == [same_face, same_file, portrait]

    # Without a portrait on this document, only the same file or an identical hash counts.
    kept = pipeline.corroborated_image_matches(found, [], has_portrait=False)
    assert kept == [same_file, identical_hash]
