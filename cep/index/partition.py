"""A partition: the conjunctions sharing one pivot value, as bitsets over local slots.

Why this shape (see docs/index.md and the anchors' §5). Each conjunction registered here
gets a local *slot*; for every attribute its atoms constrain, the partition keeps masks of
slots by what they require, so that one event value turns into one "failing slots" mask
with a handful of C-speed int operations, whatever the number of slots:

    value missing      → every slot testing the attribute, except IS NULL ones, fails
    value of family F  → slots requiring another family fail; IS NULL slots fail
    eq / IN            → slots with an eq set fail unless the value's mask holds them
    != / NOT IN        → slots excluding the value fail
    ranges             → bucketed sorted bounds (`cep.index.ranges`), lazily exact
    CONTAINS / prefix  → per-position needle masks: the slot's j-th needle must be a key
                         of the value (list items, string prefixes or n-grams)

The survivors of all attributes are read out once (`bits`), the few ambiguous range slots
are checked exactly, and residual closures (non-indexable parts of a SEARCH) run last.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from cep.index.bitset import bits, from_slots
from cep.index.normalize import Atom
from cep.index.ranges import RangeSide
from cep.lang.compiler import path_getter

__all__ = ["FAMILY", "Partition"]

FAMILY: dict[type, str] = {str: "s", int: "n", float: "n", bool: "b", list: "l", dict: "o"}
_FAMILIES = ("s", "n", "b", "l", "o", "x")
COMPACT_MIN = 32  # changes before a partition merges fresh range slots (at least)
MAX_GRAM_TEXT = 4096  # longer strings skip the n-gram pre-filter (their residual decides)


class Multi:
    """Slots needing several keys of one value: list items, string prefixes or n-grams."""

    __slots__ = ("kind", "lens", "need", "pos")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.need: list[int] = []  # need[j]: slots with more than j needles
        self.pos: list[dict[str, int]] = []  # pos[j][needle]: slots whose j-th needle it is
        self.lens: dict[int, int] = {}  # needle length -> count (prefixes and n-grams)

    def add(self, slot: int, needles: list[str]) -> None:
        """Register the slot's needles, one per position."""
        bit = 1 << slot
        for j, nd in enumerate(needles):
            if j == len(self.need):
                self.need.append(0)
                self.pos.append({})
            self.need[j] |= bit
            d = self.pos[j]
            d[nd] = d.get(nd, 0) | bit
            if self.kind != "has":
                self.lens[len(nd)] = self.lens.get(len(nd), 0) + 1

    def remove(self, slot: int, needles: list[str]) -> None:
        """Forget the slot's needles."""
        bit = 1 << slot
        for j, nd in enumerate(needles):
            self.need[j] ^= bit
            d = self.pos[j]
            m = d[nd] ^ bit
            if m:
                d[nd] = m
            else:
                del d[nd]
            if self.kind != "has":
                n = self.lens[len(nd)] - 1
                if n:
                    self.lens[len(nd)] = n
                else:
                    del self.lens[len(nd)]
        while self.need and not self.need[-1]:
            self.need.pop()
            self.pos.pop()

    def keys(self, v: Any) -> Any:
        """What the value offers (None: too long to enumerate, no filtering)."""
        if self.kind == "has":
            return v if type(v) is list else ()
        if type(v) is not str:
            return ()
        if self.kind == "pre":
            return [v[:n] for n in self.lens if n <= len(v)]
        if len(v) > MAX_GRAM_TEXT:
            return None
        return {v[i : i + n] for n in self.lens for i in range(len(v) - n + 1)}

    def fail(self, v: Any) -> int:
        """Slots missing one of their needles in `v`."""
        keys = self.keys(v)
        if keys is None:
            return 0
        f = 0
        for need, d in zip(self.need, self.pos):
            ok = 0
            for k in keys:
                if type(k) is str:
                    m = d.get(k)
                    if m:
                        ok |= m
            f |= need ^ ok
        return f


