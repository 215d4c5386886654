"""Window assignment: which windows an event time belongs to.

Kept free of state and aggregates so the boundary rules (the part users argue about) can be
tested on their own against the published Flink / Kafka Streams examples. All times are
epoch milliseconds; tumbling and hopping windows are `[start, end)`, sliding and session
windows are reported with both ends inclusive (the Kafka Streams / ksqlDB shape).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hopping:
    """HOPPING size EVERY advance [OFFSET o]: epoch-aligned `[start, end)` windows."""

    size: int
    advance: int
    offset: int = 0

    def __post_init__(self) -> None:
        """Reject sizes that would give no windows or gaps between windows."""
        if self.size <= 0 or self.advance <= 0:
            raise ValueError("window size and advance must be positive")
        if self.advance > self.size:
            raise ValueError("advance larger than size would leave gaps between windows")

    @property
    def per_event(self) -> int:
        """Most windows one event can belong to."""
        return -(-self.size // self.advance)

    def windows(self, ts: int) -> list[tuple[int, int]]:
        """All `[start, end)` windows holding ts, oldest first (floor-mod: negatives work)."""
        last = ts - (ts - self.offset) % self.advance
        out = []
        start = last
        while start > ts - self.size:
            out.append((start, start + self.size))
            start -= self.advance
        out.reverse()
        return out

    def max_ts(self, start: int, end: int) -> int:
        """Largest event time the window can hold."""
        return end - 1


def Tumbling(size: int, offset: int = 0) -> Hopping:
    """TUMBLING size [OFFSET o]: hopping windows whose advance is their size."""
    return Hopping(size, size, offset)


@dataclass(frozen=True, slots=True)
class Sliding:
    """SLIDING d: per-record windows `[t - d, t]`, both ends inclusive (Kafka Streams)."""

    difference: int

    def __post_init__(self) -> None:
        """Reject a non-positive difference."""
        if self.difference <= 0:
            raise ValueError("sliding window difference must be positive")

    def left(self, ts: int) -> tuple[int, int]:
        """The window a record creates when it enters: it is the window's last record."""
        return (ts - self.difference, ts)

    def right(self, ts: int) -> tuple[int, int]:
        """The window a record creates when it drops out (kept only if not empty)."""
        return (ts + 1, ts + 1 + self.difference)

    def max_ts(self, start: int, end: int) -> int:
        """Largest event time the window can hold (end is inclusive)."""
        return end

    def windows_of(self, times: Iterable[int]) -> list[tuple[int, int]]:
        """Reference definition: every non-empty window the record times create, sorted."""
        ts = sorted(set(times))
        out = {self.left(t) for t in ts}
        for i, t in enumerate(ts):
            if i + 1 < len(ts) and ts[i + 1] <= t + 1 + self.difference:
                out.add(self.right(t))
        return sorted(out)


@dataclass(frozen=True, slots=True)
class Session:
    """SESSION GAP g: an event at t joins session S if S.first - g <= t <= S.last + g."""

    gap: int

    def __post_init__(self) -> None:
        """Reject a negative gap."""
        if self.gap < 0:
            raise ValueError("session gap must not be negative")

    def touches(self, first: int, last: int, ts: int) -> bool:
        """Inclusive merge rule (agrees with Flink's 'touching windows merge')."""
        return first - self.gap <= ts <= last + self.gap

    def max_ts(self, first: int, last: int) -> int:
        """Latest event time that could still extend the session."""
        return last + self.gap

    def sessions_of(self, times: Iterable[int]) -> list[tuple[int, int]]:
        """Reference definition: the `[first, last]` sessions a set of record times forms."""
        out: list[list[int]] = []
        for t in sorted(times):
            if out and t <= out[-1][1] + self.gap:
                out[-1][1] = t
            else:
                out.append([t, t])
        return [(a, b) for a, b in out]
