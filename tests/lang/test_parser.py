"""Parser tests: the spec's examples verbatim, every construct, spans, and the SEARCH fast path.

The fast path (cep.lang.fastpath) must build exactly the tree the grammar builds, spans
included: hand-written statements and generated expression texts are parsed both ways.
The timing test measures 10,000 saved searches through parse_collect and through parse().
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.errors import RuleError, RuleSyntaxError
from cep.lang import ast as A
from cep.lang.fastpath import parse_search
from cep.lang.parser import (
    parse,
    parse_collect,
    parse_expression,
    parse_pattern,
    parse_statement,
)
from cep.lang.scan import line_starts


def raised(cls: type[Exception], fn, *args):  # type: ignore[no-untyped-def]
    """The exception `fn(*args)` raises, which must be a `cls`."""
    with pytest.raises(cls) as info:
        fn(*args)
    return info.value


def N(*parts: str) -> A.Name:
    return A.Name(parts)


def L(value: object) -> A.Literal:
    return A.Literal(value)  # type: ignore[arg-type]


def B(op: str, left: A.Expr, right: A.Expr) -> A.Binary:
    return A.Binary(op, left, right)


def V(name: str) -> A.PVar:
    return A.PVar(name)


def where(text: str) -> A.Expr:
    stmt = parse_statement(f"SEARCH s FROM x WHERE {text}")
    assert isinstance(stmt, A.SearchStmt) and stmt.where is not None
    return stmt.where


def pat(text: str) -> A.Pattern:
    stmt = parse_statement(f"RULE r FROM s PATTERN ({text})")
    assert isinstance(stmt, A.RuleStmt)
    return stmt.pattern


def with_spans(node: object) -> object:
    """A comparable form of a tree that includes spans (== on nodes ignores them)."""
    if isinstance(node, tuple):
        return tuple(with_spans(x) for x in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        fields = dataclasses.fields(node)
        return (type(node).__name__, *((f.name, with_spans(getattr(node, f.name))) for f in fields))
    return node


# ---------------------------------------------------------------- the spec, verbatim

SPEC_STREAM = """STREAM payments (card_id STRING, amount FLOAT, merchant STRING, country STRING)
  KEY card_id
  TIME ts WATERMARK 5s          -- bounded out-of-orderness: events up to 5 s late are re-ordered
  LATE EVENTS TO late_payments; -- events behind the watermark go to this stream (default: counted and dropped)
"""  # noqa: E501
SPEC_RULE = """RULE card_testing
FROM payments
PARTITION BY card_id
PATTERN (small{3,} large)
DEFINE
  small AS amount < 5,
  large AS amount > 500 AND country = FIRST(small.country)
WITHIN 10m
EMIT card_id, COUNT(small) AS attempts, large.amount AS amount
THEN WEBHOOK 'https://fraud.example.com/hooks/card-testing';
"""
SPEC_SEARCH = """SEARCH seoul_family
FROM listings
WHERE city = 'Seoul' AND price BETWEEN 300000 AND 500000 AND rooms >= 3
  AND features CONTAINS ALL ('parking', 'elevator')
