"""Hostile input: every error is a located RuleError, and nothing hangs or recurses unbounded.

Covers exact line/column of each syntax error kind (multi-line files included), collect-all
recovery, fuzzed text (random characters, token soup, mutations of valid rules) that may
only ever produce RuleErrors within a time bound, deep nesting, huge input and long chains.
"""

from __future__ import annotations

import random
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.errors import RuleError, RuleLimitError, RuleSyntaxError
from cep.lang.checker import check
from cep.lang.parser import (
    MAX_DEPTH,
    MAX_ERRORS,
    MAX_FILE_BYTES,
    MAX_NESTING,
    MAX_STATEMENT_BYTES,
    parse,
    parse_collect,
    parse_statement,
)
from cep.lang.printer import to_text


def raised(cls: type[Exception], fn, *args):  # type: ignore[no-untyped-def]
    """The exception `fn(*args)` raises, which must be a `cls`."""
    with pytest.raises(cls) as info:
        fn(*args)
    return info.value


FUZZ = settings(
    deadline=None, max_examples=250, suppress_health_check=[HealthCheck.too_slow]
)  # each example is timed by hand: see _bounded

VALID_RULES = [
    """STREAM payments (card_id STRING, amount FLOAT, merchant STRING, country STRING)
  KEY card_id
  TIME ts WATERMARK 5s
  LATE EVENTS TO late_payments;""",
    """RULE card_testing
FROM payments
PARTITION BY card_id
PATTERN (small{3,} large)
DEFINE
  small AS amount < 5,
  large AS amount > 500 AND country = FIRST(small.country)
WITHIN 10m
EMIT card_id, COUNT(small) AS attempts, large.amount AS amount
THEN WEBHOOK 'https://fraud.example.com/hooks/card-testing';""",
    """SEARCH seoul_family
FROM listings
WHERE city = 'Seoul' AND price BETWEEN 300000 AND 500000 AND rooms >= 3
  AND features CONTAINS ALL ('parking', 'elevator')
THEN WEBHOOK 'https://homes.example.com/notify/u/123';""",
    """RULE checkout FROM clicks c, orders AS o
PATTERN (view ->+? cart -> !pay -> (done | gone){1,3}? x*)
DEFINE view AS page LIKE '/item/%', cart FROM clicks WHERE NOT (qty IS NULL),
  pay FROM orders WHERE lower(status) IN ('paid', 'ok') AND -amount <= -1_000.5
WITHIN 1 HOUR ON TIMEOUT EMIT
AFTER MATCH SKIP TO LAST cart
EMIT view.user AS "user", SUM(cart.qty) / 2 AS q, COUNT(*) AS n
THEN EMIT INTO abandoned, WEBHOOK 'https://x.example/h' SECRET 'k1'""",
]

KEYWORDS = [
    "RULE",
    "SEARCH",
    "STREAM",
    "FROM",
    "WHERE",
    "PATTERN",
    "DEFINE",
    "WITHIN",
    "EMIT",
    "THEN",
    "PARTITION",
    "BY",
    "AFTER",
    "MATCH",
    "SKIP",
    "PAST",
    "LAST",
    "EVENT",
    "TO",
    "NEXT",
    "FIRST",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "BETWEEN",
    "LIKE",
    "MATCHES",
    "CONTAINS",
    "ALL",
    "ANY",
    "TRUE",
    "FALSE",
    "WEBHOOK",
    "SECRET",
    "INTO",
    "KEY",
    "TIME",
    "WATERMARK",
    "LATE",
    "EVENTS",
    "ON",
    "TIMEOUT",
    "STRING",
    "INT",
    "FLOAT",
    "LIST",
    "COUNT",
    "SUM",
    "a",
    "b",
    "x.y",
    "amount",
    "'str'",
    "'it''s'",
    "42",
    "1_000",
    "3.5",
    "1e9",
    "10m",
    "500ms",
    "2",
    "HOURS",
]
PUNCT = [*"()[]{},;.!|?*+-/%=<>'\"", "->", "->>", "<>", "!=", "<=", ">=", "--", "/*", "*/"]


