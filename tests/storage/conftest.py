"""Backend fixtures: every contract test runs unchanged on memory, SQLite and a real Redis.

The Redis backend runs a private `redis-server` (free loopback port, temp dir, AOF on) that
the session starts and stops; it is flushed before each test. Durability tests get their
own server so they can crash it. A missing `redis-server` fails these fixtures: the Redis
backend is never skipped and never mocked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cep.log.base import Log
from cep.log.memory import MemoryLog
from cep.log.redis import RedisLog
from cep.log.sqlite import SqliteLog
from cep.store.base import Store
from cep.store.memory import MemoryStore
from cep.store.redis import RedisStore
from cep.store.redisproc import RedisServer, RedisServerError
from cep.store.sqlite import SqliteStore

BACKENDS = ["memory", "sqlite", "redis"]
DURABLE = ["sqlite", "redis"]


def _start_redis(directory: Path) -> RedisServer:
    try:
        return RedisServer(directory).start()
    except RedisServerError as e:
        pytest.fail(f"cannot run the Redis backend tests: {e}", pytrace=False)


class Backend:
    """Opens (and reopens) a Log/Store pair on one underlying storage."""

    def __init__(self, name: str, sqlite_path: Path | None = None,
                 server: RedisServer | None = None) -> None:
        self.name = name
        self.sqlite_path = sqlite_path
        self.server = server
        self.opened: list[Log | Store] = []
        self._memory: tuple[MemoryLog, MemoryStore] | None = None
        self.log, self.store = self.open()

    def open(self) -> tuple[Log, Store]:
        """A new Log/Store pair on the same data (memory: the same objects)."""
        if self.name == "memory":
            if self._memory is None:
                self._memory = (MemoryLog(), MemoryStore())
            return self._memory
        if self.name == "sqlite":
            assert self.sqlite_path is not None
            pair: tuple[Log, Store] = (SqliteLog(self.sqlite_path), SqliteStore(self.sqlite_path))
        else:
            assert self.server is not None
            pair = (RedisLog(self.server.url), RedisStore(self.server.url))
        self.opened += pair
        return pair

    def close(self) -> None:
        """Close everything opened."""
        for x in self.opened:
            with contextlib.suppress(Exception):
                x.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for the session (AOF on)."""
    srv = _start_redis(tmp_path_factory.mktemp("redis"))
    yield srv
    srv.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty backend of each kind."""
    server = None
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        redis.Redis.from_url(server.url).flushall()
    b = Backend(request.param, sqlite_path=tmp_path / "cep.db", server=server)
    yield b
    b.close()


@pytest.fixture(params=DURABLE)
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A durable backend; Redis gets its own server here so a test may crash it."""
    server = _start_redis(tmp_path / "redis") if request.param == "redis" else None
    b = Backend(request.param, sqlite_path=tmp_path / "cep.db", server=server)
    yield b
    b.close()
    if server is not None:
        server.stop()


@pytest.fixture
def log(backend: Backend) -> Log:
    """The backend's log."""
    return backend.log


@pytest.fixture
def store(backend: Backend) -> Store:
    """The backend's store."""
    return backend.store
