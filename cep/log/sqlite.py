"""SQLite log: the embedded default (stdlib sqlite3, one file, WAL), no server needed.

Durability: WAL with `synchronous=NORMAL` (the default here) makes every committed append
survive a crash or SIGKILL of the process; after a power loss or OS crash the last
transactions before the crash may roll back. `sqlite:///cep.db?synchronous=full` fsyncs
every commit and closes that window at a large cost per small batch.

Layout: `log_streams` (id, name, partitions, retention), `log_heads` (per partition the next
offset and the oldest retained one, so offsets stay contiguous after trimming) and
`log_entries` keyed by (stream id, partition, offset). One batch is one transaction; one
read is one indexed range query. One connection per instance, guarded by a lock, so an
instance can be shared by threads; other processes may use the same file concurrently.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from cep.log.base import EventLimits, Log, LogError, PartitionCountError, StreamNotFoundError

__all__ = ["SqliteDb", "SqliteLog", "connect"]

SYNCHRONOUS = ("off", "normal", "full", "extra")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_streams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL,
    retention INTEGER
);
CREATE TABLE IF NOT EXISTS log_heads (
    sid INTEGER NOT NULL,
    part INTEGER NOT NULL,
    next INTEGER NOT NULL,
    first INTEGER NOT NULL,
    PRIMARY KEY (sid, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_entries (
    sid INTEGER NOT NULL,
    part INTEGER NOT NULL,
    off INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (sid, part, off)
) WITHOUT ROWID;
"""


def connect(path: str | Path, synchronous: str = "normal") -> sqlite3.Connection:
    """Open `path` in WAL mode with autocommit (transactions are explicit BEGIN IMMEDIATE)."""
    if synchronous.lower() not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
    db = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 30000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    return db


class SqliteDb:
    """One connection plus a lock and a transaction helper (shared by log and store)."""

    def __init__(self, path: str | Path, synchronous: str = "normal", schema: str = "") -> None:
        self.path = str(path)
        self.db = connect(path, synchronous)
        self.lock = threading.RLock()
        if schema:
            with self.tx() as db:
                for stmt in _split(schema):
                    db.execute(stmt)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error)."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.db.close()


def _split(schema: str) -> list[str]:
    return [s.strip() for s in schema.split(";") if s.strip()]


