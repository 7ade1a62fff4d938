"""HTTP API for quality assurance: sampling rates, QA samples reviewed blind and scored,
scorecards, and calibration sets.

Refusals change nothing: 404 for what you cannot see (legal-tier cases never appear to those
without ``cases:legal``), 403 ``not_assigned`` for a sample or set that is not yours, 409
``blind_answer_required`` / ``already_answered`` / ``already_scored``, and 422 naming the
``field`` at fault (``rate``, ``action``, ``policy_code``, ``comment``...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from vigil.api.deps import DB, AppSettings, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.quality import service
from vigil.quality.models import SampleSource, SampleStatus
from vigil.quality.schemas import (
    AnswerOut,
    AssignIn,
    AssignmentOut,
    BlindAnswerIn,
    GreyAreaOut,
    ItemAnswerOut,
    ItemIn,
    ItemOut,
    ItemResultOut,
    MissOut,
    MyAssignmentOut,
    PickIn,
    RateIn,
    RateOut,
    RatesOut,
    ReleaseIn,
    RevealedActionOut,
    RevealedMessageOut,
    RevealedOut,
    RevealedPolicyOut,
    ReviewerResultOut,
    SampleOut,
    SamplePage,
    ScorecardOut,
    ScoreIn,
    ScoreRowOut,
    SetDetailOut,
    SetIn,
    SetOut,
    SetResultsOut,
)
from vigil.quality.scores import GroupBy

router = APIRouter(tags=["quality"])


QaRead = Annotated[Principal, Depends(require(Permission.qa_read))]
QaReview = Annotated[Principal, Depends(require(Permission.qa_review))]
QaManage = Annotated[Principal, Depends(require(Permission.qa_manage))]
CalibrationAnswerer = Annotated[Principal, Depends(require(Permission.calibration_answer))]

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
IdQuery = Annotated[int | None, Query(ge=1, le=2**63 - 1)]


def _limit(settings: AppSettings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


# --- rates ------------------------------------------------------------------------------------


@router.get("/qa/rates", response_model=RatesOut, summary="Sampling rates")
def list_rates(db: DB, settings: AppSettings, actor: QaRead) -> RatesOut:
    rows = service.list_rates(db, actor)
    return RatesOut(
        items=[RateOut.of(r) for r in rows], fallback_rate=settings.qa_default_sample_rate
    )


@router.put(
    "/qa/rates",
    response_model=RateOut,
    summary="Set the sampling rate of a queue, a reviewer, or (neither) the default",
)
def set_rate(body: RateIn, db: DB, actor: QaManage) -> RateOut:
    row = service.set_rate(
        db, actor, queue_id=body.queue_id, staff_id=body.staff_id, rate=body.rate
    )
    return RateOut.of(row)


# --- samples ----------------------------------------------------------------------------------


@router.get("/qa/samples", response_model=SamplePage, summary="QA samples, newest first")
def list_samples(
    db: DB,
    settings: AppSettings,
    actor: QaRead,
    status_: Annotated[list[SampleStatus] | None, Query(alias="status")] = None,
    reviewer_id: IdQuery = None,
    decided_by_id: IdQuery = None,
    queue_id: IdQuery = None,
    policy_code: Annotated[str | None, Query(max_length=100)] = None,
    agreed: bool | None = None,
    source: SampleSource | None = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> SamplePage:
    filters = service.SampleFilter(
        status=status_,
        reviewer_id=reviewer_id,
        decided_by_id=decided_by_id,
        queue_id=queue_id,
        policy_code=policy_code,
        agreed=agreed,
        source=source,
    )
    rows, next_cursor = service.list_samples(
        db, actor, filters, cursor=cursor, limit=_limit(settings, limit)
    )
    return SamplePage(items=[SampleOut.of(s) for s in rows], next_cursor=next_cursor)


@router.post(
    "/qa/samples",
    response_model=SampleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Put one applied decision into the QA queue by hand",
)
def pick(body: PickIn, db: DB, actor: QaManage) -> SampleOut:
    return SampleOut.of(service.sample_decision(db, actor, body.decision_id, body.reason))


@router.post(
    "/qa/samples/next",
    response_model=SampleOut,
    summary="Take the next sample to review (the one you hold, else the oldest waiting)",
    responses={204: {"description": "Nothing is waiting"}},
)
def next_sample(db: DB, actor: QaReview) -> SampleOut | Response:
    sample = service.next_sample(db, actor)
    if sample is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return SampleOut.of(sample)


@router.get("/qa/samples/{sample_id}", response_model=SampleOut, summary="One sample")
def get_sample(sample_id: Id, db: DB, actor: QaRead) -> SampleOut:
    return SampleOut.of(service.get_sample(db, actor, sample_id))


@router.post(
    "/qa/samples/{sample_id}/answer",
    response_model=SampleOut,
    summary="Record your own decision, blind",
)
def blind_answer(sample_id: Id, body: BlindAnswerIn, db: DB, actor: QaReview) -> SampleOut:
    sample = service.blind_answer(
        db, actor, sample_id, policy_code=body.policy_code, action=body.action
    )
    return SampleOut.of(sample)


@router.post(
    "/qa/samples/{sample_id}/release",
    response_model=SampleOut,
    summary="Give back an unanswered sample you hold: it returns to the queue, never to you",
)
def release(sample_id: Id, db: DB, actor: QaReview, body: ReleaseIn | None = None) -> SampleOut:
    reason = body.reason if body is not None else None
    return SampleOut.of(service.release_sample(db, actor, sample_id, reason))


@router.post(
    "/qa/samples/{sample_id}/take-back",
    response_model=SampleOut,
    summary="Take an unanswered sample back from its holder (a QA manager, with a reason)",
)
def take_back(sample_id: Id, db: DB, actor: QaManage, body: ReleaseIn | None = None) -> SampleOut:
    reason = body.reason if body is not None else None
    return SampleOut.of(service.release_sample(db, actor, sample_id, reason))


@router.post(
    "/qa/samples/{sample_id}/reveal",
    response_model=RevealedOut,
    summary="Show the original decision (after your blind answer)",
)
def reveal(sample_id: Id, db: DB, actor: QaReview) -> RevealedOut:
    shown = service.reveal(db, actor, sample_id)
    return RevealedOut(
        sample=SampleOut.of(shown.sample),
        decision_id=shown.decision_id,
        label=shown.label.value,
        policies=[RevealedPolicyOut(code=p.code, version=p.version, title=p.title)
                  for p in shown.policies],
        actions=[
            RevealedActionOut(
                type=a.type, scope=a.scope, duration_days=a.duration_days, status=a.status
            )
            for a in shown.actions
        ],
        internal_reasoning=shown.internal_reasoning,
        decided_by_id=shown.decided_by_id,
        decided_by_label=shown.decided_by_label,
        decided_at=shown.decided_at,
        message_sent=shown.message_sent,
        messages=[
            RevealedMessageOut(
                channel=m.channel, locale=m.locale, subject=m.subject, body=m.body,
                status=m.status,
            )
            for m in shown.messages
        ],
    )  # fmt: skip


@router.post(
    "/qa/samples/{sample_id}/score", response_model=SampleOut, summary="Score the original"
)
def score(sample_id: Id, body: ScoreIn, db: DB, actor: QaReview) -> SampleOut:
    return SampleOut.of(service.score(db, actor, sample_id, body))


# --- scorecards -------------------------------------------------------------------------------


@router.get(
    "/qa/scorecards",
    response_model=ScorecardOut,
    summary="Agreement and Cohen's kappa per reviewer, queue or policy",
)
def scorecards(
    db: DB,
    actor: QaRead,
    group_by: Annotated[
        str, Query(max_length=16, description="reviewer, queue or policy")
    ] = GroupBy.reviewer.value,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ScorecardOut:
    rows = service.scorecards(db, actor, group_by=group_by, since=since, until=until)
    return ScorecardOut(
        group_by=group_by,
        since=since,
        until=until,
        rows=[
            ScoreRowOut(
                key=r.key,
                label=r.label,
                samples=r.samples,
                agreed=r.agreed,
                agreement_rate=r.agreement_rate,
                kappa=r.kappa,
                kappa_note=r.kappa_note,
                right_policy_rate=r.right_policy_rate,
                right_action_rate=r.right_action_rate,
                message_quality_mean=r.message_quality_mean,
                confusion=r.confusion,
            )
            for r in rows
        ],
    )


# --- calibration ------------------------------------------------------------------------------


def _detail(view: service.SetView) -> SetDetailOut:
    base = SetOut.of(view.set)
    return SetDetailOut(
        **base.model_dump(),
        items=[ItemOut.of(i, show_expected=view.show_expected) for i in view.items],
        assignments=[AssignmentOut.of(a) for a in view.assignments],
        answered=view.answered,
        my_answers=[
            AnswerOut.of(a, show_result=view.show_expected) for a in view.my_answers.values()
        ],
    )


@router.post(
    "/qa/calibration-sets",
    response_model=SetOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a calibration set",
)
def create_set(body: SetIn, db: DB, actor: QaManage) -> SetOut:
    return SetOut.of(service.create_set(db, actor, body.name, body.description))


@router.get("/qa/calibration-sets", response_model=list[SetOut], summary="Calibration sets")
def list_sets(db: DB, actor: QaRead) -> list[SetOut]:
    return [SetOut.of(s) for s in service.list_sets(db, actor)]


@router.get(
    "/qa/calibration-sets/{set_id}",
    response_model=SetDetailOut,
    summary="One set with its items, expected decisions and assignments",
)
def get_set(set_id: Id, db: DB, actor: QaRead) -> SetDetailOut:
    return _detail(service.get_set(db, actor, set_id))


@router.get(
    "/qa/calibration/assignments/{set_id}",
    response_model=SetDetailOut,
    summary="A set assigned to you: its items and your answers (expected decisions once you "
    "have finished)",
)
def my_set(set_id: Id, db: DB, actor: CalibrationAnswerer) -> SetDetailOut:
    return _detail(service.get_set(db, actor, set_id, mine=True))


@router.post(
    "/qa/calibration-sets/{set_id}/items",
    response_model=ItemOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a gold case with its expected decision",
)
def add_item(set_id: Id, body: ItemIn, db: DB, actor: QaManage) -> ItemOut:
    item = service.add_item(
        db,
        actor,
        set_id,
        case_id=body.case_id,
        expected_policy_code=body.expected_policy_code,
        expected_action=body.expected_action,
        rationale=body.rationale,
    )
    return ItemOut.of(item, show_expected=True)


@router.delete(
    "/qa/calibration-sets/{set_id}/items/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an item nobody has answered",
)
def remove_item(set_id: Id, item_id: Id, db: DB, actor: QaManage) -> Response:
    service.remove_item(db, actor, set_id, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/qa/calibration-sets/{set_id}/assignments",
    response_model=list[AssignmentOut],
    summary="Assign the set to reviewers",
)
def assign_set(set_id: Id, body: AssignIn, db: DB, actor: QaManage) -> list[AssignmentOut]:
    return [AssignmentOut.of(a) for a in service.assign_set(db, actor, set_id, body.staff_ids)]


@router.get(
    "/qa/calibration/assignments",
    response_model=list[MyAssignmentOut],
    summary="The calibration sets assigned to you",
)
def my_assignments(db: DB, actor: CalibrationAnswerer) -> list[MyAssignmentOut]:
    return [
        MyAssignmentOut(
            **AssignmentOut.of(row.assignment).model_dump(),
            set_name=row.set_name,
            items=row.items,
            answered=row.answered,
        )
        for row in service.assignment_summaries(db, actor)
    ]


@router.post(
    "/qa/calibration-sets/{set_id}/items/{item_id}/answer",
    response_model=AnswerOut,
    status_code=status.HTTP_201_CREATED,
    summary="Answer one gold case, blind (once)",
)
def answer_item(
    set_id: Id, item_id: Id, body: BlindAnswerIn, db: DB, actor: CalibrationAnswerer
) -> AnswerOut:
    answer = service.answer_item(
        db, actor, set_id, item_id, policy_code=body.policy_code, action=body.action
    )
    finished = service.get_set(db, actor, set_id, mine=True).show_expected
    return AnswerOut.of(answer, show_result=finished)


@router.get(
    "/qa/calibration-sets/{set_id}/results",
    response_model=SetResultsOut,
    summary="Scores per reviewer and per item, with the grey-area guidance of each miss",
)
def set_results(set_id: Id, db: DB, actor: QaRead) -> SetResultsOut:
    return _results(service.set_results(db, actor, set_id))


@router.get(
    "/qa/calibration/assignments/{set_id}/results",
    response_model=SetResultsOut,
    summary="Your result on a set you have finished, with the grey-area guidance of each miss",
)
def my_results(set_id: Id, db: DB, actor: CalibrationAnswerer) -> SetResultsOut:
    return _results(service.set_results(db, actor, set_id, mine=True))


def _results(res: service.SetResults) -> SetResultsOut:
    return SetResultsOut(
        set=SetOut.of(res.set),
        reviewers=[
            ReviewerResultOut(
                staff_id=r.staff_id,
                name=r.name,
                assigned_at=r.assigned_at,
                completed_at=r.completed_at,
                items=r.items,
                answered=r.answered,
                right_policy=r.right_policy,
                right_action=r.right_action,
                right_both=r.right_both,
                policy_accuracy=r.policy_accuracy,
                action_accuracy=r.action_accuracy,
                accuracy=r.accuracy,
                missed=[
                    MissOut(
                        item_id=m.item_id,
                        case_id=m.case_id,
                        expected_policy_code=m.expected_policy_code,
                        expected_action=m.expected_action,
                        rationale=m.rationale,
                        policy_code=m.policy_code,
                        action=m.action,
                        right_policy=m.right_policy,
                        right_action=m.right_action,
                        guidance_policy_code=m.guidance_policy_code,
                        grey_areas=[
                            GreyAreaOut(title=g.get("title", ""), guidance=g.get("guidance", ""))
                            for g in m.grey_areas
                        ],
                    )
                    for m in r.missed
                ],
            )
            for r in res.reviewers
        ],
        items=[
            ItemResultOut(
                item=ItemOut.of(i.item, show_expected=True),
                answers=i.answers,
                agreed=i.agreed,
                disagreements=[
                    ItemAnswerOut(
                        staff_id=d.staff_id,
                        name=d.name,
                        policy_code=d.policy_code,
                        action=d.action,
                        right_policy=d.right_policy,
                        right_action=d.right_action,
                    )
                    for d in i.disagreements
                ],
                grey_areas=[
                    GreyAreaOut(title=g.get("title", ""), guidance=g.get("guidance", ""))
                    for g in i.grey_areas
                ],
            )
            for i in res.items
        ],
    )
