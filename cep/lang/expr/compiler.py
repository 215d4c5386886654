"""The expression compiler proper and its entry points.

`compile_expr` / `compile_condition` wrap `_Compiler`, which resolves names, folds
constants once, and lowers expressions in value mode (three-valued) or in the strict
"is TRUE" / "is FALSE" modes (see the package docstring). Comparisons go through the fast
paths of `fastpaths.py`; predicates, calls and aggregates are compiled by the mixins of
`predicates.py`, `functions.py` and `aggregates.py`.
"""

from __future__ import annotations

from collections.abc import Callable

from cep.errors import RuleLimitError, RuleNameError, RuleTypeError
from cep.lang import ast
from cep.lang.expr.aggregates import _UNIVERSAL, _AggregatesMixin
from cep.lang.expr.compose import _all, _any, _flatten, _kleene_and, _kleene_or, _path_getter
from cep.lang.expr.fastpaths import _bool_is, _cmp_fns, _pred_fns
from cep.lang.expr.functions import _CallsMixin
from cep.lang.expr.predicates import _PredicatesMixin
from cep.lang.expr.refs import _children
from cep.lang.expr.source import _source
from cep.lang.expr.values import (
    _ARITH,
    _CMP,
    _FLIP,
    _NUM,
    AGGREGATES,
    Bindings,
    Fn,
    _always_true,
    _const_fn,
    _err,
    _not,
)


class CompiledExpr:
    """A compiled expression: `fn(event, bindings)` plus what explain/the runtime need."""

    __slots__ = ("fn", "source", "uses_bindings")

    def __init__(self, fn: Fn, uses_bindings: bool, source: str) -> None:
        self.fn = fn
        self.uses_bindings = uses_bindings
        self.source = source

    def __call__(self, event: dict, bindings: Bindings | None = None) -> object:
        """Evaluate (convenience; the runtime calls `fn` directly)."""
        return self.fn(event, bindings)

    def __repr__(self) -> str:
        return f"CompiledExpr({self.source!r}, uses_bindings={self.uses_bindings})"


def compile_expr(
    expr: ast.Expr, variables: frozenset[str] = frozenset(), current: str | None = None
) -> CompiledExpr:
    """Compile `expr` into a closure returning its (three-valued) value."""
    c = _Compiler(variables, current)
    fn = _guarded(c.value, expr)
    return CompiledExpr(fn, c.uses_bindings, _source(expr))


def compile_condition(
    expr: ast.Expr | None, variables: frozenset[str] = frozenset(), current: str | None = None
) -> CompiledExpr:
    """Compile a condition into a closure returning True only when it is TRUE (None: always)."""
    if expr is None:
        return CompiledExpr(_always_true, False, "TRUE")
    c = _Compiler(variables, current)
    fn = _guarded(c.true, expr)
    return CompiledExpr(fn, c.uses_bindings, _source(expr))


def _guarded(compile_fn: Callable[[ast.Expr], Fn], expr: ast.Expr) -> Fn:
    """Compile, turning runaway nesting (the parser bounds it; ASTs may come from elsewhere)
    into a RuleLimitError instead of a RecursionError."""
    try:
        return compile_fn(expr)
    except RecursionError:
        raise _err(RuleLimitError, expr, "expression is nested too deeply") from None


# ---------------------------------------------------------------- the compiler


