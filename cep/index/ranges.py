"""One side of a range attribute inside a partition: sorted bounds cut into bucket masks.

Why buckets. An exact mask of "slots whose lower bound is <= v" for every possible v would
cost one mask per distinct bound (quadratic memory). Instead the bounds are cut into at
most `MAX_BUCKETS` buckets at registration-time quantiles, with one cumulative mask per
bucket edge: an event value falls in one bucket; slots of buckets on the failing side fail
by one mask, slots of its own bucket are *ambiguous* and checked one by one, and only if
they survived every other attribute (BE-Tree's lazy evaluation at bucket boundaries). A
bucket holding a single value (small domains such as `rooms`) is never ambiguous except
on equality with a strict bound.

Live registration: a new slot is *fresh* (ambiguous everywhere) until the partition merges
fresh slots into the cumulative masks in one pass (`compact`), so adding a slot costs O(1)
big-int operations. Removed slots keep stale bits until the next compaction; the partition
does not reuse their ids before that.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from cep.index.bitset import bits, from_slots

__all__ = ["MAX_BUCKETS", "RangeSide"]

MAX_BUCKETS = 256
MIN_PER_BUCKET = 16  # small partitions get fewer buckets (masks cost buckets x slots bits)
STRICT = 1
NAN_OK = 2


class RangeSide:
    """Lower (`v >= lo`) or upper (`v <= hi`) bounds of one attribute and family."""

    __slots__ = (
        "bnd",
        "count",
        "cum",
        "flags",
        "fresh",
        "lower",
        "nfresh",
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
        self.pt: list[bool] = []  # bucket holds a single value
        self.fresh = 0  # slots added since the last merge: ambiguous
        self.nfresh = 0
        self.count = 0
        self.stricts = 0  # slots with a strict bound (decide point buckets on equality)

    def _grow(self, slot: int) -> None:
        short = slot + 1 - len(self.vals)
        if short > 0:
            self.vals.extend([None] * short)
            self.flags.extend(bytes(short))

    def add(self, slot: int, value: Any, strict: bool, nan_ok: bool) -> None:
        """Give `slot` a bound; it is ambiguous until the next merge."""
        self._grow(slot)
        self.vals[slot] = value
        self.flags[slot] = (STRICT if strict else 0) | (NAN_OK if nan_ok else 0)
        if strict:
            self.stricts |= 1 << slot
        self.fresh |= 1 << slot
        self.nfresh += 1
        self.count += 1

    def remove(self, slot: int) -> None:
        """Forget `slot`'s bound (its stale bits go at the next merge)."""
        if self.flags[slot] & STRICT:
            self.stricts ^= 1 << slot
        self.vals[slot] = None
        self.flags[slot] = 0
        self.count -= 1
        if self.fresh >> slot & 1:
            self.fresh ^= 1 << slot
            self.nfresh -= 1
        while self.vals and self.vals[-1] is None:
            self.vals.pop()
            self.flags.pop()

    def check(self, slot: int, v: Any) -> bool:
        """Exact test of one slot's bound against value `v` (same family)."""
        b = self.vals[slot] if slot < len(self.vals) else None
        if b is None:
            return True
        f = self.flags[slot]
        if v != v:  # NaN: only bounds that came from a negation hold
            return bool(f & NAN_OK)
        if self.lower:
            return v > b if f & STRICT else v >= b
        return v < b if f & STRICT else v <= b

    def fails(self, slots: list[int], v: Any) -> list[int]:
        """Those of `slots` (members of this side) whose bound `v` does not satisfy."""
        vals = self.vals
        flags = self.flags
        if v != v:
            return [s for s in slots if not flags[s] & NAN_OK]
        if self.lower:
            return [s for s in slots if (b := vals[s]) > v or (b == v and flags[s] & STRICT)]
        return [s for s in slots if (b := vals[s]) < v or (b == v and flags[s] & STRICT)]

    def probe(self, v: Any) -> tuple[int, int]:
        """(failing slots, ambiguous slots) for event value `v`; stale ids may appear."""
        bnd = self.bnd
        cum = self.cum
        if v != v:
            return 0, (cum[0] if self.lower else cum[-1]) | self.fresh
        j = bisect_right(bnd, v) - 1
        if self.lower:
            if j < 0:
                return cum[0], self.fresh
            if self.pt[j]:  # one value: decided exactly (strict bounds fail on equality)
                if v > bnd[j]:
                    return cum[j + 1], self.fresh
                return cum[j + 1] | ((cum[j] ^ cum[j + 1]) & self.stricts), self.fresh
            return cum[j + 1], (cum[j] ^ cum[j + 1]) | self.fresh
        if j < 0:
            return 0, self.fresh
        if self.pt[j]:
            if v > bnd[j]:
                return cum[j + 1], self.fresh
            return cum[j] | ((cum[j + 1] ^ cum[j]) & self.stricts), self.fresh
        return cum[j], (cum[j + 1] ^ cum[j]) | self.fresh

    def reset(self) -> None:
        """Back to empty (every bound removed): drops stale bits and buckets."""
        self.bnd, self.pt, self.cum = [], [], [0]
        self.fresh = 0
        self.nfresh = 0

    def merge(self, dead: int, rebucket: bool) -> None:
        """Fold fresh slots into the masks and clear `dead` (removed) slots' stale bits.

        Without `rebucket` this costs O(buckets) big-int operations plus O(fresh) Python
        steps; with it (or on first use) the buckets are re-cut from every bound.
        """
        if rebucket or not self.bnd:
            self._rebucket()
            return
        vals = self.vals
        bnd = self.bnd
        pt = self.pt
        groups: dict[int, list[int]] = {}
        for s in bits(self.fresh):
            v = vals[s]
            j = bisect_right(bnd, v) - 1
            if j < 0:  # below the first edge: the first bucket now starts lower
                j = 0
                bnd[0] = v
                pt[0] = False
            elif pt[j] and v != bnd[j]:
                pt[j] = False
            groups.setdefault(j, []).append(s)
        n = len(vals)
        cum = self.cum
        k = len(bnd)
        acc = 0
        if self.lower:
            for j in range(k - 1, -1, -1):
                g = groups.get(j)
                if g:
                    acc |= from_slots(g, n)
                c = cum[j]
                if dead:
                    c ^= c & dead
                cum[j] = c | acc
        else:
            for j in range(1, k + 1):
                g = groups.get(j - 1)
                if g:
                    acc |= from_slots(g, n)
                c = cum[j]
                if dead:
                    c ^= c & dead
                cum[j] = c | acc
        self.fresh = 0
        self.nfresh = 0

    def _rebucket(self) -> None:
        """Cut buckets at quantiles of the current bounds and rebuild every mask."""
        vals = self.vals
        order = sorted((s for s in range(len(vals)) if vals[s] is not None), key=vals.__getitem__)
        bnd: list[Any] = []
        pt: list[bool] = []
        groups: list[list[int]] = []
        distinct = sum(1 for a, b in zip(order, order[1:]) if vals[a] != vals[b]) + 1
        k = max(1, min(MAX_BUCKETS, len(order) // MIN_PER_BUCKET))
        target = 1 if distinct <= k else max(1, len(order) // k)
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
        self.bnd, self.pt, self.cum = bnd, pt, cum
        self.fresh = 0
        self.nfresh = 0
