"""Deterministic benchmark workloads: P1 card testing, a 1,000-rule fraud mix, saved searches.

P1: `n_events` payments over `n_cards` cards spread evenly over 24 hours of event time.
Ordinary payments have amounts uniform in [5, 500] with a small share of stray small
(< 5) and large (> 500) ones, so near-misses happen by chance too. About 2% of cards
*burst*: 2 to 6 consecutive small payments a few seconds apart, usually followed by a
large one, sometimes too late (after the 10-minute window) or never.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = [
    "P1_RULE",
    "fraud_mix_events",
    "fraud_mix_rules",
    "listing_events",
    "p1_events",
    "search_statements",
]

P1_RULE = """
STREAM payments (card_id STRING, amount FLOAT, merchant STRING, country STRING, ts INT) KEY card_id;
RULE card_testing
FROM payments
PARTITION BY card_id
PATTERN (small{3,} large)
DEFINE small AS amount < 5, large AS amount > 500
WITHIN 10m
EMIT card_id, COUNT(small) AS attempts, large.amount AS amount
"""

DAY_MS = 86_400_000
COUNTRIES = ("KR", "US", "DE", "FR", "JP", "GB", "BR", "IN")
MERCHANTS = tuple(f"m{i}" for i in range(200))
CATEGORIES = ("grocery", "fuel", "travel", "electronics", "gaming", "gift_cards", "crypto", "food")


def p1_events(
    n_events: int = 1_000_000, n_cards: int = 100_000, seed: int = 7, burst_share: float = 0.02
) -> list[dict[str, Any]]:
    """Return P1 events sorted by event time (ties keep generation order)."""
    rng = random.Random(seed)
    rows: list[tuple[int, int, dict[str, Any]]] = []
    seq = 0
    burst_cards = set(rng.sample(range(n_cards), int(n_cards * burst_share)))
    burst_events = 0
    for card in burst_cards:
        cid = f"c{card}"
        t = rng.randrange(0, DAY_MS - 3_600_000)
        country = rng.choice(COUNTRIES)
        k = rng.randint(2, 6)
        for _ in range(k):
            t += rng.randint(1_000, 20_000)
            rows.append(
                (
                    t,
                    seq,
                    {
                        "card_id": cid,
                        "amount": round(rng.uniform(0.5, 4.99), 2),
                        "merchant": rng.choice(MERCHANTS),
                        "country": country,
                        "ts": t,
                    },
                )
            )
            seq += 1
        r = rng.random()
        if r < 0.8:
            t += rng.randint(1_000, 60_000)
        elif r < 0.9:
            t += 700_000  # too late for the 10-minute window
        else:
            t = -1  # never comes
        if t >= 0:
            rows.append(
                (
                    t,
                    seq,
                    {
                        "card_id": cid,
                        "amount": round(rng.uniform(501, 3000), 2),
                        "merchant": rng.choice(MERCHANTS),
                        "country": country,
                        "ts": t,
                    },
                )
            )
            seq += 1
        burst_events += k + (t >= 0)
    for _ in range(max(0, n_events - burst_events)):
        t = rng.randrange(0, DAY_MS)
        u = rng.random()
        amount = (
            round(rng.uniform(0.5, 4.99), 2)
            if u < 0.01
            else (round(rng.uniform(501, 2000), 2) if u < 0.015 else round(rng.uniform(5, 500), 2))
        )
        rows.append(
            (
                t,
                seq,
                {
                    "card_id": f"c{rng.randrange(n_cards)}",
                    "amount": amount,
                    "merchant": rng.choice(MERCHANTS),
                    "country": rng.choice(COUNTRIES),
                    "ts": t,
                },
            )
        )
        seq += 1
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows]


def fraud_mix_rules(n: int = 1000, seed: int = 11) -> str:
    """`n` fraud rules over `payments`: varied shapes, thresholds, merchants and windows."""
    rng = random.Random(seed)
    out = [
        "STREAM payments (card_id STRING, amount FLOAT, merchant STRING, category STRING, "
        "country STRING, ts INT) KEY card_id;"
    ]
    for i in range(n):
        shape = i % 5
        cat = rng.choice(CATEGORIES)
        lo = rng.choice((1, 2, 5, 10))
        hi = rng.choice((300, 500, 800, 1000, 2000))
        win = rng.choice(("2m", "5m", "10m", "30m"))
        k = rng.randint(2, 5)
        if shape == 0:
            out.append(
                f"RULE mix_{i} FROM payments PARTITION BY card_id PATTERN (s{{{k},}} l) "
                f"DEFINE s AS amount < {lo}, l AS amount > {hi} WITHIN {win}"
            )
        elif shape == 1:
            out.append(
                f"RULE mix_{i} FROM payments PARTITION BY card_id PATTERN (a -> b) "
                f"DEFINE a AS category = '{cat}' AND amount < {lo * 3}, "
                f"b AS amount > {hi} AND country != a.country WITHIN {win}"
            )
        elif shape == 2:
            out.append(
                f"RULE mix_{i} FROM payments PARTITION BY card_id PATTERN (x->{{{k},}}) "
                f"DEFINE x AS category = '{cat}' AND amount > {hi // 2} WITHIN {win}"
                " AFTER MATCH SKIP PAST LAST EVENT"
            )
        elif shape == 3:
            out.append(
                f"RULE mix_{i} FROM payments PARTITION BY card_id PATTERN (a b) "
                f"DEFINE a AS country = '{rng.choice(COUNTRIES)}', b AS country != a.country "
                f"AND amount > {hi} WITHIN {win}"
            )
        else:
            out.append(
                f"RULE mix_{i} FROM payments PARTITION BY card_id PATTERN (a -> !c -> b) "
                f"DEFINE a AS category = '{cat}', c AS category = 'grocery', "
                f"b AS amount > {hi} WITHIN {win}"
            )
    return ";\n".join(out) + ";\n"


def fraud_mix_events(
    n_events: int = 20_000, n_cards: int = 2_000, seed: int = 13
) -> list[dict[str, Any]]:
    """Payments for the fraud mix: time-ordered, with categories and countries varying."""
    rng = random.Random(seed)
    t = 0
    out = []
    for _ in range(n_events):
        t += rng.randint(0, 2_000)
        u = rng.random()
        amount = round(rng.uniform(0.5, 9.99), 2) if u < 0.2 else round(rng.uniform(10, 3000), 2)
        out.append(
            {
                "card_id": f"c{rng.randrange(n_cards)}",
                "amount": amount,
                "merchant": rng.choice(MERCHANTS),
                "category": rng.choice(CATEGORIES),
                "country": rng.choice(COUNTRIES),
                "ts": t,
            }
        )
    return out


def search_statements(n: int = 10_000, seed: int = 5) -> tuple[str, list[tuple]]:
    """`n` saved searches in text form, shaped like real-estate alerts, plus their parameters.

    The parameters `(name, city, lo, hi, min_rooms or None, features)` let the benchmark
    check the engine's matches against a plain evaluation.
    """
    rng = random.Random(seed)
    cities = ("Seoul", "Busan", "Incheon", "Daegu", "Daejeon", "Gwangju", "Suwon", "Ulsan")
    feats = ("parking", "elevator", "balcony", "pets", "garden", "gym")
    out = []
    params = []
    for i in range(n):
        lo = rng.randrange(100_000, 800_000, 10_000)
        hi = lo + rng.randrange(50_000, 400_000, 10_000)
        city = rng.choice(cities)
        f = rng.sample(feats, rng.randint(0, 2))
        rooms = rng.randint(1, 5) if rng.random() < 0.7 else None
        cond = [f"city = '{city}'", f"price BETWEEN {lo} AND {hi}"]
        if rooms is not None:
            cond.append(f"rooms >= {rooms}")
        if f:
            cond.append("features CONTAINS ALL (" + ", ".join(f"'{x}'" for x in f) + ")")
        out.append(f"SEARCH s{i} FROM listings WHERE " + " AND ".join(cond))
        params.append((f"s{i}", city, lo, hi, rooms, tuple(f)))
    return ";\n".join(out) + ";\n", params


def listing_events(n: int = 2_000, seed: int = 9) -> list[dict[str, Any]]:
    """Listings for the saved-search check (some with missing attributes)."""
    rng = random.Random(seed)
    cities = ("Seoul", "Busan", "Incheon", "Daegu", "Daejeon", "Gwangju", "Suwon", "Ulsan")
    feats = ("parking", "elevator", "balcony", "pets", "garden", "gym")
    out = []
    for i in range(n):
        ev: dict[str, Any] = {
            "id": i,
            "city": rng.choice(cities),
            "price": rng.randrange(100_000, 1_200_000),
            "features": rng.sample(feats, rng.randint(0, 4)),
            "ts": i,
        }
        if rng.random() < 0.9:
            ev["rooms"] = rng.randint(1, 6)
        out.append(ev)
    return out
