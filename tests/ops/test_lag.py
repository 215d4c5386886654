"""Lag: Burrow's evaluator cases, a paused consumer, unknown lag, the falling-behind warning."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cep.bench.workloads import P1_RULE, p1_events
from cep.cli_ops import status_doc
from cep.lag import (
    CommitSample,
    Status,
    evaluate,
    lag_always_nonzero,
    lag_not_decreasing,
    offsets_rewind,
    offsets_stalled,
    offsets_stopped,
    partition_lag,
    recent_lag_zero,
)
from cep.log.memory import MemoryLog
from cep.log.redis import RedisLog
from cep.log.sqlite import SqliteLog
from cep.store.memory import MemoryStore
from cep.store.redis import RedisStore
from cep.store.redisproc import RedisServer
from cep.store.sqlite import SqliteStore
from cep.worker import Worker
from tests.worker.kit import apply, produce, read_stream


def ring(*rows: tuple[int, int, int | None]) -> list[CommitSample]:
    """(offset, timestamp ms, lag) rows, as Burrow's tests write them."""
    return [CommitSample(at_ms=t, offset=o, lag=lag) for o, t, lag in rows]


LINEAR_ZERO_FIRST = ring((1000, 100000, 0), (2000, 200000, 50), (3000, 300000, 100),
                         (4000, 400000, 150), (5000, 500000, 200))
LINEAR_NONZERO = ring((1000, 100000, 50), (2000, 200000, 100), (3000, 300000, 150),
                      (4000, 400000, 200), (5000, 500000, 250))
FROZEN = [(1000, t, 0) for t in (100000, 200000, 300000, 400000, 500000)]
SECONDS = [(792748079 + i, 1512224618356 + ms, 0) for i, ms in enumerate(
    (0, 1006, 2010, 3011, 4014, 5017, 6022, 7023, 8027, 9027, 10027, 11032, 12035, 13038,
     14041))]

# Burrow's evaluator cases (core/internal/evaluator/caching_test.go), ported as data:
# (window, end offsets seen recently, current lag, now in ms,
#  always-nonzero, rewind, stopped, stalled, not-decreasing, recent-zero, status)
BURROW = [
    # 0: OK, zero lag somewhere in the window
    (LINEAR_ZERO_FIRST, [5200], 200, 600_000, False, False, False, False, True, False, "OK"),
    # 1: not stopped: 400 s since the last commit is equal to, not more than, the window
    (LINEAR_ZERO_FIRST, [5200], 200, 900_000, False, False, False, False, True, False, "OK"),
    # 2: STOP: 500 s since the last commit, even with zero lag at the start (#290)
    (LINEAR_ZERO_FIRST, [5200], 200, 1_000_000, False, False, True, False, True, False,
     "STOP"),
    # 3: STOP with lag always non-zero as well
    (LINEAR_NONZERO, [5250], 250, 1_000_000, True, False, True, False, True, False, "STOP"),
    # 4: OK because of zero lag, although the offset never moved
    (ring(*[(o, t, lag) for (o, t, _), lag in zip(FROZEN, (0, 50, 100, 150, 200))]), [1200],
     200, 600_000, False, False, False, True, True, False, "OK"),
    # 5: STALL: the offset never moved and the lag was never zero
    (ring(*[(o, t, lag) for (o, t, _), lag in zip(FROZEN, (100, 150, 200, 250, 300))]),
     [1300], 300, 600_000, True, False, False, True, True, False, "STALL"),
    # 6: STALL even when the lag stays the same
    (ring(*[(o, t, 100) for o, t, _ in FROZEN]), [1100], 100, 600_000, True, False, False,
     True, True, False, "STALL"),
    # 7: REWIND: the offset went back, although the lag decreased
    (ring((1000, 100000, 100), (2000, 200000, 150), (3000, 300000, 200), (2000, 400000, 1250),
          (4000, 500000, 300)), [4300], 300, 600_000, True, True, False, False, False, False,
     "REWIND"),
    # 8: OK because the current lag is 0, although it would be stopped
    (LINEAR_NONZERO, [5250], 0, 1_000_000, True, False, True, False, True, False, "OK"),
    # 9: STOP: current lag non-zero (new data), lag always zero in the window (#290)
    (ring(*SECONDS), [792749024, 792749000, 792748800, 792748600, 792748500], 931,
     1_512_224_650_000, False, False, True, False, True, False, "STOP"),
    # 10: OK: would be stopped, but a recent end offset shows it had caught up (#303)
    (ring(*SECONDS), [792748094, 792748093, 792748093, 792748093], 1, 1_512_224_650_000,
     False, False, True, False, True, True, "OK"),
    # 11: case 0 with unknown (nil) lags in between, which change nothing
    (ring((1000, 100000, 0), (1500, 150000, None), (2000, 200000, 50), (2500, 250000, None),
          (3000, 300000, 100), (3500, 350000, None), (4000, 400000, 150),
          (4500, 450000, None), (5000, 500000, 200), (5500, 550000, None)), [5700], 200,
     600_000, False, False, False, False, True, False, "OK"),
    # the anchor's extra cases: a consumer catching up (high lag, falling) is OK ...
    (ring((1000, 100000, 900), (2000, 200000, 700), (3000, 300000, 500), (4000, 400000, 300)),
     [4300], 300, 450_000, True, False, False, False, False, False, "OK"),
    # ... and one whose offsets advance while the lag never decreases is a WARNING
    (ring((1000, 100000, 100), (2000, 200000, 100), (3000, 300000, 120), (4000, 400000, 150)),
     [4150], 150, 450_000, True, False, False, False, True, False, "WARNING"),
]


