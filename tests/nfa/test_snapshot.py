"""Snapshot/restore: state taken at any point and restored into a fresh engine loses nothing."""

from __future__ import annotations

import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cep.engine import Engine
from cep.lang import ast as A
from cep.lang.compiler import StreamSpec, compile_rule

from .test_differential_re import has_nullable_loop, nullable, patterns, to_regex

LETTERS = "abc"


def letter_rule(pattern: A.Pattern, within: int | None, skip: str = "PAST_LAST") -> A.RuleStmt:
    defines = tuple(A.Define(ch, A.Binary("=", A.Name(("l",)), A.Literal(ch))) for ch in LETTERS)
    return A.RuleStmt(
        name="r",
        sources=(A.Source("s"),),
        pattern=pattern,
        partition_by=(("k",),),
        defines=defines,
        within_ms=within,
        after_match=A.AfterMatch(skip),
    )


def events_from(text: str, keys: list[int]) -> list[dict]:
    return [{"l": ch, "k": keys[i % len(keys)], "ts": i * 10} for i, ch in enumerate(text)]


def run(rule: A.RuleStmt, events: list[dict], cut: int | None = None) -> list[tuple]:
    def fresh() -> Engine:
        return Engine([compile_rule(rule)], {"s": StreamSpec("s", ("k",), watermark_ms=15)})

    e = fresh()
    out = []
    for off, ev in enumerate(events):
        if cut is not None and off == cut:
            out.extend(e.take())
            data = e.snapshot()
            orjson.loads(data)  # plain JSON, no pickle
            e = fresh()
            e.restore(data)
        e.process(ev, off, "s")
    e.flush()
    out.extend(e.take())
    return [(m.match_id, m.key, tuple(m.offsets), m.timed_out) for m in out]


@settings(max_examples=150, deadline=None)
@given(
    patterns,
    st.text(alphabet=LETTERS, min_size=1, max_size=30),
    st.lists(st.integers(0, 2), min_size=1, max_size=3),
    st.sampled_from([None, 25, 60]),
    st.sampled_from(["PAST_LAST", "TO_NEXT"]),
    st.data(),
)
def test_restore_anywhere_gives_same_matches(pattern, text, keys, within, skip, data) -> None:
    assume(not nullable(to_regex(pattern)) and not has_nullable_loop(pattern))
    rule = letter_rule(pattern, within, skip)
    events = events_from(text, keys)
    whole = run(rule, events)
    cut = data.draw(st.integers(0, len(events) - 1))
    assert run(rule, events, cut) == whole


def test_replaced_statement_does_not_inherit_state() -> None:
    rule = letter_rule(A.PSeq((A.PVar("a"), A.PVar("b")), ("->",)), None)
    e = Engine([compile_rule(rule)], {})
    e.process({"l": "a", "k": 1, "ts": 0}, 0, "s")
    data = e.snapshot()
    e2 = Engine([compile_rule(rule, version=2)], {})
    e2.restore(data)
    e2.process({"l": "b", "k": 1, "ts": 1}, 1, "s")
    e2.flush()
    assert e2.take() == []
    e3 = Engine([compile_rule(rule)], {})
    e3.restore(data)
    e3.process({"l": "b", "k": 1, "ts": 1}, 1, "s")
    e3.flush()
    assert [m.offsets for m in e3.take()] == [[("a", 0), ("b", 1)]]
