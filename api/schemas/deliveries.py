"""Deliveries (one match to one endpoint) and their attempts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Strict

__all__ = ["BulkRetryIn", "BulkRetryOut", "DeliveriesOut", "DeliveryOut"]


class DeliveryOut(BaseModel):
    """Status, attempts and the attempt log (status code, latency, error, response)."""

    id: str
    match_id: str = Field(description="also the webhook-id header")
    endpoint_id: str
    statement: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: int | None = None
    created_at: int
    updated_at: int
    last_error: str | None = None
    last_status: int | None = None
    log: list[dict[str, Any]] = Field(default_factory=list)


class DeliveriesOut(BaseModel):
    """A page of deliveries, newest first."""

    data: list[DeliveryOut]
    next_cursor: str | None = None


class BulkRetryIn(Strict):
    """Which deliveries to send again."""

    endpoint_id: str | None = Field(None, max_length=200)
    statement: str | None = Field(None, max_length=200)
    status: Literal["failed", "delivered", "pending"] = "failed"
    since: int | None = Field(None, ge=0, description="created at or after (unix ms)")


class BulkRetryOut(BaseModel):
    """How many were scheduled."""

    retried: int
