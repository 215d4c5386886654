"""Redis store: statements in hashes, and per partition one atomic Lua commit on one shard.

Keys (prefix `cep`; `{...}` is the cluster hash tag, so all keys of one partition id sit on
one shard — name worker partitions `stream:p` and they share the log partition's shard):

    cep:{stmt}:defs             hash  name -> statement record JSON
    cep:{stmt}:versions         hash  name -> last version ever given (kept after delete)
    cep:{stmt}:rev              int   bumped by every statement change
    cep:partitions              set   partition ids that ever fenced or committed
    cep:{<pid>}:ckpt            hash  state, offsets (JSON), epoch, seq, at
    cep:{<pid>}:matches         stream of match ids (field m), ids give commit order
    cep:{<pid>}:stmt:<name>     stream, same entry ids, only that statement's matches
    cep:{<pid>}:bodies          hash  match id -> match JSON (HSETNX: the dedup point)
    cep:{<pid>}:outbox          hash  match id -> delivery status JSON
    cep:{<pid>}:due             zset  pending match ids scored by next attempt (ms)
    cep:{res}:<kind>            hash  resource id -> {tenant, doc, updated_at} JSON
    cep:{dlv}:rec               hash  delivery id -> delivery JSON
    cep:{dlv}:order             zset  delivery id scored by insertion number (cep:{dlv}:seq)
    cep:{dlv}:due:<endpoint>    zset  pending delivery ids of one endpoint by next attempt
    cep:{dlv}:eps               set   endpoints that ever had a pending delivery
    cep:{dlv}:counts            hash  `all|<status>`, `ep|<id>|<status>`, `t|<tenant>|<status>`

`commit` is one Lua script over the partition's keys: it reads the epoch and returns
without writing anything if the fence token is lower, then HSETNXes each match body and
only for new ids appends to the streams, the outbox and the due set, then writes the
checkpoint. Statement changes use WATCH/MULTI (rare, kept in Python). Match ids embed the
partition, so deduplicating per partition is deduplicating globally.

`list_matches` merges the partitions' match streams by entry id (server time, then
sequence): commit order within a partition, commit time across partitions. Its cursor is
the last entry id read per partition (base64url JSON), so no match is skipped or repeated
even when partitions commit out of step.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson
import redis

from cep.log.redis import _Script, connect, run_scripts
from cep.store.base import (
    OUTBOX_STATUSES,
    PENDING,
    Checkpoint,
    FencedError,
    OutboxEntry,
    StatementRecord,
    Store,
    StoreError,
    check_limit,
    check_mark,
    check_partition_id,
)
from cep.store.records import Delivery, Resource, check_delivery, check_resource

__all__ = ["RedisStore"]

_COMMIT = _Script("""
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
if tonumber(ARGV[1]) < epoch then return {-1, epoch} end
local new = 0
local i = 5
while i + 3 <= #ARGV do
  local id = ARGV[i]
  if redis.call('HSETNX', KEYS[3], id, ARGV[i + 2]) == 1 then
    local sid = redis.call('XADD', KEYS[2], '*', 'm', id)
    redis.call('XADD', KEYS[tonumber(ARGV[i + 1])], sid, 'm', id)
    redis.call('HSET', KEYS[4], id, ARGV[i + 3])
    redis.call('ZADD', KEYS[5], ARGV[4], id)
    new = new + 1
  end
  i = i + 4
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'offsets', ARGV[3], 'epoch', ARGV[1], 'at', ARGV[4])
return {new, seq}
""")

_FENCE = _Script("""
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
if tonumber(ARGV[1]) < epoch then return {-1, epoch} end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1])
return {0, epoch}
""")

_MARK = _Script("""
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
""")


_DLV_ADD = _Script("""
local new = 0
local i = 2
while i + 5 <= #ARGV do
  local id, body, ep, status = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]
  local nxt, tenant = ARGV[i+4], ARGV[i+5]
  if redis.call('HSETNX', KEYS[1], id, body) == 1 then
    local seq = redis.call('INCR', KEYS[2])
    redis.call('ZADD', KEYS[3], seq, id)
    if status == 'pending' then
      redis.call('ZADD', KEYS[5] .. ep, nxt, id)
      redis.call('SADD', KEYS[4], ep)
    end
    redis.call('HINCRBY', KEYS[6], 'all|' .. status, 1)
    redis.call('HINCRBY', KEYS[6], 'ep|' .. ep .. '|' .. status, 1)
    redis.call('HINCRBY', KEYS[6], 't|' .. tenant .. '|' .. status, 1)
    new = new + 1
  end
  i = i + 6