THEN WEBHOOK 'https://homes.example.com/notify/u/123';
"""


def test_spec_stream_example():
    assert parse(SPEC_STREAM).statements == (
        A.StreamStmt(
            name="payments",
            fields=(
                A.Field("card_id", "STRING"),
                A.Field("amount", "FLOAT"),
                A.Field("merchant", "STRING"),
                A.Field("country", "STRING"),
            ),
            key=("card_id",),
            time=("ts",),
            watermark_ms=5000,
            late_to="late_payments",
        ),
    )


def test_spec_rule_example():
    assert parse_statement(SPEC_RULE) == A.RuleStmt(
        name="card_testing",
        sources=(A.Source("payments"),),
        pattern=A.PSeq((A.PQuant(V("small"), 3, None), V("large")), ("",)),
        partition_by=(("card_id",),),
        defines=(
            A.Define("small", B("<", N("amount"), L(5))),
            A.Define(
                "large",
                B(
                    "AND",
                    B(">", N("amount"), L(500)),
                    B("=", N("country"), A.Call("FIRST", (N("small", "country"),))),
                ),
            ),
        ),
        within_ms=600_000,
        emit=(
            A.EmitItem(N("card_id")),
            A.EmitItem(A.Call("COUNT", (N("small"),)), "attempts"),
            A.EmitItem(N("large", "amount"), "amount"),
        ),
        actions=(A.Webhook("https://fraud.example.com/hooks/card-testing"),),
    )


def test_spec_search_example():
    cond = B(
        "AND",
        B(
            "AND",
            B(
                "AND",
                B("=", N("city"), L("Seoul")),
                A.Between(N("price"), L(300000), L(500000)),
            ),
            B(">=", N("rooms"), L(3)),
        ),
        A.Contains(N("features"), "ALL", (L("parking"), L("elevator"))),
    )
    expected = A.SearchStmt(
        "seoul_family", "listings", cond, (), (A.Webhook("https://homes.example.com/notify/u/123"),)
    )
    assert parse_statement(SPEC_SEARCH) == expected
    assert parse_statement(SPEC_SEARCH) == parse(SPEC_SEARCH, fast_path=False).statements[0]


def test_spec_several_streams():
    stmt = parse_statement(
        "RULE big_after_login FROM logins, transfers PATTERN (l -> t) "
        "DEFINE t FROM transfers WHERE amount > 1000"
    )
    assert isinstance(stmt, A.RuleStmt)
    assert stmt.sources == (A.Source("logins"), A.Source("transfers"))
    assert stmt.defines == (A.Define("t", B(">", N("amount"), L(1000)), "transfers"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p q", A.PSeq((V("p"), V("q")), ("",))),
        ("p -> q", A.PSeq((V("p"), V("q")), ("->",))),
        ("p ->> q", A.PSeq((V("p"), V("q")), ("->>",))),
        ("p | q", A.PAlt((V("p"), V("q")))),
        ("( p )", V("p")),
        ("p?", A.PQuant(V("p"), 0, 1)),
        ("p*", A.PQuant(V("p"), 0, None)),
        ("p+", A.PQuant(V("p"), 1, None)),
        ("p{3}", A.PQuant(V("p"), 3, 3)),
        ("p{3,}", A.PQuant(V("p"), 3, None)),
        ("p{3,5}", A.PQuant(V("p"), 3, 5)),
        ("p{,5}", A.PQuant(V("p"), 0, 5)),
        ("p??", A.PQuant(V("p"), 0, 1, greedy=False)),
        ("p*?", A.PQuant(V("p"), 0, None, greedy=False)),
        ("p+?", A.PQuant(V("p"), 1, None, greedy=False)),
        ("p{2,4}?", A.PQuant(V("p"), 2, 4, greedy=False)),
        ("p->+", A.PQuant(V("p"), 1, None, skip="->")),
        ("p->*", A.PQuant(V("p"), 0, None, skip="->")),
        ("p->{2,4}", A.PQuant(V("p"), 2, 4, skip="->")),
        ("p->>+", A.PQuant(V("p"), 1, None, skip="->>")),
        ("p->>{3,}?", A.PQuant(V("p"), 3, None, greedy=False, skip="->>")),
        ("p->+?", A.PQuant(V("p"), 1, None, greedy=False, skip="->")),
        ("fail->{3,}", A.PQuant(V("fail"), 3, None, skip="->")),
        ("p { 2 , 3 }", A.PQuant(V("p"), 2, 3)),
        ("p -> !v -> q", A.PSeq((V("p"), A.PNot("v"), V("q")), ("->", "->"))),
        ("p -> !v", A.PSeq((V("p"), A.PNot("v")), ("->",))),
    ],
)
def test_spec_pattern_operators(text: str, expected: A.Pattern):
    assert pat(text) == expected


# ---------------------------------------------------------------- lexical


def test_keywords_are_case_insensitive():
    upper = "RULE r FROM s PATTERN (a) DEFINE a AS x > 1 AND y IS NOT NULL WITHIN 10 MINUTES"
    lower = "rule r from s pattern (a) define a as x > 1 and y is not null within 10 minutes"
    mixed = "Rule r From s Pattern (a) Define a As x > 1 aNd y Is Not nUll Within 10 Minutes"
    assert parse(lower) == parse(upper) == parse(mixed)


def test_reserved_words_need_double_quotes():
    assert raised(RuleSyntaxError, where, "from = 1").column == 23
    assert where('"from" = 1') == B("=", N("from"), L(1))
    assert where('"key"."from" = 1') == B("=", N("key", "from"), L(1))
    assert where('a."select me" = 1') == B("=", N("a", "select me"), L(1))
    assert where('"say ""hi""" = 1') == B("=", N('say "hi"'), L(1))
    assert parse_statement('SEARCH "where" FROM "from"') == A.SearchStmt("where", "from")


