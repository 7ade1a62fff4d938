"""Everything Vigil holds about a person, for an access request (GDPR Art. 15).

The document is JSON with one section per kind of data and plain field names; with images it
is a zip of that JSON and the decrypted document images. Every export is audited.

Withheld, and said so in the document's ``withheld`` list (Art. 15(4): the right of access
must not adversely affect the rights of others; Art. 23(1)(d)/(e) and national law allow
restricting it for the prevention and detection of fraud):
- internal fraud signals: event features, scores and rule hits, verification checks, internal
  reason codes, face-match distances, document fingerprints, linked-account clusters;
- staff notes, case titles and summaries, and internal reasoning of decisions (they quote
  other users and describe detection methods);
- what other people sent about the person (reports, messages, the other party's side of a
  dispute): the person gets the statement of reasons, which says what they were accused of;
- legal holds (their existence can be confidential to an authority's request);
- matters under an authority's confidentiality request: legal-tier cases, cases an
  authority order is about, their decisions, and the authority orders themselves (Art.
  23(1)(d)). The ``withheld`` entry is always present, whether or not there is such a matter,
  so the export never reveals one. Only ``include_legal_matters=True`` puts them in, which
  needs ``cases:legal`` (a legal staff member deciding to release them: ``vigil
  export-person --include-legal-matters``); the API never does.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account, Identifier, Restriction
from vigil.accounts.service import account_by_external_id
from vigil.analytics.clusters.models import TextCluster
from vigil.appeals.models import Appeal
from vigil.audit import service as audit
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases.models import Case, Tier
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.disputes.models import Dispute, DisputeSubmission, Party
from vigil.dsa.models import Statement
from vigil.dsa.order_models import AuthorityOrder
from vigil.enforcement.models import Decision, Strike
from vigil.identity.models import IdentityImage, IdentityVerification
from vigil.integrations.models import WebhookDelivery
from vigil.kit import clock
from vigil.kit.blobs import BlobError
from vigil.kit.errors import NotFound
from vigil.privacy.models import ErasureRequest
from vigil.privacy.retention import account_deliveries, person_events

FORMAT = "vigil.person-export/1"
SECTIONS = (
    "account",
    "identifiers",
    "events",
    "messages",
    "identity_verifications",
    "restrictions",
    "statements_of_reasons",
    "strikes",
    "appeals",
    "disputes",
    "cases",
    "decisions",
    "webhook_deliveries",
    "text_cluster_examples",
    "erasure_requests",
)
LEGAL_SECTION = "authority_orders"  # only with include_legal_matters
WITHHELD = [
    {
        "data": "fraud_signals",
        "reason": "event features, scores and rule hits, verification checks, internal "
        "reason codes, face-match distances, document fingerprints and linked accounts are "
        "withheld to keep fraud detection working (GDPR Art. 23(1)(d), (e))",
    },
    {
        "data": "staff_notes_and_reasoning",
        "reason": "staff notes, case titles and summaries and internal reasoning quote other "
        "people and describe detection methods (GDPR Art. 15(4))",
    },
    {
        "data": "reports_and_messages_by_others",
        "reason": "what other users sent about this person is their data (GDPR Art. 15(4)); "
        "the statements of reasons say what each decision was based on",
    },
    {
        "data": "other_party_dispute_submissions",
        "reason": "the other party's side of a dispute is their data (GDPR Art. 15(4))",
    },
    {
        "data": "legal_holds",
        "reason": "a legal hold may answer a confidential request of an authority",
    },
    {
        "data": "verification_review_notes",
        "reason": "a reviewer's note, processing errors and face-match distances on identity "
        "verifications are internal assessments (GDPR Art. 23(1)(d), (e)); the outcome and "
        "the reasons given to you are in identity_verifications",
    },
]
LEGAL_WITHHELD = {
    "data": "matters_under_authority_confidentiality",
    "reason": "matters handled by the legal team or under an authority's order, and the "
    "orders themselves, may be subject to a confidentiality request of that authority "
    "(GDPR Art. 23(1)(d)); this entry is present in every export",
}
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _confidential_cases(account_id: int) -> Any:
    """The account's cases in the legal tier or named by an authority order."""
    return select(Case.id).where(
        Case.account_id == account_id,
        or_(
            Case.tier == Tier.legal,
            Case.id.in_(select(AuthorityOrder.case_id).where(AuthorityOrder.case_id.is_not(None))),
        ),
    )