class SqliteLog(Log):
    """The log in one SQLite file."""

    def __init__(
        self, path: str | Path, synchronous: str = "normal", limits: EventLimits | None = None
    ) -> None:
        self.limits = limits or EventLimits()
        self._sql = SqliteDb(path, synchronous, _SCHEMA)
        self._meta: dict[str, tuple[int, int]] = {}  # name -> (sid, partitions); immutable

    def close(self) -> None:
        """Close the file."""
        self._sql.close()

    # ------------------------------------------------------------ streams

    def create_stream(self, name: str, partitions: int, retention: int | None = None) -> None:
        """Create a stream (idempotent); refuse a different partition count; set retention."""
        self._validate_create(name, partitions, retention)
        with self._sql.tx() as db:
            row = db.execute(
                "SELECT id, partitions FROM log_streams WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                sid = db.execute(
                    "INSERT INTO log_streams (name, partitions, retention) VALUES (?, ?, ?)",
                    (name, partitions, retention),
                ).lastrowid
                db.executemany(
                    "INSERT INTO log_heads (sid, part, next, first) VALUES (?, ?, 0, 0)",
                    [(sid, p) for p in range(partitions)],
                )
            else:
                sid, have = row
                if have != partitions:
                    raise PartitionCountError(
                        f"stream {name!r} has {have} partitions, not {partitions}"
                    )
                db.execute("UPDATE log_streams SET retention = ? WHERE id = ?", (retention, sid))
                if retention is not None:
                    for part, nxt, first in db.execute(
                        "SELECT part, next, first FROM log_heads WHERE sid = ?", (sid,)
                    ).fetchall():
                        if nxt - first > retention:
                            self._trim_tx(db, sid, part, nxt - retention)

    def streams(self) -> dict[str, int]:
        """Every stream's name and partition count."""
        with self._sql.lock:
            rows = self._sql.db.execute("SELECT name, partitions FROM log_streams").fetchall()
        return dict(rows)

    def retention(self, stream: str) -> int | None:
        """Max entries per partition kept for `stream`."""
        sid, _ = self._lookup(stream)
        with self._sql.lock:
            return self._sql.db.execute(
                "SELECT retention FROM log_streams WHERE id = ?", (sid,)
            ).fetchone()[0]

    def partitions(self, stream: str) -> int:
        """Partition count of `stream`."""
        return self._lookup(stream)[1]

    def _lookup(self, stream: str) -> tuple[int, int]:
        meta = self._meta.get(stream)
        if meta is None:
            with self._sql.lock:
                row = self._sql.db.execute(
                    "SELECT id, partitions FROM log_streams WHERE name = ?", (stream,)
                ).fetchone()
            if row is None:
                raise StreamNotFoundError(stream)
            meta = self._meta[stream] = (row[0], row[1])
        return meta

    # ------------------------------------------------------------ data

    def append(
        self, stream: str, events: Sequence[dict], keys: Sequence[Any] | None = None
    ) -> list[tuple[int, int]]:
        """Append events in one transaction; return (partition, offset) per event."""
        sid, nparts = self._lookup(stream)
        data, parts = self._route(stream, nparts, events, keys)
        if not data:
            return []
        touched = sorted(set(parts))
        marks = ",".join("?" * len(touched))
        with self._sql.tx() as db:
            heads = {
                p: [n, f]
                for p, n, f in db.execute(
                    f"SELECT part, next, first FROM log_heads WHERE sid = ? AND part IN ({marks})",
                    (sid, *touched),
                )
            }
            rows = []
            out = []
            for d, p in zip(data, parts):
                h = heads[p]
                rows.append((sid, p, h[0], d))
                out.append((p, h[0]))
                h[0] += 1
            db.executemany(
                "INSERT INTO log_entries (sid, part, off, data) VALUES (?, ?, ?, ?)", rows
            )
            db.executemany(
                "UPDATE log_heads SET next = ? WHERE sid = ? AND part = ?",
                [(h[0], sid, p) for p, h in heads.items()],
            )
            (ret,) = db.execute("SELECT retention FROM log_streams WHERE id = ?", (sid,)).fetchone()
            if ret is not None:
                for p, (nxt, first) in heads.items():
                    if nxt - first > ret:
                        self._trim_tx(db, sid, p, nxt - ret)
        return out

    @staticmethod
    def _trim_tx(db: sqlite3.Connection, sid: int, part: int, before: int) -> int:
        nxt, first = db.execute(
            "SELECT next, first FROM log_heads WHERE sid = ? AND part = ?", (sid, part)
        ).fetchone()
        before = min(before, nxt)
        if before <= first:
            return 0
        n = db.execute(
            "DELETE FROM log_entries WHERE sid = ? AND part = ? AND off < ?", (sid, part, before)
        ).rowcount
        db.execute("UPDATE log_heads SET first = ? WHERE sid = ? AND part = ?", (before, sid, part))
        return n

    def read(
        self, stream: str, partition: int, from_offset: int, max_count: int
    ) -> list[tuple[int, dict]]:
        """Up to max_count (offset, event) with offset >= from_offset (one range query)."""
        sid, nparts = self._lookup(stream)
        self._check_read(partition, nparts, from_offset, max_count)
        with self._sql.lock:
            rows = self._sql.db.execute(
                "SELECT off, data FROM log_entries WHERE sid = ? AND part = ? AND off >= ? "
                "ORDER BY off LIMIT ?",
                (sid, partition, from_offset, max_count),
            ).fetchall()
        loads = orjson.loads
        return [(o, loads(d)) for o, d in rows]

    def _heads(self, stream: str, col: str) -> list[int]:
        sid, _ = self._lookup(stream)
        with self._sql.lock:
            rows = self._sql.db.execute(
                f"SELECT {col} FROM log_heads WHERE sid = ? ORDER BY part", (sid,)
            ).fetchall()
        return [r[0] for r in rows]

    def end_offsets(self, stream: str) -> list[int]:
        """Per partition, the next offset to be written."""
        return self._heads(stream, "next")

    def first_offsets(self, stream: str) -> list[int]:
        """Per partition, the oldest retained offset."""
        return self._heads(stream, "first")

    def trim(self, stream: str, partition: int, before_offset: int) -> int:
        """Delete entries with offset < before_offset; return how many were removed."""
        sid, nparts = self._lookup(stream)
        if not 0 <= partition < nparts:
            raise LogError(f"partition {partition} out of range 0..{nparts - 1}")
        with self._sql.tx() as db:
            return self._trim_tx(db, sid, partition, before_offset)
