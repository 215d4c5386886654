"""The window operator: published examples end to end, firing, lateness, emit modes, limits."""

from __future__ import annotations

import pytest

from cep.windows import (
    AggSpec,
    Hopping,
    Late,
    Result,
    Session,
    Sliding,
    Tumbling,
    WindowOperator,
    WindowSpec,
)
from tests.windows.helpers import all_aggs, bounds, count_spec, drive

K = ("k",)


def ev(*times: int) -> list:
    """Events of one key at the given times."""
    return [(K, t, {"ts": t}) for t in times]


def test_hopping_through_operator() -> None:
    """Hopping 5000/3000 counts: each event lands in every window holding it."""
    op = WindowOperator(count_spec(Hopping(5000, 3000)))
    out = drive(op, ev(1000, 4000, 5000, 7999), bound=0)
    got = {(r.window_start, r.window_end): r.row["n"] for r in out}
    assert got == {(-3000, 2000): 1, (0, 5000): 2, (3000, 8000): 3, (6000, 11000): 1}
    assert all(r.kind == "final" for r in out)


def test_sliding_published_example_counts() -> None:
    """The five Kafka Streams sliding windows, with the records each holds."""
    op = WindowOperator(count_spec(Sliding(5000)))
    out = drive(op, ev(8000, 9200, 12400), bound=0)
    got = {(r.window_start, r.window_end): r.row["n"] for r in out}
    assert got == {
        (3000, 8000): 1,
        (4200, 9200): 2,
        (7400, 12400): 3,
        (8001, 13001): 2,
        (9201, 14201): 1,
    }
    assert len(out) == 5


def test_sliding_out_of_order_creates_same_windows() -> None:
    """Any arrival order (no watermark yet) gives the same five windows."""
    op = WindowOperator(count_spec(Sliding(5000)))
    for t in (12400, 8000, 9200):
        op.on_event(K, t, {})
    out = op.close_all()
    assert sorted(bounds(out)) == [
        (3000, 8000),
        (4200, 9200),
        (7400, 12400),
        (8001, 13001),
        (9201, 14201),
    ]


def test_session_published_example_every_update() -> None:
    """10, 12, 20 -> [10,12] and [20,20]; 16 retracts both and emits [10,20].

    A session is identified by its bounds, so extending one retracts the old bounds (the
    Kafka Streams tombstone for the replaced session).
    """
    op = WindowOperator(count_spec(Session(5), emit="every_update"))
    out = []
    for t in (10, 12, 20):
        out += op.on_event(K, t, {})
    assert [(r.kind, r.window_start, r.window_end, r.row["n"]) for r in out] == [
        ("update", 10, 10, 1),
        ("retract", 10, 10, 1),
        ("update", 10, 12, 2),
        ("update", 20, 20, 1),
    ]
    merged = op.on_event(K, 16, {})
    assert [(r.kind, r.window_start, r.window_end, r.row["n"]) for r in merged] == [
        ("retract", 10, 12, 2),
        ("retract", 20, 20, 1),
        ("update", 10, 20, 4),
    ]


def test_session_final_fires_only_after_gap() -> None:
    """A session is final once W > last + gap (+ lateness): an event at last+gap still joins."""
    op = WindowOperator(count_spec(Session(5)))
    out = drive(op, ev(10, 12), bound=0, close=False)
    assert op.on_watermark(17) == []
    assert op.on_event(K, 17, {}) == []  # 17 <= 12 + 5 joins
    assert op.on_watermark(22) == []
    (r,) = op.on_watermark(23)
    assert (r.window_start, r.window_end, r.row["n"], out) == (10, 17, 3, [])


def test_tumbling_fires_at_end_not_before() -> None:
    """[0,10) fires when W >= 10 (final, lateness 0); ts = 10 opens the next window."""
    op = WindowOperator(count_spec(Tumbling(10)))
    op.on_event(K, 9, {})
    assert op.on_watermark(9) == []
    op.on_event(K, 10, {})
    (r,) = op.on_watermark(10)
    assert (r.window_start, r.window_end, r.row["n"]) == (0, 10, 1)
    assert r.row == {"window_start": 0, "window_end": 10, "n": 1}


