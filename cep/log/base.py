"""The partitioned log interface: what producers append to and workers read from.

One `Log` contract, three backends (SQLite, Redis, memory) checked by one contract suite
(tests/storage). A stream has a fixed number of partitions; an event goes to
`hash(key) mod partitions`; within a partition offsets are contiguous integers starting at
0 and never reused, so a consumer's position is one integer per partition ("store the
offset with the output", see the Store).

Batch policy (append): every event of a batch is validated first (an object, JSON-encodable,
within the size and depth limits); one bad event refuses the whole batch with an
`EventError` carrying its index, and nothing is written. Limits (EventLimits, set from
CEP_MAX_EVENT_BYTES / CEP_MAX_EVENT_DEPTH): 1 MiB of encoded JSON, 64 levels of nesting.
Events are stored as orjson encodes them: NaN and infinities become null, tuples arrays,
integers beyond 64 bits are refused. Acknowledged (returned) means
durable as the backend defines it (SQLite: the transaction committed; Redis: the server
replied, AOF written). Within one partition a batch is atomic; SQLite makes the whole batch
one transaction, Redis one Lua call per partition.
"""

from __future__ import annotations

import functools
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cep.errors import CepError, EventError

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_EVENT_DEPTH",
    "EventLimits",
    "Log",
    "LogError",
    "PartitionCountError",
    "StreamNotFoundError",
    "check_stream_name",
    "encode_events",
    "partition_of",
]

DEFAULT_MAX_EVENT_BYTES = 1_048_576  # 1 MiB of encoded JSON per event
DEFAULT_MAX_EVENT_DEPTH = 64  # nested objects/arrays; orjson itself stops at 255
MAX_PARTITIONS = 4096
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


class LogError(CepError):
    """Root of the log's own errors (bad events raise `cep.errors.EventError`)."""


class StreamNotFoundError(LogError, KeyError):
    """The stream was never created."""

    def __str__(self) -> str:
        return f"unknown stream {self.args[0]!r}"


class PartitionCountError(LogError):
    """`create_stream` was asked to change the partition count of an existing stream."""


@dataclass(frozen=True)
class EventLimits:
    """Per-event limits enforced on append (documented defaults, settable per backend)."""

    max_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_depth: int = DEFAULT_MAX_EVENT_DEPTH


