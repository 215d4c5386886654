"""Step a `Program` over one partition key's events: a Pike VM with match groups.

Algorithm (documented because the semantics are the product's contract):

* The key's events are numbered 0, 1, 2, ... in event-time order (ties by log offset).
  MATCH_RECOGNIZE semantics say: try to start a match at each event in order; for that start
  take the *first* match in preference order (left alternative first, greedy = more,
  reluctant = fewer); after a match, resume at the position the AFTER MATCH SKIP mode says.
* A *group* holds every thread started at one position, in preference order, exactly as
  RE2's Pike VM keeps its thread list: on each event every thread steps in order, and the
  successors are appended in order, so the list stays sorted by preference without
  backtracking. When a thread reaches MATCH it becomes the group's candidate and every
  thread after it is cut (they can only produce less preferred matches). When no thread
  ahead of the candidate is left, the candidate is *final*. When the pattern's conditions
  never read earlier bindings, threads at the same node are interchangeable and only the
  first is kept (the Pike VM bound: threads <= nodes); otherwise all are kept, bounded by
  the partial-match limits.
* Groups are kept in start order and resolved from the head: a final candidate at the head
  is emitted, then groups starting before the resume position are dropped; a dead head is
  dropped; an unresolved head holds back later groups (their matches may be skipped). A
  new group is opened at an event only when the start nodes accept it, so an idle key
  costs nothing.
* `->>` (skip-till-any) forks: the waiting thread stays in a sibling group with the same
  start, so every combination is a separate match; siblings survive the skip of their own
  start's match.
* Time: a group's deadline is its first event's time + WITHIN. Events later than the
  deadline are never taken; when the key's next event or the watermark passes the
  deadline, the group expires: ABSENT threads fire (absence completes), other threads die
  (finalising a greedy tail), and with ON TIMEOUT EMIT a group without a match reports its
  most preferred thread's bindings as a timed-out partial match.

Runtime state is `KeyState` objects holding plain lists and tuples; `Program` is shared.
Bindings are persistent cons cells `(var, event_record, previous)`, so forking a thread
costs one tuple, and an event bound by many threads is stored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cep.nfa.program import ABSENT, CONSUME, MATCH, WAIT, Program

__all__ = ["BindView", "Group", "KeyState", "Matcher", "RawMatch", "bind_list"]

# An event record: (offset, ts, event, stream). Created once per event by the engine.
EvRec = tuple[int, int, dict, str]
# A binding cell: (var_id, EvRec, previous cell or None, position in the key's sequence)
Bind = tuple[int, EvRec, Any, int] | None

SKIP_PAST_LAST, SKIP_TO_NEXT, SKIP_TO_FIRST, SKIP_TO_LAST = range(4)


def bind_list(bind: Bind) -> list[tuple[int, EvRec, int]]:
    """Return the bindings of a cons chain as (var_id, event record, position), in order."""
    out = []
    while bind is not None:
        out.append((bind[0], bind[1], bind[3]))
        bind = bind[2]
    out.reverse()
    return out


class BindView:
    """The `Bindings` an expression sees: events bound so far, by variable name."""

    __slots__ = ("bind", "names")

    def __init__(self, names: tuple[str, ...], bind: Bind) -> None:
        self.names = names
        self.bind = bind

    def events(self, var: str) -> Sequence[dict]:
        """Events bound to `var`, oldest first."""
        names = self.names
        out = []
        b = self.bind
        while b is not None:
            if names[b[0]] == var:
                out.append(b[1][2])
            b = b[2]
        out.reverse()
        return out

    def all_events(self) -> Sequence[dict]:
        """Every bound event of the match, oldest first."""
        out = []
        b = self.bind
        while b is not None:
            out.append(b[1][2])
            b = b[2]
        out.reverse()
        return out


class Group:
    """The threads started at one position of the key's sequence, in preference order."""

    __slots__ = ("cand", "start_pos", "start_ts", "threads")

    def __init__(self, start_pos: int, start_ts: int, threads: list, cand: Bind = None) -> None:
        self.start_pos = start_pos
        self.start_ts = start_ts
        self.threads = threads  # list of (node, bind, blocked_mask)
        self.cand = cand


class KeyState:
    """Everything one key holds for one statement: open groups and the sequence position."""

    __slots__ = ("groups", "next_start", "nthreads", "pos")

    def __init__(self) -> None:
        self.groups: list[Group] = []
        self.pos = 0
        self.next_start = 0
        self.nthreads = 0


class RawMatch:
    """A final match (or timed-out partial match) of one key, before ids and EMIT."""

    __slots__ = ("bind", "timed_out", "ts")

    def __init__(self, bind: Bind, timed_out: bool, ts: int) -> None:
        self.bind = bind
        self.timed_out = timed_out
        self.ts = ts


