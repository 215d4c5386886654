"""The compiled, immutable form of a pattern: what the runtime steps over.

A `Program` is a table of *resting nodes*, the places where a thread of the simulation
can wait for the next event, with every epsilon move (alternation, loops, optional parts)
already folded in by the compiler:

- CONSUME: the next event must satisfy variable `var`; if it does, the thread continues
  at each node of `succ` (a tuple in preference order); if not, the thread dies (strict
  contiguity).
- WAIT: a skip point (`->`, `->>`). It has one or more *components* (several skip points
  reachable at once are merged, so "take the event if any branch can" is decided once per
  thread). A component is `(neg, entries)`: `neg` are variables that must not occur while
  waiting (`p -> !v -> q`), `entries` are `(var, succ)` pairs, as for CONSUME. An event
  that some unblocked entry accepts is taken by all such entries; an event nobody accepts
  is skipped; an event matching a component's `neg` blocks that component; a thread whose
  components are all blocked dies. With `any_match` (`->>`) the thread also stays.
- ABSENT: absence at the end (`p -> !v`): an event matching `neg` kills the thread; when
  the WITHIN deadline passes, the thread becomes a match.
- MATCH: the pattern is complete (never a resting place; seeing it records a match).

Everything here is tuples and ints; `Program` instances are shared by every key and never
mutated after compilation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ABSENT", "CONSUME", "MATCH", "WAIT", "Program", "VarSpec"]

CONSUME = 0
WAIT = 1
ABSENT = 2
MATCH = 3

KIND_NAMES = {CONSUME: "consume", WAIT: "wait", ABSENT: "absent", MATCH: "match"}


class VarSpec:
    """A pattern variable: its name, the stream it is bound to (or None) and its condition."""

    __slots__ = ("cond", "name", "source", "stream", "uses_bindings")

    def __init__(
        self,
        name: str,
        cond: Callable[[dict, Any], object] | None,
        uses_bindings: bool,
        stream: str | None,
        source: str,
    ) -> None:
        self.name = name
        self.cond = cond
        self.uses_bindings = uses_bindings
        self.stream = stream
        self.source = source


class Program:
    """An immutable NFA: resting nodes, their successors and the variables they test."""

    __slots__ = (
        "any_match",
        "binding_free",
        "components",
        "kinds",
        "negs",
        "node_vars",
        "start",
        "succ",
        "vars",
    )

    def __init__(
        self,
        vars: tuple[VarSpec, ...],
        kinds: tuple[int, ...],
        node_vars: tuple[int, ...],
        succ: tuple[tuple[int, ...], ...],
        components: tuple[
            tuple[tuple[tuple[int, ...], tuple[tuple[int, tuple[int, ...]], ...]], ...], ...
        ],
        negs: tuple[tuple[int, ...], ...],
        any_match: tuple[bool, ...],
        start: tuple[int, ...],
    ) -> None:
        self.vars = vars
        self.kinds = kinds
        self.node_vars = node_vars
        self.succ = succ
        self.components = components
        self.negs = negs
        self.any_match = any_match
        self.start = start
        # Threads at the same node are interchangeable only when no condition reads
        # earlier bindings; then the simulation keeps one thread per node (Pike VM).
        self.binding_free = not any(v.uses_bindings for v in vars)

    @property
    def size(self) -> int:
        """Number of resting nodes."""
        return len(self.kinds)

    def describe(self) -> list[dict[str, Any]]:
        """Return the nodes as JSON-ready dicts (for `cep explain` and the graph API)."""
        out: list[dict[str, Any]] = []
        for n, kind in enumerate(self.kinds):
            item: dict[str, Any] = {"id": n, "kind": KIND_NAMES[kind], "start": n in self.start}
            if kind == CONSUME:
                v = self.vars[self.node_vars[n]]
                item.update(
                    var=v.name, condition=v.source, stream=v.stream, next=list(self.succ[n])
                )
            elif kind == WAIT:
                item["mode"] = "skip-till-any" if self.any_match[n] else "skip-till-next"
                item["components"] = [
                    {
                        "forbid": [self.vars[x].name for x in neg],
                        "take": [
                            {"var": self.vars[var].name, "next": list(nxt)} for var, nxt in entries
                        ],
                    }
                    for neg, entries in self.components[n]
                ]
            elif kind == ABSENT:
                item["forbid"] = [self.vars[x].name for x in self.negs[n]]
            out.append(item)
        return out
