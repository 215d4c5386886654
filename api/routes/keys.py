"""API keys (admin keys only) and `whoami`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import Admin, Reader, RuntimeDep
from api.errors import ApiError
from api.schemas.common import ERRORS
from api.schemas.keys import KeyIn, KeyOut, KeysOut, WhoAmI
from cep.keys import create_key, list_keys, revoke_key

router = APIRouter(prefix="/v1", tags=["keys"], responses=ERRORS)


@router.get("/whoami", response_model=WhoAmI, summary="The caller's key")
def whoami(p: Reader) -> WhoAmI:
    """Tenant and role of the key used."""
    return WhoAmI(key_id=p.key_id, tenant=p.tenant, role=p.role)


@router.post("/keys", status_code=201, response_model=KeyOut, summary="Create a key")
def create(body: KeyIn, rt: RuntimeDep, p: Admin) -> KeyOut:
    """A key for any tenant; the token is shown in this response only."""
    token, rec = create_key(rt.store, body.tenant, body.role, body.name)
    return KeyOut(**rec, token=token)


@router.get("/keys", response_model=KeysOut, summary="List keys")
def list_(rt: RuntimeDep, p: Admin) -> KeysOut:
    """Every key (hashes are never shown)."""
    return KeysOut(data=[KeyOut(**k) for k in list_keys(rt.store)])


@router.delete("/keys/{kid}", status_code=204, summary="Revoke a key")
def revoke(kid: str, rt: RuntimeDep, p: Admin) -> Response:
    """Revoke (takes effect within CEP_KEY_CACHE_S seconds)."""
    if not revoke_key(rt.store, kid):
        raise ApiError(404, f"no active key {kid!r}")
    return Response(status_code=204)
