"""Webhook endpoints as per-tenant resources: URL, enabled flag, signing secrets.

An endpoint is stored as resource kind `endpoint`. `THEN WEBHOOK 'url'` creates or reuses
the tenant's endpoint for that exact URL: a claim resource `endpoint_url` (id: hash of
tenant and URL) is inserted-if-absent first, so two registrations racing for one URL end
with one endpoint. Each endpoint has its own `whsec_` secret; rotation adds a new secret
and keeps the old one valid for an overlap (default 24 h), during which every message
carries both signatures, so receivers can switch keys without dropping a message.
"""

from __future__ import annotations

import hashlib
import secrets as _secrets
from dataclasses import dataclass
from typing import Any

from cep.actions.signing import new_secret
from cep.store.base import Store, now_ms
from cep.store.records import Resource

__all__ = ["DEFAULT_OVERLAP_MS", "Endpoint", "Endpoints"]

KIND, URL_KIND = "endpoint", "endpoint_url"
DEFAULT_OVERLAP_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Endpoint:
    """A webhook endpoint as the dispatcher and the API see it."""

    id: str
    tenant: str
    url: str
    enabled: bool
    secrets: list[dict[str, Any]]  # newest first: {secret, created_at, expires_at}
    created_at: int
    description: str = ""
    secret_name: str | None = None
    disabled_reason: str | None = None
    failing_since: int | None = None

    @classmethod
    def from_resource(cls, r: Resource) -> Endpoint:
        """From the stored resource."""
        d = r.doc
        return cls(r.id, r.tenant, d["url"], d["enabled"], d["secrets"], d["created_at"],
                   d.get("description", ""), d.get("secret_name"), d.get("disabled_reason"),
                   d.get("failing_since"))

    def doc(self) -> dict[str, Any]:
        """The stored document."""
        return {"url": self.url, "enabled": self.enabled, "secrets": self.secrets,
                "created_at": self.created_at, "description": self.description,
                "secret_name": self.secret_name, "disabled_reason": self.disabled_reason,
                "failing_since": self.failing_since}

    def active_secrets(self, now: int) -> list[str]:
        """Secrets to sign with now: the newest plus those still in their overlap."""
        out = [s["secret"] for s in self.secrets
               if s.get("expires_at") is None or s["expires_at"] > now]
        return out or [self.secrets[0]["secret"]]


def _url_claim(tenant: str, url: str) -> str:
    return "u_" + hashlib.blake2b(f"{tenant}\x00{url}".encode(), digest_size=12).hexdigest()


class Endpoints:
    """Endpoint operations over a Store."""

    def __init__(self, store: Store, clock: Any = now_ms) -> None:
        self.store = store
        self.clock = clock

    def get(self, eid: str, tenant: str | None = None) -> Endpoint | None:
        """One endpoint (None if absent or another tenant's)."""
        r = self.store.get_resource(KIND, eid, tenant)
        return None if r is None else Endpoint.from_resource(r)

    def list(self, tenant: str | None = None) -> list[Endpoint]:
        """The tenant's endpoints, by id."""
        return [Endpoint.from_resource(r) for r in self.store.list_resources(KIND, tenant)]

    def save(self, ep: Endpoint) -> Endpoint:
        """Write an endpoint back."""
        self.store.put_resource(KIND, ep.id, ep.tenant, ep.doc())
        return ep

    def create(self, tenant: str, url: str, description: str = "",
               secret: str | None = None, secret_name: str | None = None,
               enabled: bool = True) -> tuple[Endpoint, bool]:
        """The tenant's endpoint for `url`, created if needed; (endpoint, created)."""
        claim = _url_claim(tenant, url)
        eid = "ep_" + _secrets.token_hex(8)
        if not self.store.create_resource(URL_KIND, claim, tenant, {"endpoint": eid}):
            got = self.store.get_resource(URL_KIND, claim)
            existing = self.get(got.doc["endpoint"]) if got is not None else None
            if existing is not None:
                return existing, False
            self.store.put_resource(URL_KIND, claim, tenant, {"endpoint": eid})  # stale claim
        now = self.clock()
        ep = Endpoint(eid, tenant, url, enabled,
                      [{"secret": secret or new_secret(), "created_at": now, "expires_at": None}],
                      now, description, secret_name)
        return self.save(ep), True

    def for_url(self, tenant: str, url: str, secret_name: str | None = None) -> Endpoint:
        """Create or reuse the endpoint a `THEN WEBHOOK 'url'` action names."""
        return self.create(tenant, url, secret_name=secret_name)[0]

    def delete(self, eid: str, tenant: str | None = None) -> bool:
        """Delete an endpoint and its URL claim."""
        ep = self.get(eid, tenant)
        if ep is None:
            return False
        self.store.delete_resource(KIND, eid)
        self.store.delete_resource(URL_KIND, _url_claim(ep.tenant, ep.url))
        return True

    def rotate(self, ep: Endpoint, overlap_ms: int = DEFAULT_OVERLAP_MS,
               secret: str | None = None) -> Endpoint:
        """A new primary secret; older ones expire after the overlap (at most 3 kept)."""
        now = self.clock()
        old = [{**s, "expires_at": min(s["expires_at"] or now + overlap_ms, now + overlap_ms)}
               for s in ep.secrets if s.get("expires_at") is None or s["expires_at"] > now]
        new = {"secret": secret or new_secret(), "created_at": now, "expires_at": None}
        return self.save(Endpoint(**{**ep.__dict__, "secrets": [new, *old][:3]}))

    def set_enabled(self, ep: Endpoint, enabled: bool, reason: str | None = None) -> Endpoint:
        """Enable (clearing the failure state) or disable with a reason."""
        return self.save(Endpoint(**{
            **ep.__dict__, "enabled": enabled, "disabled_reason": None if enabled else reason,
            "failing_since": None if enabled else ep.failing_since,
        }))
