"""The Log contract, run unchanged on memory, SQLite and Redis (see conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

import pytest

from cep.errors import EventError
from cep.log.base import (
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_EVENT_DEPTH,
    Log,
    LogError,
    PartitionCountError,
    StreamNotFoundError,
    partition_of,
)

from .conftest import Backend

REPO = Path(__file__).resolve().parents[2]


def payments(n: int, cards: int = 20, start: int = 0) -> tuple[list[dict], list[str]]:
    evs = [
        {"card_id": f"c{i % cards}", "amount": round(1.5 + i % 700, 2), "ts": 1000 * i, "i": i}
        for i in range(start, start + n)
    ]
    return evs, [e["card_id"] for e in evs]


def read_all(log: Log, stream: str, partition: int, batch: int = 1000) -> list[tuple[int, dict]]:
    out: list[tuple[int, dict]] = []
    pos = 0
    while True:
        got = log.read(stream, partition, pos, batch)
        if not got:
            return out
        out += got
        pos = got[-1][0] + 1


def nested(depth: int) -> dict:
    ev: dict = {"leaf": 1}
    for _ in range(depth - 1):
        ev = {"n": ev}
    return ev


# ------------------------------------------------------------------ streams


def test_create_stream_is_idempotent_and_partition_count_fixed(log: Log) -> None:
    log.create_stream("payments", 4)
    log.create_stream("payments", 4)
    log.create_stream("clicks", 1)
    assert log.streams() == {"payments": 4, "clicks": 1}
    assert log.partitions("payments") == 4
    with pytest.raises(PartitionCountError):
        log.create_stream("payments", 8)
    assert log.streams()["payments"] == 4
    assert log.end_offsets("payments") == [0, 0, 0, 0]
    assert log.first_offsets("payments") == [0, 0, 0, 0]


@pytest.mark.parametrize("name", ["", "a{b}", "has space", "x" * 129, "ü", "-lead"])
def test_invalid_stream_names_are_refused(log: Log, name: str) -> None:
    with pytest.raises(LogError):
        log.create_stream(name, 1)


@pytest.mark.parametrize("parts", [0, -1, 10_000])
def test_invalid_partition_counts_are_refused(log: Log, parts: int) -> None:
    with pytest.raises(LogError):
        log.create_stream("s", parts)


def test_unknown_stream(log: Log) -> None:
    for call in (
        lambda: log.append("nope", [{"a": 1}]),
        lambda: log.read("nope", 0, 0, 10),
        lambda: log.end_offsets("nope"),
        lambda: log.first_offsets("nope"),
        lambda: log.partition_for("nope", "k"),
        lambda: log.trim("nope", 0, 1),
    ):
        with pytest.raises(StreamNotFoundError):
            call()


# ------------------------------------------------------------------ offsets and partitions


def test_offsets_are_contiguous_and_increasing_per_partition(log: Log) -> None:
    log.create_stream("payments", 4)
    seen: dict[int, list[int]] = defaultdict(list)
    sent: dict[int, list[dict]] = defaultdict(list)
    start = 0
    for size in (1, 7, 100, 1, 250, 3):
        evs, keys = payments(size, start=start)
        start += size
        res = log.append("payments", evs, keys)
        assert len(res) == size
        for (p, off), ev in zip(res, evs):
            seen[p].append(off)
            sent[p].append(ev)
    for p, offs in seen.items():
        assert offs == list(range(len(offs))), f"partition {p}"
    assert log.end_offsets("payments") == [len(seen.get(p, [])) for p in range(4)]
    for p in range(4):
        assert read_all(log, "payments", p, batch=37) == list(enumerate(sent.get(p, [])))


def test_same_key_same_partition_across_instances(backend: Backend) -> None:
    log1 = backend.log
    log1.create_stream("payments", 8)
    evs, keys = payments(200, cards=30)
    res1 = log1.append("payments", evs, keys)
    by_key: dict[str, set[int]] = defaultdict(set)
    for k, (p, _) in zip(keys, res1):
        by_key[k].add(p)
    assert all(len(ps) == 1 for ps in by_key.values())
    assert len({next(iter(ps)) for ps in by_key.values()}) > 1  # keys actually spread
    log2, _ = backend.open()
    res2 = log2.append("payments", evs, keys)
    assert [p for p, _ in res2] == [p for p, _ in res1]
    for k, ps in by_key.items():
        assert log2.partition_for("payments", k) == next(iter(ps))
        assert partition_of(k, 8) == next(iter(ps))


def test_partition_hash_is_pinned() -> None:
    """Changing the hash would move keys between partitions of existing data: never do it."""
    assert [partition_of(f"c{i}", 8) for i in range(8)] == [3, 1, 0, 4, 4, 2, 7, 1]
    assert partition_of(42, 16) == partition_of(42, 16)
    assert partition_of({"b": 1, "a": 2}, 16) == partition_of({"a": 2, "b": 1}, 16)
    assert partition_of(["x", 1], 1000) == partition_of(("x", 1), 1000)


def test_keyless_events_are_spread_deterministically(backend: Backend) -> None:
    log = backend.log
    log.create_stream("s", 4)
    evs = [{"i": i} for i in range(100)]
    res = log.append("s", evs)
    assert len({p for p, _ in res}) == 4
    log2, _ = backend.open()
    assert [p for p, _ in log2.append("s", evs, None)] == [p for p, _ in res]


def test_concurrent_appends_keep_offsets_contiguous(backend: Backend) -> None:
    logs = [backend.log, backend.open()[0]]  # two instances: like two producer processes
    logs[0].create_stream("s", 2)
    results: list[list[tuple[int, int]]] = []
    errors: list[BaseException] = []

    def produce(log: Log, t: int) -> None:
        try:
            for b in range(20):
                evs = [{"t": t, "b": b, "j": j} for j in range(10)]
                results.append(log.append("s", evs, [j % 3 for j in range(10)]))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=produce, args=(logs[t % 2], t)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    offs: dict[int, list[int]] = defaultdict(list)
    for res in results:
        for p, o in res:
            offs[p].append(o)
    for p, lst in offs.items():
        assert sorted(lst) == list(range(len(lst))), f"partition {p}"
    assert sum(logs[0].end_offsets("s")) == 800


# ------------------------------------------------------------------ reading


def test_read_from_an_offset_with_batch_limits(log: Log) -> None:
    log.create_stream("one", 1)
    evs = [{"i": i} for i in range(50)]
    log.append("one", evs, ["k"] * 50)
    got = log.read("one", 0, 10, 5)
    assert got == [(i, {"i": i}) for i in range(10, 15)]
    assert log.read("one", 0, 48, 100) == [(48, {"i": 48}), (49, {"i": 49})]
    assert log.read("one", 0, 50, 100) == []
    assert log.read("one", 0, 10_000, 1) == []
    assert len(log.read("one", 0, 0, 1000)) == 50
    for bad in ((0, -1, 5), (0, 0, 0), (1, 0, 5), (-1, 0, 5)):
        with pytest.raises(LogError):
            log.read("one", *bad)


def test_end_and_first_offsets(log: Log) -> None:
    log.create_stream("s", 3)
    assert log.end_offsets("s") == [0, 0, 0]
    assert log.first_offsets("s") == [0, 0, 0]
    res = log.append("s", [{"i": i} for i in range(30)], [i % 7 for i in range(30)])
    counts = [sum(1 for p, _ in res if p == q) for q in range(3)]
    assert log.end_offsets("s") == counts
    assert log.first_offsets("s") == [0, 0, 0]


# ------------------------------------------------------------------ trimming and retention


def test_trim(log: Log) -> None:
    log.create_stream("one", 1)
    log.append("one", [{"i": i} for i in range(20)], ["k"] * 20)
    assert log.trim("one", 0, 5) == 5
    assert log.first_offsets("one") == [5]
    assert log.end_offsets("one") == [20]
    assert log.read("one", 0, 0, 3) == [(5, {"i": 5}), (6, {"i": 6}), (7, {"i": 7})]
    assert log.trim("one", 0, 3) == 0  # already gone
    assert log.trim("one", 0, 1000) == 15  # clamps at the end offset
    assert log.first_offsets("one") == [20]
    assert log.read("one", 0, 0, 10) == []
    assert log.append("one", [{"i": 20}], ["k"]) == [(0, 20)]  # offsets never reused
    assert log.first_offsets("one") == [20]
    assert log.read("one", 0, 0, 10) == [(20, {"i": 20})]
    with pytest.raises(LogError):
        log.trim("one", 1, 5)


def test_retention_keeps_the_newest_entries(log: Log) -> None:
    log.create_stream("r", 1, retention=10)
    assert log.retention("r") == 10
    for b in range(5):
        log.append("r", [{"i": 5 * b + j} for j in range(5)], ["k"] * 5)
    assert log.end_offsets("r") == [25]
    assert log.first_offsets("r") == [15]
    assert [o for o, _ in log.read("r", 0, 0, 100)] == list(range(15, 25))
    log.create_stream("r", 1, retention=4)  # tightening applies at once
    assert log.retention("r") == 4
    assert log.first_offsets("r") == [21]
    log.create_stream("r", 1, retention=None)
    assert log.retention("r") is None
    log.append("r", [{"i": 25 + j} for j in range(10)], ["k"] * 10)
    assert log.first_offsets("r") == [21]
    assert log.end_offsets("r") == [35]


# ------------------------------------------------------------------ bad and hostile input


def test_a_bad_event_refuses_the_whole_batch(log: Log) -> None:
    log.create_stream("s", 2)
    log.append("s", [{"ok": 1}], ["k"])
    before = log.end_offsets("s")
    bad_batches = [
        ([{"a": 1}, {"b": 2}, [1, 2]], 2),
        ([{"a": 1}, "text"], 1),
        ([{"a": {1, 2}}], 0),
        ([{"a": 1}, {"big": 2**64}], 1),
        ([{"a": 1}, {"a": 1}, {"a": 1}, {3: "non-str key"}], 3),
    ]
    for batch, index in bad_batches:
        with pytest.raises(EventError) as ei:
            log.append("s", batch, ["k"] * len(batch))
        assert ei.value.index == index
    assert log.end_offsets("s") == before
    with pytest.raises(LogError):
        log.append("s", [{"a": 1}], ["k", "k2"])
    assert log.append("s", [], []) == []


def test_hostile_values_round_trip_or_are_refused_by_documented_limits(log: Log) -> None:
    log.create_stream("h", 1)
    huge = {"blob": "x" * (DEFAULT_MAX_EVENT_BYTES - 100)}
    deep = nested(DEFAULT_MAX_EVENT_DEPTH)
    odd = {
        "nul": "a\x00b", "emoji": "💳🚨", "rtl": "\u202eevil", "quote": '"}{"',
        "min": -(2**63), "max": 2**64 - 1, "float": 1e308, "tiny": 5e-324,
        "list": [None, True, False, 0, -0.0, ""], "ключ": {"": []},
    }
    res = log.append("h", [huge, deep, odd], ["k", "k", "k"])
    got = dict(log.read("h", 0, 0, 10))
    assert got[res[0][1]] == huge
    assert got[res[1][1]] == deep
    assert got[res[2][1]] == odd
    for i, ev in enumerate([
        {"blob": "x" * (DEFAULT_MAX_EVENT_BYTES + 1)},
        nested(DEFAULT_MAX_EVENT_DEPTH + 1),
        nested(5000),
    ]):
        with pytest.raises(EventError) as ei:
            log.append("h", [{"fine": i}, ev], ["k", "k"])
        assert ei.value.index == 1
    assert log.end_offsets("h") == [3]
    # an odd partition key: any JSON value, canonicalised
    log.create_stream("k", 4)
    keys = [{"y": [1], "x": "é"}, {"x": "é", "y": [1]}]
    (p1, _), (p2, _) = log.append("k", [{"a": 1}, {"a": 2}], keys)
    assert p1 == p2
    with pytest.raises(LogError):
        log.append("k", [{"a": 1}], [{1, 2}])


# ------------------------------------------------------------------ durability


_WRITER = """
import os, signal, sys
from cep.config import open_backends
log, store = open_backends(sys.argv[1])
log.create_stream("payments", 3)
res = log.append("payments", [{"i": i} for i in range(500)], [f"c{i % 9}" for i in range(500)])
print(sum(1 for _ in res), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_acknowledged_appends_survive_a_killed_writer(durable: Backend) -> None:
    url = (
        f"sqlite:///{durable.sqlite_path}" if durable.name == "sqlite" else durable.server.url
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _WRITER, url], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == -9, proc.stderr
    assert proc.stdout.strip() == "500"
    if durable.server is not None:
        durable.server.restart(crash=True)  # and the server crashes too: AOF brings it back
    log, _ = durable.open()
    assert log.streams() == {"payments": 3}
    assert sum(log.end_offsets("payments")) == 500
    got = sorted(ev["i"] for p in range(3) for _, ev in read_all(log, "payments", p))
    assert got == list(range(500))
    res = log.append("payments", [{"i": 500}], ["c0"])
    assert res[0][1] == log.end_offsets("payments")[res[0][0]] - 1
