"""`cep bench service` runs end to end (tiny rates; the real numbers are in the report)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_service_smoke(tmp_path: Path) -> None:
    cep = Path(sys.executable).with_name("cep")
    out = tmp_path / "bench.json"
    done = subprocess.run([str(cep), "bench", "service", "--rate", "500", "--seconds", "2",
                           "--ramp", "1000", "--ramp-seconds", "2", "--match-ratio", "0.05",
                           "--out", str(out)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    lat = doc["latency"]
    assert lat["webhooks"] >= 40 and lat["missing"] == 0 and lat["p99_ms"] is not None
    assert doc["ramp"][0]["target_rate"] == 1000 and doc["max_rate_held"] in (0, 1000)
