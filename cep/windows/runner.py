"""Runs one AGGREGATE statement inside the engine: a WindowOperator plus Match building.

The engine hands it the events of the statement's stream in event-time order (after the
reorder buffer), its late events, and every advance of its clock or watermark. Results become
`Match` objects with deterministic ids, so a replay or a restore gives the same ids.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from cep.windows.operator import Late, Result, WindowOperator


def result_id(statement: str, version: int, partition: int, result: Result, seq: int) -> str:
    """Deterministic id from statement, version, partition, window, group key, kind and seq."""
    h = hashlib.blake2b(digest_size=16)
    key = orjson.dumps(list(result.key)).decode()
    h.update(
        f"{statement}\x1f{version}\x1f{partition}\x1f{result.window_start}\x1f{key}"
        f"\x1f{result.kind}\x1f{seq}".encode()
    )
    return h.hexdigest()


class AggregateRunner:
    """One AGGREGATE statement: its operator, result counter and late counter."""

    def __init__(self, stmt: Any, partition: int) -> None:
        self.stmt = stmt
        self.partition = partition
        self.op = WindowOperator(stmt.spec)
        self.results = 0  # results emitted so far (also the seq of the next one)
        self.late = 0  # events refused as late (or by the state limit)

    def on_event(self, ts: int, event: dict, watermark: int | None, out: list) -> None:
        """Add one event; `watermark` is the event's partition watermark (None: the operator's)."""
        self._collect(self.op.on_event(self.stmt.spec.key_of(event), ts, event, watermark), out)

    def on_watermark(self, wm: int, out: list) -> None:
        """Fire the windows the watermark has passed."""
        if wm > self.op.wm:
            self._collect(self.op.on_watermark(wm), out)

    def close_all(self, out: list) -> None:
        """End of input: fire and drop every window."""
        self._collect(self.op.close_all(), out)

    def _collect(self, items: list, out: list) -> None:
        from cep.engine import Match

        stmt = self.stmt
        for r in items:
            if isinstance(r, Late):
                self.late += 1
                continue
            seq = self.results
            self.results += 1
            key = list(r.key)
            out.append(
                Match(
                    statement=stmt.name,
                    match_id=result_id(stmt.name, stmt.version, self.partition, r, seq),
                    key=key[0] if len(key) == 1 else (key or None),
                    bindings={},
                    fields={**r.row, "kind": r.kind},
                    timed_out=False,
                    start_ts=r.window_start,
                    end_ts=r.window_end,
                    offsets=[],
                )
            )

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state, tagged with the statement version."""
        return {
            "version": self.stmt.version,
            "results": self.results,
            "late": self.late,
            "operator": self.op.snapshot().decode(),
        }

    def restore(self, state: dict[str, Any]) -> bool:
        """Load state from `snapshot`; False (state dropped) if the version differs."""
        if state.get("version") != self.stmt.version:
            return False
        self.results = state["results"]
        self.late = state["late"]
        self.op.restore(state["operator"].encode())
        return True
