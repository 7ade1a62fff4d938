"""How the privacy console words things: an erasure request's outcome, its result in plain
language for legal (and for the marketplace, which paraphrases it to the person), the holds
that bear on an account, and the messages for a refused form.

The service stores the result with internal data-class names (``identity_fields``) and
engineers' reasons; this module maps them to plain names and reasons. A class it does not
know is shown with its name and the service's reason, minus any setting name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.cases.models import Case
from vigil.privacy.models import ErasureRequest, ErasureStatus, LegalHold

# data class -> (plain name, one, many); ``None`` units: not a count (one profile, one log).
DATA: dict[str, tuple[str, str | None, str | None]] = {
    "profile": ("Profile: names, date of birth, email, phone, other details", None, None),
    "identifiers": (
        "Identifiers: email addresses, phone numbers, devices, IP addresses, payment "
        "instruments, document numbers",
        "identifier",
        "identifiers",
    ),
    "identity_images": ("Photos of identity documents and selfies", "image", "images"),
    "identity_fields": (
        "What was read from identity documents (name, number, date of birth)",
        "document",
        "documents",
    ),
    "identity_verification_outcomes": (
        "Outcome of each identity check (approved or rejected, and why)",
        "check",
        "checks",
    ),
    "events": (
        "Activity the marketplace reported (logins, messages, listings)",
        "record",
        "records",
    ),
    "text_cluster_examples": (
        "The person's texts quoted as examples of similar messages",
        "quote",
        "quotes",
    ),
    "messages": ("Messages Vigil sent to the person (address and text)", "message", "messages"),
    "webhook_deliveries": ("Notices Vigil sent to the marketplace", "notice", "notices"),
    "webhook_deliveries_held": (
        "Notices Vigil sent to the marketplace (held)",
        "notice",
        "notices",
    ),
    "decisions": ("Moderation decisions", "decision", "decisions"),
    "statements_of_reasons": (
        "Statements of reasons (the notice explaining each decision)",
        "statement",
        "statements",
    ),
    "strikes": ("Strikes", "strike", "strikes"),
    "restrictions": ("Account restrictions", "restriction", "restrictions"),
    "appeals": ("Appeals", "appeal", "appeals"),
    "cases": ("Case files", "case", "cases"),
    "case_notes": ("Staff notes on those cases", "note", "notes"),
    "case_history": ("History of those cases (who did what, when)", "entry", "entries"),
    "disputes": ("Disputes with other users", "dispute", "disputes"),
    "events_by_others": (
        "Reports and messages other users sent about the person",
        "record",
        "records",
    ),
    "external_id": ("The marketplace's own id for the account", None, None),
    "audit_log": ("Vigil's audit log of staff actions", None, None),
    "velocity_state": ("Short-lived fraud counters", None, None),
}

_RECORD = "the record behind the decisions that are kept"
WHY_KEPT: dict[str, str] = {
    "decisions": "The law requires keeping the record of moderation decisions (DSA Art. 17), "
    "and they may be needed to defend legal claims (GDPR Art. 17(3)(e)).",
    "statements_of_reasons": "Required by the DSA (Art. 17, 24(5)); they contain no name, "
    "email or other direct identifier.",
    "strikes": "They count toward the repeat-offender policy until they expire (DSA Art. 23).",
    "restrictions": "Part of the enforcement record.",
    "appeals": "Part of the legal record of the decisions they challenged (DSA Art. 20).",
    "cases": f"Kept as {_RECORD}.",
    "case_notes": f"Kept as {_RECORD}.",
    "case_history": f"Kept as {_RECORD}.",
    "disputes": "They involve another person's rights and payment records.",
    "events_by_others": "They are the other users' records too.",
    "webhook_deliveries": "The log of decisions sent to the marketplace, and notices not yet "
    "delivered; the retention schedule deletes them later.",
    "identity_verification_outcomes": "The outcome and its reasons are part of the decision "
    "record; what was read from the document is erased unless a legal hold keeps it.",
    "external_id": "It ties the kept records to this request; it is the marketplace's own "
    "id, not a name.",
    "audit_log": "Tamper-evident record of what staff did; it holds ids and actions, not "
    "profile data. It cannot be changed, so nothing in it is erased.",
    "velocity_state": "Counters used to spot bursts of activity (they hold the account id, IP "
    "addresses, device ids and payment fingerprints) cannot be erased one person at a time; "
    "they expire on their own, at most 91 days after the person's last activity.",
}
ACTIONS = {"deleted": "deleted", "anonymized": "personal details removed"}
_SETTING = re.compile(r"\s*\(?\bVIGIL_[A-Z0-9_*]+\b[^)]*\)?")
_CODE = re.compile(r"^[a-z_]{1,50}$")

ERRORS = {
    "reason_required": "Write a reason.",
    "reason_too_long": "A reason is at most 2,000 characters.",
    "erasure_request_closed": "This request was already carried out or refused.",
    "hold_lifted": "This hold was already lifted.",
    "hold_not_found": "There is no such legal hold.",
    "account_not_found": "There is no account with that id.",
    "account_required": "Enter the marketplace's account id.",
    "case_not_found": "There is no such case.",
    "hold_subject_required": "Name either an account or a case.",
    "invalid_review_at": "The review date must be in the future.",
    "confirm_required": "Tick “I understand this cannot be undone” to carry out the erasure.",
    "permission_denied": "Your role may not do this.",
}


def error_text(code: str | None) -> str | None:
    """The message for an error code in a page's address. Only our own texts are shown: a
    link cannot make the console say something it never says."""
    if not code:
        return None
    if code in ERRORS:
        return ERRORS[code]
    if _CODE.match(code):
        return f"That could not be done (error {code})."
    return "That could not be done."


def _amount(data: str, count: int) -> str:
    _, one, many = DATA.get(data, (data, "record", "records"))
    if one is None:
        return "—"
    return f"{count} {one if count == 1 else many}"


def _name(data: str) -> str:
    return DATA.get(data, (data.replace("_", " "), None, None))[0]


def _hold_ids(reason: str) -> list[int]:
    return [int(n) for n in re.findall(r"#(\d+)", reason)]


@dataclass
class Row:
    name: str
    amount: str
    text: str
    held: bool = False
    hold_ids: list[int] = field(default_factory=list)


@dataclass
class Outcome:
    kind: str  # chip / notice class
    label: str  # short, for the list
    text: str  # one or two sentences, for the request page
    held: bool = False


def erased_rows(result: dict[str, Any]) -> list[Row]:
    rows = []
    for e in result.get("erased") or []:
        data, count = str(e.get("data")), int(e.get("count") or 0)
        if data == "profile":
            text = "emptied" if count else "nothing erased"
            amount = "—"
        else:
            action = ACTIONS.get(str(e.get("action")), str(e.get("action")))
            text = action if count else "nothing erased"
            amount = _amount(data, count) if count else "none"
        rows.append(Row(name=_name(data), amount=amount, text=text))
    return rows


def kept_rows(result: dict[str, Any]) -> list[Row]:
    rows = []
    for k in result.get("kept") or []:
        data, count = str(k.get("data")), int(k.get("count") or 0)
        reason = str(k.get("reason") or "")
        if reason.startswith("under legal hold"):
            ids = _hold_ids(reason)
            text = (
                "The hold is on the other person these records involve."
                if "other party" in reason
                else "Erase it with a new request once the hold is lifted."
            )
            rows.append(Row(_name(data), _amount(data, count), text, held=True, hold_ids=ids))
            continue
        text = WHY_KEPT.get(data) or _SETTING.sub("", reason).strip()
        rows.append(Row(_name(data), _amount(data, count), text))
    return rows


def _holds_list(ids: list[int]) -> str:
    return "legal hold " + ", ".join(f"#{i}" for i in ids) if ids else "a legal hold"


def outcome(req: ErasureRequest) -> Outcome:
    if req.status is ErasureStatus.received:
        return Outcome("", "received", "Waiting for legal to carry it out or refuse it.")
    if req.status is ErasureStatus.refused:
        return Outcome("", "refused", "Refused; nothing was erased.")
    result = req.result or {}
    erased = sum(int(e.get("count") or 0) for e in result.get("erased") or [])
    holds = [int(i) for i in result.get("legal_holds") or []]
    held = holds or any(
        str(k.get("reason") or "").startswith("under legal hold") for k in result.get("kept") or []
    )
    if held and erased == 0:
        return Outcome(
            "bad",
            "nothing erased: legal hold",
            f"Nothing was erased: {_holds_list(holds)} keeps this person's data. Do not tell "
            "the person their data was erased. Once the hold is lifted, file a new request for "
            "this account to erase what the hold kept.",
            held=True,
        )
    if held:
        return Outcome(
            "warning",
            "erased in part: legal hold",
            f"Only part of the data was erased: {_holds_list(holds)} keeps the rest "
            "(marked “under legal hold” below). Once the hold is lifted, file a new request "
            "for this account to erase it.",
            held=True,
        )
    if erased == 0:
        return Outcome(
            "ok",
            "completed: nothing left to erase",
            "Nothing needed erasing: it was erased before, or Vigil never held it.",
        )
    return Outcome(
        "ok", "completed", "Erasure carried out: what was erased and what was kept is listed below."
    )


def holds_on_account(db: Session, account_id: int) -> list[LegalHold]:
    """Holds in force that keep data of this account from an erasure: on the account, or on
    one of its cases (what ``erasure.erase_account`` looks at), oldest first."""
    cases = select(Case.id).where(Case.account_id == account_id)
    return list(
        db.scalars(
            select(LegalHold)
            .where(
                LegalHold.lifted_at.is_(None),
                or_(LegalHold.account_id == account_id, LegalHold.case_id.in_(cases)),
            )
            .order_by(LegalHold.id)
        )
    )


def held_accounts(db: Session, account_ids: set[int]) -> set[int]:
    """Which of these accounts have a hold in force on them or on one of their cases."""
    if not account_ids:
        return set()
    on_case = select(Case.account_id).where(
        Case.id.in_(
            select(LegalHold.case_id).where(
                LegalHold.lifted_at.is_(None), LegalHold.case_id.is_not(None)
            )
        ),
        Case.account_id.in_(account_ids),
    )
    direct = select(LegalHold.account_id).where(
        LegalHold.lifted_at.is_(None), LegalHold.account_id.in_(account_ids)
    )
    return {i for i in db.scalars(direct.union(on_case)) if i is not None}


def external_ids(db: Session, account_ids: set[int]) -> dict[int, str]:
    if not account_ids:
        return {}
    rows = db.execute(
        select(Account.id, Account.external_id).where(Account.id.in_(account_ids))
    ).all()
    return {int(i): str(ext) for i, ext in rows}
