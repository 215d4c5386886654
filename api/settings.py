"""One Settings class: every knob of the service, from CEP_* environment variables.

    CEP_STORE                    sqlite:///./cep.db  log + store URL (cep.config)
    CEP_PARTITIONS               8        partitions of streams the service creates
    CEP_ADMIN_KEY                (none)   preset admin key; else one is made and shown once
    CEP_HOST / CEP_PORT          127.0.0.1 / 8000
    CEP_RULES_DIR                rules    rule packs `cep serve` applies at start ('' = none)
    CEP_MAX_REQUEST_BYTES        10485760 larger request bodies get 413
    CEP_MAX_EVENTS_PER_REQUEST   10000    larger batches get 413
    CEP_MAX_RULE_BYTES           65536    larger statement texts get 413
    CEP_WEBHOOK_ALLOWLIST        (none)   CIDRs the SSRF guard admits (private receivers)
    CEP_WEBHOOK_REQUIRE_HTTPS    true     plain http only to allowlisted addresses
    CEP_WEBHOOK_TIMEOUT_S        15       per attempt
    CEP_WEBHOOK_CONCURRENCY      4        attempts in flight per endpoint
    CEP_WEBHOOK_TIME_SCALE       1.0      compresses the retry schedule (tests, demos)
    CEP_CHECKPOINT_MS            50       worker commit interval in `cep serve` (match latency)
    CEP_KEY_CACHE_S              2        how long a verified key is trusted (revocation delay)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field

__all__ = ["Settings"]


def _bool(v: str) -> bool:
    return v.strip().lower() in ("1", "true", "yes", "on")


class Settings(BaseModel):
    """Service settings with their defaults (see the module docstring)."""

    store: str = ""
    partitions: int = Field(8, ge=1, le=4096)
    admin_key: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    rules_dir: str = "rules"
    max_request_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_events_per_request: int = Field(10_000, ge=1)
    max_rule_bytes: int = Field(64 * 1024, ge=256)
    webhook_allowlist: str = ""
    webhook_require_https: bool = True
    webhook_timeout_s: float = Field(15.0, gt=0)
    webhook_concurrency: int = Field(4, ge=1, le=256)
    webhook_time_scale: float = Field(1.0, gt=0)
    checkpoint_ms: int = Field(50, ge=1)
    key_cache_s: float = Field(2.0, ge=0)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read CEP_* variables; keyword overrides win (flags of `cep serve`)."""
        env = os.environ if env is None else env
        raw: dict[str, object] = {}
        for name, field in cls.model_fields.items():
            v = env.get(f"CEP_{name.upper()}")
            if v is None or v == "":
                continue
            raw[name] = _bool(v) if field.annotation is bool else v
        raw.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(raw)
