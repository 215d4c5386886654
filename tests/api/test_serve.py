"""`cep serve` as a user runs it: a real process, rule packs applied, SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cep.store.redisproc import free_port

from .conftest import wait_for

REPO = Path(__file__).resolve().parents[2]
KEY = "serve-test-admin-key-0001"


def start(tmp: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "CEP_ADMIN_KEY": KEY, "CEP_STORE": f"sqlite:///{tmp}/cep.db"}
    cep = Path(sys.executable).with_name("cep")
    return subprocess.Popen([str(cep), "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_serve_applies_packs_matches_and_stops_gracefully(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, port)
    case = json.loads((REPO / "rules/fraud/card_testing.test.json").read_text())["cases"][0]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10,
                          headers={"authorization": f"Bearer {KEY}"}) as c:
            wait_for(lambda: _ready(c), timeout=30)
            rules = {r["name"]: r for r in c.get("/v1/rules").json()["data"]}
            assert rules["card_testing"]["status"] == "running"
            events = [{k: v for k, v in e.items() if k != "stream"} for e in case["events"]]
            # payments has WATERMARK 5s: a later event moves event time past the match
            events.append({"card_id": "c1", "amount": 30.0, "country": "US",
                           "ts": "2024-05-01T10:10:00Z"})
            assert c.post("/v1/streams/payments/events", json=events).status_code == 200
            got = wait_for(lambda: c.get("/v1/matches", params={"statement": "card_testing"})
                           .json()["data"])
            assert got[0]["fields"] == case["expect"][0]["fields"]
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert time.monotonic() - t0 < 20 and "cep stopped: worker checkpointed" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # restarted: the same match, once, and nothing replayed twice
    proc = start(tmp_path, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10,
                          headers={"authorization": f"Bearer {KEY}"}) as c:
            wait_for(lambda: _ready(c), timeout=30)
            time.sleep(0.5)
            ids = [m["id"] for m in c.get("/v1/matches").json()["data"]]
            assert ids == [got[0]["id"]]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def _ready(c: httpx.Client) -> bool:
    try:
        return c.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def test_keys_cli_creates_lists_and_revokes(tmp_path: Path) -> None:
    cep = Path(sys.executable).with_name("cep")
    store = ["--store", f"sqlite:///{tmp_path}/k.db"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(cep), "keys", *args, *store], capture_output=True, text=True,
                              timeout=60)

    made = run("create", "--tenant", "acme", "--role", "writer", "--name", "ci")
    assert made.returncode == 0 and made.stdout.startswith("cep_")
    listed = run("list")
    kid = made.stdout.split("_")[1]
    assert kid in listed.stdout and "acme" in listed.stdout and "active" in listed.stdout
    assert run("revoke", kid).returncode == 0
    assert "revoked" in run("list").stdout
    assert run("revoke", kid).returncode == 1
    assert run("create", "--tenant", "bad tenant").returncode == 2
