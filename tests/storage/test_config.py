"""CEP_STORE URLs: each accepted form opens the right backends, anything else a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from cep.config import ConfigError, Settings, open_backends
from cep.log.memory import MemoryLog
from cep.log.redis import RedisLog
from cep.log.sqlite import SqliteLog
from cep.store.memory import MemoryStore
from cep.store.redis import RedisStore
from cep.store.redisproc import RedisServer, free_port
from cep.store.sqlite import SqliteStore


def test_default_is_a_sqlite_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CEP_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    log, store = open_backends()
    assert isinstance(log, SqliteLog) and isinstance(store, SqliteStore)
    log.create_stream("s", 1)
    assert (tmp_path / "cep.db").exists()
    log.close()
    store.close()


def test_cep_store_env_and_sqlite_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    monkeypatch.setenv("CEP_STORE", "sqlite:///sub/env.db")
    log, store = open_backends(None)
    log.close()
    store.close()
    assert (tmp_path / "sub" / "env.db").exists()
    log, store = open_backends(f"sqlite:///{tmp_path}/abs.db?synchronous=full")
    log.close()
    store.close()
    assert (tmp_path / "abs.db").exists()


def test_memory_url() -> None:
    log, store = open_backends("memory://")
    assert isinstance(log, MemoryLog) and isinstance(store, MemoryStore)
    log2, _ = open_backends("memory://")
    assert log2 is not log


def test_redis_url(redis_server: RedisServer) -> None:
    log, store = open_backends(redis_server.url)
    assert isinstance(log, RedisLog) and isinstance(store, RedisStore)
    log.close()
    store.close()


@pytest.mark.parametrize(
    "url, message",
    [
        ("postgres://db/cep", "not a supported store URL"),
        ("cep.db", "not a supported store URL"),
        ("redis-cluster://a:1,b:2", "not supported yet"),
        ("sqlite://", "expected sqlite:///"),
        ("sqlite://host/x.db", "expected sqlite:///"),
        ("sqlite:////no/such/dir/x.db", "does not exist"),
        ("sqlite:///x.db?fsync=1", "unknown option"),
        ("sqlite:///x.db?synchronous=off", "synchronous must be"),
        ("redis://127.0.0.1:{port}/0", "cannot reach Redis"),
        ("redis://127.0.0.1:{port}/notanumber", "CEP_STORE="),
    ],
)
def test_bad_urls_give_clear_errors(
    url: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        open_backends(url.format(port=free_port()))


def test_settings_from_env() -> None:
    s = Settings.from_env({"CEP_PARTITIONS": "16", "CEP_RETENTION": "1000",
                           "CEP_MAX_EVENT_BYTES": "2048"})
    assert (s.store, s.partitions, s.retention) == ("sqlite:///./cep.db", 16, 1000)
    assert (s.limits.max_bytes, s.limits.max_depth) == (2048, 64)
    for bad in ({"CEP_PARTITIONS": "many"}, {"CEP_RETENTION": "0"}):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)
