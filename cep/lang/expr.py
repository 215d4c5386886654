"""Compile expression ASTs into Python closures: the engine's per-event hot path.

Why closures. A condition is evaluated for every event (and, in a RULE, for every partial
match the event could extend), so walking the AST per event would pay an `isinstance`
dispatch per node per event. Instead each node is compiled *once* into a small Python
function, and a parent's function calls its children's functions directly. Constants (keys,
literals, pre-compiled regexes, frozen sets) are bound as default arguments so that the
closures read them as fast locals. Common shapes are specialised at compile time: a
comparison between a one-part attribute and a literal becomes one function that reads the
key, checks the value's type against the type picked by the literal, and compares. User text
never reaches `eval`/`exec`: every closure is written here and merely composed.

How three-valued logic is kept. Values are JSON values (`None` is SQL NULL). In *value* mode
(`_Compiler.value`) every predicate returns `True`, `False` or `None` (UNKNOWN): comparisons
with null or with incompatible types give `None`, and AND/OR/NOT follow Kleene logic. A
condition only needs to know whether its result is TRUE, so `compile_condition` compiles in
*strict* modes instead: `_Compiler.true(e)` returns a function that is `True` exactly when
`e` is TRUE, and `_Compiler.false(e)` one that is `True` exactly when `e` is FALSE. They
compose soundly (De Morgan over Kleene logic):

    true(a AND b)  = true(a) and true(b)      false(a AND b) = false(a) or false(b)
    true(a OR b)   = true(a) or true(b)       false(a OR b)  = false(a) and false(b)
    true(NOT a)    = false(a)                 false(NOT a)   = true(a)

so UNKNOWN is never confused with FALSE under NOT (`NOT (x < 5)` is TRUE only when `x` is a
number >= 5, never when it is missing), yet no closure ever materialises an UNKNOWN value
on the strict path. Nodes without a strict form fall back to `value(e)(...) is True/False`.

Semantics (the language contract, `docs/language.md`):

* Numbers are int and float (bool is *not* a number); they compare numerically. Strings
  compare with strings (case-sensitive, code-point order). Booleans, lists and objects only
  support `=`/`!=` against the same type. Any other mix, or a null operand, is UNKNOWN.
* Arithmetic is numeric only; null, a non-number, division/modulo by zero or an overflow
  give null. `/` is true division (`7 / 2 = 3.5`); `%` is SQL's truncated modulo (the sign
  of the dividend: `-7 % 3 = -1`).
* `x IN (...)` is the Kleene OR of `x = item`; `CONTAINS` needs a list operand (else
  UNKNOWN); `CONTAINS ALL/ANY` are the Kleene AND/OR of one `CONTAINS` per item.
* `LIKE` is an anchored, case-sensitive SQL pattern (`%`, `_`; no escape character).
  `MATCHES` is `re.search`. Patterns are compiled at compile time; a non-string operand is
  UNKNOWN. MATCHES rejects regexes with nested quantifiers (see `_nested_quantifier`).
* Functions return null for a wrongly typed argument: LOWER/UPPER (strings), ABS, LEN
  (strings, lists, objects), COALESCE (first non-null, evaluated lazily), FLOOR/CEIL (ints),
  ROUND(x [, n]) half away from zero on the decimal value (`ROUND(2.675, 2) = 2.68`): an int
  for ROUND(x) and for int x, a float for ROUND(float, n).
* Aggregates: `FIRST/LAST(v.x [, n])`, `COUNT(v)`, `COUNT(v.x)`, `COUNT(*)`,
  `SUM/AVG/MIN/MAX(v.x)`; their argument is evaluated per bound event of `v`. An argument
  naming no variable (`SUM(price)`) ranges over all events of the match (the "universal"
  row pattern variable of SQL:2016). Nulls are ignored; no value gives null (COUNT: 0); a
  non-numeric value makes SUM/AVG null, a mix of strings and numbers makes MIN/MAX null.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_UP, Context, Decimal
from itertools import repeat
from typing import Protocol

from cep.errors import RuleError, RuleLimitError, RuleNameError, RuleTypeError
from cep.lang import ast

__all__ = [
    "AGGREGATES",
    "FUNCTIONS",
    "Bindings",
    "CompiledExpr",
    "compile_condition",
    "compile_expr",
    "referenced_attributes",
    "referenced_variables",
]


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
_UNIVERSAL = "*"  # row variable of an aggregate whose argument names no variable
_NONES = repeat(None)  # endless second argument for map(fn, events, _NONES)


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


# ---------------------------------------------------------------- LIKE / MATCHES helpers


def _like_test(pattern: str) -> tuple[Callable[[str, object], bool], object]:
    """A (test, arg) pair deciding `v LIKE pattern`, with fast paths for simple shapes."""
    if "_" not in pattern:
        inner = pattern.strip("%")
        if "%" not in inner:
            lead = pattern.startswith("%")
            trail = pattern.endswith("%") and len(pattern) > len(inner) + lead
            if not inner:
                return (_any_str, None) if pattern else (str.__eq__, "")
            if lead and trail:
                return str.__contains__, inner
            if trail:
                return str.startswith, inner  # the 'prefix%' fast path
            if lead:
                return str.endswith, inner
            return str.__eq__, inner
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return _rx_full, re.compile("".join(parts), re.DOTALL)


def _any_str(v: str, arg: object) -> bool:
    return True


def _rx_full(v: str, rx: re.Pattern[str]) -> bool:
    return rx.fullmatch(v) is not None


def _rx_search(v: str, rx: re.Pattern[str]) -> bool:
    return rx.search(v) is not None


try:  # Python >= 3.11
    from re import _constants as _sre_c
    from re import _parser as _sre_p
except ImportError:  # pragma: no cover - other interpreters
    _sre_c = _sre_p = None  # type: ignore[assignment]


def _nested_quantifier(regex: str) -> bool:
    """Heuristic ReDoS guard: a variable-width quantifier inside an unbounded one.

    Flags `(a+)+`, `(a*)*`, `(\\w+\\s?)*`, `((ab)+c)*`; allows `(ab)+`, `(a{2})*`,
    `(\\d+\\.){3}` (bounded outer), `a?+`, possessive quantifiers and atomic groups (which
    cannot backtrack). Not caught: overlapping alternations such as `(a|aa)+`. Rejected
    patterns can usually be rewritten with a possessive `++`/`*+` or a bounded `{m,n}`.
    """
    if _sre_p is None:  # pragma: no cover
        return re.search(r"\([^()]*[+*}][^()]*\)[+*{]", regex) is not None
    c = _sre_c

    def scan(items: Iterable, under: bool) -> bool:
        for op, av in items:
            if op in (c.MAX_REPEAT, c.MIN_REPEAT):
                lo, hi, sub = av
                if under and hi > 1 and hi != lo:
                    return True
                if scan(sub, under or hi == c.MAXREPEAT):
                    return True
            elif op is c.POSSESSIVE_REPEAT:
                if scan(av[2], False):
                    return True
            elif op is c.SUBPATTERN:
                if scan(av[3], under):
                    return True
            elif op is c.BRANCH:
                if any(scan(alt, under) for alt in av[1]):
                    return True
            elif op in (c.ASSERT, c.ASSERT_NOT):
                if scan(av[1], under):
                    return True
            elif op is c.GROUPREF_EXISTS and (
                scan(av[1], under) or (av[2] is not None and scan(av[2], under))
            ):
                return True
            # ATOMIC_GROUP: no backtracking into it, so it cannot blow up from outside.
        return False

    return scan(_sre_p.parse(regex), False)


# ---------------------------------------------------------------- the compiler


class _Compiler:
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


# ---------------------------------------------------------------- composition helpers


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


def _like_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern),
        re.DOTALL,
    )


def _compile_regex(e: ast.Matches) -> re.Pattern[str]:
    try:
        rx = re.compile(e.regex)
    except (re.error, RecursionError, OverflowError) as exc:
        raise _err(RuleTypeError, e, f"invalid regex {e.regex!r}: {exc}") from None
    if _nested_quantifier(e.regex):
        raise _err(
            RuleTypeError,
            e,
            f"regex {e.regex!r} nests quantifiers (catastrophic backtracking risk); "
            "use a possessive quantifier (a++) or a bounded one (a{1,10})",
        )
    return rx


# ---------------------------------------------------------------- source text


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
