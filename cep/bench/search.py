"""`cep bench search`: the attribute index on workload S1 and on growing rule sets.

Why each number is measured the way it is:
- Every configuration runs in a fresh subprocess, so its resident memory (peak RSS) is its
  own and not what an earlier, larger configuration left behind in the allocator.
- The naive scan (every search against every event) runs in the same process on a sample
  of events, and the index's matches on that sample must equal it: a fast wrong index is
  reported as wrong (`all_results_correct`).
- Registration is timed on the JSON form, end to end (JSON → AST → normal form → index),
  then again live: adds, replacements and removals interleaved with events.
- After loading, `gc.freeze()` moves the million index objects out of the collector's
  generations (a service does the same after a bulk load); without it a full collection
  walks them all and shows up as a multi-millisecond p99.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import platform
import resource
import time
from collections.abc import Callable
from typing import Any

__all__ = ["add_arguments", "bench_search"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `cep bench search`."""
    p.add_argument("--queries", default="100000,1000000", help="comma-separated search counts")
    p.add_argument("--events", type=int, default=20_000, help="listings per measurement")
    p.add_argument("--naive-events", type=int, default=20, help="listings for the naive scan")
    p.add_argument("--fanout", type=float, default=10.0, help="target mean matches per event")
    p.add_argument("--broad-fanout", type=float, default=300.0, help="the broad variant's")
    p.add_argument("--broad-events", type=int, default=3_000, help="listings, broad variant")
    p.add_argument("--live-ops", type=int, default=20_000, help="live registrations to time")
    p.add_argument("--rules", default="100,1000,10000", help="comma-separated RULE counts")
    p.add_argument("--rule-events", type=int, default=4_000, help="events per rule count")
    p.add_argument("--out", default="bench-search.json", help="results file")
    p.add_argument("--seed", type=int, default=2)


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _pct(sorted_vals: list[float], q: float) -> float:
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * q))]


def run_s1(
    q: int, fanout: float, n_events: int, naive_events: int, live_ops: int, seed: int
) -> dict:
    """One S1 configuration (runs in its own process)."""
    from cep.bench.search_workload import calibrate, iter_searches, listings, naive
    from cep.engine import Engine
    from cep.index.attribute import AttributeIndex
    from cep.index.searches import SearchSpec
    from cep.index.stats import index_stats
    from cep.lang.search_json import search_from_json

    t0 = time.perf_counter()
    width = calibrate(q, fanout, seed)
    calib_s = time.perf_counter() - t0
    events = listings(n_events, seed + 1000)
    sample = events[:naive_events]
    gc.collect()
    rss0 = _rss_mb()
    engine = Engine([], index=AttributeIndex())
    add = engine.add_statement
    load_s = naive_s = 0.0
    want: list[tuple] = []
    chunk: list[dict] = []

    def flush_chunk() -> None:
        nonlocal load_s, naive_s
        t = time.perf_counter()
        for d in chunk:
            add(SearchSpec.from_ast(search_from_json(d)))
        load_s += time.perf_counter() - t
        t = time.perf_counter()
        want.extend(naive(chunk, sample))
        naive_s += time.perf_counter() - t
        chunk.clear()

    for d in iter_searches(q, width, seed):
        chunk.append(d)
        if len(chunk) == 10_000:
            flush_chunk()
    flush_chunk()
    gc.collect()
    gc.freeze()
    rss1 = _rss_mb()
    process = engine.process
    pc = time.perf_counter
    lat = []
    got: list[tuple] = []
    matches = 0
    t_all = pc()
    for off, ev in enumerate(events):
        t = pc()
        process(ev, off, "listings")
        lat.append(pc() - t)
        out = engine.out
        if out:
            matches += len(out)
            if off < naive_events:
                got.extend((m.statement, ev["id"]) for m in out)
            out.clear()
    total = pc() - t_all
    lat.sort()
    stats = index_stats(engine)["streams"]["listings"]
    live = _live(engine, width, seed, live_ops, n_events) if live_ops else None
    return {
        "queries": q,
        "target_fanout": fanout,
        "price_width": round(width, 6),
        "calibration_seconds": round(calib_s, 2),
        "load_seconds": round(load_s, 2),
        "registrations_per_s_bulk": round(q / load_s),
        "rss_mb_before_load": round(rss0, 1),
        "rss_mb_after_load": round(rss1, 1),
        "bytes_per_search": round((rss1 - rss0) * 2**20 / q),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "events": n_events,
        "events_per_s": round(n_events / total),
        "p50_us": round(_pct(lat, 0.5) * 1e6, 1),
        "p99_us": round(_pct(lat, 0.99) * 1e6, 1),
        "p999_us": round(_pct(lat, 0.999) * 1e6, 1),
        "mean_fanout": round(matches / n_events, 2),
        "naive_sample_events": len(sample),
        "naive_ms_per_event": round(naive_s / max(1, len(sample)) * 1e3, 2),
        "naive_matches": len(want),
        "index_matches_on_sample": len(got),
        "matches_equal_naive": sorted(got) == sorted(want),
        "index": {
            k: stats[k]
            for k in (
                "partitions",
                "wildcard_partition_size",
                "largest_partitions",
                "partitions_visited_per_event",
                "candidates_per_event",
            )
        },
        "live": live,
    }


