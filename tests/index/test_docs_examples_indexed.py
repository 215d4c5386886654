"""Every executed example of docs/language.md gives the same matches through the index."""

from __future__ import annotations

from typing import Any

import pytest

from cep.engine import Engine
from cep.index.attribute import AttributeIndex
from cep.index.plain import PlainIndex
from cep.lang.compiler import compile_text
from tests.index.test_equivalence import key
from tests.rules.test_docs_examples import REPLAYED


def run(text: str, events: list[dict[str, Any]], index: Any) -> list:
    stmts, specs = compile_text(text)
    e = Engine(stmts, specs, index=index)
    for off, ev in enumerate(events):
        e.process(ev, off, ev.get("stream"))
    e.flush()
    return sorted(key(m) for m in e.take())


@pytest.mark.parametrize(("text", "events", "expect"), REPLAYED)
def test_example_through_the_attribute_index(text, events, expect) -> None:
    assert run(text, events, AttributeIndex()) == run(text, events, PlainIndex())
