"""Turn AST nodes back into canonical rule text.

Why: the API stores and shows rules in one canonical form (upper-case keywords, minimal
parentheses, durations in their largest exact unit), diffs between rule versions are read
on that form, and the round trip `parse(to_text(parse(x))) == parse(x)` is the test that
keeps the grammar and the tree in step. Parentheses are added exactly where the parser
would otherwise build a different tree.
"""

from __future__ import annotations

import math
import re

from cep.lang import ast
from cep.lang.grammar import IDENT_RE, RESERVED

__all__ = ["format_duration", "quote_name", "to_text"]

_IDENT = re.compile(IDENT_RE)
_LEADING_ALL_ANY = re.compile(r"(?i:ALL|ANY)\s*\(")

# Binding strength of expression levels, lowest first (as in grammar.py).
_OR, _AND, _NOT, _PRED, _ADD, _MUL, _UNARY, _ATOM = range(1, 9)
_BINARY_PREC = {"OR": _OR, "AND": _AND, "+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "%": _MUL}
_PREDICATES = (ast.Between, ast.InList, ast.IsNull, ast.Like, ast.Matches, ast.Contains)
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def quote_name(name: str) -> str:
    """Return a name as written in rule text: bare if possible, else in double quotes."""
    if _IDENT.fullmatch(name) and name.upper() not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def format_duration(ms: int) -> str:
    """Return a duration in its largest exact unit: 600000 -> '10m', 1500 -> '1500ms'."""
    for unit, size in _UNITS:
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} as a number literal")
        return repr(value)
    raise TypeError(f"not a literal value: {value!r}")


def _path(parts: tuple[str, ...]) -> str:
    return ".".join(quote_name(p) for p in parts)


# ---------------------------------------------------------------- expressions


def _wrap(node: ast.Expr, at_least: int) -> str:
    text, prec = _expr(node)
    return f"({text})" if prec < at_least else text


def _list(items: tuple[ast.Expr, ...]) -> str:
    return "(" + ", ".join(_expr(i)[0] for i in items) + ")"


def _expr(node: ast.Expr) -> tuple[str, int]:
    """Return the text of an expression and the precedence level it binds at."""
    if isinstance(node, ast.Literal):
        text = _literal(node.value)
        return text, (_UNARY if text.startswith("-") else _ATOM)
    if isinstance(node, ast.Name):
        return _path(node.parts), _ATOM
    if isinstance(node, ast.Star):
        return "*", _ATOM
    if isinstance(node, ast.Call):
        return f"{node.func}({', '.join(_expr(a)[0] for a in node.args)})", _ATOM
    if isinstance(node, ast.Unary):
        if node.op == "NOT":
            return f"NOT {_wrap(node.operand, _NOT)}", _NOT
        inner = _wrap(node.operand, _UNARY)
        return (f"-({inner})" if inner.startswith("-") else f"-{inner}"), _UNARY
    if isinstance(node, ast.Binary):
        prec = _BINARY_PREC.get(node.op)
        if prec is None:  # a comparison: non-associative, operands at + - level
            return f"{_wrap(node.left, _ADD)} {node.op} {_wrap(node.right, _ADD)}", _PRED
        return f"{_wrap(node.left, prec)} {node.op} {_wrap(node.right, prec + 1)}", prec
    if not isinstance(node, _PREDICATES):
        raise TypeError(f"not an expression: {node!r}")
    operand = _wrap(node.operand, _ADD)
    neg = "NOT " if getattr(node, "negated", False) else ""
    if isinstance(node, ast.Between):
        low, high = _wrap(node.low, _ADD), _wrap(node.high, _ADD)
        return f"{operand} {neg}BETWEEN {low} AND {high}", _PRED
    if isinstance(node, ast.InList):
        return f"{operand} {neg}IN {_list(node.items)}", _PRED
    if isinstance(node, ast.IsNull):
        return f"{operand} IS {neg}NULL", _PRED
    if isinstance(node, ast.Like):
        return f"{operand} {neg}LIKE {_string(node.pattern)}", _PRED
    if isinstance(node, ast.Matches):
        return f"{operand} MATCHES {_string(node.regex)}", _PRED
    if node.mode != "ONE":
        return f"{operand} CONTAINS {node.mode} {_list(node.items)}", _PRED
    item = _wrap(node.items[0], _ADD)
    if _LEADING_ALL_ANY.match(item):  # would read as CONTAINS ALL (...)
        item = f"({item})"
    return f"{operand} CONTAINS {item}", _PRED