@pytest.mark.parametrize(
    "word",
    [
        "key",
        "time",
        "count",
        "match",
        "first",
        "last",
        "all",
        "any",
        "skip",
        "event",
        "row",
        "past",
        "next",
        "to",
        "by",
        "on",
        "timeout",
        "late",
        "events",
        "watermark",
        "webhook",
        "secret",
        "into",
        "string",
        "int",
        "list",
        "object",
    ],
)
def test_non_reserved_keywords_work_as_names(word: str):
    assert where(f"{word} = 1") == B("=", N(word), L(1))
    assert where(f"a.{word} > {word}.b") == B(">", N("a", word), N(word, "b"))
    stmt = parse_statement(
        f"RULE {word} FROM {word} {word}, s AS {word}x PATTERN ({word} b+) DEFINE {word} AS "
        f"{word} = 1 AFTER MATCH SKIP TO LAST {word} EMIT {word} AS {word}"
    )
    assert isinstance(stmt, A.RuleStmt)
    assert stmt.name == word and stmt.sources[0] == A.Source(word, word)
    assert stmt.after_match == A.AfterMatch("TO_LAST", word)
    assert stmt.emit == (A.EmitItem(N(word), word),)
    stream = parse_statement(f"STREAM {word} ({word} STRING) KEY {word} TIME {word}.t")
    assert stream == A.StreamStmt(word, (A.Field(word, "STRING"),), (word,), (word, "t"))


def test_contains_all_any_versus_attributes_named_all_any():
    assert where("x CONTAINS all") == A.Contains(N("x"), "ONE", (N("all"),))
    assert where("x CONTAINS ALL ('a')") == A.Contains(N("x"), "ALL", (L("a"),))
    assert where("x CONTAINS any (1, 2)") == A.Contains(N("x"), "ANY", (L(1), L(2)))
    assert where("x CONTAINS all.y") == A.Contains(N("x"), "ONE", (N("all", "y"),))


def test_strings():
    assert where("a = 'it''s'") == B("=", N("a"), L("it's"))
    assert where("a = ''") == B("=", N("a"), L(""))
    assert where("a = 'two\nlines -- not a comment /* nor this */'") == B(
        "=", N("a"), L("two\nlines -- not a comment /* nor this */")
    )
    assert where("a = '''quoted'''") == B("=", N("a"), L("'quoted'"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("1_000", 1000),
        ("1_000_000", 1_000_000),
        ("3.5", 3.5),
        ("1_000.25", 1000.25),
        ("1e3", 1000.0),
        ("2.5E-3", 0.0025),
        ("123456789012345678901234567890", 123456789012345678901234567890),
    ],
)
def test_numbers(text: str, value: float):
    node = where(f"a = {text}")
    assert isinstance(node, A.Binary) and isinstance(node.right, A.Literal)
    assert node.right.value == value and type(node.right.value) is type(value)


