"""Test seams shipped with the package: run rule text over a list of events in one call."""

from __future__ import annotations

from collections.abc import Iterable

from cep.engine import Engine, Limits, Match
from cep.lang.compiler import compile_text

__all__ = ["replay"]


def replay(
    text: str,
    events: Iterable[dict],
    stream: str | None = None,
    limits: Limits | None = None,
    stream_field: str = "stream",
) -> list[Match]:
    """Compile `text`, feed `events` (offset = position), flush, return every match in order.

    Each event's stream is `stream` if given, else its `stream_field` attribute.
    """
    statements, specs = compile_text(text)
    engine = Engine(statements, specs, limits)
    for offset, ev in enumerate(events):
        engine.process(ev, offset, stream or ev.get(stream_field))
    engine.flush()
    return engine.take()
