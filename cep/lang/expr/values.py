"""Shared vocabulary and value semantics of the expression compiler.

What every other module of `cep.lang.expr` builds on: the `Bindings` protocol a condition
reads a match through, the closure type `Fn`, the names of the scalar functions and
aggregates, the numeric type family, SQL three-valued comparison (`_CMP`, plus the operator
tables the fast paths use), null-propagating arithmetic and Kleene NOT, and the small
closure/error helpers shared by the compiler modules.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Protocol

from cep.errors import RuleError
from cep.lang import ast


class Bindings(Protocol):
    """What a condition reads of the match under construction."""

    def events(self, var: str) -> Sequence[dict]:
        """Events bound to `var` so far, in order (may be empty).

        Inside the condition of variable `current`, this already ends with the event
        being tested (MATCH_RECOGNIZE semantics).
        """
        ...

    def all_events(self) -> Sequence[dict]:
        """All events bound in the match so far, in order (including the tested event)."""
        ...


Fn = Callable[[dict, "Bindings | None"], object]

AGGREGATES = frozenset({"FIRST", "LAST", "COUNT", "SUM", "AVG", "MIN", "MAX"})
FUNCTIONS = frozenset({"LOWER", "UPPER", "ABS", "LEN", "COALESCE", "ROUND", "FLOOR", "CEIL"})

_NUM = (int, float)


def _err(cls: type[RuleError], node: object, msg: str) -> Exception:
    span = getattr(node, "span", ast.NOSPAN)
    return cls(span.line, span.column, msg)


def _always_true(ev: dict, b: Bindings | None) -> bool:
    return True


def _const_fn(value: object) -> Fn:
    def f(ev: dict, b: Bindings | None, _c: object = value) -> object:
        return _c

    return f


# ---------------------------------------------------------------- generic value operations


def _eq(a: object, b: object) -> bool | None:
    ta = type(a)
    tb = type(b)
    if ta is tb:
        return None if a is None else a == b
    if ta in _NUM and tb in _NUM:
        return a == b
    return None


def _ne(a: object, b: object) -> bool | None:
    r = _eq(a, b)
    return None if r is None else not r


def _ordered(op: Callable[[object, object], bool]) -> Callable[[object, object], bool | None]:
    def cmp(a: object, b: object, _op=op, _t=type, _N=_NUM, _s=str) -> bool | None:
        ta = _t(a)
        tb = _t(b)
        if (ta in _N and tb in _N) or (ta is _s and tb is _s):
            return _op(a, b)
        return None

    return cmp


_CMP: dict[str, Callable[[object, object], bool | None]] = {
    "=": _eq,
    "!=": _ne,
    "<": _ordered(operator.lt),
    "<=": _ordered(operator.le),
    ">": _ordered(operator.gt),
    ">=": _ordered(operator.ge),
}
_PYOP = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NEGATE = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _add(a: object, b: object) -> object:
    if type(a) in _NUM and type(b) in _NUM:
        try:
            return a + b  # type: ignore[operator]
        except OverflowError:
            return None
    return None


def _sub(a: object, b: object) -> object:
    if type(a) in _NUM and type(b) in _NUM:
        try:
            return a - b  # type: ignore[operator]
        except OverflowError:
            return None
    return None


def _mul(a: object, b: object) -> object:
    if type(a) in _NUM and type(b) in _NUM:
        try:
            return a * b  # type: ignore[operator]
        except OverflowError:
            return None
    return None


def _div(a: object, b: object) -> object:
    if type(a) in _NUM and type(b) in _NUM and b != 0:
        try:
            return a / b  # type: ignore[operator]
        except OverflowError:
            return None
    return None


def _mod(a: object, b: object) -> object:
    ta = type(a)
    tb = type(b)
    if ta not in _NUM or tb not in _NUM or b == 0:
        return None
    if ta is int and tb is int:
        r = abs(a) % abs(b)  # type: ignore[arg-type]
        return -r if a < 0 else r  # type: ignore[operator]
    try:
        return math.fmod(a, b)  # type: ignore[arg-type]
    except (OverflowError, ValueError):
        return None


_ARITH = {"+": _add, "-": _sub, "*": _mul, "/": _div, "%": _mod}


def _not(x: object) -> bool | None:
    if x is True:
        return False
    if x is False:
        return True
    return None
