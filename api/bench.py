"""`cep bench service`: batched HTTP ingest and POST -> webhook latency of a real `cep serve`.

Setup: `cep serve` runs as its own process on a fresh SQLite store (or `--store`), with a
SEARCH over stream `bench` that matches a fraction (`--match-ratio`) of events and sends
each match to a webhook receiver in this process (loopback, allowlisted). The load
generator posts batches every `--batch-ms` at a fixed rate, from `--connections` keep-alive
connections, and stamps each marked event with the time its batch was sent.

* **latency** phase: `--rate` events/s for `--seconds`; per marked event, the time from
  the start of the POST carrying it to the webhook's arrival (p50/p95/p99/max). Goal:
  p99 < 50 ms at 5,000 events/s.
* **ramp** phase: each rate of `--ramp` for `--ramp-seconds`; a rate is *held* when the
  ingest kept up (>= 95 % of the target acknowledged) and the consumer lag (end offset -
  committed offset, over all partitions, sampled every 0.5 s) did not grow over the
  second half of the step (`max_rate_held`); it is also *delivered* when the webhooks
  kept up too (p99 under 1 s, every webhook arrived; `max_rate_delivered`).

Both client and server share this machine's cores, so the numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

__all__ = ["add_arguments", "bench_service"]

KEY = "bench-admin-key-000000000001"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `cep bench service`."""
    p.add_argument("--rate", type=int, default=5000, help="events/s of the latency phase")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the latency phase")
    p.add_argument("--match-ratio", type=float, default=0.01, help="fraction of events matched")
    p.add_argument("--batch-ms", type=int, default=10, help="one POST per connection this often")
    p.add_argument("--connections", type=int, default=4, help="keep-alive HTTP connections")
    p.add_argument("--ramp", default="5000,10000,20000,30000,40000,60000",
                   help="rates of the ramp phase ('' to skip)")
    p.add_argument("--ramp-seconds", type=float, default=8.0, help="length of each ramp step")
    p.add_argument("--partitions", type=int, default=4, help="partitions of the bench stream")
    p.add_argument("--checkpoint-ms", type=int, default=5, help="worker commit interval")
    p.add_argument("--store", default=None, help="store URL (default: a fresh SQLite file)")
    p.add_argument("--out", default="bench-service.json", help="results file")


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 2)