# ---------------------------------------------------------------- patterns


def _bounds(lo: int, hi: int | None) -> str:
    if hi is None:
        return f"{{{lo},}}"
    return f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"


def _quantifier(q: ast.PQuant) -> str:
    bounds = (q.min, q.max)
    if q.skip:
        symbol = {(1, None): "+", (0, None): "*"}.get(bounds) or _bounds(q.min, q.max)
        text = q.skip + symbol
    else:
        text = {(0, 1): "?", (0, None): "*", (1, None): "+"}.get(bounds) or _bounds(*bounds)
    return text if q.greedy else text + "?"


def _pattern(node: ast.Pattern) -> str:
    if isinstance(node, ast.PVar):
        return quote_name(node.name)
    if isinstance(node, ast.PNot):
        return "!" + quote_name(node.name)
    if isinstance(node, ast.PQuant):
        body = _pattern(node.body)
        if not isinstance(node.body, ast.PVar):
            body = f"({body})"
        return body + _quantifier(node)
    if isinstance(node, ast.PSeq):
        parts = [_seq_item(node.items[0])]
        for join, item in zip(node.joins, node.items[1:]):
            parts.append(f" {join} " if join else " ")
            parts.append(_seq_item(item))
        return "".join(parts)
    if isinstance(node, ast.PAlt):
        return " | ".join(
            f"({_pattern(o)})" if isinstance(o, ast.PAlt) else _pattern(o) for o in node.options
        )
    raise TypeError(f"not a pattern: {node!r}")


def _seq_item(node: ast.Pattern) -> str:
    text = _pattern(node)
    return f"({text})" if isinstance(node, ast.PSeq | ast.PAlt) else text


# ---------------------------------------------------------------- statements


def _emit(items: tuple[ast.EmitItem, ...]) -> str:
    return "EMIT " + ", ".join(_node(i) for i in items)


def _then(actions: tuple[ast.Action, ...]) -> str:
    return "THEN " + ", ".join(_node(a) for a in actions)


def _rule(r: ast.RuleStmt) -> str:
    lines = [f"RULE {quote_name(r.name)}", "FROM " + ", ".join(_node(s) for s in r.sources)]
    if r.partition_by:
        lines.append("PARTITION BY " + ", ".join(_path(p) for p in r.partition_by))
    lines.append(f"PATTERN ({_pattern(r.pattern)})")
    if r.defines:
        lines.append("DEFINE\n  " + ",\n  ".join(_node(d) for d in r.defines))
    if r.within_ms is not None:
        timeout = " ON TIMEOUT EMIT" if r.on_timeout_emit else ""
        lines.append(f"WITHIN {format_duration(r.within_ms)}{timeout}")
    if r.after_match.mode != "PAST_LAST":
        lines.append(_node(r.after_match))
    if r.emit:
        lines.append(_emit(r.emit))
    if r.actions:
        lines.append(_then(r.actions))
    return "\n".join(lines)


def _search(s: ast.SearchStmt) -> str:
    lines = [f"SEARCH {quote_name(s.name)}", f"FROM {quote_name(s.stream)}"]
    if s.where is not None:
        lines.append(f"WHERE {_expr(s.where)[0]}")
    if s.emit:
        lines.append(_emit(s.emit))
    if s.actions:
        lines.append(_then(s.actions))
    return "\n".join(lines)


def _stream(s: ast.StreamStmt) -> str:
    head = f"STREAM {quote_name(s.name)}"
    if s.fields is not None:
        head += " (" + ", ".join(_node(f) for f in s.fields) + ")"
    lines = [head]
    if s.key is not None:
        lines.append(f"  KEY {_path(s.key)}")
    if s.time is not None:
        lines.append(f"  TIME {_path(s.time)}")
    if s.watermark_ms is not None:
        lines.append(f"  WATERMARK {format_duration(s.watermark_ms)}")
    if s.late_to is not None:
        lines.append(f"  LATE EVENTS TO {quote_name(s.late_to)}")
    return "\n".join(lines)


