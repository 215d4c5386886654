"""Streams: partitions, offsets, retention and the worker's lag per partition."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Reader, RuntimeDep
from api.errors import ApiError
from api.runtime import Runtime
from api.schemas.common import ERRORS
from api.schemas.streams import StreamDetail, StreamOut, StreamsOut

router = APIRouter(prefix="/v1", tags=["streams"], responses=ERRORS)


def _one(rt: Runtime, name: str, n: int) -> StreamOut:
    decl = rt.statements.stored_streams().get(name)
    return StreamOut(name=name, partitions=n, entries=sum(rt.log.end_offsets(name)),
                     retention=rt.log.retention(name), declared=decl is not None,
                     key=list(decl.key) if decl is not None and decl.key else None)


@router.get("/streams", response_model=StreamsOut, summary="List streams")
def list_streams(rt: RuntimeDep, p: Reader) -> StreamsOut:
    """Every stream of the log (streams are shared by all tenants)."""
    return StreamsOut(data=[_one(rt, s, n) for s, n in sorted(rt.log.streams().items())])


@router.get("/streams/{stream}", response_model=StreamDetail, summary="A stream's partitions")
def get_stream(stream: str, rt: RuntimeDep, p: Reader) -> StreamDetail:
    """Per partition first/end offsets, and per worker partition the lag and its status."""
    from cep.lag import group_report
    from cep.worker import DEFAULT_GROUP

    streams = rt.log.streams()
    if stream not in streams:
        raise ApiError(404, f"no stream named {stream!r}")
    base = _one(rt, stream, streams[stream])
    first, end = rt.log.first_offsets(stream), rt.log.end_offsets(stream)
    offsets = [{"partition": i, "first_offset": f, "end_offset": e}
               for i, (f, e) in enumerate(zip(first, end))]
    reg = rt.registry()
    group = rt.worker.group if rt.worker is not None else DEFAULT_GROUP
    reports = group_report(rt.log, rt.store, group, [stream], reg.specs)
    lag = []
    for r in reports:
        d = r.to_dict()
        d["streams"] = [s for s in d["streams"] if s["stream"] == stream]
        if d["streams"]:
            lag.append(d)
    return StreamDetail(**base.model_dump(), offsets=offsets, lag=lag)
