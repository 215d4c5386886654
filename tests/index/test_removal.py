"""Live registration leaves no trace: structures empty and memory back after removal."""

from __future__ import annotations

import gc
import random
import tracemalloc

from cep.engine import Engine
from cep.index.attribute import AttributeIndex
from cep.index.searches import SearchSpec
from cep.lang.compiler import compile_text
from cep.lang.search_json import search_from_json


def docs(n: int, seed: int = 1) -> list[dict]:
    """Varied searches: pivots, IN pivots, ranges, lists, prefixes, residuals, no WHERE."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 6
        w: dict = {}
        if kind == 0:
            w = {
                "city": f"c{rng.randrange(20)}",
                "price": {"gte": rng.randrange(1000), "lte": rng.randrange(1000, 3000)},
            }
        elif kind == 1:
            w = {
                "city": {"in": [f"c{rng.randrange(20)}", f"c{rng.randrange(20)}"]},
                "rooms": {"gt": rng.randrange(4)},
            }
        elif kind == 2:
            w = {
                "features": {"all": rng.sample(["a", "b", "c", "d"], 2)},
                "price": {"lt": rng.randrange(5000)},
            }
        elif kind == 3:
            w = {
                "name": {"prefix": rng.choice(["ab", "b", "abc"])},
                "or": [{"x": 1}, {"y": {"ne": "z"}}],
            }
        elif kind == 4:
            w = {"not": {"price": {"gte": rng.randrange(3000)}}, "tag": {"nin": ["p", "q"]}}
        out.append(
            {"name": f"s{i}", "from": rng.choice(["a", "b"]), "where": w}
            if w
            else {"name": f"s{i}", "from": "a"}
        )
    return out


def events(n: int, seed: int = 2) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "city": f"c{rng.randrange(20)}",
            "price": rng.randrange(4000),
            "rooms": rng.randrange(6),
            "features": rng.sample(["a", "b", "c", "d"], rng.randrange(4)),
            "name": rng.choice(["abc", "bcd", "ab", ""]),
            "x": rng.randrange(3),
            "ts": 0,
        }
        for _ in range(n)
    ]


def assert_empty(idx: AttributeIndex) -> None:
    assert idx.streams == {}
    assert idx.searches == {}
    assert idx.search_matches == {}
    assert idx.runner_places == {}


def test_add_remove_all_leaves_empty_structures():
    idx = AttributeIndex()
    e = Engine([], index=idx)
    ds = docs(3000)
    evs = events(50)
    for d in ds:
        e.add_statement(SearchSpec.from_ast(search_from_json(d)))
    for off, ev in enumerate(evs):
        e.process(ev, off, "a")
        e.process(ev, off, "b")
    assert e.take()
    for d in ds[::-1]:
        e.remove_statement(d["name"])
    assert_empty(idx)


def test_remove_half_keeps_exact_masks():
    idx = AttributeIndex()
    e = Engine([], index=idx)
    ds = docs(2000, seed=5)
    for d in ds:
        e.add_statement(SearchSpec.from_ast(search_from_json(d)))
    for d in ds[::2]:
        e.remove_statement(d["name"])
    for si in idx.streams.values():
        for p in si.partitions():
            p.compact()
            assert p.alive.bit_count() == p.size
            for ai in p.attrs.values():
                assert ai.nn & ~p.alive == 0
                for side in (s for ss in ai.sides.values() for s in ss):
                    for m in side.cum:
                        assert m & ~p.alive == 0
                    assert side.count == sum(v is not None for v in side.vals)


def test_rules_and_searches_share_and_unshare_the_index():
    (r1, r2), specs = compile_text(
        "RULE r1 FROM a PARTITION BY k PATTERN (x y) DEFINE x AS city = 'c1', y AS price > x.price;"
        "RULE r2 FROM a, b PATTERN (x) DEFINE x FROM b WHERE price < 5;"
    )
    idx = AttributeIndex()
    e = Engine([r1, r2], specs, index=idx)
    for d in docs(300):
        e.add_statement(SearchSpec.from_ast(search_from_json(d)))
    assert set(idx.streams) == {"a", "b"}
    for d in docs(300):
        e.remove_statement(d["name"])
    e.remove_statement("r1")
    e.remove_statement("r2")
    assert_empty(idx)


def test_memory_returns_near_baseline_after_removal():
    idx = AttributeIndex()
    e = Engine([], index=idx)
    ds = docs(4000, seed=9)
    specs = [SearchSpec.from_ast(search_from_json(d)) for d in ds]
    e.add_statement(specs[0])  # warm caches (getters, interned paths)
    e.remove_statement(specs[0].name)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for s in specs:
        e.add_statement(s)
    loaded = tracemalloc.get_traced_memory()[0]
    for s in specs:
        e.remove_statement(s.name)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert loaded - base > 500_000  # the searches did cost memory ...
    assert after - base < (loaded - base) * 0.03  # ... and it came back
    assert_empty(idx)


def test_replacing_across_kinds_and_versions():
    (rule,), _ = compile_text("RULE x FROM a PATTERN (v) DEFINE v AS p = 1;")
    e = Engine([], index=AttributeIndex())
    s1 = SearchSpec.from_ast(search_from_json({"name": "x", "from": "a", "where": {"p": 1}}))
    e.add_statement(s1)
    e.add_statement(rule)  # the RULE replaces the SEARCH of the same name
    assert "x" in e.runners and not e.index.has_search("x")
    s2 = SearchSpec.from_ast(search_from_json({"name": "x", "from": "a", "where": {"p": 1}}), 2)
    e.add_statement(s2)  # and a new SEARCH version replaces the RULE
    assert "x" not in e.runners and e.index.has_search("x")
    e.process({"p": 1, "ts": 0}, 0, "a")
    (m,) = e.take()
    (want,), _ = compile_text("SEARCH x FROM a WHERE p = 1;")
    want.version = 2
    plain = Engine([want])
    plain.process({"p": 1, "ts": 0}, 0, "a")
    assert m.match_id == plain.take()[0].match_id
    assert e.stats()["statements"]["x"]["matches"] == 1
