"""Webhook endpoints: CRUD, the signing secret, rotation and bulk recovery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from api.deps import Reader, RuntimeDep, Writer
from api.errors import ApiError
from api.runtime import Runtime
from api.schemas.common import ERRORS
from api.schemas.deliveries import BulkRetryOut
from api.schemas.endpoints import (
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointsOut,
    RecoverIn,
    RotateIn,
    SecretOut,
)
from cep.actions.endpoints import Endpoint
from cep.actions.ssrf import SsrfError
from cep.keys import Principal

router = APIRouter(prefix="/v1", tags=["endpoints"], responses=ERRORS)


def to_out(rt: Runtime, ep: Endpoint, secret: str | None = None,
           warnings: list[str] | None = None) -> EndpointOut:
    """An endpoint with its delivery counts."""
    return EndpointOut(id=ep.id, url=ep.url, enabled=ep.enabled, description=ep.description,
                       disabled_reason=ep.disabled_reason, failing_since=ep.failing_since,
                       created_at=ep.created_at,
                       stats=rt.store.delivery_counts(ep.tenant, ep.id), secret=secret,
                       warnings=warnings or [])


def _get(rt: Runtime, p: Principal, eid: str) -> Endpoint:
    ep = rt.endpoints.get(eid, p.tenant)
    if ep is None:
        raise ApiError(404, f"no endpoint {eid!r}")
    return ep


@router.post("/endpoints", status_code=201, response_model=EndpointOut,
             summary="Create an endpoint",
             responses={200: {"model": EndpointOut, "description": "the URL's existing endpoint"}})
def create_endpoint(body: EndpointIn, response: Response, rt: RuntimeDep,
                    p: Writer) -> EndpointOut:
    """Create (or return the existing) endpoint for a URL; the secret is in the response."""
    try:
        warn = rt.guard.check_url(body.url)
    except SsrfError as e:
        raise ApiError(422, str(e), "webhook_refused") from None
    ep, created = rt.endpoints.create(p.tenant, body.url, body.description,
                                      enabled=body.enabled)
    if not created:
        response.status_code = 200
    return to_out(rt, ep, ep.secrets[0]["secret"], [warn] if warn else [])


@router.get("/endpoints", response_model=EndpointsOut, summary="List endpoints")
def list_endpoints(rt: RuntimeDep, p: Reader) -> EndpointsOut:
    """The tenant's endpoints with delivery counts."""
    return EndpointsOut(data=[to_out(rt, ep) for ep in rt.endpoints.list(p.tenant)])


@router.get("/endpoints/{eid}", response_model=EndpointOut, summary="Get an endpoint")
def get_endpoint(eid: str, rt: RuntimeDep, p: Reader) -> EndpointOut:
    """One endpoint."""
    return to_out(rt, _get(rt, p, eid))


@router.patch("/endpoints/{eid}", response_model=EndpointOut, summary="Enable or disable")
def patch_endpoint(eid: str, body: EndpointPatch, rt: RuntimeDep, p: Writer) -> EndpointOut:
    """Enabling clears the failure state; held deliveries go out again."""
    ep = _get(rt, p, eid)
    if body.description is not None:
        ep = rt.endpoints.save(Endpoint(**{**ep.__dict__, "description": body.description}))
    if body.enabled is not None and body.enabled != ep.enabled:
        ep = rt.endpoints.set_enabled(ep, body.enabled, "disabled by a user")
        rt.dispatcher.kick()
    return to_out(rt, ep)


@router.delete("/endpoints/{eid}", status_code=204, summary="Delete an endpoint")
def delete_endpoint(eid: str, rt: RuntimeDep, p: Writer) -> Response:
    """Delete; its pending deliveries are dead-lettered. A statement still naming the URL
    creates a new endpoint (with a new secret) at its next match."""
    if not rt.endpoints.delete(eid, p.tenant):
        raise ApiError(404, f"no endpoint {eid!r}")
    return Response(status_code=204)


@router.get("/endpoints/{eid}/secret", response_model=SecretOut, summary="Signing secret")
def get_secret(eid: str, rt: RuntimeDep, p: Writer) -> SecretOut:
    """The current `whsec_` secret, and every secret still signing (during a rotation)."""
    ep = _get(rt, p, eid)
    return SecretOut(secret=ep.secrets[0]["secret"],
                     active=ep.active_secrets(rt.dispatcher.clock()))


@router.post("/endpoints/{eid}/secret:rotate", response_model=SecretOut,
             summary="Rotate the secret")
def rotate_secret(eid: str, rt: RuntimeDep, p: Writer,
                  body: Annotated[RotateIn | None, Body()] = None) -> SecretOut:
    """A new secret signs from now on; the old one keeps signing for the overlap."""
    ep = rt.endpoints.rotate(_get(rt, p, eid), (body or RotateIn()).overlap_seconds * 1000)
    return SecretOut(secret=ep.secrets[0]["secret"],
                     active=ep.active_secrets(rt.dispatcher.clock()))


@router.post("/endpoints/{eid}:recover", response_model=BulkRetryOut,
             summary="Redeliver failed deliveries")
def recover(eid: str, rt: RuntimeDep, p: Writer,
            body: Annotated[RecoverIn | None, Body()] = None) -> BulkRetryOut:
    """Send every failed delivery of this endpoint again (same webhook-id)."""
    _get(rt, p, eid)
    body = body or RecoverIn()
    n = rt.dispatcher.retry_many(p.tenant, eid, "failed", body.since, body.statement)
    return BulkRetryOut(retried=n)
