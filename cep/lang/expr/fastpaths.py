"""Specialised closures for `attribute op literal` and typed one-argument tests.

The hot path: a comparison between a one-part attribute and a literal compiles to one
function that reads the key, checks the value's type against the family picked by the
literal and compares, with every constant bound as a default argument (a fast local).
`_cmp_fns` and `_pred_fns` return the (value, true, false) triple the compiler composes.
"""

from __future__ import annotations

from collections.abc import Callable

from cep.lang.expr.values import _NEGATE, _NUM, _PYOP, Fn, _const_fn

# ---------------------------------------------------------------- specialised comparisons
# Strict ("is TRUE") closures for `key op literal`, one per operator and literal type; the
# false mode reuses them with the negated operator where that is exact (strings, = and !=),
# and has its own closures for numeric ordering (so NaN stays consistent with `not (v < c)`).


def _key_num_true(op: str, k: str, c: object) -> Fn:
    if op == "=":
        if c != 0 and c != 1:  # only a number can equal it (True == 1, False == 0)

            def f(ev, b, _k=k, _c=c):
                return ev.get(_k) == _c
        else:

            def f(ev, b, _k=k, _c=c, _t=type, _N=_NUM):
                v = ev.get(_k)
                return _t(v) in _N and v == _c
    elif op == "!=":

        def f(ev, b, _k=k, _c=c, _t=type, _N=_NUM):
            v = ev.get(_k)
            return _t(v) in _N and v != _c
    elif op == "<":

        def f(ev, b, _k=k, _c=c, _t=type, _N=_NUM):
            v = ev.get(_k)
            return _t(v) in _N and v < _c
    elif op == "<=":

        def f(ev, b, _k=k, _c=c, _t=type, _N=_NUM):
            v = ev.get(_k)
            return _t(v) in _N and v <= _c
    elif op == ">":

        def f(ev, b, _k=k, _c=c, _t=type, _N=_NUM):
            v = ev.get(_k)
            return _t(v) in _N and v > _c
    else:  # ">="

        def f(ev, b, _k=k, _c=c, _t=type, _N=_NUM):
            v = ev.get(_k)
            return _t(v) in _N and v >= _c

    return f


def _key_num_false(op: str, k: str, c: object) -> Fn:
    if op in ("=", "!="):
        return _key_num_true(_NEGATE[op], k, c)
    if op == "<":

        def f(ev, b, _k=k, _c=c, _t=type, _N=_NUM):
            v = ev.get(_k)
            return _t(v) in _N and not v < _c
    elif op == "<=":

        def f(ev, b, _k=k, _c=c, _t=type, _N=_NUM):
            v = ev.get(_k)
            return _t(v) in _N and not v <= _c
    elif op == ">":

        def f(ev, b, _k=k, _c=c, _t=type, _N=_NUM):
            v = ev.get(_k)
            return _t(v) in _N and not v > _c
    else:

        def f(ev, b, _k=k, _c=c, _t=type, _N=_NUM):
            v = ev.get(_k)
            return _t(v) in _N and not v >= _c

    return f


def _key_str_true(op: str, k: str, c: object) -> Fn:
    if op == "=":

        def f(ev, b, _k=k, _c=c):
            return ev.get(_k) == _c  # str == non-str is False
    elif op == "!=":

        def f(ev, b, _k=k, _c=c, _t=type, _s=str):
            v = ev.get(_k)
            return _t(v) is _s and v != _c
    elif op == "<":

        def f(ev, b, _k=k, _c=c, _t=type, _s=str):
            v = ev.get(_k)
            return _t(v) is _s and v < _c
    elif op == "<=":

        def f(ev, b, _k=k, _c=c, _t=type, _s=str):
            v = ev.get(_k)
            return _t(v) is _s and v <= _c
    elif op == ">":

        def f(ev, b, _k=k, _c=c, _t=type, _s=str):
            v = ev.get(_k)
            return _t(v) is _s and v > _c
    else:

        def f(ev, b, _k=k, _c=c, _t=type, _s=str):
            v = ev.get(_k)
            return _t(v) is _s and v >= _c

    return f


def _cmp_fns(acc: tuple, op: str, c: object) -> tuple[Fn, Fn, Fn]:
    """(value, true, false) closures for `<access> op c`, c a non-null literal value."""
    tc = type(c)
    if tc is bool:
        if op not in ("=", "!="):  # booleans are not ordered: always UNKNOWN
            return _const_fn(None), _const_fn(False), _const_fn(False)
        want = c if op == "=" else not c
        return _pred_fns(acc, _bool_is, want)
    if tc in _NUM:
        types: tuple[type, ...] = _NUM
    elif tc is str:
        types = (str,)
    else:  # lists/objects only come from attributes; no literal has these types
        raise AssertionError(f"unexpected literal type {tc.__name__}")
    pyop = _PYOP[op]
    if acc[0] == "key":
        k = acc[1]
        if tc is str:
            t_fn = _key_str_true(op, k, c)
            f_fn = _key_str_true(_NEGATE[op], k, c)
        else:
            t_fn = _key_num_true(op, k, c)
            f_fn = _key_num_false(op, k, c)

        def v_fn(ev, b, _k=k, _c=c, _op=pyop, _t=type, _T=types):
            v = ev.get(_k)
            return _op(v, _c) if _t(v) in _T else None

        return v_fn, t_fn, f_fn
    g = acc[1]

    def v_fn(ev, b, _g=g, _c=c, _op=pyop, _t=type, _T=types):
        v = _g(ev, b)
        return _op(v, _c) if _t(v) in _T else None

    def t_fn(ev, b, _g=g, _c=c, _op=pyop, _t=type, _T=types):
        v = _g(ev, b)
        return _t(v) in _T and _op(v, _c)

    def f_fn(ev, b, _g=g, _c=c, _op=pyop, _t=type, _T=types):
        v = _g(ev, b)
        return _t(v) in _T and not _op(v, _c)

    return v_fn, t_fn, f_fn


def _bool_is(v: object, want: object) -> bool:
    return v is want


def _pred_fns(
    acc: tuple, test: Callable[[object, object], bool], arg: object, typ: type = bool
) -> tuple[Fn, Fn, Fn]:
    """(value, true, false) for `test(v, arg)` when type(v) is typ, UNKNOWN otherwise."""
    if acc[0] == "key":
        k = acc[1]

        def v_fn(ev, b, _k=k, _a=arg, _f=test, _t=type, _T=typ):
            v = ev.get(_k)
            return _f(v, _a) if _t(v) is _T else None

        def t_fn(ev, b, _k=k, _a=arg, _f=test, _t=type, _T=typ):
            v = ev.get(_k)
            return _t(v) is _T and _f(v, _a)

        def f_fn(ev, b, _k=k, _a=arg, _f=test, _t=type, _T=typ):
            v = ev.get(_k)
            return _t(v) is _T and not _f(v, _a)

        return v_fn, t_fn, f_fn
    g = acc[1]

    def v_fn(ev, b, _g=g, _a=arg, _f=test, _t=type, _T=typ):
        v = _g(ev, b)
        return _f(v, _a) if _t(v) is _T else None

    def t_fn(ev, b, _g=g, _a=arg, _f=test, _t=type, _T=typ):
        v = _g(ev, b)
        return _t(v) is _T and _f(v, _a)

    def f_fn(ev, b, _g=g, _a=arg, _f=test, _t=type, _T=typ):
        v = _g(ev, b)
        return _t(v) is _T and not _f(v, _a)

    return v_fn, t_fn, f_fn
