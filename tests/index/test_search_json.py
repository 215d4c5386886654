"""The JSON form of a search: same statement as the text form, schema-valid, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.engine import Engine
from cep.index.attribute import AttributeIndex
from cep.index.plain import PlainIndex
from cep.index.searches import SearchSpec
from cep.lang.compiler import compile_search
from cep.lang.parser import parse_statement
from cep.lang.printer import to_text
from cep.lang.search_json import MAX_DEPTH, SearchJsonError, search_from_json

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "search-json.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

EXAMPLE = {
    "name": "s42",
    "from": "listings",
    "where": {
        "city": "Seoul",
        "district": None,
        "price": {"gte": 300000, "lte": 500000},
        "rooms": {"gte": 3},
        "features": {"all": ["parking", "elevator"]},
    },
}
EXAMPLE_TEXT = (
    "SEARCH s42 FROM listings WHERE city = 'Seoul' AND price >= 300000 AND price <= 500000 "
    "AND rooms >= 3 AND features CONTAINS ALL ('parking', 'elevator')"
)


def test_schema_is_valid_and_accepts_the_issue_example():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    VALIDATOR.validate(EXAMPLE)


def test_example_equals_the_text_statement():
    assert search_from_json(EXAMPLE) == parse_statement(EXAMPLE_TEXT)


def test_operators_map_to_the_language():
    doc = {
        "name": "ops",
        "from": "s",
        "where": {
            "a": {"eq": 1, "ne": -2.5},
            "b": {"in": ["x", "y"], "nin": ["z"]},
            "c": {"gt": 1, "lt": 9},
            "d": {"any": ["p", "q"]},
            "e": {"exists": True},
            "f": {"exists": False},
            "g": {"prefix": "Gang"},
            "h.i": {"contains": "k"},
            "or": [{"x": 1}, {"y": True}],
            "not": {"z": "no"},
        },
        "emit": ["a", "h.i"],
        "then": [{"webhook": "https://example.com/h", "secret": "s1"}],
    }
    VALIDATOR.validate(doc)
    text = (
        "SEARCH ops FROM s WHERE a = 1 AND a != -2.5 AND b IN ('x', 'y') AND b NOT IN ('z') "
        "AND c > 1 AND c < 9 AND d CONTAINS ANY ('p', 'q') AND e IS NOT NULL AND f IS NULL "
        "AND g LIKE 'Gang%' AND h.i CONTAINS 'k' AND (x = 1 OR y = TRUE) AND NOT (z = 'no') "
        "EMIT a, h.i THEN WEBHOOK 'https://example.com/h' SECRET 's1'"
    )
    assert search_from_json(doc) == parse_statement(text)


JSON_SCALARS = st.one_of(
    st.text(max_size=5),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
)
OPS = st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"])
ATTR = st.sampled_from(["a", "b", "c.d", "price"])


def where(depth: int = 2):
    leaf = st.dictionaries(
        ATTR,
        st.one_of(
            st.none(),
            JSON_SCALARS,
            st.dictionaries(OPS, JSON_SCALARS, min_size=1, max_size=2),
            st.builds(lambda xs: {"in": xs}, st.lists(JSON_SCALARS, min_size=1, max_size=3)),
            st.builds(lambda xs: {"all": xs}, st.lists(st.text(max_size=3), min_size=1)),
            st.builds(lambda b: {"exists": b}, st.booleans()),
        ),
        max_size=3,
    )
    if depth == 0:
        return leaf
    sub = where(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda xs: {"or": xs}, st.lists(sub, min_size=1, max_size=3)),
        st.builds(lambda xs: {"and": xs}, st.lists(sub, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, sub),
    )


@settings(max_examples=300, deadline=None)
@given(where())
def test_json_form_equals_its_text_form(w):
    doc = {"name": "q", "from": "s", "where": w}
    VALIDATOR.validate(doc)
    stmt = search_from_json(doc)
    assert parse_statement(to_text(stmt)) == stmt


@settings(max_examples=100, deadline=None)
@given(where(), st.lists(st.dictionaries(ATTR, JSON_SCALARS | st.none(), max_size=4), max_size=6))
def test_json_searches_match_like_text_searches(w, events):
    """JSON → SearchSpec in the attribute index == text → CompiledSearch in the plain engine."""
    doc = {"name": "q", "from": "s", "where": w}
    stmt = search_from_json(doc)
    text_stmt = parse_statement(to_text(stmt))
    got, want = [], []
    for index, spec, out in (
        (AttributeIndex(), SearchSpec.from_ast(stmt), got),
        (PlainIndex(), compile_search(text_stmt), want),
    ):
        e = Engine([spec], index=index)
        for off, ev in enumerate(events):
            e.process({**ev, "ts": 0}, off, "s")
        out.extend((m.match_id, repr(m.bindings)) for m in e.take())
    assert sorted(got) == sorted(want)


@pytest.mark.parametrize(
    ("doc", "path", "words"),
    [
        ([], "$", "JSON object"),
        ({"name": "x"}, "$.from", "required"),
        ({"name": "1x", "from": "s"}, "$.name", "identifier"),
        ({"name": "x", "from": "s", "whre": {}}, "$", "unknown keys"),
        (
            {"name": "x", "from": "s", "where": {"p": {"gte": "a", "btw": 1}}},
            "$.where.p.btw",
            "unknown operator",
        ),
        ({"name": "x", "from": "s", "where": {"p": [1, 2]}}, "$.where.p", "in"),
        ({"name": "x", "from": "s", "where": {"p": {}}}, "$.where.p", "empty"),
        ({"name": "x", "from": "s", "where": {"or": []}}, "$.where.or", "non-empty"),
        ({"name": "x", "from": "s", "where": {"or": [{"a": 1}, 3]}}, "$.where.or[1]", "object"),
        (
            {"name": "x", "from": "s", "where": {"p": {"all": ["a", 1]}}},
            "$.where.p.all[1]",
            "string",
        ),
        ({"name": "x", "from": "s", "where": {"p": {"eq": None}}}, "$.where.p.eq", "exists"),
        (
            {"name": "x", "from": "s", "where": {"p": {"exists": 1}}},
            "$.where.p.exists",
            "true or false",
        ),
        (
            {"name": "x", "from": "s", "where": {"p": {"prefix": "a%"}}},
            "$.where.p.prefix",
            "wildcard",
        ),
        (
            {"name": "x", "from": "s", "where": {"p": {"gt": float("inf")}}},
            "$.where.p.gt",
            "finite",
        ),
        ({"name": "x", "from": "s", "where": {"a..b": 1}}, "$.where['a..b']", "non-empty"),
        ({"name": "x", "from": "s", "then": [{"mail": "x"}]}, "$.then[0]", "webhook"),
    ],
)
def test_errors_name_the_json_path(doc, path, words):
    with pytest.raises(SearchJsonError) as exc:
        search_from_json(doc)
    assert exc.value.path == path
    assert words in exc.value.message


def test_hostile_nesting_and_huge_lists_give_clear_errors():
    deep: dict = {"a": 1}
    for _ in range(MAX_DEPTH + 5):
        deep = {"not": deep}
    with pytest.raises(SearchJsonError, match="nested deeper"):
        search_from_json({"name": "x", "from": "s", "where": deep})
    huge = {"name": "x", "from": "s", "where": {"a": {"in": list(range(20_000))}}}
    with pytest.raises(SearchJsonError, match="more than 10000 values"):
        search_from_json(huge)
    wide = {"name": "x", "from": "s", "where": {"or": [{"a": i} for i in range(10_001)]}}
    with pytest.raises(SearchJsonError, match="predicates"):
        search_from_json(wide)


def test_big_in_list_is_indexed_or_verified_exactly():
    """An IN list longer than the pivot bound still matches exactly (inner eq set)."""
    doc = {"name": "big", "from": "s", "where": {"a": {"in": list(range(0, 5000, 2))}}}
    stmt = search_from_json(doc)
    e = Engine([SearchSpec.from_ast(stmt)], index=AttributeIndex())
    for off, v in enumerate([0, 1, 4998, 5000, 2.0, "2", True]):
        e.process({"a": v, "ts": 0}, off, "s")
    assert [m.offsets[0][1] for m in e.take()] == [0, 2, 4]
