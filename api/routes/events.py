"""Ingest: `POST /v1/streams/{stream}/events` with one object, a JSON array or NDJSON.

Batch policy: **all or nothing**. Every event is checked first (a JSON object within the
size and depth limits); if any is bad, nothing is appended and the 422 lists every bad
event with its 0-based index (its line number - 1 in NDJSON). A 200 means every event is
durable in the log (SQLite commit / Redis reply), so a producer retries a failed batch as a
whole after fixing it, and never has to work out which part was taken.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import RuntimeDep, Writer
from api.errors import ApiError
from api.runtime import Runtime
from api.schemas.common import ERRORS
from api.schemas.events import IngestOut
from cep.errors import EventError
from cep.log.base import LogError, check_stream_name, encode_events

router = APIRouter(prefix="/v1", tags=["events"], responses=ERRORS)

BODY_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"oneOf": [
        {"type": "object"}, {"type": "array", "items": {"type": "object"}, "maxItems": 10000}]},
        "example": [{"card_id": "c1", "amount": 1.5, "country": "KR", "ts": 1000}]},
    "application/x-ndjson": {"schema": {"type": "string"},
                             "example": '{"card_id":"c1","amount":1.5,"ts":1000}\n'},
}}}


def parse_events(raw: bytes, ctype: str) -> list[Any]:
    """The events of a body; 400 with every unreadable NDJSON line."""
    if ctype in ("application/x-ndjson", "application/jsonl", "application/json-lines",
                 "text/plain"):
        out, bad = [], []
        for i, line in enumerate(raw.split(b"\n")):
            if not line.strip():
                continue
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError as e:
                bad.append({"index": len(out) + len(bad), "line": i + 1,
                            "message": f"invalid JSON: {e}"})
        if bad:
            raise ApiError(400, f"{len(bad)} line(s) are not JSON; nothing was appended",
                           "bad_events", bad)
        return out
    if ctype not in ("application/json", ""):
        raise ApiError(415, "send events as application/json or application/x-ndjson")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ApiError(400, f"invalid JSON: {e}") from None
    return doc if isinstance(doc, list) else [doc]


def _append(rt: Runtime, stream: str, events: list[Any], key: str | None) -> IngestOut:
    try:
        check_stream_name(stream)
    except LogError as e:
        raise ApiError(422, str(e)) from None
    created = False
    if stream not in rt.log.streams():
        rt.log.create_stream(stream, rt.settings.partitions)
        created = True
    decl = rt.statements.stored_streams().get(stream)
    path = tuple(key.split(".")) if key else (decl.key if decl is not None else None)
    keys = None
    if path:
        from cep.lang.compiler import path_getter

        get = path_getter(path)
        keys = [get(e) if isinstance(e, dict) else None for e in events]
    try:
        placed = rt.log.append(stream, events, keys)
    except EventError:
        bad = []
        for i, ev in enumerate(events):  # find every bad one, not only the first
            try:
                encode_events([ev], rt.log.limits)
            except EventError as e:
                bad.append({"index": i, "message": e.message})
        raise ApiError(422, f"{len(bad)} bad event(s); nothing was appended", "bad_events",
                       bad) from None
    rt.kick_worker()
    last: dict[str, int] = {}
    for part, off in placed:
        last[str(part)] = max(off, last.get(str(part), -1))
    return IngestOut(stream=stream, accepted=len(events), created_stream=created,
                     last_offsets=last)


@router.post("/streams/{stream}/events", response_model=IngestOut, openapi_extra=BODY_DOC,
             summary="Append events")
async def post_events(
    stream: str, request: Request, rt: RuntimeDep, p: Writer,
    key: Annotated[str | None, Query(
        max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        description="partition key attribute (default: the stream's declared KEY)")] = None,
) -> IngestOut:
    """Append one event, a JSON array or NDJSON; all or nothing (see the module doc).

    Events are partitioned by the stream's declared `KEY` (or `?key=`), so all events of a
    key meet in one partition: a RULE with PARTITION BY needs that. Without either, events
    are spread by their content and only single-event statements (SEARCH) see them all.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    events = parse_events(await request.body(), ctype)
    if not events:
        raise ApiError(422, "no events in the request")
    if len(events) > rt.settings.max_events_per_request:
        raise ApiError(413, f"at most {rt.settings.max_events_per_request} events per request")
    return await run_in_threadpool(_append, rt, stream, events, key)