@pytest.mark.parametrize("case", range(len(BURROW)))
def test_burrow_evaluator_cases(case: int) -> None:
    window, ends, lag, now, nonzero, rewind, stopped, stalled, notdec, recent, status = \
        BURROW[case]
    assert lag_always_nonzero(window) is nonzero
    assert offsets_rewind(window) is rewind
    assert offsets_stopped(window, now) is stopped
    assert offsets_stalled(window) is stalled
    assert lag_not_decreasing(window) is notdec
    assert recent_lag_zero(window, ends) is recent
    assert evaluate(window, lag, now, ends) == Status[status]


def test_unknown_current_lag_still_counts_as_lag() -> None:
    window = BURROW[3][0]
    assert evaluate(window, None, 1_000_000) == Status.STOP
    assert evaluate([], 5, 0) == Status.OK  # nothing to evaluate


class Clock:
    """A settable millisecond clock for the worker's commit ring."""

    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        self.now += 1000  # every commit is a second after the previous one
        return self.now


def test_a_paused_consumer_is_reported_behind_then_stopped(tmp_path: Path) -> None:
    log, store = SqliteLog(tmp_path / "l.db"), SqliteStore(tmp_path / "l.db")
    apply(log, store, P1_RULE, 2)
    events = p1_events(6000, 500)
    produce(log, "payments", events[:3000])
    clock = Clock()
    w = Worker(log, store, checkpoint_every_events=500, batch_size=250, clock=clock)
    w.run(drain=True)
    w.close()
    last = clock.now
    produce(log, "payments", events[3000:])  # the worker is paused: nobody reads these
    ends = log.end_offsets("payments")
    for p in range(2):
        cp = store.load_checkpoint(f"worker:{p}")
        assert cp is not None
        behind = ends[p] - cp.offsets["payments"]
        assert behind > 0
        soon = partition_lag(log, store, f"worker:{p}", p, now=last + 100)
        assert soon.lag_entries == behind and soon.status == "OK"  # was caught up recently
        assert soon.event_time_lag_ms is not None and soon.event_time_lag_ms > 0
        late = partition_lag(log, store, f"worker:{p}", p, now=last + 3_600_000)
        assert late.lag_entries == behind and late.status == "STOP"
    doc = status_doc(log, store, "worker")
    assert sum(p["lag_entries"] for p in doc["partitions"]) == 3000
    log.close()
    store.close()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server for this module."""
    srv = RedisServer(tmp_path_factory.mktemp("lag-redis")).start()
    yield srv.url
    srv.stop()


def test_xdel_in_the_unread_range_makes_lag_unknown_until_read_past(redis_url: str) -> None:
    log, store = RedisLog(redis_url, prefix="lagx"), RedisStore(redis_url, prefix="lagx")
    apply(log, store, "SEARCH any FROM s WHERE v >= 0;", 1)
    produce(log, "s", [{"v": i, "ts": i} for i in range(100)], key=None)
    w = Worker(log, store)
    w.run(drain=True)
    produce(log, "s", [{"v": i, "ts": i} for i in range(100, 150)], key=None)
    key = log._keys("s", 0)[0]
    log.r.xdel(key, "10-1")  # in the read range: harmless
    assert partition_lag(log, store, "worker:0", 0).lag_entries == 50
    log.r.xdel(key, "120-1")  # in the unread range: Redis would say NULL
    got = partition_lag(log, store, "worker:0", 0)
    assert got.lag_entries is None and "XDEL" in (got.streams[0].unknown_reason or "")
    assert got.status != "OK" or got.lag_entries is None  # never a made-up 0
    w.run(drain=True)  # reading past the hole heals it
    w.close()
    healed = partition_lag(log, store, "worker:0", 0)
    assert healed.lag_entries == 0 and healed.status == "OK"
    assert len(store.list_matches("any", None, 1000)[0]) == 149  # 150 minus the deleted one
    log.close()
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_trimmed_unread_entries_make_lag_unknown(backend: str, tmp_path: Path,
                                                 redis_url: str) -> None:
    if backend == "sqlite":
        log, store = SqliteLog(tmp_path / "t.db"), SqliteStore(tmp_path / "t.db")
    else:
        log, store = RedisLog(redis_url, prefix="lagt"), RedisStore(redis_url, prefix="lagt")
    apply(log, store, "SEARCH any FROM t WHERE v >= 0;", 1)
    produce(log, "t", [{"v": i, "ts": i} for i in range(40)], key=None)
    w = Worker(log, store)
    w.run(drain=True)
    produce(log, "t", [{"v": i, "ts": i} for i in range(40, 80)], key=None)
    log.trim("t", 0, 50)  # 40..49 were never read
    got = partition_lag(log, store, "worker:0", 0)
    assert got.lag_entries is None and "trimmed" in (got.streams[0].unknown_reason or "")
    stats = w.run(drain=True)
    w.close()
    assert stats["partitions"]["0"]["skipped_entries"] == 10
    assert partition_lag(log, store, "worker:0", 0).lag_entries == 0
    log.close()
    store.close()


def test_falling_behind_warns_before_retention_trims(caplog: pytest.LogCaptureFixture) -> None:
    log, store = MemoryLog(), MemoryStore()
    apply(log, store, "SEARCH any FROM r WHERE v >= 0;", 1, retention=100)
    produce(log, "r", [{"v": i, "ts": i} for i in range(95)], key=None)
    w = Worker(log, store, batch_size=10, checkpoint_every_events=10, prefetch=False)
    with caplog.at_level(logging.WARNING, "cep.worker"):
        w.start()  # the first commit pins the start: 95 unread
        w.step()
        w.checkpoint()  # 85 unread: still within 20% of the retention limit
    assert w.counters["falling_behind_warnings"] == 2
    assert "falling behind: 85 unread entries, retention 100" in caplog.text
    alerts = read_stream(log, "cep_alerts")  # one alert event per minute and partition
    assert [(a["type"], a["stream"], a["unread"]) for a in alerts] == [("falling_behind", "r", 95)]
    lag = partition_lag(log, store, "worker:0", 0)
    assert lag.near_retention and lag.lag_entries == 85
    assert log.first_offsets("r") == [0], "nothing was trimmed yet"
    w.run(drain=True)
    w.close()
    assert not partition_lag(log, store, "worker:0", 0).near_retention
    assert len(read_stream(log, "cep_alerts")) == 1  # rate-limited, and caught up since
