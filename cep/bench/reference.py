"""Plain reference implementations the benchmark checks the engine against (and times).

`small_then_large` is what a developer would hand-write for P1 (`small{k,} large WITHIN w`,
AFTER MATCH SKIP PAST LAST EVENT, per card): a run of consecutive small payments per card;
on a large one, the match starts at the earliest small that leaves at least k smalls and
fits the window (MATCH_RECOGNIZE: try starts in order, first that matches wins).
"""

from __future__ import annotations

from typing import Any

__all__ = ["saved_search_matches", "small_then_large"]


def small_then_large(
    events: list[dict[str, Any]],
    k: int = 3,
    lo: float = 5,
    hi: float = 500,
    window_ms: int = 600_000,
    key: str = "card_id",
) -> list[tuple[Any, int, int]]:
    """Return (card, first offset, last offset) per match, in emission order."""
    runs: dict[Any, list[tuple[int, int]]] = {}
    out: list[tuple[Any, int, int]] = []
    for off, ev in enumerate(events):
        card = ev.get(key)
        amount = ev.get("amount")
        if type(amount) not in (int, float):
            runs.pop(card, None)
            continue
        if amount < lo:
            runs.setdefault(card, []).append((ev["ts"], off))
        elif amount > hi:
            run = runs.pop(card, None)
            if run and len(run) >= k:
                ts = ev["ts"]
                for i in range(len(run) - k + 1):
                    if ts - run[i][0] <= window_ms:
                        out.append((card, run[i][1], off))
                        break
        else:
            runs.pop(card, None)
    return out


def saved_search_matches(
    params: list[tuple], events: list[dict[str, Any]]
) -> list[tuple[str, int]]:
    """Naive evaluation of the generated saved searches: (search name, event id) pairs."""
    out = []
    for ev in events:
        for name, city, lo, hi, rooms, feats in params:
            if ev.get("city") != city:
                continue
            price = ev.get("price")
            if price is None or not lo <= price <= hi:
                continue
            if rooms is not None and (ev.get("rooms") is None or ev["rooms"] < rooms):
                continue
            if feats and not set(feats) <= set(ev.get("features") or ()):
                continue
            out.append((name, ev["id"]))
    return out
