"""Quality assurance of decisions: the one entry point for the API, the console and jobs.

- Sampling (``vigil.quality.sampling``): rates per queue, per reviewer and by default; the
  periodic sampler; manual picks.
- Review (``vigil.quality.review``): the next sample, the blind answer, the reveal, the score.
- Scorecards (``vigil.quality.scores``, ``vigil.quality.kappa``): agreement and Cohen's kappa
  per reviewer, queue and policy.
- Calibration (``vigil.quality.calibration``): gold-case sets, assignments, answers, results.

Every function takes ``(session, actor, ...)`` (the sampler takes the settings instead of an
actor), checks the actor's permission, flushes and never commits; every change is audited.
"""

from __future__ import annotations

from vigil.quality.calibration import (
    AssignmentSummary,
    ItemAnswer,
    ItemResult,
    Miss,
    ReviewerResult,
    SetResults,
    SetView,
    add_item,
    answer_item,
    assign_set,
    assignment_summaries,
    create_set,
    get_set,
    list_sets,
    my_assignments,
    remove_item,
    set_results,
)
from vigil.quality.common import LABELS, DecisionForm, check_form
from vigil.quality.kappa import cohen_kappa, kappa_with_note
from vigil.quality.models import (
    CalibrationAnswer,
    CalibrationAssignment,
    CalibrationItem,
    CalibrationSet,
    Label,
    QASample,
    QASamplingRate,
    SampleSource,
    SampleStatus,
)
from vigil.quality.review import (
    Revealed,
    RevealedAction,
    RevealedMessage,
    RevealedPolicy,
    SampleFilter,
    blind_answer,
    get_sample,
    list_samples,
    next_sample,
    original_visible,
    release_sample,
    reveal,
    score,
)
from vigil.quality.sampling import (
    draw,
    list_rates,
    rate_for,
    sample_decision,
    sample_decisions,
    set_rate,
)
from vigil.quality.schemas import ScoreIn
from vigil.quality.scores import GroupBy, ScoreRow, scorecards

__all__ = [
    "LABELS",
    "AssignmentSummary",
    "CalibrationAnswer",
    "CalibrationAssignment",
    "CalibrationItem",
    "CalibrationSet",
    "DecisionForm",
    "GroupBy",
    "ItemAnswer",
    "ItemResult",
    "Label",
    "Miss",
    "QASample",
    "QASamplingRate",
    "Revealed",
    "RevealedAction",
    "RevealedMessage",
    "RevealedPolicy",
    "ReviewerResult",
    "SampleFilter",
    "SampleSource",
    "SampleStatus",
    "ScoreIn",
    "ScoreRow",
    "SetResults",
    "SetView",
    "add_item",
    "answer_item",
    "assign_set",
    "assignment_summaries",
    "blind_answer",
    "check_form",
    "cohen_kappa",
    "create_set",
    "draw",
    "get_sample",
    "get_set",
    "kappa_with_note",
    "list_rates",
    "list_samples",
    "list_sets",
    "my_assignments",
    "next_sample",
    "original_visible",
    "rate_for",
    "release_sample",
    "remove_item",
    "reveal",
    "sample_decision",
    "sample_decisions",
    "score",
    "scorecards",
    "set_rate",
    "set_results",
]