def _cpu_seconds(fn, *args):  # type: ignore[no-untyped-def]
    """Run fn(*args); return (result, CPU seconds): wall time is noisy on a shared machine."""
    start = time.process_time()
    result = fn(*args)
    return result, time.process_time() - start


def _parse_or_error(text: str) -> object:
    try:
        return parse(text)
    except RuleError as exc:
        return exc


def _bounded(text: str, limit: float = 2.0) -> None:
    """Parse `text` both ways: only RuleErrors, placed inside the file, each within `limit` s."""
    (script, errors), elapsed = _cpu_seconds(parse_collect, text, "fuzz.cep")
    assert elapsed < limit, f"{elapsed:.2f}s on {text[:200]!r}"
    _, elapsed = _cpu_seconds(_parse_or_error, text)
    assert elapsed < limit, f"{elapsed:.2f}s on {text[:200]!r}"
    lines = len(text.splitlines()) + 1
    for e in errors:
        assert isinstance(e, RuleError)
        assert 1 <= e.line <= lines and e.column >= 1, e
        assert e.source_name == "fuzz.cep"
        assert "Expected" not in e.message and "pyparsing" not in e.message.lower()
    for stmt in script.statements:
        assert parse(to_text(stmt)).statements == (stmt,)
    assert all(isinstance(e, RuleError) for e in check(script, text))


# ---------------------------------------------------------------- exact positions


ERRORS = [
    # (text, line, column, message fragment)
    ("RULE r FROM s PATTERN (a b", 1, 27, "expected ')' to close '(' opened at 1:23"),
    (
        "-- a comment\nRULE r\nFROM s\nPATTERN ((a b) c\nDEFINE a AS x > 1",
        5,
        1,
        "expected ')' to close '(' opened at 4:9",
    ),
    ("STREAM s;\n\nRULE r FROM s\n  PATTERN (a)\n  WITHIN 10x", 5, 10, "a duration such as 10m"),
    ("RULE r FROM s\nPATTERN (a)\n\n   WHEN a.x > 1", 4, 4, "unknown clause 'WHEN'"),
    ("RULE r FROM s WHEN a.x > 1", 1, 15, "unknown clause 'WHEN'"),
    ("RULE r FROM s\nPATTERN (a)\nPATTERN (b)", 3, 1, "duplicate PATTERN clause"),
    ("SEARCH q FROM s\n WHERE a = 1\n EMIT a\n WHERE b = 2", 4, 2, "duplicate WHERE clause"),
    ("\n\nRULE r FROM s DEFINE a AS x > 1", 3, 1, "needs a PATTERN"),
    ("RULE r s", 1, 8, "expected FROM"),
    ("RULE FROM s", 1, 6, "expected a name"),
    ("STREAM s;\nSELECT * FROM t", 2, 1, "unknown statement 'SELECT'"),
    ("STREAM s;\n  42", 2, 3, "unknown statement"),
    ("SEARCH q FROM s\nWHERE a =\n", 2, 10, "expected an expression"),
    ("SEARCH q FROM s WHERE a = 1 = 2", 1, 29, "comparisons cannot be chained"),
    ("SEARCH q FROM s WHERE a NOT b", 1, 29, "BETWEEN, IN or LIKE"),
    ("SEARCH q FROM s\n\nWHERE (a = 1", 3, 13, "expected ')' to close '(' opened at 3:7"),
    ("SEARCH q FROM s WHERE a = 1)", 1, 28, "unexpected ')'"),
    ("SEARCH q FROM s, t", 1, 16, "a SEARCH reads a single stream"),
    ("SEARCH q FROM s WHERE a LIKE 5", 1, 30, "a string in single quotes"),
    ("SEARCH q FROM s WHERE a.b(1)", 1, 23, "not a function name"),
    ("SEARCH q FROM s WHERE a = 1e999", 1, 27, "number out of range"),
    ("STREAM s (a STRING,\n  b FOO)", 2, 5, "unknown type 'FOO'"),
    ("STREAM s WATERMARK 1.5ms", 1, 20, "whole number of milliseconds"),
    ("RULE r FROM s PATTERN (a{})", 1, 25, "expected a number"),
    ("RULE r FROM s PATTERN (a ->)", 1, 28, "expected a pattern variable"),
    ("RULE r FROM s PATTERN (a) AFTER MATCH SKIP TO b", 1, 47, "NEXT EVENT, FIRST v or LAST v"),
    ("RULE r FROM s PATTERN (a) DEFINE a x", 1, 36, "expected AS or FROM"),
    ("RULE r FROM s PATTERN (a) THEN FOO", 1, 32, "WEBHOOK 'url' or EMIT INTO"),
    ("SEARCH q FROM s\nWHERE x = 'abc\n;", 2, 11, "unterminated string"),
    ("SEARCH q FROM s /* abc\n", 1, 17, "unterminated comment"),
    ('SEARCH q FROM s WHERE "abc', 1, 23, "unterminated quoted name"),
    ("SEARCH q FROM s WHERE a $ b", 1, 25, "unexpected '$'"),
    ("SEARCH q FROM s\twhere\ta\t=\t", 1, 26, "expected an expression"),
    ("SEARCH q FROM s WHERE and = 1", 1, 23, "expected an expression"),
]


