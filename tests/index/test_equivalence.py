"""The attribute index gives exactly the PlainIndex engine's matches (and brute force's).

Random SEARCH and RULE statements over a few attributes (nulls, lists, objects, booleans,
mixed int/float, NaN, boundary values) against random events; small bucket and compaction
thresholds so that ambiguous buckets, fresh slots, merges and re-bucketing all happen.
"""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cep.engine import Engine
from cep.errors import RuleErrors
from cep.index.attribute import AttributeIndex
from cep.index.plain import PlainIndex
from cep.lang.compiler import compile_text
from cep.lang.expr import compile_condition
from cep.lang.parser import parse_expression
from tests.index.strategies import condition, event

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def key(m):
    """Everything a match carries, comparable (NaN-safe through repr)."""
    return (
        m.statement,
        m.match_id,
        repr(m.key),
        m.timed_out,
        m.start_ts,
        m.end_ts,
        repr(m.bindings),
        repr(m.fields),
        repr(m.offsets),
    )


@contextmanager
def tiny_thresholds(buckets: int = 2, compact: int = 1):
    """Force bucket ambiguity and frequent compactions."""
    with (
        mock.patch("cep.index.ranges.MAX_BUCKETS", buckets),
        mock.patch("cep.index.partition.COMPACT_MIN", compact),
    ):
        yield


def compile_or_skip(text):
    try:
        return compile_text(text)
    except RuleErrors:
        assume(False)
        raise


def run(stmts, specs, index, events):
    e = Engine(stmts, specs, index=index)
    for off, ev in enumerate(events):
        e.process(ev, off, "s")
    e.flush()
    return sorted(key(m) for m in e.take()), e


@SETTINGS
@given(
    st.lists(condition(), min_size=1, max_size=8),
    st.lists(event(), min_size=1, max_size=12),
    st.integers(1, 4),
)
def test_searches_equal_plain_and_brute_force(conds, events, buckets):
    text = "\n".join(f"SEARCH s{i} FROM s WHERE {c} EMIT a, b AS bee;" for i, c in enumerate(conds))
    stmts, specs = compile_or_skip(text)
    for ev in events:
        ev["ts"] = 0
    want, _ = run(stmts, specs, PlainIndex(), events)
    with tiny_thresholds(buckets):
        got, _ = run(stmts, specs, AttributeIndex(), events)
    assert got == want
    brute = sorted(
        (f"s{i}", off)
        for i, c in enumerate(conds)
        for off, ev in enumerate(events)
        if compile_condition(parse_expression(c)).fn(ev, None)
    )
    assert sorted((k[0], eval(k[8])[0][1]) for k in got) == brute


@SETTINGS
@given(
    st.lists(st.tuples(condition(4), condition(3), st.booleans()), min_size=1, max_size=5),
    st.lists(event(), min_size=1, max_size=14),
)
def test_rules_equal_plain(rules, events):
    parts = []
    for i, (c1, c2, binds) in enumerate(rules):
        second = f"({c2}) AND b >= x.b" if binds else c2
        pattern = "(x y+)" if i % 2 else "(x -> y)"
        part = "PARTITION BY k " if i % 3 else ""
        parts.append(
            f"RULE r{i} FROM s {part}PATTERN {pattern} DEFINE x AS {c1}, y AS {second} WITHIN 40ms;"
        )
    parts.append(f"SEARCH q FROM s WHERE {rules[0][0]};")
    stmts, specs = compile_or_skip("\n".join(parts))
    for t, ev in enumerate(events):
        ev["ts"] = t * 7
    want, _ = run(stmts, specs, PlainIndex(), events)
    with tiny_thresholds():
        got, _ = run(stmts, specs, AttributeIndex(), events)
    assert got == want


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(0, 9), condition(4)),
            st.tuples(st.just("remove"), st.integers(0, 9), st.just("")),
            st.tuples(st.just("event"), st.integers(0, 0), event()),
        ),
        max_size=40,
    ),
    st.integers(1, 3),
)
def test_live_registration_equals_plain(ops, buckets):
    """Adds, replacements and removals interleaved with events, as a live service does."""
    plain = Engine([], index=PlainIndex())
    with tiny_thresholds(buckets):
        idx = Engine([], index=AttributeIndex())
        for off, (op, n, arg) in enumerate(ops):
            if op == "add":
                try:
                    (st_,), _ = compile_text(f"SEARCH s{n} FROM s WHERE {arg};")
                except RuleErrors:
                    continue
                plain.add_statement(st_)
                idx.add_statement(st_)
            elif op == "remove":
                plain.remove_statement(f"s{n}")
                idx.remove_statement(f"s{n}")
            else:
                arg["ts"] = 0
                plain.process(arg, off, "s")
                idx.process(arg, off, "s")
                assert sorted(key(m) for m in idx.take()) == sorted(key(m) for m in plain.take())
