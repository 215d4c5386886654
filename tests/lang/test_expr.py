"""Tests of the expression compiler (cep.lang.expr), built on hand-made ASTs.

The core property test compares the compiled closures with `Ref`, a deliberately slow and
direct three-valued evaluator written here from the language contract, over random
expression trees and random events (missing, null and mistyped attributes included). It
checks the value closure, the strict condition closure, the strict "is FALSE" closure and
the unspecialised (generic) compiler, so every specialised fast path is held to the same
semantics as the generic path.

Micro-benchmark (1M evaluations of the two reference conditions):

    PYTHONPATH=. python tests/lang/test_expr.py
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.errors import RuleLimitError, RuleNameError, RuleTypeError
from cep.lang import ast as A
from cep.lang.expr import (
    CompiledExpr,
    _Compiler,
    _nested_quantifier,
    _to_text,
    compile_condition,
    compile_expr,
    referenced_attributes,
    referenced_variables,
)

VARS = frozenset({"v", "w"})


# ---------------------------------------------------------------- AST shorthands


def n(path: str) -> A.Name:
    return A.Name(tuple(path.split(".")))


def lit(value: object) -> A.Literal:
    return A.Literal(value)  # type: ignore[arg-type]


def b(op: str, left: A.Expr, right: A.Expr) -> A.Binary:
    return A.Binary(op, left, right)


def call(func: str, *args: A.Expr) -> A.Call:
    return A.Call(func, tuple(args))


def NOT(x: A.Expr) -> A.Unary:
    return A.Unary("NOT", x)


class Binds:
    """A minimal Bindings: (var, event) pairs in match order."""

    def __init__(self, seq: Sequence[tuple[str, dict]] = ()) -> None:
        self.seq = list(seq)

    def events(self, var: str) -> list[dict]:
        return [e for v, e in self.seq if v == var]

    def all_events(self) -> list[dict]:
        return [e for _, e in self.seq]


def cond(expr: A.Expr, ev: dict, binds: Binds | None = None, **kw: object) -> object:
    return compile_condition(expr, **kw).fn(ev, binds)  # type: ignore[arg-type]


def val(expr: A.Expr, ev: dict | None = None, binds: Binds | None = None, **kw: object) -> object:
    return compile_expr(expr, **kw).fn(ev or {}, binds)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the reference evaluator


def _num(x: object) -> bool:
    return type(x) in (int, float)


def _tv(x: object) -> bool | None:
    return x if type(x) is bool else None


class Ref:
    """Slow, direct SQL three-valued evaluation of an AST, straight from the contract."""

    AGG = {"FIRST", "LAST", "COUNT", "SUM", "AVG", "MIN", "MAX"}

    def __init__(self, ev: dict, binds: Binds | None, variables: frozenset[str] = VARS) -> None:
        self.ev = ev
        self.binds = binds
        self.variables = variables

    @staticmethod
    def path(obj: object, parts: Sequence[str]) -> object:
        for p in parts:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(p)
        return obj

    def name(self, e: A.Name, row: tuple[str, dict] | None) -> object:
        if row is not None:
            var, rowev = row
            return self.path(rowev, e.parts if var == "*" else e.parts[1:])
        if e.parts[0] in self.variables:
            evs = self.binds.events(e.parts[0]) if self.binds else []
            return self.path(evs[-1], e.parts[1:]) if evs else None
        return self.path(self.ev, e.parts)

    @staticmethod
    def cmp(op: str, x: object, y: object) -> bool | None:
        if x is None or y is None:
            return None
        both_num = _num(x) and _num(y)
        both_str = type(x) is str and type(y) is str
        if op in ("=", "!="):
            if not (both_num or both_str or (type(x) is type(y) and type(x) in (bool, list, dict))):
                return None
            return (x == y) if op == "=" else (x != y)
        if not (both_num or both_str):
            return None
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]  # type: ignore[operator]

    @staticmethod
    def arith(op: str, x: object, y: object) -> object:
        if not (_num(x) and _num(y)):
            return None
        try:
            if op == "+":
                return x + y  # type: ignore[operator]
            if op == "-":
                return x - y  # type: ignore[operator]
            if op == "*":
                return x * y  # type: ignore[operator]
            if y == 0:
                return None
            if op == "/":
                return x / y  # type: ignore[operator]
            if type(x) is int and type(y) is int:
                r = abs(x) % abs(y)
                return r if x >= 0 else -r
            return math.fmod(x, y)  # type: ignore[arg-type]
        except (OverflowError, ValueError):
            return None

    @staticmethod
    def k_and(xs: list[object]) -> bool | None:
        ts = [_tv(x) for x in xs]
        if False in ts:
            return False
        return True if all(t is True for t in ts) else None

    @staticmethod
    def k_or(xs: list[object]) -> bool | None:
        ts = [_tv(x) for x in xs]
        if True in ts:
            return True
        return False if all(t is False for t in ts) else None

    @staticmethod
    def k_not(x: object) -> bool | None:
        t = _tv(x)
        return None if t is None else not t

    @staticmethod
    def round_(x: object, nd: object, given: bool) -> object:
        if not _num(x) or (given and type(nd) is not int):
            return None
        if isinstance(x, float) and not math.isfinite(x):
            return None
        nd = nd if given else 0
        if type(x) is int and nd >= 0:  # type: ignore[operator]
            return x
        with localcontext() as ctx:
            ctx.prec = 5000
            r = Decimal(repr(x) if isinstance(x, float) else x).quantize(
                Decimal(f"1E{-nd}"),  # type: ignore[operator]
                rounding=ROUND_HALF_UP,
            )
        return float(r) if isinstance(x, float) and given else int(r)

    def eval(self, e: A.Expr, row: tuple[str, dict] | None = None) -> object:
        ev = self.eval
        if isinstance(e, A.Literal):
            return e.value
        if isinstance(e, A.Name):
            return self.name(e, row)
        if isinstance(e, A.Unary):
            x = ev(e.operand, row)
            if e.op == "NOT":
                return self.k_not(x)
            return -x if _num(x) else None  # type: ignore[operator]
        if isinstance(e, A.Binary):
            if e.op == "AND":
                return self.k_and([ev(e.left, row), ev(e.right, row)])
            if e.op == "OR":
                return self.k_or([ev(e.left, row), ev(e.right, row)])
            x, y = ev(e.left, row), ev(e.right, row)
            if e.op in ("=", "!=", "<", "<=", ">", ">="):
                return self.cmp(e.op, x, y)
            return self.arith(e.op, x, y)
        if isinstance(e, A.Between):
            x = ev(e.operand, row)
            r = self.k_and([self.cmp(">=", x, ev(e.low, row)), self.cmp("<=", x, ev(e.high, row))])
            return self.k_not(r) if e.negated else r
        if isinstance(e, A.InList):
            x = ev(e.operand, row)
            r = self.k_or([self.cmp("=", x, ev(i, row)) for i in e.items])
            return self.k_not(r) if e.negated else r
        if isinstance(e, A.IsNull):
            return (ev(e.operand, row) is not None) if e.negated else (ev(e.operand, row) is None)
        if isinstance(e, A.Contains):
            seq = ev(e.operand, row)
            parts = []
            for it in e.items:
                x = ev(it, row)
                if not isinstance(seq, list) or x is None:
                    parts.append(None)
                else:
                    parts.append(any(self.cmp("=", el, x) is True for el in seq))
            return self.k_or(parts) if e.mode == "ANY" else self.k_and(parts)
        if isinstance(e, A.Like):
            x = ev(e.operand, row)
            if not isinstance(x, str):
                return None
            rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in e.pattern)
            r = re.fullmatch(rx, x, re.DOTALL) is not None
            return (not r) if e.negated else r
        if isinstance(e, A.Matches):
            x = ev(e.operand, row)
            return (re.search(e.regex, x) is not None) if isinstance(x, str) else None
        if isinstance(e, A.Call):
            if e.func in self.AGG:
                return self.aggregate(e)
            args = [ev(a, row) for a in e.args]
            x = args[0]
            if e.func == "LOWER":
                return x.lower() if isinstance(x, str) else None
            if e.func == "UPPER":
                return x.upper() if isinstance(x, str) else None
            if e.func == "ABS":
                return abs(x) if _num(x) else None  # type: ignore[arg-type]
            if e.func == "LEN":
                return len(x) if isinstance(x, (str, list, dict)) else None
            if e.func == "COALESCE":
                return next((a for a in args if a is not None), None)
            if e.func in ("FLOOR", "CEIL"):
                if not _num(x):
                    return None
                try:
                    return math.floor(x) if e.func == "FLOOR" else math.ceil(x)  # type: ignore
                except (OverflowError, ValueError):
                    return None
            if e.func == "ROUND":
                if len(args) == 2 and args[1] is None:
                    return None
                return self.round_(x, args[1] if len(args) == 2 else None, len(args) == 2)
        raise AssertionError(f"reference cannot evaluate {e!r}")

    def aggregate(self, e: A.Call) -> object:
        assert self.binds is not None
        arg = e.args[0]
        if isinstance(arg, A.Star):
            return len(self.binds.all_events())
        if isinstance(arg, A.Name) and len(arg.parts) == 1 and arg.parts[0] in self.variables:
            return len(self.binds.events(arg.parts[0]))
        names = [x for x in _nodes(arg) if isinstance(x, A.Name)]
        var = names[0].parts[0] if names and names[0].parts[0] in self.variables else "*"
        evs = self.binds.all_events() if var == "*" else self.binds.events(var)
        vals = [self.eval(arg, (var, r)) for r in evs]
        if e.func in ("FIRST", "LAST"):
            k = e.args[1].value if len(e.args) > 1 else 0  # type: ignore[union-attr]
            if len(vals) <= k:  # type: ignore[operator]
                return None
            return vals[k] if e.func == "FIRST" else vals[-1 - k]  # type: ignore[index,operator]
        present = [x for x in vals if x is not None]
        if e.func == "COUNT":
            return len(present)
        if not present:
            return None
        if e.func in ("SUM", "AVG"):
            if not all(_num(x) for x in present):
                return None
            total: float = 0
            try:
                for x in present:
                    total += x  # type: ignore[operator]
                return total if e.func == "SUM" else total / len(present)
            except OverflowError:
                return None
        if all(_num(x) for x in present) or all(isinstance(x, str) for x in present):
            return min(present) if e.func == "MIN" else max(present)  # type: ignore[type-var]
        return None


def _nodes(e: A.Expr) -> list[A.Expr]:
    out = [e]
    for f in ("left", "right", "operand", "low", "high"):
        if hasattr(e, f):
            out += _nodes(getattr(e, f))
    for f in ("args", "items"):
        for x in getattr(e, f, ()):
            out += _nodes(x)
    return out


def same(x: object, y: object) -> bool:
    """Equal values of the same type (NaN equals NaN)."""
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return type(x) is type(y) and x == y


# ---------------------------------------------------------------- hypothesis strategies

small_str = st.sampled_from(["", "a", "ab", "B", "a.b", "ba", "KR", "a\nb", "%"])
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-50, 50, allow_nan=False, allow_infinity=False),
    small_str,
)
json_val = st.one_of(
    scalar,
    st.lists(st.one_of(st.none(), st.booleans(), st.integers(-2, 2), small_str), max_size=3),
    st.dictionaries(st.sampled_from(["x", "y"]), scalar, max_size=2),
)
typed = {
    "a": st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False)),
    "b": st.one_of(st.integers(-2, 2), st.sampled_from([0, 0.0, 1, 1.0, True, False])),
    "s": small_str,
    "f": st.booleans(),
    "l": st.lists(st.one_of(small_str, st.integers(-1, 1)), max_size=3),
    "o": st.fixed_dictionaries({"x": scalar}),
}
# mostly well-typed events, with some attributes mistyped (any JSON value) or missing
events = st.builds(
    lambda good, odd, gone: {k: v for k, v in {**good, **odd}.items() if k not in gone},
    st.fixed_dictionaries(typed),
    st.dictionaries(st.sampled_from(sorted(typed)), json_val, max_size=2),
    st.sets(st.sampled_from(sorted(typed)), max_size=2),
)
ATTRS = ["a", "b", "s", "f", "l", "o", "o.x", "zz"]

literals = st.builds(
    A.Literal,
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.sampled_from([0, 1, 0.0, 1.0, 2.5, -0.5, 1e300]),
        small_str,
    ),
)
cur_names = st.sampled_from(ATTRS).map(n)
var_names = st.builds(
    lambda v, a: n(f"{v}.{a}"), st.sampled_from(sorted(VARS)), st.sampled_from(ATTRS)
)
CMP = ["=", "!=", "<", "<=", ">", ">="]
ARITH = ["+", "-", "*", "/", "%"]
simple_cmp = st.builds(
    lambda op, x, c, flip: A.Binary(op, c, x) if flip else A.Binary(op, x, c),
    st.sampled_from(CMP),
    st.one_of(cur_names, var_names),
    literals,
    st.booleans(),
)


def row_exprs(var: str) -> st.SearchStrategy[A.Expr]:
    """Aggregate arguments over `var` ('*' = unqualified attributes of every event)."""
    names = st.sampled_from(ATTRS).map(lambda a: n(a if var == "*" else f"{var}.{a}"))
    return st.one_of(
        names,
        names,
        st.builds(A.Binary, st.sampled_from(ARITH), names, st.one_of(names, literals)),
        st.builds(lambda x: call("LOWER", x), names),
    )


def aggregates() -> st.SearchStrategy[A.Expr]:
    targets = st.sampled_from(["v", "w", "*"])
    return st.one_of(
        st.just(call("COUNT", A.Star())),
        st.sampled_from(sorted(VARS)).map(lambda v: call("COUNT", n(v))),
        targets.flatmap(
            lambda t: st.builds(
                lambda f, a: call(f, a),
                st.sampled_from(["COUNT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST"]),
                row_exprs(t),
            )
        ),
        targets.flatmap(
            lambda t: st.builds(
                lambda f, a, k: call(f, a, lit(k)),
                st.sampled_from(["FIRST", "LAST"]),
                row_exprs(t),
                st.integers(0, 3),
            )
        ),
    )


LIKE_PATTERNS = st.one_of(
    st.lists(st.sampled_from(["%", "_", "a", "b", ".", "\n", "%"]), max_size=4).map("".join),
    # every fast-path shape (prefix%, %suffix, %infix%, exact, %) and regex-path ones
    st.sampled_from(["a%", "%a", "%a%", "%b", "b%", "%b%", "%", "", "a", "ab", "a.b", "%.b"]),
    st.sampled_from(["_", "%.%", "K%", "(%)", "a_", "%a_b%", "B%"]),
)
REGEXES = st.sampled_from(["a", "^a", "b$", "a.b", "[ab]+", r"\.", "x|K", "^$", "(ab)+"])


def extend(kids: st.SearchStrategy[A.Expr]) -> st.SearchStrategy[A.Expr]:
    items = st.lists(kids, min_size=1, max_size=3).map(tuple)
    return st.one_of(
        st.builds(A.Binary, st.sampled_from(["AND", "OR"]), kids, kids),
        st.builds(A.Binary, st.sampled_from(CMP), kids, kids),
        st.builds(A.Binary, st.sampled_from(ARITH), kids, kids),
        st.builds(A.Unary, st.sampled_from(["NOT", "-"]), kids),
        st.builds(A.Between, kids, kids, kids, st.booleans()),
        st.builds(A.InList, kids, items, st.booleans()),
        st.builds(A.IsNull, kids, st.booleans()),
        st.builds(lambda x, i: A.Contains(x, "ONE", (i,)), kids, kids),
        st.builds(A.Contains, kids, st.sampled_from(["ALL", "ANY"]), items),
        st.builds(A.Like, kids, LIKE_PATTERNS, st.booleans()),
        st.builds(A.Matches, kids, REGEXES),
        st.builds(
            lambda f, x: call(f, x),
            st.sampled_from(["LOWER", "UPPER", "ABS", "LEN", "FLOOR", "CEIL", "ROUND"]),
            kids,
        ),
        st.builds(lambda x, k: call("ROUND", x, k), kids, st.one_of(kids, literals)),
        st.builds(lambda xs: A.Call("COALESCE", xs), items),
    )


exprs = st.recursive(
    st.one_of(literals, cur_names, var_names, simple_cmp, simple_cmp, aggregates()),
    extend,
    max_leaves=10,
)


pred_literals = st.sampled_from([None, 0, 1, -1, 2.5, True, False, "a", "ab", "", "KR", "B"]).map(
    lit
)
operands = st.one_of(cur_names, cur_names, var_names, pred_literals)
# operands of the type an operator expects, mixed with anything (missing/mistyped values)
nums = st.one_of(
    st.sampled_from(["a", "b", "v.a", "w.b", "o.x"]).map(n),
    st.integers(-7, 7).map(lit),
    pred_literals,
    operands,
)
strs = st.one_of(st.just(n("s")), st.sampled_from(["s", "v.s", "o.x"]).map(n), operands)
seqs = st.one_of(st.sampled_from(["l", "v.l", "l"]).map(n), operands)
lists_of = st.lists(pred_literals, min_size=1, max_size=4).map(tuple)


# One operator, function or aggregate over names and literals: every shape the compiler
# specialises, drawn often enough that each fast path meets mistyped and missing values.
@st.composite
def typed_in(draw: st.DrawFn) -> A.InList:
    """`x [NOT] IN (literals)` with x and the literals mostly of one type (the set fast path)."""
    if draw(st.booleans()):
        x, pool = st.sampled_from(["a", "b", "v.a"]), [0, 1, -1, 2.5, 3, None]
    else:
        x, pool = st.sampled_from(["s", "v.s"]), ["a", "ab", "", "KR", "B", "ba", None]
    items = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
    return A.InList(n(draw(x)), tuple(lit(i) for i in items), draw(st.booleans()))


def reductions(funcs: list[str]) -> st.SearchStrategy[A.Expr]:
    """Aggregates of `funcs` over v, w or every event, with an offset for FIRST/LAST."""
    return st.sampled_from(["v", "w", "*"]).flatmap(
        lambda t: st.builds(
            lambda f, a, k: (
                call(f, a, lit(k)) if k is not None and f in ("FIRST", "LAST") else call(f, a)
            ),
            st.sampled_from(funcs),
            row_exprs(t),
            st.one_of(st.none(), st.integers(0, 2)),
        )
    )


SHAPES: dict[str, st.SearchStrategy[A.Expr]] = {
    "in typed literals": typed_in(),
    "first/last": reductions(["FIRST", "LAST"]),
    "count/sum/avg/min/max": reductions(["COUNT", "SUM", "AVG", "MIN", "MAX"]),
    "name op literal": simple_cmp,
    "compare": st.builds(A.Binary, st.sampled_from(CMP), st.one_of(nums, strs), operands),
    "arithmetic": st.builds(A.Binary, st.sampled_from(ARITH), nums, nums),
    "division and modulo": st.builds(A.Binary, st.sampled_from(["/", "%"]), nums, nums),
    "unary": st.builds(A.Unary, st.sampled_from(["NOT", "-"]), operands),
    "between": st.one_of(
        st.builds(A.Between, nums, nums, nums, st.booleans()),
        st.builds(A.Between, strs, operands, operands, st.booleans()),
    ),
    "in literals": st.builds(A.InList, st.one_of(nums, strs), lists_of, st.booleans()),
    "in": st.builds(
        A.InList, operands, st.lists(operands, min_size=1, max_size=3).map(tuple), st.booleans()
    ),
    "is null": st.builds(A.IsNull, operands, st.booleans()),
    "contains": st.one_of(
        st.builds(lambda x, i: A.Contains(x, "ONE", (i,)), seqs, operands),
        st.builds(A.Contains, seqs, st.sampled_from(["ALL", "ANY"]), lists_of),
        st.builds(
            A.Contains,
            seqs,
            st.sampled_from(["ALL", "ANY"]),
            st.lists(operands, min_size=1, max_size=3).map(tuple),
        ),
    ),
    "like": st.builds(A.Like, strs, LIKE_PATTERNS, st.booleans()),
    "matches": st.builds(A.Matches, strs, REGEXES),
    "string functions": st.builds(
        lambda f, x: call(f, x), st.sampled_from(["LOWER", "UPPER", "LEN"]), strs
    ),
    "numeric functions": st.one_of(
        st.builds(
            lambda f, x: call(f, x), st.sampled_from(["ABS", "FLOOR", "CEIL", "ROUND"]), nums
        ),
        st.builds(
            lambda x, k: call("ROUND", x, k), nums, st.one_of(nums, st.integers(-2, 2).map(lit))
        ),
    ),
    "coalesce": st.builds(
        lambda xs: A.Call("COALESCE", xs), st.lists(operands, min_size=1, max_size=3).map(tuple)
    ),
    "aggregates": aggregates(),
    "aggregate op literal": st.builds(A.Binary, st.sampled_from(CMP), aggregates(), pred_literals),
}


@st.composite
def situations(draw: st.DrawFn) -> tuple[dict, Binds, str | None]:
    """An event, the bindings of the match so far and the variable being tested (if any)."""
    ev = draw(events)
    # bound events are sometimes fully mixed-type (what aggregates must survive)
    mixed = st.fixed_dictionaries({}, optional=dict.fromkeys(typed, scalar))
    bound = st.tuples(st.sampled_from(sorted(VARS)), st.one_of(events, mixed))
    seq = draw(st.one_of(st.lists(bound, max_size=2), st.lists(bound, min_size=3, max_size=6)))
    current = draw(st.sampled_from([None, "v"]))
    if current:
        seq.append((current, ev))  # MATCH_RECOGNIZE: the tested event is already bound
    return ev, Binds(seq), current


PROPERTY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_against_reference(expr: A.Expr, sit: tuple) -> None:
    """Every compiled form of `expr` agrees with `Ref` on one situation (and never raises)."""
    ev, binds, current = sit
    want = Ref(ev, binds).eval(expr)
    got = compile_expr(expr, VARS, current).fn(ev, binds)
    assert same(got, want), (got, want)
    c = compile_condition(expr, VARS, current).fn(ev, binds)
    assert type(c) is bool and c is (want is True)
    spec = _Compiler(VARS, current)
    assert spec.false(expr)(ev, binds) is (want is False)
    generic = _Compiler(VARS, current, specialise=False)
    assert same(generic.value(expr)(ev, binds), want)
    assert generic.true(expr)(ev, binds) is (want is True)
    assert generic.false(expr)(ev, binds) is (want is False)
    # NOT keeps UNKNOWN unknown, also on the strict path
    assert compile_condition(NOT(expr), VARS, current).fn(ev, binds) is (want is False)


@PROPERTY
@given(exprs, situations())
def test_random_trees_agree_with_reference(expr: A.Expr, sit: tuple) -> None:
    check_against_reference(expr, sit)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_shape_agrees_with_reference(shape: str, data: st.DataObject) -> None:
    check_against_reference(data.draw(SHAPES[shape], label="expr"), data.draw(situations()))


@PROPERTY
@given(
    st.sampled_from(["COUNT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST"]),
    st.lists(st.one_of(scalar, st.integers(-3, 3), small_str), min_size=1, max_size=7),
    st.sampled_from(["v.x", "x", "v.o.x", "v.x + 1"]),
)
def test_reducers_over_mixed_values(func: str, values: list, arg: str) -> None:
    """Aggregates over many bound values of mixed types, missing values included."""
    seq = [("v", {"x": x, "o": {"x": x}}) for x in values] + [("w", {"x": 1})]
    binds = Binds(seq)
    plus = arg.endswith("+ 1")
    expr = call(func, b("+", n(arg[:-4]), lit(1)) if plus else n(arg))
    want = Ref({}, binds).eval(expr)
    assert same(val(expr, {}, binds, variables=VARS), want)
    assert same(_Compiler(VARS, None, specialise=False).value(expr)({}, binds), want)


@PROPERTY
@given(
    st.lists(st.one_of(simple_cmp, *SHAPES.values()), min_size=1, max_size=4),
    st.sampled_from(["AND", "OR"]),
    st.booleans(),
    situations(),
)
def test_chains_of_fast_comparisons(parts: list[A.Expr], op: str, negate: bool, sit: tuple) -> None:
    ev, binds, current = sit
    expr = parts[0]
    for p in parts[1:]:
        expr = A.Binary(op, expr, p)
    if negate:
        expr = NOT(expr)
    want = Ref(ev, binds).eval(expr)
    assert compile_condition(expr, VARS, current).fn(ev, binds) is (want is True)
    assert same(compile_expr(expr, VARS, current).fn(ev, binds), want)


# ---------------------------------------------------------------- comparisons and 3VL

T, F, U = lit(True), lit(False), b("<", n("missing"), lit(1))  # TRUE, FALSE, UNKNOWN
TRUTH = {"T": T, "F": F, "U": U}
KLEENE_AND = {"TT": "T", "TF": "F", "TU": "U", "FF": "F", "FU": "F", "UU": "U"}
KLEENE_OR = {"TT": "T", "TF": "T", "TU": "T", "FF": "F", "FU": "U", "UU": "U"}
AS_VALUE = {"T": True, "F": False, "U": None}


@pytest.mark.parametrize("pair", sorted(KLEENE_AND))
@pytest.mark.parametrize("swap", [False, True])
def test_kleene_truth_tables(pair: str, swap: bool) -> None:
    x, y = (pair[1], pair[0]) if swap else (pair[0], pair[1])
    for op, table in (("AND", KLEENE_AND), ("OR", KLEENE_OR)):
        e = b(op, TRUTH[x], TRUTH[y])
        want = AS_VALUE[table[pair]]
        assert val(e) is want
        assert cond(e, {}) is (want is True)
        assert cond(NOT(e), {}) is (want is False)


def test_not_of_unknown_stays_unknown() -> None:
    e = NOT(b("<", n("price"), lit(5)))
    assert val(e, {}) is None
    assert cond(e, {}) is False
    assert cond(e, {"price": 3}) is False
    assert cond(e, {"price": 7}) is True
    assert cond(NOT(NOT(b("<", n("price"), lit(5)))), {}) is False


@pytest.mark.parametrize(
    ("left", "op", "right", "want"),
    [
        (1, "=", 1.0, True),
        (2, "<", 2.5, True),
        (True, "=", True, True),
        (True, "=", 1, None),  # bool is not a number
        (0, "=", False, None),
        ("5", "=", 5, None),  # incompatible types are UNKNOWN, not FALSE
        ("a", "=", "A", False),  # case-sensitive
        ("a", "<", "b", True),
        ("b", ">=", "a", True),
        (True, "<", False, None),  # booleans are not ordered
        ([1, 2], "=", [1, 2], True),
        ({"x": 1}, "!=", {"x": 2}, True),
        ([1], "<", [2], None),
        (None, "=", None, None),
        (3, "!=", None, None),
    ],
)
def test_comparison_semantics(left: object, op: str, right: object, want: object) -> None:
    ev = {"x": left, "y": right}
    forms = [b(op, n("x"), n("y"))]  # attribute vs attribute: the generic path
    if type(right) not in (list, dict):  # attribute vs literal: the specialised path
        forms.append(b(op, n("x"), lit(right)))
    for e in forms:
        assert val(e, ev) is want
        assert cond(e, ev) is (want is True)
        assert cond(NOT(e), ev) is (want is False)


@pytest.mark.parametrize("op", CMP)
@pytest.mark.parametrize("literal", [0, 1, 5, 2.5, -1.0, "KR", "", True, False, None])
@pytest.mark.parametrize("flip", [False, True])
def test_fast_paths_agree_with_generic(op: str, literal: object, flip: bool) -> None:
    samples = [None, 0, 1, 5, 2.5, -1.0, 7, True, False, "KR", "kr", "", "Z", [1], {"x": 1}]
    e = b(op, lit(literal), n("x")) if flip else b(op, n("x"), lit(literal))
    for nested in (False, True):
        ex = e if not nested else _rename(e, ("o", "x"))
        fast = _Compiler(VARS, None)
        slow = _Compiler(VARS, None, specialise=False)
        fv, ft, ff = fast.value(ex), fast.true(ex), fast.false(ex)
        sv, stt, sf = slow.value(ex), slow.true(ex), slow.false(ex)
        for x in samples:
            ev = {"o": {"x": x}} if nested else {"x": x}
            want = Ref(ev, None).eval(ex)
            assert same(fv(ev, None), want) and same(sv(ev, None), want), (x, want)
            assert ft(ev, None) is stt(ev, None) is (want is True)
            assert ff(ev, None) is sf(ev, None) is (want is False)


def _rename(e: A.Binary, parts: tuple[str, ...]) -> A.Binary:
    swap = lambda x: A.Name(parts) if isinstance(x, A.Name) else x  # noqa: E731
    return A.Binary(e.op, swap(e.left), swap(e.right))


def test_fast_path_is_specialised() -> None:
    """`amount < 5` compiles to one closure reading the key directly (no child closures)."""
    f = compile_condition(b("<", n("amount"), lit(5))).fn
    assert f.__defaults__ is not None and "amount" in f.__defaults__ and 5 in f.__defaults__
    assert not any(callable(d) and d not in (type,) for d in f.__defaults__)
    assert f({"amount": 4}, None) is True
    assert f({"amount": "4"}, None) is False
    assert f({"amount": True}, None) is False


def test_nan_attribute_is_consistent() -> None:
    ev = {"x": float("nan")}
    e = b("<", n("x"), lit(5))
    assert val(e, ev) is False
    assert cond(NOT(e), ev) is True  # NOT FALSE, even though nan >= 5 is also false


# ---------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("op", "x", "y", "want"),
    [
        ("+", 2, 3, 5),
        ("+", 2, 0.5, 2.5),
        ("+", True, 1, None),
        ("+", "a", "b", None),
        ("+", None, 1, None),
        ("-", 2, 3, -1),
        ("*", 4, 2.5, 10.0),
        ("/", 7, 2, 3.5),
        ("/", 1, 0, None),
        ("/", 1.0, 0.0, None),
        ("%", 7, 3, 1),
        ("%", -7, 3, -1),  # SQL: sign of the dividend
        ("%", 7, -3, 1),
        ("%", 7.5, 2, 1.5),
        ("%", 5, 0, None),
        ("*", [1], 2, None),
    ],
)
def test_arithmetic(op: str, x: object, y: object, want: object) -> None:
    got = val(b(op, n("x"), n("y")), {"x": x, "y": y})
    assert same(got, want)


def test_arithmetic_overflow_is_null() -> None:
    assert val(b("+", n("x"), lit(0.5)), {"x": 10**400}) is None
    assert val(b("/", n("x"), lit(3)), {"x": 10**400}) is None


def test_unary_minus_and_constant_folding() -> None:
    assert val(A.Unary("-", n("x")), {"x": 3}) == -3
    assert val(A.Unary("-", n("x")), {"x": True}) is None
    e = b(">", n("x"), A.Unary("-", lit(5)))
    assert cond(e, {"x": -4}) is True
    assert cond(e, {"x": -6}) is False


# ---------------------------------------------------------------- predicates


def test_between() -> None:
    e = A.Between(n("x"), lit(1), lit(3))
    assert [val(e, {"x": x}) for x in (0, 1, 2, 3, 4, None, "2")] == [
        False,
        True,
        True,
        True,
        False,
        None,
        None,
    ]
    ne = A.Between(n("x"), lit(1), lit(3), negated=True)
    assert [val(ne, {"x": x}) for x in (0, 2, None)] == [True, False, None]
    # x below a NULL upper bound: FALSE AND UNKNOWN = FALSE
    assert val(A.Between(n("x"), lit(1), lit(None)), {"x": 0}) is False
    assert val(A.Between(n("x"), lit(1), lit(None)), {"x": 2}) is None
    agg = A.Between(call("COUNT", n("v")), lit(1), lit(2))
    assert val(agg, {}, Binds([("v", {})]), variables=VARS) is True


def test_in_list() -> None:
    e = A.InList(n("c"), (lit("KR"), lit("JP")))
    assert [val(e, {"c": c}) for c in ("KR", "US", None, 5)] == [True, False, None, None]
    with_null = A.InList(n("c"), (lit("KR"), lit(None)))
    assert val(with_null, {"c": "KR"}) is True
    assert val(with_null, {"c": "US"}) is None  # SQL: no match and a NULL item
    not_in = A.InList(n("c"), (lit("KR"), lit(None)), negated=True)
    assert val(not_in, {"c": "US"}) is None
    assert cond(not_in, {"c": "US"}) is False
    nums = A.InList(n("x"), (lit(1), lit(2.5)))
    assert [val(nums, {"x": x}) for x in (1.0, 2.5, 3, True, [1])] == [
        True,
        True,
        False,
        None,
        None,
    ]
    dyn = A.InList(n("x"), (n("y"), lit(3)))
    assert val(dyn, {"x": 2, "y": 2}) is True
    assert val(dyn, {"x": 2}) is None
    assert cond(A.InList(n("x"), (n("y"), lit(3)), negated=True), {"x": 2, "y": 1}) is True


def test_is_null_never_unknown() -> None:
    for ev in ({}, {"x": None}, {"x": 0}, {"x": ""}, {"x": False}):
        isnull = "x" not in ev or ev["x"] is None
        assert val(A.IsNull(n("x")), ev) is isnull
        assert val(A.IsNull(n("x"), negated=True), ev) is (not isnull)
        assert cond(NOT(A.IsNull(n("x"))), ev) is (not isnull)
    assert val(A.IsNull(n("o.x")), {"o": 5}) is True


def test_contains() -> None:
    one = A.Contains(n("tags"), "ONE", (lit("a"),))
    assert [val(one, {"tags": t}) for t in (["a", "b"], ["b"], [], None, "abc", {"a": 1})] == [
        True,
        False,
        False,
        None,
        None,
        None,
    ]
    assert val(A.Contains(n("tags"), "ONE", (lit(None),)), {"tags": ["a"]}) is None
    assert val(A.Contains(n("xs"), "ONE", (lit(1),)), {"xs": [True]}) is False  # bool != 1
    assert val(A.Contains(n("xs"), "ONE", (lit(1),)), {"xs": [1.0]}) is True
    all_ = A.Contains(n("f"), "ALL", (lit("parking"), lit("elevator")))
    assert val(all_, {"f": ["elevator", "parking", "x"]}) is True
    assert val(all_, {"f": ["parking"]}) is False
    assert val(all_, {"f": None}) is None
    any_ = A.Contains(n("f"), "ANY", (lit("parking"), lit("elevator")))
    assert val(any_, {"f": ["x", "elevator"]}) is True
    assert val(any_, {"f": []}) is False
    mixed = A.Contains(n("f"), "ANY", (lit("a"), lit(None)))
    assert val(mixed, {"f": ["b"]}) is None
    assert val(mixed, {"f": ["a"]}) is True


@pytest.mark.parametrize(
    ("pattern", "text", "want"),
    [
        ("abc%", "abcdef", True),
        ("abc%", "xabc", False),
        ("%def", "abcdef", True),
        ("%cd%", "abcdef", True),
        ("%", "", True),
        ("", "", True),
        ("", "a", False),
        ("a_c", "abc", True),
        ("a_c", "abbc", False),
        ("ABC%", "abc", False),  # case-sensitive
        ("a%c", "a\nc", True),  # % spans newlines
        # regex metacharacters are literal
        ("a.c", "abc", False),
        ("a.c", "a.c", True),
        ("a+%", "aa", False),
        ("a+%", "a+b", True),
        ("(x)%", "(x)y", True),
        ("[ab]%", "a", False),
        ("[ab]%", "[ab]", True),
        ("\\d%", "\\d1", True),
        ("\\d%", "1", False),
        ("$^%", "$^", True),
        ("a|b", "a", False),
        ("%.*", "x.*", True),
        ("%.*", "xx", False),
        ("{1}_", "{1}x", True),
    ],
)
def test_like(pattern: str, text: str, want: bool) -> None:
    e = A.Like(n("x"), pattern)
    ev = {"x": text}
    assert val(e, ev) is want
    assert _Compiler(VARS, None, specialise=False).value(e)(ev, None) is want
    assert val(A.Like(n("x"), pattern, negated=True), ev) is (not want)
    assert val(e, {"x": 5}) is None and val(e, {}) is None
    assert cond(A.Like(n("x"), pattern, negated=True), {}) is False


def test_like_prefix_fast_path_uses_startswith() -> None:
    f = compile_condition(A.Like(n("x"), "abc%")).fn
    assert str.startswith in f.__defaults__  # type: ignore[operator]


def test_matches() -> None:
    e = A.Matches(n("x"), r"^\d{3}-\d+$")
    assert val(e, {"x": "123-45"}) is True
    assert val(e, {"x": "12-45"}) is False
    assert val(e, {"x": 12345}) is None
    assert val(A.Matches(n("x"), "b"), {"x": "abc"}) is True  # search, not fullmatch
    assert cond(NOT(A.Matches(n("x"), "b")), {"x": "xyz"}) is True
    assert cond(NOT(A.Matches(n("x"), "b")), {}) is False


def test_matches_compiles_the_regex_once(monkeypatch: pytest.MonkeyPatch) -> None:
    f = compile_condition(A.Matches(n("x"), "a+b")).fn
    calls = []
    monkeypatch.setattr(re, "compile", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(re, "search", lambda *a, **k: calls.append(a))
    assert [f({"x": s}, None) for s in ("aab", "b", "ab")] == [True, False, True]
    assert calls == []


@pytest.mark.parametrize(
    "regex", [r"(a+)+$", r"(a*)*b", r"(\w+\s?)*$", r"((ab)+c)*", r"(?:x|(a+))+", r"(a{1,5})+"]
)
def test_matches_rejects_nested_quantifiers(regex: str) -> None:
    assert _nested_quantifier(regex)
    node = A.Matches(n("x"), regex, A.Span(3, 14, 40))
    with pytest.raises(RuleTypeError) as info:
        compile_condition(node)
    assert (info.value.line, info.value.column) == (3, 14)
    assert "nests quantifiers" in info.value.message


@pytest.mark.parametrize(
    "regex", [r"(ab)+", r"a+b+", r"(a{2})*", r"(\d+\.){3}\d+", r"(a++)+", r"(?>a+)+", "x?y*"]
)
def test_matches_accepts_safe_quantifiers(regex: str) -> None:
    assert not _nested_quantifier(regex)
    compile_condition(A.Matches(n("x"), regex))


def test_matches_invalid_regex() -> None:
    with pytest.raises(RuleTypeError, match="invalid regex"):
        compile_condition(A.Matches(n("x"), "(ab", A.Span(1, 5, 4)))


# ---------------------------------------------------------------- names and nesting


def test_nested_paths() -> None:
    e = n("a.b.c")
    assert val(e, {"a": {"b": {"c": 7}}}) == 7
    for ev in ({}, {"a": None}, {"a": 5}, {"a": {"b": [1]}}, {"a": {"b": {}}}):
        assert val(e, ev) is None
    assert val(n("a.b"), {"a": {"b": "x"}}) == "x"
    assert val(n("a.b"), {"a": ["b"]}) is None


def test_variable_references() -> None:
    binds = Binds([("v", {"x": 1, "o": {"y": 2}}), ("w", {"x": 9}), ("v", {"x": 3})])
    assert val(n("v.x"), {}, binds, variables=VARS) == 3  # last bound event
    assert val(n("v.o.y"), {}, binds, variables=VARS) is None  # the last v has no o
    assert val(n("w.x"), {}, binds, variables=VARS) == 9
    assert val(n("w.x"), {}, Binds(), variables=VARS) is None  # nothing bound yet
    assert val(n("v"), {"v": 1}) == 1  # not a variable here: an attribute
    ce = compile_expr(n("x"), VARS)
    assert ce.uses_bindings is False and ce.fn({"x": 1}, None) == 1
    assert compile_expr(n("v.x"), VARS).uses_bindings is True


def test_current_variable_reads_the_event() -> None:
    """`a.price` inside a's own condition is the tested event: no bindings needed."""
    ce = compile_condition(b(">", n("a.price"), lit(5)), frozenset({"a"}), current="a")
    assert ce.uses_bindings is False
    assert ce.fn({"price": 6}, None) is True


