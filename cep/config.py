"""Configuration from the environment, and opening the log and store a `CEP_STORE` URL names.

Every setting has a documented default; none is hidden:

    CEP_STORE            sqlite:///./cep.db  where the log and store live (see open_backends)
    CEP_PARTITIONS       8                   partitions of a stream created implicitly
    CEP_RETENTION        (unlimited)         max entries kept per partition of such a stream
    CEP_MAX_EVENT_BYTES  1048576             largest accepted event, as encoded JSON
    CEP_MAX_EVENT_DEPTH  64                  deepest accepted nesting of objects/arrays
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cep.errors import CepError
from cep.log.base import DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_EVENT_DEPTH, EventLimits, Log
from cep.store.base import Store

__all__ = ["DEFAULT_STORE", "ConfigError", "Settings", "open_backends"]

DEFAULT_STORE = "sqlite:///./cep.db"
DEFAULT_PARTITIONS = 8

_FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db (optional ?synchronous=full), "
    "redis://host:port/db (or rediss://), memory://"
)


class ConfigError(CepError):
    """A setting has a value the service cannot use."""


def _int_env(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise ConfigError(f"{name} must be >= 1, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Log/storage settings with their defaults (see the module docstring)."""

    store: str = DEFAULT_STORE
    partitions: int = DEFAULT_PARTITIONS
    retention: int | None = None
    limits: EventLimits = field(default_factory=EventLimits)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the CEP_* variables (os.environ by default)."""
        env = os.environ if env is None else env
        return cls(
            store=env.get("CEP_STORE", "").strip() or DEFAULT_STORE,
            partitions=_int_env(env, "CEP_PARTITIONS", DEFAULT_PARTITIONS) or DEFAULT_PARTITIONS,
            retention=_int_env(env, "CEP_RETENTION", None),
            limits=EventLimits(
                max_bytes=_int_env(env, "CEP_MAX_EVENT_BYTES", DEFAULT_MAX_EVENT_BYTES)
                or DEFAULT_MAX_EVENT_BYTES,
                max_depth=_int_env(env, "CEP_MAX_EVENT_DEPTH", DEFAULT_MAX_EVENT_DEPTH)
                or DEFAULT_MAX_EVENT_DEPTH,
            ),
        )


def _sqlite_path(url: str) -> tuple[Path, str]:
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
        raise ConfigError(f"CEP_STORE={url!r}: expected sqlite:///relative.db or sqlite:////abs.db")
    path = Path(parts.path[1:])
    query = parse_qs(parts.query)
    sync = query.pop("synchronous", ["normal"])[-1].lower()
    if query:
        raise ConfigError(f"CEP_STORE={url!r}: unknown option(s) {', '.join(query)}")
    if sync not in ("normal", "full", "extra"):
        raise ConfigError(f"CEP_STORE={url!r}: synchronous must be normal, full or extra")
    if not path.parent.is_dir():
        raise ConfigError(f"CEP_STORE={url!r}: directory {str(path.parent)!r} does not exist")
    return path, sync


def open_backends(url: str | None = None, limits: EventLimits | None = None) -> tuple[Log, Store]:
    """Open the (Log, Store) pair named by `url` (default: CEP_STORE, else sqlite:///./cep.db)."""
    settings = Settings.from_env()
    url = (url or settings.store).strip()
    limits = limits or settings.limits
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "memory":
        from cep.log.memory import MemoryLog
        from cep.store.memory import MemoryStore

        return MemoryLog(limits), MemoryStore()
    if scheme == "sqlite":
        from cep.log.sqlite import SqliteLog
        from cep.store.sqlite import SqliteStore

        path, sync = _sqlite_path(url)
        return SqliteLog(path, sync, limits), SqliteStore(path, sync)
    if scheme in ("redis", "rediss"):
        import redis

        from cep.log.redis import RedisLog
        from cep.store.redis import RedisStore

        try:
            log, store = RedisLog(url, limits), RedisStore(url)
            log.r.ping()
        except ValueError as e:
            raise ConfigError(f"CEP_STORE={url!r}: {e}") from None
        except redis.exceptions.RedisError as e:
            raise ConfigError(f"CEP_STORE={url!r}: cannot reach Redis: {e}") from None
        return log, store
    if scheme == "redis-cluster":
        raise ConfigError(f"CEP_STORE={url!r}: Redis Cluster is not supported yet; use {_FORMS}")
    raise ConfigError(f"CEP_STORE={url!r} is not a supported store URL; use {_FORMS}")
