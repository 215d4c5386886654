"""`cep apply`, `produce`, `worker`, `matches`, `status`, `pause`/`resume`/`delete` end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cep.cli import main
from cep.config import open_backends

RULES = """STREAM payments (card_id STRING, amount FLOAT, ts INT) KEY card_id;
RULE card_testing FROM payments PARTITION BY card_id
PATTERN (small{3,} large)
DEFINE small AS amount < 5, large AS amount > 500
WITHIN 10m
EMIT card_id, COUNT(small) AS attempts;
SEARCH big FROM payments WHERE amount > 1000 THEN EMIT INTO big_payments;
"""


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh SQLite store in a temp dir."""
    return f"sqlite:///{tmp_path / 'cep.db'}"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`cep ARGS` in process; (exit status, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def events(path: Path, rows: list[object], extra: bytes = b"") -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows) + extra)
    return path


def test_apply_creates_updates_and_leaves_unchanged(tmp_path: Path, store_url: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "rules.cep"
    f.write_text(RULES)
    code, out, _ = run(capsys, "apply", "--store", store_url, str(f))
    assert code == 0
    assert "created   log stream payments (4 partitions)" in out
    assert "created   log stream big_payments (4 partitions)" in out
    assert "created   rule card_testing (v1)" in out and "created   search big (v1)" in out
    assert "created   stream payments (v1)" in out
    # layout and comments are not changes; a changed condition is
    f.write_text("-- the same rules, laid out differently\n" + RULES.replace("\n", "\n  "))
    code, out, err = run(capsys, "apply", "--store", store_url, str(f))
    assert code == 0 and "0 created, 0 updated, 3 unchanged" in err
    f.write_text(RULES.replace("amount > 1000", "amount > 2000"))
    code, out, err = run(capsys, "apply", "--store", store_url, str(f))
    assert "updated   search big (v2)" in out and "unchanged rule card_testing (v1)" in out
    log, store = open_backends(store_url)
    assert log.streams() == {"payments": 4, "big_payments": 4}
    assert store.get_statement("big").version == 2
    log.close()
    store.close()


def test_a_bad_file_changes_nothing_and_errors_have_positions(
        tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.cep"
    good.write_text(RULES)
    bad = tmp_path / "bad.cep"
    bad.write_text("RULE broken FROM payments PATTERN (x y)\nDEFINE x AS amount <;\n")
    code, out, err = run(capsys, "apply", "--store", store_url, str(good), str(bad))
    assert code == 1 and out == ""
    assert f"{bad}:2:" in err and "^" in err and "nothing was applied" in err
    dup = tmp_path / "dup.cep"
    dup.write_text("SEARCH big FROM payments WHERE amount > 5;")
    code, _, err = run(capsys, "apply", "--store", store_url, str(good), str(dup))
    assert code == 1 and "also defined in" in err
    log, store = open_backends(store_url)
    assert store.statements_revision() == 0 and store.list_statements() == []
    assert log.streams() == {}
    log.close()
    store.close()
    assert run(capsys, "apply", "--store", store_url, "--partitions", "2", str(good))[0] == 0
    code, _, err = run(capsys, "apply", "--store", store_url, "--partitions", "8", str(good))
    assert code == 1 and "has 2 partitions, not 8" in err


def test_produce_reports_bad_lines_and_appends_the_rest(
        tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "rules.cep"
    f.write_text(RULES)
    assert run(capsys, "apply", "--store", store_url, str(f))[0] == 0
    monkeypatch.setenv("CEP_MAX_EVENT_BYTES", "200")
    rows: list[object] = [{"card_id": f"c{i}", "amount": 1.0, "ts": i} for i in range(10)]
    rows[3] = [1, 2]  # not an object: line 4
    rows[6] = {"card_id": "c6", "ts": 6, "pad": "x" * 300}  # too large: line 7
    path = events(tmp_path / "ev.jsonl", rows, b"{oops\n")  # line 11
    code, _, err = run(capsys, "produce", "--store", store_url, "--stream", "payments",
                       "--batch", "4", str(path))
    assert code == 1
    assert f"{path}:4: an event must be a JSON object" in err
    assert f"{path}:7: event is" in err and "over the 200 limit" in err
    assert f"{path}:11: invalid JSON" in err
    assert "appended 8 events to payments" in err and "3 bad line(s) skipped" in err
    log, store = open_backends(store_url)
    got = sorted(e["ts"] for p in range(4) for _, e in log.read("payments", p, 0, 100))
    assert got == [0, 1, 2, 4, 5, 7, 8, 9]
    for p in range(4):  # routed by the stream's KEY
        for _, e in log.read("payments", p, 0, 100):
            assert log.partition_for("payments", e["card_id"]) == p
    log.close()
    store.close()
    code, _, err = run(capsys, "produce", "--store", store_url, "--stream", "nope", str(path))
    assert code == 2 and "unknown stream 'nope'" in err


def test_produce_reads_stdin(tmp_path: Path, store_url: str) -> None:
    data = b"".join(orjson.dumps({"v": i, "ts": i}) + b"\n" for i in range(5))
    r = subprocess.run([sys.executable, "-m", "cep.cli", "produce", "--store", store_url,
                        "--stream", "raw", "--partitions", "2", "-"], input=data,
                       capture_output=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert b"appended 5 events to raw" in r.stderr


def test_worker_matches_and_status(tmp_path: Path, store_url: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "rules.cep"
    f.write_text(RULES)
    assert run(capsys, "apply", "--store", store_url, str(f))[0] == 0
    rows = []
    for c in range(20):
        rows += [{"card_id": f"c{c}", "amount": 1.0, "ts": 1000 * c + i} for i in range(3)]
        rows.append({"card_id": f"c{c}", "amount": 1500.0, "ts": 1000 * c + 5})
    path = events(tmp_path / "ev.jsonl", rows)
    assert run(capsys, "produce", "--store", store_url, "--stream", "payments", str(path))[0] == 0
    code, _, err = run(capsys, "worker", "--store", store_url, "--drain", "--log-level",
                       "warning")
    assert code == 0
    stats = orjson.loads(err.strip().splitlines()[-1])
    assert stats["events"] == 80  # nothing reads the derived big_payments
    out_file = tmp_path / "m.jsonl"
    code, _, err = run(capsys, "matches", "--store", store_url, "--statement", "card_testing",
                       "--out", str(out_file))
    assert code == 0 and "20 match(es)" in err
    lines = [orjson.loads(x) for x in out_file.read_bytes().splitlines()]
    assert {d["key"] for d in lines} == {f"c{c}" for c in range(20)}
    assert all(d["id"] == d["match_id"] and d["fields"]["attempts"] == 3 for d in lines)
    code, out, _ = run(capsys, "matches", "--store", store_url)
    assert code == 0 and len(out.splitlines()) == 40
    code, out, _ = run(capsys, "status", "--store", store_url)
    assert code == 0
    assert "payments" in out and "card_testing             v1 enabled" in out
    assert out.count(" OK ") == 4 and "lag=0" in out
    code, out, _ = run(capsys, "status", "--store", store_url, "--json")
    doc = orjson.loads(out)
    assert [p["lag_entries"] for p in doc["partitions"]] == [0, 0, 0, 0]
    assert doc["matches"] == 40 and doc["outbox_pending"] == 40
    streams = {s["name"]: s["entries"] for s in doc["streams"]}
    assert streams == {"payments": 80, "big_payments": 20}


def test_pause_resume_delete(tmp_path: Path, store_url: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "rules.cep"
    f.write_text(RULES)
    assert run(capsys, "apply", "--store", store_url, str(f))[0] == 0
    assert run(capsys, "pause", "--store", store_url, "big")[1] == "paused big\n"
    out = run(capsys, "status", "--store", store_url)[1]
    assert "big                      v1 paused" in out
    assert run(capsys, "apply", "--store", store_url, str(f))[0] == 0  # re-apply keeps it paused
    log, store = open_backends(store_url)
    assert store.get_statement("big").enabled is False
    assert run(capsys, "resume", "--store", store_url, "big")[0] == 0
    assert store.get_statement("big").enabled is True
    assert run(capsys, "delete", "--store", store_url, "big")[0] == 0
    assert store.get_statement("big") is None
    assert run(capsys, "delete", "--store", store_url, "big")[0] == 1
    log.close()
    store.close()


def test_an_unusable_store_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", "--store", "bogus://x")
    assert code == 2 and "is not a supported store URL" in err
