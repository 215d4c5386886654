"""AGGREGATE wired through the language and the engine: parse, print, check, replay, restore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cep.cli import main
from cep.engine import Engine
from cep.errors import RuleError, RuleErrors
from cep.lang import ast
from cep.lang.checker import check
from cep.lang.compiler import compile_text
from cep.lang.parser import parse
from cep.lang.printer import to_text

FULL = """AGGREGATE slow_endpoints
FROM requests
GROUP BY endpoint, region.name
WINDOW HOPPING 5m EVERY 1m OFFSET 10s
SELECT COUNT(*) AS n, COUNT(DISTINCT user) AS users, SUM(latency_ms) AS total, \
AVG(latency_ms) AS avg_ms, MIN(latency_ms) AS lo, MAX(latency_ms) AS hi, \
PERCENTILE(latency_ms, 99) AS p99_ms, PERCENTILE_APPROX(latency_ms, 99.5) AS p995
HAVING p99_ms > 500 AND n >= 10
ALLOWED LATENESS 1m
EMIT ON TIME THEN UPDATES
THEN EMIT INTO slow;
"""


@pytest.mark.parametrize(
    "text",
    [
        FULL,
        "AGGREGATE a FROM s WINDOW TUMBLING 10s SELECT COUNT(x) AS n;",
        "AGGREGATE a FROM s WINDOW SLIDING 5s SELECT MAX(v) AS m EMIT CHANGES;",
        "aggregate a from s window session gap 30m select count(*) as n emit on close;",
    ],
)
def test_parse_print_round_trip(text: str) -> None:
    stmt = parse(text).statements[0]
    assert isinstance(stmt, ast.AggregateStmt)
    printed = to_text(stmt)
    again = parse(printed).statements[0]
    assert to_text(again) == printed
    assert dataclass_eq(stmt, again)
    # no hidden default: lateness and emit mode are always printed
    assert "ALLOWED LATENESS" in printed and "\nEMIT " in printed


def dataclass_eq(a: ast.AggregateStmt, b: ast.AggregateStmt) -> bool:
    """Equal apart from spans."""
    return to_text(a) == to_text(b) and (a.window_kind, a.window_ms, a.every_ms) == (
        b.window_kind,
        b.window_ms,
        b.every_ms,
    )


def test_parsed_fields() -> None:
    a = parse(FULL).statements[0]
    assert isinstance(a, ast.AggregateStmt)
    assert (a.window_kind, a.window_ms, a.every_ms, a.offset_ms) == (
        "HOPPING",
        300_000,
        60_000,
        10_000,
    )
    assert a.group_by == (("endpoint",), ("region", "name"))
    assert [i.func for i in a.select][:2] == ["COUNT", "COUNT_DISTINCT"]
    assert a.select[6].p == 99 and a.allowed_lateness_ms == 60_000
    assert a.emit == "on_time_then_updates"
    default = parse("AGGREGATE a FROM s WINDOW TUMBLING 1s SELECT COUNT(*) AS n;").statements[0]
    assert default.allowed_lateness_ms == 0 and default.emit == "final"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AGGREGATE a FROM s SELECT COUNT(*) AS n;", "needs a WINDOW"),
        ("AGGREGATE a FROM s WINDOW TUMBLING 1s SELECT SUM(*) AS n;", "only COUNT(*)"),
        ("AGGREGATE a FROM s WINDOW TUMBLING 1s SELECT MEDIAN(x) AS n;", "unknown aggregate"),
        ("AGGREGATE a FROM s WINDOW TUMBLING 1s SELECT PERCENTILE(x) AS n;", "needs a percentile"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises((RuleError, RuleErrors)) as exc:
        parse(text)
    assert message in str(exc.value)


CHECKED = """STREAM requests (endpoint STRING, latency_ms INT, user STRING);
AGGREGATE a FROM requests
GROUP BY endpont
WINDOW HOPPING 1m EVERY 2m
SELECT COUNT(*) AS n, SUM(user) AS s, PERCENTILE(latency_ms, 101) AS p, MAX(nope) AS n
HAVING missing > 1;
"""


def test_checker_errors_with_positions() -> None:
    errors = check(parse(CHECKED), CHECKED)
    got = {(e.line, e.column, e.message) for e in errors}
    assert (3, 1, "stream 'requests' has no attribute 'endpont'") in got
    assert (4, 1, "HOPPING d EVERY s needs 0 < s <= d") in got
    assert (5, 23, "SUM needs a number, but 'user' is STRING") in got
    assert (5, 39, "percentile 101 is not in 0..100") in got
    assert (5, 73, "stream 'requests' has no attribute 'nope'") in got
    assert (5, 73, "output name 'n' is used twice or reserved") in got
    assert (
        6,
        8,
        "HAVING can only use GROUP BY names and SELECT aliases, not 'missing'",
    ) in got
    assert len(errors) == 7


def run(text: str, events: list[tuple[str, dict]], flush: bool = True) -> list[dict]:
    stmts, specs = compile_text(text)
    engine = Engine(stmts, specs)
    for i, (stream, ev) in enumerate(events):
        engine.process(ev, i, stream)
    if flush:
        engine.flush()
    return [m.to_dict() for m in engine.take()]


def rows(out: list[dict]) -> list[dict]:
    return [m["fields"] for m in out]


def replay(tmp_path: Path, text: str, events: list[dict]) -> tuple[list[dict], dict]:
    rules = tmp_path / "agg.cep"
    rules.write_text(text)
    ev = tmp_path / "events.jsonl"
    ev.write_text("".join(json.dumps(e) + "\n" for e in events))
    out = tmp_path / "out.jsonl"
    assert main(["replay", "--rules", str(rules), "--events", str(ev), "--out", str(out)]) == 0
    return [json.loads(x) for x in out.read_text().splitlines()], {}


def test_replay_kafka_streams_hopping(tmp_path: Path) -> None:
    """Kafka Streams' hopping example: size 5000 ms, advance 3000 ms (Flink alignment, so the
    first window starts at -3000 where Kafka Streams clamps at 0)."""
    text = (
        "STREAM clicks (user STRING) KEY user;\n"
        "AGGREGATE hop FROM clicks GROUP BY user WINDOW HOPPING 5000ms EVERY 3000ms\n"
        "SELECT COUNT(*) AS n;\n"
    )
    events = [{"stream": "clicks", "user": "A", "ts": t} for t in (1000, 4000, 6000, 9000)]
    out, _ = replay(tmp_path, text, events)
    assert [
        (m["fields"]["window_start"], m["fields"]["window_end"], m["fields"]["n"]) for m in out
    ] == [
        (-3000, 2000, 1),
        (0, 5000, 2),
        (3000, 8000, 2),
        (6000, 11000, 2),
        (9000, 14000, 1),
    ]
    assert all(m["statement"] == "hop" and m["key"] == "A" and m["bindings"] == {} for m in out)
    assert len({m["match_id"] for m in out}) == 5
    again, _ = replay(tmp_path, text, events)
    assert [m["match_id"] for m in again] == [m["match_id"] for m in out]


TUMBLING = """STREAM m (host STRING, v INT);
AGGREGATE stats FROM m GROUP BY host WINDOW TUMBLING 10s
SELECT COUNT(*) AS n, AVG(v) AS avg_v, PERCENTILE(v, 50) AS p50, PERCENTILE(v, 90) AS p90
ALLOWED LATENESS 0ms EMIT ON CLOSE;
"""


def test_tumbling_count_avg_percentile() -> None:
    pairs = [(10, 0), (40, 2000), (20, 9999), (5, 10_000), (30, 5000)]
    evs = [("m", {"host": "h", "v": v, "ts": t}) for v, t in pairs]
    out = run(TUMBLING, evs)
    # [0, 10000): 10, 40, 20 (30 at 5000 arrives at watermark 10000: late, lateness 0)
    # hand computed: n=3, avg=70/3, p50=20, p90 linear = 20 + 0.8*(40-20) = 36
    assert rows(out) == [
        {"window_start": 0, "window_end": 10_000, "host": "h", "n": 3, "avg_v": 70 / 3,
         "p50": 20, "p90": 36.0, "kind": "final"},
        {"window_start": 10_000, "window_end": 20_000, "host": "h", "n": 1, "avg_v": 5.0,
         "p50": 5, "p90": 5, "kind": "final"},
    ]  # fmt: skip


def test_tumbling_in_order_values() -> None:
    evs = [("m", {"host": "h", "v": v, "ts": t}) for v, t in [(10, 0), (20, 1), (30, 2), (40, 3)]]
    [r] = rows(run(TUMBLING, evs))
    # p90 over 10..40: rank 0.9 * 3 = 2.7, so 30 + 0.7 * 10 = 37
    assert (r["n"], r["avg_v"], r["p50"], r["p90"]) == (4, 25.0, 25.0, 37.0)


LATE = """STREAM m (v INT) WATERMARK 0ms;
AGGREGATE c FROM m WINDOW TUMBLING 10s SELECT COUNT(*) AS n ALLOWED LATENESS 1s;
"""


def test_late_within_and_beyond_lateness() -> None:
    stmts, specs = compile_text(LATE)
    engine = Engine(stmts, specs)
    for i, t in enumerate([1000, 10_500, 9000, 12_000, 2000]):
        engine.process({"v": 1, "ts": t}, i, "m")
    engine.flush()
    out = [m.fields for m in engine.take()]
    # 9000 is within 1 s of lateness (watermark 10500 <= 9999 + 1000); 2000 is not
    assert [(r["window_start"], r["n"]) for r in out] == [(0, 2), (10_000, 2)]
    st = engine.stats()
    assert st["statements"]["c"]["late_events"] == 1
    assert st["statements"]["c"]["matches"] == 2


RESTORE = """STREAM m (k STRING, v INT) WATERMARK 2s;
AGGREGATE s FROM m GROUP BY k WINDOW HOPPING 4s EVERY 2s
SELECT COUNT(*) AS n, SUM(v) AS total, PERCENTILE_APPROX(v, 50) AS med
ALLOWED LATENESS 1s EMIT ON TIME THEN UPDATES;
AGGREGATE sess FROM m GROUP BY k WINDOW SESSION GAP 1500ms SELECT MAX(v) AS hi EMIT CHANGES;
"""


def _events() -> list[dict[str, Any]]:
    out = []
    for i in range(60):
        t = i * 700 - (i % 4) * 900  # out of order, some late
        out.append({"k": "ab"[i % 2], "v": (i * 37) % 11, "ts": t})
    return out


@pytest.mark.parametrize("cut", [0, 7, 23, 41, 59])
def test_snapshot_restore_mid_stream(cut: int) -> None:
    evs = _events()
    stmts, specs = compile_text(RESTORE)
    whole = Engine(stmts, specs)
    for i, e in enumerate(evs):
        whole.process(e, i, "m")
    whole.flush()
    expected = [m.to_dict() for m in whole.take()]
    assert expected

    first = Engine(*compile_text(RESTORE))
    for i, e in enumerate(evs[:cut]):
        first.process(e, i, "m")
    head = [m.to_dict() for m in first.take()]
    snap = first.snapshot()
    second = Engine(*compile_text(RESTORE))
    second.restore(snap)
    assert second.snapshot() == snap
    for i, e in enumerate(evs[cut:], start=cut):
        second.process(e, i, "m")
    second.flush()
    assert head + [m.to_dict() for m in second.take()] == expected
    assert second.stats()["statements"] == whole.stats()["statements"]


def test_replaced_statement_does_not_inherit_state() -> None:
    stmts, specs = compile_text(LATE)
    engine = Engine(stmts, specs)
    engine.process({"v": 1, "ts": 1000}, 0, "m")
    snap = engine.snapshot()
    stmts2, _ = compile_text(LATE)
    stmts2[0].version = 2
    other = Engine(stmts2, specs)
    other.restore(snap)
    other.flush()
    assert other.take() == []


def test_having_and_emit_changes() -> None:
    text = (
        "AGGREGATE a FROM s GROUP BY k WINDOW TUMBLING 10s SELECT COUNT(*) AS n, SUM(v) AS total "
        "HAVING n >= 2 AND k = 'x' EMIT CHANGES;"
    )
    evs = [("x", 1, 0), ("x", 2, 1), ("y", 3, 2), ("y", 3, 3), ("x", 5, 11_000)]
    out = run(text, [("s", {"k": k, "v": v, "ts": ts}) for k, v, ts in evs])
    assert [(m["key"], m["fields"]) for m in out] == [
        (
            "x",
            {
                "window_start": 0,
                "window_end": 10_000,
                "k": "x",
                "n": 2,
                "total": 3,
                "kind": "update",
            },
        )
    ]


def test_cli_check_accepts_aggregate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "a.cep"
    p.write_text(TUMBLING)
    assert main(["check", str(p)]) == 0
    assert "ok: 1 statement(s)" in capsys.readouterr().out
