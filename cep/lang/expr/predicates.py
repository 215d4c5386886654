"""Predicates: BETWEEN, IN, IS NULL, CONTAINS, LIKE and MATCHES.

`_PredicatesMixin` holds the `_Compiler` methods (mixed in by `compiler.py`) that lower
each predicate to its (value, true, false) closures, with set-membership and
needle-list fast paths when the items are constants; NOT is applied by swapping the
strict closures. The list helpers used by CONTAINS follow.
"""

from __future__ import annotations

from cep.errors import RuleTypeError
from cep.lang import ast
from cep.lang.expr.fastpaths import _pred_fns
from cep.lang.expr.patterns import _compile_regex, _like_regex, _like_test, _rx_full, _rx_search
from cep.lang.expr.values import _CMP, _NUM, Fn, _const_fn, _eq, _err, _not


class _PredicatesMixin:
    """`_Compiler` methods for predicates (use its `value`, `true`, `false`, `_access`,
    `_const` and `specialise`)."""

    # ---- predicates: (value, true, false)

    def _predicate(self, e: ast.Expr) -> tuple[Fn, Fn, Fn]:
        if isinstance(e, ast.Between):
            fns = self._between(e)
        elif isinstance(e, ast.InList):
            fns = self._in(e)
        elif isinstance(e, ast.IsNull):
            fns = self._is_null(e)
        elif isinstance(e, ast.Contains):
            fns = self._contains(e)
        elif isinstance(e, ast.Like):
            test, arg = (
                _like_test(e.pattern) if self.specialise else (_rx_full, _like_regex(e.pattern))
            )
            fns = _pred_fns(self._access(e.operand), test, arg, str)
        elif isinstance(e, ast.Matches):
            fns = _pred_fns(self._access(e.operand), _rx_search, _compile_regex(e), str)
        else:
            raise _err(RuleTypeError, e, f"unsupported expression {type(e).__name__}")
        negated = getattr(e, "negated", False)
        if negated:
            v, t, f = fns

            def nv(ev, b, _v=v, _n=_not):
                return _n(_v(ev, b))

            return nv, f, t
        return fns

    def _between(self, e: ast.Between) -> tuple[Fn, Fn, Fn]:
        x = e.operand
        ge = ast.Binary(">=", x, e.low, e.span)
        le = ast.Binary("<=", x, e.high, e.span)
        if isinstance(x, (ast.Name, ast.Literal)) and self.specialise:
            both = ast.Binary("AND", ge, le, e.span)  # reading x twice is cheap
            return self.value(both), self.true(both), self.false(both)
        a = self.value(x)
        lo = self.value(e.low)
        hi = self.value(e.high)

        def v_fn(ev, b, _a=a, _lo=lo, _hi=hi, _ge=_CMP[">="], _le=_CMP["<="]):
            v = _a(ev, b)
            r1 = _ge(v, _lo(ev, b))
            if r1 is False:
                return False
            r2 = _le(v, _hi(ev, b))
            if r2 is False:
                return False
            return True if r1 is True and r2 is True else None

        def t_fn(ev, b, _v=v_fn):
            return _v(ev, b) is True

        def f_fn(ev, b, _v=v_fn):
            return _v(ev, b) is False

        return v_fn, t_fn, f_fn

    def _in(self, e: ast.InList) -> tuple[Fn, Fn, Fn]:
        consts = [self._const(it) for it in e.items] if self.specialise else []
        if consts and all(ok for ok, _ in consts):
            vals = [c for _, c in consts]
            has_null = any(c is None for c in vals)
            present = [c for c in vals if c is not None]
            if present and (
                all(type(c) is str for c in present) or all(type(c) in _NUM for c in present)
            ):
                return self._in_set(
                    e.operand,
                    frozenset(present),
                    has_null,
                    str if type(present[0]) is str else None,
                )
        x = self.value(e.operand)
        items = tuple(self.value(it) for it in e.items)

        def v_fn(ev, b, _x=x, _items=items, _eq=_eq):
            v = _x(ev, b)
            unknown = False
            for it in _items:
                r = _eq(v, it(ev, b))
                if r is True:
                    return True
                if r is None:
                    unknown = True
            return None if unknown else False

        def t_fn(ev, b, _v=v_fn):
            return _v(ev, b) is True

        def f_fn(ev, b, _v=v_fn):
            return _v(ev, b) is False

        return v_fn, t_fn, f_fn

    def _in_set(
        self, operand: ast.Expr, s: frozenset, has_null: bool, typ: type | None
    ) -> tuple[Fn, Fn, Fn]:
        types: tuple[type, ...] = (str,) if typ is str else _NUM
        miss = None if has_null else False
        g = self.value(operand)

        def v_fn(ev, b, _g=g, _s=s, _m=miss, _t=type, _T=types):
            v = _g(ev, b)
            if _t(v) in _T:
                return True if v in _s else _m
            return None

        def t_fn(ev, b, _g=g, _s=s, _t=type, _T=types):
            v = _g(ev, b)
            return _t(v) in _T and v in _s

        if has_null:  # never FALSE: an item is NULL
            return v_fn, t_fn, _const_fn(False)

        def f_fn(ev, b, _g=g, _s=s, _t=type, _T=types):
            v = _g(ev, b)
            return _t(v) in _T and v not in _s

        return v_fn, t_fn, f_fn

    def _is_null(self, e: ast.IsNull) -> tuple[Fn, Fn, Fn]:
        acc = self._access(e.operand)
        if acc[0] == "key":

            def t_fn(ev, b, _k=acc[1]):
                return ev.get(_k) is None

            def f_fn(ev, b, _k=acc[1]):
                return ev.get(_k) is not None
        else:

            def t_fn(ev, b, _g=acc[1]):
                return _g(ev, b) is None

            def f_fn(ev, b, _g=acc[1]):
                return _g(ev, b) is not None

        # IS NULL is never UNKNOWN; negation is handled by _predicate swapping t/f.
        return t_fn, t_fn, f_fn

    def _contains(self, e: ast.Contains) -> tuple[Fn, Fn, Fn]:
        mode = e.mode.upper()
        if mode not in ("ONE", "ALL", "ANY"):
            raise _err(RuleTypeError, e, f"unknown CONTAINS mode {e.mode!r}")
        if mode == "ONE" and len(e.items) != 1:
            raise _err(RuleTypeError, e, "CONTAINS takes one value; use CONTAINS ALL/ANY (...)")
        if not e.items:
            raise _err(RuleTypeError, e, "CONTAINS ALL/ANY needs at least one value")
        consts = [self._const(it) for it in e.items] if self.specialise else []
        if consts and all(ok and type(c) is str for ok, c in consts):
            needles = tuple(dict.fromkeys(c for _, c in consts))
            acc = self._access(e.operand)
            if mode == "ANY":
                return _pred_fns(acc, _has_any, needles, list)
            return _pred_fns(acc, _has_all, needles, list)
        lst = self.value(e.operand)
        items = tuple(self.value(it) for it in e.items)
        want_all = mode != "ANY"

        def v_fn(ev, b, _l=lst, _items=items, _all=want_all, _one=_contains_one):
            seq = _l(ev, b)
            unknown = False
            for it in _items:
                r = _one(seq, it(ev, b))
                if r is (not _all):  # False for ALL, True for ANY decides
                    return r
                if r is None:
                    unknown = True
            return None if unknown else _all

        def t_fn(ev, b, _v=v_fn):
            return _v(ev, b) is True

        def f_fn(ev, b, _v=v_fn):
            return _v(ev, b) is False

        return v_fn, t_fn, f_fn


def _contains_one(seq: object, x: object) -> bool | None:
    if type(seq) is not list or x is None:
        return None
    if type(x) is str:
        return x in seq
    for item in seq:  # noqa: SIM110 - no generator per call
        if _eq(item, x) is True:
            return True
    return False


def _has_all(seq: list, needles: tuple[str, ...]) -> bool:
    for s in needles:  # noqa: SIM110 - no generator per call
        if s not in seq:
            return False
    return True


def _has_any(seq: list, needles: tuple[str, ...]) -> bool:
    for s in needles:  # noqa: SIM110 - no generator per call
        if s in seq:
            return True
    return False