def _agg_item(a: ast.AggItem) -> str:
    if a.arg is None:
        inner = "*"
    elif a.func == "COUNT_DISTINCT":
        inner = "DISTINCT " + _path(a.arg)
    else:
        inner = _path(a.arg) + (f", {_literal(a.p)}" if a.p is not None else "")
    func = "COUNT" if a.func == "COUNT_DISTINCT" else a.func
    return f"{func}({inner}) AS {quote_name(a.alias)}"


_EMIT_WORDS = {
    "final": "ON CLOSE",
    "every_update": "CHANGES",
    "on_time_then_updates": "ON TIME THEN UPDATES",
}


def _aggregate(a: ast.AggregateStmt) -> str:
    lines = [f"AGGREGATE {quote_name(a.name)}", f"FROM {quote_name(a.stream)}"]
    if a.group_by:
        lines.append("GROUP BY " + ", ".join(_path(p) for p in a.group_by))
    size = format_duration(a.window_ms)
    window = {
        "TUMBLING": f"TUMBLING {size}",
        "HOPPING": f"HOPPING {size} EVERY {format_duration(a.every_ms or 0)}",
        "SLIDING": f"SLIDING {size}",
        "SESSION": f"SESSION GAP {size}",
    }[a.window_kind]
    if a.offset_ms:
        window += f" OFFSET {format_duration(a.offset_ms)}"
    lines.append(f"WINDOW {window}")
    lines.append("SELECT " + ", ".join(_agg_item(i) for i in a.select))
    if a.having is not None:
        lines.append(f"HAVING {_expr(a.having)[0]}")
    lines.append(f"ALLOWED LATENESS {format_duration(a.allowed_lateness_ms)}")
    lines.append(f"EMIT {_EMIT_WORDS[a.emit]}")
    if a.actions:
        lines.append(_then(a.actions))
    return "\n".join(lines)


def _define(d: ast.Define) -> str:
    if d.stream is None:
        return f"{quote_name(d.var)} AS {_expr(d.condition)[0]}"  # type: ignore[arg-type]
    text = f"{quote_name(d.var)} FROM {quote_name(d.stream)}"
    return text if d.condition is None else f"{text} WHERE {_expr(d.condition)[0]}"


def _after(a: ast.AfterMatch) -> str:
    tail = {
        "PAST_LAST": "PAST LAST EVENT",
        "TO_NEXT": "TO NEXT EVENT",
        "TO_FIRST": f"TO FIRST {quote_name(a.var or '')}",
        "TO_LAST": f"TO LAST {quote_name(a.var or '')}",
    }[a.mode]
    return f"AFTER MATCH SKIP {tail}"


def _node(node: object) -> str:
    if isinstance(node, ast.Source):
        alias = f" AS {quote_name(node.alias)}" if node.alias else ""
        return quote_name(node.stream) + alias
    if isinstance(node, ast.Define):
        return _define(node)
    if isinstance(node, ast.EmitItem):
        alias = f" AS {quote_name(node.alias)}" if node.alias else ""
        return _expr(node.expr)[0] + alias
    if isinstance(node, ast.Webhook):
        secret = f" SECRET {_string(node.secret)}" if node.secret is not None else ""
        return f"WEBHOOK {_string(node.url)}{secret}"
    if isinstance(node, ast.EmitInto):
        return f"EMIT INTO {quote_name(node.stream)}"
    if isinstance(node, ast.Field):
        return f"{'.'.join(quote_name(p) for p in node.name.split('.'))} {node.type}"
    if isinstance(node, ast.AfterMatch):
        return _after(node)
    if isinstance(node, ast.AggItem):
        return _agg_item(node)
    raise TypeError(f"cannot print {type(node).__name__}")


_STATEMENTS = {
    ast.RuleStmt: _rule,
    ast.SearchStmt: _search,
    ast.StreamStmt: _stream,
    ast.AggregateStmt: _aggregate,
}
_PATTERNS = (ast.PVar, ast.PNot, ast.PSeq, ast.PAlt, ast.PQuant)


def to_text(node: object) -> str:
    """Return canonical rule text for a Script, statement, clause part, pattern or expression."""
    if isinstance(node, ast.Script):
        return "".join(to_text(s) + ";\n\n" for s in node.statements).rstrip("\n") + "\n"
    printer = _STATEMENTS.get(type(node))
    if printer is not None:
        return printer(node)  # type: ignore[operator]
    if isinstance(node, _PATTERNS):
        return _pattern(node)
    try:
        return _node(node)
    except TypeError:
        return _expr(node)[0]  # type: ignore[arg-type]