def test_negative_numbers_are_unary_minus():
    assert where("a > -5") == B(">", N("a"), A.Unary("-", L(5)))
    assert where("a > - 5") == B(">", N("a"), A.Unary("-", L(5)))
    assert where("a > - -5") == B(">", N("a"), A.Unary("-", A.Unary("-", L(5))))
    assert where("a --5\n > 1") == B(">", N("a"), L(1))  # `--` starts a comment


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("10s", 10_000),
        ("5m", 300_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        ("10 MINUTES", 600_000),
        ("1 MINUTE", 60_000),
        ("1 SECOND", 1000),
        ("90 seconds", 90_000),
        ("500 MILLISECONDS", 500),
        ("1 millisecond", 1),
        ("2 HOURS", 7_200_000),
        ("1 hour", 3_600_000),
        ("1 DAY", 86_400_000),
        ("3 days", 259_200_000),
        ("3 mins", 180_000),
        ("1.5s", 1500),
        ("1_000ms", 1000),
        ("10M", 600_000),
    ],
)
def test_durations(text: str, ms: int):
    stmt = parse_statement(f"RULE r FROM s PATTERN (a) WITHIN {text}")
    assert isinstance(stmt, A.RuleStmt) and stmt.within_ms == ms
    stream = parse_statement(f"STREAM s WATERMARK {text}")
    assert isinstance(stream, A.StreamStmt) and stream.watermark_ms == ms


def test_comments_anywhere():
    text = """-- leading
    /* block
       comment */ RULE /* x */ r -- after the name
    FROM s PATTERN ( a /* in a pattern */ -> -- line
      b+ ) DEFINE a AS x /* in */ > -- an expression
      1;
    -- trailing
    """
    assert (
        parse(text).statements
        == parse("RULE r FROM s PATTERN (a -> b+) DEFINE a AS x > 1").statements
    )


def test_statement_separators():
    text = ";; STREAM a;\n;\nSTREAM b;  -- done\n STREAM c"
    assert [s.name for s in parse(text).statements] == ["a", "b", "c"]
    assert parse("").statements == ()
    assert parse("  -- nothing\n /* here */ ;").statements == ()


# ---------------------------------------------------------------- STREAM


def test_stream_types_and_aliases():
    stmt = parse_statement(
        "STREAM s (a NUMBER, b INTEGER, c BOOLEAN, d TEXT, e timestamp, f list, g Object, "
        "h any, user.id string)"
    )
    assert isinstance(stmt, A.StreamStmt) and stmt.fields is not None
    types = [f.type for f in stmt.fields]
    assert types == [
        "FLOAT",
        "INT",
        "BOOL",
        "STRING",
        "TIMESTAMP",
        "LIST",
        "OBJECT",
        "ANY",
        "STRING",
    ]
    assert stmt.fields[-1].name == "user.id"


def test_stream_clauses_in_any_order():
    a = parse_statement("STREAM s LATE EVENTS TO l WATERMARK 1s TIME e.ts KEY user.id")
    b = parse_statement("STREAM s KEY user.id TIME e.ts WATERMARK 1s LATE EVENTS TO l")
    assert a == b == A.StreamStmt("s", None, ("user", "id"), ("e", "ts"), 1000, "l")
    assert parse_statement("STREAM bare") == A.StreamStmt("bare")
    err = raised(RuleSyntaxError, parse, "STREAM s KEY a KEY b")
    assert (err.column, err.message) == (16, "duplicate KEY clause")


# ---------------------------------------------------------------- RULE


FULL_RULE = (
    "RULE r FROM a, b AS bb, c cc PARTITION BY k, u.id PATTERN (x -> y) "
    "DEFINE x AS v > 1, y FROM b, z FROM c WHERE w = 2 WITHIN 5m ON TIMEOUT EMIT "
    "AFTER MATCH SKIP TO NEXT ROW EMIT x.v AS first_v, COUNT(*) THEN WEBHOOK 'u' SECRET 's', "
    "EMIT INTO out"
)


def test_rule_with_every_clause():
    assert parse_statement(FULL_RULE) == A.RuleStmt(
        name="r",
        sources=(A.Source("a"), A.Source("b", "bb"), A.Source("c", "cc")),
        pattern=A.PSeq((V("x"), V("y")), ("->",)),
        partition_by=(("k",), ("u", "id")),
        defines=(
            A.Define("x", B(">", N("v"), L(1))),
            A.Define("y", None, "b"),
            A.Define("z", B("=", N("w"), L(2)), "c"),
        ),
        within_ms=300_000,
        on_timeout_emit=True,
        after_match=A.AfterMatch("TO_NEXT"),
        emit=(A.EmitItem(N("x", "v"), "first_v"), A.EmitItem(A.Call("COUNT", (A.Star(),)))),
        actions=(A.Webhook("u", "s"), A.EmitInto("out")),
    )


