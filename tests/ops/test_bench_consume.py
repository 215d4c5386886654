"""`cep bench log` measures the worker end to end against the in-memory engine."""

from __future__ import annotations

from pathlib import Path

import orjson

from cep.bench.log import main


def test_bench_log_reports_end_to_end_throughput_and_checkpoint_cost(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["--events", "4000", "--cards", "200", "--seconds", "0.1", "--partitions", "2",
                 "--backends", "memory,sqlite", "--out", str(out)]) == 0
    res = orjson.loads(out.read_bytes())
    base = res["in_memory_engine"]
    assert base["events"] == 4000 and base["events_per_s"] > 0
    for name in ("memory", "sqlite"):
        c = res["backends"][name]["consume"]
        assert c["events"] == 4000 and c["matches"] == base["matches"]
        assert c["vs_in_memory_engine"] > 0
        assert set(c["checkpoint_per_partition"]) == {"0", "1"}
        assert all(v["commits"] >= 1 and v["ms_mean"] is not None
                   for v in c["checkpoint_per_partition"].values())
        assert "consume_met" in res["backends"][name]["goal"]