def test_bare_variable_outside_count_is_an_error() -> None:
    with pytest.raises(RuleNameError) as info:
        compile_expr(b("=", A.Name(("v",), A.Span(2, 7, 9)), lit(1)), VARS)
    assert (info.value.line, info.value.column) == (2, 7)


# ---------------------------------------------------------------- aggregates


SMALL = [
    ("small", {"amount": 1, "country": "KR", "q": 2}),
    ("small", {"amount": 3, "country": "US", "q": None}),
    ("large", {"amount": 900, "country": "KR"}),
    ("small", {"amount": None, "country": "JP", "q": 4}),
]
SV = frozenset({"small", "large"})


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        (call("FIRST", n("small.country")), "KR"),
        (call("FIRST", n("small.country"), lit(1)), "US"),
        (call("FIRST", n("small.country"), lit(5)), None),
        (call("LAST", n("small.country")), "JP"),
        (call("LAST", n("small.country"), lit(1)), "US"),
        (call("COUNT", n("small")), 3),
        (call("COUNT", n("small.amount")), 2),
        (call("COUNT", n("small.nothing")), 0),
        (call("COUNT", A.Star()), 4),
        (call("SUM", n("small.amount")), 4),
        (call("AVG", n("small.amount")), 2.0),
        (call("MIN", n("small.country")), "JP"),
        (call("MAX", n("small.amount")), 3),
        (call("SUM", n("small.nothing")), None),
        (call("AVG", n("large.nothing")), None),
        (call("SUM", b("*", n("small.amount"), n("small.q"))), 2),
        (call("SUM", n("amount")), 904),  # unqualified: over all events of the match
        (call("FIRST", n("amount"), lit(2)), 900),
        (call("MAX", call("LOWER", n("small.country"))), "us"),
        (call("COUNT", n("nobody")), 0),
    ],
)
def test_aggregates(expr: A.Expr, want: object) -> None:
    got = val(expr, {}, Binds(SMALL), variables=SV)
    assert same(got, want)
    assert same(Ref({}, Binds(SMALL), SV).eval(expr), want)  # the oracle agrees too


