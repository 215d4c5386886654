"""`index_stats` and `cep replay --searches/--index`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cep.cli import main
from cep.engine import Engine
from cep.index.attribute import AttributeIndex
from cep.index.plain import PlainIndex
from cep.index.stats import index_stats
from cep.lang.compiler import compile_text


def test_index_stats_reports_shape_and_filter_quality():
    stmts, specs = compile_text(
        "SEARCH a FROM s WHERE city = 'x' AND p > 3;"
        "SEARCH b FROM s WHERE city IN ('x', 'y');"
        "SEARCH c FROM s WHERE msg MATCHES 'err[0-9]+';"
        "SEARCH d FROM s WHERE LOWER(msg) = 'x';"
        "RULE r FROM s PARTITION BY k PATTERN (u v) DEFINE u AS city = 'y', v AS p > u.p;"
    )
    e = Engine(stmts, specs, index=AttributeIndex())
    for off, ev in enumerate(
        [{"city": "x", "p": 5, "msg": "err1"}, {"city": "y", "msg": "no err"}, {"msg": "X"}] * 32
    ):
        e.process({**ev, "k": 1, "ts": off}, off, "s")
    st = index_stats(e)
    s = st["streams"]["s"]
    assert st["searches"] == 4 and st["rules"] == 1
    assert s["partitions_by_pivot"] == {"city": 2}
    assert s["always_verified_slots"] == 1  # d: nothing indexable
    assert s["events"] == 96
    assert s["residual_checks"] > 0
    assert 0 < s["prefilter_false_positive_rate"] < 1  # 'no err' passes the 'err' filter only
    assert s["rule_candidates_sampled"] > 0
    assert index_stats(PlainIndex())["selective"] is False


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rules = tmp_path / "r.cep"
    rules.write_text(
        "STREAM listings (city STRING, price INT, rooms INT, ts INT);\n"
        "SEARCH text_one FROM listings WHERE price < 100;\n"
    )
    searches = tmp_path / "s.jsonl"
    searches.write_text(
        "\n".join(
            json.dumps(d)
            for d in [
                {"name": "s1", "from": "listings", "where": {"city": "Seoul", "rooms": {"gte": 3}}},
                {"name": "s2", "from": "listings", "where": {"price": {"gte": 50, "lte": 500}}},
                {
                    "name": "s3",
                    "from": "listings",
                    "where": {"or": [{"city": "Busan"}, {"rooms": 1}]},
                },
            ]
        )
        + "\n"
    )
    events = tmp_path / "e.jsonl"
    events.write_text(
        "\n".join(
            json.dumps({"stream": "listings", "ts": i, **ev})
            for i, ev in enumerate(
                [
                    {"city": "Seoul", "price": 60, "rooms": 3},
                    {"city": "Busan", "price": 600, "rooms": 1},
                    {"city": "Daegu", "price": 99, "rooms": 2},
                ]
            )
        )
        + "\n"
    )
    return {"rules": rules, "searches": searches, "events": events, "tmp": tmp_path}


def replay(files, *extra):
    out = files["tmp"] / "out.jsonl"
    code = main(["replay", "--events", str(files["events"]), "--out", str(out), *extra])
    lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return code, sorted((m["statement"], m["match_id"]) for m in lines)


def test_replay_searches_with_either_index(files):
    code, att = replay(files, "--rules", str(files["rules"]), "--searches", str(files["searches"]))
    assert code == 0
    names = sorted(n for n, _ in att)
    assert names == ["s1", "s2", "s2", "s3", "text_one", "text_one"]
    code, plain = replay(
        files,
        "--rules",
        str(files["rules"]),
        "--searches",
        str(files["searches"]),
        "--index",
        "plain",
    )
    assert code == 0 and plain == att
    code, only = replay(files, "--searches", str(files["searches"]))
    assert code == 0 and sorted(n for n, _ in only) == ["s1", "s2", "s2", "s3"]


def test_bad_search_lines_are_reported_with_their_line(files, capsys):
    bad = files["tmp"] / "bad.jsonl"
    bad.write_text(
        '{"name": "ok", "from": "listings", "where": {"city": "x"}}\n'
        "not json\n"
        '{"name": "b", "from": "listings", "where": {"price": {"gte": "cheap"}}}\n'
        '{"name": "text_one", "from": "listings"}\n'
        '{"name": "c", "from": "listings", "where": {"rooms": {"between": 1}}}\n'
    )
    code, _ = replay(files, "--rules", str(files["rules"]), "--searches", str(bad))
    err = capsys.readouterr().err
    assert code == 1
    assert f"{bad}:2: invalid JSON" in err
    assert f"{bad}:3:" in err  # type error from the checker (declared INT)
    assert f"{bad}:4: search 'text_one' is also defined" in err
    assert f"{bad}:5: $.where.rooms.between: unknown operator" in err
    assert "4 bad search line(s)" in err
