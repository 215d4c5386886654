"""The shipped rule packs (`rules/<pack>/`) are tested by their own fixtures.

Layout of a pack (see `rules/README.md`):

    rules/<pack>/streams.cep          STREAM declarations shared by the pack
    rules/<pack>/<name>.cep           one RULE or SEARCH, named <name>, with a header comment
    rules/<pack>/<name>.test.json     {"cases": [{"name", "events", "expect"}]}
    rules/<pack>/sample-events.jsonl  realistic events for `cep replay` demos

Every case replays its events through the pack's streams plus the one statement and
compares the matches, as a multiset, with `expect`: statement, key, the bound event
indexes per variable (`Match.offsets`; an index is the event's position in `events`)
and `timed_out`. `"fields"`, when an expectation has it, must equal `Match.fields`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
STREAM_FILE_PREFIX = "streams"
REQUIRED_HEADER = ("id", "status", "description", "version")
STATUSES = {"experimental", "test", "stable", "deprecated"}

_HEADER_LINE = re.compile(r"^--\s*([A-Za-z_][A-Za-z0-9_-]*)\s*:\s*(.*?)\s*$")
_STATEMENT = re.compile(
    r"^\s*(RULE|SEARCH)\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE | re.MULTILINE
)


def packs() -> list[Path]:
    """Every pack folder under rules/."""
    return sorted(p for p in RULES.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def stream_files(pack: Path) -> list[Path]:
    """The pack's STREAM declaration files (`streams*.cep`)."""
    return sorted(pack.glob(f"{STREAM_FILE_PREFIX}*.cep"))


def statement_files() -> list[Path]:
    """Every statement file of every pack (one RULE or SEARCH per file)."""
    out: list[Path] = []
    for pack in packs():
        out.extend(
            f for f in sorted(pack.glob("*.cep")) if not f.name.startswith(STREAM_FILE_PREFIX)
        )
    return out


def header(path: Path) -> dict[str, str]:
    """The `-- key: value` lines at the top of a file (until the first other line).

    A line `--   more text` (two or more spaces after `--`) continues the previous value.
    """
    out: dict[str, str] = {}
    last: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        if last is not None and re.match(r"--\s{2,}\S", stripped):
            out[last] = f"{out[last]} {stripped[2:].strip()}"
            continue
        m = _HEADER_LINE.match(stripped)
        if m is None:
            last = None
            continue
        last = m.group(1).lower()
        out[last] = m.group(2)
    return out


def strip_comments(text: str) -> str:
    """Remove `-- ...` and `/* ... */` comments (strings in these files hold neither)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", "", text)


def statement_names(path: Path) -> list[str]:
    """Names of the RULE/SEARCH statements a file declares."""
    return [
        m.group(2) for m in _STATEMENT.finditer(strip_comments(path.read_text(encoding="utf-8")))
    ]


def pack_text(statement_file: Path) -> str:
    """The pack's stream declarations followed by one statement: what a case compiles."""
    parts = [f.read_text(encoding="utf-8") for f in stream_files(statement_file.parent)]
    parts.append(statement_file.read_text(encoding="utf-8"))
    return "\n".join(parts)


def fixture_path(statement_file: Path) -> Path:
    return statement_file.with_name(statement_file.stem + ".test.json")


