"""`cep bench log`: append and read throughput of the log, and checkpoint cost, per backend.

Appends P1 payments (keyed by card) in batches of 1, 100 and 1,000 events to a fresh
stream of each backend, reads them back in batches of 1,000, and times `Store.commit`
(state blob + offsets + a few matches) per partition. End to end, it registers the P1 rule
in a fresh store, appends the events, and times `cep worker --drain` (the `Worker`, with
its default checkpoint interval) consuming them, against plain in-memory engines (one
per partition, fed the same events as dicts, no log, no checkpoints); the worker's own
checkpoint cost (snapshot + commit) is reported per partition. Redis runs on a private
`redis-server` (AOF on, appendfsync everysec: the durability the service ships with)
unless `--redis-url` names one, in which case keys live under a throwaway prefix that is
deleted afterwards. Each measurement stops after `--seconds` or when the events run out,
so the batch-1 runs stay short. Run: `python -m cep.bench.log --out bench-log.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from cep.bench.workloads import P1_RULE, p1_events
from cep.log.base import Log
from cep.store.base import Store

__all__ = ["GOALS", "add_arguments", "bench_log", "main"]

GOALS = {"sqlite": 50_000, "redis": 100_000}  # events/s appended in batches of 1,000
CONSUME_GOAL = 0.7  # worker throughput / in-memory engine throughput
BATCH_SIZES = (1, 100, 1000)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `cep bench log` (shared with `python -m cep.bench.log`)."""
    p.add_argument("--events", type=int, default=200_000, help="P1 events per run (default 200k)")
    p.add_argument("--cards", type=int, default=20_000, help="distinct keys (default 20k)")
    p.add_argument("--partitions", type=int, default=8, help="partitions per stream (default 8)")
    p.add_argument("--backends", default="sqlite,redis",
                   help="comma-separated: sqlite, redis, memory (default sqlite,redis)")
    p.add_argument("--seconds", type=float, default=5.0,
                   help="time budget per measurement (default 5)")
    p.add_argument("--sqlite-sync", default="normal", choices=["normal", "full"],
                   help="SQLite synchronous mode (default normal, the service default)")
    p.add_argument("--redis-url", default=None,
                   help="existing Redis to use (default: start a private redis-server)")
    p.add_argument("--no-consume", action="store_true",
                   help="skip the end-to-end worker measurement")
    p.add_argument("--out", default="bench-log.json", help="results file")


@contextlib.contextmanager
def _open(name: str, args: argparse.Namespace, tmp: Path) -> Iterator[tuple[Log, Store, dict]]:
    """A fresh (log, store) of backend `name`, and facts about its setup."""
    if name == "memory":
        from cep.log.memory import MemoryLog
        from cep.store.memory import MemoryStore

        yield MemoryLog(), MemoryStore(), {"note": "in-process, not durable"}
    elif name == "sqlite":
        from cep.log.sqlite import SqliteLog
        from cep.store.sqlite import SqliteStore

        path = tmp / "bench.db"
        log, store = SqliteLog(path, args.sqlite_sync), SqliteStore(path, args.sqlite_sync)
        try:
            yield log, store, {"journal": "wal", "synchronous": args.sqlite_sync}
        finally:
            log.close()
            store.close()
    elif name == "redis":
        from cep.log.redis import RedisLog
        from cep.store.redis import RedisStore
        from cep.store.redisproc import RedisServer

        if args.redis_url:
            prefix = f"cep-bench-{os.getpid()}"
            log, store = RedisLog(args.redis_url, prefix=prefix), RedisStore(args.redis_url, prefix)
            try:
                yield log, store, {"server": "given", "prefix": prefix}
            finally:
                keys = list(log.r.scan_iter(match=f"{prefix}:*", count=1000))
                for i in range(0, len(keys), 500):
                    log.r.delete(*keys[i : i + 500])
                log.close()
                store.close()
        else:
            with RedisServer(tmp / "redis") as srv:
                log, store = RedisLog(srv.url), RedisStore(srv.url)
                info = log.r.info("server")
                try:
                    yield log, store, {
                        "server": f"private redis-server {info.get('redis_version')}",
                        "appendonly": "yes", "appendfsync": "everysec",
                    }
                finally:
                    log.close()
                    store.close()
    else:
        raise SystemExit(f"unknown backend {name!r}: use sqlite, redis or memory")


def _rate(n: int, seconds: float) -> int:
    return round(n / seconds) if seconds > 0 else 0


