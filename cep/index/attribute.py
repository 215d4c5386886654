"""The attribute index: first-step predicates of every statement, inverted, per stream.

Why. `PlainIndex` hands every event to every statement of its stream; with a million saved
searches that is a million condition calls per event. Here each statement's first-step
condition is normalised (`cep.index.normalize`) into conjunctions of typed atoms, and each
conjunction is filed in one *partition* per value of its pivot: its most selective
equality/IN attribute (the one with the most distinct registered values, as OpIndex picks
the least frequent attribute), else a required list item, else the stream's wildcard
partition. An event visits only the partitions of its own pivot values plus the wildcard
one, and inside each runs a few bitset operations (`cep.index.partition`). So the cost of
an event does not grow with statements filed under other pivot values.

RULE runners are returned as candidates (a superset: conditions reading earlier bindings
or otherwise not indexable are dropped, and the engine verifies the first step). SEARCH
statements are not runners at all: the index holds them (`SearchEntry`) and emits their
matches itself, after running residual closures for the parts it could not index.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from cep.index.normalize import Conj, normalize
from cep.index.partition import FAMILY, Partition
from cep.index.searches import SearchEntry, make_match, residual_fn, where_of
from cep.lang.compiler import path_getter

__all__ = ["AttributeIndex", "StreamIndex"]

MAX_PIVOT_VALUES = 64  # an IN list longer than this is filtered inside a partition instead
_RULE_SAMPLE = 16  # one event in this many re-checks rule candidates for the stats
SPLIT_MIN = 4096  # a partition this large files new windowed conjunctions by band instead
BANDS_PER_OCTAVE = 64  # band width: about 1.1% of the value
MAX_SPAN = 4  # a window over more bands than this stays in its (unbanded) partition
_NEG = -(1 << 40)  # the band of values <= 0
_POS = 1 << 40  # the band of +inf and of ints beyond float range


def band(v: Any) -> int:
    """The band of a positive number: exactly monotone (frexp is exact, no log rounding)."""
    if v <= 0:
        return _NEG
    try:
        m, e = math.frexp(v)
    except OverflowError:
        return _POS
    if m == math.inf:
        return _POS
    return e * BANDS_PER_OCTAVE + int((m - 0.5) * (2 * BANDS_PER_OCTAVE))


def _window(atoms: Conj) -> tuple[Any, int, int] | None:
    """(path, first band, last band) of a numeric window [lo, hi] the conjunction requires.

    Only bounds that fail NaN (not from a negation) qualify: an event filed by band must
    fail the conjunction when its value has no band (missing, NaN, another family).
    """
    los: dict[Any, Any] = {}
    his: dict[Any, Any] = {}
    for a in atoms:
        k = a[0]
        if (k == "lo" or k == "hi") and a[2] == "n" and not a[5] and a[3] == a[3]:
            t = los if k == "lo" else his
            prev = t.get(a[1])
            if prev is None or (a[3] > prev if k == "lo" else a[3] < prev):
                t[a[1]] = a[3]
    best = None
    for path, lo in los.items():
        hi = his.get(path)
        if hi is None:
            continue
        b0, b1 = band(lo), band(hi)
        if 0 <= b1 - b0 < MAX_SPAN and (best is None or b1 - b0 < best[2] - best[1]):
            best = (path, b0, b1)
    return best


@lru_cache(maxsize=4096)
def _parse(source: str) -> Any:
    from cep.lang.parser import parse_expression

    return parse_expression(source)


class StreamIndex:
    """The partitions of one stream and the counters `index_stats` reports."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.eq: dict[tuple, dict[str, dict[Any, Partition]]] = {}
        self.wild: Partition | None = None
        # second level of large partitions: (parent key, band path, band) -> partition
        self.banded: dict[tuple, Partition] = {}
        self.band_paths: dict[tuple, int] = {}  # band path -> banded partitions using it
        self.band_plan: list[tuple[tuple, Callable]] = []
        self.distinct: dict[tuple, dict[Any, int]] = {}  # eq values registered, refcounted
        self.paths: dict[tuple, tuple] = {}  # canonical attribute paths
        self.interned: dict[tuple, list] = {}  # stored atom -> [atom, references]
        self.eq_plan: list[tuple[Callable, dict]] = []
        self.always = 0  # slots with no indexable atom: every event of the stream reaches them
        self.counters = {
            "events": 0,
            "partitions_visited": 0,
            "candidates": 0,
            "residual_checks": 0,
            "residual_failed": 0,
            "rule_candidates_checked": 0,
            "rule_candidates_failed": 0,
        }

    def _replan(self) -> None:
        self.eq_plan = [(path_getter(p), fams) for p, fams in self.eq.items()]
        self.band_plan = [(p, path_getter(p)) for p in self.band_paths]

    def _file(self, parent: Partition, owner: Any, atoms: Conj, stored: tuple, resid: Any) -> Any:
        """Add to `parent`, or, once it is large, to the bands of the conjunction's window."""
        if parent.size >= SPLIT_MIN:
            w = _window(atoms)
            if w is not None:
                path, b0, b1 = w
                path = self.paths.setdefault(path, path)
                places = []
                for b in range(b0, b1 + 1):
                    bk = (parent.key, path, b)
                    p = self.banded.get(bk)
                    if p is None:
                        p = self.banded[bk] = Partition(parent.key)
                        p.band = (bk, parent)
                        parent.kids += 1
                        n = self.band_paths.get(path, 0)
                        self.band_paths[path] = n + 1
                        if not n:
                            self._replan()
                    places.append((p, p.add(owner, atoms, stored, resid)))
                return places[0] if len(places) == 1 else places
        return (parent, parent.add(owner, atoms, stored, resid))

    def _pivot(self, atoms: Conj) -> int | None:
        """Index of the pivot atom: eq with the most distinct values per listed value."""
        best = None
        best_score = -1.0
        for i, a in enumerate(atoms):
            if a[0] == "eq" and len(a[2]) <= MAX_PIVOT_VALUES:
                score = len(self.distinct.get(a[1], ())) / len(a[2])
                if score > best_score:
                    best, best_score = i, score
        return best

    def _count(self, atoms: Conj, delta: int) -> None:
        for a in atoms:
            if a[0] == "eq":
                d = self.distinct.setdefault(a[1], {})
                for key in a[2]:
                    n = d.get(key, 0) + delta
                    if n:
                        d[key] = n
                    else:
                        del d[key]
                if not d:
                    del self.distinct[a[1]]

    def _intern(self, atoms: Conj) -> tuple:
        """The compact stored form: shared atom objects, range atoms without their bound."""
        out = []
        paths = self.paths
        table = self.interned
        for a in atoms:
            kind = a[0]
            if kind == "res":
                continue
            path = paths.setdefault(a[1], a[1])
            key = (kind, path, a[2]) if kind in ("lo", "hi") else (kind, path, *a[2:])
            got = table.get(key)
            if got is None:
                got = table[key] = [key, 0]
            got[1] += 1
            out.append(got[0])
        return tuple(out)

    def _release(self, stored: tuple) -> None:
        table = self.interned
        for a in stored:
            got = table[a]
            got[1] -= 1
            if not got[1]:
                del table[a]

    def add(self, owner: Any, atoms: Conj, resid: Callable | None) -> Any:
        """File one conjunction; returns a handle: (partition, slot) or a list of them."""
        self._count(atoms, 1)
        stored = self._intern(atoms)
        if not stored:
            self.always += 1
        piv = self._pivot(atoms)
        if piv is None:
            if self.wild is None:
                self.wild = Partition(None)
            return self._file(self.wild, owner, atoms, stored, resid)
        a = atoms[piv]
        rest = atoms[:piv] + atoms[piv + 1 :]
        places = []
        fams = self.eq.get(a[1])
        if fams is None:
            fams = self.eq[a[1]] = {}
            self._replan()
        for fam, v in a[2]:
            table = fams.setdefault(fam, {})
            p = table.get(v)
            if p is None:
                p = table[v] = Partition((self.paths[a[1]], fam, v))
            got = self._file(p, owner, rest, stored, resid)
            if type(got) is tuple:
                places.append(got)
            else:
                places.extend(got)
        return places[0] if len(places) == 1 else places

    def remove(self, handle: Any) -> None:
        """Unfile a conjunction (all its places), dropping partitions that become empty."""
        places = [handle] if type(handle) is tuple else handle
        stored = places[0][0].conjs[places[0][1]]
        for p, slot in places:
            p.remove(slot)
            if p.size == 0:
                self._drop(p)
        if stored is not None:
            self._count(stored, -1)
            self._release(stored)
            if not stored:
                self.always -= 1

    def _drop(self, p: Partition) -> None:
        if p.band is not None:  # a band: its parent stays while it has bands
            bk, parent = p.band
            del self.banded[bk]
            path = bk[1]
            n = self.band_paths[path] - 1
            if n:
                self.band_paths[path] = n
            else:
                del self.band_paths[path]
                self._replan()
            parent.kids -= 1
            if not parent.kids and not parent.size:
                self._drop(parent)
            return
        if p.kids:
            return
        key = p.key
        if key is None:
            self.wild = None
            return
        path, kind, v = key
        fams = self.eq[path]
        del fams[kind][v]
        if not fams[kind]:
            del fams[kind]
        if not fams:
            del self.eq[path]
            self._replan()

    def match(self, ev: dict) -> list[tuple[Partition, list[int]]]:
        """Partitions this event visits and their matching slots."""
        out = []
        visited = 0
        banded = self.banded
        bands = None
        if banded:  # the event's band per band path (none when missing, NaN, not a number)
            bands = []
            for path, get in self.band_plan:
                v = get(ev)
                if (type(v) is int or type(v) is float) and v == v:
                    bands.append((path, band(v)))
        for get, fams in self.eq_plan:
            v = get(ev)
            if v is None:
                continue
            d = fams.get(FAMILY.get(type(v)))
            if d:
                p = d.get(v)
                if p is not None:
                    visited += 1
                    slots = p.match(ev)
                    if slots:
                        out.append((p, slots))
                    if bands:
                        for path, b in bands:
                            bp = banded.get((p.key, path, b))
                            if bp is not None:
                                visited += 1
                                slots = bp.match(ev)
                                if slots:
                                    out.append((bp, slots))
        if self.wild is not None:
            visited += 1
            slots = self.wild.match(ev)
            if slots:
                out.append((self.wild, slots))
        if bands and self.wild is not None:
            for path, b in bands:
                bp = banded.get((None, path, b))
                if bp is not None:
                    visited += 1
                    slots = bp.match(ev)
                    if slots:
                        out.append((bp, slots))
        c = self.counters
        c["events"] += 1
        c["partitions_visited"] += visited
        return out

    def partitions(self) -> list[Partition]:
        """Every partition of the stream."""
        out = [p for fams in self.eq.values() for t in fams.values() for p in t.values()]
        if self.wild is not None:
            out.append(self.wild)
        out.extend(self.banded.values())
        return out


