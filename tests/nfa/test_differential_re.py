"""Differential test: strict patterns must match exactly like Python's `re.finditer`.

The language contract says that for patterns made of one-letter variables, strict
contiguity, quantifiers (greedy and reluctant), alternation and grouping, the matches of a
partition equal `re.finditer` over the partition's events written as letters; `p -> v`
behaves like `p[^v]*v` and `p -> !c -> v` like `p[^vc]*v`.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cep.lang import ast as A

from .harness import V, run_letters, seq


def to_regex(p: A.Pattern) -> str:
    """The Perl-style regex equivalent of a strict pattern."""
    if isinstance(p, A.PVar):
        return p.name
    if isinstance(p, A.PSeq):
        return "".join(f"(?:{to_regex(i)})" for i in p.items)
    if isinstance(p, A.PAlt):
        return "(?:" + "|".join(to_regex(o) for o in p.options) + ")"
    assert isinstance(p, A.PQuant)
    hi = "" if p.max is None else str(p.max)
    q = f"{{{p.min},{hi}}}" if p.max != p.min else f"{{{p.min}}}"
    return f"(?:{to_regex(p.body)}){q}{'' if p.greedy else '?'}"


letters = st.sampled_from("abc").map(V)


def extend(children: st.SearchStrategy) -> st.SearchStrategy:
    quant = st.tuples(
        children, st.integers(0, 3), st.integers(0, 3) | st.none(), st.booleans()
    ).map(lambda t: A.PQuant(t[0], t[1], None if t[2] is None else max(t[1], t[2], 1), t[3]))
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda xs: seq(*xs)),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: A.PAlt(tuple(xs))),
        quant,
    )


patterns = st.recursive(letters, extend, max_leaves=6)


def nullable(rx: str) -> bool:
    return re.fullmatch(rx, "") is not None


def has_nullable_loop(p: A.Pattern) -> bool:
    """Loops over bodies that can match empty differ between engines on empty iterations."""
    if isinstance(p, A.PQuant):
        return nullable(to_regex(p.body)) or has_nullable_loop(p.body)
    if isinstance(p, A.PSeq):
        return any(has_nullable_loop(i) for i in p.items)
    if isinstance(p, A.PAlt):
        return any(has_nullable_loop(o) for o in p.options)
    return False


@settings(max_examples=600, deadline=None)
@given(patterns, st.text(alphabet="abc", max_size=14))
def test_strict_patterns_equal_re_finditer(pattern: A.Pattern, text: str) -> None:
    rx = to_regex(pattern)
    if nullable(rx) or has_nullable_loop(pattern):
        return  # the checker rejects empty-matching patterns
    got = [(s, e) for s, e, _, _ in run_letters(pattern, text)[0]]
    want = [(m.start(), m.end()) for m in re.finditer(rx, text)]
    assert got == want, (rx, text)


strict_prefix = st.recursive(letters, extend, max_leaves=3)


@settings(max_examples=300, deadline=None)
@given(strict_prefix, st.sampled_from("abc"), st.text(alphabet="abc", max_size=14))
def test_skip_till_next_equals_negated_class(p: A.Pattern, v: str, text: str) -> None:
    rx = f"(?:{to_regex(p)})[^{v}]*{v}"
    if nullable(to_regex(p)) or has_nullable_loop(p):
        return
    got = [(s, e) for s, e, _, _ in run_letters(seq(p, V(v), joins=["->"]), text)[0]]
    want = [(m.start(), m.end()) for m in re.finditer(rx, text)]
    assert got == want, (rx, text)


@settings(max_examples=300, deadline=None)
@given(
    strict_prefix,
    st.sampled_from("abc"),
    st.sampled_from("abc"),
    st.text(alphabet="abc", max_size=14),
)
def test_negation_equals_negated_class(p: A.Pattern, v: str, c: str, text: str) -> None:
    if v == c:
        return
    rx = f"(?:{to_regex(p)})[^{v}{c}]*{v}"
    if nullable(to_regex(p)) or has_nullable_loop(p):
        return
    pat = seq(p, A.PNot(c), V(v), joins=["->", "->"])
    got = [(s, e) for s, e, _, _ in run_letters(pat, text)[0]]
    want = [(m.start(), m.end()) for m in re.finditer(rx, text)]
    assert got == want, (rx, text)
