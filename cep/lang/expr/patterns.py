"""LIKE and MATCHES: pattern tests, regex compilation and the ReDoS guard.

LIKE patterns become a (test, arg) pair with string-method fast paths for the simple
shapes (`prefix%`, `%infix%`, ...) and an anchored regex otherwise. MATCHES regexes are
compiled once at compile time and rejected when they nest quantifiers
(`_nested_quantifier`), the classic catastrophic-backtracking shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from cep.errors import RuleTypeError
from cep.lang import ast
from cep.lang.expr.values import _err

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
