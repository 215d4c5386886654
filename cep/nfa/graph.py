"""The compiled NFA as a networkx graph, for `cep explain`, the API and tests."""

from __future__ import annotations

import networkx as nx

from cep.nfa.program import ABSENT, CONSUME, KIND_NAMES, WAIT, Program

__all__ = ["to_networkx"]

START = "start"


def to_networkx(program: Program) -> nx.MultiDiGraph:
    """Nodes are resting states (plus `start`); an edge consumes one event of a variable.

    Edge attributes: `var` (the variable whose condition must hold), `condition` (its text),
    `mode` (`strict`, `skip-till-next` or `skip-till-any`), `forbid` (variables that kill
    the wait), `order` (preference: lower is tried first).
    """
    g = nx.MultiDiGraph()
    g.add_node(START, kind="start")
    for n, kind in enumerate(program.kinds):
        attrs = {"kind": KIND_NAMES[kind]}
        if kind == ABSENT:
            attrs["forbid"] = [program.vars[x].name for x in program.negs[n]]
        g.add_node(n, **attrs)

    def consume_edges(
        src: object, var: int, succ: tuple[int, ...], mode: str, forbid: list[str]
    ) -> None:
        v = program.vars[var]
        for order, dst in enumerate(succ):
            g.add_edge(
                src,
                dst,
                var=v.name,
                condition=v.source,
                stream=v.stream,
                mode=mode,
                forbid=forbid,
                order=order,
            )

    for order, n in enumerate(program.start):
        g.add_edge(START, n, var=None, condition=None, mode="epsilon", forbid=[], order=order)
    for n, kind in enumerate(program.kinds):
        if kind == CONSUME:
            consume_edges(n, program.node_vars[n], program.succ[n], "strict", [])
        elif kind == WAIT:
            mode = "skip-till-any" if program.any_match[n] else "skip-till-next"
            for neg, entries in program.components[n]:
                forbid = [program.vars[x].name for x in neg]
                for var, succ in entries:
                    consume_edges(n, var, succ, mode, forbid)
    return g
