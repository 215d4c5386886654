"""Records the service keeps beside statements: per-tenant resources and webhook deliveries.

Why a module of its own: the engine's store (statements, checkpoints, matches, outbox) is
about matching; these records are about the service around it, and every backend stores
them the same way:

* a **resource** is a small JSON document of one kind (`endpoint`, `apikey`, ...) with an
  id and an owning tenant. `create_resource` is insert-if-absent, so it doubles as a claim
  (e.g. "this URL already has an endpoint for this tenant");
* a **delivery** is one match sent to one webhook endpoint. Its id is derived from the
  match id and the endpoint id, so fanning a match out twice (a crash between the fan-out
  and marking the outbox) creates each delivery once. `info` holds what only the dispatcher
  reads: the exact payload bytes, the attempt log, the schedule position.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from cep.store.base import OUTBOX_STATUSES, StoreError

__all__ = [
    "DELIVERY_STATUSES",
    "Delivery",
    "Resource",
    "check_resource",
    "delivery_id",
]

DELIVERY_STATUSES = OUTBOX_STATUSES  # pending, delivered, failed (dead-lettered)
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


@dataclass(frozen=True)
class Resource:
    """One stored document of `kind`, owned by `tenant`."""

    kind: str
    id: str
    tenant: str
    doc: dict[str, Any]
    updated_at: int = 0


@dataclass(frozen=True)
class Delivery:
    """One match to one endpoint: status, attempts and when the next attempt is due (ms)."""

    id: str
    match_id: str
    endpoint_id: str
    tenant: str
    statement: str
    status: str
    attempts: int
    next_attempt_at: int | None
    created_at: int
    updated_at: int
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Delivery:
        """Inverse of `to_dict`."""
        return cls(**d)


def delivery_id(match_id: str, endpoint_id: str) -> str:
    """Deterministic id of the delivery of `match_id` to `endpoint_id`."""
    h = hashlib.blake2b(f"{match_id}|{endpoint_id}".encode(), digest_size=12).hexdigest()
    return f"dlv_{h}"


def check_resource(kind: str, rid: str, tenant: str | None = None) -> None:
    """Validate a resource kind, id and tenant."""
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise StoreError(f"invalid resource kind {kind!r}")
    if not isinstance(rid, str) or not _ID.match(rid):
        raise StoreError(f"invalid resource id {rid!r}")
    if tenant is not None and (not isinstance(tenant, str) or not tenant):
        raise StoreError("tenant must be a non-empty string")


def check_delivery(d: Delivery) -> None:
    """Validate a delivery before it is written."""
    if d.status not in DELIVERY_STATUSES:
        raise StoreError(f"delivery status must be one of {', '.join(DELIVERY_STATUSES)}")
    if not isinstance(d.attempts, int) or d.attempts < 0:
        raise StoreError("attempts must be a non-negative int")
    for name in ("id", "match_id", "endpoint_id", "tenant", "statement"):
        v = getattr(d, name)
        if not isinstance(v, str) or not v:
            raise StoreError(f"delivery {name} must be a non-empty string")
    if d.status == "pending" and not isinstance(d.next_attempt_at, int):
        raise StoreError("a pending delivery needs next_attempt_at")
