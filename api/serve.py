"""`cep serve` and `cep demo`: the whole service in one process, and a producer to watch it.

`cep serve` opens CEP_STORE (default: SQLite file ./cep.db), makes sure an admin key
exists (printed once) or takes CEP_ADMIN_KEY, applies the rule packs of `rules/` (like
`cep apply`: unchanged statements stay unchanged), then runs the API (uvicorn), the worker
and the webhook dispatcher as threads of one process. SIGINT/SIGTERM stop it gracefully:
uvicorn stops accepting and finishes requests in flight (an acknowledged event is already
durable), live feeds end, the worker commits its in-flight batch (offsets, state and
matches in one checkpoint), the dispatcher records the attempts in flight, then the files
are closed. Nothing acknowledged is lost; a kill -9 instead replays from the checkpoints.

`cep demo` posts synthetic payments (card-testing bursts among normal traffic) to a
running service with current timestamps, so `card_testing` of the fraud pack fires every
few seconds; `cep serve --demo` runs the same producer inside the service.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from api.settings import Settings

__all__ = ["add_arguments", "cmd_demo", "cmd_serve", "demo_events"]

log_ = logging.getLogger("cep.serve")


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def demo_events(rng: random.Random, now_ms: Callable[[], int]) -> Iterator[dict[str, Any]]:
    """Payments forever: mostly ordinary ones, every 20th card runs a card-testing burst."""
    n = 0
    while True:
        n += 1
        card = f"c-{rng.randrange(100_000):05d}"
        country = rng.choice(["US", "DE", "KR", "FR"])
        base = {"card_id": card, "currency": "USD", "country": country,
                "user_id": f"u-{rng.randrange(10_000)}"}
        if n % 20 == 0:
            for amount in (1.0, 0.5, 2.0, 950.0):
                yield {**base, "payment_id": f"p-{n}-{amount}", "amount": amount,
                       "merchant": "m-tiny" if amount < 5 else "electronics",
                       "ts": _iso(now_ms())}
        else:
            yield {**base, "payment_id": f"p-{n}", "amount": round(rng.uniform(5, 300), 2),
                   "merchant": rng.choice(["rewe", "shop-1", "cafe"]), "ts": _iso(now_ms())}


def _produce(post: Callable[[list[dict[str, Any]]], None], rate: float, seconds: float | None,
             stop: threading.Event) -> int:
    """Send batches of ~rate/10 events every 100 ms until stopped or `seconds` passed."""
    rng = random.Random(7)
    gen = demo_events(rng, lambda: int(time.time() * 1000))
    per_tick = max(1, round(rate / 10))
    sent = 0
    t_end = None if seconds is None else time.monotonic() + seconds
    while not stop.is_set() and (t_end is None or time.monotonic() < t_end):
        t0 = time.monotonic()
        batch = [next(gen) for _ in range(per_tick)]
        post(batch)
        sent += len(batch)
        stop.wait(max(0.0, 0.1 - (time.monotonic() - t0)))
    return sent


def _apply_packs(rt: Any, directory: str) -> None:
    from api.statements import OWNER, owner_id
    from cep.cli import rule_files
    from cep.cli_ops import apply_sources

    path = Path(directory)
    if not directory or not path.is_dir():
        if directory:
            log_.warning("rule packs: %s is not a directory; none applied", directory)
        return
    sources = [(str(f), f.read_text(encoding="utf-8")) for f in rule_files([str(path)])]
    res = apply_sources(rt.log, rt.store, sources, partitions=rt.settings.partitions)
    if res.errors:
        for e in res.errors:
            log_.error("rule packs: %s", e)
        log_.error("rule packs: nothing applied (%d error(s))", len(res.errors))
        return
    counts: dict[str, int] = {}
    for change, kind, name, _ in res.items:
        counts[change] = counts.get(change, 0) + 1
        record = f"stream:{name}" if kind == "stream" else name
        rt.store.create_resource(OWNER, owner_id(record), "default", {"name": record})
    log_.info("rule packs from %s: %s", directory,
              ", ".join(f"{n} {c}" for c, n in sorted(counts.items())))


def cmd_serve(args: argparse.Namespace) -> int:
    """Run API + worker + dispatcher until SIGINT/SIGTERM."""
    import uvicorn

    from api.app import create_app
    from api.runtime import Runtime
    from cep.keys import ensure_admin

    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(store=args.store, host=args.host, port=args.port,
                                 rules_dir=args.rules)
    rt = Runtime(settings)
    token = ensure_admin(rt.store, settings.admin_key)
    if token:
        print(f"\n  admin API key (shown once, keep it): {token}\n", file=sys.stderr, flush=True)
    _apply_packs(rt, settings.rules_dir)
    rt.start()
    app = create_app(rt)
    stop_demo = threading.Event()
    if args.demo:
        threading.Thread(target=_demo_inside, args=(rt, args.demo_rate, stop_demo),
                         name="cep-demo", daemon=True).start()

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            rt.stopping.set()  # live feeds end, so uvicorn need not wait for them
            stop_demo.set()
            super().handle_exit(sig, frame)
            self._captured_signals.clear()  # we stop gracefully; no re-raise after run()

    config = uvicorn.Config(app, host=settings.host, port=settings.port,
                            log_level=args.log_level, access_log=False,
                            timeout_graceful_shutdown=10)
    server = Server(config)
    print(f"  cep serving on http://{settings.host}:{settings.port}  (console: /, API docs: "
          "/docs)", file=sys.stderr, flush=True)
    try:
        server.run()
    finally:
        stop_demo.set()
        rt.stop()
        rt.close()
    print("  cep stopped: worker checkpointed, dispatcher drained", file=sys.stderr, flush=True)
    return 0


def _demo_inside(rt: Any, rate: float, stop: threading.Event) -> None:
    def post(batch: list[dict[str, Any]]) -> None:
        if "payments" not in rt.log.streams():
            rt.log.create_stream("payments", rt.settings.partitions)
        rt.log.append("payments", batch, [e["card_id"] for e in batch])
        rt.kick_worker()

    n = _produce(post, rate, None, stop)
    log_.info("demo producer stopped after %d events", n)


def cmd_demo(args: argparse.Namespace) -> int:
    """Post synthetic payments to a running service so card_testing matches fire."""
    import httpx

    key = args.key
    if not key:
        print("cep demo: pass --key (or set CEP_API_KEY) with a writer key", file=sys.stderr)
        return 2
    client = httpx.Client(base_url=args.url, headers={"authorization": f"Bearer {key}"},
                          timeout=10, trust_env=False)

    def post(batch: list[dict[str, Any]]) -> None:
        r = client.post("/v1/streams/payments/events", content=orjson.dumps(batch),
                        headers={"content-type": "application/json"})
        if r.status_code != 200:
            raise SystemExit(f"cep demo: {r.status_code} {r.text}")

    stop = threading.Event()
    try:
        n = _produce(post, args.rate, args.seconds, stop)
    except KeyboardInterrupt:
        n = -1
    finally:
        client.close()
    print(f"cep demo: sent {n} events" if n >= 0 else "cep demo: stopped", file=sys.stderr)
    return 0


def add_arguments(serve: argparse.ArgumentParser, demo: argparse.ArgumentParser) -> None:
    """Flags of `cep serve` and `cep demo`."""
    import os

    serve.add_argument("--host", default=None, help="bind address (default $CEP_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default $CEP_PORT, 8000)")
    serve.add_argument("--store", default=None, help="store URL (default $CEP_STORE, sqlite)")
    serve.add_argument("--rules", default=None,
                       help="rule packs applied at start (default $CEP_RULES_DIR, rules; '' none)")
    serve.add_argument("--demo", action="store_true", help="also produce demo payments")
    serve.add_argument("--demo-rate", type=float, default=50.0, help="demo events per second")
    serve.add_argument("--log-level", default="info", help="debug, info, warning, error")
    demo.add_argument("--url", default="http://127.0.0.1:8000", help="the service")
    demo.add_argument("--key", default=os.environ.get("CEP_API_KEY"), help="a writer API key")
    demo.add_argument("--rate", type=float, default=50.0, help="events per second")
    demo.add_argument("--seconds", type=float, default=None, help="stop after this long")
