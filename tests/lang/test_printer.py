"""Printer tests: canonical text, and the round trip parse(to_text(x)) == x.

The round trip is checked on hand-written statements covering every construct and on random
trees (expressions, patterns and whole statements) drawn by hypothesis strategies, which
include reserved and odd names, negative-looking operands and nested same-kind nodes.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.lang import ast as A
from cep.lang.grammar import RESERVED
from cep.lang.parser import parse, parse_expression, parse_pattern, parse_statement
from cep.lang.printer import format_duration, quote_name, to_text

ROUND_TRIP = [
    "STREAM s",
    'STREAM payments (card_id STRING, amount NUMBER, tags LIST, user.id INT, "key" ANY) '
    "KEY card_id TIME meta.ts WATERMARK 0ms LATE EVENTS TO late",
    """RULE card_testing
FROM payments
PARTITION BY card_id
PATTERN (small{3,} large)
DEFINE
  small AS amount < 5,
  large AS amount > 500 AND country = FIRST(small.country)
WITHIN 10m
EMIT card_id, COUNT(small) AS attempts, large.amount AS amount
THEN WEBHOOK 'https://fraud.example.com/hooks/card-testing'""",
    """SEARCH seoul_family
FROM listings
WHERE city = 'Seoul' AND price BETWEEN 300000 AND 500000 AND rooms >= 3
  AND features CONTAINS ALL ('parking', 'elevator')
THEN WEBHOOK 'https://homes.example.com/notify/u/123'""",
    "RULE r FROM a, b AS bb, c cc PARTITION BY k, u.id PATTERN (x -> !n -> y ->> z) "
    "DEFINE x AS v > 1, y FROM b, z FROM c WHERE w = 2, n AS TRUE WITHIN 90s ON TIMEOUT EMIT "
    "AFTER MATCH SKIP TO NEXT ROW EMIT x.v AS first_v, COUNT(*), SUM(y.q) / 2 "
    "THEN WEBHOOK 'u' SECRET 's', EMIT INTO out",
    "RULE r FROM s PATTERN ((a b)+? | c?? d* e+ f{2} g{2,} h{,3} i{1,4}? j->+ k->>* l->{2,5}?) "
    "AFTER MATCH SKIP TO FIRST a",
    "RULE r FROM s PATTERN ((a | b) | c (d e) ((f))) AFTER MATCH SKIP TO LAST c",
    "RULE r FROM s PATTERN (a) DEFINE a AS NOT (x OR y) AND -(p + q) * r % 2 >= -(-1) "
    "AND (a = b) = c AND x NOT BETWEEN 1 AND 2 + 3 AND y NOT IN ('a', 'b''c') "
    "AND z IS NOT NULL AND t CONTAINS (ALL(1)) AND t CONTAINS all AND u NOT LIKE '%x_' "
    'AND v MATCHES \'^a+$\' AND lower(w) <> upper("from"."key") AND coalesce(a, 1.5e-07) < 1e+16',
    'SEARCH "select" FROM "from" WHERE a - (b - c) = a - b - c OR d / (e * f) > 0 EMIT x AS "as"',
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip_hand_written(text: str):
    stmt = parse_statement(text)
    printed = to_text(stmt)
    assert parse_statement(printed) == stmt
    assert repr(parse_statement(printed)) == repr(stmt)  # also literal types (1 vs 1.0)
    assert to_text(parse_statement(printed)) == printed  # canonical text is a fixed point


def test_round_trip_script():
    script = parse(";\n".join(ROUND_TRIP), "x.cep")
    text = to_text(script)
    assert parse(text, "x.cep") == script
    assert text.endswith(";\n") and text.count(";\n\n") == len(ROUND_TRIP) - 1


def test_canonical_rule_text():
    stmt = parse_statement(
        "rule r from s a partition by k pattern ( x  ->+ y ) define x as a.b>1 and not c "
        "within 1 HOUR on timeout emit emit x.b as \"B\" then webhook 'it''s'"
    )
    assert to_text(stmt) == (
        "RULE r\n"
        "FROM s AS a\n"
        "PARTITION BY k\n"
        "PATTERN (x->+ y)\n"
        "DEFINE\n"
        "  x AS a.b > 1 AND NOT c\n"
        "WITHIN 1h ON TIMEOUT EMIT\n"
        "EMIT x.b AS B\n"
        "THEN WEBHOOK 'it''s'"
    )


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("((a + b)) * c", "(a + b) * c"),
        ("a + (b * c)", "a + b * c"),
        ("(a - b) - c", "a - b - c"),
        ("a - (b - c)", "a - (b - c)"),
        ("(a AND b) OR c", "a AND b OR c"),
        ("a AND (b OR c)", "a AND (b OR c)"),
        ("a AND (b AND c)", "a AND (b AND c)"),
        ("NOT (a = 1)", "NOT a = 1"),
        ("(NOT a) = 1", "(NOT a) = 1"),
        ("-(a * b)", "-(a * b)"),
        ("(-a) * b", "-a * b"),
        ("- - a", "-(-a)"),
        ("a - -b", "a - -b"),
        ("x <> 'y'", "x != 'y'"),
        ("x between 1 and (2)", "x BETWEEN 1 AND 2"),
        ("x in (1,2)", "x IN (1, 2)"),
        ("count( * )", "COUNT(*)"),
        ('"a" = "from"', 'a = "from"'),
        ("t CONTAINS (all(1))", "t CONTAINS (ALL(1))"),
        ("1_000 + 2.50 + 1E3", "1000 + 2.5 + 1000.0"),
    ],
)
def test_canonical_expressions(text: str, canonical: str):
    assert to_text(parse_expression(text)) == canonical


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("a  b", "a b"),
        ("(a)", "a"),
        ("a{0,1}", "a?"),
        ("a{0,}", "a*"),
        ("a{1,}", "a+"),
        ("a{,3}", "a{0,3}"),
        ("a{3,3}", "a{3}"),
        ("a->{1,}", "a->+"),
        ("a->{0,1}", "a->{0,1}"),
        ("(a b) c", "(a b) c"),
        ("(a | b) c", "(a | b) c"),
        ("a | (b c)", "a | b c"),
        ("(a+)*", "(a+)*"),
    ],
)
def test_canonical_patterns(text: str, canonical: str):
    assert to_text(parse_pattern(text)) == canonical


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (600_000, "10m"),
        (1500, "1500ms"),
        (1000, "1s"),
        (90_000, "90s"),
        (86_400_000, "1d"),
        (7_200_000, "2h"),
        (1, "1ms"),
        (0, "0ms"),
        (3_600_001, "3600001ms"),
    ],
)
def test_durations_in_largest_exact_unit(ms: int, text: str):
    assert format_duration(ms) == text


def test_quote_name():
    assert quote_name("abc_1") == "abc_1"
    assert quote_name("from") == '"from"'
    assert quote_name("a b") == '"a b"'
    assert quote_name('say "hi"') == '"say ""hi"""'
    assert quote_name("1a") == '"1a"'


