"""SQLite store: statements, checkpoints, matches and outbox in the same WAL file as the log.

`commit` is one `BEGIN IMMEDIATE` transaction: fence check, `INSERT OR IGNORE` of the
matches (unique match id), outbox rows for exactly the rows that were new (selected by the
autoincrement sequence, which is also the commit order `list_matches` pages by), then the
checkpoint upsert. Durability as in `cep.log.sqlite` (WAL, synchronous=NORMAL by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from cep.log.sqlite import SqliteDb
from cep.store.base import (
    OUTBOX_STATUSES,
    PENDING,
    Checkpoint,
    FencedError,
    OutboxEntry,
    StatementRecord,
    Store,
    check_limit,
    check_mark,
    check_partition_id,
    int_cursor,
)
from cep.store.records import Delivery, Resource, check_delivery, check_resource

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS statements (
    name TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    text TEXT NOT NULL,
    version INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS statement_versions (
    name TEXT PRIMARY KEY,
    last_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    partition_id TEXT PRIMARY KEY,
    state BLOB,
    offsets TEXT,
    epoch INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    committed_at INTEGER
);
CREATE TABLE IF NOT EXISTS matches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    match_id TEXT NOT NULL UNIQUE,
    partition_id TEXT NOT NULL,
    statement TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS matches_by_statement ON matches (statement, seq);
CREATE TABLE IF NOT EXISTS outbox (
    match_id TEXT PRIMARY KEY,
    partition_id TEXT NOT NULL,
    statement TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    next_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_at);
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    doc BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    match_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    statement TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    info BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_at);
CREATE INDEX IF NOT EXISTS deliveries_by_tenant ON deliveries (tenant, seq);
CREATE INDEX IF NOT EXISTS deliveries_by_endpoint ON deliveries (endpoint_id, status);
"""

_STMT_COLS = "name, text, version, enabled, tenant, created_at, updated_at"
_OUTBOX_COLS = (
    "o.match_id, o.partition_id, o.statement, o.status, o.attempts, o.error, o.next_at, "
    "o.created_at, o.updated_at, m.body"
)


_DLV_COLS = (
    "id, match_id, endpoint_id, tenant, statement, status, attempts, next_at, created_at, "
    "updated_at, info"
)


def _delivery(row: tuple) -> Delivery:
    *head, info = row
    return Delivery(*head, info=orjson.loads(info))


def _stmt(row: tuple | None) -> StatementRecord | None:
    if row is None:
        return None
    name, text, version, enabled, tenant, created, updated = row
    return StatementRecord(name, text, version, bool(enabled), tenant, created, updated)


def _entry(row: tuple) -> OutboxEntry:
    *head, body = row
    return OutboxEntry(*head, match=orjson.loads(body) if body is not None else None)