@pytest.mark.parametrize(("text", "line", "column", "fragment"), ERRORS)
def test_syntax_errors_name_line_and_column(text: str, line: int, column: int, fragment: str):
    with pytest.raises(RuleError) as info:
        parse(text, "rules/x.cep")
    err = info.value
    assert isinstance(err, RuleSyntaxError)
    assert (err.line, err.column) == (line, column), str(err)
    assert fragment in err.message
    assert err.source_name == "rules/x.cep"
    caret_line = err.snippet.splitlines()[-1]
    assert caret_line.strip() == "^"
    assert str(err).startswith(f"rules/x.cep:{line}:{column}: syntax error: ")


def test_snippet_shows_the_offending_line():
    text = "STREAM s;\nRULE r FROM s\n  PATTERN (a)\n  WITHIN 10x"
    err = raised(RuleSyntaxError, parse, text)
    assert err.snippet == "  WITHIN 10x\n         ^"


def test_crlf_and_unicode_line_breaks_count_like_splitlines():
    text = "STREAM s;\r\nSTREAM t;\rRULE r FROM s PATTERN (a) WHEN"
    err = raised(RuleSyntaxError, parse, text)
    assert (err.line, err.column) == (3, 27)
    assert err.snippet.startswith("RULE r FROM s")


def test_collect_all_returns_every_error_and_keeps_good_statements():
    text = "\n".join(
        [
            "STREAM s (a INT);",  # 1 ok
            "RULE bad1 FROM s PATTERN (a;",  # 2
            "SEARCH ok1 FROM s WHERE a = 1;",  # 3 ok
            "SEARCH bad2 FROM s WHERE a = = 1;",  # 4
            "NONSENSE here;",  # 5
            "RULE ok2 FROM s PATTERN (a b) -- trailing comment;",  # 6 ok (the ';' is commented)
            ";",  # 7: ends statement 6
            "RULE bad3 FROM s PATTERN (a) WITHIN 5 parsecs",  # 8, no final ';'
        ]
    )
    script, errors = parse_collect(text)
    assert [s.name for s in script.statements] == ["s", "ok1", "ok2"]
    assert [(e.line, e.column) for e in errors] == [(2, 28), (4, 30), (5, 1), (8, 37)]
    assert all(isinstance(e, RuleSyntaxError) for e in errors)
    with pytest.raises(RuleSyntaxError) as info:
        parse(text)
    assert info.value.line == 2  # parse() raises the first one


def test_semicolons_inside_strings_and_comments_do_not_split():
    text = (
        "SEARCH a FROM s WHERE x = ';' -- ; not here\n /* ; nor here */ AND y = 1; SEARCH b FROM s"
    )
    script = parse(text)
    assert [s.name for s in script.statements] == ["a", "b"]


def test_collect_all_stops_after_max_errors():
    _, errors = parse_collect("x;" * (MAX_ERRORS + 50))
    assert len(errors) == MAX_ERRORS + 1
    assert isinstance(errors[-1], RuleLimitError)
    assert "too many errors" in errors[-1].message


