"""Shared helpers for the window tests: spec builders and a single-partition driver."""

from __future__ import annotations

from typing import Any

import orjson

from cep.windows import AggSpec, Late, Result, WindowOperator, WindowSpec


def all_aggs() -> tuple[AggSpec, ...]:
    """One of every aggregate, reading attribute `v` (and `u` for COUNT DISTINCT)."""
    return (
        AggSpec.of("n", "count"),
        AggSpec.of("nv", "count", ("v",)),
        AggSpec.of("total", "sum", ("v",)),
        AggSpec.of("mean", "avg", ("v",)),
        AggSpec.of("lo", "min", ("v",)),
        AggSpec.of("hi", "max", ("v",)),
        AggSpec.of("users", "count_distinct", ("u",)),
        AggSpec.of("p90", "percentile", ("v",), p=90),
        AggSpec.of("p50nr", "percentile", ("v",), p=50, method="nearest_rank"),
        AggSpec.of("p99a", "percentile_approx", ("v",), p=99),
    )


def count_spec(window: Any, lateness: int = 0, emit: str = "final", **kw: Any) -> WindowSpec:
    """COUNT(*) AS n over a window."""
    return WindowSpec(window, (AggSpec.of("n", "count"),), lateness, emit=emit, **kw)


def drive(
    op: WindowOperator, events: list[tuple[Any, int, dict]], bound: int, close: bool = True
) -> list:
    """Feed (key, ts, event) in arrival order; watermark = max ts seen - bound."""
    out: list = []
    max_ts = None
    for key, ts, ev in events:
        out += op.on_event(key, ts, ev)
        max_ts = ts if max_ts is None else max(max_ts, ts)
        out += op.on_watermark(max_ts - bound)
    if close:
        out += op.close_all()
    return out


def bounds(results: list) -> list[tuple[int, int]]:
    """Window bounds of the results (Late records skipped)."""
    return [(r.window_start, r.window_end) for r in results if isinstance(r, Result)]


def canon(r: Result | Late) -> bytes:
    """A result as sortable canonical bytes."""
    if isinstance(r, Late):
        return orjson.dumps(["late", list(r.key), r.ts, r.reason])
    return orjson.dumps(
        [r.kind, list(r.key), r.window_start, r.window_end, r.row], option=orjson.OPT_SORT_KEYS
    )


def final_view(results: list) -> dict:
    """What a consumer of the result stream ends up with: last row per window, retracts applied."""
    view: dict = {}
    for r in results:
        if not isinstance(r, Result):
            continue
        k = (orjson.dumps(list(r.key)), r.window_start, r.window_end)
        if r.kind == "retract":
            view.pop(k, None)
        else:
            view[k] = orjson.dumps(r.row, option=orjson.OPT_SORT_KEYS)
    return view
