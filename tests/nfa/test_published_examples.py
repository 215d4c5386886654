"""The documented examples of Flink CEP and MATCH_RECOGNIZE, re-expressed in our language.

Where our contract agrees with theirs, the expected output is theirs, copied from their
docs (Flink `docs/content/docs/libs/cep.md`, Flink `match_recognize.md`). Where we differ on
purpose (we return one match per start in preference order, as MATCH_RECOGNIZE does; Flink
CEP's NO_SKIP returns every loop length), the test pins our behaviour and
docs/language.md ("Where we differ") says why.
"""

from __future__ import annotations

import re

import pytest

from cep.testing import replay

NAMES_RULE = """
RULE r FROM s
PATTERN ({pattern})
DEFINE {defines}
{extra}
"""


def letters_rule(pattern: str, names: str, extra: str = "") -> str:
    """One variable per name: `a AS name = 'a'`, ..."""
    used = set(re.findall(r"[a-z]+", pattern))
    defines = ", ".join(f"{n} AS name = '{n}'" for n in names if n in used)
    return NAMES_RULE.format(pattern=pattern, defines=defines, extra=extra)


def run(rule: str, seq: str) -> list[list[str]]:
    """Events named by `seq` (space separated, e.g. 'a b1 b2'); name = label without digits."""
    labels = seq.split()
    events = [
        {"name": lab.rstrip("0123456789").lower(), "label": lab, "ts": i}
        for i, lab in enumerate(labels)
    ]
    out = []
    for m in replay(rule, events, stream="s"):
        out.append([events[off]["label"] for _, off in sorted(m.offsets, key=lambda x: x[1])])
    return out


# ---------------------------------------------------------------- Flink: contiguity


def test_flink_contiguity_strict():
    assert run(letters_rule("a b", "ab"), "a c b1 b2") == []


def test_flink_contiguity_relaxed():
    assert run(letters_rule("a -> b", "ab"), "a c b1 b2") == [["a", "b1"]]


def test_flink_contiguity_non_deterministic_relaxed():
    assert run(letters_rule("a ->> b", "ab"), "a c b1 b2") == [["a", "b1"], ["a", "b2"]]


def test_flink_looping_strict_contiguity():
    # Flink: a followedByAny b+ (consecutive) next c over a b1 d1 b2 d2 b3 c -> {a b3 c}
    got = run(letters_rule("a ->> b+ c", "abcd"), "a b1 d1 b2 d2 b3 c")
    assert got == [["a", "b3", "c"]]


def test_flink_looping_non_deterministic_relaxed_contiguity():
    # Flink: {a b1 c}, {a b1 b2 c}, {a b1 b3 c}, {a b1 b2 b3 c}, {a b2 c}, {a b2 b3 c}, {a b3 c}
    got = run(letters_rule("a ->> b->>+ -> c", "abcd"), "a b1 d1 b2 d2 b3 c")
    want = [
        ["a", "b1", "c"],
        ["a", "b1", "b2", "c"],
        ["a", "b1", "b3", "c"],
        ["a", "b1", "b2", "b3", "c"],
        ["a", "b2", "c"],
        ["a", "b2", "b3", "c"],
        ["a", "b3", "c"],
    ]
    assert sorted(got) == sorted(want)


def test_flink_looping_relaxed_contiguity_differs_one_match_per_start():
    # Flink NO_SKIP lists every loop length; we return, per start, the preferred (greedy) one.
    got = run(letters_rule("a ->> b->+ -> c", "abcd"), "a b1 d1 b2 d2 b3 c")
    assert got == [["a", "b1", "b2", "b3", "c"], ["a", "b2", "b3", "c"], ["a", "b3", "c"]]


def test_flink_consecutive_differs_greedy_single_match():
    # Flink: {C A1 B}, {C A1 A2 B}, {C A1 A2 A3 B}; ours: the greedy one only.
    assert run(letters_rule("c -> a+ -> b", "abcd"), "C D A1 A2 A3 D A4 B") == [
        ["C", "A1", "A2", "A3", "B"]
    ]
    assert run(letters_rule("c -> a+? -> b", "abcd"), "C D A1 A2 A3 D A4 B") == [["C", "A1", "B"]]


def test_flink_allow_combinations():
    # Flink allowCombinations (with the start also followedByAny) lists 15 matches.
    got = run(letters_rule("c ->> a->>+ -> b", "abcd"), "C D A1 A2 A3 D A4 B")
    a = ["A1", "A2", "A3", "A4"]
    subsets = [[x for i, x in enumerate(a) if mask >> i & 1] for mask in range(1, 16)]
    want = [["C", *s, "B"] for s in subsets]
    assert sorted(got) == sorted(want)


# ---------------------------------------------------------------- Flink: after match skip

SKIP_CASES = [
    ("PAST LAST EVENT", [["b1", "b2", "b3", "c"]]),
    ("TO NEXT EVENT", [["b1", "b2", "b3", "c"], ["b2", "b3", "c"], ["b3", "c"]]),
    ("TO FIRST b", [["b1", "b2", "b3", "c"], ["b2", "b3", "c"], ["b3", "c"]]),
    ("TO LAST b", [["b1", "b2", "b3", "c"], ["b3", "c"]]),
]


