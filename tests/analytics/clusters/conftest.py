"""Helpers for cluster tests: events with texts, written straight into the events table (the
cluster job reads only what ingestion stores: type, account, time, outcome, payload text)."""

from __future__ import annotations

import hashlib
import itertools
import random
from datetime import datetime

from sqlalchemy.orm import Session

from vigil.analytics.clusters.models import ClusterStatus, TextCluster
from vigil.detection.models import Event, Outcome
from vigil.kit import clock

_n = itertools.count(1)

# One scam message as a wave sends it: copied from account to account with the name, the
# discount, the contact address and a word or two changed.
SCAM = [
    "Hi {name}, the platform fee is too high. Pay me directly by Wise and I give you {pct}% "
    "discount, write me at {mail}",
    "Hello {name}, the platform fee is too high! Pay me directly by Wise and I give you {pct}% "
    "discount. Write me at {mail}",
    "hi {name} the platform fees are too high, pay me directly via Wise and i give you {pct}% "
    "discount, write to me at {mail}",
]
NAMES = ["Ana", "Bruno", "Carla", "Diego", "Elena", "Felipe", "Gabi", "Hugo", "Ines", "Joao"]
_WORDS = [
    "delivery",
    "logo",
    "website",
    "invoice",
    "refund",
    "late",
    "review",
    "contract",
    "milestone",
    "design",
    "photo",
    "garden",
    "plumbing",
    "lesson",
    "course",
    "tutor",
    "deadline",
    "revision",
    "quality",
    "broken",
    "rude",
    "cancel",
    "meeting",
    "tomorrow",
    "kitchen",
    "painting",
    "translation",
    "guitar",
    "spanish",
    "python",
    "bug",
    "freelancer",
    "client",
    "happy",
    "angry",
    "slow",
    "fast",
    "cheap",
    "expensive",
    "weekend",
    "monday",
    "friday",
    "bathroom",
    "roof",
    "window",
    "electrician",
    "wedding",
    "video",
    "editing",
    "music",
    "mixing",
    "homework",
    "math",
    "chemistry",
    "essay",
    "resume",
    "interview",
    "marketing",
    "seo",
    "ads",
    "instagram",
    "shop",
    "furniture",
    "moving",
    "truck",
    "boxes",
    "piano",
    "yoga",
    "fitness",
    "nutrition",
    "dog",
    "walking",
    "cleaning",
    "carpet",
    "laundry",
    "tax",
    "accounting",
    "lawyer",
    "visa",
    "apartment",
    "lease",
    "printer",
    "laptop",
    "screen",
    "keyboard",
    "mouse",
    "server",
    "database",
    "backup",
    "hosting",
]


def scam_text(i: int) -> str:
    return SCAM[i % len(SCAM)].format(
        name=NAMES[i % len(NAMES)], pct=10 + i % 3 * 5, mail=f"deal{i}@gmail.com"
    )


# What a marketplace's reports and flagged messages ordinarily say: short, repetitive,
# often near-identical to each other ("scam", "the seller never shipped my lamp"), in the
# same mix every day.
_ORDINARY = [
    "scam",
    "spam",
    "fake account",
    "this is a scam",
    "fake profile photos",
    "rude messages",
    "item not as described",
    "the seller never shipped my {item}",
    "the {item} arrived broken",
    "the buyer did not pay for the {item}",
    "he asked me to pay outside the platform",
    "seller stopped answering after I paid for the {item}",
    "can you deliver the {item} on {day}?",
    "is the {item} still available? I can pick it up {day}",
    "I want a refund for the {item}, it is not what the photos show",
    "he keeps sending me messages after I said no",
    "the price of the {item} changed after I ordered it",
    "counterfeit {item}, the logo is wrong",
    "selling the same {item} under several accounts",
    "harassment in chat",
]
_ITEMS = ["lamp", "bike", "phone", "sofa", "jacket", "camera", "guitar", "laptop", "table"]
_DAYS = ["monday", "tuesday", "friday", "the weekend", "tomorrow"]


def ordinary_texts(count: int, seed: int = 11) -> list[str]:
    """``count`` ordinary texts drawn from one steady mix."""
    rng = random.Random(seed)
    return [
        rng.choice(_ORDINARY).format(item=rng.choice(_ITEMS), day=rng.choice(_DAYS))
        for _ in range(count)
    ]


def noise_texts(count: int, seed: int = 7) -> list[str]:
    """Ordinary, mutually dissimilar texts."""
    rng = random.Random(seed)
    return [
        " ".join(rng.sample(_WORDS, 9)) + f" order {rng.randint(100, 999)}" for _ in range(count)
    ]


def add_event(
    db: Session,
    text: str,
    *,
    account: str,
    at: datetime,
    type: str = "message_sent",
    outcome: Outcome = Outcome.review,
    case_id: int | None = None,
) -> Event:
    n = next(_n)
    payload = {"data": {"text": text}}
    if type == "report_filed":
        payload["data"]["reason"] = "scam"
    event = Event(
        event_id=f"cl-evt-{n}",
        payload_sha256=hashlib.sha256(f"{n}{text}".encode()).hexdigest(),
        type=type,
        account_external_id=account,
        occurred_at=at,
        received_at=at,
        payload=payload,
        outcome=outcome,
        case_id=case_id,
    )
    db.add(event)
    db.flush()
    return event


def make_cluster(
    db: Session, member_event_ids: list[int] | None = None, **kw: object
) -> TextCluster:
    """A stored cluster, as the job leaves one (flushed, not committed)."""
    now = clock.now()
    cluster = TextCluster(
        label="platform, fee, directly, discount",
        terms=["platform", "fee", "directly", "discount"],
        size=len(member_event_ids or []) or 6,
        accounts=3,
        baseline_matches=0,
        event_types=["message_sent"],
        first_seen_at=now,
        last_seen_at=now,
        detected_at=now,
        updated_at=now,
        examples=[
            {
                "event_id": 1,
                "type": "message_sent",
                "occurred_at": now.isoformat(),
                "text": "Pay me directly by Wise, write me at [email]",
            }
        ],
        member_event_ids=member_event_ids or [],
        status=ClusterStatus.new,
    )
    for key, value in kw.items():
        setattr(cluster, key, value)
    db.add(cluster)
    db.flush()
    return cluster