def test_rule_clauses_in_any_order():
    shuffled = (
        "RULE r FROM a, b AS bb, c cc THEN WEBHOOK 'u' SECRET 's', EMIT INTO out "
        "EMIT x.v AS first_v, COUNT(*) AFTER MATCH SKIP TO NEXT ROW "
        "WITHIN 5m ON TIMEOUT EMIT DEFINE x AS v > 1, y FROM b, z FROM c WHERE w = 2 "
        "PATTERN (x -> y) PARTITION BY k, u.id"
    )
    assert parse_statement(shuffled) == parse_statement(FULL_RULE)


@pytest.mark.parametrize(
    ("clause", "title"),
    [
        ("PARTITION BY k", "PARTITION BY"),
        ("PATTERN (b)", "PATTERN"),
        ("DEFINE a AS x > 1", "DEFINE"),
        ("WITHIN 1s", "WITHIN"),
        ("AFTER MATCH SKIP PAST LAST EVENT", "AFTER MATCH"),
        ("EMIT a.x", "EMIT"),
        ("THEN WEBHOOK 'u'", "THEN"),
    ],
)
def test_each_rule_clause_at_most_once(clause: str, title: str):
    head = "RULE r FROM s PATTERN (a) "
    text = f"{head}{clause}\n  {clause}"
    if title == "PATTERN":
        text = f"{head}\n  {clause}"
    err = raised(RuleSyntaxError, parse, text)
    assert err.message == f"duplicate {title} clause"
    assert (err.line, err.column) == (2, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PAST LAST EVENT", A.AfterMatch("PAST_LAST")),
        ("PAST LAST ROW", A.AfterMatch("PAST_LAST")),
        ("TO NEXT EVENT", A.AfterMatch("TO_NEXT")),
        ("to next row", A.AfterMatch("TO_NEXT")),
        ("TO FIRST a", A.AfterMatch("TO_FIRST", "a")),
        ("TO LAST a", A.AfterMatch("TO_LAST", "a")),
    ],
)
def test_after_match(text: str, expected: A.AfterMatch):
    stmt = parse_statement(f"RULE r FROM s PATTERN (a) AFTER MATCH SKIP {text}")
    assert isinstance(stmt, A.RuleStmt) and stmt.after_match == expected


def test_pattern_is_required():
    err = raised(RuleSyntaxError, parse, "\n  RULE r FROM s EMIT a")
    assert (err.line, err.column) == (2, 3) and "PATTERN" in err.message


def test_alias_needs_as_when_followed_by_a_non_clause_word():
    err = raised(RuleSyntaxError, parse, "RULE r FROM s WHEN x PATTERN (a)")
    assert err.message == "unknown clause 'WHEN'"


# ---------------------------------------------------------------- SEARCH


def test_search_forms():
    assert parse_statement("SEARCH q FROM s") == A.SearchStmt("q", "s")
    a = parse_statement("SEARCH q FROM s THEN EMIT INTO t EMIT a AS b WHERE a > 1")
    b = parse_statement("SEARCH q FROM s WHERE a > 1 EMIT a AS b THEN EMIT INTO t")
    assert (
        a
        == b
        == A.SearchStmt(
            "q", "s", B(">", N("a"), L(1)), (A.EmitItem(N("a"), "b"),), (A.EmitInto("t"),)
        )
    )


# ---------------------------------------------------------------- patterns