def _released(column: Any, hidden: Any) -> ColumnElement[bool]:
    return or_(column.is_(None), column.not_in(hidden))


def build(
    session: Session, account: Account, *, include_legal_matters: bool = False
) -> dict[str, Any]:
    """The export document (no images), never written anywhere. Confidential matters are
    left out unless ``include_legal_matters`` (see the module docstring)."""
    aid = account.id
    hidden = _confidential_cases(aid)
    if include_legal_matters:
        hidden = hidden.where(false())
    sections: dict[str, Any] = {}
    sections["account"] = {
        "external_id": account.external_id,
        "side": account.side.value,
        "display_name": account.display_name,
        "legal_name": account.legal_name,
        "date_of_birth": _iso(account.date_of_birth),
        "country": account.country,
        "locale": account.locale,
        "email": account.email,
        "phone": account.phone,
        "status": account.status.value,
        "registered_at": _iso(account.registered_at),
        "attributes": account.attributes,
        "first_seen_by_vigil_at": _iso(account.created_at),
    }
    sections["identifiers"] = [
        {
            "kind": i.kind.value,
            "value": i.value,
            "first_seen_at": _iso(i.first_seen_at),
            "last_seen_at": _iso(i.last_seen_at),
            "times_seen": i.seen_count,
        }
        for i in session.scalars(
            select(Identifier).where(Identifier.account_id == aid).order_by(Identifier.id)
        )
    ]
    sections["events"] = [
        {
            "event_id": e.event_id,
            "type": e.type,
            "occurred_at": _iso(e.occurred_at),
            "received_at": _iso(e.received_at),
            "as_sent": e.payload,
            "outcome": e.outcome.value,
        }
        for e in session.scalars(
            select(Event)
            .where(person_events(aid, account.external_id), _released(Event.case_id, hidden))
            .order_by(Event.id)
        )
    ]
    sections["messages"] = [
        {
            "channel": m.channel.value,
            "language": m.locale,
            "sent_to": m.recipient,
            "subject": m.subject,
            "body": m.body,
            "status": m.status.value,
            "written_at": _iso(m.created_at),
            "sent_at": _iso(m.sent_at),
        }
        for m in session.scalars(
            select(Message)
            .where(Message.account_id == aid, _released(Message.case_id, hidden))
            .order_by(Message.id)
        )
    ]
    verifications = []
    for v in session.scalars(
        select(IdentityVerification)
        .where(
            IdentityVerification.account_id == aid,
            _released(IdentityVerification.case_id, hidden),
        )
        .order_by(IdentityVerification.id)
    ):
        images = session.scalars(
            select(IdentityImage)
            .where(IdentityImage.verification_id == v.id)
            .order_by(IdentityImage.id)
        )
        verifications.append(
            {
                "id": v.id,
                "document_kind": v.kind.value,
                "issuing_country": v.issuing_country,
                "status": v.status.value,
                "outcome": None if v.outcome is None else v.outcome.value,
                "reasons_given_to_you": list(v.user_reasons),
                "read_from_document": _document_reading(v.fields),
                "submitted_at": _iso(v.created_at),
                "processed_at": _iso(v.processed_at),
                "decided_at": _iso(v.decided_at),
                "images": [
                    {
                        "side": i.side.value,
                        "media_type": i.media_type,
                        "bytes": i.size,
                        "width": i.width,
                        "height": i.height,
                        "sha256": i.sha256,
                        "received_at": _iso(i.created_at),
                        "file": _image_name(v.id, i),
                    }
                    for i in images
                ],
            }
        )
    sections["identity_verifications"] = verifications
    sections["restrictions"] = [
        {
            "kind": r.kind.value,
            "reason": r.reason,
            "policy": r.policy_code,
            "starts_at": _iso(r.starts_at),
            "ends_at": _iso(r.ends_at),
            "lifted_at": _iso(r.lifted_at),
        }
        for r in session.scalars(
            select(Restriction).where(Restriction.account_id == aid).order_by(Restriction.id)
        )
    ]
    sections["statements_of_reasons"] = [
        {
            "reference": s.puid,
            "decision_id": s.decision_id,
            "category": s.category,
            "decision_ground": s.decision_ground,
            "application_date": _iso(s.application_date),
            "automated_decision": s.automated_decision,
            "statement": s.fields,
            "actions": s.actions,
            "revision": s.revision,
        }
        for s in session.scalars(
            select(Statement)
            .where(
                Statement.account_id == aid,
                _released(
                    Statement.decision_id,
                    select(Decision.id).where(Decision.case_id.in_(hidden)),
                ),
            )
            .order_by(Statement.id)
        )
    ]
    sections["strikes"] = [
        {
            "policy": s.policy_code,
            "weight": s.weight,
            "given_at": _iso(s.created_at),
            "expires_at": _iso(s.expires_at),
            "voided_at": _iso(s.voided_at),
        }
        for s in session.scalars(select(Strike).where(Strike.account_id == aid).order_by(Strike.id))
    ]
    sections["appeals"] = [
        {
            "reference": a.reference,
            "decision_id": a.decision_id,
            "your_statement": a.text,
            "language": a.language,
            "status": a.status.value,
            "submitted_at": _iso(a.submitted_at),
            "decided_at": _iso(a.decided_at),
            "reason_for_outcome": a.reason,
        }
        for a in session.scalars(select(Appeal).where(Appeal.account_id == aid).order_by(Appeal.id))
    ]
    disputes = []
    for d in session.scalars(
        select(Dispute)
        .where(or_(Dispute.buyer_account_id == aid, Dispute.seller_account_id == aid))
        .order_by(Dispute.id)
    ):
        party = Party.buyer if d.buyer_account_id == aid else Party.seller
        disputes.append(
            {
                "id": d.id,
                "your_side": party.value,
                "status": d.status.value,
                "reason": d.reason_code.value,
                "amount_minor": d.amount_minor,
                "currency": d.currency,
                "outcome": None if d.outcome is None else d.outcome.value,
                "opened_at": _iso(d.opened_at),
                "resolved_at": _iso(d.resolved_at),
                "your_submissions": [
                    {
                        "kind": s.kind.value,
                        "statement": s.statement,
                        "excerpts": s.excerpts,
                        "filename": s.filename,
                        "submitted_at": _iso(s.created_at),
                    }
                    for s in session.scalars(
                        select(DisputeSubmission)
                        .where(
                            DisputeSubmission.dispute_id == d.id, DisputeSubmission.party == party
                        )
                        .order_by(DisputeSubmission.id)
                    )
                ],
            }
        )
    sections["disputes"] = disputes
    sections["cases"] = [
        {
            "id": c.id,
            "type": c.type.value,
            "status": c.status.value,
            "policy": c.policy_code,
            "opened_at": _iso(c.opened_at),
            "closed_at": _iso(c.closed_at),
            "resolution": None if c.resolution is None else c.resolution.value,
        }
        for c in session.scalars(
            select(Case).where(Case.account_id == aid, Case.id.not_in(hidden)).order_by(Case.id)
        )
    ]
    sections["decisions"] = [
        {
            "id": d.id,
            "status": d.status.value,
            "no_violation": d.no_violation,
            "action": None if d.action is None else d.action.value,
            "automated": d.decided_by_id is None,
            "made_at": _iso(d.created_at),
            "applied_at": _iso(d.applied_at),
            "reversed": d.reversed_by_id is not None or d.reversal_reason is not None,
        }
        for d in session.scalars(
            select(Decision)
            .where(Decision.account_id == aid, Decision.case_id.not_in(hidden))
            .order_by(Decision.id)
        )
    ]
    sections["webhook_deliveries"] = [
        {
            "what": w.event_type,
            "status": w.status.value,
            "created_at": _iso(w.created_at),
            "delivered_at": _iso(w.delivered_at),
            "sent_to_marketplace": _body(w.body),
        }
        for w in session.scalars(
            select(WebhookDelivery)
            .where(account_deliveries(aid), _released(WebhookDelivery.case_id, hidden))
            .order_by(WebhookDelivery.id)
        )
    ]
    own = {
        e for e in session.scalars(select(Event.id).where(person_events(aid, account.external_id)))
    }
    sections["text_cluster_examples"] = [
        {"text": example.get("text"), "occurred_at": example.get("occurred_at")}
        for cluster in session.scalars(select(TextCluster).order_by(TextCluster.id))
        for example in (cluster.examples or [])
        if isinstance(example, dict) and example.get("event_id") in own
    ]
    withheld = list(WITHHELD)
    if include_legal_matters:
        sections[LEGAL_SECTION] = [
            {
                "id": o.id,
                "kind": o.kind.value,
                "authority": o.authority,
                "member_state": o.member_state,
                "legal_reference": o.legal_reference,
                "summary": o.summary,
                "status": o.status.value,
                "received_at": _iso(o.received_at),
                "case_id": o.case_id,
            }
            for o in session.scalars(
                select(AuthorityOrder)
                .where(
                    or_(
                        AuthorityOrder.account_id == aid,
                        and_(
                            AuthorityOrder.case_id.is_not(None),
                            AuthorityOrder.case_id.in_(
                                select(Case.id).where(Case.account_id == aid)
                            ),
                        ),
                    )
                )
                .order_by(AuthorityOrder.id)
            )
        ]
    else:
        withheld.append(LEGAL_WITHHELD)
    sections["erasure_requests"] = [
        {
            "id": r.id,
            "status": r.status.value,
            "received_at": _iso(r.received_at),
            "completed_at": _iso(r.completed_at),
            "refused_at": _iso(r.refused_at),
            "refusal_reason": r.refusal_reason,
        }
        for r in session.scalars(
            select(ErasureRequest)
            .where(ErasureRequest.account_id == aid)
            .order_by(ErasureRequest.id)
        )
    ]
    return {
        "format": FORMAT,
        "generated_at": _iso(clock.now()),
        "account_external_id": account.external_id,
        "sections": sections,
        "withheld": withheld,
    }


