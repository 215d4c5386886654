"""Deliveries: status, attempts and redelivery (by id or in bulk)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query

from api.deps import Reader, RuntimeDep, Writer
from api.errors import ApiError
from api.schemas.common import ERRORS
from api.schemas.deliveries import BulkRetryIn, BulkRetryOut, DeliveriesOut, DeliveryOut
from cep.store.base import StoreError
from cep.store.records import Delivery

router = APIRouter(prefix="/v1", tags=["deliveries"], responses=ERRORS)


def to_out(d: Delivery) -> DeliveryOut:
    """The API form (payload left out; it is the match)."""
    return DeliveryOut(id=d.id, match_id=d.match_id, endpoint_id=d.endpoint_id,
                       statement=d.statement, status=d.status, attempts=d.attempts,
                       next_attempt_at=d.next_attempt_at, created_at=d.created_at,
                       updated_at=d.updated_at, last_error=d.info.get("last_error"),
                       last_status=d.info.get("last_status"), log=d.info.get("log", []))


@router.get("/deliveries", response_model=DeliveriesOut, summary="List deliveries")
def list_deliveries(
    rt: RuntimeDep, p: Reader,
    endpoint_id: Annotated[str | None, Query(max_length=200)] = None,
    status: Literal["pending", "delivered", "failed"] | None = None,
    statement: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveriesOut:
    """The tenant's deliveries, newest first."""
    try:
        page, nxt = rt.store.list_deliveries(p.tenant, endpoint_id, status, statement, cursor,
                                             limit)
    except StoreError as e:
        raise ApiError(400, str(e)) from None
    return DeliveriesOut(data=[to_out(d) for d in page], next_cursor=nxt)


@router.post("/deliveries:retry", response_model=BulkRetryOut, summary="Bulk redelivery")
def retry_many(rt: RuntimeDep, p: Writer,
               body: Annotated[BulkRetryIn | None, Body()] = None) -> BulkRetryOut:
    """Send again every delivery that matches the filter (default: all failed ones)."""
    body = body or BulkRetryIn()
    n = rt.dispatcher.retry_many(p.tenant, body.endpoint_id, body.status, body.since,
                                 body.statement)
    return BulkRetryOut(retried=n)


@router.get("/deliveries/{did}", response_model=DeliveryOut, summary="Get a delivery")
def get_delivery(did: str, rt: RuntimeDep, p: Reader) -> DeliveryOut:
    """One delivery with its attempt log."""
    d = rt.store.delivery_get(did, p.tenant)
    if d is None:
        raise ApiError(404, f"no delivery {did!r}")
    return to_out(d)


@router.post("/deliveries/{did}:retry", response_model=DeliveryOut, summary="Redeliver")
def retry_one(did: str, rt: RuntimeDep, p: Writer) -> DeliveryOut:
    """Send again now, with the same webhook-id (the match id)."""
    d = rt.dispatcher.retry(did, p.tenant)
    if d is None:
        raise ApiError(404, f"no delivery {did!r}")
    return to_out(d)
