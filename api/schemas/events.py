"""Ingest results."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["IngestOut"]


class IngestOut(BaseModel):
    """Events appended (durable) by one request."""

    stream: str
    accepted: int = Field(examples=[3])
    created_stream: bool = False
    last_offsets: dict[str, int] = Field(
        default_factory=dict, description="per partition, the last offset written")
