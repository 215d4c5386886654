"""A real service for API tests: uvicorn on a free loopback port, in a thread of the test.

The Runtime is built here so tests can reach its internals (the resolver hook, the store)
while every request goes over real HTTP. Redis-backed services use a private
`redis-server` for the session (never a mock, never the machine's shared one).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn

from api.app import create_app
from api.runtime import Runtime
from api.settings import Settings
from cep.keys import ensure_admin
from cep.log.redis import RedisLog
from cep.log.sqlite import SqliteLog
from cep.store.redis import RedisStore
from cep.store.redisproc import RedisServer, RedisServerError, free_port
from cep.store.sqlite import SqliteStore

ADMIN = "test-admin-key-0123456789"


class Service:
    """One service process-in-a-thread: API (+ worker and dispatcher when asked)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ensure_admin(rt.store, ADMIN)
        self.app = create_app(rt)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                ws="none", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, background: bool = True) -> Service:
        """Start uvicorn (and the worker and dispatcher) and wait until it answers."""
        if background:
            self.rt.start()
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Graceful stop, then close the backends."""
        self.rt.stopping.set()
        self.server.should_exit = True
        self.thread.join(10)
        self.rt.stop()
        self.rt.close()

    def client(self, key: str | None = ADMIN) -> httpx.Client:
        """An HTTP client with a bearer key (None: no key)."""
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=20, trust_env=False)

    def key(self, tenant: str, role: str = "writer") -> str:
        """A new key made over the admin API."""
        with self.client() as c:
            r = c.post("/v1/keys", json={"tenant": tenant, "role": role})
            assert r.status_code == 201, r.text
            return r.json()["token"]


def wait_for(cond: Callable[[], Any], timeout: float = 15.0, every: float = 0.02) -> Any:
    """Poll until `cond()` is truthy; its value, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


def settings(**kw: Any) -> Settings:
    """Test settings: loopback receivers allowed, fast commits, no key cache."""
    base = {"webhook_allowlist": "127.0.0.0/8", "checkpoint_ms": 20, "key_cache_s": 0.0,
            "partitions": 2, "webhook_timeout_s": 5.0}
    return Settings(**{**base, **kw})


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server for the session."""
    try:
        srv = RedisServer(tmp_path_factory.mktemp("redis-api")).start()
    except RedisServerError as e:
        pytest.fail(f"cannot run the Redis-backed API tests: {e}", pytrace=False)
    yield srv.url
    srv.stop()


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Factory: make_service(backend='sqlite'|'redis', background=True, **settings)."""
    made: list[Service] = []

    def make(backend: str = "sqlite", background: bool = True, resolver: Any = None,
             redis_url: str | None = None, **kw: Any) -> Service:
        if backend == "redis":
            assert redis_url is not None
            redis.Redis.from_url(redis_url).flushall()
            log, store = RedisLog(redis_url), RedisStore(redis_url)
        else:
            db = tmp_path / f"cep-{len(made)}.db"
            log, store = SqliteLog(db), SqliteStore(db)
        rt = Runtime(settings(**kw), log, store, resolver=resolver)
        svc = Service(rt).start(background)
        made.append(svc)
        return svc

    yield make
    for s in made:
        with contextlib.suppress(Exception):
            s.stop()