class AttrIdx:
    """What the slots of a partition require of one attribute."""

    __slots__ = ("eq", "eqc", "isnull", "multi", "ne", "nn", "refs", "req", "sides", "wrong")

    def __init__(self) -> None:
        self.nn = 0  # slots failing when the value is missing (every test but IS NULL)
        self.isnull = 0
        self.req: dict[str, int] = {}  # family -> slots requiring it
        self.eqc = 0
        self.eq: dict[str, dict[Any, int]] = {}
        self.ne: dict[str, dict[Any, int]] = {}
        self.sides: dict[str, list[RangeSide]] = {}  # family -> [lower, upper]
        self.multi: dict[str, Multi] = {}
        self.refs = 0
        self.wrong: dict[str, int] | None = {}  # family -> slots requiring another (lazy)

    def _wrong(self) -> dict[str, int]:
        req = self.req
        w = {f: 0 for f in _FAMILIES}
        for f in _FAMILIES:
            for rf, m in req.items():
                if rf != f:
                    w[f] |= m
        self.wrong = w
        return w

    def fail(self, v: Any, n: int, acc: list) -> int:
        """Slots this value fails: a mask, plus slot numbers appended to `acc` (see ranges)."""
        if v is None:
            return self.nn
        fam = FAMILY.get(type(v), "x")
        f = self.isnull | (self.wrong or self._wrong())[fam]
        if self.eqc:
            d = self.eq.get(fam)
            f |= self.eqc ^ d.get(v, 0) if d else self.eqc
        if self.ne:
            d = self.ne.get(fam)
            if d:
                f |= d.get(v, 0)
        if self.sides:
            sides = self.sides.get(fam)
            if sides:
                for side in sides:
                    if side.count:
                        f |= side.probe(v, n, acc)
        if self.multi:
            for mu in self.multi.values():
                f |= mu.fail(v)
        return f


@lru_cache(maxsize=1024)
def _getter(path: tuple) -> Callable:
    return path_getter(path)


def _flip(d: dict, key: Any, bit: int, on: bool) -> None:
    """Set (on) or clear (off: the bit is known to be set) one bit of a dict entry."""
    m = d.get(key, 0) | bit if on else d[key] ^ bit
    if m:
        d[key] = m
    else:
        del d[key]