class _Compiler(_PredicatesMixin, _CallsMixin, _AggregatesMixin):
    """Lowers one expression; `row` set means compiling an aggregate argument per event."""

    def __init__(
        self,
        variables: frozenset[str],
        current: str | None,
        row: str | None = None,
        specialise: bool = True,
    ) -> None:
        self.variables = frozenset(variables) | ({current} if current else frozenset())
        self.current = current
        self.row = row
        self.specialise = specialise
        self.uses_bindings = False
        # id -> (node, answer); holding the node keeps its id from being reused meanwhile
        self._const_memo: dict[int, tuple[ast.Expr, bool]] = {}

    # ---- names

    def _access(self, e: ast.Expr) -> tuple:
        """("key", k) for a one-part current attribute, ("fn", getter) for other values."""
        if isinstance(e, ast.Name):
            where, path = self._resolve(e)
            if where is None and len(path) == 1 and self.specialise:
                return ("key", path[0])
        return ("fn", self.value(e))

    def _resolve(self, e: ast.Name) -> tuple[str | None, tuple[str, ...]]:
        """(None, path) for the current event/row, or (var, path) for `var`'s last event."""
        parts = e.parts
        head = parts[0]
        if self.row is not None:
            if self.row == _UNIVERSAL:
                return None, parts  # referenced_variables() ruled out variables here
            if head != self.row:
                raise _err(
                    RuleTypeError,
                    e,
                    f"aggregate argument mixes {self.row}.* with '{'.'.join(parts)}'; "
                    "qualify every attribute with the same variable",
                )
            if len(parts) == 1:
                raise _err(RuleTypeError, e, f"use an attribute of '{head}' ({head}.x) here")
            return None, parts[1:]
        if head in self.variables:
            if len(parts) == 1:
                raise _err(
                    RuleNameError,
                    e,
                    f"variable '{head}' can only be used as COUNT({head}); "
                    f"use an attribute ({head}.x)",
                )
            if head == self.current:  # its last event is the event being tested
                return None, parts[1:]
            return head, parts[1:]
        return None, parts

    def _name(self, e: ast.Name) -> Fn:
        var, path = self._resolve(e)
        if var is None:
            return _path_getter(path)
        self.uses_bindings = True
        if len(path) == 1:

            def f(ev, b, _v=var, _k=path[0]):
                evs = b.events(_v)
                return evs[-1].get(_k) if evs else None

            return f
        get = _path_getter(path)

        def g(ev, b, _v=var, _get=get):
            evs = b.events(_v)
            return _get(evs[-1], None) if evs else None

        return g

    # ---- constants

    def _is_const(self, e: ast.Expr) -> bool:
        """Whether `e` reads nothing (no names, no aggregates); iterative, memoised per node."""
        memo = self._const_memo
        hit = memo.get(id(e))
        if hit is not None:
            return hit[1]
        stack: list[tuple[ast.Expr, bool]] = [(e, False)]
        while stack:
            node, kids_done = stack.pop()
            if id(node) in memo:
                continue
            if isinstance(node, ast.Literal):
                memo[id(node)] = (node, True)
            elif isinstance(node, (ast.Name, ast.Star)) or (
                isinstance(node, ast.Call) and node.func.upper() in AGGREGATES
            ):
                memo[id(node)] = (node, False)
            elif kids_done:
                memo[id(node)] = (node, all(memo[id(k)][1] for k in _children(node)))
            else:
                stack.append((node, True))
                stack.extend((k, False) for k in _children(node))
        return memo[id(e)][1]

    def _const(self, e: ast.Expr) -> tuple[bool, object]:
        """(True, value) when `e` is constant (folded once here), else (False, None)."""
        if isinstance(e, ast.Literal):
            return True, e.value
        if self.specialise and self._is_const(e):
            return True, self._value(e)({}, None)
        return False, None

    # ---- value mode

    def value(self, e: ast.Expr) -> Fn:
        """A closure returning the three-valued value of `e`."""
        if self.specialise and not isinstance(e, ast.Literal) and self._is_const(e):
            return _const_fn(self._value(e)({}, None))
        return self._value(e)

    def _value(self, e: ast.Expr) -> Fn:
        if isinstance(e, ast.Literal):
            return _const_fn(e.value)
        if isinstance(e, ast.Name):
            return self._name(e)
        if isinstance(e, ast.Binary):
            return self._binary_value(e)
        if isinstance(e, ast.Unary):
            return self._unary_value(e)
        if isinstance(e, ast.Call):
            return self._call(e)
        if isinstance(e, ast.Star):
            raise _err(RuleTypeError, e, "'*' is only allowed in COUNT(*)")
        return self._predicate(e)[0]

    def _binary_value(self, e: ast.Binary) -> Fn:
        op = e.op.upper()
        if op in ("AND", "OR"):
            fs = tuple(self.value(x) for x in _flatten(e, op))
            return _kleene_and(fs) if op == "AND" else _kleene_or(fs)
        if op in _CMP:
            return self._compare(op, e.left, e.right)[0]
        if op in _ARITH:
            a = self.value(e.left)
            c = self.value(e.right)
            fn = _ARITH[op]

            def f(ev, b, _a=a, _c=c, _f=fn):
                return _f(_a(ev, b), _c(ev, b))

            return f
        raise _err(RuleTypeError, e, f"unknown operator {e.op!r}")

    def _unary_value(self, e: ast.Unary) -> Fn:
        op = e.op.upper()
        a = self.value(e.operand)
        if op == "NOT":

            def f(ev, b, _a=a, _n=_not):
                return _n(_a(ev, b))

            return f
        if op == "-":

            def g(ev, b, _a=a, _t=type, _N=_NUM):
                v = _a(ev, b)
                return -v if _t(v) in _N else None

            return g
        raise _err(RuleTypeError, e, f"unknown operator {e.op!r}")

    # ---- strict modes

    def true(self, e: ast.Expr) -> Fn:
        """A closure returning True exactly when `e` is TRUE (False for FALSE and UNKNOWN)."""
        return self._strict(e, True)

    def false(self, e: ast.Expr) -> Fn:
        """A closure returning True exactly when `e` is FALSE (False for TRUE and UNKNOWN)."""
        return self._strict(e, False)

    def _strict(self, e: ast.Expr, want: bool) -> Fn:
        ok, c = self._const(e)
        if ok:
            return _const_fn(c is want)
        if isinstance(e, ast.Binary):
            op = e.op.upper()
            if op in ("AND", "OR"):
                items = _flatten(e, op)
                fs = tuple(self._strict(x, want) for x in items)
                # true(AND) and false(OR) need all; true(OR) and false(AND) need any
                return _all(fs) if (op == "AND") == want else _any(fs)
            if op in _CMP:
                return self._compare(op, e.left, e.right)[1 if want else 2]
        elif isinstance(e, ast.Unary) and e.op.upper() == "NOT":
            return self._strict(e.operand, not want)
        elif isinstance(e, ast.Name) and self.specialise:
            acc = self._access(e)
            if acc[0] == "key":
                return _pred_fns(acc, _bool_is, want)[1]
        elif not isinstance(e, (ast.Literal, ast.Name, ast.Call, ast.Unary, ast.Binary, ast.Star)):
            return self._predicate(e)[1 if want else 2]
        g = self.value(e)
        if want:

            def t(ev, b, _g=g):
                return _g(ev, b) is True

            return t

        def f(ev, b, _g=g):
            return _g(ev, b) is False

        return f

    # ---- comparisons

    def _compare(self, op: str, left: ast.Expr, right: ast.Expr) -> tuple[Fn, Fn, Fn]:
        """(value, true, false) closures of `left op right`."""
        if self.specialise:
            lk, lc = self._const(left)
            rk, rc = self._const(right)
            if lk != rk:  # exactly one side is constant: put it on the right
                if lk:
                    op, left, right, rc = _FLIP[op], right, left, lc
                if rc is None:  # comparing with NULL is always UNKNOWN
                    self.value(left)  # still validate the other side
                    return _const_fn(None), _const_fn(False), _const_fn(False)
                return _cmp_fns(self._access(left), op, rc)
        a = self.value(left)
        c = self.value(right)
        cmp = _CMP[op]

        def v_fn(ev, b, _a=a, _c=c, _f=cmp):
            return _f(_a(ev, b), _c(ev, b))

        def t_fn(ev, b, _a=a, _c=c, _f=cmp):
            return _f(_a(ev, b), _c(ev, b)) is True

        def f_fn(ev, b, _a=a, _c=c, _f=cmp):
            return _f(_a(ev, b), _c(ev, b)) is False

        return v_fn, t_fn, f_fn
