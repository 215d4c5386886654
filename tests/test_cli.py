"""The `cep` command line as a user runs it: check, explain, replay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cep.cli import main

RULE = """STREAM payments (card_id STRING, amount FLOAT, ts INT) KEY card_id;
RULE card_testing FROM payments PARTITION BY card_id
PATTERN (small{3,} large)
DEFINE small AS amount < 5, large AS amount > 500
WITHIN 10m
EMIT card_id, COUNT(small) AS attempts;
"""


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    p = tmp_path / "card.cep"
    p.write_text(RULE)
    return p


def test_check_ok(rule_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(rule_file)]) == 0
    assert "1 statement(s)" in capsys.readouterr().out


def test_check_reports_every_error_with_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.cep"
    bad.write_text(
        "RULE a FROM s PATTERN (x y) DEFINE x AS amount <;\n"
        "RULE b FROM s PATTERN (x) DEFINE x AS amount > 'str' + 1;\n"
        "RULE c FROM s PATTERN (x ->) DEFINE x AS true;\n"
    )
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:1:" in err and f"{bad}:3:" in err
    assert "^" in err  # caret snippet
    assert "3 error(s)" in err or "error(s)" in err


def test_explain_text_and_json(rule_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(rule_file), "card_testing"]) == 0
    out = capsys.readouterr().out
    assert "RULE card_testing" in out and "--small-->" in out and "--large-->" in out
    assert main(["explain", "--json", str(rule_file)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["statement"] == "card_testing"
    kinds = [s["kind"] for s in doc["states"]]
    assert kinds.count("consume") >= 4  # small x3 (+ loop) and large
    assert {e["var"] for e in doc["edges"] if e.get("var")} == {"small", "large"}


def test_replay_prints_matches_and_summary(rule_file: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    lines = [
        {"stream": "payments", "card_id": "c1", "amount": a, "ts": i * 1000}
        for i, a in enumerate([1, 2, 3, 900, 1])
    ]
    events.write_text("\n".join(json.dumps(x) for x in lines) + "\n{not json\n[1,2]\n")
    out = tmp_path / "m.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cep.cli",
            "replay",
            "--rules",
            str(rule_file),
            "--events",
            str(events),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    [m] = [json.loads(x) for x in out.read_text().splitlines()]
    assert m["statement"] == "card_testing" and m["key"] == "c1"
    assert m["bindings"]["small"] == lines[:3] and m["bindings"]["large"] == [lines[3]]
    assert m["fields"] == {"card_id": "c1", "attempts": 3}
    assert len(m["match_id"]) == 32
    assert f"{events}:6: invalid JSON" in proc.stderr
    assert f"{events}:7: an event must be a JSON object" in proc.stderr
    summary = json.loads(proc.stderr.strip().splitlines()[-1])["summary"]
    assert summary["events"] == 5 and summary["bad_lines"] == 2
    assert summary["matches"] == {"card_testing": 1}
    # deterministic ids: a second run gives the same id
    proc2 = subprocess.run(
        [
            sys.executable,
            "-m",
            "cep.cli",
            "replay",
            "--rules",
            str(rule_file),
            "--events",
            str(events),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(proc2.stdout.splitlines()[0])["match_id"] == m["match_id"]
