"""`cep bench patterns`: throughput, memory and compile-time numbers, each checked for correctness.

Results go to a JSON file. Throughput is reported next to a baseline measured in the same
process on the same events (the plain reference implementation), because this machine is
shared and noisy: the ratio is what to compare across runs, not the absolute number.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Any

import orjson

from cep.bench import reference, workloads
from cep.engine import Engine
from cep.lang.compiler import compile_text

__all__ = ["run_bench"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_engine(
    text: str, events: list[dict], stream: str, index: Any = None
) -> tuple[Engine, float, list]:
    stmts, specs = compile_text(text)
    engine = Engine(stmts, specs, index=index)
    process = engine.process
    gc.collect()
    t0 = time.perf_counter()
    for off, ev in enumerate(events):
        process(ev, off, stream)
    engine.flush()
    elapsed = time.perf_counter() - t0
    return engine, elapsed, engine.take()


def bench_p1(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """P1: `small{3,} large WITHIN 10m` per card, engine vs the plain reference."""
    t0 = time.perf_counter()
    events = workloads.p1_events(args.events, args.cards, args.seed)
    gen_s = time.perf_counter() - t0
    log(f"P1: generated {len(events):,} events in {gen_s:.1f}s")

    t0 = time.perf_counter()
    ref = reference.small_then_large(events)
    ref_s = time.perf_counter() - t0
    _, eng_s, matches = _run_engine(workloads.P1_RULE, events, "payments")
    got = [(m.key, m.offsets[0][1], m.offsets[-1][1]) for m in matches]
    correct = sorted(got) == sorted(ref)
    log(
        f"P1: engine {len(events) / eng_s:,.0f} ev/s, reference {len(events) / ref_s:,.0f} ev/s, "
        f"matches {len(got)} vs {len(ref)} ({'equal' if correct else 'DIFFERENT'})"
    )

    # memory: state retained per key, measured with tracemalloc on a prefix
    prefix = events[: min(len(events), 200_000)]
    stmts, specs = compile_text(workloads.P1_RULE)
    mem_engine = Engine(stmts, specs)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for off, ev in enumerate(prefix):
        mem_engine.process(ev, off, "payments")
    mem_engine.take()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    here = os.path.dirname(os.path.dirname(__file__))
    retained = sum(
        s.size_diff
        for s in after.compare_to(before, "filename")
        if s.traceback[0].filename.startswith(here)
    )
    keys_seen = len({ev["card_id"] for ev in prefix})
    runner = mem_engine.runners["card_testing"]
    live = len(runner.states)
    return {
        "workload": "P1: small{3,} large WITHIN 10m PARTITION BY card_id",
        "events": len(events),
        "cards": args.cards,
        "engine_events_per_s": round(len(events) / eng_s),
        "engine_seconds": round(eng_s, 3),
        "reference_events_per_s": round(len(events) / ref_s),
        "reference_seconds": round(ref_s, 3),
        "engine_vs_reference": round(ref_s / eng_s, 3),
        "matches": len(got),
        "reference_matches": len(ref),
        "matches_equal_reference": correct,
        "memory_prefix_events": len(prefix),
        "memory_keys_seen": keys_seen,
        "memory_live_keys_at_end_of_prefix": live,
        "memory_retained_bytes": retained,
        "bytes_per_key_seen": round(retained / max(1, keys_seen), 1),
        # an upper bound: every byte the engine retained, live keys included, over all keys
        "bytes_per_idle_key": round(retained / max(1, keys_seen), 1),
        "bytes_per_live_key": round(retained / live, 1) if live else None,
        "note": "idle keys (no partial match) hold no state at all: the engine deletes a key's "
        "state when its last partial match ends",
        "_events": events,
    }


def bench_replay_e2e(events: list[dict], log: Any) -> dict[str, Any]:
    """`cep replay` from a JSON-lines file, in a subprocess, end to end."""
    with tempfile.TemporaryDirectory() as tmp:
        ev_path = os.path.join(tmp, "events.jsonl")
        rule_path = os.path.join(tmp, "p1.cep")
        with open(ev_path, "wb") as f:
            for ev in events:
                f.write(orjson.dumps({**ev, "stream": "payments"}) + b"\n")
        with open(rule_path, "w") as f:
            f.write(workloads.P1_RULE)
        out_path = os.path.join(tmp, "matches.jsonl")
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "cep.cli",
                "replay",
                "--rules",
                rule_path,
                "--events",
                ev_path,
                "--out",
                out_path,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"replay failed: {proc.stderr[-2000:]}")
        with open(out_path, "rb") as f:
            n = sum(1 for _ in f)
    log(f"replay end to end: {len(events) / elapsed:,.0f} ev/s, {n} matches")
    return {
        "events": len(events),
        "seconds": round(elapsed, 3),
        "events_per_s": round(len(events) / elapsed),
        "matches": n,
    }


def bench_fraud_mix(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """1,000 fraud rules over one stream; shape-0 rules are checked against the reference."""
    text = workloads.fraud_mix_rules(args.mix_rules)
    t0 = time.perf_counter()
    stmts, _ = compile_text(text)
    compile_s = time.perf_counter() - t0
    events = workloads.fraud_mix_events(args.mix_events)
    _, eng_s, matches = _run_engine(text, events, "payments")
    from cep.index.attribute import AttributeIndex

    _, idx_s, idx_matches = _run_engine(text, events, "payments", AttributeIndex())
    same_with_index = sorted(m.match_id for m in idx_matches) == sorted(m.match_id for m in matches)
    by_rule: dict[str, list] = {}
    for m in matches:
        by_rule.setdefault(m.statement, []).append((m.key, m.offsets[0][1], m.offsets[-1][1]))
    checked = mismatched = 0
    import re as _re

    for s in text.split(";"):
        m = _re.search(
            r"RULE (mix_\d+) .*PATTERN \(s\{(\d+),\} l\) DEFINE s AS amount < (\d+), "
            r"l AS amount > (\d+) WITHIN (\d+)m",
            s,
        )
        if not m:
            continue
        name, k, lo, hi, win = (
            m.group(1),
            int(m.group(2)),
            int(m.group(3)),
            int(m.group(4)),
            int(m.group(5)),
        )
        want = reference.small_then_large(events, k, lo, hi, win * 60_000)
        checked += 1
        if sorted(by_rule.get(name, [])) != sorted(want):
            mismatched += 1
    log(
        f"fraud mix with the attribute index: {len(events) / idx_s:,.0f} ev/s, "
        f"matches {'equal' if same_with_index else 'DIFFERENT'} to plain"
    )
    log(
        f"fraud mix: {len(stmts)} rules compiled in {compile_s:.2f}s; "
        f"{len(events) / eng_s:,.0f} ev/s; {len(matches)} matches; "
        f"{checked} rules checked against the reference, {mismatched} differ"
    )
    return {
        "rules": len(stmts),
        "compile_seconds": round(compile_s, 3),
        "events": len(events),
        "events_per_s": round(len(events) / eng_s),
        "rule_evaluations_per_s": round(len(events) * len(stmts) / eng_s),
        "matches": len(matches),
        "rules_checked_against_reference": checked,
        "rules_differing_from_reference": mismatched,
        "index": "plain: every rule of the stream sees every event",
        "attribute_index_events_per_s": round(len(events) / idx_s),
        "attribute_index_vs_plain": round(eng_s / idx_s, 2),
        "attribute_index_matches_equal_plain": same_with_index,
    }


def bench_search_compile(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """Compile N SEARCH statements from text, then check them on listings."""
    text, params = workloads.search_statements(args.searches)
    t0 = time.perf_counter()
    stmts, specs = compile_text(text)
    compile_s = time.perf_counter() - t0
    listings = workloads.listing_events(300)
    engine = Engine(stmts, specs)
    for off, ev in enumerate(listings):
        engine.process(ev, off, "listings")
    engine.flush()
    got = sorted((m.statement, m.bindings["event"][0]["id"]) for m in engine.take())
    want = sorted(reference.saved_search_matches(params, listings))
    log(
        f"searches: {len(stmts)} compiled in {compile_s:.2f}s ({len(stmts) / compile_s:,.0f}/s); "
        f"{len(got)} matches on {len(listings)} listings "
        f"({'equal' if got == want else 'DIFFERENT'} to naive)"
    )
    return {
        "statements": len(stmts),
        "compile_seconds": round(compile_s, 3),
        "statements_per_s": round(len(stmts) / compile_s),
        "check_listings": len(listings),
        "check_matches": len(got),
        "matches_equal_naive": got == want,
    }


def run_bench(args: argparse.Namespace) -> int:
    """Run every part of the `patterns` suite and write the results file."""

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    results: dict[str, Any] = {
        "suite": "patterns",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    results["search_compile"] = bench_search_compile(args, log)
    results["p1"] = p1 = bench_p1(args, log)
    events = p1.pop("_events")
    results["replay_end_to_end"] = bench_replay_e2e(events, log)
    del events
    results["fraud_mix"] = bench_fraud_mix(args, log)
    results["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    ok = (
        p1["matches_equal_reference"]
        and results["search_compile"]["matches_equal_naive"]
        and results["fraud_mix"]["rules_differing_from_reference"] == 0
        and results["fraud_mix"]["attribute_index_matches_equal_plain"]
    )
    results["all_results_correct"] = ok
    with open(args.out, "wb") as f:
        f.write(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    log(f"results written to {args.out}; correctness {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1