@pytest.mark.parametrize(("skip", "want"), SKIP_CASES)
def test_flink_after_match_skip_b_plus_c(skip: str, want: list) -> None:
    assert run(letters_rule("b+ c", "bc", f"AFTER MATCH SKIP {skip}"), "b1 b2 b3 c") == want


def test_flink_skip_to_first_with_alternations():
    # Flink: pattern (a | b | c) (b | c) c+.greedy d over a b c1 c2 c3 d
    rule = """
    RULE r FROM s PATTERN (x y z+ w)
    DEFINE x AS name IN ('a', 'b', 'c'), y AS name IN ('b', 'c'), z AS name = 'c', w AS name = 'd'
    AFTER MATCH SKIP TO FIRST z
    """
    assert run(rule, "a b c1 c2 c3 d") == [
        ["a", "b", "c1", "c2", "c3", "d"],
        ["c1", "c2", "c3", "d"],
    ]
    no_skip = rule.replace("TO FIRST z", "TO NEXT EVENT")
    assert run(no_skip, "a b c1 c2 c3 d") == [
        ["a", "b", "c1", "c2", "c3", "d"],
        ["b", "c1", "c2", "c3", "d"],
        ["c1", "c2", "c3", "d"],
    ]


def test_flink_skip_to_next_a_b_plus_differs_greedy():
    # Flink SKIP_TO_NEXT emits {a b1} eagerly; our greedy b+ prefers {a b1 b2 b3}; reluctant agrees.
    assert run(letters_rule("a b+", "ab", "AFTER MATCH SKIP TO NEXT EVENT"), "a b1 b2 b3") == [
        ["a", "b1", "b2", "b3"],
    ]
    assert run(letters_rule("a b+?", "ab", "AFTER MATCH SKIP TO NEXT EVENT"), "a b1 b2 b3") == [
        ["a", "b1"]
    ]


# ---------------------------------------------------------------- Flink: NOT patterns


def test_flink_not_followed_by_between():
    rule = letters_rule("a -> !b -> c", "abc")
    assert run(rule, "a d c") == [["a", "c"]]
    assert run(rule, "a b c") == []
    assert run(rule, "a b a c") == [["a", "c"]]  # the second a starts a clean match


def test_flink_not_followed_by_at_end_needs_window():
    rule = """
    RULE r FROM s PATTERN (a -> !b) DEFINE a AS name = 'a', b AS name = 'b' WITHIN 10s
    """
    events = [{"name": "a", "ts": 0}, {"name": "x", "ts": 5_000}, {"name": "x", "ts": 10_001}]
    assert [[o for _, o in m.offsets] for m in replay(rule, events, stream="s")] == [[0]]
    events[1]["name"] = "b"
    assert replay(rule, events, stream="s") == []
    # exactly at the window end a b still counts (WITHIN is inclusive)
    events = [{"name": "a", "ts": 0}, {"name": "b", "ts": 10_000}, {"name": "x", "ts": 20_000}]
    assert replay(rule, events, stream="s") == []


# ---------------------------------------------------------------- MATCH_RECOGNIZE

TICKER = [10, 11, 12, 13, 14, 16]


def mr_rule(quant: str) -> str:
    return f"""
    RULE r FROM ticker PARTITION BY symbol
    PATTERN (A B{quant} C)
    DEFINE A AS price > 10, B AS price < 15, C AS price > 12
    EMIT C.price AS lastPrice
    """


def test_match_recognize_greedy():
    evs = [{"symbol": "XYZ", "price": p, "ts": i} for i, p in enumerate(TICKER)]
    ms = replay(mr_rule("*"), evs, stream="ticker")
    assert [m.fields["lastPrice"] for m in ms] == [16]


def test_match_recognize_reluctant():
    evs = [{"symbol": "XYZ", "price": p, "ts": i} for i, p in enumerate(TICKER)]
    ms = replay(mr_rule("*?"), evs, stream="ticker")
    assert [m.fields["lastPrice"] for m in ms] == [13, 16]


def test_match_recognize_aggregate_in_define_includes_current_row():
    # DEFINE A AS AVG(A.price) < 15: the running average includes the row being tested.
    rule = """
    RULE r FROM ticker PARTITION BY symbol PATTERN (A+ B)
    DEFINE A AS AVG(A.price) < 15, B AS price > 100
    EMIT COUNT(A) AS n, AVG(A.price) AS avg
    """
    prices = [12, 17, 13, 16, 200]  # averages 12, 14.5, 14, 14.5 → all four are A, then B
    evs = [{"symbol": "ACME", "price": p, "ts": i} for i, p in enumerate(prices)]
    [m] = replay(rule, evs, stream="ticker")
    assert m.fields == {"n": 4, "avg": 14.5}
    prices = [12, 19, 13, 200]  # 12, 15.5 → the A run stops after 12; strict B fails
    evs = [{"symbol": "ACME", "price": p, "ts": i} for i, p in enumerate(prices)]
    [m] = replay(rule, evs, stream="ticker")
    assert [o for _, o in m.offsets] == [2, 3]  # a later start: A = 13, B = 200