def test_late_beyond_lateness_goes_to_late_stream_with_reason() -> None:
    """Beyond ALLOWED LATENESS: a Late record with a reason, counted, nothing emitted."""
    for emit in ("final", "on_time_then_updates", "every_update"):
        op = WindowOperator(count_spec(Tumbling(10), lateness=5, emit=emit))
        drive(op, ev(1, 20), bound=0, close=False)
        (late,) = op.on_event(K, 4, {"ts": 4})
        assert isinstance(late, Late) and late.ts == 4 and late.event == {"ts": 4}
        assert "closed" in late.reason and late.watermark == 20
        assert op.late_count == 1
        assert [r for r in op.close_all() if r.window_start == 0] == []


def test_within_lateness_on_time_then_one_update() -> None:
    """on_time_then_updates: on-time result at W >= end, then exactly one update per late event."""
    op = WindowOperator(count_spec(Tumbling(10), lateness=5, emit="on_time_then_updates"))
    out = drive(op, ev(1, 5, 12), bound=0, close=False)
    assert [(r.kind, r.window_start, r.row["n"]) for r in out] == [("ontime", 0, 2)]
    (upd,) = op.on_event(K, 3, {})
    assert (upd.kind, upd.window_start, upd.row["n"]) == ("update", 0, 3)
    assert op.on_watermark(15) == []  # purge: no further output for [0,10)
    assert isinstance(op.on_event(K, 2, {})[0], Late)


def test_within_lateness_changes_the_single_final() -> None:
    """final: a late event within lateness changes the one final value."""
    op = WindowOperator(count_spec(Tumbling(10), lateness=5))
    out = drive(op, ev(1, 5, 12), bound=0, close=False)
    assert out == []
    assert op.on_event(K, 3, {}) == []
    assert op.on_watermark(14) == []
    (r,) = op.on_watermark(15)
    assert (r.kind, r.window_start, r.row["n"]) == ("final", 0, 3)


def test_hopping_partially_late_is_reported() -> None:
    """An event added to some windows but too late for others says so."""
    op = WindowOperator(count_spec(Hopping(10, 5)))
    drive(op, ev(12), bound=0, close=False)
    out = op.on_event(K, 7, {})
    assert [type(r) for r in out] == [Late]
    assert "partially late" in out[0].reason and "(0, 10)" in out[0].reason


def test_sliding_and_session_lateness() -> None:
    """Sliding/session accept t while W <= t + lateness."""
    for w in (Sliding(10), Session(3)):
        op = WindowOperator(count_spec(w, lateness=2))
        drive(op, ev(100), bound=0, close=False)
        assert op.on_event(K, 98, {}) == []
        assert isinstance(op.on_event(K, 97, {})[0], Late)


def test_group_by_and_aliases_in_rows() -> None:
    """Rows carry window bounds, GROUP BY values under their names, and aliases."""
    spec = WindowSpec(Tumbling(1000), all_aggs(), 0, group_by=(("endpoint", ("req", "path")),))
    op = WindowOperator(spec)
    evs = [{"req": {"path": "/a"}, "v": v, "u": u} for v, u in ((1, "x"), (2.5, "y"), (4, "x"))]
    out = []
    for i, e in enumerate(evs):
        out += op.on_event(spec.key_of(e), 100 + i, e)
    out += op.close_all()
    (r,) = out
    assert r.row == {
        "window_start": 0,
        "window_end": 1000,
        "endpoint": "/a",
        "n": 3,
        "nv": 3,
        "total": 7.5,
        "mean": 2.5,
        "lo": 1,
        "hi": 4,
        "users": 2,
        "p90": 3.7,
        "p50nr": 2.5,
        "p99a": pytest.approx(2.5, rel=0.01),  # rank floor(0.99 * 2) = 1
    }


