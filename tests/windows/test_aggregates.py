"""Aggregates: exact percentiles equal numpy's, the sketch keeps its bound, merge = union."""

from __future__ import annotations

import random

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cep.windows.aggregates import (
    ApproxPercentile,
    Avg,
    Count,
    CountDistinct,
    ExactSum,
    Max,
    Min,
    Percentile,
    Sum,
    make,
)

floats = st.floats(-1e6, 1e6, allow_nan=False)
numbers = st.lists(st.one_of(floats, st.integers(-(10**6), 10**6)), min_size=1, max_size=60)
ps = st.sampled_from([0, 1, 5, 25, 50, 75, 90, 95, 99, 99.9, 100])

NUMPY_METHOD = {"linear": "linear", "nearest_rank": "inverted_cdf"}


@given(numbers, ps, st.sampled_from(sorted(NUMPY_METHOD)))
def test_exact_percentile_equals_numpy(xs: list, p: float, method: str) -> None:
    """'linear' is numpy 'linear' (Flink); 'nearest_rank' is numpy 'inverted_cdf'."""
    a = Percentile(p, method)
    s = a.new()
    for x in xs:
        s = a.add(s, x)
    assert a.result(s) == np.percentile(np.array(xs, dtype=float), p, method=NUMPY_METHOD[method])


def heavy_tailed(n: int, seed: int) -> list[float]:
    """Latency-like data: lognormal body plus a Pareto tail (ms)."""
    rnd = random.Random(seed)
    return [
        rnd.lognormvariate(3, 1) if rnd.random() < 0.95 else 100 * rnd.paretovariate(1.2)
        for _ in range(n)
    ]


@pytest.mark.parametrize("alpha", [0.01, 0.02])
def test_approx_percentile_within_stated_relative_error(alpha: float) -> None:
    """|approx - exact| <= alpha * exact, exact being numpy's 'lower' quantile."""
    xs = heavy_tailed(20_000, 7)
    for p in (50, 90, 99, 99.9):
        a = ApproxPercentile(p, alpha)
        s = a.new()
        for x in xs:
            a.add(s, x)
        exact = np.percentile(xs, p, method="lower")
        assert abs(a.result(s) - exact) <= alpha * exact


def test_two_merged_sketches_equal_the_sketch_of_the_union() -> None:
    """Merging panes gives exactly the quantiles of one sketch over all values."""
    xs = heavy_tailed(5_000, 1)
    a = ApproxPercentile(99)
    left, right, whole = a.new(), a.new(), a.new()
    for i, x in enumerate(xs):
        a.add(left if i % 3 else right, x)
        a.add(whole, x)
    merged = a.merge(left, right)
    for q in (0, 0.1, 0.5, 0.9, 0.99, 0.999, 1):
        assert merged.get_quantile_value(q) == whole.get_quantile_value(q)
    assert a.result(merged) == a.result(whole)


@given(numbers)
def test_sum_and_avg_are_exact_and_order_independent(xs: list) -> None:
    """Sum is fsum-exact in any order and any split; AVG is sum / count."""
    s1, s2 = ExactSum(), ExactSum()
    for x in xs:
        s1.add(x)
    halves = ExactSum(), ExactSum()
    for i, x in enumerate(reversed(xs)):
        halves[i % 2].add(x)
    s2.merge(halves[0])
    s2.merge(halves[1])
    assert s1.value() == s2.value()
    if all(type(x) is int for x in xs):
        assert s1.value() == sum(xs)
    else:
        assert s1.value() == pytest.approx(sum(xs), abs=1e-6)
    avg = Avg()
    st_ = avg.new()
    for x in xs:
        avg.add(st_, x)
    assert avg.result(st_) == s1.value() / len(xs)


def test_nulls_and_non_numbers_are_ignored() -> None:
    """SQL semantics: nulls (and strings, bools, NaN) do not count in numeric aggregates."""
    vals = [None, "x", True, float("nan"), 3, 1.5]
    for agg, want in (
        (Count(), 5),
        (Count(star=True), 6),
        (Sum(), 4.5),
        (Avg(), 2.25),
        (Min(), 1.5),
        (Max(), 3),
        (CountDistinct(), 5),
    ):
        s = agg.new()
        for v in vals:
            s = agg.add(s, v)
        assert agg.result(s) == want, agg
    assert Sum().result(Sum().new()) is None and Percentile(50).result([]) is None


def test_count_distinct_by_value() -> None:
    """Equal values count once, whatever their key order; 1 and 1.0 are distinct."""
    a = CountDistinct()
    s = a.new()
    for v in ({"a": 1, "b": 2}, {"b": 2, "a": 1}, 1, 1.0, "1"):
        s = a.add(s, v)
    assert a.result(s) == 4


@pytest.mark.parametrize(
    "agg",
    [
        Count(),
        Sum(),
        Avg(),
        Min(),
        Max(),
        CountDistinct(),
        Percentile(90),
        Percentile(50, "nearest_rank"),
        ApproxPercentile(99),
        ApproxPercentile(50, 0.05),
    ],
    ids=lambda a: type(a).__name__,
)
def test_snapshot_roundtrip_through_json(agg: object) -> None:
    """dump -> JSON bytes -> load gives the same result and keeps merging correctly."""
    xs = [*heavy_tailed(500, 3), -4.0, 0.0, 0, 7, "u"]
    s = agg.new()  # type: ignore[attr-defined]
    for x in xs:
        s = agg.add(s, x)  # type: ignore[attr-defined]
    data = orjson.dumps(agg.dump(s))  # type: ignore[attr-defined]
    back = agg.load(orjson.loads(data))  # type: ignore[attr-defined]
    assert agg.result(back) == agg.result(s)  # type: ignore[attr-defined]
    assert orjson.dumps(agg.dump(back)) == data  # type: ignore[attr-defined]
    extra = agg.add(agg.new(), 123.0)  # type: ignore[attr-defined]
    s2 = agg.merge(agg.load(orjson.loads(data)), extra)  # type: ignore[attr-defined]
    s = agg.merge(s, agg.add(agg.new(), 123.0))  # type: ignore[attr-defined]
    assert agg.result(s2) == agg.result(s)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "bad",
    [
        lambda: make("median"),
        lambda: make("percentile"),
        lambda: Percentile(101),
        lambda: Percentile(50, "nearest"),
        lambda: ApproxPercentile(50, 0),
    ],
)
def test_bad_aggregates_are_refused(bad: object) -> None:
    """Unknown names, methods and out-of-range arguments are errors."""
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]
