"""When a failed delivery is tried again: the Svix schedule, jitter, Retry-After, compression.

Attempt 1 is immediate; after each failure the next waits 5 s, 5 min, 30 min, 2 h, 5 h,
10 h, 10 h (8 attempts over about 27.6 hours), each delay with +-10 % jitter so that
receivers coming back are not hit by a thundering herd. After the last attempt the
delivery is dead-lettered (status `failed`) and can be redelivered by hand.

`scale` compresses time for tests and demos (0.01: the 27.6 hours pass in 16.6 minutes):
it multiplies every delay, every Retry-After and the auto-disable window. Timeouts and
`webhook-timestamp` are never scaled.
"""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass

__all__ = ["SVIX_SCHEDULE_S", "RetryPolicy", "parse_retry_after"]

SVIX_SCHEDULE_S: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_RETRY_AFTER_S = 24 * 3600


@dataclass(frozen=True)
class RetryPolicy:
    """Delays between attempts, timeouts and the auto-disable window."""

    schedule_s: tuple[float, ...] = SVIX_SCHEDULE_S
    jitter: float = 0.1
    scale: float = 1.0
    timeout_s: float = 15.0
    disable_after_s: float = 5 * 24 * 3600  # every attempt failed this long: disable

    @property
    def max_attempts(self) -> int:
        """Attempts before a delivery is dead-lettered."""
        return len(self.schedule_s)

    def delay_ms(self, attempt: int, rng: random.Random | None = None) -> int | None:
        """Delay before attempt number `attempt` (0-based; None: there is no such attempt)."""
        if attempt >= len(self.schedule_s):
            return None
        base = self.schedule_s[attempt] * self.scale * 1000
        r = rng.uniform(-self.jitter, self.jitter) if rng is not None else 0.0
        return max(0, round(base * (1 + r)))

    def scaled_ms(self, seconds: float) -> int:
        """A server-given wait (Retry-After, capped at a day) in compressed milliseconds."""
        return max(0, round(min(seconds, MAX_RETRY_AFTER_S) * self.scale * 1000))

    @property
    def disable_after_ms(self) -> int:
        """The auto-disable window in compressed milliseconds."""
        return round(self.disable_after_s * self.scale * 1000)


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now_s)
