"""Aggregates over the events bound in a match: FIRST/LAST, COUNT, SUM, AVG, MIN, MAX.

The reducers fold the per-event values of an aggregate's argument (nulls ignored; a
non-numeric value makes SUM/AVG null, mixed strings and numbers make MIN/MAX null).
`_AggregatesMixin._aggregate` is the `_Compiler` method (mixed in by `compiler.py`) that
compiles an aggregate call: the argument is compiled once per row variable by a
sub-compiler, and the common `v.x` shape reads the key directly.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from itertools import repeat

from cep.errors import RuleTypeError
from cep.lang import ast
from cep.lang.expr.refs import referenced_variables
from cep.lang.expr.values import _NUM, Fn, _err

_UNIVERSAL = "*"  # row variable of an aggregate whose argument names no variable
_NONES = repeat(None)  # endless second argument for map(fn, events, _NONES)


# ---------------------------------------------------------------- aggregate reducers


def _red_count(vals: Iterable[object]) -> int:
    n = 0
    for x in vals:
        if x is not None:
            n += 1
    return n


def _red_sum(vals: Iterable[object]) -> object:
    total: int | float = 0
    seen = False
    for x in vals:
        if x is None:
            continue
        if type(x) not in _NUM:
            return None
        try:
            total += x  # type: ignore[operator]
        except OverflowError:
            return None
        seen = True
    return total if seen else None


def _red_avg(vals: Iterable[object]) -> object:
    total: int | float = 0
    n = 0
    for x in vals:
        if x is None:
            continue
        if type(x) not in _NUM:
            return None
        try:
            total += x  # type: ignore[operator]
        except OverflowError:
            return None
        n += 1
    if not n:
        return None
    try:
        return total / n
    except OverflowError:
        return None


def _extreme(pick_first: Callable[[object, object], bool]) -> Callable[[Iterable[object]], object]:
    def red(vals: Iterable[object], _t=type, _N=_NUM, _s=str) -> object:
        best = None
        kind = None  # "n" numbers or "s" strings
        for x in vals:
            if x is None:
                continue
            tx = _t(x)
            k = "n" if tx in _N else "s" if tx is _s else None
            if k is None or (kind is not None and k != kind):
                return None
            if kind is None or pick_first(x, best):
                best = x
                kind = k
        return best

    return red


_REDUCERS: dict[str, Callable[[Iterable[object]], object]] = {
    "COUNT": _red_count,
    "SUM": _red_sum,
    "AVG": _red_avg,
    "MIN": _extreme(operator.lt),
    "MAX": _extreme(operator.gt),
}


class _AggregatesMixin:
    """`_Compiler` method for aggregate calls (uses its `row`, `variables`,
    `specialise` and `uses_bindings`)."""

    def _aggregate(self, e: ast.Call, func: str) -> Fn:
        if self.row is not None:
            raise _err(RuleTypeError, e, f"aggregate {func}() cannot be nested in an aggregate")
        args = e.args
        self.uses_bindings = True
        if func in ("FIRST", "LAST"):
            if len(args) not in (1, 2):
                raise _err(RuleTypeError, e, f"{func} takes 1 or 2 arguments")
        elif len(args) != 1:
            raise _err(RuleTypeError, e, f"{func} takes 1 argument")
        arg = args[0]
        if isinstance(arg, ast.Star):
            if func != "COUNT":
                raise _err(RuleTypeError, arg, "'*' is only allowed in COUNT(*)")

            def count_all(ev, b):
                return len(b.all_events())

            return count_all
        if isinstance(arg, ast.Name) and len(arg.parts) == 1 and arg.parts[0] in self.variables:
            if func != "COUNT":
                v = arg.parts[0]
                raise _err(RuleTypeError, arg, f"{func}() needs an attribute: {func}({v}.x)")

            def count_var(ev, b, _v=arg.parts[0]):
                return len(b.events(_v))

            return count_var
        refs = referenced_variables(arg, self.variables)
        if len(refs) > 1:
            raise _err(
                RuleTypeError,
                arg,
                f"aggregate argument references several variables: {', '.join(sorted(refs))}",
            )
        var = next(iter(refs)) if refs else _UNIVERSAL
        from cep.lang.expr.compiler import _Compiler  # compiler.py imports this module

        sub = _Compiler(self.variables, None, row=var, specialise=self.specialise)
        key: str | None = None
        if (
            self.specialise
            and isinstance(arg, ast.Name)
            and len(arg.parts) == (1 if var == _UNIVERSAL else 2)
        ):
            sub._resolve(arg)  # validates
            key = arg.parts[-1]
        row_fn = sub.value(arg)

        if func in ("FIRST", "LAST"):
            n = 0
            if len(args) == 2:
                nl = args[1]
                if not (isinstance(nl, ast.Literal) and type(nl.value) is int and nl.value >= 0):
                    raise _err(RuleTypeError, nl, f"{func}() offset must be an integer >= 0")
                n = nl.value
            idx = n if func == "FIRST" else -1 - n
            if var == _UNIVERSAL:

                def nth_all(ev, b, _f=row_fn, _i=idx, _n=n):
                    evs = b.all_events()
                    return _f(evs[_i], None) if len(evs) > _n else None

                return nth_all
            if key is not None:

                def nth_key(ev, b, _v=var, _k=key, _i=idx, _n=n):
                    evs = b.events(_v)
                    return evs[_i].get(_k) if len(evs) > _n else None

                return nth_key

            def nth(ev, b, _v=var, _f=row_fn, _i=idx, _n=n):
                evs = b.events(_v)
                return _f(evs[_i], None) if len(evs) > _n else None

            return nth

        red = _REDUCERS[func]
        if var == _UNIVERSAL:

            def agg_all(ev, b, _f=row_fn, _r=red, _map=map, _nones=_NONES):
                return _r(_map(_f, b.all_events(), _nones))

            return agg_all
        if key is not None:

            def agg_key(ev, b, _v=var, _g=operator.methodcaller("get", key), _r=red, _map=map):
                return _r(_map(_g, b.events(_v)))

            return agg_key

        def agg(ev, b, _v=var, _f=row_fn, _r=red, _map=map, _nones=_NONES):
            return _r(_map(_f, b.events(_v), _nones))

        return agg
