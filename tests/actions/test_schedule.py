"""The Svix schedule, its jitter bounds, compression and Retry-After parsing."""

from __future__ import annotations

import random

from cep.actions.schedule import SVIX_SCHEDULE_S, RetryPolicy, parse_retry_after


def test_schedule_is_svix_and_ends_with_a_dead_letter() -> None:
    p = RetryPolicy(jitter=0)
    assert SVIX_SCHEDULE_S == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert [p.delay_ms(i) for i in range(8)] == [s * 1000 for s in SVIX_SCHEDULE_S]
    assert p.delay_ms(8) is None and p.max_attempts == 8


def test_jitter_stays_within_ten_percent_and_scale_compresses() -> None:
    p = RetryPolicy(scale=0.001)
    rng = random.Random(1)
    for i, s in enumerate(SVIX_SCHEDULE_S):
        for _ in range(50):
            d = p.delay_ms(i, rng)
            assert d is not None and abs(d - s) <= 0.1 * s + 1
    assert p.scaled_ms(120) == 120


def test_retry_after_seconds_and_http_dates() -> None:
    assert parse_retry_after("120", 0) == 120
    assert parse_retry_after(None, 0) is None and parse_retry_after("soon", 0) is None
    got = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0)
    assert got == 10.0
