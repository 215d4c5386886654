"""Matches, paged by an opaque cursor."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["MatchOut", "MatchesOut"]


class MatchOut(BaseModel):
    """One match (the replay output form, plus its partition)."""

    id: str
    statement: str
    key: Any = None
    timed_out: bool = False
    start_ts: int | None = None
    end_ts: int | None = None
    partition: int | None = None
    bindings: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, Any] = Field(default_factory=dict)


class MatchesOut(BaseModel):
    """A page of matches; pass `next_cursor` as `cursor` to go on (also when caught up)."""

    data: list[MatchOut]
    next_cursor: str | None = None
