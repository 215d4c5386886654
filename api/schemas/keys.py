"""API keys (admin only)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Strict

__all__ = ["KeyIn", "KeyOut", "KeysOut", "WhoAmI"]


class KeyIn(Strict):
    """A key to create."""

    tenant: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$", examples=["acme"])
    role: Literal["reader", "writer", "admin"] = "reader"
    name: str = Field("", max_length=200)


class KeyOut(BaseModel):
    """A key's public record; `token` only in the response that created it."""

    id: str
    tenant: str
    role: str
    name: str = ""
    created_at: int
    revoked_at: int | None = None
    prefix: str = ""
    token: str | None = None


class KeysOut(BaseModel):
    """Every key."""

    data: list[KeyOut]


class WhoAmI(BaseModel):
    """The caller."""

    key_id: str
    tenant: str
    role: str