# ---------------------------------------------------------------- fuzzing


@FUZZ
@given(st.text(max_size=400))
def test_random_text_only_raises_rule_errors(text: str):
    _bounded(text)


@FUZZ
@given(
    st.lists(st.sampled_from(KEYWORDS + PUNCT), max_size=120),
    st.lists(st.sampled_from([" ", "", "\n", "\t"]), min_size=1, max_size=5),
)
def test_token_soup_only_raises_rule_errors(tokens: list[str], seps: list[str]):
    text = "".join(tok + seps[i % len(seps)] for i, tok in enumerate(tokens))
    _bounded(text)


@FUZZ
@given(st.lists(st.sampled_from(KEYWORDS + PUNCT), max_size=80), st.sampled_from(VALID_RULES))
def test_statement_prefix_with_token_soup(tokens: list[str], rule: str):
    _bounded(rule.split("\n")[0] + " " + " ".join(tokens))


def _mutate(text: str, rnd: random.Random, count: int) -> str:
    for _ in range(count):
        i = rnd.randrange(len(text) + 1)
        j = min(len(text), i + rnd.randrange(1, 12))
        op = rnd.randrange(5)
        if op == 0:  # delete a slice
            text = text[:i] + text[j:]
        elif op == 1:  # insert a token
            text = text[:i] + rnd.choice([*KEYWORDS, *PUNCT]) + text[i:]
        elif op == 2:  # duplicate a slice
            text = text[:j] + text[i:j] + text[j:]
        elif op == 3:  # replace one character
            text = text[:i] + rnd.choice("()';\"-!|{}*+?,. \n") + text[i + 1 :]
        else:  # swap two slices
            k = rnd.randrange(len(text) + 1)
            a, b = sorted((i, k))
            text = text[:a] + text[b:] + text[a:b]
    return text


@FUZZ
@given(st.sampled_from(VALID_RULES), st.integers(0, 2**32), st.integers(1, 6))
def test_mutated_rules_only_raise_rule_errors(rule: str, seed: int, count: int):
    _bounded(_mutate(rule, random.Random(seed), count))


@FUZZ
@given(st.lists(st.sampled_from(VALID_RULES), min_size=1, max_size=4), st.integers(0, 2**32))
def test_mutated_files_only_raise_rule_errors(rules: list[str], seed: int):
    _bounded(_mutate("\n".join(rules), random.Random(seed), 3))


def test_valid_corpus_parses():
    script = parse("\n".join(VALID_RULES))
    assert len(script.statements) == len(VALID_RULES)


# ---------------------------------------------------------------- nesting, size, depth


@pytest.mark.parametrize(
    "prefix",
    ["SEARCH s FROM x WHERE ", "RULE r FROM s PATTERN ", "SEARCH s FROM x WHERE f", "", "RULE ["],
)
def test_ten_thousand_open_brackets_fail_fast(prefix: str):
    text = prefix + "(" * 10_000
    err, elapsed = _cpu_seconds(_parse_or_error, text)
    assert isinstance(err, RuleSyntaxError) and elapsed < 1.0
    assert "nest deeper than 64" in err.message
    opened = [i for i, c in enumerate(text) if c in "(["]
    assert err.column == opened[MAX_NESTING] + 1  # the 65th bracket


def test_nesting_at_the_limit_parses():
    inner = "(" * MAX_NESTING + "a" + ")" * MAX_NESTING
    stmt = parse_statement("SEARCH s FROM x WHERE " + inner)
    assert stmt.where is not None
    calls = "f(" * MAX_NESTING + "a" + ")" * MAX_NESTING
    assert parse_statement("SEARCH s FROM x WHERE " + calls + " > 1").where is not None
    pattern = "(" * (MAX_NESTING - 1) + "a" + ")" * (MAX_NESTING - 1)
    assert parse_statement(f"RULE r FROM s PATTERN ({pattern})").pattern.name == "a"
    negs = "-(" * (MAX_NESTING - 1) + "1" + ")" * (MAX_NESTING - 1)
    assert parse_statement(f"RULE r FROM s PATTERN (a) DEFINE a AS x = {negs}")