def test_pattern_structure():
    assert pat("((a))") == V("a")
    assert pat("(a b) c") == A.PSeq((A.PSeq((V("a"), V("b")), ("",)), V("c")), ("",))
    assert pat("a b c") == A.PSeq((V("a"), V("b"), V("c")), ("", ""))
    assert pat("a | b c | d") == A.PAlt((V("a"), A.PSeq((V("b"), V("c")), ("",)), V("d")))
    assert pat("(a | b) | c") == A.PAlt((A.PAlt((V("a"), V("b"))), V("c")))
    assert pat("a b -> c ->> d") == A.PSeq((V("a"), V("b"), V("c"), V("d")), ("", "->", "->>"))
    assert pat("(a b)+ c?") == A.PSeq(
        (A.PQuant(A.PSeq((V("a"), V("b")), ("",)), 1, None), A.PQuant(V("c"), 0, 1)), ("",)
    )
    assert pat('"from"+') == A.PQuant(V("from"), 1, None)


def test_skip_quantifier_versus_join():
    assert pat("a ->+ b") == A.PSeq((A.PQuant(V("a"), 1, None, skip="->"), V("b")), ("",))
    assert pat("a->+b") == pat("a ->+ b")
    assert pat("a -> b+") == A.PSeq((V("a"), A.PQuant(V("b"), 1, None)), ("->",))
    assert pat("a->b") == A.PSeq((V("a"), V("b")), ("->",))
    assert pat("a ->> b") == A.PSeq((V("a"), V("b")), ("->>",))
    assert pat("a ->>* -> b") == A.PSeq((A.PQuant(V("a"), 0, None, skip="->>"), V("b")), ("->",))
    with pytest.raises(RuleSyntaxError):
        pat("a -> +b")
    with pytest.raises(RuleSyntaxError):
        pat("a->?")


# ---------------------------------------------------------------- expressions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a OR b AND c", B("OR", N("a"), B("AND", N("b"), N("c")))),
        ("a AND b OR c", B("OR", B("AND", N("a"), N("b")), N("c"))),
        ("NOT a = 1 AND b", B("AND", A.Unary("NOT", B("=", N("a"), L(1))), N("b"))),
        ("NOT NOT a", A.Unary("NOT", A.Unary("NOT", N("a")))),
        ("a + b * c", B("+", N("a"), B("*", N("b"), N("c")))),
        ("a - b - c", B("-", B("-", N("a"), N("b")), N("c"))),
        ("a - (b - c)", B("-", N("a"), B("-", N("b"), N("c")))),
        ("(a - b) * c % 2", B("%", B("*", B("-", N("a"), N("b")), N("c")), L(2))),
        ("-a * b", B("*", A.Unary("-", N("a")), N("b"))),
        ("a / -b", B("/", N("a"), A.Unary("-", N("b")))),
        ("a + 1 > b * 2", B(">", B("+", N("a"), L(1)), B("*", N("b"), L(2)))),
        ("a <> b", B("!=", N("a"), N("b"))),
        ("a != b", B("!=", N("a"), N("b"))),
        ("a <= b", B("<=", N("a"), N("b"))),
        ("a >= b", B(">=", N("a"), N("b"))),
        ("a BETWEEN 1 AND 2 AND c", B("AND", A.Between(N("a"), L(1), L(2)), N("c"))),
        ("a NOT BETWEEN b + 1 AND 3", A.Between(N("a"), B("+", N("b"), L(1)), L(3), True)),
        ("a IN (1, 'x', b.c)", A.InList(N("a"), (L(1), L("x"), N("b", "c")))),
        ("a NOT IN (1)", A.InList(N("a"), (L(1),), True)),
        ("a IS NULL", A.IsNull(N("a"))),
        ("a IS NOT NULL", A.IsNull(N("a"), True)),
        ("tags CONTAINS 'x'", A.Contains(N("tags"), "ONE", (L("x"),))),
        ("tags CONTAINS ANY ('x', 'y')", A.Contains(N("tags"), "ANY", (L("x"), L("y")))),
        ("a LIKE 'x%'", A.Like(N("a"), "x%")),
        ("a NOT LIKE '_x'", A.Like(N("a"), "_x", True)),
        ("a MATCHES '^a+$'", A.Matches(N("a"), "^a+$")),
        ("lower(a) = 'x'", B("=", A.Call("LOWER", (N("a"),)), L("x"))),
        ("Coalesce(a, b, 0) > 1", B(">", A.Call("COALESCE", (N("a"), N("b"), L(0))), L(1))),
        ("f() = 1", B("=", A.Call("F", ()), L(1))),
        ("count(*) > 1", B(">", A.Call("COUNT", (A.Star(),)), L(1))),
        ("a.b.c = TRUE", B("=", N("a", "b", "c"), L(True))),
        ("a = false OR b = null", B("OR", B("=", N("a"), L(False)), B("=", N("b"), L(None)))),
        ("(a)", N("a")),
        ("((a = 1))", B("=", N("a"), L(1))),
    ],
)
def test_expressions(text: str, expected: A.Expr):
    assert where(text) == expected
    assert parse_expression(text) == expected


