"""Checked statements → immutable runtime plans (`CompiledRule`, `CompiledSearch`, `StreamSpec`).

This is the last place the AST is seen: conditions become closures (`cep.lang.expr`),
the pattern becomes a `Program` (`cep.nfa.compiler`), key and time attributes become
getter functions. A SEARCH compiles through the same path as a one-variable RULE.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cep.errors import RuleErrors
from cep.lang import ast
from cep.lang.expr import compile_condition, compile_expr
from cep.nfa.compiler import DEFAULT_MAX_NODES, compile_pattern, pattern_variables
from cep.nfa.program import Program
from cep.nfa.runtime import SKIP_PAST_LAST, SKIP_TO_FIRST, SKIP_TO_LAST, SKIP_TO_NEXT

__all__ = [
    "CompiledRule",
    "CompiledSearch",
    "CompiledStatement",
    "StreamSpec",
    "compile_script",
    "compile_text",
    "path_getter",
    "time_getter",
]

_SKIP = {
    "PAST_LAST": SKIP_PAST_LAST,
    "TO_NEXT": SKIP_TO_NEXT,
    "TO_FIRST": SKIP_TO_FIRST,
    "TO_LAST": SKIP_TO_LAST,
}


def path_getter(path: tuple[str, ...]) -> Callable[[dict], Any]:
    """Return a function reading a (possibly nested) attribute; missing → None."""
    if len(path) == 1:
        name = path[0]

        def get1(ev: dict, _k: str = name) -> Any:
            return ev.get(_k)

        return get1

    def get(ev: dict, _p: tuple[str, ...] = path) -> Any:
        cur: Any = ev
        for part in _p:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(part)
        return cur

    return get


_MAX_TS = 2**53  # event times beyond this are not times (and would not survive JSON)


def _to_ms(value: Any) -> int | None:
    """Event time as epoch ms: numbers are ms, strings are ISO-8601 (naive = UTC)."""
    t = type(value)
    if t is int:
        return value if -_MAX_TS < value < _MAX_TS else None
    if t is float:
        return int(value) if -_MAX_TS < value < _MAX_TS else None  # also refuses inf/nan
    if t is str:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            return int(dt.replace(tzinfo=UTC).timestamp() * 1000)
        return int(dt.timestamp() * 1000)
    return None


def time_getter(path: tuple[str, ...]) -> Callable[[dict], int | None]:
    """Return a function reading the event time in epoch ms (None if missing or unreadable)."""
    if len(path) == 1:

        def event_time1(ev: dict, _k: str = path[0], _conv: Callable = _to_ms) -> int | None:
            v = ev.get(_k)
            return v if type(v) is int and -_MAX_TS < v < _MAX_TS else _conv(v)

        return event_time1
    get = path_getter(path)

    def event_time(ev: dict, _get: Callable = get, _conv: Callable = _to_ms) -> int | None:
        v = _get(ev)
        return v if type(v) is int and -_MAX_TS < v < _MAX_TS else _conv(v)

    return event_time


class StreamSpec:
    """What the engine knows of a stream: key, time attribute, watermark bound, late target."""

    __slots__ = ("key", "key_path", "late_to", "name", "time", "time_path", "watermark_ms")

    def __init__(
        self,
        name: str,
        key_path: tuple[str, ...] | None = None,
        time_path: tuple[str, ...] = ("ts",),
        watermark_ms: int = 0,
        late_to: str | None = None,
    ) -> None:
        self.name = name
        self.key_path = key_path
        self.key = path_getter(key_path) if key_path else None
        self.time_path = time_path
        self.time = time_getter(time_path)
        self.watermark_ms = watermark_ms
        self.late_to = late_to

    @classmethod
    def from_ast(cls, s: ast.StreamStmt) -> StreamSpec:
        """Build from a STREAM declaration."""
        return cls(s.name, s.key, s.time or ("ts",), s.watermark_ms or 0, s.late_to)


class CompiledRule:
    """A RULE ready to run: program, partitioning, time bound, skip mode, emit and actions."""

    __slots__ = (
        "actions",
        "emit",
        "key",
        "key_paths",
        "max_threads",
        "name",
        "program",
        "skip_mode",
        "skip_var",
        "streams",
        "text",
        "timeout_emit",
        "version",
        "within",
    )
    kind = "rule"

    def __init__(self, **kw: Any) -> None:
        for k, v in kw.items():
            setattr(self, k, v)


class CompiledSearch(CompiledRule):
    """A SEARCH: a one-variable rule with no partition state."""

    __slots__ = ()
    kind = "search"


class CompiledAggregate:
    """An AGGREGATE ready to run: the WindowSpec the window operator needs, plus actions."""

    __slots__ = ("actions", "name", "spec", "streams", "text", "version")
    kind = "aggregate"

    def __init__(self, **kw: Any) -> None:
        for k, v in kw.items():
            setattr(self, k, v)


CompiledStatement = CompiledRule


def _default_name(item: ast.EmitItem) -> str | None:
    """`EMIT p.amount` is named `amount` even after the alias is stripped."""
    return item.expr.parts[-1] if isinstance(item.expr, ast.Name) else None


def _emit_fns(
    items: tuple[ast.EmitItem, ...], variables: frozenset[str]
) -> tuple[tuple[str, Callable], ...]:
    out = []
    for i, item in enumerate(items):
        ce = compile_expr(item.expr, variables, None)
        if item.alias:
            name = item.alias
        elif isinstance(item.expr, ast.Name):
            name = item.expr.parts[-1]
        else:
            name = f"expr{i}"
        out.append((name, ce.fn))
    return tuple(out)


def _hashable(v: Any) -> Any:
    """Partition keys must be hashable: lists and objects are keyed by their JSON text."""
    return json.dumps(v, sort_keys=True, default=repr)


def _key_fn(paths: tuple[tuple[str, ...], ...]) -> Callable[[dict], Any] | None:
    if not paths:
        return None
    if len(paths) == 1 and len(paths[0]) == 1:

        def key1(ev: dict, _k: str = paths[0][0], _h: Callable = _hashable) -> Any:
            v = ev.get(_k)
            t = type(v)
            return _h(v) if t is list or t is dict else v

        return key1
    if len(paths) == 1:
        get = path_getter(paths[0])

        def key_path(ev: dict, _get: Callable = get, _h: Callable = _hashable) -> Any:
            v = _get(ev)
            t = type(v)
            return _h(v) if t is list or t is dict else v

        return key_path
    getters = tuple(path_getter(p) for p in paths)

    def key(ev: dict, _g: tuple = getters, _h: Callable = _hashable) -> Any:
        return tuple(_h(v) if type(v) in (list, dict) else v for v in (g(ev) for g in _g))

    return key


def _strip_aliases(expr: Any, aliases: frozenset[str], variables: frozenset[str]) -> Any:
    """Rewrite `p.amount` (p a FROM alias, not a variable) into the attribute `amount`."""
    if isinstance(expr, ast.Name):
        if len(expr.parts) > 1 and expr.parts[0] in aliases and expr.parts[0] not in variables:
            return ast.Name(expr.parts[1:], expr.span)
        return expr
    if not dataclasses.is_dataclass(expr) or isinstance(expr, ast.Span):
        return expr
    changes = {}
    for f in dataclasses.fields(expr):
        v = getattr(expr, f.name)
        if isinstance(v, tuple):
            nv: Any = tuple(_strip_aliases(x, aliases, variables) for x in v)
            if all(a is b for a, b in zip(nv, v)):
                continue
        elif dataclasses.is_dataclass(v) and not isinstance(v, ast.Span):
            nv = _strip_aliases(v, aliases, variables)
            if nv is v:
                continue
        else:
            continue
        changes[f.name] = nv
    return dataclasses.replace(expr, **changes) if changes else expr


def compile_rule(
    stmt: ast.RuleStmt,
    version: int = 1,
    max_threads: int = 1000,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> CompiledRule:
    """Compile a checked RULE."""
    var_order = pattern_variables(stmt.pattern)
    for d in stmt.defines:
        if d.var not in var_order:
            var_order.append(d.var)
    variables = frozenset(var_order)
    aliases = {s.alias: s.stream for s in stmt.sources if s.alias}
    alias_names = frozenset(aliases)
    conditions: dict[str, tuple[Callable | None, bool, str | None, str]] = {}
    for d in stmt.defines:
        stream = aliases.get(d.stream, d.stream) if d.stream else None
        if d.condition is None:
            conditions[d.var] = (None, False, stream, "true")
            continue
        cond = _strip_aliases(d.condition, alias_names, variables) if alias_names else d.condition
        ce = compile_condition(cond, variables, d.var)
        conditions[d.var] = (ce.fn, ce.uses_bindings, stream, ce.source)
    program: Program = compile_pattern(stmt.pattern, var_order, conditions, max_nodes)
    am = stmt.after_match
    return CompiledRule(
        name=stmt.name,
        version=version,
        streams=tuple(s.stream for s in stmt.sources),
        program=program,
        key_paths=stmt.partition_by,
        key=_key_fn(stmt.partition_by),
        within=stmt.within_ms,
        timeout_emit=stmt.on_timeout_emit,
        skip_mode=_SKIP[am.mode],
        skip_var=var_order.index(am.var) if am.var in var_order else -1,
        emit=_emit_fns(
            tuple(
                ast.EmitItem(
                    _strip_aliases(i.expr, alias_names, variables),
                    i.alias or _default_name(i),
                    i.span,
                )
                for i in stmt.emit
            ),
            variables,
        ),
        actions=stmt.actions,
        max_threads=max_threads,
        text=None,
    )


def compile_search(stmt: ast.SearchStmt, version: int = 1) -> CompiledSearch:
    """Compile a SEARCH into the one-state form of a rule."""
    var = "event"
    ce = compile_condition(stmt.where, frozenset(), None)
    conditions = {var: (ce.fn if stmt.where is not None else None, False, None, ce.source)}
    program = compile_pattern(ast.PVar(var), [var], conditions)
    return CompiledSearch(
        name=stmt.name,
        version=version,
        streams=(stmt.stream,),
        program=program,
        key_paths=(),
        key=None,
        within=None,
        timeout_emit=False,
        skip_mode=SKIP_PAST_LAST,
        skip_var=-1,
        emit=_emit_fns(stmt.emit, frozenset()),
        actions=stmt.actions,
        max_threads=1,
        text=None,
    )


def compile_aggregate(stmt: ast.AggregateStmt, version: int = 1) -> CompiledAggregate:
    """Build the WindowSpec of an AGGREGATE (ALLOWED LATENESS defaults to 0, never hidden)."""
    from cep.windows.assign import Hopping, Session, Sliding, Tumbling
    from cep.windows.spec import AggSpec, WindowSpec

    window: Any
    if stmt.window_kind == "TUMBLING":
        window = Tumbling(stmt.window_ms, stmt.offset_ms)
    elif stmt.window_kind == "HOPPING":
        window = Hopping(stmt.window_ms, stmt.every_ms or 0, stmt.offset_ms)
    elif stmt.window_kind == "SLIDING":
        window = Sliding(stmt.window_ms)
    else:
        window = Session(stmt.window_ms)
    aggs = tuple(AggSpec.of(i.alias, i.func.lower(), i.arg, p=i.p) for i in stmt.select)
    having = None
    if stmt.having is not None:
        fn = compile_condition(stmt.having, frozenset(), None).fn

        def having(row: dict) -> bool:
            return bool(fn(row, None))

    spec = WindowSpec(
        window,
        aggs,
        stmt.allowed_lateness_ms,
        group_by=tuple((p[-1], p) for p in stmt.group_by),
        emit=stmt.emit,
        having=having,
    )
    return CompiledAggregate(
        name=stmt.name,
        version=version,
        streams=(stmt.stream,),
        spec=spec,
        actions=stmt.actions,
        text=None,
    )


def compile_script(
    script: ast.Script, source: str = "", streams: dict[str, ast.StreamStmt] | None = None
) -> tuple[list[CompiledRule], dict[str, StreamSpec]]:
    """Check and compile every statement; raises RuleErrors listing all problems."""
    from cep.lang.checker import check
    from cep.lang.depgraph import cycle_errors

    errors = (
        check(script, source, streams=streams) if streams is not None else check(script, source)
    )
    errors += cycle_errors(script.statements, script.source_name)
    if errors:
        raise RuleErrors(errors)
    specs = {name: StreamSpec.from_ast(s) for name, s in (streams or {}).items()}
    out: list[CompiledRule] = []
    for stmt in script.statements:
        if isinstance(stmt, ast.StreamStmt):
            specs[stmt.name] = StreamSpec.from_ast(stmt)
        elif isinstance(stmt, ast.RuleStmt):
            out.append(compile_rule(stmt))
        elif isinstance(stmt, ast.SearchStmt):
            out.append(compile_search(stmt))
        elif isinstance(stmt, ast.AggregateStmt):
            out.append(compile_aggregate(stmt))  # type: ignore[arg-type]
    return out, specs


def compile_text(
    text: str, source_name: str = ""
) -> tuple[list[CompiledRule], dict[str, StreamSpec]]:
    """Parse, check and compile rule text in one call (collects every error)."""
    from cep.lang.parser import parse_collect

    script, errors = parse_collect(text, source_name)
    if errors:
        raise RuleErrors(errors)
    return compile_script(script, text)
