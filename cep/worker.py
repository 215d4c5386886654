"""The worker: consumes log partitions, runs the engines of each partition, checkpoints atomically.

Why it is built this way ("store the offset with the output"):

* **Partitions.** Every stream a running statement reads must have the same partition count
  P (co-partitioned: the same key lands in the same partition number of every stream, so a
  rule over two streams sees both sides of a key in one engine). Worker partition p has
  one checkpoint, id `<group>:<p>`, and runs one `Engine(partition=p)` per distinct set of
  streams its statements read (an *engine group*: statements over the same streams share
  an engine and its index). Each engine group has its own event-time clock and offsets,
  so a statement reading a derived stream (`EMIT INTO`, `LATE EVENTS TO`) is not made late
  by the clock of the statements that produce it. A stream whose count differs from P is
  not consumed and the statements reading it are reported as not running
  (`Worker.errors`). Offsets are stored per stream, as `stream@group` when the engine
  group reads several streams.
* **Feeding order is deterministic**, so a restart from a checkpoint re-creates exactly the
  matches (and match ids) an uninterrupted run creates: one stream is fed in offset order;
  several streams are merged by (event time, stream name, offset) of their next entries.
  Caveat of the merge: it can only order what is already in the log; an entry appended
  later to one stream with an earlier event time than what was already fed from another
  is fed when it arrives (late or reordered by the WATERMARK like any out-of-order event).
  Replaying a log that is complete (`--drain` after producing) is fully deterministic.
* **Checkpoints.** Every `checkpoint_every_events` events or `checkpoint_every_ms` ms (if
  anything happened), one `Store.commit` per partition writes the engine snapshot plus
  worker state (commit ring for lag, watermark, pending derived events), the next offset of
  every consumed stream, and the new matches (each with its deterministic `match_id`; the
  store adds one outbox entry per new id), all in one atomic step. A crash between
  processing and commit re-processes from the stored offsets and re-creates the same ids,
  which the store ignores: the outbox never holds an id twice. On start the worker loads
  the checkpoint, restores the engine (state of a statement whose version changed is
  dropped) and resumes after the stored offsets. Watermarks are part of the engine state,
  so they never go back across restarts; `trace=` records every restore and commit
  (watermark, offsets) as JSON lines for tests and audits.
* **Derived events** (`THEN EMIT INTO s`, and `LATE EVENTS TO s` of a stream declaration)
  are appended only after the commit that holds them, and the commit also stores them as
  "pending" with the target streams' end offsets taken just before. If the worker dies
  after the commit, the next start scans the targets from those offsets for the events'
  ids (`_cep.id`: the match id, or `late:<stream>:<p>:<offset>`) and appends only the
  missing ones: each derived event is appended once, crash or not. Late events of a stream
  without `LATE EVENTS TO` are counted (engine counter `late`) and dropped.
* **Statements change while events flow.** The store's statement revision is polled every
  `statements_poll_ms` (default 500 ms); a new statement starts at the partition's current
  offsets, a replaced one (new version) starts with empty state, a paused or removed one
  is dropped with its state (resuming starts empty at the current offset). A statement
  that reads a stream the partition did not read yet starts that stream at its end
  offset. A partition that never committed (a first start) starts every stream at its
  first retained entry, and commits those offsets as soon as it opens, so `cep apply; cep
  produce; cep worker --drain` sees every event. Backfilling a new statement from an older
  offset is not implemented.
* **Failures.** A connection or I/O error (Redis restarted, SQLite locked too long) drops
  all in-memory state and restarts from the checkpoints after a backoff (0.1 s doubling to
  5 s), exactly like a process restart, so recovery has a single, tested path.
* **Reading.** One batch per engine group and partition per round (`batch_size`). SQLite
  batches come as one JSON array; on Redis the next batch is requested
  before the current one runs through the engine (`cep.reader`), so the server prepares
  it meanwhile.

See docs/operations.md for the operator's view of all this.
"""

from __future__ import annotations

import heapq
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import redis

from cep.engine import NO_TIME, Engine, Limits, Match
from cep.lag import DEFAULT_WARN_RATIO, RING_SIZE
from cep.lang import ast
from cep.log.base import Log, LogError, StreamNotFoundError
from cep.reader import Batch, Pending, Reader
from cep.registry import Loader, Registry
from cep.store.base import Store, now_ms

