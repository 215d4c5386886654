"""Scalar functions (LOWER, UPPER, ABS, LEN, FLOOR, CEIL, ROUND, COALESCE) and their calls.

Each function returns null for a wrongly typed argument. `_CallsMixin._call` is the
`_Compiler` method (mixed in by `compiler.py`) that compiles a call, handing aggregates
over to `_aggregate` (`aggregates.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_UP, Context, Decimal

from cep.errors import RuleNameError, RuleTypeError
from cep.lang import ast
from cep.lang.expr.values import _NUM, AGGREGATES, FUNCTIONS, Fn, _err

# ---------------------------------------------------------------- scalar functions


def _lower(v: object) -> object:
    return v.lower() if type(v) is str else None  # type: ignore[union-attr]


def _upper(v: object) -> object:
    return v.upper() if type(v) is str else None  # type: ignore[union-attr]


def _abs(v: object) -> object:
    return abs(v) if type(v) in _NUM else None  # type: ignore[arg-type]


def _len(v: object) -> object:
    return len(v) if type(v) in (str, list, dict) else None  # type: ignore[arg-type]


def _floor(v: object) -> object:
    if type(v) is int:
        return v
    if type(v) is float:
        try:
            return math.floor(v)
        except (OverflowError, ValueError):
            return None
    return None


def _ceil(v: object) -> object:
    if type(v) is int:
        return v
    if type(v) is float:
        try:
            return math.ceil(v)
        except (OverflowError, ValueError):
            return None
    return None


# No traps: an impossible quantize yields NaN (-> null) instead of raising.
_DEC = Context(prec=2200, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])


def _round(v: object, n: object = None) -> object:
    """SQL ROUND: half away from zero; int for ints and for ROUND(x), float for ROUND(f, n)."""
    tv = type(v)
    if tv not in _NUM:
        return None
    digits = 0
    if n is not None:
        if type(n) is not int:
            return None
        digits = max(-1000, min(1000, n))  # type: ignore[type-var]
    if tv is int and digits >= 0:
        return v
    d = Decimal(repr(v)) if tv is float else Decimal(v)  # type: ignore[arg-type]
    r = d.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=_DEC)
    if not r.is_finite():
        return None
    try:
        return float(r) if tv is float and n is not None else int(r)
    except (OverflowError, ValueError):
        return None


_UNARY_FUNCS: dict[str, Callable[[object], object]] = {
    "LOWER": _lower,
    "UPPER": _upper,
    "ABS": _abs,
    "LEN": _len,
    "FLOOR": _floor,
    "CEIL": _ceil,
}


class _CallsMixin:
    """`_Compiler` methods for calls (uses its `value` and `_aggregate`)."""

    # ---- calls

    def _call(self, e: ast.Call) -> Fn:
        func = e.func.upper()
        if func in AGGREGATES:
            return self._aggregate(e, func)
        if func not in FUNCTIONS:
            raise _err(RuleNameError, e, f"unknown function {e.func}()")
        args = tuple(self.value(a) for a in e.args)
        if func == "COALESCE":
            if not args:
                raise _err(RuleTypeError, e, "COALESCE needs at least one argument")

            def co(ev, b, _args=args):
                for a in _args:
                    v = a(ev, b)
                    if v is not None:
                        return v
                return None

            return co
        if func == "ROUND":
            if len(args) not in (1, 2):
                raise _err(RuleTypeError, e, "ROUND takes 1 or 2 arguments")
            if len(args) == 1:

                def r1(ev, b, _a=args[0], _r=_round):
                    return _r(_a(ev, b))

                return r1

            def r2(ev, b, _a=args[0], _n=args[1], _r=_round):
                n = _n(ev, b)
                return None if n is None else _r(_a(ev, b), n)

            return r2
        if len(args) != 1:
            raise _err(RuleTypeError, e, f"{func} takes 1 argument")

        def f1(ev, b, _a=args[0], _f=_UNARY_FUNCS[func]):
            return _f(_a(ev, b))

        return f1
