"""The worker in process: same ids as the in-memory engine, restarts, derived events, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cep.bench.workloads import P1_RULE, p1_events
from cep.engine import Engine
from cep.lang.compiler import compile_text
from cep.log.base import Log, partition_of
from cep.log.memory import MemoryLog
from cep.log.sqlite import SqliteLog
from cep.store.base import Store
from cep.store.memory import MemoryStore
from cep.store.sqlite import SqliteStore
from cep.worker import Worker, pack_state, read_header, unpack_state
from tests.worker.kit import apply, expected_ids, produce, read_stream, stored_matches

P = 4


@pytest.fixture(params=["memory", "sqlite"])
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Log, Store]]:
    """A fresh log and store (memory or one SQLite file)."""
    if request.param == "memory":
        yield MemoryLog(), MemoryStore()
        return
    log, store = SqliteLog(tmp_path / "cep.db"), SqliteStore(tmp_path / "cep.db")
    yield log, store
    log.close()
    store.close()


@pytest.fixture(scope="module")
def p1() -> list[dict]:
    """A P1 workload with many bursts (about a thousand matches)."""
    return p1_events(30_000, 5_000, burst_share=0.4)


def ids_of(store: Store) -> list[str]:
    return [m["match_id"] for m in stored_matches(store)]


def test_drain_gives_the_in_memory_engines_matches(backends: tuple[Log, Store],
                                                   p1: list[dict]) -> None:
    log, store = backends
    apply(log, store, P1_RULE, P)
    produce(log, "payments", p1)
    w = Worker(log, store, checkpoint_every_events=1000)
    stats = w.run(drain=True)
    w.close()
    ids = ids_of(store)
    want = expected_ids(P1_RULE, "payments", p1, P)
    assert len(want) > 800
    assert len(ids) == len(set(ids)) and set(ids) == want
    assert sum(p["events"] for p in stats["partitions"].values()) == len(p1)
    assert store.outbox_depth() == len(want)  # one outbox entry per match, none twice
    for p in range(P):
        cp = store.load_checkpoint(f"worker:{p}")
        assert cp is not None and cp.offsets == {"payments": log.end_offsets("payments")[p]}


def test_restart_from_checkpoints_recreates_the_same_ids(backends: tuple[Log, Store],
                                                         p1: list[dict]) -> None:
    log, store = backends
    apply(log, store, P1_RULE, P)
    produce(log, "payments", p1)
    want = expected_ids(P1_RULE, "payments", p1, P)
    watermarks: dict[str, list[int]] = {}
    for _ in range(6):  # each "process" dies after a few batches, without a final commit
        w = Worker(log, store, checkpoint_every_events=700, batch_size=300, prefetch=False)
        w.start()
        for r in w.runners.values():
            cp = store.load_checkpoint(r.pid)
            if cp is not None:  # the restored watermark is the committed one
                assert r.watermark() == read_header(cp.state)["watermark"]
        for _ in range(7):
            w.step()
            w.checkpoint()
        for r in w.runners.values():
            cp = store.load_checkpoint(r.pid)
            if cp is not None:
                watermarks.setdefault(r.pid, []).append(read_header(cp.state)["watermark"])
        w.close()  # crash: processed but uncommitted events are simply lost
    w = Worker(log, store)
    w.run(drain=True)
    w.close()
    ids = ids_of(store)
    assert len(ids) == len(set(ids)) and set(ids) == want
    for pid, wms in watermarks.items():
        assert wms == sorted(wms), pid


def test_state_blob_roundtrip() -> None:
    blob = pack_state({"watermark": 5, "ring": [[1, 2, 3]]}, {"a": b'{"x":1}', "b+c": b"[]"})
    header, engines = unpack_state(blob)
    assert header["watermark"] == 5 and engines == {"a": b'{"x":1}', "b+c": b"[]"}
    assert read_header(blob)["ring"] == [[1, 2, 3]]
    with pytest.raises(ValueError):
        unpack_state(blob[:-1])
    assert read_header(b"garbage") == {}
    with pytest.raises(ValueError):
        unpack_state(b"garbage")


EMIT_RULES = """
STREAM payments (card_id STRING, amount FLOAT, ts INT) KEY card_id;
STREAM big_payments (card_id STRING, amount FLOAT, ts INT) KEY card_id;
SEARCH big FROM payments WHERE amount > 2500 EMIT card_id, amount THEN EMIT INTO big_payments;
SEARCH seen_big FROM big_payments WHERE amount > 0;
"""


def test_emit_into_appends_each_derived_event_once_across_crashes(
        backends: tuple[Log, Store], p1: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    log, store = backends
    apply(log, store, EMIT_RULES, P)
    produce(log, "payments", p1)
    n_big = sum(1 for e in p1 if e["amount"] > 2500)
    assert n_big > 20

    class Crash(BaseException):
        pass

    real = Worker._append_emits
    calls = {"n": 0}

    def crash_after_commit(self: Worker, emits: list) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash  # the commit holding these emits is durable, the append never ran
        real(self, emits)

    monkeypatch.setattr(Worker, "_append_emits", crash_after_commit)
    w = Worker(log, store, checkpoint_every_events=2000, prefetch=False)
    with pytest.raises(Crash):
        w.run(drain=True)
    w.close()
    monkeypatch.setattr(Worker, "_append_emits", real)
    # a second crash: after the append, before the next commit (the emits are still
    # pending in the checkpoint, so the restart must find them in the log and skip them)
    w = Worker(log, store, checkpoint_every_events=2000, prefetch=False)
    w.start()
    for _ in range(3):
        w.step()
        w.checkpoint()
    w.close()
    w = Worker(log, store)
    w.run(drain=True)
    w.close()
    derived = read_stream(log, "big_payments")
    ids = [e["_cep"]["id"] for e in derived]
    assert len(ids) == len(set(ids)) == n_big
    big_ids = {m["match_id"] for m in stored_matches(store, "big")}
    assert set(ids) == big_ids
    assert all(e["ts"] == e["_cep"]["end_ts"] and e["amount"] > 2500 for e in derived)
    for e in derived:  # routed by the declared KEY of the derived stream
        assert log.partition_for("big_payments", e["card_id"]) == log.partition_for(
            "payments", e["card_id"])
    # the derived stream feeds the statements reading it, each event once
    assert len(stored_matches(store, "seen_big")) == n_big


LATE_RULES = """
STREAM readings (sensor STRING, v FLOAT, ts INT) KEY sensor WATERMARK 5s
  LATE EVENTS TO late_readings;
