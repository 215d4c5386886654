"""The engine: event time, routing to statements, per-key state, timers, match assembly.

Data flow for one log partition (what a worker, `cep replay` and the benchmark feed):

    event ─▶ reorder buffer (watermark = max event time - bound) ─▶ late? side output
          ─▶ StatementIndex.candidates(stream, event) ─▶ RuleRunner.on_event (per key)
          ─▶ Matcher (cep.nfa.runtime) ─▶ Match (ids, bound events, EMIT fields)

Time: events are released to the statements in (event time, offset) order once the
watermark reaches them; an event older than the watermark is late and goes to its stream's
`LATE EVENTS TO` target (or is counted). Deadlines (WITHIN, absence, timeouts) fire when
event time passes them: either the key's own next event or the partition's watermark via
the timer heap, so quiet keys still complete and free their state.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable
from typing import Any

import orjson

from cep.index.plain import PlainIndex, StatementIndex
from cep.lang.compiler import CompiledRule, StreamSpec
from cep.nfa.runtime import BindView, Group, KeyState, Matcher, RawMatch, bind_list
from cep.windows.operator import WindowOperator
from cep.windows.runner import AggregateRunner

__all__ = ["SNAPSHOT_FORMAT", "Engine", "Limits", "Match", "match_id"]

NO_TIME = -(2**62)
SNAPSHOT_FORMAT = 2


class Limits:
    """Resource limits (per statement) with their documented defaults."""

    __slots__ = ("max_keys_per_rule", "max_threads_per_key", "max_threads_per_rule")

    def __init__(
        self,
        max_threads_per_key: int = 1000,
        max_keys_per_rule: int = 1_000_000,
        max_threads_per_rule: int = 1_000_000,
    ) -> None:
        # partial matches (NFA threads) one key of one statement may hold; the oldest go first
        self.max_threads_per_key = max_threads_per_key
        # keys with open partial matches per statement; the least recently opened key goes
        self.max_keys_per_rule = max_keys_per_rule
        # partial matches of one statement over all keys; the oldest keys' go first
        self.max_threads_per_rule = max_threads_per_rule


def match_id(
    statement: str,
    version: int,
    partition: int,
    binds: Iterable[tuple[str, str, int]],
    timed_out: bool = False,
) -> str:
    """Deterministic id from statement, version, partition and the bound (var, stream, offset)s."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{statement}\x1f{version}\x1f{partition}\x1f{int(timed_out)}".encode())
    for var, stream, off in binds:
        h.update(f"\x1e{var}\x1f{stream}\x1f{off}".encode())
    return h.hexdigest()


class Match:
    """A final match (or a timed-out partial one): what actions and replay output receive."""

    __slots__ = (
        "bindings",
        "end_ts",
        "fields",
        "key",
        "match_id",
        "offsets",
        "start_ts",
        "statement",
        "timed_out",
    )

    def __init__(self, **kw: Any) -> None:
        for k, v in kw.items():
            setattr(self, k, v)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the replay output line)."""
        return {
            "statement": self.statement,
            "match_id": self.match_id,
            "key": self.key,
            "timed_out": self.timed_out,
            "start_ts": self.start_ts,
            "end_ts": self.end_ts,
            "bindings": self.bindings,
            "fields": self.fields,
        }


class RuleRunner:
    """One statement's runtime: the Matcher plus the state of every key."""

    __slots__ = (
        "dropped_keys",
        "key",
        "limits",
        "live_tables",
        "live_threads",
        "matcher",
        "matches",
        "partition",
        "scheduled",
        "single",
        "states",
        "stmt",
        "var_names",
    )

    def __init__(self, stmt: CompiledRule, limits: Limits, partition: int) -> None:
        self.stmt = stmt
        self.limits = limits
        self.partition = partition
        self.key = stmt.key
        self.matcher = Matcher(
            stmt.program,
            stmt.within,
            stmt.skip_mode,
            stmt.skip_var,
            stmt.timeout_emit,
            min(stmt.max_threads, limits.max_threads_per_key),
        )
        self.var_names = self.matcher.var_names
        self.states: dict[Any, KeyState] = {}
        self.matches = 0
        self.dropped_keys = 0
        # A pattern of one event that cannot wait (SEARCH, `PATTERN (v)`) needs no key state.
        p = stmt.program
        self.single = all(p.kinds[s] == 3 for n in p.start for s in p.succ[n])
        self.scheduled: dict[Any, int] = {}  # key -> deadline already in the timer heap
        self.live_threads = 0  # partial matches over all keys (the per-statement limit)
        self.live_tables: list[dict] = []  # the engine's live-key tables this runner is in


