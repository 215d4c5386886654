"""Registering statements over REST: parse, check, compile, refuse cycles and unsafe webhooks.

A request holds one RULE or SEARCH (a STREAM declaration for admins). JSON `actions` are
appended to the statement's THEN clause and the canonical text (`cep.lang.printer`) is
what is stored, so every action lives in the text and the worker, the dispatcher and
`cep apply` agree on it. Nothing is written unless every check passes: syntax and types
against the stored STREAM declarations, compile limits, the statement graph (no cycles
through EMIT INTO), and the SSRF guard for each webhook URL (errors at the action's
line and column). A statement name belongs to the first tenant that registered it, even
after deletion, so another tenant can never inherit its stored matches.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from api.errors import ApiError
from cep.actions.ssrf import SsrfError
from cep.errors import CepError, RuleError, RuleErrors, caret_snippet
from cep.lang import ast
from cep.log.base import LogError, check_stream_name
from cep.registry import STREAM_PREFIX, is_stream_record, parse_stream
from cep.store.base import StatementRecord

if TYPE_CHECKING:
    from api.runtime import Runtime

__all__ = ["Statements", "Validation", "owner_id"]

OWNER = "stmt_owner"
KINDS = {ast.RuleStmt: "rule", ast.SearchStmt: "search", ast.StreamStmt: "stream"}


def owner_id(name: str) -> str:
    """Resource id of the claim on a statement name."""
    return "s_" + hashlib.blake2b(name.encode(), digest_size=12).hexdigest()


@dataclass
class Validation:
    """What checking a request found."""

    stmt: Any = None
    text: str | None = None  # canonical text
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        """Statement name (None if it did not parse)."""
        return None if self.stmt is None else self.stmt.name

    @property
    def kind(self) -> str | None:
        """rule, search or stream."""
        return None if self.stmt is None else KINDS.get(type(self.stmt))

    @property
    def record(self) -> str | None:
        """Store record name (`stream:<name>` for a declaration)."""
        if self.stmt is None:
            return None
        return STREAM_PREFIX + self.stmt.name if self.kind == "stream" else self.stmt.name


def _err(kind: str, message: str, span: ast.Span | None = None, text: str = "") -> dict:
    line, col = (span.line, span.column) if span is not None and span.line else (1, 1)
    return {"type": kind, "line": line, "column": col, "message": message,
            "snippet": caret_snippet(text, line, col) if text else "", "source": None}


def _action(a: dict[str, Any]) -> ast.Webhook | ast.EmitInto:
    if a["type"] == "webhook":
        if not a.get("url"):
            raise CepError("a webhook action needs a url")
        return ast.Webhook(a["url"], a.get("secret"))
    if not a.get("stream"):
        raise CepError("an emit action needs a stream")
    return ast.EmitInto(check_stream_name(a["stream"]))


class Statements:
    """Statement operations for one runtime (caches keyed by the store's revision)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = threading.Lock()
        self._streams: tuple[int, dict[str, ast.StreamStmt]] = (-1, {})
        self._asts: dict[tuple[str, int], ast.Statement | None] = {}

    # ------------------------------------------------------------ ownership

    def owner(self, name: str) -> str | None:
        """Tenant owning a statement name (claim, else the record's tenant)."""
        claim = self.rt.store.get_resource(OWNER, owner_id(name))
        if claim is not None:
            return claim.tenant
        rec = self.rt.store.get_statement(name)
        return rec.tenant if rec is not None else None

    def names_of(self, tenant: str) -> set[str]:
        """Every statement name the tenant owns (including deleted ones)."""
        names = {r.doc["name"] for r in self.rt.store.list_resources(OWNER, tenant)}
        names |= {r.name for r in self.rt.store.list_statements(tenant)}
        return names

    def _claim(self, name: str, tenant: str) -> None:
        if not self.rt.store.create_resource(OWNER, owner_id(name), tenant, {"name": name}):
            got = self.rt.store.get_resource(OWNER, owner_id(name))
            if got is not None and got.tenant != tenant:
                raise ApiError(409, f"statement name {name!r} belongs to another tenant")
        rec = self.rt.store.get_statement(name)
        if rec is not None and rec.tenant != tenant:
            raise ApiError(409, f"statement name {name!r} belongs to another tenant")

    # ------------------------------------------------------------ stored statements

    def stored_streams(self) -> dict[str, ast.StreamStmt]:
        """The stored STREAM declarations (parsed once per revision)."""
        rev = self.rt.store.statements_revision()
        with self._lock:
            if self._streams[0] == rev:
                return self._streams[1]
        out: dict[str, ast.StreamStmt] = {}
        for rec in self.rt.store.list_statements():
            if is_stream_record(rec.name):
                try:
                    out[rec.name[len(STREAM_PREFIX):]] = parse_stream(rec.text, rec.name)
                except CepError:
                    continue
        with self._lock:
            self._streams = (rev, out)
        return out

    def parsed(self, rec: StatementRecord) -> ast.Statement | None:
        """The AST of a stored record (cached by name and version)."""
        key = (rec.name, rec.version)
        if key not in self._asts:
            from cep.lang.parser import parse_collect

            script, errors = parse_collect(rec.text, rec.name)
            self._asts[key] = (script.statements[0]
                               if not errors and len(script.statements) == 1 else None)
        return self._asts[key]

    # ------------------------------------------------------------ validation

    def validate(self, text: str, actions: list[dict[str, Any]] | None = None,
                 expect_name: str | None = None, allow_stream: bool = False) -> Validation:
        """Check one statement without storing anything."""
        from cep.lang.parser import parse_collect

        v = Validation()
        if len(text.encode()) > self.rt.settings.max_rule_bytes:
            raise ApiError(413, f"statement text is over {self.rt.settings.max_rule_bytes} bytes")
        script, errors = parse_collect(text, "")
        if errors:
            v.errors = [e.to_dict() for e in RuleErrors(errors).errors]
            return v
        if len(script.statements) != 1:
            span = script.statements[1].span if len(script.statements) > 1 else None
            v.errors = [_err("RuleSyntaxError", f"expected exactly one statement, found "
                             f"{len(script.statements)}", span, text)]
            return v
        stmt = script.statements[0]
        if isinstance(stmt, ast.StreamStmt) and not allow_stream:
            v.errors = [_err("RuleNameError", "STREAM declarations need an admin key",
                             stmt.span, text)]
            return v
        if not isinstance(stmt, (ast.RuleStmt, ast.SearchStmt, ast.StreamStmt)):
            v.errors = [_err("RuleNameError", "this statement kind cannot be registered yet",
                             stmt.span, text)]
            return v
        if expect_name is not None and stmt.name != expect_name:
            v.errors = [_err("RuleNameError", f"the text defines {stmt.name!r}, the URL names "
                             f"{expect_name!r}", stmt.span, text)]
            return v
        if actions:
            if isinstance(stmt, ast.StreamStmt):
                v.errors = [_err("RuleNameError", "a STREAM declaration has no actions")]
                return v
            try:
                extra = tuple(_action(a) for a in actions)
            except (CepError, LogError) as e:
                v.errors = [_err("ActionError", str(e))]
                return v
            stmt = replace(stmt, actions=(*stmt.actions, *extra))
        v.stmt = stmt
        v.errors = self._check(stmt, text, v.warnings)
        if not v.errors:
            from cep.lang.printer import to_text

            v.text = to_text(stmt)
        return v

    def _check(self, stmt: Any, text: str, warnings: list[str]) -> list[dict[str, Any]]:
        from cep.lang.checker import check
        from cep.lang.compiler import compile_rule, compile_search
        from cep.lang.depgraph import cycle_errors

        streams = dict(self.stored_streams())
        if isinstance(stmt, ast.StreamStmt):
            streams.pop(stmt.name, None)
        errs: list[RuleError] = check(ast.Script((stmt,), ""), text, streams=streams)
        if errs:
            return [e.to_dict() for e in RuleErrors(errs).errors]
        if isinstance(stmt, ast.StreamStmt):
            return []
        others = []
        for rec in self.rt.store.list_statements():
            if rec.name != stmt.name and not is_stream_record(rec.name):
                p = self.parsed(rec)
                if p is not None:
                    others.append(p)
        cyc = cycle_errors([*others, stmt])
        if cyc:
            return [{**e.to_dict(), "snippet": caret_snippet(text, e.line, e.column)}
                    for e in cyc]
        try:
            (compile_rule if isinstance(stmt, ast.RuleStmt) else compile_search)(stmt)
        except RuleErrors as e:
            return [x.to_dict() for x in e.errors]
        except RuleError as e:
            return [e.to_dict()]
        except (CepError, RecursionError, ValueError) as e:
            return [_err("RuleLimitError", str(e), stmt.span, text)]
        out = []
        for a in stmt.actions:
            if isinstance(a, ast.Webhook):
                try:
                    warn = self.rt.guard.check_url(a.url)
                except SsrfError as e:
                    out.append(_err("WebhookRefused", str(e), a.span, text))
                    continue
                if warn:
                    warnings.append(f"webhook {a.url}: {warn}")
        return out

    # ------------------------------------------------------------ writes

    def put(self, tenant: str, text: str, actions: list[dict[str, Any]] | None = None,
            enabled: bool | None = True, expect_name: str | None = None,
            allow_stream: bool = False) -> tuple[StatementRecord, list[str]]:
        """Register or replace a statement (all checks first; nothing written on error)."""
        v = self.validate(text, actions, expect_name, allow_stream)
        if v.errors:
            raise ApiError(422, "the statement does not compile", "compile_error", v.errors)
        assert v.stmt is not None and v.text is not None and v.record is not None
        warnings = v.warnings
        self._claim(v.record, tenant)
        self._create_streams(v.stmt)
        for a in getattr(v.stmt, "actions", ()):
            if isinstance(a, ast.Webhook):
                self.rt.endpoints.for_url(tenant, a.url, a.secret)
        rec = self.rt.store.put_statement(v.record, v.text, tenant, enabled)
        self.rt.kick_worker()
        return rec, warnings

    def _create_streams(self, stmt: Any) -> None:
        log = self.rt.log
        have = log.streams()
        wanted: list[str] = []
        if isinstance(stmt, ast.RuleStmt):
            wanted += [s.stream for s in stmt.sources]
        elif isinstance(stmt, ast.SearchStmt):
            wanted.append(stmt.stream)
        else:
            wanted.append(stmt.name)
            if stmt.late_to:
                wanted.append(stmt.late_to)
        wanted += [a.stream for a in getattr(stmt, "actions", ()) if isinstance(a, ast.EmitInto)]
        for s in wanted:
            if s not in have:
                log.create_stream(s, self.rt.settings.partitions)
