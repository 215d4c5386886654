"""Statements added, replaced, paused, resumed and removed while a worker runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from cep.log.sqlite import SqliteLog
from cep.store.sqlite import SqliteStore
from cep.worker import Worker
from tests.worker.kit import apply, produce, stored_matches

STREAM = "STREAM payments (card_id STRING, amount FLOAT, ts INT) KEY card_id;\n"
BIG = "SEARCH big FROM payments WHERE amount > 1000;\n"
TESTING = """RULE testing FROM payments PARTITION BY card_id PATTERN (small{3,} large)
DEFINE small AS amount < 5, large AS amount > %d WITHIN 10m EMIT card_id;
"""


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> float:
    """Poll `cond` until true; return how long it took."""
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"timed out waiting for {what}"
        time.sleep(0.01)
    return time.monotonic() - t0


def burst(card: str, t: int, large: float | None) -> list[dict]:
    """Three small payments, then (optionally) a large one."""
    evs = [{"card_id": card, "amount": 1.0, "ts": t + i} for i in range(3)]
    if large is not None:
        evs.append({"card_id": card, "amount": large, "ts": t + 3})
    return evs


def test_statements_change_while_events_flow(tmp_path: Path) -> None:
    db = tmp_path / "hot.db"
    log, store = SqliteLog(db), SqliteStore(db)  # the operator's side
    apply(log, store, STREAM + BIG, 2)
    w = Worker(SqliteLog(db), SqliteStore(db), checkpoint_every_ms=20)  # polls every 500 ms
    stop = threading.Event()
    thread = threading.Thread(target=w.run, kwargs={"stop": stop}, daemon=True)
    thread.start()

    def caught_up() -> bool:
        ends = log.end_offsets("payments")
        cps = [store.load_checkpoint(f"worker:{p}") for p in range(2)]
        return all(c is not None and c.offsets.get("payments") == e for c, e in zip(cps, ends))

    def keys(name: str) -> list[str]:
        """Cards of a statement's matches (a SEARCH has no key: its event's card)."""
        return sorted(m["key"] or m["bindings"]["event"][0]["card_id"]
                      for m in stored_matches(store, name))

    def running(name: str, version: int | None = None) -> Callable[[], bool]:
        def check() -> bool:
            st = w.registry.statements.get(name)
            return st is not None and (version is None or st.version == version)
        return check

    try:
        produce(log, "payments", [{"card_id": "c1", "amount": 2000.0, "ts": 1}])
        wait_for(lambda: keys("big") == ["c1"], "the first statement's match")
        # events before a statement exists are never seen by it
        produce(log, "payments", burst("c2", 10, None))
        wait_for(caught_up, "the worker to read c2's small payments")
        apply(log, store, STREAM + BIG + TESTING % 500, 2)
        assert wait_for(running("testing"), "the new statement") < 1.0  # within a second
        produce(log, "payments", [{"card_id": "c2", "amount": 900.0, "ts": 13}])
        produce(log, "payments", burst("c3", 20, 900.0))
        wait_for(lambda: keys("testing") == ["c3"], "the new statement's match")
        # replace: a new version, and the old version's partial matches are dropped
        produce(log, "payments", burst("c4", 30, None))
        wait_for(caught_up, "the worker to read c4's small payments")
        items = apply(log, store, STREAM + BIG + TESTING % 400, 2)
        assert ("updated", "rule", "testing", 2) in items
        assert wait_for(running("testing", 2), "version 2") < 1.0
        produce(log, "payments", [{"card_id": "c4", "amount": 900.0, "ts": 33}])
        produce(log, "payments", burst("c5", 40, 450.0))  # only version 2 takes 450
        wait_for(lambda: keys("testing") == ["c3", "c5"], "version 2's match")
        # pause: no matches; the other statement goes on
        store.set_enabled("testing", False)
        wait_for(lambda: not running("testing")(), "the pause", 1.0)
        produce(log, "payments", [*burst("c6", 50, 900.0),
                                  {"card_id": "c6", "amount": 5000.0, "ts": 60}])
        wait_for(lambda: keys("big") == ["c1", "c6"], "the other statement")
        wait_for(caught_up, "the worker to read c6")
        # resume: starts empty at the current offset
        store.set_enabled("testing", True)
        wait_for(running("testing"), "the resume", 1.0)
        produce(log, "payments", burst("c7", 70, 900.0))
        wait_for(lambda: keys("testing") == ["c3", "c5", "c7"], "the resumed statement")
        # remove
        store.delete_statement("testing")
        wait_for(lambda: not running("testing")(), "the removal", 1.0)
        produce(log, "payments", burst("c8", 80, 900.0))
        wait_for(caught_up, "the worker to read c8")
        assert keys("testing") == ["c3", "c5", "c7"]
        assert w.errors == {}
    finally:
        stop.set()
        thread.join(10)
        w.close()
    assert not thread.is_alive()
