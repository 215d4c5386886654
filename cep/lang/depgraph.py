"""The statement dependency graph (networkx): streams feed statements, EMIT INTO feeds streams.

A cycle (a statement whose output reaches its own input, directly or through others)
would make derived events loop forever, so it is a compile error, reported at the
`EMIT INTO` action that closes the cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx

from cep.errors import RuleNameError
from cep.lang import ast

__all__ = ["cycle_errors", "statement_graph"]


def statement_graph(statements: Iterable[ast.Statement]) -> nx.DiGraph:
    """Nodes `("stream", name)` and `("statement", name)`; edges follow the data."""
    g = nx.DiGraph()
    for s in statements:
        if isinstance(s, ast.RuleStmt):
            sources = [src.stream for src in s.sources]
        elif isinstance(s, ast.SearchStmt | ast.AggregateStmt):
            sources = [s.stream]
        else:
            continue
        node = ("statement", s.name)
        g.add_node(node, span=s.span)
        for src in sources:
            g.add_edge(("stream", src), node)
        for action in s.actions:
            if isinstance(action, ast.EmitInto):
                g.add_edge(node, ("stream", action.stream), span=action.span)
    return g


def cycle_errors(
    statements: Iterable[ast.Statement], source: Mapping[str, str] | str = ""
) -> list[RuleNameError]:
    """One error per cycle, naming the statements and streams on it.

    `source` is the file name, or a map from statement name to the file defining it.
    """
    g = statement_graph(statements)
    errors = []
    for cycle in nx.simple_cycles(g):
        stmts = [n for kind, n in cycle if kind == "statement"]
        # report at the EMIT INTO that leaves the first statement on the cycle
        i = cycle.index(("statement", stmts[0]))
        span = g.edges[cycle[i], cycle[(i + 1) % len(cycle)]].get("span") or ast.Span()
        path = " -> ".join(f"{kind} {name}" for kind, name in [*cycle, cycle[0]])
        name = source if isinstance(source, str) else source.get(stmts[0], "")
        errors.append(
            RuleNameError(
                span.line, span.column, f"statements form a cycle: {path}", source_name=name
            )
        )
    return errors
