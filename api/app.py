"""create_app(): the FastAPI application around a Runtime."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse

from api import errors
from api.limits import BodyLimit
from api.metrics import Metrics, MetricsMiddleware
from api.routes import deliveries, endpoints, events, keys, matches, ops, rules, streams
from api.runtime import Runtime

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"
DESCRIPTION = """
Register event patterns (RULE) and standing searches (SEARCH), post events, read matches
and receive them as signed webhooks (Standard Webhooks v1).

**Auth**: every `/v1` call needs `Authorization: Bearer <key>`; a key belongs to one
tenant and has a role (`reader`, `writer`, `admin`). **Errors** always have the shape
`{"error": {"code", "message", "details"}}`; compile errors list line, column, message
and snippet in `details`. See docs/service.md.
"""


def create_app(rt: Runtime) -> FastAPI:
    """The app; `rt` holds the backends (and, in `cep serve`, the worker and dispatcher)."""
    app = FastAPI(title="cep", version="0.1.0", description=DESCRIPTION,
                  docs_url="/docs", redoc_url=None)
    app.state.runtime = rt
    app.state.metrics = Metrics(rt)
    errors.install(app)
    for r in (rules.router, events.router, streams.router, matches.router,
              endpoints.router, deliveries.router, keys.router, ops.router):
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def console() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, limit=rt.settings.max_request_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def _openapi(app: FastAPI) -> dict:
    """The generated schema plus the models of bodies read by hand (text or JSON)."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    from api.schemas.rules import RuleIn

    spec = get_openapi(title=app.title, version=app.version, description=app.description,
                       routes=app.routes)
    schema = RuleIn.model_json_schema(ref_template="#/components/schemas/{model}")
    comps = spec.setdefault("components", {}).setdefault("schemas", {})
    comps.update(schema.pop("$defs", {}))
    comps["RuleIn"] = schema
    app.openapi_schema = spec
    return spec