def test_comparisons_do_not_chain():
    for text in ("a = b = c", "a < b < c", "a IS NULL = TRUE", "a BETWEEN 1 AND 2 > 0"):
        with pytest.raises(RuleSyntaxError):
            where(text)
    assert where("(a = b) = c") == B("=", B("=", N("a"), N("b")), N("c"))


# ---------------------------------------------------------------- spans


def test_spans_are_file_positions():
    text = (
        "STREAM s;\n\nRULE r\n  FROM s AS t\n  PATTERN (a ->\n    b{2})\n  DEFINE b AS\n  x.y > -1"
    )
    script = parse(text)
    rule = script.statements[1]
    assert isinstance(rule, A.RuleStmt)
    assert (rule.span.line, rule.span.column) == (3, 1)
    assert rule.span.offset == text.index("RULE")
    assert (rule.sources[0].span.line, rule.sources[0].span.column) == (4, 8)
    seq = rule.pattern
    assert isinstance(seq, A.PSeq)
    assert (seq.items[0].span.line, seq.items[0].span.column) == (5, 12)
    assert (seq.items[1].span.line, seq.items[1].span.column) == (6, 5)
    d = rule.defines[0]
    assert (d.span.line, d.span.column) == (7, 10)
    cond = d.condition
    assert isinstance(cond, A.Binary) and isinstance(cond.right, A.Unary)
    assert (cond.span.line, cond.span.column) == (8, 3)
    assert (cond.right.span.line, cond.right.span.column) == (8, 9)
    assert (cond.right.operand.span.line, cond.right.operand.span.column) == (8, 10)


# ---------------------------------------------------------------- entry points


def test_parse_statement_wants_exactly_one():
    with pytest.raises(RuleSyntaxError, match="found 0"):
        parse_statement("-- nothing")
    err = raised(RuleSyntaxError, parse_statement, "STREAM a;\nSTREAM b")
    assert (err.line, err.column) == (2, 1) and "found 2" in err.message


def test_parse_expression_and_pattern():
    assert parse_expression("a > 1 -- c") == B(">", N("a"), L(1))
    assert parse_pattern("a b+ -> !c") == A.PSeq(
        (V("a"), A.PQuant(V("b"), 1, None), A.PNot("c")), ("", "->")
    )
    err = raised(RuleSyntaxError, parse_expression, "a >\n  ")
    assert (err.line, err.column) == (1, 4)
    with pytest.raises(RuleSyntaxError, match="unexpected ';'"):
        parse_pattern("a; b")


def test_script_keeps_source_name():
    script = parse("STREAM s", "rules/a.cep")
    assert script.source_name == "rules/a.cep"


# ---------------------------------------------------------------- the SEARCH fast path

FAST_CASES = [
    SPEC_SEARCH,
    "SEARCH q FROM s",
    "search q from s where a = 1 emit a, b as c then webhook 'u' secret 's', emit into t",
    'SEARCH "where" FROM "from" WHERE "key"."from" <> \'it\'\'s\' -- c\n AND /* d */ b',
    "SEARCH q FROM s WHERE NOT NOT a IS NOT NULL OR b NOT BETWEEN -1 AND 2 * -x",
    "SEARCH q FROM s WHERE a NOT IN (1, 2.5, 1e3, 1_000) AND b NOT LIKE 'x%' AND c MATCHES 'y'",
    "SEARCH q FROM s WHERE t CONTAINS ALL (1) AND t CONTAINS any (2, 3) AND t CONTAINS all",
    "SEARCH q FROM s WHERE lower(a) = upper(b) AND count(*) > f() AND (a + b) % 2 = 0",
    "SEARCH q FROM s\n\tWHERE\n\t\ta.b.c >= TRUE AND d <= FALSE AND e = NULL",
]


