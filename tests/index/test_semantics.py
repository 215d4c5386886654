"""Table-driven edge cases of the language's semantics, attribute index vs PlainIndex."""

from __future__ import annotations

import pytest

from cep.engine import Engine
from cep.index.attribute import AttributeIndex
from cep.index.normalize import normalize, regex_literal
from cep.index.plain import PlainIndex
from cep.lang.compiler import compile_text
from cep.lang.parser import parse_expression

NAN = float("nan")
EVENTS = [
    {},
    {"x": None},
    {"x": 0},
    {"x": 1},
    {"x": 1.0},
    {"x": True},
    {"x": False},
    {"x": 2.5},
    {"x": -1},
    {"x": NAN},
    {"x": "a"},
    {"x": "ab"},
    {"x": "abc" * 2000},
    {"x": ""},
    {"x": ["a", "b"]},
    {"x": []},
    {"x": {"y": 1}},
    {"x": {"y": "a"}},
    {"x": 10**20},
    {"x": 1e20},
]
CONDITIONS = [
    "x = 1",
    "x != 1",
    "x = TRUE",
    "x != FALSE",
    "x",
    "NOT x",
    "x < 1",
    "NOT x < 1",
    "NOT (x >= 1)",
    "x BETWEEN 0 AND 1",
    "x NOT BETWEEN 0 AND 1",
    "NOT (x BETWEEN 0 AND 1)",
    "x IN (1, 2.5, 'a')",
    "x NOT IN (1, 2.5)",
    "x NOT IN (1, 'a')",
    "x NOT IN (1, NULL)",
    "NOT (x IN (0, 1))",
    "x IN (TRUE)",
    "x IS NULL",
    "x IS NOT NULL",
    "NOT (x IS NULL)",
    "x CONTAINS 'a'",
    "x CONTAINS ALL ('a', 'b')",
    "x CONTAINS ANY ('b', 'z')",
    "NOT (x CONTAINS 'a')",
    "x LIKE 'a%'",
    "x LIKE '%b%'",
    "x LIKE 'a_'",
    "x LIKE ''",
    "x LIKE '%'",
    "x NOT LIKE 'a%'",
    "x MATCHES 'b+c'",
    "x MATCHES '^a'",
    "NOT (x MATCHES 'b')",
    "x.y = 1",
    "x.y IS NULL",
    "x < 'b'",
    "x >= ''",
    "x = 100000000000000000000",
    "x > 1e19",
    "x = NULL",
    "NOT (x = NULL)",
    "x + 0 = 1",
    "LOWER(x) = 'a'",
    "1 < x",
    "x > -1 AND x < 2 AND NOT x = 1",
    "(x = 1 OR x = 'a') AND x IS NOT NULL",
    "x = 1 AND x = 2",
    "x IS NULL AND x = 1",
    "x IS NULL OR x > 2",
    "TRUE",
    "FALSE",
    "NULL",
]


def run(index, text):
    stmts, specs = compile_text(text)
    e = Engine(stmts, specs, index=index)
    for off, ev in enumerate(EVENTS):
        e.process({**ev, "ts": 0}, off, "s")
    return sorted((m.statement, m.match_id) for m in e.take())


@pytest.mark.parametrize("cond", CONDITIONS)
def test_condition_matches_like_plain(cond):
    text = f"SEARCH q FROM s WHERE {cond};"
    assert run(AttributeIndex(), text) == run(PlainIndex(), text)


def test_all_conditions_together_as_rules_and_searches():
    text = "\n".join(
        f"SEARCH q{i} FROM s WHERE {c}; RULE r{i} FROM s PATTERN (a) DEFINE a AS {c};"
        for i, c in enumerate(CONDITIONS)
    )
    assert run(AttributeIndex(), text) == run(PlainIndex(), text)


def test_normal_form_of_the_issue_search():
    expr = parse_expression(
        "city = 'Seoul' AND price BETWEEN 300000 AND 500000 AND rooms >= 3 "
        "AND features CONTAINS ALL ('parking', 'elevator')"
    )
    (conj,), over = normalize(expr)
    assert not over
    assert set(conj) == {
        ("eq", ("city",), (("s", "Seoul"),)),
        ("lo", ("price",), "n", 300000, False, False),
        ("hi", ("price",), "n", 500000, False, False),
        ("lo", ("rooms",), "n", 3, False, False),
        ("has", ("features",), "parking"),
        ("has", ("features",), "elevator"),
    }


def test_negation_and_expansion_bounds():
    (c1, c2), _ = normalize(parse_expression("NOT (a = 1 AND b < 2)"))
    assert {c1, c2} == {(("ne", ("a",), "n", (1,)),), (("lo", ("b",), "n", 2, False, True),)}
    big = " AND ".join(f"(a{i} = 1 OR b{i} = 2)" for i in range(8))
    conjs, over = normalize(parse_expression(big))
    assert over and len(conjs) == 1 and conjs[0][0][0] == "res"


def test_regex_literals():
    assert regex_literal("abc+d") == "ab"
    assert regex_literal("^error: (x|y)") == "error: "
    assert regex_literal("(?i)abc") == ""
    assert regex_literal("a|b") == ""
