"""One side of a range attribute inside a partition: bucket masks plus sorted bucket lists.

Why this shape. An exact mask of "slots whose lower bound is <= v" for every possible v
would cost one mask per distinct bound (quadratic memory). So the bounds are cut into at
most `MAX_BUCKETS` buckets at quantiles, with one cumulative mask per bucket edge: slots of
the buckets entirely on the failing side of the event value fail by one mask. The one
bucket the value falls in is resolved exactly from its own sorted list of bounds (a
bisection; only the smaller of the failing or passing part is turned into bits), and a
bucket holding a single value (small domains such as `rooms`) needs no list at all. So
`probe` returns an exact mask and nothing has to be re-checked slot by slot afterwards.

Live registration: a new slot is *fresh*: it sits in a small sorted list resolved the same
way, until the partition merges fresh slots into the buckets (`merge`, O(buckets) big-int
operations). Removed slots leave stale bits in the cumulative masks until that merge; the
partition does not reuse their ids before then.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import pairwise
from typing import Any

from cep.index.bitset import bits, from_slots

__all__ = ["MAX_BUCKETS", "RangeSide"]

MAX_BUCKETS = 256
MIN_PER_BUCKET = 16  # small partitions get fewer buckets (masks cost buckets x slots bits)
STRICT = 1
NAN_OK = 2


class _Sorted:
    """Bounds in ascending order with their slots (a bucket's, or the fresh slots)."""

    __slots__ = ("b", "s")

    def __init__(self) -> None:
        self.b: list[Any] = []
        self.s: list[int] = []

    def add(self, bound: Any, slot: int) -> None:
        i = bisect_right(self.b, bound)
        self.b.insert(i, bound)
        self.s.insert(i, slot)

    def discard(self, bound: Any, slot: int) -> None:
        b, s = self.b, self.s
        i = bisect_left(b, bound)
        while i < len(b) and b[i] == bound:
            if s[i] == slot:
                del b[i]
                del s[i]
                return
            i += 1


class RangeSide:
    """Lower (`v >= lo`) or upper (`v <= hi`) bounds of one attribute and family."""

    __slots__ = (
        "bnd",
        "count",
        "cum",
        "flags",
        "fresh",
        "fresh_mask",
        "lists",
        "lower",
        "pt",
        "stricts",
        "vals",
    )

    def __init__(self, lower: bool) -> None:
        self.lower = lower
        self.vals: list[Any] = []  # slot -> bound (None: no bound on this side)
        self.flags = bytearray()  # slot -> STRICT | NAN_OK
        self.bnd: list[Any] = []  # bucket start values, ascending
        self.cum: list[int] = [0]  # lower: slots of buckets >= j; upper: of buckets < j
        self.pt: list[bool] = []  # bucket holds a single value (no list needed)
        self.lists: list[_Sorted | None] = []  # per bucket: sorted bounds (None if pt)
        self.fresh = _Sorted()  # slots added since the last merge
        self.fresh_mask = 0
        self.count = 0
        self.stricts = 0  # slots with a strict bound (decide point buckets on equality)

    # ------------------------------------------------------------- registration

    def add(self, slot: int, value: Any, strict: bool, nan_ok: bool) -> None:
        """Give `slot` a bound; it stays in the fresh list until the next merge."""
        short = slot + 1 - len(self.vals)
        if short > 0:
            self.vals.extend([None] * short)
            self.flags.extend(bytes(short))
        self.vals[slot] = value
        self.flags[slot] = (STRICT if strict else 0) | (NAN_OK if nan_ok else 0)
        if strict:
            self.stricts |= 1 << slot
        if value == value:  # a NaN bound cannot be ordered (the normaliser never makes one)
            self.fresh.add(value, slot)
        self.fresh_mask |= 1 << slot
        self.count += 1

    def remove(self, slot: int) -> None:
        """Forget `slot`'s bound (stale mask bits go at the next merge)."""
        value = self.vals[slot]
        if self.flags[slot] & STRICT:
            self.stricts ^= 1 << slot
        if self.fresh_mask >> slot & 1:
            self.fresh_mask ^= 1 << slot
            self.fresh.discard(value, slot)
        elif self.bnd:
            j = max(0, bisect_right(self.bnd, value) - 1)
            lst = self.lists[j]
            if lst is not None:
                lst.discard(value, slot)
        self.vals[slot] = None
        self.flags[slot] = 0
        self.count -= 1
        while self.vals and self.vals[-1] is None:
            self.vals.pop()
            self.flags.pop()

    def reset(self) -> None:
        """Back to empty (every bound removed): drops stale bits and buckets."""
        self.bnd, self.pt, self.cum, self.lists = [], [], [0], []
        self.fresh = _Sorted()
        self.fresh_mask = 0

    # ------------------------------------------------------------- matching

    def _split(self, lst: _Sorted, v: Any, mask: int, n: int, acc: list) -> int:
        """The failing part of a sorted list (its slots are `mask`) for value `v`.

        A failing part smaller than the passing one is appended to `acc` as slot numbers
        (the caller builds one mask from all of them); otherwise it is returned as a mask.
        """
        b, s = lst.b, lst.s
        lo, hi = bisect_left(b, v), bisect_right(b, v)
        flags = self.flags
        eq_fail = [x for x in s[lo:hi] if flags[x] & STRICT] if hi > lo else []
        if self.lower:  # fail: bound > v, or bound == v and strict
            failing = s[hi:]
            passing = s[:lo]
        else:  # fail: bound < v, or bound == v and strict
            failing = s[:lo]
            passing = s[hi:]
        if len(failing) + len(eq_fail) <= len(passing) + (hi - lo - len(eq_fail)):
            acc.extend(failing)  # turned into bits once per partition visit
            acc.extend(eq_fail)
            return 0
        ok = passing + [x for x in s[lo:hi] if not flags[x] & STRICT]
        return mask ^ from_slots(ok, n) if ok else mask

    def probe(self, v: Any, n: int, acc: list) -> int:
        """Slots of this side whose bound `v` fails: a mask, plus slot numbers put in `acc`.

        Exact; the mask may hold stale ids of removed slots (never alive, so harmless).
        """
        if v != v:  # NaN: only bounds that came from a negation hold
            vals, flags = self.vals, self.flags
            return from_slots(
                [s for s in range(len(vals)) if vals[s] is not None and not flags[s] & NAN_OK], n
            )
        bnd = self.bnd
        cum = self.cum
        f = 0
        if bnd:
            j = bisect_right(bnd, v) - 1
            if self.lower:
                if j < 0:
                    f = cum[0]
                else:
                    f = cum[j + 1]
                    bucket = cum[j] ^ cum[j + 1]
                    if self.pt[j]:
                        if v == bnd[j]:
                            f |= bucket & self.stricts
                    elif bucket:
                        f |= self._split(self.lists[j], v, bucket, n, acc)  # type: ignore[arg-type]
            elif j >= 0:
                f = cum[j]
                bucket = cum[j + 1] ^ cum[j]
                if self.pt[j]:
                    if v > bnd[j]:
                        f = cum[j + 1]
                    else:
                        f |= bucket & self.stricts
                elif bucket:
                    f |= self._split(self.lists[j], v, bucket, n, acc)  # type: ignore[arg-type]
        if self.fresh_mask:
            f |= self._split(self.fresh, v, self.fresh_mask, n, acc)
        return f

    # ------------------------------------------------------------- maintenance

    def merge(self, dead: int, rebucket: bool) -> None:
        """Fold fresh slots into the buckets and clear `dead` slots' stale bits.

        Without `rebucket` this costs O(buckets) big-int operations plus O(fresh) list
        insertions; with it (or on first use) the buckets are re-cut from every bound.
        """
        if rebucket or not self.bnd:
            self._rebucket()
            return
        vals = self.vals
        bnd, pt, lists = self.bnd, self.pt, self.lists
        groups: dict[int, list[int]] = {}
        for s in self.fresh.s:
            v = vals[s]
            j = bisect_right(bnd, v) - 1
            lowered = j < 0  # below the first edge: the first bucket now starts lower
            if lowered:
                j = 0
            if pt[j] and v != bnd[j]:
                pt[j] = False
                old = self.cum[j] ^ self.cum[j + 1] if self.lower else self.cum[j + 1] ^ self.cum[j]
                if dead:
                    old ^= old & dead
                lst = lists[j] = _Sorted()
                for x in sorted(bits(old), key=vals.__getitem__):
                    lst.b.append(vals[x])
                    lst.s.append(x)
            if lowered:
                bnd[0] = v
            lst = lists[j]
            if lst is not None:
                lst.add(v, s)
            groups.setdefault(j, []).append(s)
        n = len(vals)
        cum = self.cum
        k = len(bnd)
        acc = 0
        rng = range(k - 1, -1, -1) if self.lower else range(k)
        for j in rng:
            g = groups.get(j)
            if g:
                acc |= from_slots(g, n)
            at = j if self.lower else j + 1
            c = cum[at]
            if dead:
                c ^= c & dead
            cum[at] = c | acc
        self.fresh = _Sorted()
        self.fresh_mask = 0

    def _rebucket(self) -> None:
        """Cut buckets at quantiles of the current bounds and rebuild every mask and list."""
        vals = self.vals
        order = sorted(
            (s for s in range(len(vals)) if vals[s] is not None and vals[s] == vals[s]),
            key=vals.__getitem__,
        )
        distinct = sum(1 for a, b in pairwise(order) if vals[a] != vals[b]) + 1
        k = max(1, min(MAX_BUCKETS, len(order) // MIN_PER_BUCKET))
        target = 1 if distinct <= k else max(1, len(order) // k)
        bnd: list[Any] = []
        pt: list[bool] = []
        groups: list[list[int]] = []
        for s in order:
            v = vals[s]
            if groups and (len(groups[-1]) < target or v == vals[groups[-1][-1]]):
                if v != bnd[-1]:
                    pt[-1] = False
                groups[-1].append(s)
            else:
                bnd.append(v)
                pt.append(True)
                groups.append([s])
        lists: list[_Sorted | None] = []
        for g, p in zip(groups, pt):
            if p:
                lists.append(None)
                continue
            lst = _Sorted()
            lst.b = [vals[s] for s in g]
            lst.s = list(g)
            lists.append(lst)
        n = len(vals)
        masks = [from_slots(g, n) for g in groups]
        if self.lower:
            cum = [0] * (len(masks) + 1)
            for j in range(len(masks) - 1, -1, -1):
                cum[j] = cum[j + 1] | masks[j]
        else:
            cum = [0]
            for m in masks:
                cum.append(cum[-1] | m)
        self.bnd, self.pt, self.cum, self.lists = bnd, pt, cum, lists
        self.fresh = _Sorted()
        self.fresh_mask = 0