@pytest.mark.parametrize("text", FAST_CASES)
def test_fast_path_builds_the_same_tree_as_the_grammar(text: str):
    prefix = "STREAM s;\n-- offset the statement\n  "
    body = text.rstrip().rstrip(";")
    assert parse_search(body, 0, line_starts(body)) is not None  # the fast path handles it
    fast = parse(prefix + text)
    slow = parse(prefix + text, fast_path=False)
    assert with_spans(fast) == with_spans(slow)


_NAMES = ["a", "b.c", '"from"', "all", "any", "key.x", "count", '"a b".c']
_SEPS = [" ", "\n", "  /* c */ ", " -- c\n", "\t"]


@st.composite
def expr_texts(draw: st.DrawFn, depth: int = 0) -> str:
    """Random expression text, valid or not (operators mixed freely)."""
    sep = draw(st.sampled_from(_SEPS))
    leaf = st.one_of(
        st.sampled_from(_NAMES),
        st.sampled_from(["1", "1_000", "2.5", "1e3", "0", "'x'", "'it''s'", "''"]),
        st.sampled_from(["TRUE", "false", "Null", "count(*)", "f()"]),
    )
    if depth > 3 or draw(st.booleans()):
        return draw(leaf)
    sub = expr_texts(depth + 1)
    a, b, c = draw(sub), draw(sub), draw(sub)
    op = draw(
        st.sampled_from(
            ["AND", "OR", "=", "!=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"]
        )
    )
    form = draw(st.integers(0, 11))
    return [
        f"{a}{sep}{op}{sep}{b}",
        f"NOT{sep}{a}",
        f"-{a}",
        f"({a})",
        f"{a} BETWEEN {b} AND {c}",
        f"{a} NOT IN ({b},{sep}{c})",
        f"{a} IS{sep}NOT NULL",
        f"{a} CONTAINS ALL ({b})",
        f"{a} CONTAINS {b}",
        f"{a} LIKE 'x%'{sep}",
        f"{a} MATCHES 'y' {op} {b}",
        f"lower({a}){sep}{op}{sep}f({b}, {c})",
    ][form]


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(expr_texts(), st.booleans())
def test_fast_path_agrees_with_the_grammar_on_generated_text(expr: str, emit: bool):
    text = f"SEARCH q FROM s WHERE {expr}" + (f" EMIT {expr} AS x" if emit else "")
    fast = parse_search(text, 0, line_starts(text))
    try:
        slow: object = parse(text, fast_path=False).statements[0]
    except RuleError:
        slow = None
    if slow is None:
        assert fast is None
    else:
        assert fast is not None, text
        assert with_spans(fast) == with_spans(slow)


# ---------------------------------------------------------------- speed


def _searches(n: int) -> list[str]:
    return [
        f"SEARCH s{i} FROM listings WHERE city = 'Seoul' AND price BETWEEN 300000 AND 500000 "
        f"AND rooms >= 3 AND features CONTAINS ALL ('parking', 'elevator')"
        for i in range(n)
    ]


@pytest.mark.slow
def test_ten_thousand_searches_parse_quickly():
    texts = _searches(10_000)
    start = time.perf_counter()
    script, errors = parse_collect(";\n".join(texts))
    one_file = time.perf_counter() - start
    start = time.perf_counter()
    singles = [parse(t).statements[0] for t in texts]
    separate = time.perf_counter() - start
    print(f"\n10,000 searches: one file {one_file:.2f}s, separate parse() {separate:.2f}s")
    assert not errors and len(script.statements) == 10_000
    assert singles[1234] == script.statements[1234]
    assert one_file < 10 and separate < 10