def test_having_filters_and_retracts_in_update_modes() -> None:
    """HAVING filters rows; an update that stops passing retracts the earlier row."""
    spec = WindowSpec(
        Tumbling(10),
        (AggSpec.of("lo", "min", ("v",)),),
        0,
        emit="every_update",
        having=lambda row: row["lo"] > 5,
    )
    op = WindowOperator(spec)
    assert [r.kind for r in op.on_event(K, 1, {"v": 9})] == ["update"]
    assert [r.kind for r in op.on_event(K, 2, {"v": 1})] == ["retract"]
    assert op.on_event(K, 3, {"v": 0}) == []
    final = WindowOperator(
        WindowSpec(
            Tumbling(10), (AggSpec.of("lo", "min", ("v",)),), 0, having=lambda row: row["lo"] > 5
        )
    )
    out = drive(final, [(K, 1, {"v": 1}), (K, 11, {"v": 7})], bound=0)
    assert [(r.kind, r.window_start, r.row["lo"]) for r in out] == [("final", 10, 7)]


def test_state_is_dropped_when_windows_close() -> None:
    """State stays bounded by the watermark and is empty after close_all."""
    for w in (Hopping(100, 20), Sliding(50), Session(10)):
        op = WindowOperator(WindowSpec(w, all_aggs(), 0))
        peak = 0
        for t in range(0, 20_000, 7):
            op.on_event((t % 3,), t, {"v": t, "u": t % 5})
            op.on_watermark(t)
            peak = max(peak, op.state_size()["windows"])
        assert peak < 100, (w, peak)
        op.close_all()
        assert op.state_size() == {"keys": 0, "windows": 0, "panes": 0, "values": 0, "timers": 0}
        assert op.state_bytes() < 200


def test_state_limit_returns_late_not_silence() -> None:
    """Past max_windows an event comes back as Late with 'state limit', never dropped quietly."""
    op = WindowOperator(count_spec(Tumbling(10), max_windows=2))
    assert op.on_event(K, 1, {}) == [] and op.on_event(K, 11, {}) == []
    (late,) = op.on_event(K, 21, {})
    assert "state limit" in late.reason


@pytest.mark.parametrize(
    "kw",
    [
        {"allowed_lateness": -1},
        {"emit": "sometimes"},
        {"window": Hopping(100_000, 1)},
        {"aggregates": ()},
        {"aggregates": (AggSpec.of("n", "count"), AggSpec.of("n", "count"))},
        {"aggregates": (AggSpec.of("window_end", "count"),)},
    ],
)
def test_spec_validation(kw: dict) -> None:
    """No hidden defaults, no unbounded hopping fan-out, no clashing output names."""
    base = {
        "window": Tumbling(10),
        "aggregates": (AggSpec.of("n", "count"),),
        "allowed_lateness": 0,
    }
    with pytest.raises(ValueError):
        WindowSpec(**{**base, **kw})


def test_lateness_is_required() -> None:
    """ALLOWED LATENESS has no default."""
    with pytest.raises(TypeError):
        WindowSpec(Tumbling(10), (AggSpec.of("n", "count"),))  # type: ignore[call-arg]


def test_result_types() -> None:
    """close_all returns Result objects only."""
    op = WindowOperator(count_spec(Tumbling(10)))
    op.on_event(K, 1, {})
    assert all(isinstance(r, Result) for r in op.close_all())


def test_float_sums_do_not_depend_on_arrival_order() -> None:
    """(0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3) in floats; SUM and AVG give one answer."""
    spec = WindowSpec(
        Tumbling(10), (AggSpec.of("s", "sum", ("v",)), AggSpec.of("m", "avg", ("v",))), 0
    )
    rows = []
    for order in ((0.1, 0.2, 0.3), (0.3, 0.2, 0.1)):
        op = WindowOperator(spec)
        for i, v in enumerate(order):
            op.on_event(K, i, {"v": v})
        rows.append(op.close_all()[0].row)
    assert rows[0] == rows[1] and rows[0]["s"] == 0.6 and rows[0]["m"] == 0.6 / 3


def test_lateness_uses_the_partition_watermark_firing_the_global_one() -> None:
    """on_event(watermark=W_p) decides lateness; on_watermark(W) fires."""
    op = WindowOperator(count_spec(Tumbling(10)))
    assert op.on_watermark(5) == []
    (late,) = op.on_event(K, 3, {}, watermark=20)  # its partition is past [0,10)
    assert isinstance(late, Late) and late.watermark == 20
    assert op.on_event(K, 4, {}, watermark=5) == []  # another partition: still on time
    (r,) = op.on_watermark(10)
    assert (r.window_start, r.row["n"]) == (0, 1)