class SqliteStore(Store):
    """The store in one SQLite file (usually the log's file)."""

    def __init__(self, path: str | Path, synchronous: str = "normal") -> None:
        self._sql = SqliteDb(path, synchronous, _SCHEMA)

    def close(self) -> None:
        """Close the file."""
        self._sql.close()

    def _one(self, sql: str, args: tuple = ()) -> tuple | None:
        with self._sql.lock:
            return self._sql.db.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._sql.lock:
            return self._sql.db.execute(sql, args).fetchall()

    # ------------------------------------------------------------ statements

    @staticmethod
    def _bump(db: Any) -> None:
        db.execute(
            "INSERT INTO counters (name, value) VALUES ('statements', 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1"
        )

    def put_statement(
        self, name: str, text: str, tenant: str = "default", enabled: bool | None = True
    ) -> StatementRecord:
        """Create or update (like kubectl apply)."""
        with self._sql.tx() as db:
            cur = _stmt(db.execute(
                f"SELECT {_STMT_COLS} FROM statements WHERE name = ?", (name,)
            ).fetchone())
            last = db.execute(
                "SELECT last_version FROM statement_versions WHERE name = ?", (name,)
            ).fetchone()
            rec = self._next_record(cur, last[0] if last else 0, name, text, tenant, enabled)
            if rec.change != "unchanged":
                db.execute(
                    f"INSERT OR REPLACE INTO statements ({_STMT_COLS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (rec.name, rec.text, rec.version, int(rec.enabled), rec.tenant,
                     rec.created_at, rec.updated_at),
                )
                db.execute(
                    "INSERT OR REPLACE INTO statement_versions (name, last_version) VALUES (?, ?)",
                    (name, rec.version),
                )
                self._bump(db)
            return rec

    def get_statement(self, name: str, tenant: str | None = None) -> StatementRecord | None:
        """The statement called `name`."""
        rec = _stmt(self._one(f"SELECT {_STMT_COLS} FROM statements WHERE name = ?", (name,)))
        return rec if rec is not None and tenant in (None, rec.tenant) else None

    def list_statements(self, tenant: str | None = None) -> list[StatementRecord]:
        """All statements, sorted by name."""
        rows = self._all(f"SELECT {_STMT_COLS} FROM statements ORDER BY name")
        recs = [_stmt(r) for r in rows]
        return [r for r in recs if r is not None and tenant in (None, r.tenant)]

    def set_enabled(
        self, name: str, enabled: bool, tenant: str | None = None
    ) -> StatementRecord | None:
        """Pause or resume."""
        with self._sql.tx() as db:
            rec = _stmt(db.execute(
                f"SELECT {_STMT_COLS} FROM statements WHERE name = ?", (name,)
            ).fetchone())
            if rec is None or tenant not in (None, rec.tenant):
                return None
            if rec.enabled == bool(enabled):
                return rec
            now = self.clock()
            db.execute(
                "UPDATE statements SET enabled = ?, updated_at = ? WHERE name = ?",
                (int(bool(enabled)), now, name),
            )
            self._bump(db)
            return StatementRecord(rec.name, rec.text, rec.version, bool(enabled), rec.tenant,
                                   rec.created_at, now)

    def delete_statement(self, name: str, tenant: str | None = None) -> bool:
        """Delete; the version counter is kept."""
        with self._sql.tx() as db:
            row = db.execute("SELECT tenant FROM statements WHERE name = ?", (name,)).fetchone()
            if row is None or tenant not in (None, row[0]):
                return False
            db.execute("DELETE FROM statements WHERE name = ?", (name,))
            self._bump(db)
            return True

    def statements_revision(self) -> int:
        """Counter bumped by every statement change."""
        row = self._one("SELECT value FROM counters WHERE name = 'statements'")
        return row[0] if row else 0

    # ------------------------------------------------------------ checkpoints

    def load_checkpoint(self, partition_id: str) -> Checkpoint | None:
        """The last commit of `partition_id`."""
        row = self._one(
            "SELECT state, offsets, epoch, seq, committed_at FROM checkpoints "
            "WHERE partition_id = ? AND state IS NOT NULL",
            (partition_id,),
        )
        if row is None:
            return None
        state, offsets, epoch, seq, at = row
        return Checkpoint(partition_id, bytes(state), orjson.loads(offsets), epoch, seq, at)

    def checkpoint_ids(self) -> list[str]:
        """Partition ids that have committed."""
        rows = self._all(
            "SELECT partition_id FROM checkpoints WHERE state IS NOT NULL ORDER BY partition_id"
        )
        return [r[0] for r in rows]

    @staticmethod
    def _check_epoch(db: Any, partition_id: str, token: int) -> None:
        row = db.execute(
            "SELECT epoch FROM checkpoints WHERE partition_id = ?", (partition_id,)
        ).fetchone()
        if row is not None and token < row[0]:
            raise FencedError(partition_id, token, row[0])

    def fence(self, partition_id: str, token: int) -> int:
        """Raise the epoch to `token`."""
        check_partition_id(partition_id)
        with self._sql.tx() as db:
            self._check_epoch(db, partition_id, token)
            db.execute(
                "INSERT INTO checkpoints (partition_id, epoch) VALUES (?, ?) "
                "ON CONFLICT (partition_id) DO UPDATE SET epoch = excluded.epoch",
                (partition_id, token),
            )
        return token

    def _commit(
        self,
        partition_id: str,
        state: bytes,
        offsets_json: bytes,
        prepared: list,
        token: int,
        now: int,
    ) -> int:
        """One transaction: fence check, matches, their outbox rows, the checkpoint."""
        offsets_json = offsets_json.decode()  # type: ignore[assignment]
        with self._sql.tx() as db:
            self._check_epoch(db, partition_id, token)
            new = 0
            if prepared:
                (before,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM matches").fetchone()
                db.executemany(
                    "INSERT OR IGNORE INTO matches (match_id, partition_id, statement, "
                    "created_at, body) VALUES (?, ?, ?, ?, ?)",
                    [(mid, partition_id, stmt, now, body) for mid, stmt, body in prepared],
                )
                new = db.execute(
                    "INSERT INTO outbox (match_id, partition_id, statement, status, attempts, "
                    "error, next_at, created_at, updated_at) "
                    "SELECT match_id, partition_id, statement, ?, 0, NULL, ?, ?, ? "
                    "FROM matches WHERE seq > ? ORDER BY seq",
                    (PENDING, now, now, now, before),
                ).rowcount
            db.execute(
                "INSERT INTO checkpoints (partition_id, state, offsets, epoch, seq, committed_at) "
                "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (partition_id) DO UPDATE SET "
                "state = excluded.state, offsets = excluded.offsets, epoch = excluded.epoch, "
                "seq = checkpoints.seq + 1, committed_at = excluded.committed_at",
                (partition_id, bytes(state), offsets_json, token, now),
            )
            return new

    # ------------------------------------------------------------ outbox

    def outbox_pending(self, limit: int = 100, now: int | None = None) -> list[OutboxEntry]:
        """Pending entries due at `now`, oldest due first."""
        check_limit(limit)
        now = self.clock() if now is None else now
        rows = self._all(
            f"SELECT {_OUTBOX_COLS} FROM outbox o JOIN matches m ON m.match_id = o.match_id "
            "WHERE o.status = ? AND o.next_at <= ? ORDER BY o.next_at, m.seq LIMIT ?",
            (PENDING, now, limit),
        )
        return [_entry(r) for r in rows]

    def outbox_get(self, match_id: str) -> OutboxEntry | None:
        """One outbox entry with its match."""
        row = self._one(
            f"SELECT {_OUTBOX_COLS} FROM outbox o LEFT JOIN matches m ON m.match_id = o.match_id "
            "WHERE o.match_id = ?",
            (match_id,),
        )
        return None if row is None else _entry(row)

    def outbox_mark(
        self,
        match_id: str,
        status: str,
        attempts: int,
        error: str | None = None,
        next_attempt_at: int | None = None,
    ) -> bool:
        """Record a delivery attempt."""
        check_mark(status, attempts)
        now = self.clock()
        nxt = (now if next_attempt_at is None else next_attempt_at) if status == PENDING else None
        with self._sql.tx() as db:
            return db.execute(
                "UPDATE outbox SET status = ?, attempts = ?, error = ?, next_at = ?, "
                "updated_at = ? WHERE match_id = ?",
                (status, attempts, error, nxt, now, match_id),
            ).rowcount == 1

    def outbox_depth(self) -> int:
        """Number of pending entries."""
        row = self._one("SELECT COUNT(*) FROM outbox WHERE status = ?", (PENDING,))
        return row[0] if row else 0

    # ------------------------------------------------------------ matches

    def list_matches(
        self, statement: str | None = None, after_cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Stored matches in commit order; the cursor is the last sequence number read."""
        check_limit(limit)
        pos = int_cursor(after_cursor)
        if statement is None:
            rows = self._all(
                "SELECT seq, body FROM matches WHERE seq > ? ORDER BY seq LIMIT ?", (pos, limit)
            )
        else:
            rows = self._all(
                "SELECT seq, body FROM matches WHERE statement = ? AND seq > ? ORDER BY seq "
                "LIMIT ?",
                (statement, pos, limit),
            )
        if rows:
            pos = rows[-1][0]
        return [orjson.loads(b) for _, b in rows], str(pos)

    def match_count(self, statement: str | None = None) -> int:
        """Number of stored matches."""
        if statement is None:
            row = self._one("SELECT COUNT(*) FROM matches")
        else:
            row = self._one("SELECT COUNT(*) FROM matches WHERE statement = ?", (statement,))
        return row[0] if row else 0


    def latest_match_cursor(self) -> str | None:
        """After the newest match (its sequence number)."""
        row = self._one("SELECT COALESCE(MAX(seq), 0) FROM matches")
        return str(row[0] if row else 0)

    # ------------------------------------------------------------ resources

    def create_resource(self, kind: str, rid: str, tenant: str, doc: dict[str, Any]) -> bool:
        """Insert if absent."""
        check_resource(kind, rid, tenant)
        with self._sql.tx() as db:
            return db.execute(
                "INSERT OR IGNORE INTO resources (kind, id, tenant, doc, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (kind, rid, tenant, orjson.dumps(doc), self.clock()),
            ).rowcount == 1

    def put_resource(self, kind: str, rid: str, tenant: str, doc: dict[str, Any]) -> Resource:
        """Create or replace."""
        check_resource(kind, rid, tenant)
        body = orjson.dumps(doc)
        now = self.clock()
        with self._sql.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO resources (kind, id, tenant, doc, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (kind, rid, tenant, body, now),
            )
        return Resource(kind, rid, tenant, orjson.loads(body), now)

    def get_resource(self, kind: str, rid: str, tenant: str | None = None) -> Resource | None:
        """One resource."""
        row = self._one(
            "SELECT tenant, doc, updated_at FROM resources WHERE kind = ? AND id = ?", (kind, rid)
        )
        if row is None or tenant not in (None, row[0]):
            return None
        return Resource(kind, rid, row[0], orjson.loads(row[1]), row[2])

    def list_resources(self, kind: str, tenant: str | None = None) -> list[Resource]:
        """Resources of a kind, sorted by id."""
        if tenant is None:
            rows = self._all(
                "SELECT id, tenant, doc, updated_at FROM resources WHERE kind = ? ORDER BY id",
                (kind,),
            )
        else:
            rows = self._all(
                "SELECT id, tenant, doc, updated_at FROM resources WHERE kind = ? AND tenant = ? "
                "ORDER BY id",
                (kind, tenant),
            )
        return [Resource(kind, i, t, orjson.loads(d), u) for i, t, d, u in rows]

    def delete_resource(self, kind: str, rid: str, tenant: str | None = None) -> bool:
        """Delete."""
        with self._sql.tx() as db:
            if tenant is None:
                cur = db.execute("DELETE FROM resources WHERE kind = ? AND id = ?", (kind, rid))
            else:
                cur = db.execute(
                    "DELETE FROM resources WHERE kind = ? AND id = ? AND tenant = ?",
                    (kind, rid, tenant),
                )
            return cur.rowcount == 1

    # ------------------------------------------------------------ deliveries

    def deliveries_add(self, items: Sequence[Delivery]) -> int:
        """Insert new ids (one transaction)."""
        for d in items:
            check_delivery(d)
        if not items:
            return 0
        with self._sql.tx() as db:
            before = db.total_changes
            db.executemany(
                f"INSERT OR IGNORE INTO deliveries ({_DLV_COLS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(d.id, d.match_id, d.endpoint_id, d.tenant, d.statement, d.status, d.attempts,
                  d.next_attempt_at, d.created_at, d.updated_at, orjson.dumps(d.info))
                 for d in items],
            )
            return db.total_changes - before

    def deliveries_due(
        self, now: int | None = None, per_endpoint: int = 10, skip_endpoints: Sequence[str] = ()
    ) -> list[Delivery]:
        """Up to `per_endpoint` due deliveries of each endpoint (a window function)."""
        now = self.clock() if now is None else now
        skip = list(skip_endpoints)
        marks = ",".join("?" * len(skip))
        where = f"AND endpoint_id NOT IN ({marks})" if skip else ""
        rows = self._all(
            f"SELECT {_DLV_COLS} FROM (SELECT *, ROW_NUMBER() OVER "
            "(PARTITION BY endpoint_id ORDER BY next_at, seq) AS rn FROM deliveries "
            f"WHERE status = ? AND next_at <= ? {where}) WHERE rn <= ? ORDER BY next_at, seq",
            (PENDING, now, *skip, per_endpoint),
        )
        return [_delivery(r) for r in rows]

    def delivery_get(self, did: str, tenant: str | None = None) -> Delivery | None:
        """One delivery."""
        row = self._one(f"SELECT {_DLV_COLS} FROM deliveries WHERE id = ?", (did,))
        if row is None:
            return None
        d = _delivery(row)
        return d if tenant in (None, d.tenant) else None

    def delivery_save(self, d: Delivery) -> bool:
        """Replace the mutable fields of a delivery."""
        check_delivery(d)
        with self._sql.tx() as db:
            return db.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, next_at = ?, info = ?, "
                "updated_at = ? WHERE id = ?",
                (d.status, d.attempts, d.next_attempt_at, orjson.dumps(d.info), self.clock(),
                 d.id),
            ).rowcount == 1

    def list_deliveries(
        self,
        tenant: str | None = None,
        endpoint_id: str | None = None,
        status: str | None = None,
        statement: str | None = None,
        after_cursor: str | None = None,
        limit: int = 100,
    ) -> tuple[list[Delivery], str | None]:
        """Newest first; the cursor is the sequence number of the last one returned."""
        check_limit(limit)
        below = int_cursor(after_cursor)
        conds, args = [], []
        for col, val in (("tenant", tenant), ("endpoint_id", endpoint_id), ("status", status),
                         ("statement", statement)):
            if val is not None:
                conds.append(f"{col} = ?")
                args.append(val)
        if below:
            conds.append("seq < ?")
            args.append(below)
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        rows = self._all(
            f"SELECT seq, {_DLV_COLS} FROM deliveries {where} ORDER BY seq DESC LIMIT ?",
            (*args, limit + 1),
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return [_delivery(r[1:]) for r in rows], (str(rows[-1][0]) if more else None)

    def delivery_counts(
        self, tenant: str | None = None, endpoint_id: str | None = None
    ) -> dict[str, int]:
        """Deliveries per status."""
        conds, args = [], []
        for col, val in (("tenant", tenant), ("endpoint_id", endpoint_id)):
            if val is not None:
                conds.append(f"{col} = ?")
                args.append(val)
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        rows = self._all(f"SELECT status, COUNT(*) FROM deliveries {where} GROUP BY status",
                         tuple(args))
        counts = dict.fromkeys(OUTBOX_STATUSES, 0)
        counts.update(dict(rows))
        return counts
