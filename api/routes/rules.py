"""Statements: register (text or JSON), validate, list, get, replace, pause, delete, graph."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.deps import Reader, RuntimeDep, Writer
from api.errors import ApiError
from api.runtime import Runtime
from api.schemas.common import ERRORS
from api.schemas.rules import (
    EXAMPLE_RULE,
    GraphOut,
    RuleIn,
    RuleOut,
    RulePatch,
    RulesOut,
    StatsOut,
    ValidateOut,
)
from api.statements import KINDS
from cep.keys import Principal
from cep.lang import ast
from cep.registry import is_stream_record
from cep.store.base import StatementConflictError, StatementRecord

router = APIRouter(prefix="/v1", tags=["statements"], responses=ERRORS)

BODY_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "text/plain": {"schema": {"type": "string", "maxLength": 65536},
                   "example": EXAMPLE_RULE},
    "application/json": {"schema": {"$ref": "#/components/schemas/RuleIn"},
                         "example": {"text": EXAMPLE_RULE, "enabled": True}},
}}}


async def read_rule(request: Request) -> RuleIn:
    """The body as RuleIn: text/plain is the statement itself, JSON is a RuleIn."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if ctype in ("text/plain", "application/x-cep", ""):
        try:
            return RuleIn(text=raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, "the statement text must be UTF-8") from None
    if ctype != "application/json":
        raise ApiError(415, "send the statement as text/plain or JSON {text, actions, enabled}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ApiError(400, f"invalid JSON: {e}") from None
    try:
        rule = RuleIn.model_validate(data)
    except ValidationError as e:
        details = [{"loc": [str(x) for x in err["loc"]], "message": err["msg"]}
                   for err in e.errors()]
        raise ApiError(422, "the request is not valid", details=details) from None
    if (rule.text is None) == (rule.search is None):
        raise ApiError(422, "give exactly one of `text` and `search`")
    return rule


def rule_text(rule: RuleIn) -> str:
    """The statement text of a request (the structured search form turned into text)."""
    if rule.text is not None:
        return rule.text
    try:
        from cep.lang.search_json import SearchJsonError, search_from_json
    except ImportError:  # the structured form ships with cep.lang.search_json
        raise ApiError(422, "the structured JSON search form is not available") from None
    from cep.lang.printer import to_text

    try:
        return to_text(search_from_json(rule.search))
    except SearchJsonError as e:
        raise ApiError(422, "invalid structured search", "compile_error",
                       [e.to_dict()]) from None


def to_out(rt: Runtime, rec: StatementRecord, change: str | None = None,
           warnings: list[str] | None = None) -> RuleOut:
    """A record with its live status, streams and actions."""
    stmt = rt.statements.parsed(rec)
    reg = rt.registry()
    err = reg.errors.get(rec.name)
    if rt.worker is not None and err is None:
        err = rt.worker.errors.get(rec.name)
    if is_stream_record(rec.name):
        status = "running" if not err else "error"
    elif not rec.enabled:
        status = "paused"
    elif err:
        status = "error"
    elif rt.worker is not None and rec.name not in rt.worker.registry.statements:
        status = "starting"
    else:
        status = "running"
    streams: list[str] = []
    actions = []
    kind = KINDS.get(type(stmt), "rule") if stmt is not None else "rule"
    if isinstance(stmt, ast.RuleStmt):
        streams = sorted({s.stream for s in stmt.sources})
    elif isinstance(stmt, ast.SearchStmt):
        streams = [stmt.stream]
    for a in getattr(stmt, "actions", ()) or ():
        if isinstance(a, ast.Webhook):
            actions.append({"type": "webhook", "url": a.url,
                            "endpoint_id": _endpoint_id(rt, rec.tenant, a.url)})
        elif isinstance(a, ast.EmitInto):
            actions.append({"type": "emit", "stream": a.stream})
    return RuleOut(name=rec.name, kind=kind, text=rec.text, version=rec.version,
                   enabled=rec.enabled, status=status, error=err, streams=streams,
                   actions=actions, created_at=rec.created_at, updated_at=rec.updated_at,
                   change=change, warnings=warnings or [])


def _endpoint_id(rt: Runtime, tenant: str, url: str) -> str | None:
    for ep in rt.endpoints.list(tenant):
        if ep.url == url:
            return ep.id
    return None


def _get(rt: Runtime, p: Principal, name: str) -> StatementRecord:
    rec = rt.store.get_statement(name, p.tenant)
    if rec is None:
        raise ApiError(404, f"no statement named {name!r}")
    return rec


def _put(rt: Runtime, p: Principal, rule: RuleIn,
         name: str | None) -> tuple[StatementRecord, list[str]]:
    try:
        return rt.statements.put(p.tenant, rule_text(rule),
                                 [a.model_dump() for a in rule.actions], rule.enabled,
                                 expect_name=name, allow_stream=p.can("admin"))
    except StatementConflictError as e:
        raise ApiError(409, str(e)) from None


@router.post("/rules", status_code=201, response_model=RuleOut, openapi_extra=BODY_DOC,
             summary="Register a statement",
             responses={200: {"model": RuleOut, "description": "updated or unchanged"}})
async def create_rule(request: Request, response: Response, rt: RuntimeDep,
                      p: Writer) -> RuleOut:
    """Register (or update, like `kubectl apply`) a RULE or SEARCH; 201 when created."""
    rule = await read_rule(request)
    rec, warnings = await run_in_threadpool(_put, rt, p, rule, None)
    if rec.change != "created":
        response.status_code = 200
    return to_out(rt, rec, rec.change, warnings)


@router.post("/rules:validate", response_model=ValidateOut, openapi_extra=BODY_DOC,
             summary="Validate a statement")
async def validate_rule(request: Request, rt: RuntimeDep, p: Reader) -> ValidateOut:
    """Check syntax, types, limits, cycles and webhook URLs; store nothing."""
    rule = await read_rule(request)
    text = rule_text(rule)
    v = await run_in_threadpool(rt.statements.validate, text,
                                [a.model_dump() for a in rule.actions], None, p.can("admin"))
    return ValidateOut(valid=not v.errors, name=v.name, kind=v.kind, errors=v.errors,
                       warnings=v.warnings, text=v.text)


@router.get("/rules", response_model=RulesOut, summary="List statements")
def list_rules(rt: RuntimeDep, p: Reader) -> RulesOut:
    """The tenant's statements with their status."""
    data = [to_out(rt, r) for r in rt.store.list_statements(p.tenant)]
    return RulesOut(data=data, count=len(data))


@router.get("/rules/{name}", response_model=RuleOut, summary="Get a statement")
def get_rule(name: str, rt: RuntimeDep, p: Reader) -> RuleOut:
    """One statement."""
    return to_out(rt, _get(rt, p, name))


@router.put("/rules/{name}", response_model=RuleOut, openapi_extra=BODY_DOC,
            summary="Create or replace a statement", responses={201: {"model": RuleOut}})
async def replace_rule(name: str, request: Request, response: Response, rt: RuntimeDep,
                       p: Writer) -> RuleOut:
    """Replace the statement's text (a new version starts with empty state)."""
    rule = await read_rule(request)
    rec, warnings = await run_in_threadpool(_put, rt, p, rule, name)
    response.status_code = 201 if rec.change == "created" else 200
    return to_out(rt, rec, rec.change, warnings)


@router.patch("/rules/{name}", response_model=RuleOut, summary="Pause or resume")
def patch_rule(name: str, body: Annotated[RulePatch, Body()], rt: RuntimeDep,
               p: Writer) -> RuleOut:
    """Pause (state dropped) or resume (starts at the current offset)."""
    rec = rt.store.set_enabled(name, body.enabled, p.tenant)
    if rec is None:
        raise ApiError(404, f"no statement named {name!r}")
    rt.kick_worker()
    return to_out(rt, rec, "updated")


@router.delete("/rules/{name}", status_code=204, summary="Delete a statement")
def delete_rule(name: str, rt: RuntimeDep, p: Writer) -> Response:
    """Delete; its stored matches stay readable; the name stays the tenant's."""
    if not rt.store.delete_statement(name, p.tenant):
        raise ApiError(404, f"no statement named {name!r}")
    rt.kick_worker()
    return Response(status_code=204)


@router.get("/rules/{name}/graph", response_model=GraphOut, summary="The NFA as a graph")
def rule_graph(name: str, rt: RuntimeDep, p: Reader) -> GraphOut:
    """Nodes (resting states and `start`) and edges (a variable's event moves along)."""
    from cep.lang.compiler import compile_rule, compile_search
    from cep.nfa.graph import to_networkx

    rec = _get(rt, p, name)
    stmt = rt.statements.parsed(rec)
    if isinstance(stmt, ast.RuleStmt):
        compiled = compile_rule(stmt, version=rec.version)
    elif isinstance(stmt, ast.SearchStmt):
        compiled = compile_search(stmt, version=rec.version)
    else:
        raise ApiError(404, f"{name!r} has no NFA")
    g = to_networkx(compiled.program)
    nodes = [{"id": str(n), **{k: v for k, v in d.items()}} for n, d in g.nodes(data=True)]
    edges = [{"from": str(a), "to": str(b), **d} for a, b, d in g.edges(data=True)]
    variables = [{"name": v.name, "stream": v.stream, "condition": v.source}
                 for v in compiled.program.vars]
    return GraphOut(statement=name, nodes=nodes, edges=edges, variables=variables)


@router.get("/rules/{name}/stats", response_model=StatsOut, summary="Statement counters")
def rule_stats(name: str, rt: RuntimeDep, p: Reader) -> StatsOut:
    """Stored matches, engine counters (this process's worker) and delivery counts."""
    rec = _get(rt, p, name)
    engine: dict[str, Any] = {}
    w = rt.worker
    if w is not None:
        for r in list(w.runners.values()):
            for g in list(r.groups.values()):
                s = g.engine.stats()["statements"].get(name)
                for k, v in (s or {}).items():
                    engine[k] = engine.get(k, 0) + v
    counts = {"pending": 0, "delivered": 0, "failed": 0}
    cursor = None
    while True:
        page, cursor = rt.store.list_deliveries(p.tenant, statement=name, after_cursor=cursor,
                                                limit=1000)
        for d in page:
            counts[d.status] += 1
        if cursor is None:
            break
    return StatsOut(name=name, status=to_out(rt, rec).status,
                    matches_stored=rt.store.match_count(name), engine=engine, deliveries=counts)
