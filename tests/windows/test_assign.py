"""Window assignment: the published examples and the boundary table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cep.windows import Hopping, Session, Sliding, Tumbling

HOUR = 3_600_000
DAY = 24 * HOUR


def test_kafka_streams_hopping_5000_3000_boundaries() -> None:
    """TimeWindows size 5000 advance 3000: [0;5000), [3000;8000), [6000;11000) ..."""
    w = Hopping(5000, 3000)
    starts = sorted({s for ts in range(0, 12000, 250) for s, _ in w.windows(ts)})
    assert [(s, s + 5000) for s in starts if s >= 0][:4] == [
        (0, 5000),
        (3000, 8000),
        (6000, 11000),
        (9000, 14000),
    ]
    assert w.windows(4000) == [(0, 5000), (3000, 8000)]
    assert w.windows(5000) == [(3000, 8000)]  # 5000 is the end of [0;5000): not in it
    # epoch-aligned with floor-mod: ts < 2000 also falls in [-3000;2000) (Flink; Kafka
    # Streams clamps window starts at 0 instead)
    assert w.windows(0) == [(-3000, 2000), (0, 5000)]


@pytest.mark.parametrize(
    ("size", "ts", "expected"),
    [
        (10, 9, [(0, 10)]),  # end - 1: window A
        (10, 10, [(10, 20)]),  # end: window B
        (10, 0, [(0, 10)]),
        (10, -1, [(-10, 0)]),
        (10, -10, [(-10, 0)]),
        (10, -11, [(-20, -10)]),
        (1, -5, [(-5, -4)]),
    ],
)
def test_tumbling_boundary_table(size: int, ts: int, expected: list) -> None:
    """[start, end): ts = end-1 is in A, ts = end in B; negative and zero times work."""
    assert Tumbling(size).windows(ts) == expected


def test_hopping_negative_times_and_offset() -> None:
    """Floor-mod alignment holds below zero and with an offset."""
    assert Hopping(10, 5).windows(-1) == [(-10, 0), (-5, 5)]
    assert Hopping(10, 5, offset=2).windows(2) == [(-3, 7), (2, 12)]
    assert Hopping(10, 5, offset=2).windows(1) == [(-8, 2), (-3, 7)]
    assert Hopping(10, 5, offset=-3).windows(1) == Hopping(10, 5, offset=2).windows(1)


def test_offset_minus_8h_gives_local_midnight_boundaries() -> None:
    """TUMBLING 1d OFFSET -8h: windows start at midnight UTC+8 (Flink's China example)."""
    tz = timezone(timedelta(hours=8))
    w = Tumbling(DAY, offset=-8 * HOUR)
    midnight = int(datetime(2024, 3, 10, tzinfo=tz).timestamp() * 1000)
    assert w.windows(midnight) == [(midnight, midnight + DAY)]
    assert w.windows(midnight - 1) == [(midnight - DAY, midnight)]
    start, _ = w.windows(int(datetime(2024, 3, 10, 15, 30, tzinfo=UTC).timestamp() * 1000))[0]
    local = datetime.fromtimestamp(start / 1000, tz)
    assert (local.hour, local.minute, local.day) == (0, 0, 10)


def test_sliding_published_five_windows() -> None:
    """Kafka Streams SlidingWindows example: 8000, 9200, 12400 with difference 5000."""
    assert Sliding(5000).windows_of([8000, 9200, 12400]) == [
        (3000, 8000),
        (4200, 9200),
        (7400, 12400),
        (8001, 13001),
        (9201, 14201),
    ]


def test_session_published_example() -> None:
    """SessionWindows gap 5: 10, 12, 20 -> [10,12], [20,20]; then 16 merges into [10,20]."""
    s = Session(5)
    assert s.sessions_of([10, 12, 20]) == [(10, 12), (20, 20)]
    assert s.sessions_of([10, 12, 20, 16]) == [(10, 20)]
    assert s.touches(10, 12, 17) and not s.touches(10, 12, 18)  # inclusive gap
    assert s.touches(10, 12, 5) and not s.touches(10, 12, 4)


@pytest.mark.parametrize(
    "bad", [lambda: Hopping(0, 1), lambda: Hopping(5, 6), lambda: Sliding(0), lambda: Session(-1)]
)
def test_invalid_windows_are_refused(bad: object) -> None:
    """Sizes that give no windows or gaps are errors, not silent behaviour."""
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]
