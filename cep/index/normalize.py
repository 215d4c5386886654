"""First-step conditions → OR-of-ANDs of typed atoms: what the attribute index can hold.

Why a normal form. The index answers "which conjunctions does this event satisfy" with set
algebra per attribute, so every condition is rewritten, once at registration, into a
disjunction of conjunctions of *atoms*, each an exact statement about one attribute under
the language's three-valued semantics (`docs/language.md`, `cep.lang.expr`):

    ("eq",   path, ((fam, value), ...))   value of the attribute equals one of these
    ("ne",   path, fam, (value, ...))     of family `fam` and equal to none of these
    ("lo",   path, fam, c, strict, nan)   of family `fam` and >= c (> c when strict)
    ("hi",   path, fam, c, strict, nan)   of family `fam` and <= c (< c when strict)
    ("type", path, fam)                   of family `fam` (a necessary condition)
    ("has",  path, needle)                a list holding the string `needle`
    ("pre",  path, prefix)                a string starting with `prefix`
    ("sub",  path, gram)                  a string containing `gram` (pre-filter only)
    ("null", path) / ("nn", path)         IS NULL / IS NOT NULL
    ("res",  expr, want, binds)           anything else: verified by a compiled closure

Families: "s" str, "n" int/float (not bool), "b" bool, "l" list. `nan` marks bounds that
came from a negation (`NOT x < 5` is TRUE for a NaN, `x >= 5` is not). NOT is pushed down
with De Morgan over Kleene logic exactly as `_Compiler.true/false` do, so a missing
attribute satisfies only `null`. Expansion is bounded (`MAX_CONJUNCTIONS`): a condition too
big to expand becomes one conjunction holding a single residual atom ("always verified").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from cep.lang import ast
from cep.lang.expr import AGGREGATES, compile_expr

__all__ = [
    "MAX_CONJUNCTIONS",
    "MAX_IN_VALUES",
    "Atom",
    "Conj",
    "family",
    "normalize",
    "regex_literal",
]

Atom = tuple
Conj = tuple[Atom, ...]

MAX_CONJUNCTIONS = 64  # per condition; beyond this the condition is verified, not indexed
MAX_IN_VALUES = 1024  # longer IN lists are verified (their masks would cost too much)
MAX_ANY_SPLIT = 16  # CONTAINS ANY with more needles is verified after a list-type filter
MAX_DEPTH = 200


class _TooBig(Exception):
    """The expansion would exceed MAX_CONJUNCTIONS (or the tree is too deep)."""


def family(v: object) -> str | None:
    """The comparison family of a literal value (None for NULL and non-literals)."""
    t = type(v)
    if t is str:
        return "s"
    if t is int or t is float:
        return "n"
    if t is bool:
        return "b"
    return None


def _children(e: Any) -> tuple:
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


def _is_const(e: Any) -> bool:
    stack = [e]
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.Name, ast.Star)):
            return False
        if isinstance(n, ast.Call) and n.func.upper() in AGGREGATES:
            return False
        stack.extend(_children(n))
    return True


def _const(e: Any) -> tuple[bool, object]:
    """(True, value) when `e` is a constant (folded like the compiler does)."""
    t = type(e)
    if t is ast.Literal:
        return True, e.value
    if t is ast.Name:
        return False, None
    if t is ast.Unary and type(e.operand) is ast.Literal and e.op == "-":
        v = e.operand.value
        if type(v) is int or type(v) is float:  # the common negative literal
            return True, -v
    if _is_const(e):
        try:
            return True, compile_expr(e).fn({}, None)
        except Exception:  # an invalid constant: let the residual closure report it
            return False, None
    return False, None


def regex_literal(regex: str) -> str:
    """The longest literal run every match of `regex` must contain ('' when none is sure)."""
    try:
        from re import _constants as c
        from re import _parser as p

        parsed = p.parse(regex)
    except Exception:
        return ""
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return ""
    best = run = ""
    for op, av in parsed:
        if op is c.LITERAL:
            run += chr(av)
            if len(run) > len(best):
                best = run
        elif op is c.AT:
            continue  # zero width: keeps the run contiguous
        else:
            run = ""
    return best


def _like_literal(pattern: str) -> str:
    """Longest wildcard-free run of a LIKE pattern."""
    return max(re.split(r"[%_]", pattern), key=len)


class _Normalizer:
    """Pushes NOT down and expands AND over OR for one condition."""

    def __init__(self, variables: frozenset[str], current: str | None) -> None:
        self.variables = variables
        self.current = current

    def attr(self, e: Any) -> tuple[str, ...] | None:
        """The current event's attribute path of a Name (None: a binding or not a Name)."""
        if not isinstance(e, ast.Name):
            return None
        head = e.parts[0]
        if self.current is not None and head == self.current:
            return e.parts[1:] if len(e.parts) > 1 else None
        if head in self.variables:
            return None
        return e.parts

    def reads_bindings(self, e: Any) -> bool:
        stack = [e]
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Call) and n.func.upper() in AGGREGATES:
                return True
            if isinstance(n, ast.Name):
                head = n.parts[0]
                if head in self.variables and head != self.current:
                    return True
            stack.extend(_children(n))
        return False

    def residual(self, e: Any, want: bool, pre: Iterable[Atom] = ()) -> list[Conj]:
        return [(*pre, ("res", e, want, self.reads_bindings(e)))]

    def run(self, e: Any, want: bool, depth: int = 0) -> list[Conj]:
        if depth > MAX_DEPTH:
            raise _TooBig
        if isinstance(e, ast.Binary) and e.op.upper() in ("AND", "OR"):
            # no folding of AND/OR as a whole: their operands fold, and strict TRUE/FALSE
            # modes compose over Kleene logic (the compiler's `_strict` gives the same)
            parts = (e.left, e.right)
            if (e.op.upper() == "AND") == want:
                out: list[Conj] = [()]
                for p in parts:
                    sub = self.run(p, want, depth + 1)
                    if len(out) * len(sub) > MAX_CONJUNCTIONS:
                        raise _TooBig
                    out = [a + b for a in out for b in sub]
                return out
            out = []
            for p in parts:
                out.extend(self.run(p, want, depth + 1))
                if len(out) > MAX_CONJUNCTIONS:
                    raise _TooBig
            return out
        if isinstance(e, ast.Unary) and e.op.upper() == "NOT":
            return self.run(e.operand, not want, depth + 1)
        ok, c = _const(e)
        if ok:
            return [()] if c is want else []
        if isinstance(e, ast.Binary):
            op = e.op.upper()
            if op in _FLIP:
                return self.compare(e, op, want)
            return self.residual(e, want)
        if isinstance(e, ast.Name):
            path = self.attr(e)
            if path is None:
                return self.residual(e, want)
            return [(("eq", path, (("b", want),)),)]
        if isinstance(e, ast.Between):
            return self.between(e, want, depth)
        if isinstance(e, ast.InList):
            return self.in_list(e, want)
        if isinstance(e, ast.IsNull):
            path = self.attr(e.operand)
            if path is None:
                return self.residual(e, want)
            return [((("null" if want != e.negated else "nn"), path),)]
        if isinstance(e, ast.Contains):
            return self.contains(e, want)
        if isinstance(e, ast.Like):
            return self.like(e, want)
        if isinstance(e, ast.Matches):
            return self.matches(e, want)
        return self.residual(e, want)

    def compare(self, e: ast.Binary, op: str, want: bool) -> list[Conj]:
        lk, lc = _const(e.left)
        rk, rc = _const(e.right)
        if lk == rk:
            return self.residual(e, want)
        operand = e.right if lk else e.left
        c = lc if lk else rc
        if lk:
            op = _FLIP[op]
        if c is None:
            return []  # comparing with NULL is never TRUE nor FALSE
        path = self.attr(operand)
        fam = family(c)
        if path is None or fam is None or (fam == "n" and c != c):  # NaN (isnan fails on huge ints)
            return self.residual(e, want)
        if fam == "b":
            if op not in ("=", "!="):
                return []  # booleans are not ordered: always unknown
            val = c if (op == "=") == want else not c
            return [(("eq", path, (("b", val),)),)]
        if not want:
            op = _NEGATE[op]
        if op == "=":
            return [(("eq", path, ((fam, c),)),)]
        if op == "!=":
            return [(("ne", path, fam, (c,)),)]
        nan = fam == "n" and not want
        if op in ("<", "<="):
            return [(("hi", path, fam, c, op == "<", nan),)]
        return [(("lo", path, fam, c, op == ">", nan),)]

    def between(self, e: ast.Between, want: bool, depth: int) -> list[Conj]:
        if self.attr(e.operand) is None or not (_const(e.low)[0] and _const(e.high)[0]):
            return self.residual(e, want)
        both = ast.Binary(
            "AND", ast.Binary(">=", e.operand, e.low), ast.Binary("<=", e.operand, e.high)
        )
        return self.run(both, want != e.negated, depth + 1)

    def in_list(self, e: ast.InList, raw: bool) -> list[Conj]:
        path = self.attr(e.operand)
        consts = [_const(it) for it in e.items]
        if path is None or not e.items or not all(ok for ok, _ in consts):
            return self.residual(e, raw)
        if len(e.items) > MAX_IN_VALUES:
            return self.residual(e, raw)
        want = raw != e.negated
        vals = [c for _, c in consts]
        present = [c for c in vals if c is not None]
        fams = [family(c) for c in present]
        if any(f is None or (f == "n" and c != c) for f, c in zip(fams, present)):  # type: ignore[arg-type]
            return self.residual(e, raw)
        if want:
            keyed = tuple(dict.fromkeys((f, c) for f, c in zip(fams, present)))
            return [(("eq", path, keyed),)] if keyed else []
        if len(present) != len(vals) or len(set(fams)) != 1:
            return []  # a NULL item, or items of several families: never FALSE
        return [(("ne", path, fams[0], tuple(dict.fromkeys(present))),)]

    def contains(self, e: ast.Contains, want: bool) -> list[Conj]:
        path = self.attr(e.operand)
        if path is None:
            return self.residual(e, want)
        consts = [_const(it) for it in e.items]
        mode = e.mode.upper()
        strs = all(ok and type(c) is str for ok, c in consts) and bool(consts)
        if not want or not strs or mode not in ("ONE", "ALL", "ANY"):
            return self.residual(e, want, [("type", path, "l")])
        needles = tuple(dict.fromkeys(c for _, c in consts))
        if mode == "ANY":
            if len(needles) > MAX_ANY_SPLIT:
                return self.residual(e, want, [("type", path, "l")])
            return [(("has", path, n),) for n in needles]
        return [tuple(("has", path, n) for n in needles)]

    def like(self, e: ast.Like, raw: bool) -> list[Conj]:
        path = self.attr(e.operand)
        if path is None:
            return self.residual(e, raw)
        want = raw != e.negated
        pat = e.pattern
        if want and "_" not in pat:
            inner = pat.strip("%")
            if "%" not in inner:
                lead = pat.startswith("%")
                trail = pat.endswith("%") and len(pat) > len(inner) + lead
                if not inner:
                    return [(("type", path, "s"),)] if pat else [(("eq", path, (("s", ""),)),)]
                if trail and not lead:
                    return [(("pre", path, inner),)]
                if not lead and not trail:
                    return [(("eq", path, (("s", inner),)),)]
        node = ast.Like(e.operand, pat, False)
        pre: list[Atom] = [("type", path, "s")]
        lit = _like_literal(pat) if want else ""
        if lit:
            pre.append(("sub", path, lit[:3]))
        return self.residual(node, want, pre)

    def matches(self, e: ast.Matches, want: bool) -> list[Conj]:
        path = self.attr(e.operand)
        if path is None:
            return self.residual(e, want)
        pre: list[Atom] = [("type", path, "s")]
        lit = regex_literal(e.regex) if want else ""
        if lit:
            pre.append(("sub", path, lit[:3]))
        return self.residual(e, want, pre)