class Engine:
    """Runs compiled statements over one partition's events; collects matches in `out`."""

    def __init__(
        self,
        statements: Iterable[CompiledRule],
        streams: dict[str, StreamSpec] | None = None,
        limits: Limits | None = None,
        partition: int = 0,
        index: StatementIndex | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.partition = partition
        self.streams: dict[str, StreamSpec] = dict(streams or {})
        self.index: StatementIndex = index or PlainIndex()
        self.runners: dict[str, RuleRunner] = {}
        # AGGREGATE statements: window operators, fed released events in event-time order
        self.aggregates: dict[str, AggregateRunner] = {}
        self.agg_streams: dict[str, list[AggregateRunner]] = {}
        # keys with live partial matches, per stream and PARTITION BY, for selective indexes:
        # such keys must see every event of the stream, whatever the index says
        self.live: dict[str, list[tuple[Any, dict[Any, dict[RuleRunner, None]]]]] = {}
        self.live_groups: dict[tuple, tuple[Any, dict]] = {}
        self.out: list[Match] = []
        self.late: list[tuple[str | None, dict]] = []  # (target stream or None, event)
        self.counters: dict[str, int] = {"late": 0, "bad_time": 0}
        self.n_events = 0
        self.max_ts = NO_TIME
        self.clock = NO_TIME  # time of the last released event
        self.bound = 0
        self.buffer: list[tuple[int, int, tuple]] = []
        self.timers: list[tuple[int, int, str, Any]] = []
        self.timer_seq = 0
        # An index that holds SEARCH statements itself (cep.index.attribute) has `select`:
        # it emits their matches into `out` and returns the RULE runners to run.
        self._select = getattr(self.index, "select", None)
        for s in statements:
            self.add_statement(s)

    # ------------------------------------------------------------- statements

    def add_statement(self, stmt: CompiledRule) -> None:
        """Register (or replace) a statement; a replaced one starts with empty state."""
        self.remove_statement(stmt.name)
        if stmt.kind == "aggregate":
            agg = AggregateRunner(stmt, self.partition)
            self.aggregates[stmt.name] = agg
            for s in dict.fromkeys(stmt.streams):
                self.agg_streams.setdefault(s, []).append(agg)
            self._widen_bound(stmt)
            return
        if stmt.kind == "search" and self._select is not None:
            # the index keeps the SEARCH (no RuleRunner/Matcher per search: 1M must fit)
            self.index.add_search(stmt)  # type: ignore[attr-defined]
            self._widen_bound(stmt)
            return
        runner = RuleRunner(stmt, self.limits, self.partition)
        self.runners[stmt.name] = runner
        self.index.add(runner)
        if not self.index.exhaustive and not runner.single:
            for s in dict.fromkeys(stmt.streams):
                group = self.live_groups.get((s, stmt.key_paths))
                if group is None:
                    group = self.live_groups[(s, stmt.key_paths)] = (stmt.key, {})
                    self.live.setdefault(s, []).append(group)
                runner.live_tables.append(group[1])
        self._widen_bound(stmt)

    def _widen_bound(self, stmt: CompiledRule) -> None:
        """The reorder bound is the largest watermark of the streams statements read."""
        for s in stmt.streams:
            spec = self.streams.get(s)
            if spec is not None and spec.watermark_ms > self.bound:
                self.bound = spec.watermark_ms

    def remove_statement(self, name: str) -> None:
        """Drop a statement and all its state."""
        agg = self.aggregates.pop(name, None)
        if agg is not None:
            for s in agg.stmt.streams:
                self.agg_streams[s].remove(agg)
                if not self.agg_streams[s]:
                    del self.agg_streams[s]
            return
        runner = self.runners.pop(name, None)
        if runner is not None:
            for key in list(runner.states):
                self._close_key(runner, key)
            self.index.remove(runner)
        elif self._select is not None:
            self.index.remove_search(name)  # type: ignore[attr-defined]

    def spec(self, stream: str) -> StreamSpec:
        """The stream's spec (schema-less default when undeclared)."""
        spec = self.streams.get(stream)
        if spec is None:
            spec = self.streams[stream] = StreamSpec(stream)
        return spec

    # ------------------------------------------------------------- events

    def process(self, event: dict, offset: int, stream: str) -> None:
        """Accept one event of `stream` at log `offset`; matches appear in `self.out`."""
        self.n_events += 1
        spec = self.streams.get(stream)
        if spec is None:
            spec = self.spec(stream)
        ts = spec.time(event)
        if ts is None:
            # no readable event time: it happens "now" in event time, and we say so
            self.counters["bad_time"] += 1
            ts = self.max_ts if self.max_ts != NO_TIME else 0
        if not self.bound and not self.buffer:
            # in-order fast path: nothing to reorder, release at once
            if ts < self.clock:
                self._late(spec, event, ts)
                return
            if ts > self.clock:
                self.clock = self.max_ts = ts
                if self.timers and self.timers[0][0] < ts:
                    self._fire_timers(ts)
                if self.aggregates:
                    self._agg_watermark(ts)
            rec = (offset, ts, event, stream)
            if self.agg_streams:
                self._aggregate(rec)
            if self.index.exhaustive:
                run = self._run
                for runner in self.index.candidates(stream, event):
                    run(runner, rec)
            else:
                self._dispatch(rec)
            return
        if ts > self.max_ts:
            self.max_ts = ts
        watermark = self.max_ts - self.bound
        if ts < self.clock or ts < watermark:
            self._late(spec, event, ts)
            return
        heapq.heappush(self.buffer, (ts, offset, (offset, ts, event, stream)))
        buf = self.buffer
        while buf and buf[0][0] <= watermark:
            self._release(heapq.heappop(buf)[2])
        self._fire_timers(watermark)
        if self.aggregates:
            self._agg_watermark(watermark)

    def _late(self, spec: StreamSpec, event: dict, ts: int) -> None:
        self.counters["late"] += 1
        self.late.append((spec.late_to, event))
        aggs = self.agg_streams.get(spec.name)
        if aggs:
            # late for the engine, maybe not for a window with ALLOWED LATENESS: the
            # operator decides, with the engine's watermark as the event's partition watermark
            wm = max(self.clock, self.max_ts - self.bound)
            for agg in aggs:
                agg.on_event(ts, event, wm, self.out)

    def _aggregate(self, rec: tuple) -> None:
        """Feed a released event to the AGGREGATE statements of its stream."""
        aggs = self.agg_streams.get(rec[3])
        if aggs:
            for agg in aggs:
                agg.on_event(rec[1], rec[2], None, self.out)

    def _agg_watermark(self, wm: int) -> None:
        """Event time reached `wm`: fire the windows it has passed."""
        for agg in self.aggregates.values():
            agg.on_watermark(wm, self.out)

    def _release(self, rec: tuple) -> None:
        ts = rec[1]
        if ts > self.clock:
            self.clock = ts
            if self.timers and self.timers[0][0] < ts:
                self._fire_timers(ts)
            if self.aggregates:
                self._agg_watermark(ts)
        self._dispatch(rec)
        if self.agg_streams:
            self._aggregate(rec)

    def _dispatch(self, rec: tuple) -> None:
        """Run the statements this event may start (the index) or advance (live keys)."""
        stream = rec[3]
        event = rec[2]
        run = self._run
        index = self.index
        if index.exhaustive:
            for runner in index.candidates(stream, event):
                run(runner, rec)
            return
        seen: set | None = None
        for keyfn, table in self.live.get(stream, ()):
            if not table:
                continue
            runners = table.get(keyfn(event) if keyfn is not None else None)
            if runners:
                if seen is None:
                    seen = set()
                for r in list(runners):
                    if r not in seen:
                        seen.add(r)
                        run(r, rec)
        select = self._select
        cands = select(rec, self.partition, self.out) if select else index.candidates(stream, event)
        for r in cands:
            if seen is None or r not in seen:
                run(r, rec)

    def _open_key(self, runner: RuleRunner, key: Any) -> KeyState:
        """Create a key's state (and, with a selective index, mark the key live)."""
        ks = KeyState()
        runner.states[key] = ks
        for table in runner.live_tables:
            table.setdefault(key, {})[runner] = None
        return ks

    def _close_key(self, runner: RuleRunner, key: Any) -> None:
        """Forget a key's state."""
        runner.states.pop(key, None)
        runner.scheduled.pop(key, None)
        for table in runner.live_tables:
            live = table.get(key)
            if live is not None:
                live.pop(runner, None)
                if not live:
                    del table[key]

    def _run(self, runner: RuleRunner, rec: tuple) -> None:
        keyfn = runner.key
        key = keyfn(rec[2]) if keyfn is not None else None
        matcher = runner.matcher
        if runner.single:
            if matcher.can_start(rec):
                self._emit(runner, key, RawMatch((0, rec, None, 0), False, rec[1]))
            return
        states = runner.states
        ks = states.get(key)
        if ks is None:
            if matcher.start_by_event:
                if not matcher.start_fn(rec[2], None):
                    return  # idle key, event cannot start a match: nothing to keep
            elif not matcher.start_fn(rec):
                return
            ks = self._open_key(runner, key)
            if len(states) > self.limits.max_keys_per_rule:
                self._evict_oldest(runner)
        raw: list[RawMatch] = []
        before = ks.nthreads
        matcher.on_event(ks, rec, raw)
        for m in raw:
            self._emit(runner, key, m)
        self._settle(runner, key, ks, before)

    def _settle(self, runner: RuleRunner, key: Any, ks: KeyState, before: int) -> None:
        """After a key changed: count its partial matches, free it when empty, set a timer."""
        runner.live_threads += ks.nthreads - before
        if runner.live_threads > self.limits.max_threads_per_rule:
            self._shed(runner)
            if key not in runner.states:
                return
        if not ks.groups:
            self._close_key(runner, key)
            return
        d = runner.matcher.earliest_deadline(ks)
        if d is not None and runner.scheduled.get(key) != d:
            runner.scheduled[key] = d
            self.timer_seq += 1
            heapq.heappush(self.timers, (d, self.timer_seq, runner.stmt.name, key))

    def _evict_oldest(self, runner: RuleRunner) -> None:
        """Over a limit: drop the least recently opened key's partial matches."""
        oldest = next(iter(runner.states))
        ks = runner.states[oldest]
        self._close_key(runner, oldest)
        dropped = sum(len(g.threads) for g in ks.groups)
        runner.matcher.dropped += dropped
        runner.live_threads -= dropped
        runner.dropped_keys += 1

    def _shed(self, runner: RuleRunner) -> None:
        """Over the per-statement limit: evict the oldest keys until under it."""
        limit = self.limits.max_threads_per_rule
        while runner.live_threads > limit and runner.states:
            self._evict_oldest(runner)

    def _fire_timers(self, now: int) -> None:
        timers = self.timers
        while timers and timers[0][0] < now:
            when, _, name, key = heapq.heappop(timers)
            runner = self.runners.get(name)
            if runner is None:
                continue
            ks = runner.states.get(key)
            if ks is None:
                continue
            if runner.scheduled.get(key) == when:
                del runner.scheduled[key]
            d = runner.matcher.earliest_deadline(ks)
            if d is None or d >= now:
                continue  # stale entry: a newer one covers this key
            raw: list[RawMatch] = []
            before = ks.nthreads
            runner.matcher.advance_time(ks, now, raw)
            for m in raw:
                self._emit(runner, key, m)
            self._settle(runner, key, ks, before)

    def advance_watermark(self, watermark: int) -> None:
        """Advance event time without an event (idle partitions, wall-clock advance)."""
        buf = self.buffer
        while buf and buf[0][0] <= watermark:
            self._release(heapq.heappop(buf)[2])
        if watermark > self.max_ts:
            self.max_ts = watermark
        self._fire_timers(watermark)
        if self.aggregates:
            self._agg_watermark(watermark)

    def flush(self) -> None:
        """End of input: release everything, fire due deadlines, complete greedy tails."""
        buf = self.buffer
        while buf:
            self._release(heapq.heappop(buf)[2])
        if self.max_ts != NO_TIME:
            self._fire_timers(self.max_ts + 1)
        for runner in self.runners.values():
            for key, ks in list(runner.states.items()):
                raw: list[RawMatch] = []
                runner.matcher.finish(ks, raw)
                for m in raw:
                    self._emit(runner, key, m)
                self._close_key(runner, key)
            runner.live_threads = 0
        self.timers.clear()
        for agg in self.aggregates.values():
            agg.close_all(self.out)

    # ------------------------------------------------------------- output

    def _emit(self, runner: RuleRunner, key: Any, raw: RawMatch) -> None:
        stmt = runner.stmt
        names = runner.var_names
        binds = bind_list(raw.bind)
        bindings: dict[str, list[dict]] = {}
        for var, rec, _ in binds:
            bindings.setdefault(names[var], []).append(rec[2])
        offsets = [(names[v], rec[0]) for v, rec, _ in binds]
        fields: dict[str, Any] = {}
        if stmt.emit:
            view = BindView(names, raw.bind)
            last = binds[-1][1][2] if binds else {}
            for fname, fn in stmt.emit:
                fields[fname] = fn(last, view)
        runner.matches += 1
        self.out.append(
            Match(
                statement=stmt.name,
                match_id=match_id(
                    stmt.name,
                    stmt.version,
                    self.partition,
                    [(names[v], rec[3], rec[0]) for v, rec, _ in binds],
                    raw.timed_out,
                ),
                key=list(key) if isinstance(key, tuple) else key,
                bindings=bindings,
                fields=fields,
                timed_out=raw.timed_out,
                start_ts=binds[0][1][1] if binds else None,
                end_ts=raw.ts,
                offsets=offsets,
            )
        )

    def take(self) -> list[Match]:
        """Return and clear the matches collected so far."""
        out, self.out = self.out, []
        return out

    def take_late(self) -> list[tuple[str | None, dict]]:
        """Return and clear late events as (LATE EVENTS TO stream or None, event)."""
        out, self.late = self.late, []
        return out

    def stats(self) -> dict[str, Any]:
        """Counters for the summary and the API: per statement matches, drops, live state."""
        statements = {
            name: {
                "matches": r.matches,
                "live_keys": len(r.states),
                "partial_matches": r.live_threads,
                "limit_drops": r.matcher.dropped,
                "evicted_keys": r.dropped_keys,
            }
            for name, r in self.runners.items()
        }
        if self._select is not None:  # searches held by the index: those that matched
            for name, st in self.index.search_stats().items():  # type: ignore[attr-defined]
                statements[name] = {
                    "matches": st["matches"],
                    "live_keys": 0,
                    "partial_matches": 0,
                    "limit_drops": 0,
                    "evicted_keys": 0,
                }
        for name, a in self.aggregates.items():
            size = a.op.state_size()
            statements[name] = {
                "matches": a.results,
                "live_keys": size["keys"],
                "partial_matches": 0,
                "limit_drops": 0,
                "evicted_keys": 0,
                "windows": size["windows"],
                "late_events": a.late,
            }
        return {
            "events": self.n_events,
            **self.counters,
            "watermark": None if self.max_ts == NO_TIME else self.max_ts - self.bound,
            "statements": statements,
        }

    # ------------------------------------------------------------- checkpoints

    def snapshot(self) -> bytes:
        """Serialise all runtime state (JSON bytes, never pickle) for a checkpoint.

        Events bound by partial matches are stored once, by offset; a statement's state is
        tagged with its version so a replaced statement never inherits old state.
        """
        events: dict[str, list] = {}

        def ref(rec: tuple) -> str:
            # offsets are per stream: two streams of one partition can share an offset
            key = f"{rec[3]}\x1f{rec[0]}"
            if key not in events:
                events[key] = [rec[0], rec[1], rec[3], rec[2]]
            return key

        def binds(b: Any) -> list | None:
            if b is None:
                return None
            return [[v, ref(rec), pos] for v, rec, pos in bind_list(b)]

        stmts = {}
        for name, r in self.runners.items():
            keys = []
            for key, ks in r.states.items():
                groups = [
                    [
                        g.start_pos,
                        g.start_ts,
                        binds(g.cand),
                        [[n, binds(b), bl] for n, b, bl in g.threads],
                    ]
                    for g in ks.groups
                ]
                keys.append([key, ks.pos, ks.next_start, groups])
            stmts[name] = {
                "version": r.stmt.version,
                "matches": r.matches,
                "dropped": r.matcher.dropped,
                "evicted_keys": r.dropped_keys,
                "keys": keys,
            }
        state = {
            "format": SNAPSHOT_FORMAT,
            "partition": self.partition,
            "max_ts": self.max_ts,
            "clock": self.clock,
            "counters": {**self.counters, "events": self.n_events},
            "buffer": [[ref(rec)] for _, _, rec in self.buffer],
            "statements": stmts,
            "events": events,
            "aggregates": {name: a.snapshot() for name, a in self.aggregates.items()},
        }
        return orjson.dumps(state)

    def restore(self, data: bytes) -> None:
        """Load a snapshot taken by `snapshot` (statements must already be registered)."""
        state = orjson.loads(data)
        if state.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unsupported snapshot format {state.get('format')!r}")
        recs = {k: (off, ts, ev, stream) for k, (off, ts, stream, ev) in state["events"].items()}

        def unbind(lst: list | None) -> Any:
            b = None
            for v, off, pos in lst or ():
                b = (v, recs[off], b, pos)
            return b

        self.max_ts = state["max_ts"]
        self.clock = state["clock"]
        self.counters = dict(state["counters"])
        self.n_events = self.counters.pop("events", 0)
        self.buffer = [(recs[k][1], recs[k][0], recs[k]) for (k,) in state["buffer"]]
        heapq.heapify(self.buffer)
        self.timers = []
        saved = state.get("aggregates", {})
        for name, a in self.aggregates.items():
            if name not in saved or not a.restore(saved[name]):
                a.op = WindowOperator(a.stmt.spec)  # removed or replaced: start empty
                a.results = a.late = 0
        for name, st in state["statements"].items():
            r = self.runners.get(name)
            if r is None or r.stmt.version != st["version"]:
                continue  # removed or replaced: its old state is dropped, never migrated
            r.matches = st["matches"]
            r.matcher.dropped = st["dropped"]
            r.dropped_keys = st["evicted_keys"]
            for key in list(r.states):
                self._close_key(r, key)
            r.live_threads = 0
            for key, pos, next_start, groups in st["keys"]:
                if isinstance(key, list):
                    key = tuple(key)
                ks = self._open_key(r, key)
                ks.pos = pos
                ks.next_start = next_start
                for start_pos, start_ts, cand, threads in groups:
                    g = Group(
                        start_pos,
                        start_ts,
                        [(n, unbind(b), bl) for n, b, bl in threads],
                        unbind(cand),
                    )
                    ks.groups.append(g)
                    ks.nthreads += len(g.threads)
                self._settle(r, key, ks, 0)