def test_aggregates_of_empty_and_mistyped() -> None:
    empty = Binds()
    assert val(call("COUNT", n("v")), {}, empty, variables=VARS) == 0
    assert val(call("COUNT", n("v.x")), {}, empty, variables=VARS) == 0
    assert val(call("SUM", n("v.x")), {}, empty, variables=VARS) is None
    assert val(call("FIRST", n("v.x")), {}, empty, variables=VARS) is None
    mixed = Binds([("v", {"x": 1}), ("v", {"x": "2"})])
    assert val(call("SUM", n("v.x")), {}, mixed, variables=VARS) is None
    assert val(call("MAX", n("v.x")), {}, mixed, variables=VARS) is None
    bools = Binds([("v", {"x": True})])
    assert val(call("SUM", n("v.x")), {}, bools, variables=VARS) is None
    assert val(call("MIN", n("v.x")), {}, bools, variables=VARS) is None


def test_define_includes_the_current_row() -> None:
    """DEFINE a AS SUM(a.price) < 30: the runtime binds the tested event before asking."""
    e = b("<", call("SUM", n("a.price")), lit(30))
    ce = compile_condition(e, frozenset({"a"}), current="a")
    assert ce.uses_bindings is True
    ev = {"price": 15}
    assert ce.fn(ev, Binds([("a", {"price": 10}), ("a", ev)])) is True
    assert ce.fn(ev, Binds([("a", {"price": 20}), ("a", ev)])) is False