_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NEGATE = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _simplify(conj: Conj) -> Conj | None:
    """Merge atoms on one attribute (one eq set, one ne set, tightest bounds); None: never true."""
    eqs: dict[tuple, tuple] = {}
    nes: dict[tuple, tuple] = {}
    los: dict[tuple, Atom] = {}
    his: dict[tuple, Atom] = {}
    rest: list[Atom] = []
    for a in conj:
        k = a[0]
        if k == "eq":
            prev = eqs.get(a[1])
            vals = a[2] if prev is None else tuple(v for v in prev if v in set(a[2]))
            if not vals:
                return None
            eqs[a[1]] = vals
        elif k == "ne":
            prev = nes.get(a[1])
            if prev is not None and prev[0] != a[2]:
                return None  # two families required of one value
            nes[a[1]] = (a[2], tuple(dict.fromkeys((*(prev[1] if prev else ()), *a[3]))))
        elif k in ("lo", "hi"):
            table = los if k == "lo" else his
            key = (a[1], a[2])
            if any(p[1] == a[1] and p[2] != a[2] for p in table.values()):
                return None
            prev = table.get(key)
            if prev is None:
                table[key] = a
                continue
            tighter = a[3] > prev[3] if k == "lo" else a[3] < prev[3]
            if a[3] == prev[3]:
                table[key] = (k, a[1], a[2], a[3], a[4] or prev[4], a[5] and prev[5])
            else:
                best = a if tighter else prev
                table[key] = (k, a[1], a[2], best[3], best[4], a[5] and prev[5])
        elif a not in rest:
            rest.append(a)
    out: list[Atom] = [("eq", p, v) for p, v in eqs.items()]
    out += [("ne", p, f, v) for p, (f, v) in nes.items()]
    out += list(los.values()) + list(his.values()) + rest
    nulls = {a[1] for a in out if a[0] == "null"}
    if nulls and any(a[0] != "null" and a[0] != "res" and a[1] in nulls for a in out):
        return None  # IS NULL and any other test of the same attribute
    return tuple(out)


def normalize(
    expr: Any, variables: frozenset[str] = frozenset(), current: str | None = None
) -> tuple[list[Conj], bool]:
    """OR-of-ANDs for `expr` (None: always true); the flag says the expansion overflowed."""
    if expr is None:
        return [()], False
    n = _Normalizer(variables, current)
    try:
        conjs = n.run(expr, True)
    except (_TooBig, RecursionError):
        return [(("res", expr, True, n.reads_bindings(expr)),)], True
    out = []
    seen = set()
    for c in conjs:
        s = _simplify(c)
        if s is not None:
            try:
                key = hash(s)
            except TypeError:
                key = id(s)
            if key not in seen:
                seen.add(key)
                out.append(s)
    return out, False
