"""SEARCH statements as the attribute index holds them: no Program, no Matcher, no runner.

Why a separate form. A RULE needs per-key state and an NFA; a SEARCH is one predicate over
one event, and a million of them must fit in memory. The index keeps per search only its
name, version, EMIT closures and actions (`SearchEntry`) plus its slots in the partitions;
the condition itself lives in the partitions' masks, and only the parts the masks cannot
express are kept as a compiled residual closure. Matches are built here exactly as the
engine builds a one-variable match (same `Match` fields, same `match_id` bytes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from cep.engine import Match
from cep.lang import ast
from cep.lang.expr import compile_condition, compile_expr
from cep.nfa.runtime import BindView

__all__ = ["SearchEntry", "SearchSpec", "make_match", "residual_fn", "where_of"]

_VAR = "event"
_NAMES = (_VAR,)


def _emit_fns(items: tuple[ast.EmitItem, ...]) -> tuple[tuple[str, Callable], ...]:
    """EMIT closures named as `cep.lang.compiler` names them (alias, last path part, exprN)."""
    out = []
    for i, item in enumerate(items):
        fn = compile_expr(item.expr, frozenset(), None).fn
        if item.alias:
            name = item.alias
        elif isinstance(item.expr, ast.Name):
            name = item.expr.parts[-1]
        else:
            name = f"expr{i}"
        out.append((name, fn))
    return tuple(out)


class SearchSpec:
    """A SEARCH compiled only as far as the index needs (`kind == "search"` for the engine)."""

    __slots__ = ("actions", "emit", "name", "streams", "version", "where")
    kind = "search"

    def __init__(
        self,
        name: str,
        stream: str,
        where: Any,
        emit: tuple[tuple[str, Callable], ...] = (),
        actions: tuple = (),
        version: int = 1,
    ) -> None:
        self.name = name
        self.streams = (stream,)
        self.where = where
        self.emit = emit
        self.actions = actions
        self.version = version

    @classmethod
    def from_ast(cls, stmt: ast.SearchStmt, version: int = 1) -> SearchSpec:
        """From a parsed (and checked) SEARCH statement."""
        emit = _emit_fns(stmt.emit) if stmt.emit else ()
        return cls(stmt.name, stmt.stream, stmt.where, emit, stmt.actions, version)


def where_of(stmt: Any) -> Any:
    """The WHERE AST of a SearchSpec, or of a CompiledSearch (re-read from its source text)."""
    if isinstance(stmt, SearchSpec):
        return stmt.where
    var = stmt.program.vars[0]
    if var.cond is None:
        return None
    from cep.lang.parser import parse_expression

    return parse_expression(var.source)


class SearchEntry:
    """What the index keeps per registered search."""

    __slots__ = ("actions", "emit", "name", "places", "stream", "version")

    def __init__(self, stmt: Any) -> None:
        self.name: str = stmt.name
        self.version: int = stmt.version
        self.stream: str = stmt.streams[0]
        self.emit = stmt.emit or None
        self.actions = stmt.actions
        self.places: tuple = ()


def residual_fn(atoms: tuple) -> Callable | None:
    """One closure verifying a conjunction's residual atoms (None when there are none)."""
    parts = []
    for a in atoms:
        if a[0] == "res":
            parts.append(a[1] if a[2] else ast.Unary("NOT", a[1]))
    if not parts:
        return None
    expr = parts[0]
    for p in parts[1:]:
        expr = ast.Binary("AND", expr, p)
    return compile_condition(expr, frozenset(), None).fn


_new = object.__new__
_blake = hashlib.blake2b


def make_match(entry: SearchEntry, rec: tuple, partition: int) -> Match:
    """The Match the engine's one-variable path would build (same id, bindings, fields)."""
    off, ts, ev, stream = rec
    m = _new(Match)
    name = entry.name
    m.statement = name
    # == cep.engine.match_id(name, version, partition, [("event", stream, off)], False)
    m.match_id = _blake(
        f"{name}\x1f{entry.version}\x1f{partition}\x1f0\x1eevent\x1f{stream}\x1f{off}".encode(),
        digest_size=16,
    ).hexdigest()
    m.key = None
    m.bindings = {_VAR: [ev]}
    fields: dict[str, Any] = {}
    if entry.emit:
        view = BindView(_NAMES, (0, rec, None, 0))
        for fname, fn in entry.emit:
            fields[fname] = fn(ev, view)
    m.fields = fields
    m.timed_out = False
    m.start_ts = ts
    m.end_ts = ts
    m.offsets = [(_VAR, off)]
    return m