def test_card_testing_condition() -> None:
    e = b(
        "AND",
        b(">", n("amount"), lit(500)),
        b("=", n("country"), call("FIRST", n("small.country"))),
    )
    ce = compile_condition(e, SV, current="large")
    binds = Binds(SMALL[:2])
    assert ce.fn({"amount": 900, "country": "KR"}, binds) is True
    assert ce.fn({"amount": 900, "country": "US"}, binds) is False
    assert ce.fn({"amount": 900, "country": "KR"}, Binds()) is False  # FIRST of nothing: null


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        (call("SUM", n("small")), RuleTypeError),
        (call("SUM", b("+", n("small.amount"), n("large.amount"))), RuleTypeError),
        (call("SUM", b("+", n("small.amount"), n("amount"))), RuleTypeError),
        (call("SUM", call("COUNT", n("small"))), RuleTypeError),
        (call("FIRST", n("small.x"), lit(-1)), RuleTypeError),
        (call("FIRST", n("small.x"), lit(1.5)), RuleTypeError),
        (call("LAST", n("small.x"), n("n")), RuleTypeError),
        (call("SUM", A.Star()), RuleTypeError),
        (call("COUNT"), RuleTypeError),
        (call("LOWER"), RuleTypeError),
        (call("LOWER", lit("a"), lit("b")), RuleTypeError),
        (call("ROUND", lit(1), lit(2), lit(3)), RuleTypeError),
        (call("COALESCE"), RuleTypeError),
        (call("NOPE", lit(1)), RuleNameError),
        (b("=", A.Star(), lit(1)), RuleTypeError),
        (A.Contains(n("l"), "ONE", (lit("a"), lit("b"))), RuleTypeError),
    ],
)
def test_compile_errors(expr: A.Expr, error: type[Exception]) -> None:
    with pytest.raises(error):
        compile_expr(expr, SV)
    with pytest.raises(error):
        compile_condition(expr, SV)


