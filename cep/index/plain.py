"""The seam between the engine and statement selection, and its plain implementation.

The engine asks one question per event: *which statements can this event start or
advance?* `StatementIndex.candidates` answers with a superset; each runner then checks its
own key state and start conditions exactly. `PlainIndex` answers "every statement reading
the event's stream": correct, and O(statements of the stream) per event. The attribute
index (predicates of first steps, inverted) implements the same protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["FilteringIndex", "PlainIndex", "StatementIndex"]


class StatementIndex(Protocol):
    """Chooses, per event, the statement runners that may care about it.

    `exhaustive` says `candidates` returns every runner of the stream (so the engine need
    not also look up keys with live partial matches); a selective index sets it False and
    returns only runners whose *first step* the event may satisfy.
    """

    exhaustive: bool

    def add(self, runner: Any) -> None:
        """Register a runner (its `stmt.streams` say which streams it reads)."""

    def remove(self, runner: Any) -> None:
        """Forget a runner."""

    def candidates(self, stream: str, event: dict) -> Sequence[Any]:
        """Runners that this event may start or advance (a superset is fine)."""


class PlainIndex:
    """Per-stream lists of runners: no pruning, the reference for the attribute index."""

    __slots__ = ("by_stream",)
    exhaustive = True

    def __init__(self) -> None:
        self.by_stream: dict[str, list[Any]] = {}

    def add(self, runner: Any) -> None:
        """Register a runner under each stream it reads."""
        for s in dict.fromkeys(runner.stmt.streams):
            self.by_stream.setdefault(s, []).append(runner)

    def remove(self, runner: Any) -> None:
        """Remove a runner from every stream list."""
        for s, lst in list(self.by_stream.items()):
            self.by_stream[s] = [r for r in lst if r is not runner]
            if not self.by_stream[s]:
                del self.by_stream[s]

    def candidates(self, stream: str, event: dict) -> Sequence[Any]:
        """All runners of the stream."""
        return self.by_stream.get(stream, ())


class FilteringIndex(PlainIndex):
    """A selective index by brute force: runners whose start condition holds for the event.

    Still O(statements) per event; it exists as the reference that selective indexes (and
    the engine's live-key routing they rely on) are tested against.
    """

    __slots__ = ()
    exhaustive = False

    def candidates(self, stream: str, event: dict) -> Sequence[Any]:
        """Runners of the stream whose first step accepts the event."""
        out = []
        for r in self.by_stream.get(stream, ()):
            m = r.matcher
            ok = m.start_fn(event, None) if m.start_by_event else m.start_fn((0, 0, event, stream))
            if ok:
                out.append(r)
        return out