def _body(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


# What the document says about the person, as read: the consolidated reading, and the raw
# machine-readable lines and visual-zone values it came from. The checks made on the reading
# (check digits, repairs, validity, face-match figures) are internal signals, withheld like the
# verification checks (see WITHHELD).
_READING_KEYS = (
    "surname", "given_names", "birth_date", "sex", "nationality", "document_kind",
    "document_number", "personal_number", "issuing_country", "issue_date", "expiry_date",
    "address", "source", "date_of_birth",
)  # fmt: skip


def _document_reading(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    if not fields:
        return None
    reading: dict[str, Any] = {k: fields[k] for k in _READING_KEYS if k in fields}
    for section, name in (("document", "document"), ("viz", "visual_zone"), ("barcode", "barcode")):
        part = fields.get(section)
        if isinstance(part, dict):
            kept = {k: part[k] for k in _READING_KEYS if k in part}
            if kept:
                reading[name] = kept
    mrz = fields.get("mrz")
    if isinstance(mrz, dict) and mrz.get("lines"):
        reading["machine_readable_zone"] = list(mrz["lines"])
    return reading


def _image_name(verification_id: int, image: IdentityImage) -> str:
    ext = _EXTENSIONS.get(image.media_type, "bin")
    return f"images/verification-{verification_id}-{image.side.value}.{ext}"


def export_person(
    session: Session,
    actor: Principal,
    external_id: str,
    *,
    with_images: bool = False,
    include_legal_matters: bool = False,
) -> dict[str, Any]:
    """The export for the account with the marketplace id ``external_id``, audited.
    ``include_legal_matters`` needs ``cases:legal`` (never set through the API)."""
    if include_legal_matters:
        actor.require(Permission.legal_cases)
    try:
        account = account_by_external_id(session, external_id)
    except NotFound as exc:
        exc.field = "account_external_id"
        raise
    document = build(session, account, include_legal_matters=include_legal_matters)
    audit.record(
        session,
        actor,
        "privacy.access_request.export",
        "account",
        account.id,
        data={
            "with_images": with_images,
            "sections": list(document["sections"]),
            "include_legal_matters": include_legal_matters,
        },
    )
    return document


def to_zip(session: Session, document: dict[str, Any], settings: Settings) -> bytes:
    """The document and the decrypted images it names, as a zip. An image whose file is
    gone (retention) is listed in ``missing_images.json`` instead."""
    from vigil.identity.service import blob_store

    store = blob_store(settings)
    account = account_by_external_id(session, document["account_external_id"])
    buffer = io.BytesIO()
    missing: list[str] = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", json.dumps(document, indent=2, ensure_ascii=False))
        shown = [v["id"] for v in document["sections"]["identity_verifications"]]
        for image in session.scalars(
            select(IdentityImage)
            .where(
                IdentityImage.account_id == account.id,
                IdentityImage.verification_id.in_(shown),
            )
            .order_by(IdentityImage.id)
        ):
            name = _image_name(image.verification_id, image)
            try:
                archive.writestr(name, store.get(image.blob_key))
            except BlobError:
                missing.append(name)
        if missing:
            archive.writestr("missing_images.json", json.dumps(missing))
    return buffer.getvalue()
