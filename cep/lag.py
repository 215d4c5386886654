"""Consumer lag: per partition offsets, entries and event time behind, and a Burrow status.

Why: a worker that falls behind loses data once retention trims what it has not read, and
a stopped worker looks exactly like an idle one unless commits are tracked over time. The
worker records, in every checkpoint, a small ring of its recent commits (commit time,
committed offset, end offset at that moment: what Burrow stores per commit); this module
turns the ring plus the log's current offsets into:

* `lag_entries`: entries still to read (end offset - committed offset), or **None when it
  cannot be known**, never a made-up 0: entries in the unread range were trimmed (first
  retained offset > committed offset) or, on Redis, deleted (`XDEL`; detected with the
  stream's `max-deleted-entry-id`, the same condition that makes Redis report a NULL
  consumer-group lag). It heals by itself once the worker has read past the hole;
* `event_time_lag_ms`: event time of the newest entry minus the committed watermark;
* `status`: Burrow's evaluator (OK, WARNING, STALL, STOP, REWIND), see `evaluate`;
* `near_retention`: the unread backlog fills at least `warn_ratio` of the retention limit,
  so the oldest unconsumed entry is about to be trimmed (the falling-behind warning).

Offsets of a partition that reads several streams are summed over its streams for the
evaluator (each stream's offsets only grow, so the sum does too).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import orjson

from cep.log.base import Log
from cep.store.base import Store, now_ms

__all__ = [
    "DEFAULT_WARN_RATIO",
    "RING_SIZE",
    "CommitSample",
    "PartitionLag",
    "Status",
    "StreamLag",
    "evaluate",
    "group_report",
    "lag_always_nonzero",
    "lag_not_decreasing",
    "offsets_rewind",
    "offsets_stalled",
    "offsets_stopped",
    "partition_lag",
    "recent_lag_zero",
]

RING_SIZE = 10  # commits kept per partition (Burrow's default `intervals`)
DEFAULT_WARN_RATIO = 0.8  # warn when the unread backlog reaches 80% of retention


class Status(enum.IntEnum):
    """Burrow's partition statuses, ordered by severity (worst last)."""

    OK = 0
    WARNING = 1
    STALL = 2
    STOP = 3
    REWIND = 4


@dataclass(frozen=True)
class CommitSample:
    """One commit as the evaluator sees it; `lag` None means unknown (skipped by rule 5)."""

    at_ms: int
    offset: int
    lag: int | None


def lag_always_nonzero(ring: Sequence[CommitSample]) -> bool:
    """Rule 1: OK if the lag was zero at any commit in the window."""
    return all(c.lag is None or c.lag != 0 for c in ring)


def offsets_rewind(ring: Sequence[CommitSample]) -> bool:
    """Rule 2: the committed offset went backwards."""
    return any(b.offset < a.offset for a, b in pairwise(ring))


def offsets_stopped(ring: Sequence[CommitSample], now: int) -> bool:
    """Rule 3: no commit for longer than the window spans."""
    first, last = ring[0].at_ms, ring[-1].at_ms
    return now - last > last - first


def offsets_stalled(ring: Sequence[CommitSample]) -> bool:
    """Rule 4: the same offset committed over the whole window."""
    return all(b.offset == a.offset for a, b in pairwise(ring))


def lag_not_decreasing(ring: Sequence[CommitSample]) -> bool:
    """Rule 5: offsets move but the (known) lag never went down."""
    last: int | None = None
    for c in ring:
        if c.lag is None:
            continue
        if last is not None and c.lag < last:
            return False
        last = c.lag
    return True


def recent_lag_zero(ring: Sequence[CommitSample], end_offsets: Sequence[int]) -> bool:
    """The last committed offset reached one of the recently seen end offsets."""
    last = ring[-1].offset
    return any(e <= last for e in end_offsets)


def evaluate(
    ring: Sequence[CommitSample], current_lag: int | None, now: int,
    end_offsets: Sequence[int] = (),
) -> Status:
    """Burrow's partition status over a window of commits (oldest first), times in ms.

    As Burrow's caching evaluator: no lag now → OK. Otherwise STOP if the partition has
    not committed for longer than the window spans (unless a recently seen end offset
    shows it had caught up); then, only if the lag was non-zero at every commit: REWIND
    if the offset went backwards, STALL if it never moved, WARNING if the lag never
    decreased; else OK. An unknown current lag counts as lag (there is unread data).
    """
    if not ring or current_lag == 0:
        return Status.OK
    if offsets_stopped(ring, now) and not recent_lag_zero(ring, end_offsets):
        return Status.STOP
    if lag_always_nonzero(ring):
        if offsets_rewind(ring):
            return Status.REWIND
        if offsets_stalled(ring):
            return Status.STALL
        if lag_not_decreasing(ring):
            return Status.WARNING
    return Status.OK


# ------------------------------------------------------------------ reporting


@dataclass
class StreamLag:
    """One stream partition as one worker partition consumes it."""

    stream: str
    end_offset: int
    first_offset: int
    committed_offset: int | None  # next offset to read; None: never committed
    lag_entries: int | None  # None: unknown (see unknown_reason)
    unknown_reason: str | None = None
    retention: int | None = None
    near_retention: bool = False


