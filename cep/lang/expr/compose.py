"""Composition closures: AND/OR chains and attribute path getters.

Strict chains (`_all`, `_any`) short-circuit on plain booleans, with unrolled forms for
two and three operands; Kleene chains (`_kleene_and`, `_kleene_or`) keep UNKNOWN for
value mode. `_path_getter` reads a (nested) attribute of an event.
"""

from __future__ import annotations

from cep.lang import ast
from cep.lang.expr.values import Fn


def _flatten(e: ast.Binary, op: str) -> list[ast.Expr]:
    """Operands of a chain of the same AND/OR, left to right (iteratively: no recursion)."""
    out: list[ast.Expr] = []
    stack: list[ast.Expr] = [e]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Binary) and n.op.upper() == op:
            stack.append(n.right)
            stack.append(n.left)
        else:
            out.append(n)
    return out


def _all(fs: tuple[Fn, ...]) -> Fn:
    if len(fs) == 2:
        a, c = fs

        def f2(ev, b, _a=a, _c=c):
            return _a(ev, b) and _c(ev, b)

        return f2
    if len(fs) == 3:
        a, c, d = fs

        def f3(ev, b, _a=a, _c=c, _d=d):
            return _a(ev, b) and _c(ev, b) and _d(ev, b)

        return f3

    def fn(ev, b, _fs=fs):
        for f in _fs:  # noqa: SIM110 - no generator per call
            if not f(ev, b):
                return False
        return True

    return fn


def _any(fs: tuple[Fn, ...]) -> Fn:
    if len(fs) == 2:
        a, c = fs

        def f2(ev, b, _a=a, _c=c):
            return _a(ev, b) or _c(ev, b)

        return f2
    if len(fs) == 3:
        a, c, d = fs

        def f3(ev, b, _a=a, _c=c, _d=d):
            return _a(ev, b) or _c(ev, b) or _d(ev, b)

        return f3

    def fn(ev, b, _fs=fs):
        for f in _fs:  # noqa: SIM110 - no generator per call
            if f(ev, b):
                return True
        return False

    return fn


def _kleene_and(fs: tuple[Fn, ...]) -> Fn:
    def fn(ev, b, _fs=fs):
        unknown = False
        for f in _fs:
            r = f(ev, b)
            if r is False:
                return False
            if r is not True:
                unknown = True
        return None if unknown else True

    return fn


def _kleene_or(fs: tuple[Fn, ...]) -> Fn:
    def fn(ev, b, _fs=fs):
        unknown = False
        for f in _fs:
            r = f(ev, b)
            if r is True:
                return True
            if r is not False:
                unknown = True
        return None if unknown else False

    return fn


def _path_getter(path: tuple[str, ...]) -> Fn:
    if len(path) == 1:

        def g1(ev, b, _k=path[0]):
            return ev.get(_k)

        return g1
    if len(path) == 2:

        def g2(ev, b, _k1=path[0], _k2=path[1], _d=dict, _t=type):
            v = ev.get(_k1)
            return v.get(_k2) if _t(v) is _d else None

        return g2

    def gn(ev, b, _p=path, _d=dict, _t=type):
        v = ev
        for k in _p:
            if _t(v) is not _d:
                return None
            v = v.get(k)
        return v

    return gn
