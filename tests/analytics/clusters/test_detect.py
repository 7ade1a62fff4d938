"""Finding emerging clusters: a new wave of similar texts becomes one cluster; what already
ran in the baseline week does not; reruns update instead of duplicating."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tests.analytics.clusters.conftest import add_event, noise_texts, scam_text
from vigil.analytics.clusters import service
from vigil.analytics.clusters.models import ClusterStatus, TextCluster
from vigil.config import Settings
from vigil.detection.models import Outcome
from vigil.kit import clock
from vigil.kit.clock import FrozenClock


def _wave(db: Session, count: int, *, accounts: int, hours_ago: float = 1.0) -> list[int]:
    now = clock.now()
    return [
        add_event(
            db,
            scam_text(i),
            account=f"scammer-{i % accounts}",
            at=now - timedelta(hours=hours_ago + i * 0.5),
        ).id
        for i in range(count)
    ]


def _background(db: Session, count: int = 40, *, days_back: float = 1.0) -> None:
    """Ordinary reports and flagged messages, each from its own account."""
    now = clock.now()
    span = days_back * 24
    for i, text in enumerate(noise_texts(count, seed=int(days_back * 10))):
        add_event(
            db,
            text,
            account=f"user-{days_back}-{i}",
            at=now - timedelta(hours=(i * span / count) % span + 0.1),
            type="report_filed" if i % 2 else "message_sent",
        )


def _clusters(db: Session) -> list[TextCluster]:
    return list(db.scalars(select(TextCluster).order_by(TextCluster.id)))


def test_a_scam_wave_becomes_one_cluster_with_masked_examples(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    planted = _wave(db, 9, accounts=4)
    _background(db)
    _background(db, 60, days_back=8)
    # The same text let through (outcome allow) is not a flagged message: not read.
    add_event(db, scam_text(1), account="scammer-x", at=clock.now(), outcome=Outcome.allow)

    result = service.detect(db, settings)

    (cluster,) = _clusters(db)
    assert result.created == [cluster.id]
    assert cluster.status == ClusterStatus.new
    assert cluster.size == 9
    assert cluster.accounts == 4
    assert sorted(cluster.member_event_ids) == sorted(planted)
    # Labelled by the wave's own words (not "hello", not the masked contact details).
    wave_words = set(" ".join(scam_text(i) for i in range(9)).lower().replace(",", " ").split())
    assert len(cluster.terms) >= 3 and set(cluster.terms) <= wave_words
    assert "platform" in cluster.terms and "email" not in cluster.terms
    assert cluster.label == ", ".join(cluster.terms)
    assert cluster.event_types == ["message_sent"]
    assert 1 <= len(cluster.examples) <= service.EXAMPLES
    for example in cluster.examples:
        assert "wise" in example["text"].lower()
        assert "@" not in example["text"] and "[email]" in example["text"]
    assert cluster.first_seen_at < cluster.last_seen_at <= clock.now()


def test_texts_already_common_in_the_baseline_week_are_not_new(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    _wave(db, 9, accounts=4)
    _background(db)
    # The same message ran all last week, five a day.
    now = clock.now()
    for day in range(1, 8):
        for k in range(5):
            add_event(
                db,
                scam_text(day * 5 + k),
                account=f"old-{k}",
                at=now - timedelta(days=day, hours=2 + k),
            )

    result = service.detect(db, settings)

    assert result.created == [] and _clusters(db) == []
    assert result.baseline == 35


def test_a_rerun_updates_the_cluster_instead_of_duplicating_it(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    _wave(db, 9, accounts=4)
    _background(db)
    first = service.detect(db, settings)
    again = service.detect(db, settings)
    (cluster,) = _clusters(db)
    assert again.created == [] and again.updated == first.created == [cluster.id]
    assert cluster.size == 9

    # Two hours later the wave goes on from a fifth account, with new texts and events.
    frozen.advance(timedelta(hours=2))
    later = [
        add_event(
            db, scam_text(20 + i), account="scammer-new", at=clock.now() - timedelta(minutes=i)
        ).id
        for i in range(4)
    ]
    result = service.detect(db, settings)

    (cluster,) = _clusters(db)
    assert result.updated == [cluster.id] and result.created == []
    assert cluster.size == 13 and cluster.accounts == 5
    assert set(later) <= set(cluster.member_event_ids)
    assert cluster.last_seen_at == clock.now()


def test_a_dismissed_cluster_stays_dismissed_when_seen_again(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    from vigil.auth.principal import Principal

    _wave(db, 9, accounts=4)
    service.detect(db, settings)
    (cluster,) = _clusters(db)
    service.dismiss(db, Principal.system("tests"), cluster.id, "a known marketing template")

    service.detect(db, settings)

    (cluster,) = _clusters(db)
    assert cluster.status == ClusterStatus.dismissed


def test_too_few_accounts_or_texts_make_no_cluster(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    _wave(db, 8, accounts=2)  # one pair of accounts repeating themselves
    _background(db)
    assert service.detect(db, settings).created == []
    assert _clusters(db) == []


def test_the_same_data_gives_the_same_cluster(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    _wave(db, 9, accounts=4)
    _background(db)
    service.detect(db, settings)
    (first,) = _clusters(db)
    seen = (first.label, first.examples, sorted(first.member_event_ids), first.size)
    db.execute(delete(TextCluster))

    service.detect(db, settings)

    (second,) = _clusters(db)
    assert (second.label, second.examples, sorted(second.member_event_ids), second.size) == seen


def test_memory_is_bounded_by_the_caps(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    _wave(db, 9, accounts=4)
    _background(db)
    capped = settings.model_copy(update={"cluster_max_texts": 20})
    result = service.detect(db, capped)
    assert result.texts == 20