@dataclass
class PartitionLag:
    """A worker partition's lag over every stream it reads, and its status."""

    partition: int
    partition_id: str
    committed_at: int | None
    commits: int
    lag_entries: int | None
    event_time_lag_ms: int | None
    watermark: int | None
    status: str
    near_retention: bool
    streams: list[StreamLag] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def deleted_in_range(log: Log, stream: str, partition: int, lo: int, hi: int) -> bool:
    """True if an entry with lo <= offset < hi was deleted out of order (Redis XDEL)."""
    from cep.log.redis import RedisLog

    if not isinstance(log, RedisLog) or lo >= hi:
        return False
    key = log._keys(stream, partition)[0]
    raw = log.r.execute_command("XINFO", "STREAM", key)
    info = dict(zip(raw[::2], raw[1::2]))
    mid = info.get(b"max-deleted-entry-id") or b"0-0"
    off = int(mid.split(b"-")[0])
    if mid == b"0-0":
        return False
    return lo <= off < hi


def _newest_time(log: Log, stream: str, partition: int, end: int, first: int,
                 spec: Any) -> int | None:
    if end <= first:
        return None
    got = log.read(stream, partition, max(first, end - 1), 1)
    if not got:
        return None
    return spec.time(got[-1][1]) if spec is not None else None


def partition_lag(
    log: Log,
    store: Store,
    partition_id: str,
    partition: int,
    streams: Sequence[str] = (),
    specs: dict[str, Any] | None = None,
    now: int | None = None,
    warn_ratio: float = DEFAULT_WARN_RATIO,
) -> PartitionLag:
    """Lag and status of one worker partition (its checkpoint plus the log's offsets).

    `streams` adds streams the partition should read even if it never committed them.
    """
    from cep.lang.compiler import StreamSpec
    from cep.worker import offset_stream, read_header

    now = now_ms() if now is None else now
    specs = specs or {}
    cp = store.load_checkpoint(partition_id)
    header = read_header(cp.state) if cp is not None else {}
    offsets: dict[str, int] = {}
    for k, v in (cp.offsets if cp is not None else {}).items():
        s = offset_stream(k)  # a stream read by several engine groups: the slowest counts
        offsets[s] = min(offsets.get(s, v), v)
    names = sorted(set(offsets) | set(streams))
    log_streams = log.streams()
    out: list[StreamLag] = []
    total: int | None = 0
    offset_total = 0
    newest: int | None = None
    for s in names:
        if s not in log_streams or partition >= log_streams[s]:
            continue
        end = log.end_offsets(s)[partition]
        first = log.first_offsets(s)[partition]
        committed = offsets.get(s)
        start = first if committed is None else committed
        lag: int | None = max(0, end - start)
        reason = None
        if committed is not None and first > committed:
            lag, reason = None, f"entries {committed}..{first - 1} were trimmed before being read"
        elif deleted_in_range(log, s, partition, start, end):
            lag, reason = None, "entries in the unread range were deleted (XDEL)"
        ret = log.retention(s)
        near = ret is not None and end - start >= warn_ratio * ret
        out.append(StreamLag(s, end, first, committed, lag, reason, ret, near))
        total = None if total is None or lag is None else total + lag
        offset_total += max(0, end - start)
        t = _newest_time(log, s, partition, end, first, specs.get(s) or StreamSpec(s))
        if t is not None and (newest is None or t > newest):
            newest = t
    ring = [CommitSample(at, off, end - off) for at, off, end in header.get("ring", [])]
    current = total if total is not None else offset_total
    if ring:
        # The only fresh end offset is today's (the ring's were seen at commit time, as
        # stale as the commits): `recent_lag_zero` then means "caught up now".
        ends_now = {x.stream: x.end_offset for x in out}
        end_sum = sum(ends_now.get(offset_stream(k), 0) for k in cp.offsets) if cp else 0
        status = evaluate(ring, current, now, [end_sum])
    else:  # never committed: nothing to evaluate, and unread data means no consumer
        status = Status.OK if offset_total == 0 else Status.STOP
    wm = header.get("watermark")
    return PartitionLag(
        partition=partition,
        partition_id=partition_id,
        committed_at=cp.committed_at if cp is not None else None,
        commits=cp.seq if cp is not None else 0,
        lag_entries=total,
        event_time_lag_ms=None if newest is None or wm is None else max(0, newest - wm),
        watermark=wm,
        status=status.name,
        near_retention=any(x.near_retention for x in out),
        streams=out,
    )


def group_report(
    log: Log, store: Store, group: str, streams: Sequence[str] = (),
    specs: dict[str, Any] | None = None, now: int | None = None,
    warn_ratio: float = DEFAULT_WARN_RATIO,
) -> list[PartitionLag]:
    """Lag of every partition of worker group `group` (committed or expected)."""
    log_streams = log.streams()
    counts = {log_streams[s] for s in streams if s in log_streams}
    parts: set[int] = set(range(max(counts))) if counts else set()
    prefix = f"{group}:"
    for pid in store.checkpoint_ids():
        if pid.startswith(prefix) and pid[len(prefix):].isdigit():
            parts.add(int(pid[len(prefix):]))
    return [
        partition_lag(log, store, f"{group}:{p}", p, streams, specs, now, warn_ratio)
        for p in sorted(parts)
    ]


def dumps(reports: Sequence[PartitionLag]) -> bytes:
    """JSON of a report list."""
    return orjson.dumps([r.to_dict() for r in reports])
