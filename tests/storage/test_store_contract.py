"""The Store contract, run unchanged on memory, SQLite and Redis (see conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from cep.store.base import (
    FencedError,
    StatementConflictError,
    Store,
    StoreError,
)

from .conftest import Backend

REPO = Path(__file__).resolve().parents[2]
RULE = "RULE r FROM payments PATTERN (a b) DEFINE a AS amount < 5, b AS amount > 500"


def match(mid: str, statement: str = "card_testing", **extra: Any) -> dict[str, Any]:
    return {
        "statement": statement, "match_id": mid, "key": "c1", "timed_out": False,
        "start_ts": 1, "end_ts": 2, "bindings": {"small": [{"amount": 1.0}]},
        "fields": {"attempts": 3}, **extra,
    }


def all_pending(store: Store, now: int | None = None) -> list[str]:
    return [e.match_id for e in store.outbox_pending(10_000, now)]


def all_matches(store: Store, statement: str | None = None, page: int = 7) -> list[dict]:
    out: list[dict] = []
    cursor = None
    while True:
        got, cursor = store.list_matches(statement, cursor, page)
        if not got:
            return out
        out += got


# ------------------------------------------------------------------ statements


def test_statement_versions_follow_apply_semantics(store: Store) -> None:
    assert store.statements_revision() == 0
    assert store.get_statement("r") is None
    rec = store.put_statement("r", RULE)
    assert (rec.change, rec.version, rec.enabled, rec.tenant) == ("created", 1, True, "default")
    assert rec.created_at == rec.updated_at > 0
    rev = store.statements_revision()
    assert rev >= 1

    same = store.put_statement("r", RULE)
    assert (same.change, same.version) == ("unchanged", 1)
    assert store.statements_revision() == rev

    new = store.put_statement("r", RULE + " WITHIN 10m")
    assert (new.change, new.version) == ("updated", 2)
    assert new.created_at == rec.created_at and new.updated_at >= rec.updated_at
    assert store.statements_revision() > rev
    got = store.get_statement("r")
    assert got == new and got.text.endswith("WITHIN 10m")

    store.put_statement("a_first", RULE)
    assert [r.name for r in store.list_statements()] == ["a_first", "r"]


def test_pause_resume_keeps_the_version(store: Store) -> None:
    store.put_statement("r", RULE)
    rev = store.statements_revision()
    paused = store.set_enabled("r", False)
    assert paused is not None and (paused.enabled, paused.version) == (False, 1)
    assert store.statements_revision() > rev
    rev = store.statements_revision()
    assert store.set_enabled("r", False).enabled is False  # no change, no bump
    assert store.statements_revision() == rev
    kept = store.put_statement("r", RULE, enabled=None)  # apply without a flag keeps it paused
    assert (kept.change, kept.enabled) == ("unchanged", False)
    resumed = store.put_statement("r", RULE, enabled=True)
    assert (resumed.change, resumed.version, resumed.enabled) == ("updated", 1, True)
    assert store.get_statement("r").enabled is True
    assert store.set_enabled("missing", True) is None


def test_delete_and_recreate_never_reuses_a_version(store: Store) -> None:
    store.put_statement("r", RULE)
    store.put_statement("r", RULE + " ")
    rev = store.statements_revision()
    assert store.delete_statement("r") is True
    assert store.statements_revision() > rev
    assert store.get_statement("r") is None
    assert store.list_statements() == []
    rev = store.statements_revision()
    assert store.delete_statement("r") is False
    assert store.statements_revision() == rev
    again = store.put_statement("r", RULE)
    assert (again.change, again.version) == ("created", 3)


def test_statements_belong_to_a_tenant(store: Store) -> None:
    store.put_statement("r", RULE, tenant="acme")
    store.put_statement("s", RULE, tenant="globex")
    with pytest.raises(StatementConflictError):
        store.put_statement("r", RULE + " x", tenant="globex")
    assert store.get_statement("r", tenant="globex") is None
    assert store.get_statement("r", tenant="acme") is not None
    assert [r.name for r in store.list_statements(tenant="acme")] == ["r"]
    assert store.set_enabled("r", False, tenant="globex") is None
    assert store.delete_statement("r", tenant="globex") is False
    assert store.get_statement("r").text == RULE


def test_statement_values_are_stored_verbatim(store: Store) -> None:
    text = "RULE ü FROM s PATTERN (a) DEFINE a AS x = '\x00💳\"'\n" + "-- pad\n" * 20_000
    rec = store.put_statement("weird name ü", text)
    assert store.get_statement("weird name ü").text == text
    assert store.put_statement("weird name ü", text).change == "unchanged"
    assert rec.version == 1
    for bad in ("", "a\nb", 5):
        with pytest.raises(StoreError):
            store.put_statement(bad, RULE)  # type: ignore[arg-type]


# ------------------------------------------------------------------ commit


def test_commit_writes_state_offsets_matches_and_outbox_together(store: Store) -> None:
    assert store.load_checkpoint("payments:0") is None
    n = store.commit("payments:0", b"\x00state\xff", {"payments": 42}, [match("m1"), match("m2")])
    assert n == 2
    ck = store.load_checkpoint("payments:0")
    assert ck is not None
    assert (ck.state, ck.offsets, ck.seq, ck.epoch) == (b"\x00state\xff", {"payments": 42}, 1, 0)
    assert ck.committed_at > 0
    assert [m["match_id"] for m in all_matches(store)] == ["m1", "m2"]
    assert all_matches(store)[0] == match("m1")
    pending = store.outbox_pending(10)
    assert [e.match_id for e in pending] == ["m1", "m2"]
    e = pending[0]
    assert (e.partition_id, e.statement, e.status, e.attempts, e.error) == (
        "payments:0", "card_testing", "pending", 0, None)
    assert e.match == match("m1")
    assert store.match_count() == 2 and store.outbox_depth() == 2
    assert store.checkpoint_ids() == ["payments:0"]

    assert store.commit("payments:0", b"s2", {"payments": 50, "clicks": 3}, []) == 0
    ck = store.load_checkpoint("payments:0")
    assert (ck.state, ck.offsets, ck.seq) == (b"s2", {"payments": 50, "clicks": 3}, 2)


def test_a_match_id_is_stored_and_queued_once(store: Store) -> None:
    assert store.commit("p:0", b"a", {"p": 1}, [match("m1"), match("m2"), match("m1")]) == 2
    # a replay after a crash re-creates m2 (and m1) with the same ids: ignored
    replay = [match("m2", fields={"changed": 1}), match("m3")]
    assert store.commit("p:0", b"b", {"p": 3}, replay) == 1
    assert store.commit("p:0", b"c", {"p": 3}, [match("m1"), match("m2"), match("m3")]) == 0
    ids = [m["match_id"] for m in all_matches(store)]
    assert ids == ["m1", "m2", "m3"]
    assert all_matches(store)[1]["fields"] == {"attempts": 3}  # the first version stays
    pending = all_pending(store)
    assert sorted(pending) == ["m1", "m2", "m3"] and len(set(pending)) == len(pending)
    store.outbox_mark("m1", "delivered", 1)
    assert store.commit("p:0", b"d", {"p": 3}, [match("m1")]) == 0
    assert store.outbox_get("m1").status == "delivered"  # a delivered id is never re-queued
    assert store.match_count() == 3


def test_a_bad_commit_writes_nothing(store: Store) -> None:
    store.commit("p:0", b"ok", {"p": 1}, [match("m1")])
    bad_calls = [
        lambda: store.commit("p:0", b"x", {"p": 2}, [match("m2"), {"statement": "s"}]),
        lambda: store.commit("p:0", b"x", {"p": 2}, [match("m2"), match("m3", x={1, 2})]),
        lambda: store.commit("p:0", b"x", {"p": -1}, [match("m2")]),
        lambda: store.commit("p:0", b"x", {"p": "3"}, [match("m2")]),  # type: ignore[dict-item]
        lambda: store.commit("p:0", "text", {"p": 2}, [match("m2")]),  # type: ignore[arg-type]
        lambda: store.commit("bad{tag}", b"x", {"p": 2}, [match("m2")]),
    ]
    for call in bad_calls:
        with pytest.raises(StoreError):
            call()
    ck = store.load_checkpoint("p:0")
    assert (ck.state, ck.offsets, ck.seq) == (b"ok", {"p": 1}, 1)
    assert store.match_count() == 1 and all_pending(store) == ["m1"]


# ------------------------------------------------------------------ fencing


def test_a_lower_fence_token_is_refused_and_writes_nothing(store: Store) -> None:
    store.commit("p:1", b"by-5", {"p": 10}, [match("m1")], fence_token=5)
    with pytest.raises(FencedError) as ei:
        store.commit("p:1", b"by-4", {"p": 99}, [match("m2")], fence_token=4)
    assert (ei.value.token, ei.value.epoch, ei.value.partition_id) == (4, 5, "p:1")
    with pytest.raises(FencedError):
        store.commit("p:1", b"unfenced", {"p": 99}, [match("m2")])  # None counts as 0
    ck = store.load_checkpoint("p:1")
    assert (ck.state, ck.offsets, ck.epoch, ck.seq) == (b"by-5", {"p": 10}, 5, 1)
    assert store.match_count() == 1 and all_pending(store) == ["m1"]

    assert store.commit("p:1", b"by-5b", {"p": 11}, [], fence_token=5) == 0  # same owner
    assert store.fence("p:1", 7) == 7  # a new owner took the lease
    with pytest.raises(FencedError):
        store.commit("p:1", b"late", {"p": 12}, [match("m3")], fence_token=6)
    with pytest.raises(FencedError):
        store.fence("p:1", 6)
    assert store.load_checkpoint("p:1").state == b"by-5b"
    assert store.commit("p:1", b"by-7", {"p": 12}, [match("m3")], fence_token=7) == 1
    assert store.load_checkpoint("p:1").epoch == 7
    # epochs are per partition
    assert store.commit("p:2", b"other", {"p": 0}, []) == 0


def test_fence_before_any_commit(store: Store) -> None:
    store.fence("q:0", 3)
    assert store.load_checkpoint("q:0") is None
    assert store.checkpoint_ids() == []
    with pytest.raises(FencedError):
        store.commit("q:0", b"x", {}, [], fence_token=2)
    store.commit("q:0", b"x", {}, [], fence_token=3)
    assert store.checkpoint_ids() == ["q:0"]


# ------------------------------------------------------------------ outbox


def test_outbox_delivery_states_and_retries(store: Store) -> None:
    store.commit("p:0", b"", {}, [match(f"m{i}") for i in range(5)])
    now = store.clock()
    assert sorted(all_pending(store, now + 1)) == [f"m{i}" for i in range(5)]
    assert store.outbox_mark("m0", "delivered", 1) is True
    assert store.outbox_mark("m1", "pending", 1, "HTTP 503", next_attempt_at=now + 60_000)
    assert store.outbox_mark("m2", "failed", 8, "gave up: HTTP 410")
    assert store.outbox_mark("nope", "delivered", 1) is False
    with pytest.raises(StoreError):
        store.outbox_mark("m3", "sent", 1)
    with pytest.raises(StoreError):
        store.outbox_mark("m3", "pending", -1)
    assert sorted(all_pending(store, now + 1)) == ["m3", "m4"]
    assert all_pending(store, now + 60_000)[-1] == "m1"
    assert store.outbox_depth() == 3  # m1 (later), m3, m4
    e1 = store.outbox_get("m1")
    assert (e1.status, e1.attempts, e1.error, e1.next_attempt_at) == (
        "pending", 1, "HTTP 503", now + 60_000)
    assert e1.match == match("m1")
    e2 = store.outbox_get("m2")
    assert (e2.status, e2.attempts, e2.error, e2.next_attempt_at) == (
        "failed", 8, "gave up: HTTP 410", None)
    assert store.outbox_get("nope") is None
    assert [e.match_id for e in store.outbox_pending(1, now + 1)] in (["m3"], ["m4"])


def test_outbox_pending_is_ordered_by_due_time(store: Store) -> None:
    store.commit("p:0", b"", {}, [match("a"), match("b")])
    store.commit("p:1", b"", {}, [match("c")])
    now = store.clock()
    for i, mid in enumerate(["c", "a", "b"]):
        store.outbox_mark(mid, "pending", 1, None, next_attempt_at=now + 10 + i)
    assert all_pending(store, now + 100) == ["c", "a", "b"]
    assert all_pending(store, now + 11) == ["c", "a"]


# ------------------------------------------------------------------ matches


def test_list_matches_pages_in_commit_order(store: Store) -> None:
    order: list[str] = []
    per_partition: dict[str, list[str]] = defaultdict(list)
    for c in range(6):
        pid = f"payments:{c % 3}"
        ms = [match(f"m{c}-{j}", statement="a" if j % 2 else "b") for j in range(5)]
        store.commit(pid, b"", {"payments": c}, ms)
        order += [m["match_id"] for m in ms]
        per_partition[pid] += [m["match_id"] for m in ms]
    got = [m["match_id"] for m in all_matches(store, page=4)]
    assert sorted(got) == sorted(order) and len(got) == len(order)
    for ids in per_partition.values():
        assert [g for g in got if g in set(ids)] == ids  # exact order within a partition
    assert store.match_count() == 30
    assert store.match_count("a") == 12 and store.match_count("b") == 18
    only_a = [m["match_id"] for m in all_matches(store, "a", page=5)]
    assert only_a == [g for g in got if g in {o for o in order if int(o[-1]) % 2}]
    assert all_matches(store, "nope") == []


def test_a_match_cursor_picks_up_later_commits(store: Store) -> None:
    page, cursor = store.list_matches(None, None, 100)
    assert page == [] and cursor is not None
    store.commit("p:0", b"", {}, [match("m1")])
    page, cursor = store.list_matches(None, cursor, 100)
    assert [m["match_id"] for m in page] == ["m1"]
    page, cursor2 = store.list_matches(None, cursor, 100)
    assert page == []
    store.commit("p:1", b"", {}, [match("m2")])
    store.commit("p:0", b"", {}, [match("m3")])
    page, _ = store.list_matches(None, cursor2, 100)
    assert sorted(m["match_id"] for m in page) == ["m2", "m3"]
    for bad in ("garbage!", "-5", "e30=x"):
        with pytest.raises(StoreError):
            store.list_matches(None, bad, 10)
    with pytest.raises(StoreError):
        store.list_matches(None, None, 0)


def test_hostile_state_and_matches_round_trip(store: Store) -> None:
    state = bytes(range(256)) * 20_000  # 5 MB of binary
    body = match("m-ü💳", statement="stmt with space", deep=[[[[[[["x"]]]]]]],
                 text="\x00\"'}{" * 1000)
    assert store.commit("p:9", state, {"s.x-1": 2**53}, [body]) == 1
    ck = store.load_checkpoint("p:9")
    assert ck.state == state and ck.offsets == {"s.x-1": 2**53}
    assert all_matches(store) == [body]
    assert all_matches(store, "stmt with space") == [body]
    assert store.outbox_get("m-ü💳").match == body


# ------------------------------------------------------------------ durability


_WRITER = """
import os, signal, sys
from cep.config import open_backends
log, store = open_backends(sys.argv[1])
store.put_statement("r", "RULE r ...")
store.put_statement("r", "RULE r v2")
store.commit("payments:0", b"state-1", {"payments": 7}, [
    {"match_id": "m1", "statement": "r"}, {"match_id": "m2", "statement": "r"}], fence_token=3)
store.outbox_mark("m1", "delivered", 1)
print("committed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_commits_survive_a_killed_worker_and_server(durable: Backend) -> None:
    url = (
        f"sqlite:///{durable.sqlite_path}" if durable.name == "sqlite" else durable.server.url
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _WRITER, url], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == -9, proc.stderr
    assert proc.stdout.strip() == "committed"
    if durable.server is not None:
        durable.server.restart(crash=True)
    _, store = durable.open()
    rec = store.get_statement("r")
    assert rec is not None and (rec.version, rec.text) == (2, "RULE r v2")
    assert store.statements_revision() == 2
    ck = store.load_checkpoint("payments:0")
    assert (ck.state, ck.offsets, ck.epoch) == (b"state-1", {"payments": 7}, 3)
    assert [m["match_id"] for m in all_matches(store)] == ["m1", "m2"]
    assert store.outbox_get("m1").status == "delivered"
    assert all_pending(store) == ["m2"]
    with pytest.raises(FencedError):
        store.commit("payments:0", b"zombie", {"payments": 9}, [], fence_token=2)
    assert store.commit("payments:0", b"x", {"payments": 9}, [{"match_id": "m2", "statement": "r"}],
                        fence_token=3) == 0
