"""Canonical source text of a compiled expression (`CompiledExpr.source`, explain output).

Uses the project printer when available, with a small self-contained printer as fallback;
producing the text never fails a compile.
"""

from __future__ import annotations

from cep.lang import ast


def _source(expr: ast.Expr) -> str:
    """Canonical text for explain output: the project printer, else the fallback below."""
    try:
        from cep.lang.printer import to_text
    except ImportError:
        to_text = _to_text
    for printer in (to_text, _to_text):
        try:
            return str(printer(expr))
        except Exception:  # explain text must never fail a compile (e.g. absurd nesting)
            continue
    return f"<{type(expr).__name__} expression>"


_PREC = {"OR": 1, "AND": 2, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_PRED = 4  # comparisons and other predicates


def _prec(e: ast.Expr) -> int:
    if isinstance(e, ast.Binary):
        return _PREC.get(e.op.upper(), _PRED)
    if isinstance(e, ast.Unary):
        return 3 if e.op.upper() == "NOT" else 7
    if isinstance(e, (ast.Between, ast.InList, ast.IsNull, ast.Contains, ast.Like, ast.Matches)):
        return _PRED
    return 8


def _lit(v: object) -> str:
    if v is None:
        return "NULL"
    if v is True:
        return "TRUE"
    if v is False:
        return "FALSE"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


def _to_text(e: ast.Expr) -> str:
    """A small canonical printer (fallback when cep.lang.printer is not available)."""

    def sub(x: ast.Expr, min_prec: int) -> str:
        s = _to_text(x)
        return f"({s})" if _prec(x) < min_prec else s

    if isinstance(e, ast.Literal):
        return _lit(e.value)
    if isinstance(e, ast.Name):
        return ".".join(e.parts)
    if isinstance(e, ast.Star):
        return "*"
    if isinstance(e, ast.Call):
        return f"{e.func.upper()}({', '.join(_to_text(a) for a in e.args)})"
    if isinstance(e, ast.Unary):
        op = e.op.upper()
        p = _prec(e)
        return f"NOT {sub(e.operand, p)}" if op == "NOT" else f"-{sub(e.operand, p + 1)}"
    if isinstance(e, ast.Binary):
        op = e.op.upper()
        p = _PREC.get(op, _PRED)
        right_min = p + 1 if p >= _PRED else p
        return f"{sub(e.left, p if p != _PRED else p + 1)} {op} {sub(e.right, right_min)}"
    neg = "NOT " if getattr(e, "negated", False) else ""
    if isinstance(e, ast.Between):
        return (
            f"{sub(e.operand, _PRED + 1)} {neg}BETWEEN {sub(e.low, _PRED + 1)} "
            f"AND {sub(e.high, _PRED + 1)}"
        )
    if isinstance(e, ast.InList):
        items = ", ".join(_to_text(i) for i in e.items)
        return f"{sub(e.operand, _PRED + 1)} {neg}IN ({items})"
    if isinstance(e, ast.IsNull):
        return f"{sub(e.operand, _PRED + 1)} IS {neg}NULL"
    if isinstance(e, ast.Contains):
        items = ", ".join(_to_text(i) for i in e.items)
        if e.mode.upper() == "ONE":
            return f"{sub(e.operand, _PRED + 1)} CONTAINS {sub(e.items[0], _PRED + 1)}"
        return f"{sub(e.operand, _PRED + 1)} CONTAINS {e.mode.upper()} ({items})"
    if isinstance(e, ast.Like):
        return f"{sub(e.operand, _PRED + 1)} {neg}LIKE {_lit(e.pattern)}"
    if isinstance(e, ast.Matches):
        return f"{sub(e.operand, _PRED + 1)} MATCHES {_lit(e.regex)}"
    return repr(e)
