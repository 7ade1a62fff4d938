"""The plan: deterministic for a seed, with the bad-actor mix and structure it promises."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from vigil.accounts.models import IdentifierKind, Side
from vigil.accounts.normalize import normalize_email, normalize_locale, normalize_phone
from vigil.simulate.generator import make_plan
from vigil.simulate.plan import Label

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_same_seed_same_plan_and_another_seed_another() -> None:
    first = make_plan(5, 400, 30, NOW)
    assert make_plan(5, 400, 30, NOW).digest() == first.digest()
    assert make_plan(6, 400, 30, NOW).digest() != first.digest()


def test_the_same_seed_later_is_the_same_marketplace_shifted_in_time() -> None:
    later = NOW + timedelta(days=3, hours=5, minutes=37)
    first, second = make_plan(5, 400, 30, NOW), make_plan(5, 400, 30, later)
    shift = later - NOW
    assert [a.registered_at + shift for a in first.accounts] == [
        a.registered_at for a in second.accounts
    ]
    assert [
        (c.title, c.opened_at + shift, [(s.action, s.at + shift) for s in c.steps])
        for c in first.cases
    ] == [(c.title, c.opened_at, [(s.action, s.at) for s in c.steps]) for c in second.cases]


def test_switching_cases_off_leaves_the_accounts_unchanged() -> None:
    with_cases = make_plan(5, 300, 30, NOW)
    without = make_plan(5, 300, 30, NOW, with_cases=False)
    assert not without.cases and with_cases.cases
    assert [a.external_id for a in without.accounts] == [a.external_id for a in with_cases.accounts]
    assert [a.sightings for a in without.accounts] == [a.sightings for a in with_cases.accounts]
    # Without cases the suspended originals of duplicate identities are banned directly.
    assert without.restrictions


@pytest.mark.parametrize("size", [1000, 2000])
def test_five_to_eight_percent_are_bad_actors_of_every_kind(size: int) -> None:
    plan = make_plan(3, size, 30, NOW)
    labels = Counter(a.label for a in plan.accounts)
    assert len(plan.accounts) == size
    assert 0.05 * size <= size - labels[Label.benign] <= 0.085 * size
    assert all(labels[kind] > 0 for kind in Label)


def test_accounts_live_inside_the_window_with_valid_contact_data() -> None:
    plan = make_plan(8, 500, 14, NOW, "mixed")
    start = NOW - timedelta(days=14)
    assert {a.marketplace for a in plan.accounts} == {"freelance", "services", "courses"}
    emails = [a.email for a in plan.accounts]
    assert len(set(emails)) == len(emails)
    for a in plan.accounts:
        assert start <= a.registered_at < NOW
        assert all(start <= s.at < NOW for s in a.sightings)
        assert normalize_email(a.email) == a.email
        assert normalize_email(a.email).endswith(".example")
        assert normalize_phone(a.phone) == a.phone
        assert normalize_locale(a.locale) == a.locale
        assert a.locale.endswith(a.country)
        assert 18 <= (NOW.date() - a.date_of_birth).days // 365 <= 70


def test_ring_members_register_together_and_share_a_device_and_a_card() -> None:
    plan = make_plan(4, 1000, 30, NOW)
    rings = defaultdict(list)
    for a in plan.accounts:
        if a.label is Label.fraud_ring:
            rings[a.group_key].append(a)
    assert rings
    for members in rings.values():
        assert 3 <= len(members) <= 8
        span = max(m.registered_at for m in members) - min(m.registered_at for m in members)
        assert span <= timedelta(hours=6)
        shared_devices = set.intersection(*(set(m.values(IdentifierKind.device)) for m in members))
        shared_cards = set.intersection(*(set(m.values(IdentifierKind.payment)) for m in members))
        assert shared_devices and shared_cards


def test_scammers_are_new_and_churn_identifiers() -> None:
    plan = make_plan(4, 1000, 30, NOW)
    scammers = [a for a in plan.accounts if a.label is Label.scammer]
    assert scammers
    for a in scammers:
        # The last 15 % of the window (4.5 days), give or take the hour of the day.
        assert NOW - a.registered_at <= timedelta(days=5.5)
        assert len(a.values(IdentifierKind.device)) >= 3
        assert "tempmail" in a.email or a.email.split("@")[1] in {
            "throwaway.example",
            "10minute.example",
            "burner.example",
        }


def test_solicitors_are_sellers_and_cases_quote_users_in_their_language() -> None:
    plan = make_plan(4, 1000, 30, NOW, "services")
    solicitors = [a for a in plan.accounts if a.label is Label.off_platform]
    assert solicitors and all(a.side is Side.pro for a in solicitors)
    reports = [c for c in plan.cases if c.attributes.get("report_kind") == "off_platform"]
    assert reports
    by_language = {c.language for c in reports}
    assert by_language <= {"en", "es", "pt"}
    for case in reports:
        assert "\u201c" in case.summary  # the reporter's own words, quoted
