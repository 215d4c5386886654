"""Checker tests: one test (or more) per check, each asserting the error's class and place.

Every test names the exact node the error points at (line and column from the text), so
removing a check, or placing its error elsewhere, fails a test.
"""

from __future__ import annotations

import dataclasses

import pytest

from cep.errors import (
    RuleError,
    RuleErrors,
    RuleLimitError,
    RuleNameError,
    RuleSyntaxError,
    RuleTypeError,
)
from cep.lang import ast as A
from cep.lang.checker import check, check_or_raise
from cep.lang.parser import parse

SCHEMA = """STREAM payments (card_id STRING, amount FLOAT, count INT, country STRING, tags LIST,
  ok BOOL, user OBJECT, meta.source STRING, at TIMESTAMP) KEY card_id;
STREAM refunds (card_id STRING, amount INT, reason STRING);
"""


def errors(text: str, **streams: A.StreamStmt) -> list[RuleError]:
    """Parse (must succeed) and check; return every error."""
    return check(parse(text, "t.cep"), text, streams or None)


def pos(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based line and column of the nth occurrence of `needle` in `text`."""
    at = -1
    for _ in range(nth):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def only(text: str, cls: type[RuleError], fragment: str, where: tuple[int, int]) -> RuleError:
    """Assert exactly one error, of class `cls`, mentioning `fragment`, at `where`."""
    errs = errors(text)
    assert len(errs) == 1, [str(e) for e in errs]
    err = errs[0]
    assert type(err) is cls, str(err)
    assert fragment in err.message, str(err)
    assert (err.line, err.column) == where, str(err)
    assert err.source_name == "t.cep" and err.snippet.endswith("^")
    return err


def clean(text: str) -> None:
    errs = errors(text)
    assert errs == [], [str(e) for e in errs]


# ---------------------------------------------------------------- valid input


SPEC = """STREAM payments (card_id STRING, amount FLOAT, merchant STRING, country STRING)
  KEY card_id
  TIME ts WATERMARK 5s
  LATE EVENTS TO late_payments;
RULE card_testing
FROM payments
PARTITION BY card_id
PATTERN (small{3,} large)
DEFINE
  small AS amount < 5,
  large AS amount > 500 AND country = FIRST(small.country)
WITHIN 10m
EMIT card_id, COUNT(small) AS attempts, large.amount AS amount
THEN WEBHOOK 'https://fraud.example.com/hooks/card-testing';
SEARCH seoul_family
FROM listings
WHERE city = 'Seoul' AND price BETWEEN 300000 AND 500000 AND rooms >= 3
  AND features CONTAINS ALL ('parking', 'elevator')
THEN WEBHOOK 'https://homes.example.com/notify/u/123';
"""


def test_spec_examples_are_clean():
    clean(SPEC)


def test_everything_allowed_is_clean():
    clean(
        SCHEMA
        + """RULE r FROM payments p, refunds
PATTERN (a b+? -> !n -> c->{2,5} (d | e)?)
DEFINE a AS amount > 1.5 AND lower(country) = 'kr' AND tags CONTAINS 'x'
          AND tags CONTAINS ANY ('y', 'z') AND meta.source LIKE 'w%'
          AND country MATCHES '^[A-Z]{2}$'
          AND user.anything.deep = 3 AND ok AND at > 0 AND at >= '2024-01-01' AND ts > 1,
  b FROM payments WHERE amount BETWEEN 1 AND 2.5 AND count IN (1, 2) AND abs(-amount) < 3,
  c AS SUM(b.amount) / COUNT(b) > AVG(a.amount) AND MAX(b.count) - MIN(b.count) >= 1
        AND FIRST(b.country) = LAST(b.country) AND coalesce(amount, 0) > round(1.5, 0),
  n FROM refunds WHERE reason IS NOT NULL AND amount % 2 = 0,
  d AS len(card_id) = floor(1.2) + ceil(p.amount),
  e AS NOT (amount = NULL)
WITHIN 1h ON TIMEOUT EMIT
AFTER MATCH SKIP TO LAST b
EMIT a.card_id AS card, COUNT(*) AS n, SUM(b.amount) AS total, upper(a.country)
THEN WEBHOOK 'u', EMIT INTO alerts;
SEARCH q FROM payments WHERE amount > 1 AND country IN ('KR', 'JP') EMIT card_id
  THEN EMIT INTO other;
SEARCH free FROM schemaless WHERE anything.at.all = 'x' AND whatever > 1;
"""
    )


# ---------------------------------------------------------------- names


def test_duplicate_statement_names():
    text = "RULE x FROM s PATTERN (a);\nSEARCH x FROM s"
    err = only(text, RuleNameError, "duplicate statement name 'x' (first at 1:1)", (2, 1))
    assert "SEARCH x" in err.snippet


def test_duplicate_stream_declaration():
    text = "STREAM s;\nRULE s FROM s PATTERN (a);\n  STREAM s (a INT)"
    only(text, RuleNameError, "duplicate stream 's'", (3, 3))


def test_define_of_a_variable_not_in_the_pattern():
    text = "RULE r FROM s PATTERN (a b)\nDEFINE a AS x > 1, c AS x < 1"
    only(text, RuleNameError, "DEFINE of 'c'", pos(text, "c AS"))


def test_duplicate_define():
    text = "RULE r FROM s PATTERN (a b)\nDEFINE a AS x > 1,\n  a AS x < 1"
    only(text, RuleNameError, "'a' is defined twice", (3, 3))


def test_define_from_a_stream_not_in_from():
    text = "RULE r FROM s, t AS tt PATTERN (a b c)\nDEFINE a FROM t, b FROM tt, c FROM u"
    only(text, RuleNameError, "stream 'u' is not in this rule's FROM", pos(text, "c FROM"))


def test_after_match_skip_to_a_variable_not_in_the_pattern():
    text = "RULE r FROM s PATTERN (a b) AFTER MATCH SKIP TO FIRST c"
    only(text, RuleNameError, "'c'", pos(text, "AFTER"))
    clean("RULE r FROM s PATTERN (a b) AFTER MATCH SKIP TO LAST b")


def test_emit_into_a_source_stream_is_a_cycle():
    text = "RULE r FROM s, t AS u PATTERN (a) THEN WEBHOOK 'x', EMIT INTO t"
    only(text, RuleNameError, "cycle", pos(text, "EMIT INTO"))
    text = "SEARCH q FROM s THEN EMIT INTO s"
    only(text, RuleNameError, "cycle", pos(text, "EMIT INTO"))
    clean("RULE r FROM s PATTERN (a) THEN EMIT INTO elsewhere")


def test_unknown_function():
    text = "RULE r FROM s PATTERN (a) DEFINE a AS x > 1 AND sqrt(x) > 2"
    only(text, RuleNameError, "unknown function 'SQRT'", pos(text, "sqrt"))


def test_stream_checks():
    text = "STREAM s (a INT,\n b STRING, a FLOAT)"
    only(text, RuleNameError, "'a' is declared twice", (2, 12))
    text = "STREAM s LATE EVENTS TO s"
    only(text, RuleNameError, "itself", pos(text, "LATE"))


# ---------------------------------------------------------------- attributes and types


def test_undeclared_attribute_with_a_schema():
    text = SCHEMA + "RULE r FROM payments PATTERN (a) DEFINE a AS amont > 1"
    only(text, RuleTypeError, "unknown attribute 'amont'", pos(text, "amont"))


def test_variable_references_resolve_through_the_variable():
    text = (
        SCHEMA + "RULE r FROM payments PATTERN (a b) DEFINE b AS a.amount > amount AND a.nope = 1"
    )
    only(text, RuleTypeError, "unknown attribute 'nope'", pos(text, "a.nope"))


def test_attribute_checks_need_every_stream_declared():
    clean(SCHEMA + "RULE r FROM payments, other PATTERN (a) DEFINE a AS anything > 1")
    text = SCHEMA + "RULE r FROM payments, refunds PATTERN (a) DEFINE a AS reason = 'x' AND why = 1"
    only(text, RuleTypeError, "(not declared in stream payments, refunds)", pos(text, "why"))
    text = (
        SCHEMA + "RULE r FROM payments, refunds PATTERN (a) DEFINE a FROM payments WHERE reason = 1"
    )
    only(text, RuleTypeError, "unknown attribute 'reason'", pos(text, "reason", 2))


def test_nested_attributes():
    text = SCHEMA + (
        "SEARCH q FROM payments WHERE user.id = 1 AND meta.source = 'x' AND meta IS NOT NULL "
        "AND meta.other = 'y'"
    )
    only(text, RuleTypeError, "unknown attribute 'meta.other'", pos(text, "meta.other"))
    text = SCHEMA + "SEARCH q FROM payments WHERE amount.cents = 1"
    only(text, RuleTypeError, "unknown attribute 'amount.cents'", pos(text, "amount.cents"))


def test_alias_paths_resolve_to_the_aliased_stream():
    text = SCHEMA + "RULE r FROM payments p, refunds r PATTERN (a) DEFINE a AS r.reason = p.reason"
    only(text, RuleTypeError, "unknown attribute 'reason'", pos(text, "p.reason"))


def test_schema_from_the_streams_parameter():
    other = parse("STREAM ext (x INT)").statements[0]
    assert isinstance(other, A.StreamStmt)
    text = "SEARCH q FROM ext WHERE x = 1 AND y = 2"
    errs = errors(text, ext=other)
    assert [(type(e), e.message) for e in errs] == [
        (RuleTypeError, "unknown attribute 'y' (not declared in stream ext)")
    ]
    assert errors(text) == []


@pytest.mark.parametrize(
    ("cond", "fragment", "needle"),
    [
        ("country = 1", "cannot compare STRING with INT", "1"),
        ("amount != 'x'", "cannot compare FLOAT with STRING", "'x'"),
        ("'a' < 2", "cannot compare STRING with INT", "2"),
        ("ok = 1", "cannot compare BOOL with INT", "1"),
        ("amount + 'x' > 1", "'+' needs numbers, got STRING", "'x'"),
        ("country * 2 > 1", "'*' needs numbers, got STRING", "country"),
        ("-country = 'x'", "'-' needs a number, got STRING", "country"),
        ("amount LIKE 'x%'", "LIKE needs a STRING, got FLOAT", "amount"),
        ("count MATCHES 'x'", "MATCHES needs a STRING, got INT", "count"),
        ("country CONTAINS 'x'", "CONTAINS needs a LIST, got STRING", "country"),
        ("amount CONTAINS ALL (1)", "CONTAINS needs a LIST, got FLOAT", "amount"),
        ("amount BETWEEN 'a' AND 5", "BETWEEN bound is STRING but the value is FLOAT", "'a'"),
        ("country NOT BETWEEN 'a' AND 5", "BETWEEN bound is INT but the value is STRING", "5"),
        ("country IN ('a', 2)", "IN list item is INT but the value is STRING", "2"),
        ("lower(amount) = 'x'", "LOWER needs STRING, got FLOAT", "amount"),
        ("abs(country) > 1", "ABS needs number, got STRING", "country"),
        ("len(amount) > 1", "LEN needs STRING or LIST, got FLOAT", "amount"),
        ("lower(country, 1) = 'x'", "LOWER takes 1 argument(s), got 2", "lower"),
        ("lower(country) = 1", "cannot compare STRING with INT", "1"),
    ],
)
def test_type_mismatches(cond: str, fragment: str, needle: str):
    text = SCHEMA + "SEARCH q FROM payments WHERE " + cond
    head = len(SCHEMA + "SEARCH q FROM payments WHERE ")
    at = text.index(needle, head)
    only(text, RuleTypeError, fragment, (text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)))


def test_literal_types_mismatch_without_a_schema():
    text = "SEARCH q FROM s WHERE x = 'a' + 1"
    only(text, RuleTypeError, "'+' needs numbers, got STRING", pos(text, "'a'"))


def test_invalid_regex_is_reported_at_the_literal():
    text = "SEARCH q FROM s WHERE lower(upper('MATCHES')) MATCHES\n   '(unclosed'"
    err = only(text, RuleSyntaxError, "invalid regular expression", (2, 4))
    assert "missing )" in err.message
    clean("SEARCH q FROM s WHERE x MATCHES '^(a|b)+$'")


# ---------------------------------------------------------------- aggregates


@pytest.mark.parametrize(
    ("expr", "fragment", "needle", "cls"),
    [
        ("SUM(amount)", "SUM takes a pattern variable", "amount)", RuleTypeError),
        ("FIRST(x.amount)", "FIRST takes a pattern variable", "x.amount", RuleTypeError),
        ("MAX(a.amount + 1)", "MAX takes a pattern variable", "a.amount + 1", RuleTypeError),
        ("AVG(a)", "AVG takes a variable's attribute", "a)", RuleTypeError),
        ("COUNT(amount)", "COUNT takes a pattern variable", "amount)", RuleTypeError),
        ("SUM(a.amount, 1)", "SUM takes one argument", "SUM", RuleTypeError),
        ("SUM(a.country)", "SUM needs a number, got STRING", "a.country", RuleTypeError),
        ("AVG(a.tags)", "AVG needs a number, got LIST", "a.tags", RuleTypeError),
        ("COUNT(*)", "COUNT(*) is only allowed in EMIT", "COUNT", RuleSyntaxError),
        ("MIN(*)", "only COUNT takes '*'", "*", RuleSyntaxError),
    ],
)
def test_aggregates(expr: str, fragment: str, needle: str, cls: type[RuleError]):
    text = SCHEMA + f"RULE r FROM payments PATTERN (a+ b) DEFINE b AS {expr} > 1"
    head = text.index("DEFINE")
    at = text.index(needle, head)
    only(text, cls, fragment, (text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)))


def test_count_star_is_fine_in_emit():
    clean("RULE r FROM s PATTERN (a+) EMIT COUNT(*) AS n, COUNT(a), SUM(a.x)")


def test_search_may_not_use_aggregates():
    text = "SEARCH q FROM s WHERE COUNT(x) > 1"
    only(text, RuleNameError, "a SEARCH has none", pos(text, "COUNT"))
    text = "SEARCH q FROM s EMIT SUM(x.y)"
    only(text, RuleNameError, "aggregate", pos(text, "SUM"))


# ---------------------------------------------------------------- patterns


@pytest.mark.parametrize(
    ("pattern", "fragment", "needle", "cls"),
    [
        ("a b{3,2}", "the minimum is above the maximum", "b{", RuleSyntaxError),
        ("a b{0}", "matches nothing", "b{", RuleSyntaxError),
        ("a b{0,0}?", "matches nothing", "b{", RuleSyntaxError),
        ("a b{1001}", "above the limit of 1000", "b{", RuleLimitError),
        ("a b{2,5000}", "above the limit of 1000", "b{", RuleLimitError),
        ("a b->{1001,}", "above the limit of 1000", "b->", RuleLimitError),
    ],
)
def test_quantifier_bounds(pattern: str, fragment: str, needle: str, cls: type[RuleError]):
    text = f"RULE r FROM s PATTERN ({pattern})"
    only(text, cls, fragment, pos(text, needle))


@pytest.mark.parametrize(
    ("pattern", "needle"),
    [("a*", "a*"), ("a? b*", "a?"), ("(a | b?)", "a |"), ("(a b)? | c{0,3}", "(a b)"),
     ("a{0,2}?", "a{")],
)  # fmt: skip
def test_pattern_that_can_match_no_events(pattern: str, needle: str):
    text = f"RULE r FROM s PATTERN ({pattern})"
    only(text, RuleSyntaxError, "pattern can match no events", pos(text, needle))


@pytest.mark.parametrize(
    ("pattern", "needle"),
    [("a -> b*", "b*"), ("a ->> b?", "b?"), ("a -> (b? c*) -> d", "b?"), ("a -> !n -> c?", "c?")],
)
def test_right_side_of_a_join_that_can_match_no_events(pattern: str, needle: str):
    text = f"RULE r FROM s PATTERN ({pattern}) WITHIN 1m"
    only(text, RuleSyntaxError, "the right side of", pos(text, needle))


@pytest.mark.parametrize(
    ("pattern", "fragment", "needle"),
    [
        ("!n -> a", "must follow '->'", "!n"),
        ("a !n -> b", "must follow '->'", "!n"),
        ("a ->> !n -> b", "must follow '->'", "!n"),
        ("a -> !n b", "be followed by '->'", "!n"),
        ("a -> !n ->> b", "be followed by '->'", "!n"),
        ("a (b -> !n -> c)+", "inside a quantifier", "!n"),
        ("a -> (!n)+ -> b", "cannot be repeated", "!n"),
        ("a (b -> !n -> c | d)", "inside an alternation", "!n"),
        ("a -> (!n | b)", "cannot be an alternative", "!n"),
    ],
)
def test_negation_placement(pattern: str, fragment: str, needle: str):
    text = f"RULE r FROM s PATTERN ({pattern}) WITHIN 1m"
    errs = [e for e in errors(text) if "'!n'" in e.message]
    assert len(errs) == 1, [str(e) for e in errors(text)]
    assert fragment in errs[0].message and type(errs[0]) is RuleSyntaxError
    assert (errs[0].line, errs[0].column) == pos(text, needle)


def test_negation_alone_is_not_a_pattern():
    text = "RULE r FROM s PATTERN (!n) WITHIN 1m"
    messages = sorted(e.message for e in errors(text))
    assert len(messages) == 2
    assert "pattern can match no events" in messages[1]
    assert "'!n' is only allowed" in messages[0] and "cannot start with it" in messages[0]


def test_negation_in_the_allowed_places():
    clean("RULE r FROM s PATTERN (a -> !n -> b)")
    clean("RULE r FROM s PATTERN (a -> !n) WITHIN 5m")
    clean("RULE r FROM s PATTERN (a -> !n -> b -> !m) WITHIN 5m")
    clean("RULE r FROM s PATTERN ((a -> !n) -> b)")


def test_absence_at_the_end_needs_within():
    text = "RULE r FROM s PATTERN (a -> b -> !n)"
    only(text, RuleSyntaxError, "needs WITHIN", pos(text, "!n"))
    text = "RULE r FROM s PATTERN (x (a -> !n))"
    only(text, RuleSyntaxError, "needs WITHIN", pos(text, "!n"))


def test_on_timeout_emit_needs_within():
    stmt = parse("RULE r FROM s PATTERN (a) WITHIN 1m ON TIMEOUT EMIT").statements[0]
    broken = dataclasses.replace(stmt, within_ms=None)  # the grammar cannot produce this
    errs = check(A.Script((broken,)), "")
    assert [(type(e), e.message) for e in errs] == [
        (RuleSyntaxError, "ON TIMEOUT EMIT needs WITHIN")
    ]


def test_durations_must_be_positive():
    text = "RULE r FROM s PATTERN (a)\n  WITHIN 0s"
    only(text, RuleSyntaxError, "WITHIN must be longer than 0", (2, 3))
    clean("STREAM s WATERMARK 0ms")
    stream = parse("STREAM s WATERMARK 1s").statements[0]
    errs = check(A.Script((dataclasses.replace(stream, watermark_ms=-1),)), "STREAM s WATERMARK 1s")
    assert [(e.message, e.column) for e in errs] == [("WATERMARK must not be negative", 10)]


@pytest.mark.parametrize(
    ("pattern", "ok"),
    [
        ("(a b){500}", True),
        ("a{1000}", True),
        ("a{500} b{501}", False),
        ("(a{100}){11}", False),
        ("(a | b){501}", False),
        ("(a{2,3}){334}", False),
        ("a{1000,}", True),
    ],
)
def test_pattern_size_limit(pattern: str, ok: bool):
    text = f"RULE r FROM s PATTERN ({pattern})"
    if ok:
        clean(text)
    else:
        only(text, RuleLimitError, "pattern is too large", pos(text, pattern))


# ---------------------------------------------------------------- the API


def test_all_errors_are_collected():
    text = SCHEMA + (
        "RULE r FROM payments PATTERN (a{3,2} -> b*) DEFINE a AS amount = 'x', c AS nope > 1, "
        "a AS TRUE WITHIN 0s THEN EMIT INTO payments;\nSEARCH r FROM payments WHERE foo(1)"
    )
    kinds = sorted(type(e).__name__ for e in errors(text))
    assert kinds == [
        "RuleNameError",  # DEFINE of c
        "RuleNameError",  # a defined twice
        "RuleNameError",  # EMIT INTO cycle
        "RuleNameError",  # duplicate statement name
        "RuleNameError",  # unknown function
        "RuleSyntaxError",  # {3,2}
        "RuleSyntaxError",  # right side of ->
        "RuleSyntaxError",  # WITHIN 0s
        "RuleTypeError",  # amount = 'x'
        "RuleTypeError",  # nope
    ]


def test_check_or_raise():
    check_or_raise(parse(SPEC), SPEC)
    text = "RULE r FROM s PATTERN (a*);\nRULE r FROM s PATTERN (b)"
    with pytest.raises(RuleErrors) as info:
        check_or_raise(parse(text), text)
    assert [(e.line, e.column) for e in info.value.errors] == [(1, 24), (2, 1)]


def test_check_never_raises_on_a_malformed_tree():
    bad = A.RuleStmt("r", (A.Source("s"),), A.PQuant(None, 1, None))  # type: ignore[arg-type]
    worse = A.SearchStmt("q", "s", A.Binary("=", None, object()))  # type: ignore[arg-type]
    errs = check(A.Script((bad, worse)), "")
    assert len(errs) == 2 and all(type(e) is RuleError for e in errs)


def test_errors_without_source_have_no_snippet():
    errs = check(parse("SEARCH q FROM s WHERE 'a' = 1"))
    assert len(errs) == 1 and errs[0].snippet == "" and errs[0].column == 29
