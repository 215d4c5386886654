"""Mergeable accumulators for window aggregates, with JSON snapshot/restore.

Every aggregate is a stateless function object over a plain state value: `new`, `add`,
`merge`, `result`, `dump`/`load` (JSON-able, never pickle) and `size` (retained values, for
the state budget). Merge lets hopping panes and session merges combine states without
re-scanning events, and every result is independent of arrival order (sums are exact,
percentiles sort at read time), so shuffled input gives byte-identical output.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from ddsketch import DDSketch

DEFAULT_RELATIVE_ACCURACY = 0.01


def _num(v: Any) -> float | int | None:
    """The value as a number, or None for nulls, bools, strings, NaN and infinities."""
    t = type(v)
    if t is int:
        return v
    if t is float:
        return v if math.isfinite(v) else None
    return None


class ExactSum:
    """Order-independent sum: ints exactly, floats as Shewchuk partials (like math.fsum)."""

    __slots__ = ("i", "p")

    def __init__(self, i: int = 0, p: list[float] | None = None) -> None:
        self.i = i
        self.p = p if p is not None else []

    def add(self, x: float | int) -> None:
        """Add one number without rounding error."""
        if type(x) is int:
            self.i += x
            return
        partials = self.p
        n = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[n] = lo
                n += 1
            x = hi
        partials[n:] = [x]

    def merge(self, other: ExactSum) -> None:
        """Add another exact sum."""
        self.i += other.i
        for x in other.p:
            self.add(x)

    def value(self) -> float | int:
        """The correctly rounded sum (an int while only ints were added)."""
        if not self.p:
            return self.i
        return math.fsum([*self.p, float(self.i)]) if self.i else math.fsum(self.p)


class Agg:
    """Base aggregate: subclasses override what differs."""

    needs_value = True  # False only for COUNT(*)

    def new(self) -> Any:
        """A fresh empty state."""
        raise NotImplementedError

    def add(self, s: Any, v: Any) -> Any:
        """Add one value; returns the (possibly new) state."""
        raise NotImplementedError

    def merge(self, a: Any, b: Any) -> Any:
        """Combine two states (b is left untouched); returns the state."""
        raise NotImplementedError

    def result(self, s: Any) -> Any:
        """The aggregate's value (None when nothing was added)."""
        return s

    def dump(self, s: Any) -> Any:
        """The state as JSON-able data."""
        return s

    def load(self, d: Any) -> Any:
        """Inverse of dump."""
        return d

    def size(self, s: Any) -> int:
        """Values retained by the state (1 for constant-size states)."""
        return 1


class Count(Agg):
    """COUNT(*) (star=True) or COUNT(x): non-null values only."""

    def __init__(self, star: bool = False) -> None:
        self.needs_value = not star

    def new(self) -> int:
        """Zero."""
        return 0

    def add(self, s: int, v: Any) -> int:
        """Count the event (or the non-null value)."""
        return s + 1 if (not self.needs_value or v is not None) else s

    def merge(self, a: int, b: int) -> int:
        """Sum of counts."""
        return a + b


class Sum(Agg):
    """SUM(x): exact, order-independent; non-numbers are ignored like nulls."""

    def new(self) -> list:
        """[count of numbers, exact sum]."""
        return [0, ExactSum()]

    def add(self, s: list, v: Any) -> list:
        """Add a number."""
        x = _num(v)
        if x is not None:
            s[0] += 1
            s[1].add(x)
        return s

    def merge(self, a: list, b: list) -> list:
        """Add counts and sums."""
        a[0] += b[0]
        a[1].merge(b[1])
        return a

    def result(self, s: list) -> Any:
        """The sum, or None for no numbers (SQL)."""
        return s[1].value() if s[0] else None

    def dump(self, s: list) -> Any:
        """[n, int part, float partials]."""
        return [s[0], s[1].i, list(s[1].p)]

    def load(self, d: Any) -> list:
        """Inverse of dump."""
        return [d[0], ExactSum(d[1], list(d[2]))]


class Avg(Sum):
    """AVG(x) = exact sum / count, never an average of averages."""

    def result(self, s: list) -> Any:
        """The mean, or None for no numbers."""
        return s[1].value() / s[0] if s[0] else None


class Min(Agg):
    """MIN(x) over numbers."""

    def new(self) -> Any:
        """None until the first number."""
        return None

    def add(self, s: Any, v: Any) -> Any:
        """Keep the smaller."""
        x = _num(v)
        return s if x is None or (s is not None and s <= x) else x

    def merge(self, a: Any, b: Any) -> Any:
        """Smaller of two."""
        return self.add(a, b)


class Max(Min):
    """MAX(x) over numbers."""

    def add(self, s: Any, v: Any) -> Any:
        """Keep the larger."""
        x = _num(v)
        return s if x is None or (s is not None and s >= x) else x


def _canon(v: Any) -> str:
    """Canonical JSON text of a value: equal values, equal text (and hashable)."""
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()


class CountDistinct(Agg):
    """COUNT(DISTINCT x): exact, holds each distinct non-null value once (canonical JSON)."""

    def new(self) -> set:
        """Empty set."""
        return set()

    def add(self, s: set, v: Any) -> set:
        """Remember the value."""
        if v is not None:
            s.add(_canon(v))
        return s

    def merge(self, a: set, b: set) -> set:
        """Union."""
        a |= b
        return a

    def result(self, s: set) -> int:
        """Number of distinct values."""
        return len(s)

    def dump(self, s: set) -> list:
        """Sorted list (deterministic snapshots)."""
        return sorted(s)

    def load(self, d: list) -> set:
        """Inverse of dump."""
        return set(d)

    def size(self, s: set) -> int:
        """Distinct values held."""
        return len(s)