def load_cases() -> list[Any]:
    params = []
    for f in statement_files():
        fx = fixture_path(f)
        if not fx.exists():
            continue  # reported by test_every_statement_has_a_fixture
        doc = json.loads(fx.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            params.append(pytest.param(f, case, id=f"{f.parent.name}/{f.stem}::{case['name']}"))
    return params


def canonical(m: Any) -> dict[str, Any]:
    """A Match in the fixture's expectation form."""
    bound: dict[str, list[int]] = {}
    for var, offset in m.offsets:
        bound.setdefault(var, []).append(offset)
    return {"statement": m.statement, "key": m.key, "bound": bound, "timed_out": bool(m.timed_out)}


def as_multiset(items: list[dict[str, Any]]) -> Counter[str]:
    return Counter(json.dumps(i, sort_keys=True) for i in items)


# ---------------------------------------------------------------- pack structure


def test_packs_exist() -> None:
    names = {p.name for p in packs()}
    assert {"fraud", "monitoring", "real_estate"} <= names
    for pack in packs():
        assert stream_files(pack), f"{pack.name}: no streams.cep"
        assert (pack / "sample-events.jsonl").exists(), f"{pack.name}: no sample-events.jsonl"


@pytest.mark.parametrize("path", statement_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_statement_has_a_fixture(path: Path) -> None:
    assert fixture_path(path).exists(), f"{path} has no {fixture_path(path).name}"


@pytest.mark.parametrize("path", statement_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_one_statement_per_file_named_after_it(path: Path) -> None:
    assert statement_names(path) == [path.stem]


@pytest.mark.parametrize("path", statement_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_header_has_required_fields(path: Path) -> None:
    h = header(path)
    missing = [k for k in REQUIRED_HEADER if not h.get(k)]
    assert not missing, f"{path}: header lacks {missing}"
    assert str(uuid.UUID(h["id"])) == h["id"].lower(), f"{path}: id is not a uuid"
    assert h["status"] in STATUSES, f"{path}: status {h['status']!r} not in {sorted(STATUSES)}"
    assert re.fullmatch(r"[1-9][0-9]*", h["version"]), f"{path}: version must be 1, 2, ..."


@pytest.mark.parametrize("pack", packs(), ids=lambda p: p.name)
def test_stream_file_declares_pack_and_semver(pack: Path) -> None:
    h = header(stream_files(pack)[0])
    assert h.get("pack") == pack.name
    assert re.fullmatch(r"\d+\.\d+\.\d+", h.get("pack-version", "")), "pack-version: X.Y.Z"


def test_statement_names_and_ids_are_unique_across_packs() -> None:
    names = Counter(n for f in statement_files() for n in statement_names(f))
    assert [n for n, c in names.items() if c > 1] == []
    ids = Counter(header(f).get("id") for f in statement_files())
    assert [i for i, c in ids.items() if c > 1] == []


def test_stream_names_are_unique_across_packs() -> None:
    decl = re.compile(r"^\s*STREAM\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE | re.MULTILINE)
    seen = Counter(
        n
        for pack in packs()
        for f in stream_files(pack)
        for n in decl.findall(strip_comments(f.read_text(encoding="utf-8")))
    )
    assert [n for n, c in seen.items() if c > 1] == []


@pytest.mark.parametrize("path", statement_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_has_must_match_and_must_not_match_cases(path: Path) -> None:
    fx = fixture_path(path)
    assert fx.exists(), f"{path} has no fixture file {fx.name}"
    cases = json.loads(fx.read_text(encoding="utf-8"))["cases"]
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    assert any(c["expect"] for c in cases), "needs a case that must match"
    assert any(not c["expect"] for c in cases), "needs a case that must not match"
    for c in cases:
        for ev in c["events"]:
            assert "stream" in ev and "ts" in ev, f"{c['name']}: every event needs stream and ts"
        for e in c["expect"]:
            assert e["statement"] == path.stem
            assert set(e) <= {"statement", "key", "bound", "timed_out", "fields"}
            for idx in (i for ixs in e["bound"].values() for i in ixs):
                assert 0 <= idx < len(c["events"])


# ---------------------------------------------------------------- behaviour


@pytest.mark.parametrize(("path", "case"), load_cases())
def test_case(path: Path, case: dict[str, Any]) -> None:
    from cep.testing import replay

    matches = replay(pack_text(path), case["events"])
    got = [canonical(m) for m in matches]
    want = [
        {
            "statement": e["statement"],
            "key": e.get("key"),
            "bound": e["bound"],
            "timed_out": bool(e.get("timed_out", False)),
        }
        for e in case["expect"]
    ]
    assert as_multiset(got) == as_multiset(want), (
        f"\nexpected: {json.dumps(want)}\n     got: {json.dumps(got)}"
    )
    for e, target in zip(case["expect"], want):
        if "fields" in e:
            fields = [m.fields for m in matches if canonical(m) == target]
            assert fields == [e["fields"]], f"fields of {target}: got {fields}"


@pytest.mark.parametrize("pack", packs(), ids=lambda p: p.name)
def test_sample_events_exercise_every_statement(pack: Path) -> None:
    from cep.testing import replay

    lines = (pack / "sample-events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    text = "\n".join(
        f.read_text(encoding="utf-8") for f in [*stream_files(pack), *statement_files_of(pack)]
    )
    fired = Counter(m.statement for m in replay(text, events))
    silent = [f.stem for f in statement_files_of(pack) if not fired[f.stem]]
    assert silent == [], f"{pack.name}/sample-events.jsonl never triggers {silent}"


def statement_files_of(pack: Path) -> list[Path]:
    return [f for f in statement_files() if f.parent == pack]
