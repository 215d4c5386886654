"""Statements: what is registered, validated, listed, and their graph and stats."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Strict

__all__ = [
    "ActionIn", "ActionOut", "GraphOut", "RuleIn", "RuleOut", "RulePatch", "RulesOut",
    "StatsOut", "ValidateOut",
]

EXAMPLE_RULE = (
    "RULE card_testing FROM payments PARTITION BY card_id\n"
    "PATTERN (small{3,} large)\n"
    "DEFINE small AS amount < 5, large AS amount > 500\n"
    "WITHIN 10m\n"
    "EMIT card_id, COUNT(small) AS attempts\n"
    "THEN WEBHOOK 'https://fraud.example.com/hooks/card-testing'"
)


class ActionIn(Strict):
    """An action added to the statement's THEN clause."""

    type: Literal["webhook", "emit"]
    url: str | None = Field(None, max_length=2048, examples=["https://hooks.example.com/cep"])
    secret: str | None = Field(None, max_length=200, description="label of the secret")
    stream: str | None = Field(None, max_length=128, examples=["alerts"])


class RuleIn(Strict):
    """A statement in the rule language, or a structured search, plus actions."""

    text: str | None = Field(None, description="one RULE or SEARCH statement",
                             examples=[EXAMPLE_RULE])
    search: dict[str, Any] | None = Field(
        None, description="the structured JSON form of a SEARCH (instead of text)")
    actions: list[ActionIn] = Field(default_factory=list, max_length=20)
    enabled: bool = True

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [
        {"text": EXAMPLE_RULE, "enabled": True},
        {"text": "SEARCH big FROM payments WHERE amount > 1000",
         "actions": [{"type": "webhook", "url": "https://hooks.example.com/cep"}]},
    ]}}


class RulePatch(Strict):
    """Pause or resume."""

    enabled: bool = Field(examples=[False])


class ActionOut(BaseModel):
    """An action of a statement (webhooks with the endpoint they resolve to)."""

    type: str
    url: str | None = None
    stream: str | None = None
    endpoint_id: str | None = None


class RuleOut(BaseModel):
    """A registered statement and its live status."""

    name: str
    kind: str
    text: str
    version: int
    enabled: bool
    status: Literal["running", "paused", "error", "starting"]
    error: str | None = None
    streams: list[str] = Field(default_factory=list)
    actions: list[ActionOut] = Field(default_factory=list)
    created_at: int
    updated_at: int
    change: str | None = Field(None, description="created, updated or unchanged (writes)")
    warnings: list[str] = Field(default_factory=list)


class RulesOut(BaseModel):
    """The tenant's statements."""

    data: list[RuleOut]
    count: int


class ValidateOut(BaseModel):
    """Result of validating a statement (nothing is stored)."""

    valid: bool
    name: str | None = None
    kind: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    text: str | None = Field(None, description="canonical text that would be stored")


class GraphOut(BaseModel):
    """The compiled NFA: nodes are resting states plus `start`, an edge consumes an event."""

    statement: str
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    variables: list[dict[str, Any]]


class StatsOut(BaseModel):
    """Counters of a statement."""

    name: str
    status: str
    matches_stored: int
    engine: dict[str, Any] = Field(default_factory=dict)
    deliveries: dict[str, int] = Field(default_factory=dict)
