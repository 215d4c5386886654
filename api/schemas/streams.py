"""Streams, partitions, offsets and consumer lag."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["StreamDetail", "StreamOut", "StreamsOut"]


class StreamOut(BaseModel):
    """A stream of the log."""

    name: str
    partitions: int
    entries: int
    retention: int | None = None
    declared: bool = False
    key: list[str] | None = None


class StreamsOut(BaseModel):
    """Every stream."""

    data: list[StreamOut]


class StreamDetail(StreamOut):
    """A stream with its partitions and the worker's lag on each."""

    offsets: list[dict[str, Any]] = Field(default_factory=list)
    lag: list[dict[str, Any]] = Field(default_factory=list)
