"""What an expression reads: the variables and current-event attributes it names.

Public helpers for callers that need to know what a condition depends on; the aggregate
compiler also uses `referenced_variables` to find the variable an aggregate ranges over.
Also holds the generic tree walk (`_children`, `_walk`) the compiler reuses.
"""

from __future__ import annotations

from collections.abc import Iterable

from cep.lang import ast
from cep.lang.expr.values import AGGREGATES


def referenced_variables(expr: ast.Expr, variables: frozenset[str]) -> frozenset[str]:
    """Variables named in `expr` (`v.x`, `COUNT(v)`); `COUNT(*)` names none."""
    return frozenset(
        n.parts[0] for n in _walk(expr) if isinstance(n, ast.Name) and n.parts[0] in variables
    )


def referenced_attributes(
    expr: ast.Expr, variables: frozenset[str], current: str | None = None
) -> frozenset[tuple[str, ...]]:
    """Attribute paths of the *current* event read by `expr` (not inside aggregates).

    With `current`, `current.x.y` counts as the current event's `("x", "y")`.
    """
    out: set[tuple[str, ...]] = set()
    stack: list[ast.Expr] = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, ast.Call) and e.func.upper() in AGGREGATES:
            continue
        if isinstance(e, ast.Name):
            head = e.parts[0]
            if head == current and len(e.parts) > 1:
                out.add(e.parts[1:])
            elif head not in variables and head != current:
                out.add(e.parts)
            continue
        stack.extend(_children(e))
    return frozenset(out)


# ---------------------------------------------------------------- tree helpers


def _children(e: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(e, ast.Binary):
        return (e.left, e.right)
    if isinstance(e, (ast.Unary, ast.IsNull, ast.Like, ast.Matches)):
        return (e.operand,)
    if isinstance(e, ast.Call):
        return e.args
    if isinstance(e, ast.Between):
        return (e.operand, e.low, e.high)
    if isinstance(e, (ast.InList, ast.Contains)):
        return (e.operand, *e.items)
    return ()


def _walk(e: ast.Expr) -> Iterable[ast.Expr]:
    stack = [e]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(_children(n))