def test_recursion_limit_is_restored_and_threads_agree():
    before = sys.getrecursionlimit()
    text = "RULE r FROM s PATTERN (" + "(" * 40 + "a" + ")" * 40 + ") DEFINE a AS x > 1"
    expected = parse(text)
    assert sys.getrecursionlimit() == before
    results: list[object] = []

    def work() -> None:
        for _ in range(5):
            results.append(parse(text))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20 and all(r == expected for r in results)


def test_huge_file_is_a_limit_error():
    err = raised(RuleLimitError, parse, "x" * (MAX_FILE_BYTES + 1))
    assert (err.line, err.column) == (1, 1)
    # counted in UTF-8 bytes, not characters
    script, errors = parse_collect("é" * (MAX_FILE_BYTES // 2 + 1))
    assert script.statements == () and isinstance(errors[0], RuleLimitError)


def test_long_statement_is_a_limit_error_and_others_still_parse():
    items = ", ".join(["1"] * (MAX_STATEMENT_BYTES // 3 + 10))
    text = f"STREAM s;\n\n  SEARCH big FROM s WHERE a IN ({items});\nSEARCH ok FROM s"
    script, errors = parse_collect(text)
    assert [s.name for s in script.statements] == ["s", "ok"]
    assert len(errors) == 1 and isinstance(errors[0], RuleLimitError)
    assert (errors[0].line, errors[0].column) == (3, 3)


@pytest.mark.parametrize(
    "expr",
    [
        " AND ".join(["a = 1"] * (MAX_DEPTH + 5)),
        " + ".join(["a"] * 5000),
        "NOT " * 5000 + "a",
        "- " * 5000 + "1 > 0",
        "a IN (" + ", ".join(" OR ".join(["b"] * 300) for _ in range(5)) + ")",
    ],
)
def test_long_chains_are_bounded(expr: str):
    err, elapsed = _cpu_seconds(_parse_or_error, "SEARCH s FROM x WHERE " + expr)
    assert isinstance(err, RuleLimitError) and elapsed < 1.0
    assert "nested more than" in err.message
    # the grammar path (a RULE) is bounded the same way
    with pytest.raises(RuleLimitError):
        parse("RULE r FROM s PATTERN (a) DEFINE a AS " + expr)


def test_chains_under_the_limit_parse():
    expr = " AND ".join(["a = 1"] * (MAX_DEPTH - 10))
    assert parse("SEARCH s FROM x WHERE " + expr).statements


GARBAGE = [
    "(" * 10_000,
    ")" * 10_000,
    "'" * 10_000,
    "/*" * 5_000,
    "--" * 5_000,
    '"' * 10_000,
    "RULE r FROM s PATTERN (" + "a|" * 5_000,
    "RULE r FROM s PATTERN (" + "a -> " * 2_000,
    "RULE r FROM s PATTERN (" + "a{1,2}" * 1_500 + ")",
    "RULE r FROM s PATTERN (" + "(a " * 60 + "b" * 9_000,
    "SEARCH s FROM x WHERE " + "a+" * 5_000,
    "SEARCH s FROM x WHERE " + "f(" * 60 + "1," * 4_000,
    "SEARCH s FROM x WHERE a IN (" + "1," * 5_000,
    "STREAM s (" + "a INT, " * 1_400,
    "RULE r FROM " + "s, " * 3_000,
    ";" * 10_000,
    "SEARCH " * 1_400,
    "\x00\x01\x02\ud7ff" * 2_500,
]


@pytest.mark.parametrize("text", GARBAGE, ids=lambda t: repr(t[:12]))
def test_ten_kilobytes_of_garbage_take_under_a_second(text: str):
    _bounded(text, limit=1.0)


def test_random_bytes_take_under_a_second():
    rnd = random.Random(7)
    for _ in range(5):
        text = bytes(rnd.randrange(256) for _ in range(10_000)).decode("latin-1")
        _bounded(text, limit=1.0)
