"""What a windowed AGGREGATE statement asks for, as the operator needs it.

The compiler will build a `WindowSpec` from the AST; tests build it by hand. Nothing has a
hidden default that changes results: ALLOWED LATENESS must be given (users of Kafka Streams
lost a day of output to a 24 h default grace), and limits are explicit and validated here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from cep.lang.compiler import path_getter
from cep.windows.aggregates import DEFAULT_RELATIVE_ACCURACY, Agg, make
from cep.windows.assign import Hopping, Session, Sliding

EMIT_MODES = ("final", "on_time_then_updates", "every_update")
Window = Hopping | Sliding | Session


@dataclass(frozen=True)
class AggSpec:
    """One SELECT item: alias, aggregate and the value it reads (None for COUNT(*))."""

    alias: str
    agg: Agg
    value: Callable[[dict], Any] | None = None

    @classmethod
    def of(
        cls,
        alias: str,
        func: str,
        path: tuple[str, ...] | None = None,
        *,
        p: float | None = None,
        method: str = "linear",
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> AggSpec:
        """Build from the rule-language name and attribute path (path None means `*`)."""
        agg = make(func, star=path is None, p=p, method=method, relative_accuracy=relative_accuracy)
        if agg.needs_value and path is None:
            raise ValueError(f"{func} needs an attribute")
        return cls(alias, agg, path_getter(path) if path else None)


@dataclass(frozen=True)
class WindowSpec:
    """Window, aggregates, GROUP BY, HAVING, ALLOWED LATENESS, EMIT mode and state limits."""

    window: Window
    aggregates: tuple[AggSpec, ...]
    allowed_lateness: int
    group_by: tuple[tuple[str, tuple[str, ...]], ...] = ()
    emit: str = "final"
    having: Callable[[dict], bool] | None = None
    max_windows: int = 1_000_000
    max_windows_per_event: int = 1_000
    _keys: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate; reject specs whose state could not be bounded."""
        if self.allowed_lateness < 0:
            raise ValueError("ALLOWED LATENESS must not be negative")
        if self.emit not in EMIT_MODES:
            raise ValueError(f"unknown emit mode {self.emit!r}; one of {EMIT_MODES}")
        if not self.aggregates:
            raise ValueError("an aggregate needs at least one SELECT item")
        names = [n for n, _ in self.group_by] + [a.alias for a in self.aggregates]
        reserved = {"window_start", "window_end"} & set(names)
        if reserved or len(set(names)) != len(names):
            raise ValueError(f"duplicate or reserved output names in {names}")
        if isinstance(self.window, Hopping) and self.window.per_event > self.max_windows_per_event:
            raise ValueError(
                f"size/advance gives {self.window.per_event} windows per event "
                f"(limit {self.max_windows_per_event})"
            )
        object.__setattr__(self, "_keys", tuple(path_getter(p) for _, p in self.group_by))

    def key_of(self, event: dict) -> tuple:
        """The GROUP BY key of an event (unhashable values become canonical JSON text)."""
        out = []
        for get in self._keys:
            v = get(event)
            if isinstance(v, dict | list):
                v = orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
            out.append(v)
        return tuple(out)