def _live(engine: Any, width: float, seed: int, ops: int, off0: int) -> dict:
    """Adds, replacements and removals interleaved with events (one event per 10 ops)."""
    from cep.bench.search_workload import iter_searches, listings
    from cep.index.searches import SearchSpec
    from cep.lang.search_json import search_from_json

    docs = list(iter_searches(ops, width, seed + 7, prefix="live"))
    evs = listings(ops // 10 + 1, seed + 3)
    idx = engine.index
    before = len(idx.searches)
    pc = time.perf_counter
    reg = 0.0
    ev_t = 0.0
    n_ev = 0
    for i, d in enumerate(docs):
        t = pc()
        engine.add_statement(SearchSpec.from_ast(search_from_json(d)))
        if i % 4 == 3:  # a replacement of an earlier live search
            engine.add_statement(SearchSpec.from_ast(search_from_json({**docs[i - 1]})))
        reg += pc() - t
        if i % 10 == 0:
            t = pc()
            # after the measured events in event time too (else they are late and dropped)
            engine.process({**evs[n_ev], "ts": off0 + n_ev}, off0 + n_ev, "listings")
            engine.out.clear()
            ev_t += pc() - t
            n_ev += 1
    t = pc()
    for d in docs:
        engine.remove_statement(d["name"])
    rem = pc() - t
    n_reg = ops + ops // 4
    return {
        "adds_and_replacements": n_reg,
        "registrations_per_s": round(n_reg / reg),
        "removals_per_s": round(ops / rem),
        "events_interleaved": n_ev,
        "events_per_s_while_registering": round(n_ev / ev_t) if ev_t else None,
        "searches_back_to_before": len(idx.searches) == before,
    }


def run_rules(counts: list[int], n_events: int, seed: int) -> dict:
    """RULEs with selective first steps sharing the index: µs per event as rules grow."""
    import random

    from cep.index.attribute import AttributeIndex
    from cep.index.plain import PlainIndex
    from cep.lang.compiler import compile_text

    def make_events(merchants: int) -> list[dict]:
        rng = random.Random(seed)
        return [
            {
                "card": rng.randrange(2000),
                "merchant": f"m{rng.randrange(merchants)}",
                "amount": round(rng.lognormvariate(3, 1.2), 2),
                "country": rng.choice(("KR", "US", "JP", "DE")),
                "ts": i * 100,
            }
            for i in range(n_events)
        ]

    curve = []
    for n in counts:
        # one rule per merchant, events spread over the same merchants: every event's
        # first step matches about one rule whatever n is, as selective rules do
        events = make_events(n)
        text = "\n".join(
            f"RULE r{i} FROM payments PARTITION BY card PATTERN (a b) "
            f"DEFINE a AS merchant = 'm{i}' AND amount > {i % 50}, "
            f"b AS amount > a.amount * 2 AND country != a.country WITHIN 10m;"
            for i in range(n)
        )
        stmts, specs = compile_text(text)
        # plain costs O(rules) per event: it runs on a tenth of the events past 1,000 rules
        plain_evs = events if n <= 1000 else events[: max(1, n_events // 10)]
        att_us, att_ids = _run_rules(stmts, specs, AttributeIndex(), events)
        plain_us, plain_ids = _run_rules(stmts, specs, PlainIndex(), plain_evs)
        if plain_evs is not events:
            att_ids = _run_rules(stmts, specs, AttributeIndex(), plain_evs)[1]
        curve.append(
            {
                "rules": n,
                "attribute_us_per_event": att_us,
                "attribute_events": len(events),
                "plain_us_per_event": plain_us,
                "plain_events": len(plain_evs),
                "matches": len(att_ids),
                "matches_equal_plain": att_ids == plain_ids,
            }
        )
    return {
        "workload": "n RULEs (a b) WITHIN 10m: a = merchant m_i AND amount > x (one rule per "
        "merchant, events over the n merchants); b reads a's bindings",
        "curve": curve,
    }


def _run_rules(stmts: list, specs: dict, index: Any, events: list) -> tuple[float, list]:
    from cep.engine import Engine

    e = Engine(stmts, specs, index=index)
    t = time.perf_counter()
    for off, ev in enumerate(events):
        e.process(ev, off, "payments")
    e.flush()
    dt = time.perf_counter() - t
    return round(dt / len(events) * 1e6, 1), sorted(m.match_id for m in e.take())


def _in_child(fn: Callable, *args: Any) -> Any:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def bench_search(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Run every configuration; return the results document."""
    qs = [int(x) for x in str(args.queries).split(",") if x]
    results: dict[str, Any] = {
        "suite": "search",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "s1": [],
    }
    for q in qs:
        log(f"S1: {q:,} searches, target fan-out {args.fanout} ...")
        r = _in_child(
            run_s1, q, args.fanout, args.events, args.naive_events, args.live_ops, args.seed
        )
        log(_line(r))
        results["s1"].append(r)
    qb = max(qs)
    log(f"S1 broad: {qb:,} searches, target fan-out {args.broad_fanout} ...")
    rb = _in_child(
        run_s1, qb, args.broad_fanout, args.broad_events, args.naive_events, 0, args.seed
    )
    log(_line(rb))
    results["s1_broad"] = rb
    counts = [int(x) for x in str(args.rules).split(",") if x]
    log(f"rules sharing the index: {counts} ...")
    results["rules"] = _in_child(run_rules, counts, args.rule_events, args.seed)
    for row in results["rules"]["curve"]:
        log(
            f"  {row['rules']:>6} rules: attribute {row['attribute_us_per_event']} us/event, "
            f"plain {row['plain_us_per_event']} us/event, equal={row['matches_equal_plain']}"
        )
    big = results["s1"][-1]
    results["goals"] = {
        "events_per_s_at_max_queries_fanout_10 (>= 50000)": big["events_per_s"],
        "p99_us_at_max_queries (<= 200)": big["p99_us"],
        "events_per_s_broad (>= 5000)": rb["events_per_s"],
        "peak_rss_mb_at_max_queries (<= 1024)": big["peak_rss_mb"],
        "registrations_per_s_live (>= 10000)": big["live"]["registrations_per_s"],
    }
    results["all_results_correct"] = (
        all(r["matches_equal_naive"] for r in results["s1"])
        and rb["matches_equal_naive"]
        and all(row["matches_equal_plain"] for row in results["rules"]["curve"])
    )
    return results


def _line(r: dict) -> str:
    return (
        f"  {r['queries']:,} searches: load {r['load_seconds']}s "
        f"({r['registrations_per_s_bulk']:,}/s), {r['bytes_per_search']} B/search, "
        f"peak RSS {r['peak_rss_mb']} MB; {r['events_per_s']:,} ev/s, p50 {r['p50_us']} us, "
        f"p99 {r['p99_us']} us, fan-out {r['mean_fanout']}; naive {r['naive_ms_per_event']} "
        f"ms/event; equal to naive: {r['matches_equal_naive']}"
    )