def test_unprintable_values_fail_loudly():
    with pytest.raises(ValueError):
        to_text(A.Literal(math.inf))
    with pytest.raises(TypeError):
        to_text(object())


# ---------------------------------------------------------------- random trees

_PLAIN = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
NAMES = st.one_of(
    _PLAIN,
    st.sampled_from(sorted(RESERVED)),
    st.sampled_from(["all", "ANY", "key", "count", "first", "a b", "x-y", 'q"q', "1x", "é"]),
)
FUNCS = st.one_of(
    st.sampled_from(["LOWER", "COUNT", "SUM", "FIRST", "ALL", "ANY", "KEY", "F_1"]),
    _PLAIN.map(str.upper).filter(lambda f: f not in RESERVED),
)
NUMBERS = st.one_of(
    st.integers(0, 10**20),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).filter(
        lambda x: math.copysign(1, x) > 0
    ),
)
LITERALS = st.builds(
    A.Literal, st.one_of(st.text(max_size=8), NUMBERS, st.sampled_from([True, False, None]))
)


def _exprs(children: st.SearchStrategy[A.Expr]) -> st.SearchStrategy[A.Expr]:
    items = st.lists(children, min_size=1, max_size=3).map(tuple)
    ops = ["AND", "OR", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"]
    unary = st.builds(A.Unary, st.sampled_from(["NOT", "-"]), children)
    binary = st.builds(A.Binary, st.sampled_from(ops), children, children)
    return st.one_of(
        unary,
        binary,
        # same-kind nesting on either side, where parentheses matter most
        st.builds(A.Binary, st.sampled_from(ops), binary, binary),
        st.builds(A.Unary, st.sampled_from(["NOT", "-"]), unary),
        st.builds(A.Between, children, children, children, st.booleans()),
        st.builds(A.InList, children, items, st.booleans()),
        st.builds(A.IsNull, children, st.booleans()),
        st.builds(A.Contains, children, st.just("ONE"), children.map(lambda c: (c,))),
        st.builds(A.Contains, children, st.sampled_from(["ALL", "ANY"]), items),
        st.builds(A.Like, children, st.text(max_size=6), st.booleans()),
        st.builds(A.Matches, children, st.text(max_size=6)),
        st.builds(A.Call, FUNCS, st.lists(children, max_size=3).map(tuple)),
    )


EXPRS: st.SearchStrategy[A.Expr] = st.recursive(
    st.one_of(
        LITERALS,
        st.builds(A.Name, st.lists(NAMES, min_size=1, max_size=3).map(tuple)),
        st.builds(A.Call, FUNCS, st.just((A.Star(),))),
    ),
    _exprs,
    max_leaves=12,
)


def _bounds() -> st.SearchStrategy[tuple[int, int | None]]:
    return st.tuples(st.integers(0, 12), st.one_of(st.none(), st.integers(0, 12)))


def _patterns(children: st.SearchStrategy[A.Pattern]) -> st.SearchStrategy[A.Pattern]:
    many = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(
        many.flatmap(
            lambda items: st.builds(
                A.PSeq,
                st.just(items),
                st.lists(
                    st.sampled_from(["", "->", "->>"]),
                    min_size=len(items) - 1,
                    max_size=len(items) - 1,
                ).map(tuple),
            )
        ),
        st.builds(A.PAlt, many),
        st.builds(
            lambda body, b, greedy, skip: A.PQuant(body, b[0], b[1], greedy, skip),
            children,
            _bounds(),
            st.booleans(),
            st.sampled_from(["", "->", "->>"]),
        ),
    )


PATTERNS: st.SearchStrategy[A.Pattern] = st.recursive(
    st.one_of(st.builds(A.PVar, NAMES), st.builds(A.PNot, NAMES)), _patterns, max_leaves=10
)

DURATIONS = st.integers(1, 10**9)
ACTIONS = st.one_of(
    st.builds(A.Webhook, st.text(max_size=10), st.one_of(st.none(), st.text(max_size=5))),
    st.builds(A.EmitInto, NAMES),
)
EMITS = st.lists(st.builds(A.EmitItem, EXPRS, st.one_of(st.none(), NAMES)), max_size=2).map(tuple)
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(tuple)
AFTER = st.one_of(
    st.just(A.AfterMatch()),
    st.just(A.AfterMatch("TO_NEXT")),
    st.builds(A.AfterMatch, st.sampled_from(["TO_FIRST", "TO_LAST"]), NAMES),
)


@st.composite
def rules(draw: st.DrawFn) -> A.RuleStmt:
    within = draw(st.one_of(st.none(), DURATIONS))
    return A.RuleStmt(
        name=draw(NAMES),
        sources=tuple(
            draw(st.lists(st.builds(A.Source, NAMES, st.one_of(st.none(), NAMES)), min_size=1))
        ),
        pattern=draw(PATTERNS),
        partition_by=tuple(draw(st.lists(PATHS, max_size=2))),
        defines=tuple(
            draw(
                st.lists(
                    st.one_of(
                        st.builds(A.Define, NAMES, EXPRS),
                        st.builds(A.Define, NAMES, st.one_of(st.none(), EXPRS), NAMES),
                    ),
                    max_size=3,
                )
            )
        ),
        within_ms=within,
        on_timeout_emit=within is not None and draw(st.booleans()),
        after_match=draw(AFTER),
        emit=draw(EMITS),
        actions=tuple(draw(st.lists(ACTIONS, max_size=2))),
    )


FIELDS = st.builds(
    A.Field,
    st.lists(NAMES.filter(lambda n: "." not in n), min_size=1, max_size=2).map(".".join),
    st.sampled_from(["STRING", "INT", "FLOAT", "BOOL", "TIMESTAMP", "LIST", "OBJECT", "ANY"]),
)
STATEMENTS = st.one_of(
    rules(),
    st.builds(A.SearchStmt, NAMES, NAMES, st.one_of(st.none(), EXPRS), EMITS, st.lists(
        ACTIONS, max_size=2).map(tuple)),
    st.builds(
        A.StreamStmt,
        NAMES,
        st.one_of(st.none(), st.lists(FIELDS, min_size=1, max_size=3).map(tuple)),
        st.one_of(st.none(), PATHS),
        st.one_of(st.none(), PATHS),
        st.one_of(st.none(), st.integers(0, 10**9)),
        st.one_of(st.none(), NAMES),
    ),
)  # fmt: skip

ROUND_TRIPS = settings(
    deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow]
)


@ROUND_TRIPS
@given(EXPRS)
def test_round_trip_random_expressions(expr: A.Expr):
    text = to_text(expr)
    back = parse_expression(text)
    assert back == expr, text
    assert repr(back) == repr(expr), text


@ROUND_TRIPS
@given(PATTERNS)
def test_round_trip_random_patterns(pattern: A.Pattern):
    text = to_text(pattern)
    assert parse_pattern(text) == pattern, text
    rule = parse_statement(f"RULE r FROM s PATTERN ({text})")
    assert isinstance(rule, A.RuleStmt) and rule.pattern == pattern


@ROUND_TRIPS
@given(STATEMENTS)
def test_round_trip_random_statements(stmt: A.Statement):
    text = to_text(stmt)
    assert parse_statement(text) == stmt, text
    assert repr(parse_statement(text)) == repr(stmt), text
