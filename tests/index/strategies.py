"""Random conditions (as rule text) and events for the attribute-index property tests.

Values are drawn from small pools around the boundaries the literals use, with nulls,
missing attributes, lists, objects, booleans, mixed int/float and strings, so that every
atom kind meets values of every family.
"""

from __future__ import annotations

from hypothesis import strategies as st

ATTRS = ("a", "b", "c")
NUMS = ("-1", "0", "1", "2", "2.5", "3", "1.0", "-0.5")
STRS = ("'a'", "'ab'", "'b'", "''", "'abc'")
LITS = (*NUMS, *STRS, "TRUE", "FALSE", "NULL")
PATTERNS = ("'a%'", "'%b'", "'a_'", "'%'", "''", "'ab'", "'%a%'", "'ab%'", "'a%c'")
REGEXES = ("'a+b'", "'^a'", "'b$'", "'abc'", "'(?i)AB'", "'x|ab'")

VALUES = st.sampled_from(
    [
        None,
        -1,
        0,
        1,
        2,
        3,
        2.5,
        1.0,
        -0.5,
        0.0,
        True,
        False,
        "a",
        "ab",
        "abc",
        "b",
        "",
        "ba",
        ["a", "b"],
        [],
        ["ab"],
        ["a", 1],
        [1, 2],
        {"x": 1},
        float("nan"),
    ]
)


def _attr() -> st.SearchStrategy[str]:
    return st.sampled_from([*ATTRS, "o.x"])


@st.composite
def leaf(draw: st.DrawFn) -> str:
    """One predicate."""
    a = draw(_attr())
    kind = draw(st.integers(0, 13))
    lit = draw(st.sampled_from(LITS))
    if kind == 0:
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        return f"{a} {op} {lit}"
    if kind == 1:
        op = draw(st.sampled_from(["=", "!=", "<", ">="]))
        return f"{lit} {op} {a}"
    if kind == 2:
        lo, hi = draw(st.sampled_from(NUMS)), draw(st.sampled_from(NUMS))
        neg = draw(st.sampled_from(["", "NOT "]))
        return f"{a} {neg}BETWEEN {lo} AND {hi}"
    if kind == 3:
        items = draw(st.lists(st.sampled_from(LITS), min_size=1, max_size=4))
        neg = draw(st.sampled_from(["", "NOT "]))
        return f"{a} {neg}IN ({', '.join(items)})"
    if kind == 4:
        return f"{a} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if kind == 5:
        mode = draw(st.sampled_from(["", "ALL ", "ANY "]))
        items = draw(st.lists(st.sampled_from(["'a'", "'b'", "'ab'", "1"]), min_size=1, max_size=3))
        body = items[0] if not mode else f"({', '.join(items)})"
        return f"l CONTAINS {mode}{body}"
    if kind == 6:
        neg = draw(st.sampled_from(["", "NOT "]))
        return f"{a} {neg}LIKE {draw(st.sampled_from(PATTERNS))}"
    if kind == 7:
        return f"{a} MATCHES {draw(st.sampled_from(REGEXES))}"
    if kind == 8:
        return a
    if kind == 9:
        return f"{a} + 1 > {draw(st.sampled_from(NUMS))}"
    if kind == 10:
        return f"LOWER({a}) = 'ab'"
    if kind == 11:
        return "TRUE" if draw(st.booleans()) else "FALSE"
    if kind == 12:
        return f"{a} = {draw(st.sampled_from(ATTRS))}"
    return f"{a} IN ({', '.join(draw(st.lists(st.sampled_from(NUMS), min_size=1, max_size=3)))})"


def condition(max_leaves: int = 6) -> st.SearchStrategy[str]:
    """A boolean tree of predicates."""
    return st.recursive(
        leaf(),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda x: f"NOT ({x})"),
        ),
        max_leaves=max_leaves,
    )


@st.composite
def event(draw: st.DrawFn) -> dict:
    """An event with a random subset of the attributes."""
    ev: dict = {}
    for a in (*ATTRS, "l", "k"):
        if draw(st.booleans()):
            ev[a] = draw(VALUES)
    if draw(st.integers(0, 3)) == 0:
        ev["o"] = {"x": draw(VALUES)} if draw(st.booleans()) else draw(VALUES)
    ev["k"] = draw(st.integers(0, 2))
    return ev
