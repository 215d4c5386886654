"""Static checks of parsed statements: names, types, pattern shape and size limits.

Why a pass of its own: the grammar only knows shapes, while these checks need a whole
script (declared STREAM schemas, statement names) and must report every problem at once
(`cep check rules/`), each placed at the offending node with a caret snippet. Nothing here
raises on bad input: `check` returns the list, `check_or_raise` wraps it in RuleErrors.

Names in conditions: a dotted name whose first part is a pattern variable is a variable
reference (`small.country`); otherwise it is an attribute path of the current event. Streams
without a declared schema accept any attribute.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from cep.errors import (
    RuleError,
    RuleErrors,
    RuleLimitError,
    RuleNameError,
    RuleSyntaxError,
    RuleTypeError,
)
from cep.lang import ast
from cep.lang.scan import line_starts, snippet, span_at

__all__ = [
    "AGGREGATES",
    "MAX_PATTERN_SIZE",
    "MAX_QUANTIFIER",
    "SCALAR_FUNCTIONS",
    "check",
    "check_or_raise",
]

AGGREGATES = frozenset({"FIRST", "LAST", "COUNT", "SUM", "AVG", "MIN", "MAX"})
#: Allowed scalar functions and their (min, max) number of arguments (None: any).
SCALAR_FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "LOWER": (1, 1), "UPPER": (1, 1), "ABS": (1, 1), "LEN": (1, 1),
    "COALESCE": (1, None), "ROUND": (1, 2), "FLOOR": (1, 1), "CEIL": (1, 1),
}  # fmt: skip
MAX_QUANTIFIER = 1000  # largest {n,m} bound
MAX_PATTERN_SIZE = 1000  # variable occurrences once bounded quantifiers are expanded

ANY, NULL, BOOL, STRING, LIST, INT, FLOAT = "ANY", "NULL", "BOOL", "STRING", "LIST", "INT", "FLOAT"
_FAMILY = {"INT": "number", "FLOAT": "number", "STRING": "STRING", "BOOL": "BOOL",
           "LIST": "LIST", "OBJECT": "OBJECT"}  # fmt: skip  # TIMESTAMP, ANY, NULL: any
_WANTED = {  # argument families of the scalar functions (COALESCE: any)
    "LOWER": ("STRING",), "UPPER": ("STRING",), "LEN": ("STRING", "LIST"),
    "ABS": ("number",), "ROUND": ("number",), "FLOOR": ("number",), "CEIL": ("number",),
}  # fmt: skip
_CLAUSE_WORDS = re.compile(
    r"'[^']*(?:''[^']*)*'|\"[^\"\n]*(?:\"\"[^\"\n]*)*\"|--[^\n\r]*|/\*.*?\*/|[;()]"
    r"|[A-Za-z_][A-Za-z0-9_]*",
    re.S,
)


def _family(t: str) -> str | None:
    return _FAMILY.get(t)


def _comparable(a: str, b: str) -> bool:
    fa, fb = _family(a), _family(b)
    return fa is None or fb is None or fa == fb


def _is(t: str, *families: str) -> bool:
    """True unless `t` is known and outside `families` (unknown types pass)."""
    fam = _family(t)
    return fam is None or fam in families


# ---------------------------------------------------------------- schemas


class _Schema:
    """The declared attributes of one stream, with nested-path lookup."""

    def __init__(self, stmt: ast.StreamStmt) -> None:
        self.fields = {f.name: f.type for f in stmt.fields or ()}
        self.fields.setdefault(".".join(stmt.time or ("ts",)), "TIMESTAMP")
        if stmt.key:
            self.fields.setdefault(".".join(stmt.key), ANY)
        self.parents = {
            name.rsplit(".", i)[0] for name in self.fields for i in range(1, name.count(".") + 1)
        }

    def lookup(self, path: tuple[str, ...]) -> str | None:
        """The type of an attribute path, or None if it is not declared."""
        full = ".".join(path)
        found = self.fields.get(full)
        if found is not None:
            return found
        for i in range(len(path) - 1, 0, -1):
            outer = self.fields.get(".".join(path[:i]))
            if outer is not None:
                return ANY if outer in ("OBJECT", "ANY") else None
        return "OBJECT" if full in self.parents else None


def _names(node: object) -> Iterator[ast.Name]:
    """Every Name inside an expression tree."""
    if isinstance(node, ast.Name):
        yield node
    elif isinstance(node, tuple | list):
        for x in node:
            yield from _names(x)
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            if f.name != "span":
                yield from _names(getattr(node, f.name))


@dataclass
class _Scope:
    """What names mean in one expression: variables, current-event streams, what is allowed."""

    streams: list[str]  # streams the current event may come from
    variables: dict[str, list[str]] = field(default_factory=dict)  # var -> its streams
    aliases: dict[str, str] = field(default_factory=dict)
    aggregates: bool = True
    star: bool = False  # COUNT(*) allowed (EMIT)
    where: str = "RULE"


# ---------------------------------------------------------------- patterns


def _walk(p: ast.Pattern) -> Iterator[ast.Pattern]:
    yield p
    if isinstance(p, ast.PQuant):
        yield from _walk(p.body)
    elif isinstance(p, ast.PSeq):
        for item in p.items:
            yield from _walk(item)
    elif isinstance(p, ast.PAlt):
        for option in p.options:
            yield from _walk(option)


def _nullable(p: ast.Pattern) -> bool:
    """Whether the pattern can match the empty sequence of events."""
    if isinstance(p, ast.PVar):
        return False
    if isinstance(p, ast.PNot):
        return True
    if isinstance(p, ast.PQuant):
        return p.min == 0 or _nullable(p.body)
    if isinstance(p, ast.PSeq):
        return all(_nullable(i) for i in p.items)
    return any(_nullable(o) for o in p.options)  # type: ignore[union-attr]


def _size(p: ast.Pattern) -> int:
    """Variable occurrences once bounded quantifiers are expanded ({n,m}: max(n, m) times)."""
    if isinstance(p, ast.PVar | ast.PNot):
        return 1
    if isinstance(p, ast.PQuant):
        return _size(p.body) * max(p.min, p.max or 0, 1)
    children = p.items if isinstance(p, ast.PSeq) else p.options  # type: ignore[union-attr]
    return sum(_size(c) for c in children)


def _ends_with_not(p: ast.Pattern) -> ast.PNot | None:
    if isinstance(p, ast.PNot):
        return p
    return _ends_with_not(p.items[-1]) if isinstance(p, ast.PSeq) else None


# ---------------------------------------------------------------- the checker


class _Checker:
    """Collects errors over one script; each check appends and never raises."""

    def __init__(self, script: ast.Script, source: str, streams: Mapping[str, ast.StreamStmt]):
        self.errors: list[RuleError] = []
        self.source = source
        self.source_name = script.source_name
        self.starts = line_starts(source) if source else []
        declared = dict(streams)
        declared.update({s.name: s for s in script.statements if isinstance(s, ast.StreamStmt)})
        self.schemas = {n: _Schema(s) for n, s in declared.items() if s.fields is not None}

    def error(self, cls: type[RuleError], span: ast.Span, message: str) -> None:
        text = snippet(self.source, self.starts, span) if self.starts else ""
        self.errors.append(cls(span.line, span.column, message, text, self.source_name))

    def keyword_span(self, start: ast.Span, word: str, then_string: bool = False) -> ast.Span:
        """Where `word` (outside brackets) first appears after `start`; else `start`."""
        if not self.starts or start.line < 1:
            return start
        depth, found = 0, False
        for m in _CLAUSE_WORDS.finditer(self.source, start.offset):
            token = m.group()
            if found:
                return span_at(self.starts, m.start()) if token.startswith("'") else start
            if token == ";":
                break
            depth += (token == "(") - (token == ")")
            if depth == 0 and token.upper() == word:
                if not then_string:
                    return span_at(self.starts, m.start())
                found = True
        return start

    # ------------------------------------------------------------ statements

    def run(self, script: ast.Script) -> list[RuleError]:
        names: dict[str, ast.Span] = {}
        stream_names: dict[str, ast.Span] = {}
        for stmt in script.statements:
            seen = stream_names if isinstance(stmt, ast.StreamStmt) else names
            first = seen.get(stmt.name)
            if first is not None:
                what = "stream" if seen is stream_names else "statement name"
                where = f"{first.line}:{first.column}"
                message = f"duplicate {what} '{stmt.name}' (first at {where})"
                self.error(RuleNameError, stmt.span, message)
            else:
                seen[stmt.name] = stmt.span
            try:
                if isinstance(stmt, ast.RuleStmt):
                    self.rule(stmt)
                elif isinstance(stmt, ast.SearchStmt):
                    self.search(stmt)
                elif isinstance(stmt, ast.StreamStmt):
                    self.stream(stmt)
                elif isinstance(stmt, ast.AggregateStmt):
                    self.aggregate_stmt(stmt)
            except Exception as exc:  # a malformed hand-built tree: report, never raise
                self.error(RuleError, stmt.span, f"cannot check statement: {exc!r}")
        return self.errors

    def stream(self, s: ast.StreamStmt) -> None:
        fields: set[str] = set()
        for f in s.fields or ():
            if f.name in fields:
                self.error(RuleNameError, f.span, f"attribute '{f.name}' is declared twice")
            fields.add(f.name)
        if s.watermark_ms is not None and s.watermark_ms < 0:
            self.error(
                RuleSyntaxError,
                self.keyword_span(s.span, "WATERMARK"),
                "WATERMARK must not be negative",
            )
        if s.late_to == s.name:
            self.error(
                RuleNameError,
                self.keyword_span(s.span, "LATE"),
                f"late events of '{s.name}' cannot go to '{s.name}' itself",
            )

    def search(self, s: ast.SearchStmt) -> None:
        scope = _Scope([s.stream], aggregates=False, where="SEARCH")
        if s.where is not None:
            self.expr(s.where, scope)
        self.outputs(s.emit, s.actions, {s.stream}, scope)

    def aggregate_stmt(self, a: ast.AggregateStmt) -> None:
        schema = self.schemas.get(a.stream)
        span = a.span
        if a.window_ms <= 0:
            where = self.keyword_span(span, "WINDOW")
            self.error(RuleSyntaxError, where, "window size must be > 0")
        if a.window_kind == "HOPPING" and not 0 < (a.every_ms or 0) <= a.window_ms:
            self.error(
                RuleSyntaxError,
                self.keyword_span(span, "WINDOW"),
                "HOPPING d EVERY s needs 0 < s <= d",
            )
        if a.offset_ms and a.window_kind not in ("TUMBLING", "HOPPING"):
            self.error(
                RuleSyntaxError,
                self.keyword_span(span, "OFFSET"),
                "OFFSET only applies to TUMBLING and HOPPING windows",
            )
        names: dict[str, ast.Span] = {}
        for path in a.group_by:
            if schema is not None and schema.lookup(path) is None:
                message = f"stream '{a.stream}' has no attribute '{'.'.join(path)}'"
                self.error(RuleTypeError, self.keyword_span(span, "GROUP"), message)
            names.setdefault(path[-1], span)
        for item in a.select:
            if item.alias in names or item.alias in ("window_start", "window_end", "kind"):
                message = f"output name '{item.alias}' is used twice or reserved"
                self.error(RuleNameError, item.span, message)
            names[item.alias] = item.span
            if item.arg is not None and schema is not None:
                t = schema.lookup(item.arg)
                if t is None:
                    message = f"stream '{a.stream}' has no attribute '{'.'.join(item.arg)}'"
                    self.error(RuleTypeError, item.span, message)
                elif item.func not in ("COUNT", "COUNT_DISTINCT") and not _is(t, "number"):
                    message = f"{item.func} needs a number, but '{'.'.join(item.arg)}' is {t}"
                    self.error(RuleTypeError, item.span, message)
            if item.p is not None and not 0 <= item.p <= 100:
                self.error(RuleTypeError, item.span, f"percentile {item.p} is not in 0..100")
        if a.having is not None:
            for n in _names(a.having):
                if n.parts[0] not in names:
                    self.error(
                        RuleNameError,
                        n.span,
                        f"HAVING can only use GROUP BY names and SELECT aliases, "
                        f"not '{'.'.join(n.parts)}'",
                    )
        self.outputs((), a.actions, {a.stream}, _Scope([a.stream], aggregates=False))

    def outputs(
        self,
        emit: tuple[ast.EmitItem, ...],
        actions: tuple[ast.Action, ...],
        inputs: set[str],
        scope: _Scope,
    ) -> None:
        for item in emit:
            self.expr(item.expr, scope)
        for action in actions:
            if isinstance(action, ast.EmitInto) and action.stream in inputs:
                self.error(
                    RuleNameError,
                    action.span,
                    f"EMIT INTO '{action.stream}' feeds this statement's own input (a cycle)",
                )

    def rule(self, r: ast.RuleStmt) -> None:
        streams = [s.stream for s in r.sources]
        aliases = {s.alias: s.stream for s in r.sources if s.alias}
        pattern_vars = {p.name for p in _walk(r.pattern) if isinstance(p, ast.PVar | ast.PNot)}
        self.pattern(r)
        variables = {v: streams for v in pattern_vars}
        defined: set[str] = set()
        for d in r.defines:
            if d.var in defined:
                self.error(RuleNameError, d.span, f"variable '{d.var}' is defined twice")
            elif d.var not in pattern_vars:
                self.error(
                    RuleNameError, d.span, f"DEFINE of '{d.var}', which the pattern does not use"
                )
            defined.add(d.var)
            if d.stream is not None:
                stream = aliases.get(d.stream, d.stream)
                if stream not in streams:
                    self.error(
                        RuleNameError, d.span, f"stream '{d.stream}' is not in this rule's FROM"
                    )
                elif d.var in pattern_vars:
                    variables[d.var] = [stream]
        for d in r.defines:
            if d.condition is not None:
                current = variables.get(d.var, streams) if d.stream else streams
                self.expr(d.condition, _Scope(current, variables, aliases))
        am = r.after_match
        if am.mode in ("TO_FIRST", "TO_LAST"):
            plain = {p.name for p in _walk(r.pattern) if isinstance(p, ast.PVar)}
            if am.var not in plain:
                self.error(
                    RuleNameError,
                    am.span,
                    f"AFTER MATCH SKIP to '{am.var}', which is not a variable of the pattern",
                )
        if r.within_ms is not None and r.within_ms <= 0:
            self.error(
                RuleSyntaxError, self.keyword_span(r.span, "WITHIN"), "WITHIN must be longer than 0"
            )
        if r.on_timeout_emit and r.within_ms is None:
            self.error(RuleSyntaxError, r.span, "ON TIMEOUT EMIT needs WITHIN")
        scope = _Scope(streams, variables, aliases, star=True)
        self.outputs(r.emit, r.actions, set(streams), scope)

    # ------------------------------------------------------------ patterns

    def pattern(self, r: ast.RuleStmt) -> None:
        p = r.pattern
        span = p.span if p.span.line else r.span
        before = len(self.errors)
        self.pattern_node(p, in_quant=False, in_alt=False)
        over = any(isinstance(e, RuleLimitError) for e in self.errors[before:])
        if isinstance(p, ast.PNot):
            self.not_error(p, "a pattern cannot start with it")
        if _nullable(p):
            self.error(RuleSyntaxError, span, "pattern can match no events")
        if not over and _size(p) > MAX_PATTERN_SIZE:  # an oversized quantifier says it already
            self.error(
                RuleLimitError,
                span,
                f"pattern is too large: more than "
                f"{MAX_PATTERN_SIZE} variables once quantifiers are expanded",
            )
        absent = _ends_with_not(p)
        if absent is not None and r.within_ms is None:
            self.error(
                RuleSyntaxError,
                absent.span,
                f"absence at the end ('-> !{absent.name}') needs WITHIN",
            )

    def not_error(self, p: ast.PNot, why: str) -> None:
        self.error(
            RuleSyntaxError,
            p.span,
            f"'!{p.name}' is only allowed right after '->' in "
            f"a sequence (p -> !{p.name} -> q, or p -> !{p.name} at the end): {why}",
        )

    def pattern_node(self, p: ast.Pattern, in_quant: bool, in_alt: bool) -> None:
        if isinstance(p, ast.PQuant):
            self.quantifier(p)
            if isinstance(p.body, ast.PNot):
                self.not_error(p.body, "it cannot be repeated")
            self.pattern_node(p.body, True, in_alt)
        elif isinstance(p, ast.PAlt):
            for option in p.options:
                if isinstance(option, ast.PNot):
                    self.not_error(option, "it cannot be an alternative")
                self.pattern_node(option, in_quant, True)
        elif isinstance(p, ast.PSeq):
            self.sequence(p, in_quant, in_alt)

    def sequence(self, p: ast.PSeq, in_quant: bool, in_alt: bool) -> None:
        last = len(p.items) - 1
        for i, item in enumerate(p.items):
            before = p.joins[i - 1] if i else None
            if isinstance(item, ast.PNot):
                after = p.joins[i] if i < last else "->"
                if before != "->" or after != "->":
                    self.not_error(item, "it must follow '->' and be followed by '->'")
                elif in_quant:
                    self.not_error(item, "it cannot be inside a quantifier")
                elif in_alt:
                    self.not_error(item, "it cannot be inside an alternation")
                continue
            if before and _nullable(item):
                self.error(
                    RuleSyntaxError, item.span, f"the right side of '{before}' can match no events"
                )
            self.pattern_node(item, in_quant, in_alt)

    def quantifier(self, q: ast.PQuant) -> None:
        hi = q.max
        if hi is not None and q.min > hi:
            message = f"quantifier {{{q.min},{hi}}}: the minimum is above the maximum"
            self.error(RuleSyntaxError, q.span, message)
        elif hi == 0:
            self.error(RuleSyntaxError, q.span, "quantifier {0} matches nothing")
        top = max(q.min, hi or 0)
        if top > MAX_QUANTIFIER:
            message = f"quantifier bound {top} is above the limit of {MAX_QUANTIFIER}"
            self.error(RuleLimitError, q.span, message)

    # ------------------------------------------------------------ expressions

    def attribute(self, node: ast.Expr, path: tuple[str, ...], streams: list[str]) -> str:
        schemas = [self.schemas.get(s) for s in streams]
        if not schemas or any(s is None for s in schemas):
            return ANY  # a schema-less stream: anything goes
        types = [t for s in schemas if (t := s.lookup(path)) is not None]  # type: ignore[union-attr]
        if not types:
            self.error(
                RuleTypeError,
                node.span,
                f"unknown attribute '{'.'.join(path)}' "
                f"(not declared in stream {', '.join(dict.fromkeys(streams))})",
            )
            return ANY
        return types[0] if all(t == types[0] for t in types) else ANY

    def name(self, n: ast.Name, scope: _Scope) -> str:
        first = n.parts[0]
        if first in scope.variables:
            if len(n.parts) == 1:
                return ANY  # the variable's event itself
            return self.attribute(n, n.parts[1:], scope.variables[first])
        if first in scope.aliases and len(n.parts) > 1:
            return self.attribute(n, n.parts[1:], [scope.aliases[first]])
        return self.attribute(n, n.parts, scope.streams)

    def expr(self, e: ast.Expr, scope: _Scope) -> str:
        """Check an expression; return its type (ANY when unknown)."""
        if isinstance(e, ast.Literal):
            v = e.value
            if v is None:
                return NULL
            if isinstance(v, bool):
                return BOOL
            return STRING if isinstance(v, str) else INT if isinstance(v, int) else FLOAT
        if isinstance(e, ast.Name):
            return self.name(e, scope)
        if isinstance(e, ast.Star):
            self.error(RuleSyntaxError, e.span, "'*' is only allowed in COUNT(*)")
            return ANY
        if isinstance(e, ast.Call):
            return self.call(e, scope)
        if isinstance(e, ast.Unary):
            t = self.expr(e.operand, scope)
            if e.op == "NOT":
                return BOOL
            if not _is(t, "number"):
                self.error(RuleTypeError, e.operand.span, f"'-' needs a number, got {t}")
            return t if _family(t) == "number" else ANY
        if isinstance(e, ast.Binary):
            return self.binary(e, scope)
        return self.predicate(e, scope)

    def binary(self, e: ast.Binary, scope: _Scope) -> str:
        lt, rt = self.expr(e.left, scope), self.expr(e.right, scope)
        if e.op in ("AND", "OR"):
            return BOOL
        if e.op in ("+", "-", "*", "/", "%"):
            for side, t in ((e.left, lt), (e.right, rt)):
                if not _is(t, "number"):
                    self.error(RuleTypeError, side.span, f"'{e.op}' needs numbers, got {t}")
            if lt == rt == INT and e.op != "/":
                return INT
            return FLOAT if _family(lt) == _family(rt) == "number" else ANY
        if not _comparable(lt, rt):
            self.error(RuleTypeError, e.right.span, f"cannot compare {lt} with {rt}")
        return BOOL

    def predicate(self, e: ast.Expr, scope: _Scope) -> str:
        t = self.expr(e.operand, scope)  # type: ignore[union-attr]
        if isinstance(e, ast.Between):
            for bound in (e.low, e.high):
                bt = self.expr(bound, scope)
                if not _comparable(t, bt):
                    self.error(
                        RuleTypeError, bound.span, f"BETWEEN bound is {bt} but the value is {t}"
                    )
        elif isinstance(e, ast.InList | ast.Contains):
            if isinstance(e, ast.Contains) and not _is(t, "LIST"):
                self.error(RuleTypeError, e.operand.span, f"CONTAINS needs a LIST, got {t}")
            for item in e.items:
                it = self.expr(item, scope)
                if isinstance(e, ast.InList) and not _comparable(t, it):
                    self.error(
                        RuleTypeError, item.span, f"IN list item is {it} but the value is {t}"
                    )
        elif isinstance(e, ast.Like | ast.Matches):
            op = "LIKE" if isinstance(e, ast.Like) else "MATCHES"
            if not _is(t, "STRING"):
                self.error(RuleTypeError, e.operand.span, f"{op} needs a STRING, got {t}")
            if isinstance(e, ast.Matches):
                try:
                    re.compile(e.regex)
                except (re.error, RecursionError, OverflowError, ValueError) as exc:
                    where = self.keyword_span(e.span, "MATCHES", then_string=True)
                    reason = getattr(exc, "msg", None) or type(exc).__name__
                    self.error(RuleSyntaxError, where, f"invalid regular expression: {reason}")
        return BOOL

    def call(self, c: ast.Call, scope: _Scope) -> str:
        f = c.func
        if f in AGGREGATES:
            return self.aggregate(c, scope)
        limits = SCALAR_FUNCTIONS.get(f)
        types = [self.expr(a, scope) for a in c.args]
        if limits is None:
            self.error(RuleNameError, c.span, f"unknown function '{f}'")
            return ANY
        low, high = limits
        if len(c.args) < low or (high is not None and len(c.args) > high):
            count = (
                f"{low} or more" if high is None else str(low) if low == high else f"{low}-{high}"
            )
            self.error(RuleTypeError, c.span, f"{f} takes {count} argument(s), got {len(c.args)}")
            return ANY
        wanted = _WANTED.get(f, ())
        for arg, t in zip(c.args, types):
            if wanted and not _is(t, *wanted):
                self.error(RuleTypeError, arg.span, f"{f} needs {' or '.join(wanted)}, got {t}")
        if f in ("LOWER", "UPPER"):
            return STRING
        if f == "LEN":
            return INT
        if f == "COALESCE":
            known = [t for t in types if t not in (ANY, NULL)]
            return known[0] if known and all(_comparable(known[0], t) for t in known) else ANY
        if f == "ABS":
            return types[0] if _family(types[0]) == "number" else ANY
        return FLOAT if f == "ROUND" else INT

    def aggregate(self, c: ast.Call, scope: _Scope) -> str:
        f = c.func
        if not scope.aggregates:
            self.error(
                RuleNameError,
                c.span,
                f"{f} is an aggregate over pattern variables; a {scope.where} has none",
            )
            return ANY
        example = f"{f}(v)" if f == "COUNT" else f"{f}(v.price)"
        if f in ("FIRST", "LAST") and len(c.args) == 2:
            # MATCH_RECOGNIZE navigation: FIRST(v.x, n) is the n-th event after the first
            n = c.args[1]
            if not (isinstance(n, ast.Literal) and type(n.value) is int and n.value >= 0):
                self.error(RuleTypeError, n.span, f"the offset of {f} must be an integer >= 0")
                return ANY
            c = ast.Call(f, c.args[:1], c.span)
        if len(c.args) != 1:
            self.error(RuleTypeError, c.span, f"{f} takes one argument, such as {example}")
            return ANY
        arg = c.args[0]
        if isinstance(arg, ast.Star):
            if f != "COUNT":
                self.error(RuleSyntaxError, arg.span, f"only COUNT takes '*', not {f}")
            elif not scope.star:
                self.error(RuleSyntaxError, c.span, "COUNT(*) is only allowed in EMIT")
            return INT
        if not (isinstance(arg, ast.Name) and arg.parts[0] in scope.variables):
            if not isinstance(arg, ast.Name):
                self.expr(arg, scope)  # errors inside, as in MAX(a.x + 'y')
            self.error(RuleTypeError, arg.span, f"{f} takes a pattern variable, such as {example}")
            return ANY
        if f == "COUNT":
            return INT
        if len(arg.parts) == 1:
            self.error(
                RuleTypeError,
                arg.span,
                f"{f} takes a variable's attribute, such as {f}({arg.parts[0]}.price)",
            )
            return ANY
        t = self.name(arg, scope)
        if f in ("SUM", "AVG") and not _is(t, "number"):
            self.error(RuleTypeError, arg.span, f"{f} needs a number, got {t}")
            return ANY
        return FLOAT if f == "AVG" else t


def check(
    script: ast.Script, source: str = "", streams: Mapping[str, ast.StreamStmt] | None = None
) -> list[RuleError]:
    """Return every error in `script` (never raises); `source` is its text, for snippets."""
    return _Checker(script, source, streams or {}).run(script)


def check_or_raise(
    script: ast.Script, source: str = "", streams: Mapping[str, ast.StreamStmt] | None = None
) -> None:
    """Raise RuleErrors holding every error in `script`, if there is any."""
    errors = check(script, source, streams)
    if errors:
        raise RuleErrors(errors)
