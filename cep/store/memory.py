"""In-memory store for unit tests: the Store contract in dicts under one lock."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

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

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """Everything in process memory; nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stmts: dict[str, StatementRecord] = {}
        self._versions: dict[str, int] = {}
        self._revision = 0
        self._ckpts: dict[str, Checkpoint] = {}
        self._epochs: dict[str, int] = {}
        self._matches: list[tuple[str, str, bytes]] = []  # (id, statement, body) in commit order
        self._match_ids: set[str] = set()
        self._outbox: dict[str, OutboxEntry] = {}
        self._resources: dict[tuple[str, str], Resource] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._dseq: dict[str, int] = {}  # delivery id -> insertion number

    # ------------------------------------------------------------ statements

    def put_statement(
        self, name: str, text: str, tenant: str = "default", enabled: bool | None = True
    ) -> StatementRecord:
        """Create or update (like kubectl apply)."""
        with self._lock:
            rec = self._next_record(
                self._stmts.get(name), self._versions.get(name, 0), name, text, tenant, enabled
            )
            if rec.change != "unchanged":
                self._stmts[name] = replace(rec, change="")
                self._versions[name] = rec.version
                self._revision += 1
            return rec

    def get_statement(self, name: str, tenant: str | None = None) -> StatementRecord | None:
        """The statement called `name`."""
        rec = self._stmts.get(name)
        return rec if rec is not None and tenant in (None, rec.tenant) else None

    def list_statements(self, tenant: str | None = None) -> list[StatementRecord]:
        """All statements, sorted by name."""
        with self._lock:
            recs = list(self._stmts.values())
        return sorted((r for r in recs if tenant in (None, r.tenant)), key=lambda r: r.name)

    def set_enabled(
        self, name: str, enabled: bool, tenant: str | None = None
    ) -> StatementRecord | None:
        """Pause or resume."""
        with self._lock:
            rec = self.get_statement(name, tenant)
            if rec is None:
                return None
            if rec.enabled != bool(enabled):
                rec = self._stmts[name] = replace(
                    rec, enabled=bool(enabled), updated_at=self.clock()
                )
                self._revision += 1
            return rec

    def delete_statement(self, name: str, tenant: str | None = None) -> bool:
        """Delete; the version counter is kept."""
        with self._lock:
            if self.get_statement(name, tenant) is None:
                return False
            del self._stmts[name]
            self._revision += 1
            return True

    def statements_revision(self) -> int:
        """Counter bumped by every statement change."""
        return self._revision

    # ------------------------------------------------------------ checkpoints

    def load_checkpoint(self, partition_id: str) -> Checkpoint | None:
        """The last commit of `partition_id` (a copy: callers may change the offsets)."""
        ck = self._ckpts.get(partition_id)
        return None if ck is None else replace(ck, offsets=dict(ck.offsets))

    def checkpoint_ids(self) -> list[str]:
        """Partition ids that have committed."""
        return sorted(self._ckpts)

    def fence(self, partition_id: str, token: int) -> int:
        """Raise the epoch to `token`."""
        check_partition_id(partition_id)
        with self._lock:
            epoch = self._epochs.get(partition_id, 0)
            if token < epoch:
                raise FencedError(partition_id, token, epoch)
            self._epochs[partition_id] = token
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
        """Atomically store state, offsets, new matches and outbox entries."""
        with self._lock:
            epoch = self._epochs.get(partition_id, 0)
            if token < epoch:
                raise FencedError(partition_id, token, epoch)
            new = 0
            for mid, stmt, body in prepared:
                if mid in self._match_ids:
                    continue
                self._match_ids.add(mid)
                self._matches.append((mid, stmt, body))
                self._outbox[mid] = OutboxEntry(
                    mid, partition_id, stmt, PENDING, 0, None, now, now, now
                )
                new += 1
            self._epochs[partition_id] = token
            prev = self._ckpts.get(partition_id)
            self._ckpts[partition_id] = Checkpoint(
                partition_id, bytes(state), orjson.loads(offsets_json), token,
                (prev.seq if prev else 0) + 1, now,
            )
            return new

    # ------------------------------------------------------------ outbox

    def _body(self, mid: str) -> dict[str, Any] | None:
        for m, _, body in self._matches:
            if m == mid:
                return orjson.loads(body)
        return None

    def outbox_pending(self, limit: int = 100, now: int | None = None) -> list[OutboxEntry]:
        """Pending entries due at `now`, oldest due first."""
        check_limit(limit)
        now = self.clock() if now is None else now
        with self._lock:
            order = {m: i for i, (m, _, _) in enumerate(self._matches)}
            due = sorted(
                (e for e in self._outbox.values()
                 if e.status == PENDING and (e.next_attempt_at or 0) <= now),
                key=lambda e: (e.next_attempt_at or 0, order[e.match_id]),
            )[:limit]
            bodies = {m: b for m, _, b in self._matches if m in {e.match_id for e in due}}
        return [replace(e, match=orjson.loads(bodies[e.match_id])) for e in due]

    def outbox_get(self, match_id: str) -> OutboxEntry | None:
        """One outbox entry with its match."""
        e = self._outbox.get(match_id)
        return None if e is None else replace(e, match=self._body(match_id))

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
        with self._lock:
            e = self._outbox.get(match_id)
            if e is None:
                return False
            nxt = None
            if status == PENDING:
                nxt = now if next_attempt_at is None else next_attempt_at
            self._outbox[match_id] = replace(
                e, status=status, attempts=attempts, error=error, next_attempt_at=nxt,
                updated_at=now,
            )
            return True

    def outbox_depth(self) -> int:
        """Number of pending entries."""
        return sum(e.status == PENDING for e in self._outbox.values())

    # ------------------------------------------------------------ matches

    def list_matches(
        self, statement: str | None = None, after_cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Stored matches in commit order after the cursor (a position in commit order)."""
        check_limit(limit)
        pos = int_cursor(after_cursor)
        out: list[dict[str, Any]] = []
        with self._lock:
            i = pos
            while i < len(self._matches) and len(out) < limit:
                _, stmt, body = self._matches[i]
                i += 1
                if statement is None or stmt == statement:
                    out.append(orjson.loads(body))
                    pos = i
            if len(out) < limit:
                pos = i
        return out, str(pos)

    def match_count(self, statement: str | None = None) -> int:
        """Number of stored matches."""
        if statement is None:
            return len(self._matches)
        return sum(s == statement for _, s, _ in self._matches)


    def latest_match_cursor(self) -> str | None:
        """After the newest match."""
        return str(len(self._matches))

    # ------------------------------------------------------------ resources

    def create_resource(self, kind: str, rid: str, tenant: str, doc: dict[str, Any]) -> bool:
        """Insert if absent."""
        check_resource(kind, rid, tenant)
        with self._lock:
            if (kind, rid) in self._resources:
                return False
            self._resources[(kind, rid)] = Resource(kind, rid, tenant, _copy(doc), self.clock())
            return True

    def put_resource(self, kind: str, rid: str, tenant: str, doc: dict[str, Any]) -> Resource:
        """Create or replace."""
        check_resource(kind, rid, tenant)
        res = Resource(kind, rid, tenant, _copy(doc), self.clock())
        with self._lock:
            self._resources[(kind, rid)] = res
        return Resource(kind, rid, tenant, _copy(doc), res.updated_at)

    def get_resource(self, kind: str, rid: str, tenant: str | None = None) -> Resource | None:
        """One resource."""
        res = self._resources.get((kind, rid))
        if res is None or tenant not in (None, res.tenant):
            return None
        return replace(res, doc=_copy(res.doc))

    def list_resources(self, kind: str, tenant: str | None = None) -> list[Resource]:
        """Resources of a kind, sorted by id."""
        with self._lock:
            got = [r for (k, _), r in self._resources.items()
                   if k == kind and tenant in (None, r.tenant)]
        return [replace(r, doc=_copy(r.doc)) for r in sorted(got, key=lambda r: r.id)]

    def delete_resource(self, kind: str, rid: str, tenant: str | None = None) -> bool:
        """Delete."""
        with self._lock:
            res = self._resources.get((kind, rid))
            if res is None or tenant not in (None, res.tenant):
                return False
            del self._resources[(kind, rid)]
            return True

    # ------------------------------------------------------------ deliveries

    def deliveries_add(self, items: Sequence[Delivery]) -> int:
        """Insert new ids."""
        for d in items:
            check_delivery(d)
        new = 0
        with self._lock:
            for d in items:
                if d.id in self._deliveries:
                    continue
                self._deliveries[d.id] = replace(d, info=_copy(d.info))
                self._dseq[d.id] = len(self._dseq) + 1
                new += 1
        return new

    def deliveries_due(
        self, now: int | None = None, per_endpoint: int = 10, skip_endpoints: Sequence[str] = ()
    ) -> list[Delivery]:
        """Up to `per_endpoint` due deliveries of each endpoint."""
        now = self.clock() if now is None else now
        skip = set(skip_endpoints)
        with self._lock:
            due = sorted(
                (d for d in self._deliveries.values()
                 if d.status == PENDING and d.endpoint_id not in skip
                 and (d.next_attempt_at or 0) <= now),
                key=lambda d: (d.next_attempt_at or 0, self._dseq[d.id]),
            )
        taken: dict[str, int] = {}
        out = []
        for d in due:
            if taken.get(d.endpoint_id, 0) < per_endpoint:
                taken[d.endpoint_id] = taken.get(d.endpoint_id, 0) + 1
                out.append(replace(d, info=_copy(d.info)))
        return out

    def delivery_get(self, did: str, tenant: str | None = None) -> Delivery | None:
        """One delivery."""
        d = self._deliveries.get(did)
        if d is None or tenant not in (None, d.tenant):
            return None
        return replace(d, info=_copy(d.info))

    def delivery_save(self, d: Delivery) -> bool:
        """Replace the mutable fields of a delivery."""
        check_delivery(d)
        with self._lock:
            cur = self._deliveries.get(d.id)
            if cur is None:
                return False
            self._deliveries[d.id] = replace(
                cur, status=d.status, attempts=d.attempts, next_attempt_at=d.next_attempt_at,
                info=_copy(d.info), updated_at=self.clock(),
            )
            return True

    def list_deliveries(
        self,
        tenant: str | None = None,
        endpoint_id: str | None = None,
        status: str | None = None,
        statement: str | None = None,
        after_cursor: str | None = None,
        limit: int = 100,
    ) -> tuple[list[Delivery], str | None]:
        """Newest first; the cursor is the insertion number of the last one returned."""
        check_limit(limit)
        below = int_cursor(after_cursor) or None
        with self._lock:
            rows = sorted(
                ((self._dseq[d.id], d) for d in self._deliveries.values()
                 if tenant in (None, d.tenant) and endpoint_id in (None, d.endpoint_id)
                 and status in (None, d.status) and statement in (None, d.statement)
                 and (below is None or self._dseq[d.id] < below)),
                key=lambda x: -x[0],
            )
        page = rows[:limit]
        more = len(rows) > limit
        return ([replace(d, info=_copy(d.info)) for _, d in page],
                str(page[-1][0]) if more else None)

    def delivery_counts(
        self, tenant: str | None = None, endpoint_id: str | None = None
    ) -> dict[str, int]:
        """Deliveries per status."""
        counts = dict.fromkeys(OUTBOX_STATUSES, 0)
        with self._lock:
            for d in self._deliveries.values():
                if tenant in (None, d.tenant) and endpoint_id in (None, d.endpoint_id):
                    counts[d.status] += 1
        return counts


def _copy(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy through JSON (documents are JSON; callers never share them with us)."""
    return orjson.loads(orjson.dumps(doc))
