"""Shapes shared by every resource: the error body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ERRORS", "ErrorBody", "ErrorInfo", "Strict"]


class Strict(BaseModel):
    """Request bodies refuse unknown fields (a typo is an error, not silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class ErrorInfo(BaseModel):
    """What went wrong."""

    code: str = Field(examples=["compile_error"])
    message: str = Field(examples=["the statement does not compile"])
    details: list[dict[str, Any]] = Field(
        default_factory=list,
        examples=[[{"type": "RuleSyntaxError", "line": 1, "column": 20,
                    "message": "expected PATTERN", "snippet": "RULE r FROM payments PATERN\n"
                    "                    ^", "source": None}]],
    )


class ErrorBody(BaseModel):
    """The one error shape of every endpoint."""

    error: ErrorInfo


def _resp(desc: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": desc}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _resp("malformed request (bad JSON, bad cursor)"),
    401: _resp("missing or unknown API key"),
    403: _resp("the key's role does not allow this"),
    404: _resp("no such resource for this tenant"),
    409: _resp("conflict (a name owned by another tenant)"),
    413: _resp("request, batch or statement too large"),
    415: _resp("unsupported content type"),
    422: _resp("invalid: compile errors, bad events, refused webhook URL"),
}