# ---------------------------------------------------------------- scalar functions


@pytest.mark.parametrize(
    ("expr", "ev", "want"),
    [
        (call("LOWER", n("x")), {"x": "AbC"}, "abc"),
        (call("LOWER", n("x")), {"x": 5}, None),
        (call("UPPER", n("x")), {"x": "AbC"}, "ABC"),
        (call("ABS", n("x")), {"x": -2.5}, 2.5),
        (call("ABS", n("x")), {"x": True}, None),
        (call("LEN", n("x")), {"x": "abc"}, 3),
        (call("LEN", n("x")), {"x": [1, 2]}, 2),
        (call("LEN", n("x")), {"x": {"a": 1}}, 1),
        (call("LEN", n("x")), {"x": 5}, None),
        (call("COALESCE", n("x"), n("y"), lit(0)), {"y": 2}, 2),
        (call("COALESCE", n("x"), n("y"), lit(0)), {}, 0),
        (call("COALESCE", n("x")), {}, None),
        (call("ROUND", n("x")), {"x": 2.5}, 3),  # half away from zero
        (call("ROUND", n("x")), {"x": -2.5}, -3),
        (call("ROUND", n("x")), {"x": 2.4}, 2),
        (call("ROUND", n("x"), lit(2)), {"x": 2.675}, 2.68),  # decimal, not binary, halves
        (call("ROUND", n("x"), lit(-2)), {"x": 1250}, 1300),
        (call("ROUND", n("x"), lit(1)), {"x": 7}, 7),
        (call("ROUND", n("x"), n("d")), {"x": 1.25}, None),
        (call("ROUND", n("x")), {"x": "1.5"}, None),
        (call("ROUND", n("x")), {"x": float("inf")}, None),
        (call("FLOOR", n("x")), {"x": -1.5}, -2),
        (call("FLOOR", n("x")), {"x": 3}, 3),
        (call("CEIL", n("x")), {"x": 1.2}, 2),
        (call("CEIL", n("x")), {"x": float("inf")}, None),
        (call("FLOOR", n("x")), {"x": "1"}, None),
        (A.Call("lower", (n("x"),)), {"x": "Q"}, "q"),
    ],
)
def test_functions(expr: A.Expr, ev: dict, want: object) -> None:
    assert same(val(expr, ev), want)