__all__ = [
    "DEFAULT_CHECKPOINT_EVENTS",
    "DEFAULT_CHECKPOINT_MS",
    "TRANSIENT_ERRORS",
    "Worker",
    "is_transient",
    "pack_state",
    "read_header",
]

log_ = logging.getLogger("cep.worker")

DEFAULT_CHECKPOINT_EVENTS = 50_000
DEFAULT_CHECKPOINT_MS = 1000
DEFAULT_BATCH = 1000
DEFAULT_GROUP = "worker"
STATE_MAGIC = b"CEPW\x01"
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # includes BusyLoadingError (server loading its AOF)
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)
BACKOFF_START, BACKOFF_CAP = 0.1, 5.0
ALERT_EVERY_MS = 60_000


def is_transient(e: BaseException) -> bool:
    """True for errors a retry can cure: lost connections, a busy or locked database."""
    if isinstance(e, sqlite3.OperationalError):
        msg = str(e).lower()
        return any(w in msg for w in ("locked", "busy", "disk i/o", "unable to open"))
    return isinstance(e, TRANSIENT_ERRORS)


def pack_state(header: dict[str, Any], engines: dict[str, bytes]) -> bytes:
    """Checkpoint blob: magic, header length, worker header JSON, engine snapshots."""
    h = orjson.dumps({**header, "engines": [[g, len(b)] for g, b in engines.items()]})
    return b"".join((STATE_MAGIC, len(h).to_bytes(4, "big"), h, *engines.values()))


