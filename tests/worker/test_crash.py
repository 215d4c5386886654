"""Crash tests through the CLI, as an operator runs it: apply, produce, worker --drain, kill.

The worker process is SIGKILLed at >= 20 random moments (some while it starts or restores,
most a few commits into a run, a few milliseconds after a commit or in the middle of a
batch) and restarted each time. The final set of match ids must equal an uninterrupted
run's and plain in-memory engines' over the same log; the store must hold each id once
(matches and outbox); the watermark of every engine group must never go backwards across
the commits and restores the worker recorded in its trace. With Redis, the server itself
is crashed (SIGKILL, AOF on) and restarted twice mid-stream; the worker reconnects with
backoff and finishes with the same ids.

Default size: 60,000 P1 events with 40% bursting cards (about 2,500 matches), so the whole
file stays within CI's budget. `CEP_SOAK=1` runs the issue's full size (200,000 events,
about 3,800 matches).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from cep.bench.workloads import P1_RULE, p1_events
from cep.config import open_backends
from cep.store.redisproc import RedisServer
from tests.worker.kit import expected_ids

SOAK = os.environ.get("CEP_SOAK") == "1"
N_EVENTS, N_CARDS, BURST = (200_000, 20_000, 0.3) if SOAK else (60_000, 10_000, 0.4)
KILLS = int(os.environ.get("CEP_CRASH_KILLS", "20"))
PARTITIONS = 4
SEED = int(os.environ.get("CEP_CRASH_SEED", "20240601"))


class Workload:
    """Rules and events on disk, and the ids in-memory engines find in them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rules = root / "p1.cep"
        self.rules.write_text(P1_RULE)
        self.events_file = root / "events.jsonl"
        events = p1_events(N_EVENTS, N_CARDS, burst_share=BURST)
        self.events_file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
        self.expected = expected_ids(P1_RULE, "payments", events, PARTITIONS)


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    """The P1 workload shared by the crash tests."""
    w = Workload(tmp_path_factory.mktemp("crash-workload"))
    assert len(w.expected) >= 2000, "the crash test needs thousands of matches"
    return w


def cep(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `cep ARGS` as a user would (a new Python process)."""
    return subprocess.run([sys.executable, "-m", "cep.cli", *args], env=env,
                          capture_output=True, timeout=timeout, check=False)


def prepare(env: dict[str, str], w: Workload) -> None:
    """`cep apply` the rule and `cep produce` the events."""
    r = cep(env, "apply", "--partitions", str(PARTITIONS), str(w.rules))
    assert r.returncode == 0, r.stderr.decode()
    assert b"created   rule card_testing (v1)" in r.stdout
    r = cep(env, "produce", "--stream", "payments", str(w.events_file))
    assert r.returncode == 0, r.stderr.decode()
    assert f"appended {N_EVENTS:,} events".encode() in r.stderr


def worker_args(trace: Path) -> list[str]:
    """A worker that commits often (many crash points) and logs little."""
    return [sys.executable, "-m", "cep.cli", "worker", "--drain", "--trace", str(trace),
            "--checkpoint-events", "250", "--batch", "100", "--log-level", "warning"]


class Trace:
    """Follows the worker's trace file (JSON lines of restores and commits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.records: list[dict[str, Any]] = []

    def poll(self) -> None:
        """Read lines appended since the last poll (a torn last line waits)."""
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self.pos)
            data = f.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            self.records.append(orjson.loads(line))
        self.pos += end

    def commits(self) -> int:
        """Commits recorded so far."""
        self.poll()
        return sum(1 for r in self.records if r["ev"] == "commit")

    def progress(self) -> int:
        """Events committed so far (the latest commit of each partition)."""
        self.poll()
        last: dict[str, int] = {}
        for r in self.records:
            if r["ev"] == "commit":
                last[r["pid"]] = sum(r["offsets"].values())
        return sum(last.values())


def run_with_kills(env: dict[str, str], trace_path: Path, kills: int, rng: random.Random,
                   errlog: Path, finish: bool = True) -> list[int]:
    """Start `cep worker --drain`, SIGKILL it `kills` times, then (`finish`) let it end."""
    trace = Trace(trace_path)
    progress_at_kill: list[int] = []
    with errlog.open("ab") as err:
        while len(progress_at_kill) < kills:
            proc = subprocess.Popen(worker_args(trace_path), env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)
            try:
                if rng.random() < 0.2:  # anywhere: often while importing or restoring
                    time.sleep(rng.uniform(0.0, 0.35))
                else:  # a few commits into the run, then a few ms more
                    target = trace.commits() + rng.randint(1, 3)
                    deadline = time.monotonic() + 60
                    while trace.commits() < target and proc.poll() is None:
                        assert time.monotonic() < deadline, "worker made no progress"
                        time.sleep(0.002)
                    time.sleep(rng.uniform(0.0, 0.01))
                if proc.poll() is not None:
                    pytest.fail(f"the worker finished after {len(progress_at_kill)} kills: "
                                "too little work for the crash test (rc "
                                f"{proc.returncode}, see {errlog})")
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            progress_at_kill.append(trace.progress())
            print("kill", len(progress_at_kill), progress_at_kill[-1], file=sys.stderr)
        if not finish:
            return progress_at_kill
        final = subprocess.run(worker_args(trace_path), env=env, stdout=subprocess.DEVNULL,
                               stderr=err, timeout=300, check=False)
    assert final.returncode == 0, errlog.read_text()[-3000:]
    return progress_at_kill