RULE rising FROM readings PARTITION BY sensor PATTERN (a b) DEFINE b AS v > a.v;
"""


def test_late_events_go_to_their_stream_once(backends: tuple[Log, Store]) -> None:
    log, store = backends
    apply(log, store, LATE_RULES, 2)
    events = []
    for s in range(4):
        for t in (10_000, 7_000, 20_000, 1_000, 30_000, 40_000, 2_000):
            events.append({"sensor": f"s{s}", "v": t / 1000, "ts": t})
    produce(log, "readings", events, key="sensor")
    w = Worker(log, store, checkpoint_every_events=3)
    w.run(drain=True)
    w.close()
    late = read_stream(log, "late_readings")
    statements, specs = compile_text(LATE_RULES)  # what plain engines per partition set aside
    engines = [Engine(statements, specs, partition=p) for p in range(2)]
    for i, ev in enumerate(events):
        engines[partition_of(ev["sensor"], 2)].process(ev, i, "readings")
    want = [(t, e["sensor"], e["ts"]) for eng in engines for t, e in eng.take_late()]
    assert len(want) >= 8 and {t for t, _, _ in want} == {"late_readings"}
    assert sorted((e["sensor"], e["ts"]) for e in late) == sorted(x[1:] for x in want)
    assert len({e["_cep"]["id"] for e in late}) == len(late)
    assert all(e["_cep"]["late_from"] == "readings" for e in late)


MERGE_RULES = """
STREAM logins (user STRING, ts INT) KEY user;
STREAM transfers (user STRING, amount FLOAT, ts INT) KEY user;
RULE login_then_transfer FROM logins, transfers PARTITION BY user
PATTERN (l t) DEFINE l FROM logins, t FROM transfers WHERE amount > 100 WITHIN 1h;
"""


def test_two_streams_are_merged_by_event_time_deterministically(tmp_path: Path) -> None:
    import random

    rng = random.Random(3)
    logins = [{"user": f"u{rng.randrange(50)}", "ts": rng.randrange(1_000_000)}
              for _ in range(3000)]
    transfers = [{"user": f"u{rng.randrange(50)}", "amount": rng.uniform(0, 300),
                  "ts": rng.randrange(1_000_000)} for _ in range(3000)]
    logins.sort(key=lambda e: e["ts"])
    transfers.sort(key=lambda e: e["ts"])
    results = []
    for crash in (False, True):
        path = tmp_path / f"{crash}.db"
        log, store = SqliteLog(path), SqliteStore(path)
        apply(log, store, MERGE_RULES, 2)
        produce(log, "logins", logins, key="user")
        produce(log, "transfers", transfers, key="user")
        if crash:
            for _ in range(4):
                w = Worker(log, store, checkpoint_every_events=250, batch_size=100)
                w.start()
                for _ in range(5):
                    w.step()
                    w.checkpoint()
                w.close()
        w = Worker(log, store)
        w.run(drain=True)
        w.close()
        results.append(ids_of(store))
        log.close()
        store.close()
    assert len(results[0]) > 100
    assert sorted(results[0]) == sorted(results[1])


def test_a_lost_connection_restarts_from_the_checkpoints(tmp_path: Path, p1: list[dict],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    log, store = SqliteLog(tmp_path / "c.db"), SqliteStore(tmp_path / "c.db")
    apply(log, store, P1_RULE, P)
    produce(log, "payments", p1)
    real = store.commit
    calls = {"n": 0}

    def flaky(*a: object, **k: object) -> int:
        calls["n"] += 1
        if calls["n"] in (3, 4):
            raise redis.exceptions.ConnectionError("connection refused (test)")
        return real(*a, **k)  # type: ignore[arg-type]

    store.commit = flaky  # type: ignore[method-assign]
    w = Worker(log, store, checkpoint_every_events=1500)
    stats = w.run(drain=True)
    w.close()
    assert stats["recoveries"] == 2
    assert "restarting from the checkpoints" in caplog.text
    ids = ids_of(store)
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids(P1_RULE, "payments", p1, P)


def test_streams_with_another_partition_count_are_not_consumed() -> None:
    log, store = MemoryLog(), MemoryStore()
    apply(log, store, P1_RULE, 4)
    log.create_stream("other", 2)
    apply(log, store, "SEARCH o FROM other WHERE x > 1;", partitions=None)
    w = Worker(log, store)
    w.start()
    assert w.nparts == 4 and w.streams == ["payments"]
    assert "2 partitions" in w.errors["o"]
    w.close()


def test_a_statement_on_a_stream_with_history_starts_at_its_end() -> None:
    log, store = MemoryLog(), MemoryStore()
    apply(log, store, P1_RULE, 2)
    produce(log, "payments", [{"card_id": "c1", "amount": 10.0, "ts": 1}])
    w = Worker(log, store)
    w.run(drain=True)  # committed: no longer a fresh deployment
    log.create_stream("listings", 2)
    old = [{"id": i, "price": 100, "ts": i} for i in range(10)]
    produce(log, "listings", old, key="id")
    apply(log, store, "SEARCH cheap FROM listings WHERE price < 500;", partitions=2)
    w.refresh_statements()
    produce(log, "listings", [{"id": 99, "price": 1, "ts": 99}], key="id")
    w.run(drain=True)
    w.close()
    got = stored_matches(store, "cheap")
    assert [m["bindings"]["event"][0]["id"] for m in got] == [99]


def test_restored_partial_matches_keep_events_of_several_streams_apart() -> None:
    text = """STREAM a (k STRING, ts INT) KEY k; STREAM b (k STRING, ts INT) KEY k;
    RULE r FROM a, b PARTITION BY k PATTERN (x y z) DEFINE x FROM a, y FROM b, z FROM a;"""
    statements, specs = compile_text(text)
    live = Engine(statements, specs)
    live.process({"k": "1", "ts": 1, "who": "a0"}, 0, "a")
    live.process({"k": "1", "ts": 2, "who": "b0"}, 0, "b")  # same offset, other stream
    restored = Engine(statements, specs)
    restored.restore(live.snapshot())
    got = []
    for eng in (live, restored):
        eng.process({"k": "1", "ts": 3, "who": "a1"}, 1, "a")
        (m,) = eng.take()
        got.append((m.match_id, m.bindings["y"][0]["who"]))
    assert got[0] == got[1] == (got[0][0], "b0")
