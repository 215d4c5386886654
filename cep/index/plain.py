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

__all__ = ["PlainIndex", "StatementIndex"]


class StatementIndex(Protocol):
    """Chooses, per event, the statement runners that may care about it."""

    def add(self, runner: Any) -> None:
        """Register a runner (its `stmt.streams` say which streams it reads)."""

    def remove(self, runner: Any) -> None:
        """Forget a runner."""

    def candidates(self, stream: str, event: dict) -> Sequence[Any]:
        """Runners that this event may start or advance (a superset is fine)."""


class PlainIndex:
    """Per-stream lists of runners: no pruning, the reference for the attribute index."""

    __slots__ = ("by_stream",)

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