# ---------------------------------------------------------------- API odds and ends


def test_runaway_nesting_is_a_limit_error() -> None:
    e: A.Expr = n("x")
    for _ in range(5000):
        e = A.Unary("-", e)
    with pytest.raises(RuleLimitError):
        compile_expr(e)
    chain: A.Expr = b("<", n("x"), lit(0))
    for i in range(5000):  # long AND chains are flattened, not recursed
        chain = b("AND", chain, b("!=", n("x"), lit(i)))
    assert cond(chain, {"x": -1}) is True


def test_condition_none_is_always_true() -> None:
    ce = compile_condition(None)
    assert isinstance(ce, CompiledExpr) and ce.uses_bindings is False
    assert ce.fn({}, None) is True


def test_constant_conditions() -> None:
    assert cond(b("<", lit(1), lit(2)), {}) is True
    assert cond(b("<", lit(1), lit(None)), {}) is False
    assert cond(NOT(b("<", lit(1), lit(None))), {}) is False
    assert cond(n("flag"), {"flag": True}) is True
    assert cond(n("flag"), {"flag": 1}) is False
    assert cond(NOT(n("flag")), {"flag": False}) is True
    assert cond(b("=", n("flag"), lit(True)), {"flag": True}) is True
    assert cond(b("!=", n("flag"), lit(True)), {"flag": False}) is True
    assert cond(b("!=", n("flag"), lit(True)), {}) is False


