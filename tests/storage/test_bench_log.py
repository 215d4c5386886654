"""`python -m cep.bench.log` runs on every backend and writes its JSON results."""

from __future__ import annotations

from pathlib import Path

import orjson

from cep.bench.log import main


def test_bench_log_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["--events", "3000", "--cards", "100", "--seconds", "0.2",
                 "--backends", "memory,sqlite,redis", "--out", str(out)]) == 0
    res = orjson.loads(out.read_bytes())
    assert set(res["backends"]) == {"memory", "sqlite", "redis"}
    for name, r in res["backends"].items():
        assert set(r["append"]) == {"batch_1", "batch_100", "batch_1000"}, name
        assert r["append"]["batch_1000"]["events"] == 3000
        assert r["read"]["events"] == 3000
        assert r["checkpoint"]["commits"] > 0
    assert "met" in res["backends"]["sqlite"]["goal"]