class Matcher:
    """Steps one Program for many keys; holds no per-key state itself."""

    __slots__ = (
        "any_node",
        "components",
        "conds",
        "dropped",
        "kinds",
        "max_threads",
        "negs",
        "node_vars",
        "program",
        "skip_mode",
        "skip_var",
        "start",
        "start_by_event",
        "start_fn",
        "succ",
        "timeout_emit",
        "var_names",
        "within",
    )

    def __init__(
        self,
        program: Program,
        within: int | None,
        skip_mode: int = SKIP_PAST_LAST,
        skip_var: int = -1,
        timeout_emit: bool = False,
        max_threads: int = 1000,
    ) -> None:
        if any(program.kinds[n] != CONSUME for n in program.start):
            raise ValueError("a pattern must consume an event before it can match or wait")
        self.program = program
        self.kinds = program.kinds
        self.node_vars = program.node_vars
        self.succ = program.succ
        self.components = program.components
        self.negs = program.negs
        self.any_node = program.any_match
        self.start = program.start
        self.var_names = tuple(v.name for v in program.vars)
        self.conds = tuple((v.cond, v.uses_bindings, v.stream) for v in program.vars)
        self.within = within
        self.skip_mode = skip_mode
        self.skip_var = skip_var
        self.timeout_emit = timeout_emit
        self.max_threads = max_threads
        self.dropped = 0  # partial matches dropped by the per-key limit
        self.start_fn, self.start_by_event = self._start_test()

    # ------------------------------------------------------------------ conditions

    def test(self, var: int, rec: EvRec, bind: Bind) -> bool:
        """Does the event satisfy `var`'s condition given the thread's bindings?"""
        fn, uses, stream = self.conds[var]
        if stream is not None and rec[3] != stream:
            return False
        if fn is None:
            return True
        if uses:
            return fn(rec[2], BindView(self.var_names, (var, rec, bind)))
        return fn(rec[2], None)

    def _start_test(self) -> Any:
        """Build the cheapest exact test for "would this event open a group?".

        Returns `(fn, by_event)`: with `by_event` the test takes the event dict and bindings
        (None) directly, like a compiled condition; otherwise it takes the event record.
        """
        start_vars = tuple(dict.fromkeys(self.node_vars[n] for n in self.start))
        specs = [self.conds[v] for v in start_vars]
        if all(not uses and stream is None for _, uses, stream in specs):
            fns = tuple(fn for fn, _, _ in specs)
            if any(fn is None for fn in fns):
                return (lambda ev, b: True), True
            if len(fns) == 1:
                return fns[0], True

            def any_of(ev: dict, b: None, _fns: tuple = fns) -> bool:
                for fn in _fns:  # noqa: SIM110 - a plain loop beats any(<genexpr>) per event
                    if fn(ev, None):
                        return True
                return False

            return any_of, True
        test = self.test
        return (lambda rec: any(test(v, rec, None) for v in start_vars)), False

    def can_start(self, rec: EvRec) -> bool:
        """Does any start node accept this event (so a new group would open)?"""
        if self.start_by_event:
            return bool(self.start_fn(rec[2], None))
        return bool(self.start_fn(rec))

    # ------------------------------------------------------------------ stepping

    def step_threads(
        self, threads: list, rec: EvRec, pos: int, group: Group, siblings: list
    ) -> list:
        """Advance a group's threads over one event; returns the new thread list."""
        kinds = self.kinds
        test = self.test
        dedup = self.program.binding_free
        out: list = []
        seen: set = set()
        for node, bind, blocked in threads:
            kind = kinds[node]
            if kind == CONSUME:
                var = self.node_vars[node]
                if not test(var, rec, bind):
                    continue
                nb = (var, rec, bind, pos)
                if self._advance(self.succ[node], nb, out, seen, dedup, group):
                    return out  # a match cuts every less preferred thread
            elif kind == WAIT:
                comps = self.components[node]
                takes = []
                newly = 0
                for ci, (neg, entries) in enumerate(comps):
                    bit = 1 << ci
                    if blocked & bit:
                        continue
                    if neg and any(test(x, rec, bind) for x in neg):
                        newly |= bit
                        continue
                    for var, nxt in entries:
                        if test(var, rec, bind):
                            takes.append((var, nxt))
                if takes:
                    if self.any_node[node]:
                        siblings.append((node, bind, blocked | newly))
                    for var, nxt in takes:
                        if self._advance(nxt, (var, rec, bind, pos), out, seen, dedup, group):
                            return out
                else:
                    blocked |= newly
                    if blocked != (1 << len(comps)) - 1:
                        key = (node, blocked)
                        if not dedup or key not in seen:
                            seen.add(key)
                            out.append((node, bind, blocked))
            elif kind == ABSENT:
                if any(test(x, rec, bind) for x in self.negs[node]):
                    continue
                key = (node, 0)
                if not dedup or key not in seen:
                    seen.add(key)
                    out.append((node, bind, 0))
        return out

    def _advance(
        self, nodes: tuple, nb: Bind, out: list, seen: set, dedup: bool, group: Group
    ) -> bool:
        """Add successor threads in order; return True when MATCH is reached (cut the rest)."""
        kinds = self.kinds
        for n in nodes:
            if kinds[n] == MATCH:
                group.cand = nb
                return True
            key = (n, 0)
            if dedup:
                if key in seen:
                    continue
                seen.add(key)
            out.append((n, nb, 0))
        return False

    def on_event(self, ks: KeyState, rec: EvRec, out: list[RawMatch]) -> None:
        """Feed the key's next event (in event-time order); final matches go to `out`."""
        pos = ks.pos
        ks.pos = pos + 1
        groups = ks.groups
        ts = rec[1]
        within = self.within
        if groups:
            new_groups: list[Group] = []
            for g in groups:
                if g.threads:
                    if within is not None and ts > g.start_ts + within:
                        self._expire(g, out)
                    else:
                        siblings: list = []
                        g.threads = self.step_threads(g.threads, rec, pos, g, siblings)
                        new_groups.append(g)
                        if siblings:
                            new_groups.append(Group(g.start_pos, g.start_ts, siblings))
                        continue
                new_groups.append(g)
            ks.groups = groups = new_groups
        if pos >= ks.next_start and self.can_start(rec):
            g = Group(pos, ts, [], None)
            siblings = []
            g.threads = self.step_threads([(n, None, 0) for n in self.start], rec, pos, g, siblings)
            groups.append(g)
            if siblings:  # cannot happen at a start node, kept for symmetry
                groups.append(Group(pos, ts, siblings))
        if groups:
            self._resolve(ks, out)

    def _expire(self, g: Group, out: list[RawMatch]) -> None:
        """The group's WITHIN deadline passed: absences fire, other threads die."""
        deadline = g.start_ts + self.within  # type: ignore[operator]
        for node, bind, _ in g.threads:
            if self.kinds[node] == ABSENT:
                g.cand = bind
                g.threads = []
                return
        if g.cand is None and self.timeout_emit and g.threads:
            out.append(RawMatch(g.threads[0][1], True, deadline))
        g.threads = []

    def _resolve(self, ks: KeyState, out: list[RawMatch]) -> None:
        """Emit final matches from the head of the group list and apply AFTER MATCH SKIP."""
        groups = ks.groups
        i = 0
        n = len(groups)
        nthreads = 0
        while i < n:
            g = groups[i]
            if g.threads:
                break
            i += 1
            if g.cand is None:
                continue
            out.append(RawMatch(g.cand, False, g.cand[1][1]))
            nxt = self._resume_position(g)
            if nxt > ks.next_start:
                ks.next_start = nxt
            # drop later groups that start inside the skipped range (siblings survive)
            keep = [h for h in groups[i:] if h.start_pos == g.start_pos or h.start_pos >= nxt]
            groups = groups[:i] + keep
            n = len(groups)
        rest = groups[i:]
        for g in rest:
            nthreads += len(g.threads)
        ks.groups = rest
        if nthreads > self.max_threads:
            self._enforce_limit(ks, nthreads)
        else:
            ks.nthreads = nthreads

    def _resume_position(self, g: Group) -> int:
        """Where the next match may start, per the AFTER MATCH SKIP mode."""
        mode = self.skip_mode
        if mode == SKIP_TO_NEXT:
            return g.start_pos + 1
        binds = bind_list(g.cand)
        if mode == SKIP_PAST_LAST:
            return binds[-1][2] + 1
        target = [p for v, _, p in binds if v == self.skip_var]
        if not target:  # the variable bound nothing: fall back to the next event
            return g.start_pos + 1
        pos = target[0] if mode == SKIP_TO_FIRST else target[-1]
        # resuming at the match's own start would loop forever (MATCH_RECOGNIZE: error)
        return pos if pos > g.start_pos else g.start_pos + 1

    def _enforce_limit(self, ks: KeyState, nthreads: int) -> None:
        """Over the per-key limit: drop the oldest groups' threads until under it."""
        groups = ks.groups
        while nthreads > self.max_threads and groups:
            g = groups[0]
            nthreads -= len(g.threads)
            self.dropped += len(g.threads)
            groups.pop(0)
        ks.nthreads = nthreads

    def advance_time(self, ks: KeyState, watermark: int, out: list[RawMatch]) -> None:
        """Event time reached `watermark`: expire groups whose deadline is before it."""
        within = self.within
        if within is None:
            return
        changed = False
        for g in ks.groups:
            if g.threads and g.start_ts + within < watermark:
                self._expire(g, out)
                changed = True
        if changed:
            self._resolve(ks, out)

    def earliest_deadline(self, ks: KeyState) -> int | None:
        """The first time at which a group of this key will expire (None: never)."""
        if self.within is None:
            return None
        best = None
        for g in ks.groups:
            if g.threads:
                d = g.start_ts + self.within
                if best is None or d < best:
                    best = d
        return best

    def finish(self, ks: KeyState, out: list[RawMatch]) -> None:
        """End of input: no event can extend anything; resolve what is complete."""
        for g in ks.groups:
            g.threads = []
        self._resolve(ks, out)