class Partition:
    """Conjunctions sharing one pivot value (or none: the stream's wildcard partition)."""

    __slots__ = (
        "alive",
        "attrs",
        "band",
        "changes",
        "conjs",
        "dead",
        "free",
        "freeset",
        "key",
        "kids",
        "n",
        "order",
        "owners",
        "resid",
        "size",
        "size_at_cut",
        "zombies",
    )

    def __init__(self, key: Any) -> None:
        self.key = key
        self.band: tuple | None = None  # (key in StreamIndex.banded, parent) for a band
        self.kids = 0  # bands of this partition (it is kept while it has any)
        self.alive = 0
        self.n = 0  # slot ids handed out so far (the high-water mark)
        self.size = 0
        self.owners: list[Any] = []
        self.conjs: list[tuple | None] = []
        self.resid: dict[int, Callable] = {}  # slot -> residual closure (SEARCH only)
        self.attrs: dict[tuple, AttrIdx] = {}
        self.order: list[tuple[Callable, AttrIdx]] = []
        self.free: list[int] = []  # heap of clean slot ids (entries not in freeset are stale)
        self.freeset: set[int] = set()
        self.zombies: list[int] = []  # removed ids whose stale range bits are not cleared
        self.dead = 0
        self.changes = 0
        self.size_at_cut = 0

    # ------------------------------------------------------------- registration

    def add(
        self, owner: Any, atoms: tuple[Atom, ...], stored: tuple, resid: Callable | None
    ) -> int:
        """Register one conjunction (pivot atom removed); returns its slot.

        `stored` is the compact, interned form kept for removal and statistics (range
        atoms reduced to `(kind, path, family)`: their bounds live in the range sides).
        """
        slot = self.n
        while self.free:
            s = heapq.heappop(self.free)
            if s in self.freeset:
                self.freeset.discard(s)
                slot = s
                break
        if slot == self.n:
            self.n += 1
            self.owners.append(None)
            self.conjs.append(None)
        self.owners[slot] = owner
        self.conjs[slot] = stored
        if resid is not None:
            self.resid[slot] = resid
        self._apply(slot, atoms, True)
        self.alive |= 1 << slot
        self.size += 1
        self._changed()
        return slot

    def remove(self, slot: int) -> None:
        """Unregister a slot; its id is reused only after the next compaction."""
        stored = self.conjs[slot]
        if stored is None:
            return
        key = self.key
        atoms = stored if key is None else [a for a in stored if a[0] != "eq" or a[1] != key[0]]
        self._apply(slot, atoms, False)
        self.alive ^= 1 << slot
        self.owners[slot] = None
        self.conjs[slot] = None
        self.resid.pop(slot, None)
        self.size -= 1
        self.zombies.append(slot)
        self.dead |= 1 << slot
        self._changed()

    def _changed(self) -> None:
        self.changes += 1
        if self.changes > max(COMPACT_MIN, min(self.size >> 8, 128)):
            self.compact()

    def compact(self) -> None:
        """Merge fresh range slots, clear removed ones, recycle their ids."""
        rebucket = self.size > 2 * self.size_at_cut or self.size < self.size_at_cut // 2
        for ai in self.attrs.values():
            for sides in ai.sides.values():
                for side in sides:
                    if side.count:
                        side.merge(self.dead, rebucket)
                    else:
                        side.reset()
        if rebucket:
            self.size_at_cut = self.size
        for s in self.zombies:
            heapq.heappush(self.free, s)
            self.freeset.add(s)
        self.zombies = []
        self.dead = 0
        self.changes = 0
        # trailing free ids: shrink so masks and lists stay as small as the live set
        while self.n and (self.n - 1) in self.freeset:
            self.freeset.discard(self.n - 1)
            self.owners.pop()
            self.conjs.pop()
            self.n -= 1
        if len(self.free) > 2 * len(self.freeset) + 64:
            self.free = [s for s in self.free if s in self.freeset]
            heapq.heapify(self.free)

    def _reorder(self) -> None:
        """Evaluate attributes with eq sets first (they cut most), needle sets last."""
        items = sorted(
            self.attrs.items(),
            key=lambda kv: (not kv[1].eqc, bool(kv[1].multi), kv[0]),
        )
        self.order = [(_getter(p), ai) for p, ai in items]

    def _apply(self, slot: int, atoms: Any, on: bool) -> None:
        """Set (on) or clear (off) the slot's bits for every atom, each mask touched once."""
        bit = 1 << slot
        by_path: dict[tuple, list[Atom]] = {}
        for a in atoms:
            if a[0] != "res":
                by_path.setdefault(a[1], []).append(a)
        reorder = False
        for path, group in by_path.items():
            ai = self.attrs.get(path)
            if ai is None:
                ai = self.attrs[path] = AttrIdx()
                reorder = True
            ai.refs += 1 if on else -1
            kinds = {a[0] for a in group}
            if kinds - {"null"}:
                ai.nn = ai.nn | bit if on else ai.nn ^ bit
            if "null" in kinds:
                ai.isnull = ai.isnull | bit if on else ai.isnull ^ bit
            fams = {a[2] for a in group if a[0] in ("ne", "lo", "hi", "type")}
            for fam in fams:
                _flip(ai.req, fam, bit, on)
            if fams:
                ai.wrong = None
            needles: dict[str, list[str]] = {}
            for a in group:
                kind = a[0]
                if kind == "eq":
                    had = bool(ai.eqc)
                    ai.eqc = ai.eqc | bit if on else ai.eqc ^ bit
                    reorder |= had != bool(ai.eqc)
                    for fam, v in a[2]:
                        d = ai.eq.setdefault(fam, {})
                        _flip(d, v, bit, on)
                        if not d:
                            del ai.eq[fam]
                elif kind == "ne":
                    d = ai.ne.setdefault(a[2], {})
                    for v in a[3]:
                        _flip(d, v, bit, on)
                    if not d:
                        del ai.ne[a[2]]
                elif kind in ("lo", "hi"):
                    sides = ai.sides.get(a[2])
                    if sides is None:
                        sides = ai.sides[a[2]] = [RangeSide(True), RangeSide(False)]
                    side = sides[0] if kind == "lo" else sides[1]
                    if on:
                        side.add(slot, a[3], a[4], a[5])
                    else:
                        side.remove(slot)
                elif kind in ("has", "pre", "sub"):
                    needles.setdefault(kind, []).append(a[2])
            for kind, nds in needles.items():
                mu = ai.multi.get(kind)
                if mu is None:
                    mu = ai.multi[kind] = Multi(kind)
                    reorder = True
                if on:
                    mu.add(slot, nds)
                else:
                    mu.remove(slot, nds)
                    if not mu.need:
                        del ai.multi[kind]
                        reorder = True
            if not on:
                for fam in [f for f, ss in ai.sides.items() if not (ss[0].vals or ss[1].vals)]:
                    del ai.sides[fam]
                if ai.refs == 0:
                    del self.attrs[path]
                    reorder = True
        if reorder:
            self._reorder()

    # ------------------------------------------------------------- matching

    def match(self, ev: dict) -> list[int]:
        """Slots whose conjunction the event satisfies (residual closures not yet run)."""
        cand = self.alive
        n = self.n
        acc: list[int] = []
        for get, ai in self.order:
            f = ai.fail(get(ev), n, acc)
            if f:
                cand ^= cand & f
                if not cand:
                    return []
        if acc:
            cand ^= cand & from_slots(acc, n)
        return bits(cand)
