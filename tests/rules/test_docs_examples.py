"""The examples of `docs/language.md` are executed, so the reference cannot drift.

An example is three fenced blocks in a row:

    ```cep        rule text (any statements; compiled as one file)
    ```events     one JSON event per line; its index is its position (0, 1, ...);
                  blank lines and lines starting with '#' are ignored
    ```expect     one match per line, or the single word `none`:
                  <statement> [key=<value>] [timed_out] <var>=<i>,<j>... [fields=<json>]

`key=` takes JSON (`key=["u1","phone"]`, `key=42`) or a bare word, read as a string
(`key=c1`); without it the key is null (a RULE without PARTITION BY, a SEARCH). A SEARCH
binds its event to the variable `event`. `fields=` runs to the end of the line and, when
given, must equal the match's EMIT fields. Matches are compared as a multiset: the order of
lines does not matter.

A ```cep block not followed by ```events/```expect must still compile (illustrations of
syntax that is not meant to compile use ```text).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"

_FENCE = re.compile(r"^```([A-Za-z0-9_-]*)\s*$")


def blocks(text: str) -> list[tuple[str, str, int]]:
    """Fenced blocks as (info string, body, line of the opening fence)."""
    out: list[tuple[str, str, int]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        out.append((m.group(1), "\n".join(body), start + 1))
        i += 1
    return out


def parse_events(body: str) -> list[dict[str, Any]]:
    events = []
    for line in body.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        ev = json.loads(s)
        assert isinstance(ev, dict), f"not a JSON object: {s}"
        events.append(ev)
    return events


def _key(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_expect(body: str) -> list[dict[str, Any]]:
    lines = [
        ln.strip() for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("#")
    ]
    if lines == ["none"]:
        return []
    out = []
    for line in lines:
        fields = None
        if " fields=" in line:
            line, raw = line.split(" fields=", 1)
            fields = json.loads(raw)
        tokens = line.split()
        exp: dict[str, Any] = {"statement": tokens[0], "key": None, "bound": {}, "timed_out": False}
        for tok in tokens[1:]:
            if tok == "timed_out":
                exp["timed_out"] = True
            elif tok.startswith("key="):
                exp["key"] = _key(tok[4:])
            else:
                var, _, idx = tok.partition("=")
                assert var and idx, f"cannot read {tok!r} in expect line {line!r}"
                exp["bound"][var] = [int(i) for i in idx.split(",")]
        if fields is not None:
            exp["fields"] = fields
        out.append(exp)
    return out


def examples() -> tuple[list[Any], list[Any]]:
    """(replayed examples, compile-only blocks) as pytest params."""
    bs = blocks(DOC.read_text(encoding="utf-8"))
    replayed, compiled = [], []
    i = 0
    while i < len(bs):
        info, body, line = bs[i]
        if info != "cep":
            i += 1
            continue
        name = re.search(r"(?:RULE|SEARCH)\s+(\w+)", body, re.IGNORECASE) or re.search(
            r"STREAM\s+(\w+)", body, re.IGNORECASE
        )
        ident = f"L{line}-{name.group(1) if name else 'block'}"
        if i + 2 < len(bs) and bs[i + 1][0] == "events" and bs[i + 2][0] == "expect":
            replayed.append(
                pytest.param(body, parse_events(bs[i + 1][1]), parse_expect(bs[i + 2][1]), id=ident)
            )
            i += 3
            continue
        assert not (i + 1 < len(bs) and bs[i + 1][0] in ("events", "expect")), (
            f"docs/language.md:{line}: a cep block needs both ```events and ```expect after it"
        )
        compiled.append(pytest.param(body, id=ident))
        i += 1
    return replayed, compiled


REPLAYED, COMPILED = examples()


def canonical(m: Any) -> dict[str, Any]:
    bound: dict[str, list[int]] = {}
    for var, offset in m.offsets:
        bound.setdefault(var, []).append(offset)
    return {"statement": m.statement, "key": m.key, "bound": bound, "timed_out": bool(m.timed_out)}


def test_the_reference_has_many_executed_examples() -> None:
    assert len(REPLAYED) >= 40


@pytest.mark.parametrize(("text", "events", "expect"), REPLAYED)
def test_example(text: str, events: list[dict[str, Any]], expect: list[dict[str, Any]]) -> None:
    from cep.testing import replay

    matches = replay(text, events)
    got = Counter(json.dumps(canonical(m), sort_keys=True) for m in matches)
    want_plain = [{k: v for k, v in e.items() if k != "fields"} for e in expect]
    want = Counter(json.dumps(e, sort_keys=True) for e in want_plain)
    assert got == want, f"\nexpected: {sorted(want)}\n     got: {sorted(got)}"
    for e, plain in zip(expect, want_plain):
        if "fields" in e:
            fields = [m.fields for m in matches if canonical(m) == plain]
            assert fields == [e["fields"]], f"fields of {plain}: got {fields}"


@pytest.mark.parametrize("text", COMPILED)
def test_illustration_compiles(text: str) -> None:
    from cep.lang.compiler import compile_text

    compile_text(text)


# Every operator and clause of the language has at least one executed example.
REQUIRED = [
    r"\bSTREAM\b",
    r"\bKEY\b",
    r"\bTIME\b",
    r"\bWATERMARK\b",
    r"LATE EVENTS TO",
    r"\bSEARCH\b",
    r"\bRULE\b",
    r"FROM \w+\s*,\s*\w+",
    r"\bFROM \w+ WHERE\b",
    r"PARTITION BY \w+\s*,",
    r"\bWITHIN\b",
    r"ON TIMEOUT EMIT",
    r"AFTER MATCH SKIP PAST LAST EVENT",
    r"AFTER MATCH SKIP TO NEXT EVENT",
    r"AFTER MATCH SKIP TO FIRST",
    r"AFTER MATCH SKIP TO LAST",
    r"\bEMIT\b.*\bAS\b",
    r"THEN WEBHOOK",
    r"\bSECRET\b",
    r"EMIT INTO \w+",
    r"\w ->> \w",
    r"\w -> \w",
    r"\|",
    r"\w\?(?![?])",
    r"\w\*(?![?])",
    r"\w\+(?![?])",
    r"\{\d+\}",
    r"\{\d+,\}",
    r"\{\d+,\d+\}",
    r"\{,\d+\}",
    r"\?\?",
    r"\*\?",
    r"\+\?",
    r"\{\d+,\d+\}\?",
    r"->\+",
    r"->\*",
    r"->\{\d",
    r"->>\{",
    r"-> !\w+ ->",
    r"-> !\w+\)",
    r"\bBETWEEN\b",
    r"NOT BETWEEN",
    r"\bIN \(",
    r"NOT IN \(",
    r"IS NULL",
    r"IS NOT NULL",
    r"CONTAINS '",
    r"CONTAINS ALL",
    r"CONTAINS ANY",
    r"\bLIKE\b",
    r"NOT LIKE",
    r"MATCHES",
    r"\bOR\b",
    r"\bNOT \(",
    r"<>|!=",
    r"<=",
    r">=",
    r" % ",
    r" / ",
    r" \* ",
    r" - ",
    r" \+ ",
    r"LOWER\(",
    r"UPPER\(",
    r"ABS\(",
    r"LEN\(",
    r"COALESCE\(",
    r"ROUND\(",
    r"FLOOR\(",
    r"CEIL\(",
    r"FIRST\(",
    r"LAST\(",
    r"COUNT\(\w+\)",
    r"COUNT\(\*\)",
    r"SUM\(",
    r"AVG\(",
    r"MIN\(",
    r"MAX\(",
    r"\w+\.\w+\.\w+",
    r'"[\w-]+"',
    r"--",
    r"/\*",
    r"''",
    r"\d_\d",
]


@pytest.mark.parametrize("pattern", REQUIRED)
def test_every_construct_has_an_executed_example(pattern: str) -> None:
    texts = [p.values[0] for p in REPLAYED]
    assert any(re.search(pattern, t) for t in texts), f"no executed example uses {pattern!r}"
