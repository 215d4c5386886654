"""Operations: liveness, readiness and Prometheus metrics (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from api.deps import RuntimeDep

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    """Liveness or readiness and its checks."""

    status: str
    checks: dict[str, bool | str] = {}


@router.get("/healthz", response_model=Health, summary="Liveness")
def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, summary="Readiness",
            responses={503: {"model": Health, "description": "not ready"}})
def readyz(rt: RuntimeDep, response: Response) -> Health:
    """Store and log reachable; worker and dispatcher running (when this process runs them)."""
    checks: dict[str, bool | str] = {}
    try:
        rt.store.statements_revision()
        checks["store"] = True
    except Exception as e:  # any backend failure means not ready
        checks["store"] = f"{type(e).__name__}: {e}"
    try:
        rt.log.streams()
        checks["log"] = True
    except Exception as e:  # any backend failure means not ready
        checks["log"] = f"{type(e).__name__}: {e}"
    alive = rt.alive()
    if rt.worker is not None:
        checks["worker"] = alive["worker"] or (rt.worker_error or False)
    if any(t.name == "cep-dispatcher" for t in rt._threads):
        checks["dispatcher"] = alive["dispatcher"]
    if rt.stopping.is_set():
        checks["stopping"] = "shutting down"
    ok = all(v is True for v in checks.values())
    if not ok:
        response.status_code = 503
    return Health(status="ok" if ok else "unavailable", checks=checks)


@router.get("/metrics", summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    m = request.app.state.metrics
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