def test_no_eval_or_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise AssertionError("eval/exec used")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    e = b("AND", b(">", n("amount"), lit(500)), A.Like(n("c"), "K%"))
    assert cond(e, {"amount": 600, "c": "KR"}) is True
    assert val(call("SUM", n("v.x")), {}, Binds([("v", {"x": 2})]), variables=VARS) == 2


def test_referenced_names() -> None:
    e = b(
        "AND",
        b(">", n("amount"), call("SUM", n("small.amount"))),
        b("OR", b("=", n("geo.country"), n("large.country")), b("<", n("a.x"), lit(1))),
    )
    assert referenced_variables(e, SV | {"a"}) == frozenset({"small", "large", "a"})
    assert referenced_attributes(e, SV | {"a"}) == frozenset({("amount",), ("geo", "country")})
    assert referenced_attributes(e, SV | {"a"}, current="a") == frozenset(
        {("amount",), ("geo", "country"), ("x",)}
    )
    assert referenced_attributes(e, SV) == frozenset({("amount",), ("geo", "country"), ("a", "x")})
    assert referenced_variables(call("COUNT", A.Star()), SV) == frozenset()


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (b("*", b("+", n("a"), n("b")), n("c")), "(a + b) * c"),
        (b("-", n("a"), b("-", n("b"), n("c"))), "a - (b - c)"),
        (b("-", b("-", n("a"), n("b")), n("c")), "a - b - c"),
        (NOT(b("AND", n("a"), n("b"))), "NOT (a AND b)"),
        (b("OR", b("AND", n("a"), n("b")), n("c")), "a AND b OR c"),
        (b("AND", b("OR", n("a"), n("b")), n("c")), "(a OR b) AND c"),
        (b("=", n("s"), lit("it's")), "s = 'it''s'"),
        (A.Between(n("x"), lit(1), lit(2), negated=True), "x NOT BETWEEN 1 AND 2"),
        (A.InList(n("c"), (lit("KR"), lit(None))), "c IN ('KR', NULL)"),
        (A.IsNull(n("x"), negated=True), "x IS NOT NULL"),
        (A.Contains(n("f"), "ALL", (lit("a"), lit("b"))), "f CONTAINS ALL ('a', 'b')"),
        (A.Contains(n("f"), "ONE", (lit("a"),)), "f CONTAINS 'a'"),
        (A.Like(n("x"), "a%"), "x LIKE 'a%'"),
        (A.Matches(n("x"), "^a"), "x MATCHES '^a'"),
        (call("COUNT", A.Star()), "COUNT(*)"),
        (b("=", n("flag"), lit(True)), "flag = TRUE"),
        (A.Unary("-", b("+", n("a"), lit(1))), "-(a + 1)"),
    ],
)
def test_fallback_printer(expr: A.Expr, text: str) -> None:
    assert _to_text(expr) == text
    assert compile_expr(expr, SV).source  # whichever printer is installed, non-empty


