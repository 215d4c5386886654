"""Redis-only properties the contract cannot see: key layout per shard, scripts, reconnects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from cep.log.redis import RedisLog
from cep.store.redis import RedisStore
from cep.store.redisproc import RedisServer

from .conftest import _start_redis


@pytest.fixture
def server(redis_server: RedisServer) -> Iterator[RedisServer]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server
    client.close()


def test_a_partitions_keys_share_one_cluster_slot(server: RedisServer) -> None:
    log, store = RedisLog(server.url), RedisStore(server.url)
    log.create_stream("payments", 4)
    log.append("payments", [{"i": i} for i in range(40)], [i % 9 for i in range(40)])
    store.put_statement("rule 0", "RULE ...")
    for p in range(4):
        store.commit(f"payments:{p}", b"s", {"payments": 10}, [
            {"match_id": f"m{p}-{j}", "statement": f"rule {j}"} for j in range(3)])
    slots: dict[str, set[int]] = defaultdict(set)
    for key in log.r.scan_iter(count=1000):
        if b"{" in key:
            tag = key[key.index(b"{") + 1 : key.index(b"}")].decode()
            slots[tag].add(key_slot(key))
    assert sorted(slots) == ["payments:0", "payments:1", "payments:2", "payments:3", "stmt"]
    assert all(len(s) == 1 for s in slots.values())
    # a commit touches only its partition's slot: the log stream of the same tag is there too
    assert key_slot(b"cep:{payments:2}:log") == next(iter(slots["payments:2"]))
    log.close()
    store.close()


def test_scripts_are_reloaded_after_a_script_flush(server: RedisServer) -> None:
    log, store = RedisLog(server.url), RedisStore(server.url)
    log.create_stream("s", 4)
    log.r.script_flush()
    res = log.append("s", [{"i": i} for i in range(20)], list(range(20)))  # pipelined path
    assert sorted(o for p, o in res if p == res[0][0])[0] == 0
    log.r.script_flush()
    assert log.read("s", res[0][0], 0, 1)[0][0] == 0
    log.r.script_flush()
    assert store.commit("p:0", b"x", {}, [{"match_id": "a", "statement": "r"}]) == 1
    log.close()
    store.close()


def test_clients_recover_after_a_server_restart(tmp_path: Path) -> None:
    srv = _start_redis(tmp_path)
    try:
        log, store = RedisLog(srv.url), RedisStore(srv.url)
        log.create_stream("s", 1)
        log.append("s", [{"i": 0}], ["k"])
        store.commit("s:0", b"a", {"s": 1}, [])
        srv.restart(crash=True)
        # reads and commits reconnect by themselves (retried with backoff) ...
        assert log.end_offsets("s") == [1]
        assert store.load_checkpoint("s:0").state == b"a"
        # ... appends are never retried behind the caller's back: the first one may fail
        try:
            log.append("s", [{"i": 1}], ["k"])
        except redis.exceptions.ConnectionError:
            log.append("s", [{"i": 1}], ["k"])
        assert [ev["i"] for _, ev in log.read("s", 0, 0, 10)] == [0, 1]
        log.close()
        store.close()
    finally:
        srv.stop()