class AttributeIndex:
    """A selective `StatementIndex` that also holds SEARCH statements (see module doc)."""

    exhaustive = False

    def __init__(self) -> None:
        self.streams: dict[str, StreamIndex] = {}
        self.runner_places: dict[Any, list[tuple[StreamIndex, Any]]] = {}
        self.searches: dict[str, SearchEntry] = {}
        self.search_matches: dict[str, int] = {}
        self._peak = 0
        self.rule_conditions_overflowed = 0
        self.search_conditions_overflowed = 0

    def _stream(self, name: str) -> StreamIndex:
        si = self.streams.get(name)
        if si is None:
            si = self.streams[name] = StreamIndex(name)
        return si

    # ------------------------------------------------------------- RULE runners

    def add(self, runner: Any) -> None:
        """File a runner's start conditions under each stream its start variables read."""
        self.remove(runner)
        prog = runner.stmt.program
        names = frozenset(v.name for v in prog.vars)
        reads = list(dict.fromkeys(runner.stmt.streams))
        placed: list[tuple[StreamIndex, Any]] = []
        for var_id in dict.fromkeys(prog.node_vars[n] for n in prog.start):
            vs = prog.vars[var_id]
            streams = [vs.stream] if vs.stream else reads
            conjs: list[Conj] = [()]
            if vs.cond is not None:
                try:
                    conjs, over = normalize(_parse(vs.source), names, vs.name)
                except Exception:  # unreadable source: treat as "any event" (verified)
                    conjs, over = [()], True
                self.rule_conditions_overflowed += over
            for s in streams:
                if s not in reads:
                    continue
                si = self._stream(s)
                for c in conjs:
                    atoms = tuple(a for a in c if a[0] != "res")
                    placed.append((si, si.add(runner, atoms, None)))
        self.runner_places[runner] = placed

    def remove(self, runner: Any) -> None:
        """Unfile a runner."""
        for si, places in self.runner_places.pop(runner, ()):
            si.remove(places)
            if not (si.eq or si.wild or si.banded):
                self.streams.pop(si.name, None)

    def candidates(self, stream: str, event: dict) -> Sequence[Any]:
        """Runners whose first step the event may satisfy (searches are not runners)."""
        si = self.streams.get(stream)
        if si is None:
            return ()
        out: dict[Any, None] = {}
        for p, slots in si.match(event):
            owners = p.owners
            for s in slots:
                o = owners[s]
                if type(o) is not SearchEntry:
                    out[o] = None
        return list(out)

    # ------------------------------------------------------------- SEARCH statements

    def add_search(self, stmt: Any) -> None:
        """Register or replace a SEARCH (a `SearchSpec` or a `CompiledSearch`)."""
        self.remove_search(stmt.name)
        entry = SearchEntry(stmt)
        conjs, over = normalize(where_of(stmt), frozenset(), None)
        self.search_conditions_overflowed += over
        si = self._stream(entry.stream)
        handles = [si.add(entry, c, residual_fn(c)) for c in conjs]
        # one conjunction is the common case: keep its handle itself (memory per search)
        entry.places = handles[0] if len(handles) == 1 and type(handles[0]) is tuple else handles
        self.searches[entry.name] = entry
        if len(self.searches) > self._peak:
            self._peak = len(self.searches)

    def remove_search(self, name: str) -> bool:
        """Forget a SEARCH; False when there was none of that name."""
        entry = self.searches.pop(name, None)
        if entry is None:
            return False
        si = self.streams[entry.stream]
        places = entry.places
        if type(places) is list:
            for h in places:
                si.remove(h)
        elif places:
            si.remove(places)
        self.search_matches.pop(name, None)
        if len(self.searches) * 4 < self._peak:  # dicts never shrink by deletion: copy
            self.searches = dict(self.searches)
            self.search_matches = dict(self.search_matches)
            self._peak = len(self.searches)
        if not (si.eq or si.wild or si.banded):
            del self.streams[entry.stream]
        return True

    def select(self, rec: tuple, partition: int, out: list) -> Sequence[Any]:
        """Append this event's SEARCH matches to `out`; return the RULE runners to run."""
        stream = rec[3]
        si = self.streams.get(stream)
        if si is None:
            return ()
        ev = rec[2]
        hits = si.match(ev)
        if not hits:
            return ()
        runners: dict[Any, None] = {}
        found: dict[SearchEntry, None] = {}
        c = si.counters
        n = 0
        for p, slots in hits:
            owners = p.owners
            resid = p.resid
            n += len(slots)
            for s in slots:
                o = owners[s]
                if type(o) is SearchEntry:
                    if resid:
                        fn = resid.get(s)
                        if fn is not None:
                            c["residual_checks"] += 1
                            if not fn(ev, None):
                                c["residual_failed"] += 1
                                continue
                    found[o] = None
                else:
                    runners[o] = None
        c["candidates"] += n
        if found:
            counts = self.search_matches
            for e in found:
                out.append(make_match(e, rec, partition))
                counts[e.name] = counts.get(e.name, 0) + 1
        if runners and c["events"] % _RULE_SAMPLE == 0:
            for r in runners:
                m = r.matcher
                ok = m.start_fn(ev, None) if m.start_by_event else m.start_fn(rec)
                c["rule_candidates_checked"] += 1
                c["rule_candidates_failed"] += not ok
        return list(runners)

    def has_search(self, name: str) -> bool:
        """Is a SEARCH of this name registered here?"""
        return name in self.searches

    def search_stats(self) -> dict[str, dict[str, int]]:
        """Per search that has matched: its match count (the engine merges these)."""
        return {name: {"matches": n} for name, n in self.search_matches.items()}
