"""The statements a store holds, turned into what a worker runs.

Why a module of its own: `cep apply` writes statement records and the worker, `cep
produce` and `cep status` read them back; all must agree on how a record maps to a compiled
statement. Conventions:

* one record per statement, its text the canonical form of `cep.lang.printer.to_text`
  (so re-applying a file that only differs in layout or comments changes nothing);
* a STREAM declaration is stored as a record named `stream:<name>` (statement names are
  identifiers and never contain `:`), so streams are versioned and listed like statements;
* a statement is checked against the stored STREAM declarations, compiled with its record's
  version (match ids and checkpointed state carry it), and skipped with an error message
  (never raised) when it no longer compiles, e.g. after its stream declaration changed.

Compiled statements are cached by (name, version, text) and the cache is dropped whenever
a stream declaration changes, so a refresh after a small change compiles only what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cep.errors import CepError, RuleErrors
from cep.lang import ast
from cep.lang.compiler import CompiledRule, StreamSpec, compile_rule, compile_search
from cep.store.base import StatementRecord, Store

__all__ = [
    "STREAM_PREFIX",
    "Registry",
    "Loader",
    "emit_targets",
    "is_stream_record",
    "parse_stream",
    "stream_record",
]

STREAM_PREFIX = "stream:"


def stream_record(name: str) -> str:
    """The record name a STREAM declaration is stored under."""
    return STREAM_PREFIX + name


def is_stream_record(name: str) -> bool:
    """True for the record of a STREAM declaration."""
    return name.startswith(STREAM_PREFIX)


def _parse_one(text: str, source: str) -> ast.Statement:
    """Parse a record's text: exactly one statement (RuleErrors on syntax errors)."""
    from cep.lang.parser import parse_collect

    script, errors = parse_collect(text, source)
    if errors:
        raise RuleErrors(errors)
    if len(script.statements) != 1:
        raise CepError(f"record {source!r} holds {len(script.statements)} statements, not 1")
    return script.statements[0]


def parse_stream(text: str, source: str = "") -> ast.StreamStmt:
    """Parse a stored STREAM declaration."""
    stmt = _parse_one(text, source)
    if not isinstance(stmt, ast.StreamStmt):
        raise CepError(f"record {source!r} is not a STREAM declaration")
    return stmt


def emit_targets(stmt: Any) -> list[str]:
    """Streams a statement's `THEN EMIT INTO` actions write to."""
    return [a.stream for a in getattr(stmt, "actions", ()) or () if isinstance(a, ast.EmitInto)]


@dataclass
class Registry:
    """Everything a worker needs from the statement records at one revision."""

    revision: int = 0
    streams: dict[str, ast.StreamStmt] = field(default_factory=dict)
    stream_texts: dict[str, str] = field(default_factory=dict)
    specs: dict[str, StreamSpec] = field(default_factory=dict)
    statements: dict[str, CompiledRule] = field(default_factory=dict)  # enabled, compiled
    records: dict[str, StatementRecord] = field(default_factory=dict)  # every non-stream record
    errors: dict[str, str] = field(default_factory=dict)  # name -> why it is not running

    def consumed_streams(self) -> list[str]:
        """Streams read by the running statements, sorted."""
        return sorted({s for st in self.statements.values() for s in st.streams})

    def spec(self, stream: str) -> StreamSpec:
        """The stream's spec (schema-less default when undeclared)."""
        return self.specs.get(stream) or StreamSpec(stream)


class Loader:
    """Builds Registries from a store, reusing compiled statements between revisions."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[tuple[str, int, str], CompiledRule] = {}
        self._stream_texts: dict[str, str] = {}

    def load(self) -> Registry:
        """Read every record and compile the enabled statements."""
        reg = Registry(revision=self.store.statements_revision())
        recs = self.store.list_statements()
        for rec in recs:
            if not is_stream_record(rec.name):
                continue
            name = rec.name[len(STREAM_PREFIX):]
            try:
                reg.streams[name] = parse_stream(rec.text, rec.name)
                reg.stream_texts[name] = rec.text
            except CepError as e:
                reg.errors[rec.name] = str(e)
        if reg.stream_texts != self._stream_texts:
            self._cache.clear()  # a declaration changed: recheck everything against it
            self._stream_texts = dict(reg.stream_texts)
        reg.specs = {n: StreamSpec.from_ast(s) for n, s in reg.streams.items()}
        for rec in recs:
            if is_stream_record(rec.name):
                continue
            reg.records[rec.name] = rec
            if not rec.enabled:
                continue
            try:
                reg.statements[rec.name] = self._compile(rec, reg.streams)
            except (CepError, RecursionError, ValueError) as e:
                reg.errors[rec.name] = str(e)
        return reg

    def _compile(self, rec: StatementRecord, streams: dict[str, ast.StreamStmt]) -> CompiledRule:
        key = (rec.name, rec.version, rec.text)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        from cep.lang.checker import check

        stmt = _parse_one(rec.text, rec.name)
        if not isinstance(stmt, (ast.RuleStmt, ast.SearchStmt)):
            raise CepError(f"statement {rec.name!r}: {type(stmt).__name__} cannot run yet")
        if stmt.name != rec.name:
            raise CepError(f"record {rec.name!r} holds statement {stmt.name!r}")
        errors = check(ast.Script((stmt,), rec.name), rec.text, streams=streams)
        if errors:
            raise RuleErrors(errors)
        if isinstance(stmt, ast.RuleStmt):
            compiled = compile_rule(stmt, version=rec.version)
        else:
            compiled = compile_search(stmt, version=rec.version)
        self._cache[key] = compiled
        return compiled
