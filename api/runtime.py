"""The Runtime: everything one service process holds (backends, guard, dispatcher, worker).

Routes reach it through `deps.RuntimeDep`. `cep serve` starts the worker and the
dispatcher as threads of the same process (`start`/`stop`); an API-only process (tests,
several API replicas in front of separate workers) simply does not start them.

Two wake-ups keep the embedded service's latency low without busy polling: an ingest
request wakes the worker (which otherwise backs off up to 200 ms when idle), and every
worker commit wakes the dispatcher (a store wrapper), so a match goes out right after the
checkpoint that holds it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from api.settings import Settings
from api.statements import Statements
from cep.actions.dispatcher import Dispatcher
from cep.actions.endpoints import Endpoints
from cep.actions.schedule import RetryPolicy
from cep.actions.ssrf import SsrfGuard, parse_allowlist, system_resolver
from cep.log.base import Log
from cep.registry import Loader, Registry
from cep.store.base import Store

__all__ = ["Runtime", "Waker"]

log_ = logging.getLogger("cep.serve")


class Waker:
    """Looks like a threading.Event to `Worker.run`; `kick` ends an idle wait early."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._kick = threading.Event()

    def is_set(self) -> bool:
        """True once stopping."""
        return self._stop.is_set()

    def set(self) -> None:
        """Stop."""
        self._stop.set()
        self._kick.set()

    def kick(self) -> None:
        """End the current idle wait."""
        self._kick.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Idle wait: until kicked, stopped or `timeout`."""
        self._kick.wait(timeout)
        self._kick.clear()
        return self._stop.is_set()


class _KickingStore:
    """The store, but a commit also wakes the dispatcher."""

    def __init__(self, store: Store, on_commit: Any) -> None:
        self._store = store
        self._on_commit = on_commit

    def commit(self, *args: Any, **kwargs: Any) -> int:
        """Commit, then wake the dispatcher if there were new matches."""
        new = self._store.commit(*args, **kwargs)
        if new:
            self._on_commit()
        return new

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class Runtime:
    """Backends and background services of one process."""

    def __init__(self, settings: Settings, log: Log | None = None, store: Store | None = None,
                 resolver: Any = None) -> None:
        if log is None or store is None:
            from cep.config import open_backends

            log, store = open_backends(settings.store or None)
        self.settings = settings
        self.log = log
        self.store = store
        self.guard = SsrfGuard(parse_allowlist(settings.webhook_allowlist),
                               resolver or system_resolver, settings.webhook_require_https)
        self.policy = RetryPolicy(scale=settings.webhook_time_scale,
                                  timeout_s=settings.webhook_timeout_s)
        self.dispatcher = Dispatcher(store, self.policy, self.guard,
                                     concurrency=settings.webhook_concurrency)
        self.endpoints = Endpoints(store)
        self.statements = Statements(self)
        self.worker: Any = None
        self.waker = Waker()
        self.stopping = threading.Event()
        self.started_at = time.time()
        self._threads: list[threading.Thread] = []
        self._reg: Registry | None = None
        self._loader = Loader(store)
        self._reg_lock = threading.Lock()
        self.worker_error: str | None = None

    # ------------------------------------------------------------ shared views

    def registry(self) -> Registry:
        """Statements as compiled now (cached until the store's revision moves)."""
        rev = self.store.statements_revision()
        with self._reg_lock:
            if self._reg is None or self._reg.revision != rev:
                self._reg = self._loader.load()
            return self._reg

    def kick_worker(self) -> None:
        """New events or statements: end the worker's idle wait."""
        self.waker.kick()

    # ------------------------------------------------------------ background services

    def start(self, worker: bool = True, dispatcher: bool = True, **worker_kw: Any) -> None:
        """Start the worker and/or the dispatcher threads."""
        if dispatcher:
            self._spawn("cep-dispatcher", self._run_dispatcher)
        if worker:
            from cep.worker import Worker

            kicking = _KickingStore(self.store, self.dispatcher.kick)
            self.worker = Worker(self.log, kicking, checkpoint_every_ms=self.settings.checkpoint_ms,
                                 statements_poll_ms=100, **worker_kw)  # type: ignore[arg-type]
            self._spawn("cep-worker", self._run_worker)

    def _spawn(self, name: str, target: Any) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _run_dispatcher(self) -> None:
        while not self.stopping.is_set():
            try:
                self.dispatcher.run(self.stopping)
            except Exception as e:  # keep delivering after a bug or an outage
                log_.exception("dispatcher stopped: %s; restarting in 1 s", e)
                self.stopping.wait(1.0)

    def _run_worker(self) -> None:
        while not self.stopping.is_set():
            try:
                self.worker.run(stop=self.waker)
                self.worker_error = None
            except Exception as e:  # e.g. an unreadable checkpoint: report, retry
                self.worker_error = f"{type(e).__name__}: {e}"
                log_.exception("worker stopped: %s; restarting in 1 s", e)
                self.waker.wait(1.0)
                self.worker._started = False  # restart from the checkpoints

    def alive(self) -> dict[str, bool]:
        """Which background services run."""
        names = {t.name: t.is_alive() for t in self._threads}
        return {"worker": names.get("cep-worker", False) and self.worker_error is None,
                "dispatcher": names.get("cep-dispatcher", False)}

    def stop(self, timeout: float = 20.0) -> None:
        """Graceful stop: the worker commits its in-flight batch, the dispatcher finishes
        the attempts in flight, then the backends are closed."""
        self.stopping.set()
        self.waker.set()
        self.dispatcher.kick()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        if self.worker is not None:
            with contextlib.suppress(Exception):
                self.worker.close()

    def close(self) -> None:
        """Close the backends."""
        for x in (self.log, self.store):
            with contextlib.suppress(Exception):
                x.close()
