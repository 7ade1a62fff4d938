"""The demo's dispute stories, as planned (no database): every story, timed to land in its
state, between real paid pairs, the same for the same seed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.config import Settings
from vigil.simulate.disputes import STORIES, dispute_count, plan_disputes
from vigil.simulate.events import generate
from vigil.simulate.generator import make_plan
from vigil.simulate.plan import Label

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_every_story_is_planned_in_time_between_a_paid_pair_once() -> None:
    settings = Settings()
    plan = make_plan(7, 300, 20, NOW, "freelance")
    stream = generate(plan)
    disputes = plan_disputes(plan, stream, settings)
    assert [d.story for d in disputes] == list(STORIES[: dispute_count(300)])

    paid = {
        (e.envelope["data"]["contract_id"], e.envelope["account_id"], e.envelope["counterparty_id"])
        for e in stream.events
        if e.type == "payment"
    }
    respond = timedelta(hours=settings.dispute_response_hours)
    answer_by = timedelta(hours=settings.dispute_proposal_hours)
    seen: set[str] = set()
    for d in disputes:
        # A real contract of the stream, paid before the dispute; nobody in two disputes.
        assert (d.paid.contract_id, d.paid.buyer.external_id, d.paid.seller.external_id) in paid
        assert d.paid.at < d.opened_at - timedelta(hours=7)
        people = {d.paid.buyer.external_id, d.paid.seller.external_id}
        assert not people & seen
        seen |= people
        assert d.paid.buyer.label is Label.benign
        assert 0 < d.amount <= d.paid.amount

        steps = d.steps
        assert steps[0].kind == "open" and all(s.at < NOW for s in steps)
        assert [s.at for s in steps] == sorted(s.at for s in steps)
        kinds = [s.kind for s in steps]
        if "respond" in kinds:  # the respondent answers before the deadline
            assert steps[kinds.index("respond")].at < d.opened_at + respond
        if "propose" in kinds:
            proposed = steps[kinds.index("propose")].at
            answers = [s for s in steps if s.kind == "answer"]
            assert all(proposed < s.at < proposed + answer_by for s in answers)
            assert len({s.party for s in answers}) == len(answers)
        if d.story in ("awaiting", "awaiting_near"):
            assert kinds == ["open"] and d.opened_at + respond > NOW
        if d.story == "awaiting_near":  # the reminder is due
            assert d.opened_at + respond - timedelta(hours=settings.dispute_reminder_hours) < NOW
        if d.story.startswith("defaulted"):
            assert "respond" not in kinds and d.opened_at + respond < NOW
        if d.story == "lapsed":
            assert steps[kinds.index("propose")].at + answer_by < NOW
        if d.story == "proposed_half":
            assert steps[kinds.index("propose")].at + answer_by > NOW

    # The same seed, planned later: the same disputes, shifted in time.
    later = make_plan(7, 300, 20, NOW + timedelta(days=3), "freelance")
    again = plan_disputes(later, generate(later), settings)
    assert [(d.story, d.paid.contract_id, d.amount, d.reason) for d in again] == [
        (d.story, d.paid.contract_id, d.amount, d.reason) for d in disputes
    ]
    assert all(
        b.opened_at - a.opened_at == timedelta(days=3) for a, b in zip(disputes, again, strict=True)
    )