def unpack_state(state: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Inverse of `pack_state`: the header and each engine group's snapshot."""
    if not state.startswith(STATE_MAGIC):
        raise ValueError("not a worker checkpoint (bad magic)")
    n = int.from_bytes(state[len(STATE_MAGIC) : len(STATE_MAGIC) + 4], "big")
    pos = len(STATE_MAGIC) + 4
    header = orjson.loads(state[pos : pos + n])
    pos += n
    engines = {}
    for gid, size in header.get("engines", []):
        engines[gid] = state[pos : pos + size]
        pos += size
    if pos != len(state):
        raise ValueError("truncated or padded worker checkpoint")
    return header, engines


def read_header(state: bytes) -> dict[str, Any]:
    """The worker header of a checkpoint blob ({} for anything else)."""
    try:
        return unpack_state(state)[0]
    except (ValueError, orjson.JSONDecodeError):
        return {}


# ------------------------------------------------------------------ per partition


def group_id(streams: Iterable[str]) -> str:
    """Engine group of a statement: its sorted distinct streams joined by '+'."""
    return "+".join(sorted(set(streams)))


def offset_key(gid: str, stream: str) -> str:
    """Key of a group's stream offset in a checkpoint: `stream`, or `stream@group`."""
    return stream if gid == stream else f"{stream}@{gid}"


def offset_stream(key: str) -> str:
    """The stream of an offset key."""
    return key.split("@", 1)[0]


class EngineGroup:
    """One engine of a partition: the statements over one set of streams, and its offsets."""

    def __init__(self, gid: str, engine: Engine) -> None:
        self.gid = gid
        self.streams = tuple(gid.split("+"))
        self.engine = engine
        self.offsets: dict[str, int] = {}  # stream -> next offset to feed
        self.ahead: dict[str, tuple[int, Pending]] = {}  # read-ahead per stream
        self.buffers: dict[str, list[tuple[int, dict]]] = {}  # merge read-ahead, reversed

    def watermark(self) -> int | None:
        """The engine's current watermark (None before the first event)."""
        e = self.engine
        return None if e.max_ts == NO_TIME else e.max_ts - e.bound

    def drop_read_ahead(self) -> None:
        """Forget read-ahead (the offsets moved or the partition restarts)."""
        for _, pending in self.ahead.values():
            pending.cancel()
        self.ahead.clear()
        self.buffers.clear()


class PartitionRunner:
    """Worker partition p: its engine groups and what waits for the next commit."""

    def __init__(self, p: int, pid: str) -> None:
        self.p = p
        self.pid = pid
        self.groups: dict[str, EngineGroup] = {}
        self.fresh = False  # never committed: every stream starts at its first entry
        self.pending: list[dict[str, Any]] = []  # new matches since the last commit
        self.emits: list[list[Any]] = []  # [stream, key, event] to append after the commit
        self.since = 0  # events since the last commit
        self.dirty = False
        self.last_commit = time.monotonic()
        self.ring: list[list[int]] = []  # [committed_at ms, offset sum, end offset sum]
        self.counters: dict[str, int] = {
            "events": 0, "matches": 0, "commits": 0, "emitted": 0, "late_emitted": 0,
            "skipped_entries": 0,
        }
        self.commit_seconds = 0.0
        self.state_bytes = 0
        self.seq = 0

    def offsets(self) -> dict[str, int]:
        """Every group's stream offsets, keyed as stored in the checkpoint."""
        return {offset_key(g.gid, s): o for g in self.groups.values() for s, o in g.offsets.items()}

    def watermarks(self) -> dict[str, int | None]:
        """Watermark per engine group."""
        return {gid: g.watermark() for gid, g in self.groups.items()}

    def watermark(self) -> int | None:
        """The partition's watermark: the lowest of its engine groups'."""
        known = [w for w in self.watermarks().values() if w is not None]
        return min(known) if known else None


class WorkerError(Exception):
    """The worker cannot go on (e.g. a checkpoint it cannot read)."""


class Worker:
    """Consumes the partitions it owns and runs every registered statement over them.

    `partitions`: the partition numbers to own (default all); `trace`: a file that gets a
    JSON line per restore and commit; `prefetch`: on Redis, request the next batch before
    running the current one; `clock`: milliseconds for the commit ring (tests set it).
    """

    def __init__(
        self,
        log: Log,
        store: Store,
        partitions: Iterable[int] | None = None,
        checkpoint_every_events: int = DEFAULT_CHECKPOINT_EVENTS,
        checkpoint_every_ms: int = DEFAULT_CHECKPOINT_MS,
        batch_size: int = DEFAULT_BATCH,
        group: str = DEFAULT_GROUP,
        statements_poll_ms: int = 500,
        limits: Limits | None = None,
        trace: str | Path | None = None,
        alert_stream: str | None = "cep_alerts",
        retention_warn_ratio: float = DEFAULT_WARN_RATIO,
        prefetch: bool = True,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if checkpoint_every_events < 1 or checkpoint_every_ms < 1 or batch_size < 1:
            raise ValueError("checkpoint intervals and batch size must be >= 1")
        self.log = log
        self.store = store
        self.owned = sorted(set(partitions)) if partitions is not None else None
        self.every_events = checkpoint_every_events
        self.every_ms = checkpoint_every_ms
        self.batch = batch_size
        self.group = group
        self.poll_ms = statements_poll_ms
        self.limits = limits or Limits()
        self.alert_stream = alert_stream
        self.warn_ratio = retention_warn_ratio
        self.clock = clock
        self.loader = Loader(store)
        self.registry = Registry()
        self.runners: dict[int, PartitionRunner] = {}
        self.nparts: int | None = None
        self.streams: list[str] = []  # consumed streams
        self.errors: dict[str, str] = {}
        self.counters: dict[str, int] = {
            "recoveries": 0, "falling_behind_warnings": 0, "alerts": 0, "statement_reloads": 0,
        }
        self._trace_fd = (
            os.open(str(trace), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if trace else None
        )
        self._read = Reader(log)
        self.prefetch = prefetch and self._read.redis
        self._last_poll = 0.0
        self._retention: dict[str, tuple[float, int | None]] = {}
        self._alerted: dict[tuple[str, int], int] = {}
        self._awaiting: set[str] = set()
        self._started = False

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Load statements and every owned partition's checkpoint."""
        self._drop_state()
        self.refresh_statements(force=True)
        self._started = True

    def close(self) -> None:
        """Drop read-ahead requests and close the trace file."""
        for r in self.runners.values():
            for g in r.groups.values():
                g.drop_read_ahead()
        if self._trace_fd is not None:
            os.close(self._trace_fd)
            self._trace_fd = None

    def run(
        self,
        drain: bool = False,
        stop: threading.Event | None = None,
        max_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Consume until `stop` is set (or, with `drain`, until everything is committed)."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        backoff = BACKOFF_START
        idle = 0.0
        wait = stop.wait if stop is not None else time.sleep
        while True:
            if stop is not None and stop.is_set():
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            try:
                if not self._started:
                    self.start()
                if time.monotonic() - self._last_poll >= self.poll_ms / 1000:
                    self.refresh_statements()
                n = self.step()
                self.checkpoint()
                backoff = BACKOFF_START
                if n:
                    idle = 0.0
                    continue
                if drain:
                    self.checkpoint(force=True)
                    if self.caught_up():
                        break
                    continue
                idle = min(0.2, idle * 2 or 0.005)
                wait(idle)
            except Exception as e:
                if not is_transient(e):
                    raise
                self.counters["recoveries"] += 1
                log_.warning("worker: %s: %s; restarting from the checkpoints in %.1fs",
                             type(e).__name__, e, backoff)
                self._started = False
                self._drop_state()
                wait(backoff * (0.5 + random.random()))
                backoff = min(BACKOFF_CAP, backoff * 2)
        if self._started:
            try:
                self.checkpoint(force=True)
            except Exception as e:
                if not is_transient(e):
                    raise
                log_.warning("worker: final checkpoint failed (%s); the next start replays", e)
        return self.stats()

    def _drop_state(self) -> None:
        for r in self.runners.values():
            for g in r.groups.values():
                g.drop_read_ahead()
        self.runners.clear()
        self.registry = Registry()
        self.nparts = None
        self.streams = []

    # ------------------------------------------------------------ statements

    def refresh_statements(self, force: bool = False) -> bool:
        """Apply statement changes if the store's revision moved; True if it reloaded."""
        self._last_poll = time.monotonic()
        rev = self.store.statements_revision()
        awaited = bool(self._awaiting) and bool(self._awaiting & set(self.log.streams()))
        if force or rev != self.registry.revision or awaited:
            reg = self.loader.load()
            self.counters["statement_reloads"] += 1
            self._apply(reg)
            return True
        self._skip_holes_if_idle()
        return False

    def _apply(self, reg: Registry) -> None:
        """Make the running engines match registry `reg` (add, replace, drop statements)."""
        old = self.registry
        log_streams = self.log.streams()
        wanted = reg.consumed_streams()
        counts = {s: log_streams[s] for s in wanted if s in log_streams}
        if self.nparts is None and counts:
            freq: dict[int, int] = {}
            for c in counts.values():
                freq[c] = freq.get(c, 0) + 1
            self.nparts = max(freq, key=lambda c: (freq[c], c))
        self._awaiting = {s for s in wanted if s not in counts}
        errors = dict(reg.errors)
        for name, st in list(reg.statements.items()):
            bad = [s for s in st.streams if counts.get(s) != self.nparts]
            if bad:
                del reg.statements[name]
                errors[name] = "; ".join(
                    f"stream {s!r} does not exist yet" if s not in counts else
                    f"stream {s!r} has {counts[s]} partitions, the worker's streams {self.nparts}"
                    for s in bad
                )
        for name, msg in errors.items():
            if self.errors.get(name) != msg:
                log_.error("worker: statement %s is not running: %s", name, msg)
        self.errors = errors
        self.registry = reg
        self.streams = reg.consumed_streams()
        if self.nparts is None:
            return
        owned = self.owned if self.owned is not None else list(range(self.nparts))
        respec = reg.stream_texts != old.stream_texts
        opened = []
        for p in owned:
            if p >= self.nparts:
                continue
            r = self.runners.get(p)
            if r is None:
                r = self.runners[p] = self._open_partition(p)
                if r.seq == 0:
                    opened.append(r)
            else:
                self._align(r, old, respec)
        for r in opened:  # pin the starting offsets of partitions that never committed
            self._commit(r)

    def _wanted_groups(self) -> dict[str, list[Any]]:
        groups: dict[str, list[Any]] = {}
        for st in self.registry.statements.values():
            groups.setdefault(group_id(st.streams), []).append(st)
        return groups

    def _new_engine(self, p: int, statements: Iterable[Any]) -> Engine:
        return Engine(statements, self.registry.specs, self.limits, partition=p)

    def _align(self, r: PartitionRunner, old: Registry, respec: bool) -> None:
        """Add, replace and drop statements and engine groups of a running partition."""
        wanted = self._wanted_groups()
        for gid in list(r.groups):
            if gid not in wanted:
                r.groups.pop(gid).drop_read_ahead()  # no statement reads these streams together
                r.dirty = True
        for gid, stmts in wanted.items():
            g = r.groups.get(gid)
            if g is None:
                self._add_group(r, gid, stmts)
                continue
            if respec:
                snap = g.engine.snapshot()
                g.engine = self._new_engine(r.p, stmts)
                g.engine.restore(snap)
                continue
            names = {st.name for st in stmts}
            for name in list(g.engine.runners):
                if name not in names:
                    g.engine.remove_statement(name)  # paused or removed: state dropped
            for st in stmts:
                if old.statements.get(st.name) is not st:
                    g.engine.add_statement(st)  # new, or a new version: starts empty

    def _add_group(self, r: PartitionRunner, gid: str, stmts: list[Any]) -> EngineGroup:
        """A new engine group; its streams start where the partition already is."""
        g = EngineGroup(gid, self._new_engine(r.p, stmts))
        for s in g.streams:
            g.offsets[s] = self._start_offset(r, s)
        r.groups[gid] = g
        r.dirty = True
        return g

    def _start_offset(self, r: PartitionRunner, stream: str) -> int:
        """Where a group that starts reading `stream` begins: where the partition already is.

        Else a partition that never committed starts at the first retained entry (like a
        new Kafka consumer group with `earliest`), and one that did at the end offset (a
        new statement sees events from now on). A partition commits its starting offsets
        as soon as it is opened, so "never committed" means a first start.
        """
        current = [g.offsets[stream] for g in r.groups.values() if stream in g.offsets]
        if current:
            return max(current)
        pos = self.log.first_offsets(stream) if r.fresh else self.log.end_offsets(stream)
        return pos[r.p]

    def _open_partition(self, p: int) -> PartitionRunner:
        """A runner for partition p, restored from its checkpoint if there is one."""
        pid = f"{self.group}:{p}"
        r = PartitionRunner(p, pid)
        cp = self.store.load_checkpoint(pid)
        r.fresh = cp is None
        header: dict[str, Any] = {}
        snaps: dict[str, bytes] = {}
        if cp is not None:
            try:
                header, snaps = unpack_state(cp.state)
            except (ValueError, orjson.JSONDecodeError) as e:
                raise WorkerError(f"checkpoint of {pid} cannot be read: {e}") from e
            r.ring = [list(x) for x in header.get("ring", [])]
            r.seq = cp.seq
            for k, v in header.get("counters", {}).items():
                if k in r.counters:
                    r.counters[k] = v
        for gid, stmts in self._wanted_groups().items():
            g = EngineGroup(gid, self._new_engine(p, stmts))
            snap = snaps.get(gid)
            if snap is not None:
                try:
                    g.engine.restore(snap)
                except (ValueError, KeyError, orjson.JSONDecodeError) as e:
                    raise WorkerError(f"checkpoint of {pid} cannot be restored: {e}") from e
                g.offsets = {
                    s: cp.offsets[offset_key(gid, s)] for s in g.streams
                    if cp is not None and offset_key(gid, s) in cp.offsets
                }
            r.groups[gid] = g
        for g in r.groups.values():  # streams the checkpoint did not know yet
            for s in g.streams:
                if s not in g.offsets:
                    g.offsets[s] = self._start_offset(r, s)
        if cp is not None:
            self._trace({"ev": "restore", "pid": pid, "seq": cp.seq, "offsets": cp.offsets,
                         "watermarks": header.get("watermarks", {}),
                         "engine_watermarks": r.watermarks()})
            if header.get("emits"):
                self._recover_emits(header["emits"], header.get("scan_from", {}))
        r.dirty = False
        return r

    # ------------------------------------------------------------ processing

    def step(self) -> int:
        """One round: read and process at most one batch per engine group and partition."""
        total = 0
        for r in self.runners.values():
            for g in r.groups.values():
                if len(g.offsets) == 1:
                    total += self._step_single(r, g, g.streams[0])
                elif g.offsets:
                    total += self._step_merge(r, g)
        return total

    def _fetch(self, r: PartitionRunner, g: EngineGroup, stream: str) -> Batch:
        start = g.offsets[stream]
        got: Batch | None = None
        ahead = g.ahead.pop(stream, None)
        if ahead is not None:
            if ahead[0] == start:
                got = ahead[1].result()
            else:
                ahead[1].cancel()
        if got is None:
            got = self._read(stream, r.p, start, self.batch)
        offs = got[0]
        if offs and self.prefetch:  # the server prepares the next batch meanwhile
            nxt = offs[-1] + 1
            g.ahead[stream] = (nxt, self._read.ask(stream, r.p, nxt, self.batch))
        return got

    def _step_single(self, r: PartitionRunner, g: EngineGroup, stream: str) -> int:
        offs, evs = self._fetch(r, g, stream)
        if not offs:
            return 0
        if offs[0] > g.offsets[stream]:
            r.counters["skipped_entries"] += offs[0] - g.offsets[stream]
        eng = g.engine
        process = eng.process
        for off, ev in zip(offs, evs):
            process(ev, off, stream)
        g.offsets[stream] = offs[-1] + 1
        if eng.late:
            self._collect_late(r, g, {id(ev): (stream, off) for off, ev in zip(offs, evs)})
        self._after_batch(r, g, len(offs))
        return len(offs)

    def _step_merge(self, r: PartitionRunner, g: EngineGroup) -> int:
        """Feed several streams merged by (event time, stream, offset)."""
        eng = g.engine
        heap: list[tuple[int, str, int, dict]] = []
        times = {s: self.registry.spec(s).time for s in g.streams}

        def push(s: str) -> None:
            buf = g.buffers.get(s)
            if not buf:
                offs, evs = self._read(s, r.p, g.offsets[s], self.batch)
                if offs and offs[0] > g.offsets[s]:
                    r.counters["skipped_entries"] += offs[0] - g.offsets[s]
                    g.offsets[s] = offs[0]
                buf = g.buffers[s] = list(zip(offs, evs))[::-1]  # popped from the end
            if buf:
                off, ev = buf[-1]
                t = times[s](ev)
                heapq.heappush(heap, (NO_TIME if t is None else t, s, off, ev))

        for s in g.streams:
            push(s)
        n = 0
        where: dict[int, tuple[str, int]] = {}
        while heap and n < self.batch:
            _, s, off, ev = heapq.heappop(heap)
            g.buffers[s].pop()
            eng.process(ev, off, s)
            where[id(ev)] = (s, off)
            g.offsets[s] = off + 1
            n += 1
            push(s)
        if n:
            if eng.late:
                self._collect_late(r, g, where)
            self._after_batch(r, g, n)
        return n

    def _collect_late(self, r: PartitionRunner, g: EngineGroup,
                      where: dict[int, tuple[str, int]]) -> None:
        for target, ev in g.engine.take_late():
            if target is None:
                continue  # counted by the engine (`late`), dropped
            stream, off = where.get(id(ev), ("?", -1))
            spec = self.registry.specs.get(target) or self.registry.spec(stream)
            out = dict(ev)
            out["_cep"] = {"id": f"late:{stream}:{r.p}:{off}", "late_from": stream,
                           "partition": r.p, "offset": off}
            r.emits.append([target, spec.key(ev) if spec.key else None, out])

    def _after_batch(self, r: PartitionRunner, g: EngineGroup, n: int) -> None:
        r.since += n
        r.counters["events"] += n
        r.dirty = True
        eng = g.engine
        if not eng.out:
            return
        stmts = self.registry.statements
        for m in eng.take():
            d = m.to_dict()
            d["partition"] = r.p
            r.pending.append(d)
            st = stmts.get(m.statement)
            if st is not None and st.actions:
                for a in st.actions:
                    if isinstance(a, ast.EmitInto):
                        r.emits.append(self._derived(a.stream, m))

    def _derived(self, target: str, m: Match) -> list[Any]:
        """The event `THEN EMIT INTO target` appends for match m: its EMIT fields and _cep."""
        spec = self.registry.spec(target)
        ev: dict[str, Any] = dict(m.fields)
        tname = spec.time_path[0] if len(spec.time_path) == 1 else "ts"
        ev.setdefault(tname, m.end_ts)
        ev["_cep"] = {"id": m.match_id, "statement": m.statement, "key": m.key,
                      "start_ts": m.start_ts, "end_ts": m.end_ts, "timed_out": m.timed_out}
        key = spec.key(ev) if spec.key else m.key
        return [target, key, ev]

    # ------------------------------------------------------------ checkpoints

    def checkpoint(self, force: bool = False) -> int:
        """Commit every partition that is due (all dirty ones with `force`); return count."""
        n = 0
        now = time.monotonic()
        for r in self.runners.values():
            if not r.dirty:
                continue
            late = (now - r.last_commit) * 1000 >= self.every_ms
            if force or late or r.since >= self.every_events:
                self._commit(r)
                n += 1
        return n

    def _commit(self, r: PartitionRunner) -> None:
        t0 = time.perf_counter()
        snaps = {gid: g.engine.snapshot() for gid, g in r.groups.items()}
        offsets = r.offsets()
        ends = {s: self.log.end_offsets(s) for s in {offset_stream(k) for k in offsets}}
        scan_from = {t: self._target_ends(t) for t in sorted({e[0] for e in r.emits})}
        at = self.clock()
        r.ring.append([at, sum(offsets.values()),
                       sum(ends[offset_stream(k)][r.p] for k in offsets)])
        del r.ring[:-RING_SIZE]
        wms = r.watermarks()
        header = {
            "format": 1, "partition": r.p, "watermark": r.watermark(), "watermarks": wms,
            "ring": r.ring, "counters": {**r.counters,
                                         "matches": r.counters["matches"] + len(r.pending)},
            "versions": {n: s.version for n, s in self.registry.statements.items()},
            "emits": r.emits, "scan_from": scan_from,
        }
        state = pack_state(header, snaps)
        new = self.store.commit(r.pid, state, offsets, r.pending)
        r.counters["matches"] += len(r.pending)
        r.seq += 1
        r.counters["commits"] += 1
        r.commit_seconds += time.perf_counter() - t0
        r.state_bytes = len(state)
        self._trace({"ev": "commit", "pid": r.pid, "seq": r.seq, "offsets": offsets,
                     "watermarks": wms, "matches": len(r.pending), "new": new})
        emits, r.emits = r.emits, []
        r.pending = []
        r.since = 0
        r.dirty = False
        r.fresh = False
        r.last_commit = time.monotonic()
        if emits:
            self._append_emits(emits)
            for e in emits:
                late = str(e[2]["_cep"]["id"]).startswith("late:")
                r.counters["late_emitted" if late else "emitted"] += 1
        self._check_retention(r, offsets, ends)

    def _target_ends(self, target: str) -> list[int]:
        """End offsets of a derived stream, creating it (P partitions) if needed."""
        try:
            return self.log.end_offsets(target)
        except StreamNotFoundError:
            self.log.create_stream(target, self.nparts or 1)
            return self.log.end_offsets(target)

    def _append_emits(self, emits: Sequence[Sequence[Any]]) -> None:
        by_stream: dict[str, list[Sequence[Any]]] = {}
        for e in emits:
            by_stream.setdefault(e[0], []).append(e)
        for stream, items in by_stream.items():
            try:
                self.log.append(stream, [e[2] for e in items], [e[1] for e in items])
            except StreamNotFoundError:
                self._target_ends(stream)
                self.log.append(stream, [e[2] for e in items], [e[1] for e in items])

    def _recover_emits(self, emits: list[list[Any]], scan_from: dict[str, list[int]]) -> None:
        """After a crash: append the committed derived events the log does not hold yet."""
        missing: list[list[Any]] = []
        for target in sorted({e[0] for e in emits}):
            seen: set[str] = set()
            start = scan_from.get(target)
            try:
                nparts = self.log.partitions(target)
            except StreamNotFoundError:
                nparts = 0
            for p in range(nparts):
                pos = start[p] if start and p < len(start) else 0
                while True:
                    offs, evs = self._read(target, p, pos, 5000)
                    if not offs:
                        break
                    for ev in evs:
                        c = ev.get("_cep")
                        if isinstance(c, dict) and isinstance(c.get("id"), str):
                            seen.add(c["id"])
                    pos = offs[-1] + 1
            missing += [e for e in emits if e[0] == target and e[2]["_cep"]["id"] not in seen]
        if missing:
            log_.info("worker: appending %d derived event(s) committed before a crash",
                      len(missing))
            self._append_emits(missing)

    def _retention_of(self, stream: str) -> int | None:
        hit = self._retention.get(stream)
        now = time.monotonic()
        if hit is None or now - hit[0] > 10:
            hit = (now, self.log.retention(stream))
            self._retention[stream] = hit
        return hit[1]

    def _check_retention(self, r: PartitionRunner, offsets: dict[str, int],
                         ends: dict[str, list[int]]) -> None:
        """Falling-behind warning: the unread backlog nears the retention limit."""
        behind_by: dict[str, int] = {}
        for k, off in offsets.items():
            s = offset_stream(k)
            behind_by[s] = max(behind_by.get(s, 0), ends[s][r.p] - off)
        for s, behind in behind_by.items():
            ret = self._retention_of(s)
            if ret is None or behind < self.warn_ratio * ret:
                continue
            self.counters["falling_behind_warnings"] += 1
            log_.warning(
                "worker: partition %s of %s is falling behind: %d unread entries, retention "
                "%d (%.0f%%); the oldest unread entries will be trimmed soon",
                r.p, s, behind, ret, 100 * behind / ret)
            now = self.clock()
            last = self._alerted.get((s, r.p))
            if self.alert_stream and (last is None or now - last >= ALERT_EVERY_MS):
                self._alerted[(s, r.p)] = now
                alert = {"type": "falling_behind", "group": self.group, "stream": s,
                         "partition": r.p, "unread": behind, "retention": ret, "ts": now}
                try:
                    if self.alert_stream not in self.log.streams():
                        self.log.create_stream(self.alert_stream, 1)
                    self.log.append(self.alert_stream, [alert])
                    self.counters["alerts"] += 1
                except LogError as e:
                    log_.error("worker: cannot append alert: %s", e)

    # ------------------------------------------------------------ drain

    def caught_up(self) -> bool:
        """True when every owned partition has read to the end and committed everything."""
        if not self._started:
            return False
        ends = {s: self.log.end_offsets(s) for s in self.streams}
        for r in self.runners.values():
            if r.dirty or r.pending or r.emits:
                return False
            for g in r.groups.values():
                for s, off in g.offsets.items():
                    if off < ends[s][r.p]:
                        self._skip_hole(r, g, s, ends[s][r.p])  # deleted entries: skip them
                        return False
        return True

    def _skip_hole(self, r: PartitionRunner, g: EngineGroup, s: str, end: int) -> bool:
        """Entries [offset, end) that cannot be read were deleted: move past them."""
        off = g.offsets[s]
        offs, _ = self._read(s, r.p, off, 1)
        if offs:
            return False
        r.counters["skipped_entries"] += end - off
        g.offsets[s] = end
        g.drop_read_ahead()
        r.dirty = True
        return True

    def _skip_holes_if_idle(self) -> None:
        """Move idle partitions past deleted entries at the end of a stream."""
        ends: dict[str, list[int]] = {}
        for r in self.runners.values():
            if r.dirty:
                continue
            for g in r.groups.values():
                for s, off in list(g.offsets.items()):
                    if s not in ends:
                        ends[s] = self.log.end_offsets(s)
                    if off < ends[s][r.p] and s not in g.ahead and not g.buffers.get(s):
                        self._skip_hole(r, g, s, ends[s][r.p])

    # ------------------------------------------------------------ observability

    def _trace(self, rec: dict[str, Any]) -> None:
        if self._trace_fd is not None:
            rec["t"] = self.clock()
            rec["os_pid"] = os.getpid()
            os.write(self._trace_fd, orjson.dumps(rec) + b"\n")

    def stats(self) -> dict[str, Any]:
        """Per partition counters, offsets, watermarks and checkpoint cost."""
        parts = {}
        for p, r in sorted(self.runners.items()):
            c = r.counters["commits"]
            parts[str(p)] = {
                "partition_id": r.pid,
                "offsets": r.offsets(),
                "watermarks": r.watermarks(),
                **r.counters,
                "late": sum(g.engine.counters.get("late", 0) for g in r.groups.values()),
                "checkpoint_ms_mean": round(1000 * r.commit_seconds / c, 3) if c else None,
                "checkpoint_bytes": r.state_bytes,
            }
        return {
            "group": self.group,
            "partitions": parts,
            "statements": sorted(self.registry.statements),
            "errors": dict(self.errors),
            **self.counters,
        }