end
return new
""")

_DLV_SAVE = _Script("""
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local old = cjson.decode(raw)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ep, tenant, status = old['endpoint_id'], old['tenant'], ARGV[3]
if old['status'] ~= status then
  for _, f in ipairs({'all|', 'ep|' .. ep .. '|', 't|' .. tenant .. '|'}) do
    redis.call('HINCRBY', KEYS[2], f .. old['status'], -1)
    redis.call('HINCRBY', KEYS[2], f .. status, 1)
  end
end
if status == 'pending' then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
  redis.call('SADD', KEYS[4], ep)
else
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return 1
""")


def _sid_key(sid: bytes) -> tuple[int, int]:
    ms, _, seq = sid.partition(b"-")
    return int(ms), int(seq)


class RedisStore(Store):
    """The store in Redis (single node now; every multi-key step stays within one slot)."""

    def __init__(self, url: str = "redis://localhost:6379/0", prefix: str = "cep") -> None:
        self.prefix = prefix
        self.r = connect(url)
        s = f"{prefix}:{{stmt}}"
        self._defs, self._versions, self._rev = f"{s}:defs", f"{s}:versions", f"{s}:rev"
        self._pids = f"{prefix}:partitions"
        self._known: set[str] = set()  # partition ids this instance already registered
        d = f"{prefix}:{{dlv}}"
        self._d_rec, self._d_seq, self._d_order = f"{d}:rec", f"{d}:seq", f"{d}:order"
        self._d_eps, self._d_due, self._d_counts = f"{d}:eps", f"{d}:due:", f"{d}:counts"

    def close(self) -> None:
        """Close the connection pool."""
        self.r.close()

    def _k(self, pid: str, what: str) -> str:
        return f"{self.prefix}:{{{pid}}}:{what}"

    # ------------------------------------------------------------ statements

    @staticmethod
    def _rec(raw: bytes | None) -> StatementRecord | None:
        return None if raw is None else StatementRecord.from_dict(orjson.loads(raw))

    def put_statement(
        self, name: str, text: str, tenant: str = "default", enabled: bool | None = True
    ) -> StatementRecord:
        """Create or update (like kubectl apply), as one WATCH/MULTI transaction."""

        def apply(pipe: redis.client.Pipeline) -> StatementRecord:
            cur = self._rec(pipe.hget(self._defs, name))
            last = int(pipe.hget(self._versions, name) or 0)
            rec = self._next_record(cur, last, name, text, tenant, enabled)
            pipe.multi()
            if rec.change != "unchanged":
                pipe.hset(self._defs, name, orjson.dumps(rec.to_dict()))
                pipe.hset(self._versions, name, rec.version)
                pipe.incr(self._rev)
            return rec

        return self.r.transaction(apply, self._defs, self._versions, value_from_callable=True)

    def get_statement(self, name: str, tenant: str | None = None) -> StatementRecord | None:
        """The statement called `name`."""
        rec = self._rec(self.r.hget(self._defs, name))
        return rec if rec is not None and tenant in (None, rec.tenant) else None

    def list_statements(self, tenant: str | None = None) -> list[StatementRecord]:
        """All statements, sorted by name."""
        recs = [StatementRecord.from_dict(orjson.loads(v)) for v in self.r.hvals(self._defs)]
        return sorted((r for r in recs if tenant in (None, r.tenant)), key=lambda r: r.name)

    def set_enabled(
        self, name: str, enabled: bool, tenant: str | None = None
    ) -> StatementRecord | None:
        """Pause or resume."""

        def apply(pipe: redis.client.Pipeline) -> StatementRecord | None:
            rec = self._rec(pipe.hget(self._defs, name))
            pipe.multi()
            if rec is None or tenant not in (None, rec.tenant):
                return None
            if rec.enabled != bool(enabled):
                rec = replace(rec, enabled=bool(enabled), updated_at=self.clock())
                pipe.hset(self._defs, name, orjson.dumps(rec.to_dict()))
                pipe.incr(self._rev)
            return rec

        return self.r.transaction(apply, self._defs, value_from_callable=True)

    def delete_statement(self, name: str, tenant: str | None = None) -> bool:
        """Delete; the version counter is kept."""

        def apply(pipe: redis.client.Pipeline) -> bool:
            rec = self._rec(pipe.hget(self._defs, name))
            pipe.multi()
            if rec is None or tenant not in (None, rec.tenant):
                return False
            pipe.hdel(self._defs, name)
            pipe.incr(self._rev)
            return True

        return self.r.transaction(apply, self._defs, value_from_callable=True)

    def statements_revision(self) -> int:
        """Counter bumped by every statement change."""
        return int(self.r.get(self._rev) or 0)

    # ------------------------------------------------------------ checkpoints

    def _register(self, partition_id: str) -> None:
        """Add to the partition set before the first write (the set is a superset)."""
        if partition_id not in self._known:
            self.r.sadd(self._pids, partition_id)
            self._known.add(partition_id)

    def _partition_ids(self) -> list[str]:
        return sorted(p.decode() for p in self.r.smembers(self._pids))

    def load_checkpoint(self, partition_id: str) -> Checkpoint | None:
        """The last commit of `partition_id`."""
        check_partition_id(partition_id)
        h = self.r.hgetall(self._k(partition_id, "ckpt"))
        if b"state" not in h:
            return None
        return Checkpoint(
            partition_id, h[b"state"], orjson.loads(h[b"offsets"]), int(h[b"epoch"]),
            int(h[b"seq"]), int(h[b"at"]),
        )

    def checkpoint_ids(self) -> list[str]:
        """Partition ids that have committed."""
        pids = self._partition_ids()
        pipe = self.r.pipeline(transaction=False)
        for pid in pids:
            pipe.hexists(self._k(pid, "ckpt"), "state")
        return [pid for pid, ok in zip(pids, pipe.execute()) if ok]

    def fence(self, partition_id: str, token: int) -> int:
        """Raise the epoch to `token` (one Lua call)."""
        check_partition_id(partition_id)
        self._register(partition_id)
        res = run_scripts(self.r, [(_FENCE, [self._k(partition_id, "ckpt")], [int(token)])])[0]
        if res[0] == -1:
            raise FencedError(partition_id, token, int(res[1]))
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
        """One Lua script on the partition's shard: fence check, matches, outbox, checkpoint."""
        keys = [self._k(partition_id, w) for w in ("ckpt", "matches", "bodies", "outbox", "due")]
        stmt_index: dict[str, int] = {}
        argv: list[Any] = [token, bytes(state), offsets_json, now]
        for mid, stmt, body in prepared:
            k = stmt_index.get(stmt)
            if k is None:
                keys.append(self._k(partition_id, f"stmt:{stmt}"))
                k = stmt_index[stmt] = len(keys)  # Lua KEYS are 1-based
            argv += [mid, k, body, _status_json(stmt, PENDING, 0, None, now, now, now)]
        self._register(partition_id)
        res = run_scripts(self.r, [(_COMMIT, keys, argv)])[0]
        if res[0] == -1:
            raise FencedError(partition_id, token, int(res[1]))
        return int(res[0])

    # ------------------------------------------------------------ outbox

    def _entries(self, pid: str, ids: list[bytes]) -> list[OutboxEntry]:
        pipe = self.r.pipeline(transaction=False)
        pipe.hmget(self._k(pid, "outbox"), ids)
        pipe.hmget(self._k(pid, "bodies"), ids)
        statuses, bodies = pipe.execute()
        out = []
        for mid, st, body in zip(ids, statuses, bodies):
            if st is not None:
                out.append(_entry(mid.decode(), pid, st, body))
        return out

    def outbox_pending(self, limit: int = 100, now: int | None = None) -> list[OutboxEntry]:
        """Pending entries due at `now`, earliest due first (ties in any order)."""
        check_limit(limit)
        now = self.clock() if now is None else now
        pids = self._partition_ids()
        pipe = self.r.pipeline(transaction=False)
        for pid in pids:
            pipe.zrangebyscore(self._k(pid, "due"), "-inf", now, start=0, num=limit,
                               withscores=True)
        cands = [
            (score, pid, mid)
            for pid, rows in zip(pids, pipe.execute())
            for mid, score in rows
        ]
        cands.sort()
        by_pid: dict[str, list[bytes]] = {}
        for _, pid, mid in cands[:limit]:
            by_pid.setdefault(pid, []).append(mid)
        got = {(e.partition_id, e.match_id): e
               for pid, ids in by_pid.items() for e in self._entries(pid, ids)}
        return [got[(pid, mid.decode())] for _, pid, mid in cands[:limit]
                if (pid, mid.decode()) in got]

    def _find(self, match_id: str) -> tuple[str, bytes] | None:
        pids = self._partition_ids()
        pipe = self.r.pipeline(transaction=False)
        for pid in pids:
            pipe.hget(self._k(pid, "outbox"), match_id)
        for pid, raw in zip(pids, pipe.execute()):
            if raw is not None:
                return pid, raw
        return None

    def outbox_get(self, match_id: str) -> OutboxEntry | None:
        """One outbox entry with its match."""
        found = self._find(match_id)
        if found is None:
            return None
        entries = self._entries(found[0], [match_id.encode()])
        return entries[0] if entries else None

    def outbox_mark(
        self,
        match_id: str,
        status: str,
        attempts: int,
        error: str | None = None,
        next_attempt_at: int | None = None,
    ) -> bool:
        """Record a delivery attempt (status and due set updated in one Lua call)."""
        check_mark(status, attempts)
        found = self._find(match_id)
        if found is None:
            return False
        pid, raw = found
        old = orjson.loads(raw)
        now = self.clock()
        nxt = (now if next_attempt_at is None else next_attempt_at) if status == PENDING else None
        new = _status_json(old["statement"], status, attempts, error, nxt, old["created_at"], now)
        keys = [self._k(pid, "outbox"), self._k(pid, "due")]
        res = run_scripts(self.r, [(_MARK, keys, [match_id, new, "" if nxt is None else nxt])])
        return bool(res[0])

    def outbox_depth(self) -> int:
        """Number of pending entries."""
        pids = self._partition_ids()
        pipe = self.r.pipeline(transaction=False)
        for pid in pids:
            pipe.zcard(self._k(pid, "due"))
        return sum(pipe.execute())

    # ------------------------------------------------------------ matches

    def list_matches(
        self, statement: str | None = None, after_cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Stored matches merged over partitions by entry id; cursor = last id per partition."""
        check_limit(limit)
        pos = _decode_cursor(after_cursor)
        pids = self._partition_ids()
        what = "matches" if statement is None else f"stmt:{statement}"
        pipe = self.r.pipeline(transaction=False)
        for pid in pids:
            start = f"({pos[pid]}" if pid in pos else "-"
            pipe.execute_command("XRANGE", self._k(pid, what), start, "+", "COUNT", limit)
        cands = [
            (_sid_key(sid), pid, sid, fields[b"m"])
            for pid, rows in zip(pids, pipe.execute())
            for sid, fields in rows
        ]
        cands.sort()
        take = cands[:limit]
        by_pid: dict[str, list[bytes]] = {}
        for _, pid, sid, mid in take:
            by_pid.setdefault(pid, []).append(mid)
            pos[pid] = sid.decode()
        pipe = self.r.pipeline(transaction=False)
        order = list(by_pid)
        for pid in order:
            pipe.hmget(self._k(pid, "bodies"), by_pid[pid])
        bodies = {(pid, mid): b for pid, bs in zip(order, pipe.execute())
                  for mid, b in zip(by_pid[pid], bs)}
        out = [orjson.loads(bodies[(pid, mid)]) for _, pid, _, mid in take
               if bodies.get((pid, mid)) is not None]
        return out, _encode_cursor(pos)

    def match_count(self, statement: str | None = None) -> int:
        """Number of stored matches."""
        pids = self._partition_ids()
        pipe = self.r.pipeline(transaction=False)
        for pid in pids:
            if statement is None:
                pipe.hlen(self._k(pid, "bodies"))
            else:
                pipe.xlen(self._k(pid, f"stmt:{statement}"))
        return sum(pipe.execute())

    def latest_match_cursor(self) -> str | None:
        """After the newest match: the last entry id of every partition's match stream."""
        pids = self._partition_ids()
        pipe = self.r.pipeline(transaction=False)
        for pid in pids:
            pipe.execute_command("XREVRANGE", self._k(pid, "matches"), "+", "-", "COUNT", 1)
        pos = {pid: rows[0][0].decode() for pid, rows in zip(pids, pipe.execute()) if rows}
        return _encode_cursor(pos)

    # ------------------------------------------------------------ resources

    def _res(self, kind: str) -> str:
        return f"{self.prefix}:{{res}}:{kind}"

    def create_resource(self, kind: str, rid: str, tenant: str, doc: dict[str, Any]) -> bool:
        """Insert if absent (HSETNX)."""
        check_resource(kind, rid, tenant)
        body = orjson.dumps({"tenant": tenant, "doc": doc, "updated_at": self.clock()})
        return bool(self.r.hsetnx(self._res(kind), rid, body))

    def put_resource(self, kind: str, rid: str, tenant: str, doc: dict[str, Any]) -> Resource:
        """Create or replace."""
        check_resource(kind, rid, tenant)
        now = self.clock()
        body = orjson.dumps({"tenant": tenant, "doc": doc, "updated_at": now})
        self.r.hset(self._res(kind), rid, body)
        return Resource(kind, rid, tenant, orjson.loads(body)["doc"], now)

    @staticmethod
    def _resource(kind: str, rid: str, raw: bytes) -> Resource:
        d = orjson.loads(raw)
        return Resource(kind, rid, d["tenant"], d["doc"], d["updated_at"])

    def get_resource(self, kind: str, rid: str, tenant: str | None = None) -> Resource | None:
        """One resource."""
        raw = self.r.hget(self._res(kind), rid)
        if raw is None:
            return None
        res = self._resource(kind, rid, raw)
        return res if tenant in (None, res.tenant) else None

    def list_resources(self, kind: str, tenant: str | None = None) -> list[Resource]:
        """Resources of a kind, sorted by id."""
        got = [self._resource(kind, k.decode(), v)
               for k, v in self.r.hgetall(self._res(kind)).items()]
        return sorted((r for r in got if tenant in (None, r.tenant)), key=lambda r: r.id)

    def delete_resource(self, kind: str, rid: str, tenant: str | None = None) -> bool:
        """Delete (WATCH/MULTI when the tenant must match)."""
        key = self._res(kind)

        def apply(pipe: redis.client.Pipeline) -> bool:
            raw = pipe.hget(key, rid)
            pipe.multi()
            if raw is None or tenant not in (None, orjson.loads(raw)["tenant"]):
                return False
            pipe.hdel(key, rid)
            return True

        return self.r.transaction(apply, key, value_from_callable=True)

    # ------------------------------------------------------------ deliveries

    def deliveries_add(self, items: Sequence[Delivery]) -> int:
        """Insert new ids (one Lua call; HSETNX is the dedup point)."""
        for d in items:
            check_delivery(d)
        if not items:
            return 0
        argv: list[Any] = [self.clock()]
        for d in items:
            argv += [d.id, orjson.dumps(d.to_dict()), d.endpoint_id, d.status,
                     d.next_attempt_at if d.next_attempt_at is not None else 0, d.tenant]
        keys = [self._d_rec, self._d_seq, self._d_order, self._d_eps, self._d_due,
                self._d_counts]
        return int(run_scripts(self.r, [(_DLV_ADD, keys, argv)])[0])

    def deliveries_due(
        self, now: int | None = None, per_endpoint: int = 10, skip_endpoints: Sequence[str] = ()
    ) -> list[Delivery]:
        """Up to `per_endpoint` due deliveries of each endpoint (one due set per endpoint)."""
        now = self.clock() if now is None else now
        skip = set(skip_endpoints)
        eps = sorted(e.decode() for e in self.r.smembers(self._d_eps))
        eps = [e for e in eps if e not in skip]
        if not eps:
            return []
        pipe = self.r.pipeline(transaction=False)
        for ep in eps:
            pipe.zrangebyscore(self._d_due + ep, "-inf", now, start=0, num=per_endpoint)
        ids = [i for rows in pipe.execute() for i in rows]
        if not ids:
            return []
        got = [Delivery.from_dict(orjson.loads(raw))
               for raw in self.r.hmget(self._d_rec, ids) if raw is not None]
        return sorted((d for d in got if d.status == PENDING),
                      key=lambda d: (d.next_attempt_at or 0, d.created_at, d.id))

    def delivery_get(self, did: str, tenant: str | None = None) -> Delivery | None:
        """One delivery."""
        raw = self.r.hget(self._d_rec, did)
        if raw is None:
            return None
        d = Delivery.from_dict(orjson.loads(raw))
        return d if tenant in (None, d.tenant) else None

    def delivery_save(self, d: Delivery) -> bool:
        """Replace the mutable fields (one Lua call: record, counts, due set)."""
        check_delivery(d)
        cur = self.delivery_get(d.id)
        if cur is None:
            return False
        new = replace(cur, status=d.status, attempts=d.attempts,
                      next_attempt_at=d.next_attempt_at, info=d.info, updated_at=self.clock())
        keys = [self._d_rec, self._d_counts, self._d_due + cur.endpoint_id, self._d_eps]
        argv = [d.id, orjson.dumps(new.to_dict()), d.status,
                d.next_attempt_at if d.next_attempt_at is not None else 0]
        return bool(run_scripts(self.r, [(_DLV_SAVE, keys, argv)])[0])

    def list_deliveries(
        self,
        tenant: str | None = None,
        endpoint_id: str | None = None,
        status: str | None = None,
        statement: str | None = None,
        after_cursor: str | None = None,
        limit: int = 100,
    ) -> tuple[list[Delivery], str | None]:
        """Newest first, scanning the insertion order in chunks and filtering."""
        check_limit(limit)
        try:
            below = int(after_cursor) if after_cursor is not None else None
            if below is not None and below < 0:
                raise ValueError
        except ValueError:
            raise StoreError(f"invalid cursor {after_cursor!r}") from None
        top: str = f"({below}" if below is not None else "+inf"
        out: list[tuple[int, Delivery]] = []
        while len(out) <= limit:
            rows = self.r.zrevrangebyscore(self._d_order, top, "-inf", start=0, num=500,
                                           withscores=True)
            if not rows:
                break
            raws = self.r.hmget(self._d_rec, [i for i, _ in rows])
            for (_, score), raw in zip(rows, raws):
                if raw is None:
                    continue
                d = Delivery.from_dict(orjson.loads(raw))
                if (tenant in (None, d.tenant) and endpoint_id in (None, d.endpoint_id)
                        and status in (None, d.status) and statement in (None, d.statement)):
                    out.append((int(score), d))
            top = f"({int(rows[-1][1])}"
        more = len(out) > limit
        out = out[:limit]
        return [d for _, d in out], (str(out[-1][0]) if more else None)

    def delivery_counts(
        self, tenant: str | None = None, endpoint_id: str | None = None
    ) -> dict[str, int]:
        """Deliveries per status (counters kept by the Lua scripts)."""
        if endpoint_id is not None and tenant is not None:
            got = self.list_deliveries(tenant, endpoint_id, limit=10_000)[0]
            counts = dict.fromkeys(OUTBOX_STATUSES, 0)
            for d in got:
                counts[d.status] += 1
            return counts
        prefix = (f"ep|{endpoint_id}|" if endpoint_id is not None
                  else f"t|{tenant}|" if tenant is not None else "all|")
        vals = self.r.hmget(self._d_counts, [prefix + s for s in OUTBOX_STATUSES])
        return {s: int(v or 0) for s, v in zip(OUTBOX_STATUSES, vals)}


def _status_json(
    statement: str, status: str, attempts: int, error: str | None, next_at: int | None,
    created_at: int, updated_at: int,
) -> bytes:
    return orjson.dumps({
        "statement": statement, "status": status, "attempts": attempts, "error": error,
        "next_at": next_at, "created_at": created_at, "updated_at": updated_at,
    })


def _entry(mid: str, pid: str, status_raw: bytes, body: bytes | None) -> OutboxEntry:
    s = orjson.loads(status_raw)
    return OutboxEntry(
        mid, pid, s["statement"], s["status"], s["attempts"], s["error"], s["next_at"],
        s["created_at"], s["updated_at"], orjson.loads(body) if body is not None else None,
    )


def _encode_cursor(pos: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(pos, option=orjson.OPT_SORT_KEYS)).decode()


def _decode_cursor(cursor: str | None) -> dict[str, str]:
    if cursor is None:
        return {}
    try:
        pos = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(pos, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in pos.items()
        ):
            raise ValueError
        for v in pos.values():
            _sid_key(v.encode())
        if _encode_cursor(pos) != cursor:  # only cursors this store produced
            raise ValueError
    except (ValueError, TypeError):  # binascii.Error and JSONDecodeError are ValueErrors
        raise StoreError(f"invalid cursor {cursor!r}") from None
    return pos
