"""Helpers shared by the worker and operator tests: register rules, produce, read results.

The expected matches come from plain in-memory engines fed exactly what the log holds:
events routed with the log's own `partition_of` and numbered per partition, so match ids
(statement, version, partition, offsets) are comparable with the worker's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cep.cli_ops import apply_sources
from cep.engine import Engine
from cep.lang.compiler import compile_text
from cep.log.base import Log, partition_of
from cep.store.base import Store


def apply(log: Log, store: Store, text: str, partitions: int | None = 4,
          retention: int | None = None) -> list[tuple[str, str, str, int]]:
    """Register the statements of `text` (as `cep apply` does); fail on errors."""
    res = apply_sources(log, store, [("test.cep", text)], partitions, retention)
    assert not res.errors, res.errors
    return res.items


def produce(log: Log, stream: str, events: Sequence[dict], key: str | None = "card_id",
            batch: int = 1000) -> None:
    """Append events in batches, keyed by attribute `key`."""
    for i in range(0, len(events), batch):
        chunk = list(events[i : i + batch])
        log.append(stream, chunk, [e.get(key) for e in chunk] if key else None)


def stored_matches(store: Store, statement: str | None = None) -> list[dict[str, Any]]:
    """Every stored match in commit order (duplicates would show up twice)."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page, cursor = store.list_matches(statement, cursor, 1000)
        if not page:
            return out
        out += page


def expected_ids(text: str, stream: str, events: Sequence[dict], partitions: int,
                 key: str = "card_id") -> set[str]:
    """Match ids of one engine per partition over the events as the log routes them."""
    statements, specs = compile_text(text)
    engines = [Engine(statements, specs, partition=p) for p in range(partitions)]
    offsets = [0] * partitions
    for ev in events:
        p = partition_of(ev.get(key), partitions)
        engines[p].process(ev, offsets[p], stream)
        offsets[p] += 1
    return {m.match_id for e in engines for m in e.take()}


def read_stream(log: Log, stream: str) -> list[dict]:
    """Every retained event of every partition of `stream`."""
    out: list[dict] = []
    for p in range(log.partitions(stream)):
        pos = 0
        while True:
            got = log.read(stream, p, pos, 1000)
            if not got:
                break
            out += [e for _, e in got]
            pos = got[-1][0] + 1
    return out
