"""Engine behaviour through rule text: event time, late events, timers, limits, bad events."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from cep.engine import Engine, Limits
from cep.lang.compiler import compile_text
from cep.testing import replay


def keys_of(matches):
    return [(m.statement, m.key, [o for _, o in m.offsets], m.timed_out) for m in matches]


CARD = """
STREAM payments (card_id STRING, amount FLOAT, ts INT) KEY card_id WATERMARK 5s
  LATE EVENTS TO late_payments;
RULE card_testing FROM payments PARTITION BY card_id
PATTERN (small{3,} large)
DEFINE small AS amount < 5, large AS amount > 500
WITHIN 10m
EMIT card_id, COUNT(small) AS attempts, large.amount AS amount;
"""


def card_events():
    ts = [0, 1000, 2000, 3000, 4000]
    amounts = [1, 2, 3, 4, 900]
    return [
        {"stream": "payments", "card_id": "c1", "amount": a, "ts": t} for a, t in zip(amounts, ts)
    ]


def test_emit_fields_and_bindings_exactly_as_given():
    evs = card_events()
    [m] = replay(CARD, evs)
    assert m.fields == {"card_id": "c1", "attempts": 4, "amount": 900}
    assert m.bindings["small"] == evs[:4] and m.bindings["large"] == [evs[4]]
    assert m.bindings["large"][0] is evs[4]


def test_out_of_order_within_bound_is_reordered():
    evs = card_events()
    shuffled = [evs[1], evs[0], evs[3], evs[2], evs[4]]  # each at most 1 s out of order
    [m] = replay(CARD, shuffled)
    assert [o for _, o in m.offsets] == [1, 0, 3, 2, 4]  # offsets of the arrival positions
    assert m.fields["attempts"] == 4


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_shuffling_within_watermark_bound_gives_same_matches(rnd: random.Random):
    evs = []
    t = 0
    for i in range(60):
        t += rnd.randint(
            1, 3000
        )  # distinct times: ties are ordered by offset, which shuffling changes
        evs.append(
            {
                "stream": "payments",
                "card_id": f"c{rnd.randint(0, 2)}",
                "amount": rnd.choice([1, 2, 3, 100, 900]),
                "ts": t,
                "i": i,
            }
        )
    ordered = replay(CARD, evs)
    # displace events only within the 5 s bound: sort by ts + jitter < bound
    jittered = sorted(evs, key=lambda e: e["ts"] + rnd.randint(0, 4999))
    shuffled = replay(CARD, jittered)

    def ident(ms):
        return sorted((m.key, tuple(e["i"] for v in m.bindings.values() for e in v)) for m in ms)

    assert ident(shuffled) == ident(ordered)


def test_late_event_goes_to_late_stream_and_is_counted():
    stmts, specs = compile_text(CARD)
    e = Engine(stmts, specs)
    e.process({"card_id": "c1", "amount": 1, "ts": 100_000}, 0, "payments")
    e.process({"card_id": "c1", "amount": 1, "ts": 90_000}, 1, "payments")  # 10 s behind: late
    assert e.counters["late"] == 1
    assert e.take_late() == [("late_payments", {"card_id": "c1", "amount": 1, "ts": 90_000})]


def test_absence_fires_on_quiet_key_by_watermark():
    text = """
    RULE no_heartbeat FROM heartbeats PARTITION BY host
    PATTERN (hb -> !hb2) DEFINE hb2 AS true WITHIN 1m
    """
    evs = [
        {"stream": "heartbeats", "host": "a", "ts": 0},
        {"stream": "heartbeats", "host": "b", "ts": 30_000},
        {"stream": "heartbeats", "host": "b", "ts": 90_000},  # host a quiet for > 1 m
    ]
    stmts, specs = compile_text(text)
    e = Engine(stmts, specs)
    fired = []
    for off, ev in enumerate(evs):
        e.process(ev, off, ev["stream"])
        fired.append([m.key for m in e.take()])
    # host a fires when event time passes 60 s (b's event at 90 s), before end of input
    assert fired == [[], [], ["a"]]  # b heartbeated at 90 s: its first wait is cancelled


def test_timeout_emit_reports_partial_match_once():
    text = """
    RULE abandoned FROM shop PARTITION BY user
    PATTERN (c -> p) DEFINE c AS kind = 'checkout', p AS kind = 'pay'
    WITHIN 30m ON TIMEOUT EMIT
    """
    evs = [
        {"stream": "shop", "user": "u1", "kind": "checkout", "ts": 0},
        {"stream": "shop", "user": "u2", "kind": "checkout", "ts": 1},
        {"stream": "shop", "user": "u2", "kind": "pay", "ts": 60_000},
        {"stream": "shop", "user": "u3", "kind": "view", "ts": 3_600_000},
    ]
    ms = replay(text, evs)
    assert keys_of(ms) == [("abandoned", "u2", [1, 2], False), ("abandoned", "u1", [0], True)]


def test_skip_till_any_is_capped_and_drops_are_counted():
    text = """
    RULE combos FROM s PARTITION BY k
    PATTERN (a ->> b+ ->> c) DEFINE a AS x = 'a', b AS x = 'b', c AS x = 'c'
    WITHIN 1h
    """
    stmts, specs = compile_text(text)
    e = Engine(stmts, specs, Limits(max_threads_per_key=50))
    evs = [{"k": 1, "x": "a", "ts": 0}] + [{"k": 1, "x": "b", "ts": i} for i in range(1, 300)]
    peak = 0
    for off, ev in enumerate(evs):
        e.process(ev, off, "s")
        peak = max(peak, e.stats()["statements"]["combos"]["partial_matches"])
    assert peak <= 50
    assert e.stats()["statements"]["combos"]["limit_drops"] > 0


ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=5,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["amount", "card_id", "country", "tags", "ts", "x"]),
            ANY_VALUE,
            max_size=6,
        ),
        max_size=12,
    )
)
def test_missing_or_mistyped_attributes_never_crash(events):
    text = """
    RULE r1 FROM s PARTITION BY card_id PATTERN (a b+ -> c)
    DEFINE a AS amount < 5 AND country IN ('KR', 'US'), b AS SUM(b.amount) > 3 OR x LIKE 'q%',
           c AS amount > FIRST(a.amount) * 2 AND tags CONTAINS ANY ('t', 1)
                AND LOWER(country) = 'kr'
    WITHIN 1h
    EMIT COUNT(b) AS n, AVG(b.amount) AS avg, ABS(c.amount) AS c_amount;
    SEARCH s1 FROM s WHERE amount BETWEEN 1 AND 10 AND x MATCHES '^a' AND tags CONTAINS 'z'
    """
    for m in replay(text, events, stream="s"):
        assert m.statement in ("r1", "s1")


def test_per_statement_limit_evicts_oldest_keys_and_counts():
    text = """
    RULE waits FROM s PARTITION BY k PATTERN (a -> b) DEFINE a AS x = 'a', b AS x = 'b'
    WITHIN 1h
    """
    stmts, specs = compile_text(text)
    e = Engine(stmts, specs, Limits(max_threads_per_rule=100))
    for i in range(500):  # 500 keys, each waiting for its b
        e.process({"k": i, "x": "a", "ts": i}, i, "s")
        st = e.stats()["statements"]["waits"]
        assert st["partial_matches"] <= 100
        assert st["partial_matches"] == sum(
            len(g.threads) for ks in e.runners["waits"].states.values() for g in ks.groups
        )
    st = e.stats()["statements"]["waits"]
    assert st["evicted_keys"] == 400 and st["limit_drops"] == 400
    # the newest keys survived: their b still completes the match
    e.process({"k": 499, "x": "b", "ts": 600}, 600, "s")
    e.process({"k": 0, "x": "b", "ts": 601}, 601, "s")
    assert [m.key for m in e.take()] == [499]