def match_ids(env: dict[str, str], out: Path) -> list[str]:
    """`cep matches --out FILE`: every stored match id, in commit order."""
    r = cep(env, "matches", "--out", str(out))
    assert r.returncode == 0, r.stderr.decode()
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert all(d["id"] == d["match_id"] for d in lines)
    return [d["id"] for d in lines]


def check_store(env: dict[str, str], ids: list[str]) -> None:
    """Each match once, one outbox entry per match, every partition caught up."""
    log, store = open_backends(env["CEP_STORE"])
    try:
        assert len(ids) == len(set(ids)), "a match id was stored twice"
        assert store.match_count() == len(ids)
        assert store.outbox_depth() == len(ids), "the outbox holds an id twice (or misses one)"
    finally:
        log.close()
        store.close()
    r = cep(env, "status", "--json")
    assert r.returncode == 0, r.stderr.decode()
    doc = orjson.loads(r.stdout)
    assert [p["lag_entries"] for p in doc["partitions"]] == [0] * PARTITIONS
    assert {p["status"] for p in doc["partitions"]} == {"OK"}
    assert sum(s["committed_offset"] for p in doc["partitions"] for s in p["streams"]) == N_EVENTS


def check_watermarks(trace_path: Path) -> int:
    """No engine group's watermark ever went back, across commits and restores."""
    trace = Trace(trace_path)
    trace.poll()
    last: dict[tuple[str, str], int] = {}
    restores = 0
    for rec in trace.records:
        if rec["ev"] == "restore":
            restores += 1
            # what the engine restored is exactly what the checkpoint recorded
            assert rec["engine_watermarks"] == rec["watermarks"], rec
        for gid, wm in rec["watermarks"].items():
            if wm is None:
                continue
            key = (rec["pid"], gid)
            assert wm >= last.get(key, wm), f"watermark of {key} went back: {rec}"
            last[key] = wm
    return restores


def uninterrupted(root: Path, w: Workload) -> list[str]:
    """Ids of one clean run on a fresh SQLite store."""
    env = {**os.environ, "CEP_STORE": f"sqlite:///{root / 'clean.db'}"}
    prepare(env, w)
    r = cep(env, "worker", "--drain", "--log-level", "warning")
    assert r.returncode == 0, r.stderr.decode()
    return match_ids(env, root / "clean.jsonl")


@pytest.mark.slow
def test_sigkilled_worker_on_sqlite_ends_with_the_same_matches(
        workload: Workload, tmp_path: Path) -> None:
    env = {**os.environ, "CEP_STORE": f"sqlite:///{tmp_path / 'cep.db'}"}
    prepare(env, workload)
    trace = tmp_path / "trace.jsonl"
    rng = random.Random(SEED)
    progress = run_with_kills(env, trace, KILLS, rng, tmp_path / "worker.log")
    assert len(progress) >= KILLS
    mid = [p for p in progress if 0 < p < N_EVENTS]
    assert len(mid) >= KILLS // 2, f"too few kills mid-stream: {progress}"
    ids = match_ids(env, tmp_path / "matches.jsonl")
    check_store(env, ids)
    assert set(ids) == workload.expected, "not the in-memory engines' matches"
    assert sorted(ids) == sorted(uninterrupted(tmp_path, workload))
    assert check_watermarks(trace) >= KILLS // 2


@pytest.mark.slow
def test_redis_restarted_mid_stream_worker_reconnects(workload: Workload,
                                                       tmp_path: Path) -> None:
    srv = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        env = {**os.environ, "CEP_STORE": srv.url}
        prepare(env, workload)
        trace_path = tmp_path / "trace.jsonl"
        errlog = tmp_path / "worker.log"
        rng = random.Random(SEED + 1)
        progress = run_with_kills(env, trace_path, 5, rng, errlog, finish=False)
        assert len(progress) == 5
        # some worker crashes first, then the server's: twice while a worker drains the rest
        with errlog.open("ab") as err:
            proc = subprocess.Popen(worker_args(trace_path), env=env, stdout=subprocess.DEVNULL,
                                    stderr=err)
            trace = Trace(trace_path)
            try:
                # a long outage (beyond redis-py's own retries: the worker restarts from its
                # checkpoints) and a short one (absorbed by the client's retries)
                for share, outage in ((0.35, (1.5, 2.5)), (0.65, (0.1, 0.5))):
                    deadline = time.monotonic() + 60
                    while trace.progress() < share * N_EVENTS and proc.poll() is None:
                        assert time.monotonic() < deadline, "worker made no progress"
                        time.sleep(0.001)
                    assert proc.poll() is None, "finished before the Redis restart"
                    print("redis crash at", trace.progress(), file=sys.stderr)
                    srv.kill()
                    time.sleep(rng.uniform(*outage))  # the worker sees refused connections
                    srv.start()
                assert proc.wait(300) == 0, errlog.read_text()[-3000:]
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        text = errlog.read_text()
        assert "restarting from the checkpoints" in text
        stats = orjson.loads(text.strip().splitlines()[-1])
        assert stats["recoveries"] >= 1
        ids = match_ids(env, tmp_path / "matches.jsonl")
        check_store(env, ids)
        assert set(ids) == workload.expected
        check_watermarks(trace_path)
    finally:
        srv.stop()
