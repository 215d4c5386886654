"""API keys: random bearer tokens bound to a tenant and a role, stored only as hashes.

A key looks like `cep_<id>_<secret>`: `id` (8 hex digits) finds the record, `secret` is 32
random bytes (base64url). The store keeps the SHA-256 of the whole token, never the token
(a leaked database does not leak keys; a 256-bit random secret needs no slow hash), and a
presented key is compared with `hmac.compare_digest` (constant time). Roles nest:
`reader` reads, `writer` also changes statements, events, endpoints and deliveries,
`admin` also manages keys. A tenant's keys see only that tenant's data.

The first start creates an admin key for tenant `default` and prints it once; or
`CEP_ADMIN_KEY` presets one (any string of at least 16 characters, for automation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cep.errors import CepError
from cep.store.base import Store, now_ms

__all__ = [
    "ROLES", "KeyRefused", "Principal", "create_key", "ensure_admin", "list_keys", "revoke_key",
    "verify_key",
]

KIND = "apikey"
ROLES = ("reader", "writer", "admin")
PRESET_ID = "preset-admin"
_TOKEN = re.compile(r"^cep_([0-9a-f]{8})_[A-Za-z0-9_\-]{43}$")
_TENANT = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class KeyRefused(CepError):
    """A key operation was refused (bad tenant, role or unknown key)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, tenant and role."""

    key_id: str
    tenant: str
    role: str

    def can(self, role: str) -> bool:
        """True if this principal's role includes `role`."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check(tenant: str, role: str) -> None:
    if role not in ROLES:
        raise KeyRefused(f"role must be one of {', '.join(ROLES)}")
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise KeyRefused("tenant must be 1-64 characters of A-Z a-z 0-9 _ . -")


def create_key(store: Store, tenant: str, role: str, name: str = "") -> tuple[str, dict[str, Any]]:
    """A new key: (the token, shown once; its public record)."""
    _check(tenant, role)
    while True:
        kid = secrets.token_hex(4)
        token = f"cep_{kid}_{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()[:43]}"
        doc = {"hash": _hash(token), "role": role, "name": name, "created_at": now_ms(),
               "revoked_at": None, "prefix": f"cep_{kid}_"}
        if store.create_resource(KIND, kid, tenant, doc):
            return token, _public(kid, tenant, doc)


def _public(kid: str, tenant: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": kid, "tenant": tenant, "role": doc["role"], "name": doc.get("name", ""),
            "created_at": doc["created_at"], "revoked_at": doc.get("revoked_at"),
            "prefix": doc.get("prefix", "")}


def list_keys(store: Store, tenant: str | None = None) -> list[dict[str, Any]]:
    """Every key's public record (never the hash)."""
    return [_public(r.id, r.tenant, r.doc) for r in store.list_resources(KIND, tenant)]


def revoke_key(store: Store, kid: str) -> bool:
    """Revoke a key (kept, marked revoked); False if unknown or already revoked."""
    r = store.get_resource(KIND, kid)
    if r is None or r.doc.get("revoked_at") is not None:
        return False
    store.put_resource(KIND, kid, r.tenant, {**r.doc, "revoked_at": now_ms()})
    return True


def verify_key(store: Store, token: str) -> Principal | None:
    """The principal of a presented token, or None (unknown, wrong or revoked)."""
    if not isinstance(token, str) or len(token) > 256:
        return None
    m = _TOKEN.match(token)
    kid = m.group(1) if m else PRESET_ID
    r = store.get_resource(KIND, kid)
    if r is None or r.doc.get("revoked_at") is not None:
        return None
    if not hmac.compare_digest(_hash(token), r.doc["hash"]):
        return None
    return Principal(kid, r.tenant, r.doc["role"])


def ensure_admin(store: Store, preset: str | None = None, tenant: str = "default") -> str | None:
    """Make sure an admin key exists; returns a newly created token (to show once) or None."""
    if preset:
        if len(preset) < 16:
            raise KeyRefused("CEP_ADMIN_KEY must be at least 16 characters")
        m = _TOKEN.match(preset)
        kid = m.group(1) if m else PRESET_ID
        doc = {"hash": _hash(preset), "role": "admin", "name": "CEP_ADMIN_KEY",
               "created_at": now_ms(), "revoked_at": None, "prefix": preset[:6]}
        cur = store.get_resource(KIND, kid)
        if cur is None or cur.doc.get("hash") != doc["hash"] or cur.doc.get("revoked_at"):
            store.put_resource(KIND, kid, tenant, doc)
        return None
    if any(k["role"] == "admin" and k["revoked_at"] is None for k in list_keys(store)):
        return None
    token, _ = create_key(store, tenant, "admin", "created on first start")
    return token
