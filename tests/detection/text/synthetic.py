"""Small labelled text sets written here, in the formats of the real training files.

The unit tests never read ``../shared/data``: they train on these instead. The sentences are
templates filled from short word lists with a seeded RNG, so every run sees the same data.
"""

from __future__ import annotations

import csv
from pathlib import Path
from random import Random

HAM = (
    "Are we still meeting {day} at {time}?",
    "I'll call you when I get to the {place}.",
    "Thanks for the {thing}, see you {day}.",
    "Can you pick up some {thing} on the way home?",
    "Running late, be there in {n} minutes.",
    "Did you finish the {thing} for the {place}?",
    "Happy birthday! Dinner at the {place} {day}?",
    "Ok, I'll send the {thing} tonight.",
)
SPAM = (
    "WINNER!! You have won a {prize}. Call {premium} now to claim.",
    "FREE entry to win a {prize}! Txt WIN to {short} now. T&C apply.",
    "URGENT! Your mobile won a {prize}. Claim at {premium}, 150p/min.",
    "Congratulations! Claim your {prize} today, reply YES to {short}.",
    "You have been selected for a {prize}. Call {premium} before {day}.",
)
NEUTRAL = (
    "the {thing} at the {place} was great today",
    "watching the game {day} with the family",
    "new {thing} came out, looks good",
    "traffic near the {place} is slow again",
    "just finished the {thing}, what a day",
)
ABUSIVE = (
    "you are a {insult} and everyone at the {place} knows it",
    "shut up you stupid {insult}, {day} was a joke",
    "nobody likes you, {insult}, go away with your {thing}",
    "what a pathetic {insult}, get lost {day}",
)
WORDS = {
    "day": ("monday", "tuesday", "friday", "tomorrow", "tonight"),
    "time": ("5", "6:30", "noon", "8"),
    "place": ("office", "station", "gym", "library", "cafe"),
    "thing": ("report", "photos", "keys", "tickets", "notes", "book"),
    "n": ("5", "10", "15", "20"),
    "prize": ("cash prize", "holiday", "new phone", "gift voucher"),
    "premium": ("09061701461", "09050000327", "08712300220"),
    "short": ("87121", "80062", "86688"),
    "insult": ("idiot", "loser", "moron", "clown"),
}


def fill(template: str, rng: Random) -> str:
    return template.format(**{k: rng.choice(v) for k, v in WORDS.items()})


def messages(templates: tuple[str, ...], count: int, rng: Random) -> list[str]:
    out: set[str] = set()
    for _ in range(count * 50):  # bounded: the templates allow far more than ``count``
        out.add(fill(rng.choice(templates), rng))
        if len(out) == count:
            break
    return sorted(out)


def write_data(root: Path, seed: int = 7) -> Path:
    """A data folder shaped like ``../shared/data/text`` for both training sets."""
    rng = Random(seed)
    sms = root / "sms_spam" / "SMSSpamCollection"
    sms.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Label\tSMS"]
    lines += [f"ham\t{t}" for t in messages(HAM, 60, rng)]
    lines += [f"spam\t{t}" for t in messages(SPAM, 40, rng)]
    lines.append(lines[1])  # a duplicate, dropped before the split
    sms.write_text("\n".join(lines) + "\n", encoding="utf-8")

    tweets = root / "offensive" / "labeled_data.csv"
    tweets.parent.mkdir(parents=True, exist_ok=True)
    with tweets.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"]
        )
        rows = [(t, 2) for t in messages(NEUTRAL, 40, rng)]
        rows += [(t, rng.choice((0, 1))) for t in messages(ABUSIVE, 40, rng)]
        for i, (text, label) in enumerate(rows):
            writer.writerow([i, 3, 0, 0, 3, label, f"RT @user{i}: {text} &amp; more"])
    return root
