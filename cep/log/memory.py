"""In-memory log for unit tests: same contract as the durable backends, nothing survives.

Events are stored JSON-encoded (as the durable backends do), so what a test reads back is
exactly what SQLite or Redis would return (tuples become lists, limits apply).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import orjson

from cep.log.base import EventLimits, Log, PartitionCountError, StreamNotFoundError

__all__ = ["MemoryLog"]


class _Partition:
    __slots__ = ("first", "items")

    def __init__(self) -> None:
        self.first = 0  # offset of items[0]
        self.items: list[bytes] = []


class MemoryLog(Log):
    """A dict of streams, each a list of partitions held in process memory."""

    def __init__(self, limits: EventLimits | None = None) -> None:
        self.limits = limits or EventLimits()
        self._lock = threading.Lock()
        self._streams: dict[str, list[_Partition]] = {}
        self._retention: dict[str, int | None] = {}

    def create_stream(self, name: str, partitions: int, retention: int | None = None) -> None:
        """Create a stream (idempotent); refuse a different partition count; set retention."""
        self._validate_create(name, partitions, retention)
        with self._lock:
            parts = self._streams.get(name)
            if parts is not None and len(parts) != partitions:
                raise PartitionCountError(
                    f"stream {name!r} has {len(parts)} partitions, not {partitions}"
                )
            if parts is None:
                self._streams[name] = [_Partition() for _ in range(partitions)]
            self._retention[name] = retention
            if retention is not None:
                for p in self._streams[name]:
                    self._trim_to(p, p.first + len(p.items) - retention)

    def streams(self) -> dict[str, int]:
        """Every stream's name and partition count."""
        with self._lock:
            return {k: len(v) for k, v in self._streams.items()}

    def retention(self, stream: str) -> int | None:
        """Max entries per partition kept for `stream` (None: unlimited)."""
        self._parts(stream)
        return self._retention[stream]

    def partitions(self, stream: str) -> int:
        """Partition count of `stream`."""
        return len(self._parts(stream))

    def _parts(self, stream: str) -> list[_Partition]:
        parts = self._streams.get(stream)
        if parts is None:
            raise StreamNotFoundError(stream)
        return parts

    def append(
        self, stream: str, events: Sequence[dict], keys: Sequence[Any] | None = None
    ) -> list[tuple[int, int]]:
        """Append events; return (partition, offset) per event."""
        parts = self._parts(stream)
        data, routed = self._route(stream, len(parts), events, keys)
        out: list[tuple[int, int]] = []
        with self._lock:
            for d, p in zip(data, routed):
                part = parts[p]
                out.append((p, part.first + len(part.items)))
                part.items.append(d)
            ret = self._retention[stream]
            if ret is not None:
                for p in set(routed):
                    part = parts[p]
                    self._trim_to(part, part.first + len(part.items) - ret)
        return out

    @staticmethod
    def _trim_to(part: _Partition, before: int) -> int:
        n = min(max(0, before - part.first), len(part.items))
        if n:
            del part.items[:n]
            part.first += n
        return n

    def read(
        self, stream: str, partition: int, from_offset: int, max_count: int
    ) -> list[tuple[int, dict]]:
        """Up to max_count (offset, event) with offset >= from_offset."""
        parts = self._parts(stream)
        self._check_read(partition, len(parts), from_offset, max_count)
        with self._lock:
            part = parts[partition]
            start = max(from_offset, part.first)
            chunk = part.items[start - part.first : start - part.first + max_count]
        loads = orjson.loads
        return [(start + i, loads(d)) for i, d in enumerate(chunk)]

    def end_offsets(self, stream: str) -> list[int]:
        """Per partition, the next offset to be written."""
        with self._lock:
            return [p.first + len(p.items) for p in self._parts(stream)]

    def first_offsets(self, stream: str) -> list[int]:
        """Per partition, the oldest retained offset."""
        with self._lock:
            return [p.first for p in self._parts(stream)]

    def trim(self, stream: str, partition: int, before_offset: int) -> int:
        """Delete entries with offset < before_offset; return how many were removed."""
        parts = self._parts(stream)
        self._check_read(partition, len(parts), 0, 1)
        with self._lock:
            return self._trim_to(parts[partition], before_offset)
