"""Matches: a filtered, cursor-paged list and a server-sent events live feed.

A tenant sees the matches of the statement names it owns (names stay owned after
deletion). The cursor is the store's opaque commit-order cursor, so a page never skips or
repeats a match; an empty page with a cursor means "caught up, ask again later".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.deps import Reader, RuntimeDep
from api.errors import ApiError
from api.runtime import Runtime
from api.schemas.common import ERRORS
from api.schemas.matches import MatchesOut, MatchOut
from cep.store.base import StoreError

router = APIRouter(prefix="/v1", tags=["matches"], responses=ERRORS)
SCAN_LIMIT = 20_000  # matches of other tenants skipped per request at most


def to_match(m: dict[str, Any]) -> MatchOut:
    """The API form of a stored match."""
    return MatchOut(id=m["match_id"], statement=m["statement"], key=m.get("key"),
                    timed_out=bool(m.get("timed_out")), start_ts=m.get("start_ts"),
                    end_ts=m.get("end_ts"), partition=m.get("partition"),
                    bindings=m.get("bindings") or {}, fields=m.get("fields") or {})


def page_for(rt: Runtime, tenant: str, statement: str | None, cursor: str | None,
             limit: int, since: int | None = None, until: int | None = None,
             ) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` of the tenant's matches after `cursor`, and the cursor to go on."""
    names = rt.statements.names_of(tenant)
    if statement is not None and statement not in names:
        raise ApiError(404, f"no statement named {statement!r}")
    out: list[dict[str, Any]] = []
    scanned = 0
    try:
        while len(out) < limit and scanned < SCAN_LIMIT:
            page, nxt = rt.store.list_matches(statement, cursor, limit - len(out))
            cursor = nxt if nxt is not None else cursor
            if not page:
                break
            scanned += len(page)
            for m in page:
                t = m.get("end_ts")
                if m.get("statement") not in names:
                    continue
                if since is not None and (not isinstance(t, int) or t < since):
                    continue
                if until is not None and (not isinstance(t, int) or t >= until):
                    continue
                out.append(m)
    except StoreError as e:
        raise ApiError(400, str(e)) from None
    return out, cursor


@router.get("/matches", response_model=MatchesOut, summary="List matches")
def list_matches(
    rt: RuntimeDep, p: Reader,
    statement: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[int | None, Query(description="end_ts >= since (event time, ms)")] = None,
    until: Annotated[int | None, Query(description="end_ts < until (event time, ms)")] = None,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MatchesOut:
    """The tenant's matches in commit order, after `cursor`."""
    page, nxt = page_for(rt, p.tenant, statement, cursor, limit, since, until)
    return MatchesOut(data=[to_match(m) for m in page], next_cursor=nxt)


@router.get("/matches/stream", summary="Live matches (server-sent events)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "`event: match` per match, `id:` a cursor"}})
async def stream_matches(
    request: Request, rt: RuntimeDep, p: Reader,
    statement: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=4096,
                                        description="start after (default: now)")] = None,
    max_seconds: Annotated[float | None, Query(gt=0, le=86400)] = None,
) -> StreamingResponse:
    """New matches as they are committed; resumes after `Last-Event-ID` on reconnect.

    Browsers' EventSource cannot send headers: pass the key as `?access_token=`.
    """
    start = request.headers.get("last-event-id") or cursor
    if start is None:
        start = await run_in_threadpool(rt.store.latest_match_cursor)
    await run_in_threadpool(page_for, rt, p.tenant, statement, start, 1)  # 404/400 early

    async def events() -> AsyncIterator[bytes]:
        pos = start
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        last_beat = time.monotonic()
        yield b"retry: 2000\n: connected\n\n"
        while not rt.stopping.is_set():
            if deadline is not None and time.monotonic() > deadline:
                return
            if await request.is_disconnected():
                return
            page, nxt = await run_in_threadpool(page_for, rt, p.tenant, statement, pos, 100)
            for i, m in enumerate(page):
                head = f"id: {nxt}\n" if i == len(page) - 1 and nxt else ""
                data = orjson.dumps(to_match(m).model_dump())
                yield f"{head}event: match\n".encode() + b"data: " + data + b"\n\n"
            pos = nxt
            if not page:
                if time.monotonic() - last_beat > 15:
                    last_beat = time.monotonic()
                    yield b": keep-alive\n\n"
                await asyncio.sleep(0.2)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
