"""Properties: arrival order within the out-of-orderness bound and checkpoint/restore points
never change results, for every window type and emit mode."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from cep.windows import (
    EMIT_MODES,
    Hopping,
    Result,
    Session,
    Sliding,
    Tumbling,
    WindowOperator,
    WindowSpec,
)
from tests.windows.helpers import all_aggs, canon, drive, final_view

WINDOWS = [Tumbling(10), Tumbling(7, offset=-3), Hopping(10, 4), Sliding(6), Session(3)]

event_lists = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.integers(-30, 40),
        # thousandths-like floats are inexact in binary: naive float sums would vary by order
        st.one_of(
            st.integers(-5, 5),
            st.integers(-(10**5), 10**5).map(lambda i: i / 997),
            st.floats(-10, 10, allow_nan=False),
            st.none(),
        ),
        st.sampled_from(["x", "y", "z"]),
    ),
    min_size=1,
    max_size=60,
)


def events_of(raw: list) -> list:
    """(key, ts, event) triples."""
    return [((k,), ts, {"ts": ts, "v": v, "u": u}) for k, ts, v, u in raw]


def spec(window: object, emit: str, lateness: int = 0) -> WindowSpec:
    """Every aggregate, grouped by key, HAVING on the count."""
    return WindowSpec(
        window,
        all_aggs(),
        lateness,
        group_by=(("k", ("k",)),),  # type: ignore
        emit=emit,
        having=lambda row: row["n"] != 2,
    )


def outcome(results: list, emit: str) -> object:
    """What must not depend on arrival order: all results, or the consumer's final view."""
    if emit == "every_update":
        return final_view(results)
    return sorted(canon(r) for r in results)


@settings(max_examples=150, deadline=None)
@given(
    event_lists,
    st.integers(0, 12),
    st.integers(0, 2**32),
    st.sampled_from(WINDOWS),
    st.sampled_from(EMIT_MODES),
)
def test_shuffle_within_bound_gives_identical_results(
    raw: list, bound: int, seed: int, window: object, emit: str
) -> None:
    """Delay each event by at most `bound`: nothing is late and results are identical."""
    evs = events_of(raw)
    in_order = sorted(evs, key=lambda e: e[1])
    rnd = random.Random(seed)
    delays = [rnd.randint(0, bound) for _ in evs]
    delayed = [e for _, e in sorted(zip(delays, evs), key=lambda p: p[1][1] + p[0])]
    a = drive(WindowOperator(spec(window, emit)), in_order, bound)
    b = drive(WindowOperator(spec(window, emit)), delayed, bound)
    assert not [r for r in a + b if not isinstance(r, Result)]  # nothing late
    assert outcome(a, emit) == outcome(b, emit)


@settings(max_examples=60, deadline=None)
@given(
    event_lists,
    st.integers(0, 8),
    st.integers(0, 6),
    st.data(),
    st.sampled_from(WINDOWS),
    st.sampled_from(EMIT_MODES),
)
def test_snapshot_restore_anywhere_gives_same_results(
    raw: list, bound: int, lateness: int, data: st.DataObject, window: object, emit: str
) -> None:
    """Checkpoint at any point, restore into a fresh operator: byte-identical output."""
    evs = events_of(raw)  # arbitrary order: late events and lateness included
    cut = data.draw(st.integers(0, len(evs)))
    a = [canon(r) for r in drive(WindowOperator(spec(window, emit, lateness)), evs, bound)]
    first = WindowOperator(spec(window, emit, lateness))
    head = drive(first, evs[:cut], bound, close=False)
    snap = first.snapshot()
    second = WindowOperator(spec(window, emit, lateness))
    second.restore(snap)
    assert second.snapshot() == snap
    size_a, size_b = first.state_size(), second.state_size()
    size_a.pop("timers"), size_b.pop("timers")  # stale timers are dropped lazily, not restored
    assert size_a == size_b
    max_ts = max((ts for _, ts, _ in evs[:cut]), default=None)
    out = list(head)
    for key, ts, ev in evs[cut:]:
        out += second.on_event(key, ts, ev)
        max_ts = ts if max_ts is None else max(max_ts, ts)
        out += second.on_watermark(max_ts - bound)
    out += second.close_all()
    assert [canon(r) for r in out] == a
