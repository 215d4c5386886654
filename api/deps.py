"""Annotated dependencies: the runtime, the caller (API key) and role checks."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated

from fastapi import Depends, Query, Request

from api.errors import ApiError
from api.runtime import Runtime
from cep.keys import Principal, verify_key

__all__ = ["Admin", "Reader", "RuntimeDep", "Writer", "caller"]


def get_runtime(request: Request) -> Runtime:
    """The process's Runtime (set by create_app)."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
_cache: dict[str, tuple[float, Principal]] = {}


def caller(
    request: Request, rt: RuntimeDep,
    access_token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> Principal:
    """The principal of the bearer key (`Authorization: Bearer cep_...`).

    `?access_token=` is accepted too, for EventSource (browsers cannot set headers on it).
    A verified key is trusted for CEP_KEY_CACHE_S seconds (revocation takes that long).
    """
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    token = token or request.headers.get("x-api-key") or access_token
    if not token:
        raise ApiError(401, "missing API key (Authorization: Bearer <key>)",
                       headers={"www-authenticate": "Bearer"})
    h = hashlib.sha256(token.encode()).hexdigest()
    hit = _cache.get(h)
    now = time.monotonic()
    if hit is not None and now - hit[0] < rt.settings.key_cache_s:
        return hit[1]
    p = verify_key(rt.store, token)
    if p is None:
        raise ApiError(401, "unknown or revoked API key", headers={"www-authenticate": "Bearer"})
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[h] = (now, p)
    return p


def require(role: str):
    """A dependency that needs at least `role`."""

    def check(p: Annotated[Principal, Depends(caller)]) -> Principal:
        if not p.can(role):
            raise ApiError(403, f"this needs a {role} key; yours is {p.role}")
        return p

    return check


Reader = Annotated[Principal, Depends(require("reader"))]
Writer = Annotated[Principal, Depends(require("writer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