class Receiver:
    """A minimal HTTP/1.1 keep-alive server that timestamps each webhook by event id."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.latency_ms: list[float] = []
        self.received = 0
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _conn(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        n = int(line[15:])
                body = await r.readexactly(n)
                now = time.perf_counter()
                self.received += 1
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    eid = orjson.loads(body)["data"]["fields"]["id"]
                    t0 = self.sent.pop(eid, None)
                    if t0 is not None:
                        self.latency_ms.append((now - t0) * 1000)
                w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError,
                asyncio.CancelledError):  # the client went away, or the bench is over
            pass
        finally:
            w.close()


async def _lag(client: Any) -> int | None:
    r = await client.get("/v1/streams/bench")
    if r.status_code != 200:
        return None
    total = 0
    for p in r.json()["lag"]:
        if p["lag_entries"] is None:
            return None
        total += p["lag_entries"]
    return total


async def _phase(client: Any, rx: Receiver, rate: int, seconds: float, ratio: float,
                 batch_ms: int, conns: int, next_id: list[int]) -> dict[str, Any]:
    """Post `rate` events/s for `seconds`; returns acknowledged count and lag samples."""
    every = max(1, round(1 / ratio)) if ratio > 0 else 0
    per_tick = rate * batch_ms / 1000
    sem = asyncio.Semaphore(conns * 4)
    acked = [0]
    errors = [0]
    post_ms: list[float] = []
    lag_samples: list[tuple[float, int]] = []
    tasks: set[asyncio.Task[None]] = set()

    async def post(body: bytes, n: int, marked: list[int]) -> None:
        async with sem:
            t0 = time.perf_counter()
            for i in marked:
                rx.sent[i] = t0
            try:
                r = await client.post("/v1/streams/bench/events", content=body,
                                      headers={"content-type": "application/json"})
                if r.status_code == 200:
                    acked[0] += n
                else:
                    errors[0] += 1
            except Exception:  # a refused or timed-out POST counts as an error
                errors[0] += 1
            post_ms.append((time.perf_counter() - t0) * 1000)

    async def sample_lag(t_end: float) -> None:
        while time.perf_counter() < t_end:
            lag = await _lag(client)
            if lag is not None:
                lag_samples.append((time.perf_counter(), lag))
            await asyncio.sleep(0.5)

    start = time.perf_counter()
    sampler = asyncio.create_task(sample_lag(start + seconds))
    owed = 0.0
    tick = 0
    while True:
        target = start + tick * batch_ms / 1000
        now = time.perf_counter()
        if now - start >= seconds:
            break
        if target > now:
            await asyncio.sleep(target - now)
        owed += per_tick
        n = int(owed)
        owed -= n
        tick += 1
        if n == 0:
            continue
        evs, marked = [], []
        for _ in range(n):
            i = next_id[0]
            next_id[0] += 1
            m = bool(every) and i % every == 0
            evs.append({"id": i, "k": f"k{i % 997}", "v": i % 1000, "marker": m})
            if m:
                marked.append(i)
        t = asyncio.create_task(post(orjson.dumps(evs), n, marked))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    elapsed = time.perf_counter() - start
    if tasks:
        await asyncio.gather(*tasks)
    await sampler
    return {"target_rate": rate, "seconds": round(elapsed, 2), "acked": acked[0],
            "achieved_rate": round(acked[0] / elapsed, 1), "post_errors": errors[0],
            "post_ms_p50": _pct(post_ms, 0.5), "post_ms_p99": _pct(post_ms, 0.99),
            "lag_samples": [[round(t - start, 2), v] for t, v in lag_samples]}


def _lag_growing(samples: list[list[float]], rate: int) -> bool:
    """Lag grows if its slope over the second half exceeds 2 % of the rate (entries/s)."""
    half = [s for s in samples if s[0] >= (samples[-1][0] / 2 if samples else 0)]
    if len(half) < 3:
        return False
    xs, ys = [s[0] for s in half], [s[1] for s in half]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den
    return slope > 0.02 * rate and ys[-1] > 0.1 * rate


async def _run(args: argparse.Namespace, url: str, rx: Receiver) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=args.connections * 4,
                          max_keepalive_connections=args.connections * 4)
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {KEY}"},
                                 timeout=30, limits=limits, trust_env=False) as c:
        r = await c.post("/v1/rules", json={
            "text": "SEARCH bench_marked FROM bench WHERE marker = true EMIT id",
            "actions": [{"type": "webhook", "url": f"http://127.0.0.1:{rx.port}/hook"}]})
        if r.status_code not in (200, 201):
            raise SystemExit(f"cep bench service: cannot register the rule: {r.text}")
        for _ in range(200):
            rule = (await c.get("/v1/rules/bench_marked")).json()
            if rule["status"] == "running":
                break
            await asyncio.sleep(0.05)
        next_id = [0]
        await _phase(c, rx, 500, 2.0, args.match_ratio, args.batch_ms, args.connections,
                     next_id)  # warm-up: connections, caches, first commits
        await asyncio.sleep(1.0)
        rx.latency_ms.clear()
        rx.sent.clear()
        lat = await _phase(c, rx, args.rate, args.seconds, args.match_ratio, args.batch_ms,
                           args.connections, next_id)
        await asyncio.sleep(2.0)
        ms = list(rx.latency_ms)
        latency = {**lat, "webhooks": len(ms), "missing": len(rx.sent),
                   "p50_ms": _pct(ms, 0.5), "p95_ms": _pct(ms, 0.95), "p99_ms": _pct(ms, 0.99),
                   "max_ms": round(max(ms), 2) if ms else None}
        latency["goal_p99_under_50ms"] = bool(ms) and latency["p99_ms"] < 50
        ramp = []
        held = delivered = 0
        for rate in [int(x) for x in args.ramp.split(",") if x.strip()]:
            rx.latency_ms.clear()
            rx.sent.clear()
            step = await _phase(c, rx, rate, args.ramp_seconds, args.match_ratio,
                                args.batch_ms, args.connections, next_id)
            ms = list(rx.latency_ms)
            step["webhook_p99_ms"] = _pct(ms, 0.99)
            step["lag_growing"] = _lag_growing(step["lag_samples"], rate)
            step["held"] = step["achieved_rate"] >= 0.95 * rate and not step["lag_growing"]
            await asyncio.sleep(1.0)
            step["webhooks_missing"] = len(rx.sent)
            step["delivered"] = (step["held"] and not rx.sent and bool(ms)
                                 and (step["webhook_p99_ms"] or 0) < 1000)
            ramp.append(step)
            print(f"  ramp {rate:>6}/s: achieved {step['achieved_rate']:>8}/s, lag growing "
                  f"{step['lag_growing']}, webhook p99 {step['webhook_p99_ms']} ms, "
                  f"webhooks missing {step['webhooks_missing']}", file=sys.stderr)
            if not step["held"]:
                break
            held = rate
            if step["delivered"]:
                delivered = rate
            for _ in range(60):  # let the consumer catch up before the next step
                if (await _lag(c)) == 0:
                    break
                await asyncio.sleep(0.5)
        return {"latency": latency, "ramp": ramp, "max_rate_held": held,
                "max_rate_delivered": delivered}


def bench_service(args: argparse.Namespace) -> int:
    """Start `cep serve`, measure, write the results file."""
    import httpx

    from cep.store.redisproc import free_port

    tmp = Path(tempfile.mkdtemp(prefix="cep-bench-"))
    port = free_port()
    env = {**os.environ, "CEP_ADMIN_KEY": KEY, "CEP_WEBHOOK_ALLOWLIST": "127.0.0.1/32",
           "CEP_STORE": args.store or f"sqlite:///{tmp}/bench.db",
           "CEP_PARTITIONS": str(args.partitions), "CEP_CHECKPOINT_MS": str(args.checkpoint_ms),
           "CEP_KEY_CACHE_S": "60", "CEP_RULES_DIR": ""}
    cep = Path(sys.executable).with_name("cep")
    log = open(tmp / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(cep), "serve", "--port", str(port), "--rules", "",
                             "--log-level", "warning"], env=env, stdout=log, stderr=log,
                            cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", trust_env=False).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise SystemExit(f"cep bench service: the service did not start; see {tmp}/serve.log")

        async def main() -> dict[str, Any]:
            rx = Receiver()
            await rx.start()
            return await _run(args, url, rx)

        print(f"cep bench service: {args.rate} events/s for {args.seconds}s, then ramp "
              f"{args.ramp}", file=sys.stderr)
        results = asyncio.run(main())
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    doc = {"suite": "service", "machine": {"python": platform.python_version(),
                                           "cpus": os.cpu_count(), "platform": platform.platform()},
           "settings": {k: v for k, v in vars(args).items() if k != "func"}, **results}
    Path(args.out).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    lat = results["latency"]
    print(f"latency at {args.rate}/s: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms "
          f"({lat['webhooks']} webhooks, achieved {lat['achieved_rate']}/s); highest rate held "
          f"with lag not growing: {results['max_rate_held']}/s (webhooks keeping up: "
          f"{results['max_rate_delivered']}/s); results in {args.out}",
          file=sys.stderr)
    return 0
