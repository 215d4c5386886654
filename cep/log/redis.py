"""Redis log: one Redis Stream per partition, offsets as contiguous integers.

Keys (prefix `cep`, `{...}` is the Redis Cluster hash tag, so every key of one partition —
and the checkpoint keys of a worker partition id `stream:p` — live on one shard):

    cep:streams               hash  stream name -> {"partitions": n}
    cep:{<stream>:<p>}:log    stream of entries, field `e` = the event's JSON
    cep:{<stream>:<p>}:head   hash  next = next offset to write, ret = retention (0: none)

Offsets: entry id `<offset>-1` (the milliseconds part is the offset; Redis refuses `0-0`,
hence sequence 1). The append Lua script bumps `next` with HINCRBY and XADDs the batch
with explicit ids in one atomic call, so offsets are contiguous even with concurrent
producers and never reused after trimming; retention is an exact `XTRIM MINID` in the same
script. A batch travels as one bulk string of concatenated events plus their lengths (few
RESP arguments to pack), one script call per partition, all pipelined in one round trip.
Reading from offset o is one script call running `XRANGE <o>-0 + COUNT n` that returns two
JSON arrays (offsets, events), each decoded by one orjson call: redis-py's per-element
reply parsing of a plain XRANGE was about 4x slower.

Durability: an append is acknowledged when the server replied; with `appendonly yes` the
entry is in the AOF (written before the reply, fsynced per `appendfsync`, every second by
default), so it survives a crash of the server process. Appends are never retried
automatically: a connection error during append means "unknown whether written", and a
caller that retries accepts a possible duplicate (at-least-once ingest).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from cep.log.base import EventLimits, Log, LogError, PartitionCountError, StreamNotFoundError

__all__ = ["RedisLog", "connect", "run_scripts"]

_CREATE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local n = tonumber(string.match(cur, '"partitions":(%d+)'))
  if n ~= tonumber(ARGV[2]) then return n end
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 0
"""

_SET_RETENTION = """
redis.call('HSETNX', KEYS[1], 'next', 0)
redis.call('HSET', KEYS[1], 'ret', ARGV[1])
local ret = tonumber(ARGV[1])
local nxt = tonumber(redis.call('HGET', KEYS[1], 'next'))
if ret > 0 and nxt > ret then
  redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d-0', nxt - ret))
end
return 0
"""

_APPEND = """
local data, n, lens = ARGV[1], 0, {}
for l in string.gmatch(ARGV[2], '%d+') do
  n = n + 1
  lens[n] = tonumber(l)
end
local nxt = redis.call('HINCRBY', KEYS[2], 'next', n)
local base = nxt - n
local pos = 1
for i = 1, n do
  local e = string.sub(data, pos, pos + lens[i] - 1)
  pos = pos + lens[i]
  redis.call('XADD', KEYS[1], string.format('%d-1', base + i - 1), 'e', e)
end
local ret = tonumber(redis.call('HGET', KEYS[2], 'ret') or '0')
if ret > 0 and nxt > ret then
  redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-0', nxt - ret))
end
return base
"""

_READ = """
local rows = redis.call('XRANGE', KEYS[1], ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
local offs, evs = {}, {}
for i, r in ipairs(rows) do
  local id = r[1]
  offs[i] = string.sub(id, 1, string.find(id, '-', 1, true) - 1)
  evs[i] = r[2][2]
end
return {'[' .. table.concat(offs, ',') .. ']', '[' .. table.concat(evs, ',') .. ']'}
"""

_TRIM = """
local nxt = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
local before = math.min(tonumber(ARGV[1]), nxt)
return redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d-0', before))
"""


def connect(url: str, retries: int = 3) -> redis.Redis:
    """A client for `url` (bytes replies); `retries` reconnect attempts with backoff."""
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries) if retries else Retry(
        NoBackoff(), 0
    )
    return redis.Redis.from_url(
        url, decode_responses=False, retry=retry, socket_timeout=30, socket_connect_timeout=5
    )