def percentile_linear(xs: list, p: float) -> float:
    """Linear interpolation between closest ranks (numpy 'linear', Flink PERCENTILE)."""
    q = p / 100
    idx = q * (len(xs) - 1)
    lo = math.floor(idx)
    t = idx - lo
    a = xs[lo]
    if t == 0:
        return a
    b = xs[lo + 1]
    d = b - a
    return b - d * (1 - t) if t >= 0.5 else a + d * t  # numpy's _lerp, bit for bit


def percentile_nearest_rank(xs: list, p: float) -> Any:
    """Nearest rank: smallest x with at least p% of values <= x (numpy 'inverted_cdf')."""
    rank = math.ceil(p / 100 * len(xs))
    return xs[max(rank, 1) - 1]


METHODS = {"linear": percentile_linear, "nearest_rank": percentile_nearest_rank}


class Percentile(Agg):
    """Exact PERCENTILE(x, p) with a named method; holds every value (budgeted)."""

    def __init__(self, p: float, method: str = "linear") -> None:
        if not 0 <= p <= 100:
            raise ValueError("percentile must be between 0 and 100")
        if method not in METHODS:
            raise ValueError(f"unknown percentile method {method!r}; one of {sorted(METHODS)}")
        self.p = p
        self.method = method
        self._f = METHODS[method]

    def new(self) -> list:
        """Empty list of values."""
        return []

    def add(self, s: list, v: Any) -> list:
        """Keep the number."""
        x = _num(v)
        if x is not None:
            s.append(x)
        return s

    def merge(self, a: list, b: list) -> list:
        """Concatenate."""
        a.extend(b)
        return a

    def result(self, s: list) -> Any:
        """The percentile of the sorted values, or None when empty."""
        return self._f(sorted(s), self.p) if s else None

    def dump(self, s: list) -> list:
        """Sorted values (deterministic snapshots)."""
        return sorted(s)

    def load(self, d: list) -> list:
        """Inverse of dump."""
        return list(d)

    def size(self, s: list) -> int:
        """Values held."""
        return len(s)


class ApproxPercentile(Agg):
    """PERCENTILE_APPROX(x, p) on a DDSketch: relative error <= alpha, mergeable.

    Guarantee: the result r for quantile q satisfies |r - x| <= alpha * |x| where x is the
    exact value of rank floor(q * (n - 1)) (numpy method 'lower'); bins grow with log(range).
    """

    def __init__(self, p: float, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        if not 0 <= p <= 100:
            raise ValueError("percentile must be between 0 and 100")
        if not 0 < relative_accuracy < 1:
            raise ValueError("relative accuracy must be in (0, 1)")
        from ddsketch import DDSketch  # only statements using the sketch need the library

        self.p = p
        self.alpha = relative_accuracy
        self._sketch = DDSketch

    def new(self) -> DDSketch:
        """Empty sketch."""
        return self._sketch(self.alpha)

    def add(self, s: DDSketch, v: Any) -> DDSketch:
        """Add the number."""
        x = _num(v)
        if x is not None:
            s.add(x)
        return s

    def merge(self, a: DDSketch, b: DDSketch) -> DDSketch:
        """Sketch merge (bin-wise count sums)."""
        a.merge(b)
        return a

    def result(self, s: DDSketch) -> Any:
        """Approximate percentile, None when empty."""
        return s.get_quantile_value(self.p / 100) if s.count else None

    def dump(self, s: DDSketch) -> dict:
        """Non-empty bins as [key, count] pairs plus zero count and min/max/sum."""
        return {
            "pos": _bins(s._store),
            "neg": _bins(s._negative_store),
            "zero": s._zero_count,
            "n": s._count,
            "min": s._min if s._count else None,
            "max": s._max if s._count else None,
            "sum": s._sum,
        }

    def load(self, d: dict) -> DDSketch:
        """Inverse of dump (rebuilds the stores bin by bin)."""
        s = self._sketch(self.alpha)
        for k, c in d["pos"]:
            s._store.add(k, c)
        for k, c in d["neg"]:
            s._negative_store.add(k, c)
        s._zero_count = d["zero"]
        s._count = d["n"]
        if d["n"]:
            s._min, s._max = d["min"], d["max"]
        s._sum = d["sum"]
        return s

    def size(self, s: DDSketch) -> int:
        """Non-empty bins."""
        return len(_bins(s._store)) + len(_bins(s._negative_store)) + 1


def _bins(store: Any) -> list:
    """[key, count] of a dense store's non-empty bins."""
    off = store.offset
    return [[off + i, c] for i, c in enumerate(store.bins) if c]


def make(
    func: str,
    *,
    star: bool = False,
    p: float | None = None,
    method: str = "linear",
    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
) -> Agg:
    """Build an aggregate by its rule-language name (count, sum, avg, min, max, ...)."""
    f = func.lower()
    if f == "count":
        return Count(star)
    if f == "count_distinct":
        return CountDistinct()
    if f in ("percentile", "percentile_approx"):
        if p is None:
            raise ValueError(f"{func} needs a percentile")
        if f == "percentile":
            return Percentile(p, method)
        return ApproxPercentile(p, relative_accuracy)
    simple = {"sum": Sum, "avg": Avg, "min": Min, "max": Max}
    if f not in simple:
        raise ValueError(f"unknown aggregate {func!r}")
    return simple[f]()
