"""Workload S1 (saved searches over listings) and its naive reference matcher.

Listings: city Zipf(1) over 50 cities, 20 districts per city, price lognormal, rooms 1-6,
area by rooms, 0-8 of 20 features (popularity-skewed). Saved searches, in the JSON form:
city set 90% (same Zipf), district set 30%, a price window around a listing-like price,
a rooms minimum, sometimes an area minimum, 0-2 required features. `width` scales the
price window: `calibrate` picks it for a target mean fan-out at a given number of searches.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

__all__ = ["calibrate", "iter_searches", "listings", "naive", "searches"]

CITIES = 50
DISTRICTS = 20
FEATURES = tuple(f"f{i:02d}" for i in range(20))
_FEAT_W = [1 / (i + 1) ** 0.7 for i in range(len(FEATURES))]


def _zipf_weights(n: int) -> list[float]:
    return [1.0 / (i + 1) for i in range(n)]


_CITY_W = _zipf_weights(CITIES)
_CITY_NAMES = [f"city{i:02d}" for i in range(CITIES)]


def _price(rng: random.Random) -> int:
    return int(rng.lognormvariate(math.log(400_000), 0.6)) // 100 * 100


def listings(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """`n` listing events (ids 0..n-1)."""
    rng = random.Random(seed)
    cities = rng.choices(_CITY_NAMES, _CITY_W, k=n)
    out = []
    for i in range(n):
        city = cities[i]
        rooms = rng.choices((1, 2, 3, 4, 5, 6), (10, 25, 30, 20, 10, 5))[0]
        k = rng.randint(0, 8)
        feats: list[str] = []
        while len(feats) < k:
            f = rng.choices(FEATURES, _FEAT_W)[0]
            if f not in feats:
                feats.append(f)
        out.append(
            {
                "id": i,
                "ts": i,
                "city": city,
                "district": f"{city}-d{rng.randrange(DISTRICTS)}",
                "price": _price(rng),
                "rooms": rooms,
                "area": rooms * 22 + rng.randint(-10, 30),
                "features": feats,
            }
        )
    return out


def _shapes(n: int, seed: int) -> Iterator[tuple[dict[str, Any], int, float]]:
    """Per search: its non-price conditions, price window centre and relative width factor."""
    rng = random.Random(seed)
    for _ in range(n):
        where: dict[str, Any] = {}
        if rng.random() < 0.9:
            city = rng.choices(_CITY_NAMES, _CITY_W)[0]
            where["city"] = city
            if rng.random() < 1 / 3:
                where["district"] = f"{city}-d{rng.randrange(DISTRICTS)}"
        center = _price(rng)
        factor = rng.uniform(0.5, 1.5)
        where["rooms"] = {"gte": rng.choices((1, 2, 3, 4), (20, 35, 30, 15))[0]}
        if rng.random() < 0.4:
            where["area"] = {"gte": rng.randrange(30, 120, 5)}
        nf = rng.choices((0, 1, 2), (40, 40, 20))[0]
        if nf:
            where["features"] = {"all": rng.sample(FEATURES[:8], nf)}
        yield where, center, factor


def _half(center: int, factor: float, width: float) -> int:
    return int(center * width * factor)


def iter_searches(n: int, width: float, seed: int = 2, prefix: str = "s") -> Iterator[dict]:
    """`n` saved searches in the JSON form, generated lazily; `width` scales price windows."""
    for i, (where, center, factor) in enumerate(_shapes(n, seed)):
        half = _half(center, factor, width)
        w = {k: v for k, v in where.items() if k in ("city", "district")}
        w["price"] = {"gte": max(0, center - half), "lte": center + half}
        w.update((k, v) for k, v in where.items() if k not in w)
        yield {"name": f"{prefix}{i}", "from": "listings", "where": w}


def searches(n: int, width: float, seed: int = 2, prefix: str = "s") -> list[dict[str, Any]]:
    """`n` saved searches in the JSON form (a list)."""
    return list(iter_searches(n, width, seed, prefix))


def _holds(where: dict[str, Any], ev: dict[str, Any]) -> bool:
    for k, cond in where.items():
        v = ev.get(k)
        if not isinstance(cond, dict):
            if v != cond:
                return False
            continue
        for op, arg in cond.items():
            if op == "all":
                if not isinstance(v, list) or not all(x in v for x in arg):
                    return False
            elif (
                v is None
                or isinstance(v, (str, list))
                or (op == "gte" and v < arg)
                or (op == "lte" and v > arg)
            ):
                return False
    return True


def naive(search_docs: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[tuple]:
    """The naive scan: every search against every event; (name, event id) pairs."""
    return [(d["name"], ev["id"]) for ev in events for d in search_docs if _holds(d["where"], ev)]


def calibrate(
    q: int, target: float, seed: int = 2, sample: int = 40_000, events: int = 1000
) -> float:
    """A `width` giving about `target` matches per event with `q` searches.

    Price is independent of the other attributes, so one pass over (search, event) pairs
    that pass the non-price conditions gives, per pair, the smallest width that lets the
    price through; the width is the quantile of those that yields the target fan-out.
    """
    evs = listings(events, seed + 100)
    shapes = list(_shapes(min(q, sample), seed))
    by_city: dict[Any, list] = {}
    for where, center, factor in shapes:
        by_city.setdefault(where.get("city"), []).append((where, center, factor))
    need: list[float] = []
    for ev in evs:
        p = ev["price"]
        for group in (by_city.get(ev["city"], ()), by_city.get(None, ())):
            for where, center, factor in group:
                if _holds(where, ev):
                    d = abs(p - center)
                    need.append(d / (center * factor))
    need.sort()
    k = int(target * len(evs) * len(shapes) / q)
    if not need:
        return 1.0
    return need[min(max(k, 1), len(need)) - 1] * 1.0001