class _Script:
    """A Lua script run by EVALSHA, loaded on demand (also after a server restart)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    def args(self, keys: Sequence[Any], argv: Sequence[Any]) -> tuple:
        return ("EVALSHA", self.sha, len(keys), *keys, *argv)


def run_scripts(client: redis.Redis, calls: list[tuple[_Script, Sequence, Sequence]]) -> list:
    """Run script calls pipelined in one round trip; load missing scripts and re-run those."""
    if len(calls) == 1:
        script, keys, argv = calls[0]
        try:
            return [client.execute_command(*script.args(keys, argv))]
        except redis.exceptions.NoScriptError:
            client.script_load(script.text)
            return [client.execute_command(*script.args(keys, argv))]
    pipe = client.pipeline(transaction=False)
    for script, keys, argv in calls:
        pipe.execute_command(*script.args(keys, argv))
    results = pipe.execute(raise_on_error=False)
    missing = [i for i, r in enumerate(results) if isinstance(r, redis.exceptions.NoScriptError)]
    if missing:
        for s in {calls[i][0].sha: calls[i][0] for i in missing}.values():
            client.script_load(s.text)
        pipe = client.pipeline(transaction=False)
        for i in missing:
            script, keys, argv = calls[i]
            pipe.execute_command(*script.args(keys, argv))
        for i, r in zip(missing, pipe.execute(raise_on_error=False)):
            results[i] = r
    for r in results:
        if isinstance(r, Exception):
            raise r
    return results


CREATE, SET_RETENTION, APPEND, READ, TRIM = (
    _Script(_CREATE), _Script(_SET_RETENTION), _Script(_APPEND), _Script(_READ), _Script(_TRIM)
)


class RedisLog(Log):
    """The log in Redis Streams (one stream per partition)."""

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        limits: EventLimits | None = None,
        prefix: str = "cep",
    ) -> None:
        self.limits = limits or EventLimits()
        self.prefix = prefix
        self.r = connect(url)  # reads and idempotent writes: retried with backoff
        self.w = connect(url, retries=0)  # appends: never retried behind the caller's back
        self._meta: dict[str, int] = {}

    def close(self) -> None:
        """Close the connection pools."""
        self.r.close()
        self.w.close()

    def _keys(self, stream: str, part: int) -> tuple[str, str]:
        tag = f"{self.prefix}:{{{stream}:{part}}}"
        return f"{tag}:log", f"{tag}:head"

    # ------------------------------------------------------------ streams

    def create_stream(self, name: str, partitions: int, retention: int | None = None) -> None:
        """Create a stream (idempotent); refuse a different partition count; set retention."""
        self._validate_create(name, partitions, retention)
        meta = orjson.dumps({"partitions": partitions}).decode()
        have = run_scripts(self.r, [(CREATE, [f"{self.prefix}:streams"], [name, partitions, meta])])
        if have[0]:
            raise PartitionCountError(f"stream {name!r} has {have[0]} partitions, not {partitions}")
        run_scripts(
            self.r,
            [
                (SET_RETENTION, [self._keys(name, p)[1], self._keys(name, p)[0]], [retention or 0])
                for p in range(partitions)
            ],
        )
        self._meta[name] = partitions

    def streams(self) -> dict[str, int]:
        """Every stream's name and partition count."""
        raw = self.r.hgetall(f"{self.prefix}:streams")
        return {k.decode(): orjson.loads(v)["partitions"] for k, v in raw.items()}

    def partitions(self, stream: str) -> int:
        """Partition count of `stream` (cached: it never changes)."""
        n = self._meta.get(stream)
        if n is None:
            raw = self.r.hget(f"{self.prefix}:streams", stream)
            if raw is None:
                raise StreamNotFoundError(stream)
            n = self._meta[stream] = orjson.loads(raw)["partitions"]
        return n

    def retention(self, stream: str) -> int | None:
        """Max entries per partition kept for `stream`."""
        self.partitions(stream)
        raw = self.r.hget(self._keys(stream, 0)[1], "ret")
        return int(raw) if raw and int(raw) > 0 else None

    # ------------------------------------------------------------ data

    def append(
        self, stream: str, events: Sequence[dict], keys: Sequence[Any] | None = None
    ) -> list[tuple[int, int]]:
        """Append events, one Lua call per partition, all pipelined; (partition, offset) each."""
        nparts = self.partitions(stream)
        data, parts = self._route(stream, nparts, events, keys)
        if not data:
            return []
        groups: dict[int, list[bytes]] = {}
        for d, p in zip(data, parts):
            groups.setdefault(p, []).append(d)
        order = list(groups)
        calls = [
            (APPEND, self._keys(stream, p),
             [b"".join(groups[p]), ",".join(str(len(d)) for d in groups[p])])
            for p in order
        ]
        bases = run_scripts(self.w, calls)
        nxt = {p: int(b) for p, b in zip(order, bases)}
        out = []
        for p in parts:
            out.append((p, nxt[p]))
            nxt[p] += 1
        return out

    def read(
        self, stream: str, partition: int, from_offset: int, max_count: int
    ) -> list[tuple[int, dict]]:
        """Up to max_count (offset, event) with offset >= from_offset (one XRANGE)."""
        self._check_read(partition, self.partitions(stream), from_offset, max_count)
        offs, evs = run_scripts(
            self.r, [(READ, [self._keys(stream, partition)[0]], [from_offset, max_count])]
        )[0]
        return list(zip(orjson.loads(offs), orjson.loads(evs)))

    def end_offsets(self, stream: str) -> list[int]:
        """Per partition, the next offset to be written (one pipelined round trip)."""
        n = self.partitions(stream)
        pipe = self.r.pipeline(transaction=False)
        for p in range(n):
            pipe.hget(self._keys(stream, p)[1], "next")
        return [int(v or 0) for v in pipe.execute()]

    def first_offsets(self, stream: str) -> list[int]:
        """Per partition, the oldest retained offset (end offset when empty)."""
        n = self.partitions(stream)
        pipe = self.r.pipeline(transaction=False)
        for p in range(n):
            log, head = self._keys(stream, p)
            pipe.execute_command("XRANGE", log, "-", "+", "COUNT", 1)
            pipe.hget(head, "next")
        res = pipe.execute()
        out = []
        for p in range(n):
            first, nxt = res[2 * p], res[2 * p + 1]
            out.append(int(first[0][0].split(b"-")[0]) if first else int(nxt or 0))
        return out

    def trim(self, stream: str, partition: int, before_offset: int) -> int:
        """Delete entries with offset < before_offset; return how many were removed."""
        nparts = self.partitions(stream)
        if not 0 <= partition < nparts:
            raise LogError(f"partition {partition} out of range 0..{nparts - 1}")
        log, head = self._keys(stream, partition)
        return int(run_scripts(self.r, [(TRIM, [head, log], [before_offset])])[0])