# ---------------------------------------------------------------- micro-benchmark


def _bench(n_evals: int = 1_000_000) -> None:  # pragma: no cover - manual
    import time

    cases = {
        "amount < 5": (b("<", n("amount"), lit(5)), {"amount": 3.5, "country": "KR"}),
        "amount > 500 AND country = 'KR'": (
            b("AND", b(">", n("amount"), lit(500)), b("=", n("country"), lit("KR"))),
            {"amount": 900, "country": "KR"},
        ),
    }

    def empty(ev: dict, bb: object) -> None:
        return None

    def loop(f: object, ev: dict) -> float:
        t0 = time.perf_counter()
        for _ in range(n_evals):
            f(ev, None)  # type: ignore[operator]
        return (time.perf_counter() - t0) * 1e9 / n_evals

    base = min(loop(empty, {}) for _ in range(3))
    print(f"loop + call of an empty function: {base:.0f} ns")
    for name, (expr, ev) in cases.items():
        fast = compile_condition(expr).fn
        generic = _Compiler(frozenset(), None, specialise=False).true(expr)
        tf = min(loop(fast, ev) for _ in range(3))
        tg = min(loop(generic, ev) for _ in range(3))
        print(f"{name:34s} compiled {tf:6.0f} ns/eval   generic {tg:6.0f} ns/eval")


if __name__ == "__main__":  # pragma: no cover
    _bench()
