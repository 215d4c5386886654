"""`index_stats`: what the attribute index holds and how well it filters, per stream.

Why: a selective index fails silently (a statement that reaches every event, a pivot that
does not cut) unless its shape and its pre-filter quality are visible; this is the function
the API serves (`GET /index/stats`) and `cep bench search` records.
"""

from __future__ import annotations

from typing import Any

from cep.index.attribute import AttributeIndex

__all__ = ["index_stats"]

_TOP = 10


def index_stats(engine_or_index: Any) -> dict[str, Any]:
    """Per stream: partitions and sizes, unfiltered slots, candidates per event, FP rates."""
    idx = getattr(engine_or_index, "index", engine_or_index)
    if not isinstance(idx, AttributeIndex):
        return {"index": type(idx).__name__, "selective": False, "streams": {}}
    streams: dict[str, Any] = {}
    for name, si in sorted(idx.streams.items()):
        parts = si.partitions()
        sizes = sorted((p.size for p in parts), reverse=True)
        c = si.counters
        events = c["events"] or 0
        by_pivot: dict[str, int] = {}
        for path in si.eq:
            by_pivot[".".join(path)] = sum(len(t) for t in si.eq[path].values())
        checks = c["residual_checks"]
        rule_checked = c["rule_candidates_checked"]
        streams[name] = {
            "partitions": len(parts),
            "partitions_by_pivot": by_pivot,
            "wildcard_partition_size": si.wild.size if si.wild is not None else 0,
            "slots": sum(sizes),
            "largest_partitions": [
                {"key": _key(p.key), "size": p.size}
                for p in sorted(parts, key=lambda p: -p.size)[:_TOP]
            ],
            "always_verified_slots": si.always,
            "events": events,
            "partitions_visited_per_event": _ratio(c["partitions_visited"], events),
            "candidates_per_event": _ratio(c["candidates"], events),
            "residual_checks": checks,
            "prefilter_false_positive_rate": _ratio(c["residual_failed"], checks),
            "rule_candidates_sampled": rule_checked,
            "rule_candidate_false_positive_rate": _ratio(c["rule_candidates_failed"], rule_checked),
        }
    return {
        "index": "attribute",
        "selective": True,
        "searches": len(idx.searches),
        "rules": len(idx.runner_places),
        "conditions_too_big_to_index": {
            "rules": idx.rule_conditions_overflowed,
            "searches": idx.search_conditions_overflowed,
        },
        "streams": streams,
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _key(key: Any) -> Any:
    if key is None:
        return None
    path, _family, value = key
    return {"attribute": ".".join(path), "value": value}
