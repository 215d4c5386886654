"""Webhook endpoints and their secrets."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import Strict

__all__ = ["EndpointIn", "EndpointOut", "EndpointPatch", "EndpointsOut", "RecoverIn",
           "RotateIn", "SecretOut"]


class EndpointIn(Strict):
    """A new endpoint."""

    url: str = Field(max_length=2048, examples=["https://hooks.example.com/cep"])
    description: str = Field("", max_length=500)
    enabled: bool = True


class EndpointPatch(Strict):
    """Enable, disable or describe an endpoint."""

    enabled: bool | None = None
    description: str | None = Field(None, max_length=500)


class EndpointOut(BaseModel):
    """An endpoint with its delivery counts."""

    id: str
    url: str
    enabled: bool
    description: str = ""
    disabled_reason: str | None = None
    failing_since: int | None = None
    created_at: int
    stats: dict[str, int] = Field(default_factory=dict)
    secret: str | None = Field(None, description="only in the response that created it")
    warnings: list[str] = Field(default_factory=list)


class EndpointsOut(BaseModel):
    """The tenant's endpoints."""

    data: list[EndpointOut]


class SecretOut(BaseModel):
    """The signing secret (and older ones still valid during a rotation)."""

    secret: str = Field(examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    active: list[str] = Field(default_factory=list)


class RotateIn(Strict):
    """Rotation: the old secret keeps signing for `overlap_seconds`."""

    overlap_seconds: int = Field(86_400, ge=0, le=30 * 86_400)


class RecoverIn(Strict):
    """Bulk redelivery of failed deliveries created since `since` (unix ms)."""

    since: int | None = Field(None, ge=0)
    statement: str | None = Field(None, max_length=200)
