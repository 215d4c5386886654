"""The engine gives the same matches whether the index is exhaustive or selective.

A selective index only names statements whose first step the event satisfies; keys with
live partial matches must still see every event (the engine routes those itself).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cep.engine import Engine
from cep.index.plain import FilteringIndex, PlainIndex
from cep.lang.compiler import compile_text

RULES = """
RULE strict FROM s PARTITION BY k PATTERN (a b+ c) DEFINE a AS x = 'a', b AS x = 'b', c AS x = 'c';
RULE skip FROM s PARTITION BY k PATTERN (a -> !c -> b)
  DEFINE a AS x = 'a', b AS x = 'b', c AS x = 'c'
  WITHIN 50ms;
RULE absent FROM s PARTITION BY k PATTERN (b -> !a) DEFINE a AS x = 'a', b AS x = 'b' WITHIN 30ms;
RULE anykey FROM s PATTERN (a ->> b) DEFINE a AS x = 'a', b AS x = 'b' WITHIN 40ms;
RULE other FROM s PARTITION BY j PATTERN (c{2,} a) DEFINE a AS x = 'a', c AS x = 'c'
  AFTER MATCH SKIP TO NEXT EVENT;
SEARCH only_c FROM s WHERE x = 'c' AND k = 1;
"""


def run(index, events):
    stmts, specs = compile_text(RULES)
    e = Engine(stmts, specs, index=index)
    for off, ev in enumerate(events):
        e.process(ev, off, "s")
    e.flush()
    return [(m.statement, m.match_id) for m in e.take()]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcd"), st.integers(0, 2), st.integers(0, 1), st.integers(0, 15)
        ),
        max_size=40,
    )
)
def test_selective_index_equals_exhaustive(rows):
    t = 0
    events = []
    for x, k, j, dt in rows:
        t += dt
        events.append({"x": x, "k": k, "j": j, "ts": t})
    want = run(PlainIndex(), events)
    got = run(FilteringIndex(), events)
    assert sorted(got) == sorted(want)
