"""Statement cycles through EMIT INTO are compile errors; acyclic chains are fine."""

from __future__ import annotations

import pytest

from cep.errors import RuleErrors
from cep.lang.compiler import compile_text
from cep.lang.depgraph import statement_graph
from cep.lang.parser import parse


def test_two_statement_cycle_is_rejected_at_emit_into() -> None:
    text = (
        "SEARCH a FROM s1 WHERE x > 1 THEN EMIT INTO s2;\n"
        "SEARCH b FROM s2 WHERE x > 1 THEN EMIT INTO s1;"
    )
    with pytest.raises(RuleErrors) as e:
        compile_text(text)
    [err] = [x for x in e.value.errors if "cycle" in x.message]
    assert (err.line, err.column) in {(1, 35), (2, 35)}
    assert "statement a" in err.message and "statement b" in err.message


def test_three_statement_cycle_through_a_rule() -> None:
    text = """
    SEARCH a FROM s1 WHERE x > 1 THEN EMIT INTO s2;
    RULE b FROM s2 PATTERN (p q) DEFINE p AS x > 1 THEN EMIT INTO s3;
    SEARCH c FROM s3 THEN EMIT INTO s1;
    """
    with pytest.raises(RuleErrors, match="cycle"):
        compile_text(text)


def test_chain_without_cycle_compiles_and_graph_has_edges() -> None:
    text = (
        "SEARCH a FROM s1 WHERE x > 1 THEN EMIT INTO s2;\n"
        "SEARCH b FROM s2 WHERE x > 1 THEN EMIT INTO s3;"
    )
    stmts, _ = compile_text(text)
    assert [s.name for s in stmts] == ["a", "b"]
    g = statement_graph(parse(text).statements)
    assert g.has_edge(("statement", "a"), ("stream", "s2"))
    assert g.has_edge(("stream", "s2"), ("statement", "b"))