def _append(log: Log, stream: str, events: list[dict], keys: list[str], batch: int,
            budget: float) -> dict[str, Any]:
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + budget
    append = log.append
    while n < len(events):
        append(stream, events[n : n + batch], keys[n : n + batch])
        n += len(events[n : n + batch])
        if time.perf_counter() > deadline:
            break
    s = time.perf_counter() - t0
    return {"events": n, "seconds": round(s, 3), "events_per_s": _rate(n, s)}


def _read(log: Log, stream: str, partitions: int) -> dict[str, Any]:
    n = 0
    t0 = time.perf_counter()
    for p in range(partitions):
        pos = 0
        while True:
            got = log.read(stream, p, pos, 1000)
            if not got:
                break
            n += len(got)
            pos = got[-1][0] + 1
    s = time.perf_counter() - t0
    return {"events": n, "batch": 1000, "seconds": round(s, 3), "events_per_s": _rate(n, s)}


def _commits(store: Store, partitions: int, budget: float, state_bytes: int = 65_536,
             matches_per_commit: int = 10) -> dict[str, Any]:
    state = os.urandom(state_bytes)
    times: list[float] = []
    deadline = time.perf_counter() + budget
    i = 0
    while time.perf_counter() < deadline and i < 20_000:
        pid = f"p1:{i % partitions}"
        ms = [{"match_id": f"bench-{i}-{j}", "statement": "card_testing", "key": f"c{j}",
               "fields": {"attempts": 3, "amount": 900.0}} for j in range(matches_per_commit)]
        t = time.perf_counter()
        store.commit(pid, state, {"payments": i * 1000}, ms, fence_token=1)
        times.append(time.perf_counter() - t)
        i += 1
    times.sort()
    return {
        "commits": len(times), "state_bytes": state_bytes,
        "matches_per_commit": matches_per_commit,
        "ms_mean": round(1000 * statistics.fmean(times), 3),
        "ms_p50": round(1000 * times[len(times) // 2], 3),
        "ms_p99": round(1000 * times[min(len(times) - 1, int(len(times) * 0.99))], 3),
        "commits_per_s": _rate(len(times), sum(times)),
    }


def _in_memory(events: list[dict], keys: list[str], partitions: int) -> dict[str, Any]:
    """P1 through plain engines, one per partition, events already decoded: the baseline."""
    from cep.engine import Engine
    from cep.lang.compiler import compile_text
    from cep.log.base import partition_of

    statements, specs = compile_text(P1_RULE)
    parts: list[list[dict]] = [[] for _ in range(partitions)]
    for ev, k in zip(events, keys):
        parts[partition_of(k, partitions)].append(ev)
    runs = []
    for _ in range(3):  # best of three: the baseline must not look slow by accident
        matches = 0
        t0 = time.perf_counter()
        for p, evs in enumerate(parts):
            eng = Engine(statements, specs, partition=p)
            process = eng.process
            for off, ev in enumerate(evs):
                process(ev, off, "payments")
            matches += len(eng.take())
        runs.append(time.perf_counter() - t0)
    s = min(runs)
    return {"events": len(events), "seconds": round(s, 3), "events_per_s": _rate(len(events), s),
            "matches": matches, "runs_seconds": [round(x, 3) for x in runs]}


def _consume(name: str, args: argparse.Namespace, events: list[dict], keys: list[str],
             baseline: dict[str, Any]) -> dict[str, Any]:
    """`Worker.run(drain=True)` over P1 in the log: throughput and checkpoint cost."""
    from cep.cli_ops import apply_sources
    from cep.worker import DEFAULT_CHECKPOINT_EVENTS, DEFAULT_CHECKPOINT_MS, Worker

    with tempfile.TemporaryDirectory(prefix="cep-bench-consume-") as tmp, \
            _open(name, args, Path(tmp)) as (log, store, _):
        res = apply_sources(log, store, [("p1.cep", P1_RULE)], args.partitions)
        assert not res.errors, res.errors
        for i in range(0, len(events), 1000):
            log.append("payments", events[i : i + 1000], keys[i : i + 1000])
        w = Worker(log, store, alert_stream=None)
        t0 = time.perf_counter()
        stats = w.run(drain=True)
        s = time.perf_counter() - t0
        w.close()
        n = sum(p["events"] for p in stats["partitions"].values())
        rate = _rate(n, s)
        return {
            "events": n, "seconds": round(s, 3), "events_per_s": rate,
            "matches": store.match_count(),
            "vs_in_memory_engine": round(rate / baseline["events_per_s"], 3)
            if baseline["events_per_s"] else None,
            "checkpoint_every": {"events": DEFAULT_CHECKPOINT_EVENTS,
                                 "ms": DEFAULT_CHECKPOINT_MS},
            "checkpoint_per_partition": {
                p: {"commits": v["commits"], "ms_mean": v["checkpoint_ms_mean"],
                    "state_bytes": v["checkpoint_bytes"]}
                for p, v in stats["partitions"].items()
            },
        }


def _bench_backend(name: str, args: argparse.Namespace, events: list[dict], keys: list[str],
                   say: Callable[[str], None],
                   baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append at every batch size, read back, time commits: one backend's results."""
    with tempfile.TemporaryDirectory(prefix="cep-bench-log-") as tmp, \
            _open(name, args, Path(tmp)) as (log, store, setup):
        res: dict[str, Any] = {"setup": setup, "append": {}}
        for b in BATCH_SIZES:
            stream = f"p1_b{b}"
            log.create_stream(stream, args.partitions)
            r = res["append"][f"batch_{b}"] = _append(log, stream, events, keys, b, args.seconds)
            say(f"{name}: append batch {b:>5}: {r['events_per_s']:>9,} ev/s "
                f"({r['events']:,} events in {r['seconds']}s)")
        r = res["read"] = _read(log, f"p1_b{BATCH_SIZES[-1]}", args.partitions)
        say(f"{name}: read batch  1000: {r['events_per_s']:>9,} ev/s ({r['events']:,} events)")
        r = res["checkpoint"] = _commits(store, args.partitions, min(args.seconds, 3.0))
        say(f"{name}: commit (64 KiB state, 10 matches): {r['ms_mean']} ms mean, "
            f"p99 {r['ms_p99']} ms")
        goal = GOALS.get(name)
        if goal:
            got = res["append"][f"batch_{BATCH_SIZES[-1]}"]["events_per_s"]
            res["goal"] = {"batched_append_events_per_s": goal, "met": got >= goal}
    if baseline is not None:
        c = res["consume"] = _consume(name, args, events, keys, baseline)
        costs = [v["ms_mean"] for v in c["checkpoint_per_partition"].values() if v["ms_mean"]]
        say(f"{name}: worker P1 end to end: {c['events_per_s']:>9,} ev/s = "
            f"{c['vs_in_memory_engine']:.0%} of the in-memory engine; checkpoint "
            f"{min(costs, default=0)}-{max(costs, default=0)} ms per partition")
        res.setdefault("goal", {})["consume_vs_in_memory"] = CONSUME_GOAL
        res["goal"]["consume_met"] = (c["vs_in_memory_engine"] or 0) >= CONSUME_GOAL
    return res


def bench_log(args: argparse.Namespace, say: Callable[[str], None] | None = None) -> dict:
    """Run the log benchmark for every backend named in args.backends; return the results."""
    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    events = p1_events(args.events, args.cards)
    keys = [e["card_id"] for e in events]
    gc.collect()
    gc.freeze()  # the generated events are not part of what is measured: keep GC off them
    size = sum(len(orjson.dumps(e)) for e in events[:1000]) / min(1000, len(events))
    say(f"log bench: {len(events):,} P1 events (~{size:.0f} bytes each) generated in "
        f"{time.perf_counter() - t0:.1f}s")
    results: dict[str, Any] = {
        "suite": "log",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "config": {"events": len(events), "cards": args.cards, "partitions": args.partitions,
                   "seconds_budget": args.seconds, "event_bytes_avg": round(size)},
        "backends": {},
    }
    try:
        baseline = None
        if not args.no_consume:
            baseline = results["in_memory_engine"] = _in_memory(events, keys, args.partitions)
            say(f"in-memory engine, P1 over {args.partitions} partitions: "
                f"{baseline['events_per_s']:>9,} ev/s ({baseline['matches']} matches)")
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            results["backends"][name] = _bench_backend(name, args, events, keys, say, baseline)
    finally:
        gc.unfreeze()
    return results


def main(argv: list[str] | None = None) -> int:
    """`python -m cep.bench.log`: run and write the JSON results file."""
    p = argparse.ArgumentParser(prog="python -m cep.bench.log", description=__doc__)
    add_arguments(p)
    args = p.parse_args(argv)
    results = bench_log(args)
    Path(args.out).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"results written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