def check_stream_name(name: str) -> str:
    """Validate a stream name: 1-128 of [A-Za-z0-9_.-], no braces (they are Redis hash tags)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise LogError(f"invalid stream name {name!r}: use 1-128 characters of A-Z a-z 0-9 _ . -")
    return name


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True if `value` nests dicts/lists deeper than `limit` (iterative, no recursion)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return True
        items = v.values() if isinstance(v, dict) else v
        for x in items:
            if isinstance(x, (dict, list, tuple)):
                stack.append((x, d + 1))
    return False


def encode_events(events: Sequence[Any], limits: EventLimits) -> list[bytes]:
    """Validate and JSON-encode a batch; raise EventError(index) on the first bad event."""
    out: list[bytes] = []
    dumps = orjson.dumps
    max_depth = limits.max_depth
    too_deep = f"event nests deeper than {max_depth} levels"
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            raise EventError(i, f"an event must be a JSON object, got {type(ev).__name__}")
        try:
            data = dumps(ev)
        except (TypeError, orjson.JSONEncodeError) as e:
            if "ecursion" in str(e):
                raise EventError(i, too_deep) from None
            raise EventError(i, f"event is not JSON-encodable: {e}") from None
        # Fewer brackets than the limit (a C-speed count) cannot nest deeper: walk only if more.
        if data.count(b"{") + data.count(b"[") > max_depth and _depth_exceeds(ev, max_depth):
            raise EventError(i, too_deep)
        if len(data) > limits.max_bytes:
            raise EventError(
                i, f"event is {len(data):,} bytes, over the {limits.max_bytes:,} limit"
            )
        out.append(data)
    return out


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


@functools.lru_cache(maxsize=65_536)
def _partition_of_str(key: str, partitions: int) -> int:
    """String keys (the common case) repeat a lot: cache their partition."""
    return _hash64(orjson.dumps(key)) % partitions


def partition_of(key: Any, partitions: int, encoded_event: bytes = b"") -> int:
    """Stable partition of `key`: blake2b-64 of its canonical JSON (sorted keys) mod partitions.

    A None key hashes the encoded event instead: deterministic (a replay of the same input
    lands in the same partitions) and evenly spread, with no ordering promised between
    keyless events.
    """
    if key is None:
        return _hash64(b"\x00" + encoded_event) % partitions
    if type(key) is str:
        return _partition_of_str(key, partitions)
    try:
        data = orjson.dumps(key, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError) as e:
        raise LogError(f"partition key is not JSON-encodable: {e}") from None
    return _hash64(data) % partitions


class Log(ABC):
    """A set of named streams, each split into partitions of offset-addressed JSON events."""

    limits: EventLimits = EventLimits()

    # ------------------------------------------------------------ streams

    @abstractmethod
    def create_stream(self, name: str, partitions: int, retention: int | None = None) -> None:
        """Create a stream (idempotent); refuse a different partition count; set retention.

        `retention` is the max number of entries kept per partition (None: unlimited);
        appends trim the oldest entries beyond it. Calling again may change retention.
        """

    @abstractmethod
    def streams(self) -> dict[str, int]:
        """Every stream's name and partition count."""

    @abstractmethod
    def retention(self, stream: str) -> int | None:
        """Max entries per partition kept for `stream` (None: unlimited)."""

    def partitions(self, stream: str) -> int:
        """Partition count of `stream` (StreamNotFoundError if unknown)."""
        n = self.streams().get(stream)
        if n is None:
            raise StreamNotFoundError(stream)
        return n

    def partition_for(self, stream: str, key: Any) -> int:
        """The partition `key` maps to in `stream` (same on every instance and backend)."""
        return partition_of(key, self.partitions(stream))

    @staticmethod
    def _validate_create(name: str, partitions: int, retention: int | None) -> None:
        check_stream_name(name)
        if not isinstance(partitions, int) or not 1 <= partitions <= MAX_PARTITIONS:
            raise LogError(f"partitions must be an integer in 1..{MAX_PARTITIONS}")
        if retention is not None and (not isinstance(retention, int) or retention < 1):
            raise LogError("retention must be a positive number of entries or None")

    # ------------------------------------------------------------ data

    @abstractmethod
    def append(
        self, stream: str, events: Sequence[dict], keys: Sequence[Any] | None = None
    ) -> list[tuple[int, int]]:
        """Append events (keys[i] routes events[i]); return (partition, offset) per event."""

    @abstractmethod
    def read(
        self, stream: str, partition: int, from_offset: int, max_count: int
    ) -> list[tuple[int, dict]]:
        """Up to max_count (offset, event) with offset >= from_offset, in offset order.

        Entries trimmed by retention are skipped: a first offset above `from_offset` tells
        the caller that data it had not read was trimmed.
        """

    @abstractmethod
    def end_offsets(self, stream: str) -> list[int]:
        """Per partition, the next offset to be written (= entries ever appended)."""

    @abstractmethod
    def first_offsets(self, stream: str) -> list[int]:
        """Per partition, the oldest retained offset (= end offset when empty)."""

    @abstractmethod
    def trim(self, stream: str, partition: int, before_offset: int) -> int:
        """Delete entries with offset < before_offset; return how many were removed."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""

    # ------------------------------------------------------------ helpers for backends

    def _route(
        self, stream: str, nparts: int, events: Sequence[dict], keys: Sequence[Any] | None
    ) -> tuple[list[bytes], list[int]]:
        """Validate, encode and partition a batch (shared by every backend)."""
        if keys is not None and len(keys) != len(events):
            raise LogError(f"{len(keys)} keys for {len(events)} events")
        data = encode_events(events, self.limits)
        if keys is None:
            parts = [partition_of(None, nparts, d) for d in data]
        else:
            parts = [partition_of(k, nparts, d) for k, d in zip(keys, data)]
        return data, parts

    @staticmethod
    def _check_read(partition: int, nparts: int, from_offset: int, max_count: int) -> None:
        if not 0 <= partition < nparts:
            raise LogError(f"partition {partition} out of range 0..{nparts - 1}")
        if from_offset < 0:
            raise LogError("from_offset must be >= 0")
        if max_count < 1:
            raise LogError("max_count must be >= 1")
