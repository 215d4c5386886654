"""The API contract: errors, validation, events batch policy, limits, keys, SSRF at the API."""

from __future__ import annotations

import orjson
import pytest

from ..actions.receiver import Receiver
from ..actions.test_ssrf import CORPUS, NAMES, resolver
from .conftest import wait_for

TEXT = {"content-type": "text/plain"}
NDJSON = {"content-type": "application/x-ndjson"}


@pytest.fixture
def svc(make_service):
    return make_service(background=False, resolver=resolver(NAMES), max_request_bytes=64_000,
                        webhook_allowlist="",
                        max_events_per_request=50)


def test_compile_errors_carry_line_column_snippet(svc) -> None:
    with svc.client() as c:
        r = c.post("/v1/rules", headers=TEXT,
                   content="RULE r\nFROM payments\nPATERN (a)\n")
        assert r.status_code == 422
        err = r.json()["error"]
        assert err["code"] == "compile_error"
        (d,) = err["details"]
        assert (d["line"], d["column"]) == (3, 1) and "PATERN" in d["snippet"]
        v = c.post("/v1/rules:validate", headers=TEXT,
                   content="SEARCH s FROM payments WHERE amount >").json()
        assert not v["valid"] and v["errors"][0]["line"] == 1
        ok = c.post("/v1/rules:validate", json={"text": "SEARCH s FROM payments WHERE a > 1",
                                                "actions": [{"type": "emit", "stream": "x"}]})
        assert ok.json()["valid"] and "EMIT INTO x" in ok.json()["text"]
        assert c.get("/v1/rules").json()["count"] == 0  # validate stores nothing


def test_one_error_shape_everywhere(svc) -> None:
    with svc.client() as c:
        for r in (c.get("/v1/nope"), c.get("/v1/rules/none"),
                  c.post("/v1/rules", json={"text": 5}),
                  c.post("/v1/rules", content=b"{", headers={"content-type": "application/json"}),
                  c.post("/v1/rules", content=b"x", headers={"content-type": "image/png"}),
                  c.get("/v1/matches", params={"cursor": "garbage"}),
                  c.get("/v1/matches", params={"limit": 0})):
            body = r.json()
            assert r.status_code in (400, 404, 415, 422), r
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}


def test_cycles_are_refused(svc) -> None:
    with svc.client() as c:
        assert c.post("/v1/rules", headers=TEXT, content="SEARCH s1 FROM a WHERE x > 1 "
                      "THEN EMIT INTO b").status_code == 201
        r = c.post("/v1/rules", headers=TEXT,
                   content="SEARCH s2 FROM b WHERE x > 1 THEN EMIT INTO a")
        assert r.status_code == 422 and "cycle" in r.json()["error"]["details"][0]["message"]


def test_event_batches_are_all_or_nothing(svc) -> None:
    with svc.client() as c:
        r = c.post("/v1/streams/s/events", content=b'{"a":1}\n{"a":2}\n', headers=NDJSON)
        assert r.status_code == 200 and r.json()["accepted"] == 2 and r.json()["created_stream"]
        r = c.post("/v1/streams/s/events", content=b'{"a":1}\nnot json\n{"a":3}\n[1]\n',
                   headers=NDJSON)
        assert r.status_code == 400 and [d["line"] for d in r.json()["error"]["details"]] == [2]
        r = c.post("/v1/streams/s/events", json=[{"a": 1}, 7, {"b": 2}, "x"])
        assert r.status_code == 422
        assert [d["index"] for d in r.json()["error"]["details"]] == [1, 3]
        assert sum(svc.rt.log.end_offsets("s")) == 2  # nothing of the bad batches
        assert c.post("/v1/streams/s/events", json={"one": 1}).json()["accepted"] == 1
        assert c.post("/v1/streams/s/events", json=[{"a": i} for i in range(51)]
                      ).status_code == 413
        big = orjson.dumps([{"pad": "x" * 2000} for _ in range(40)])
        r = c.post("/v1/streams/s/events", content=big,
                   headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        assert c.post("/v1/streams/bad%20name/events", json={}).status_code == 422


@pytest.mark.parametrize("url", CORPUS)
def test_ssrf_corpus_refused_at_registration(svc, url: str) -> None:
    with svc.client() as c:
        r = c.post("/v1/endpoints", json={"url": url})
        assert r.status_code == 422, r.text
        rule = f"SEARCH s FROM p WHERE x > 1\nTHEN WEBHOOK '{url}'"
        r = c.post("/v1/rules", headers=TEXT, content=rule)
        assert r.status_code == 422
        (d,) = r.json()["error"]["details"]
        assert d["type"] in ("WebhookRefused",) and (d["line"], d["column"]) == (2, 6)
        assert c.get("/v1/rules").json()["count"] == 0


def test_rebinding_name_is_refused_when_delivering(make_service) -> None:
    answers = {"n": 0}

    def rebind(host: str) -> list[str]:
        answers["n"] += 1
        return ["93.184.216.34"] if answers["n"] == 1 else ["127.0.0.2"]

    svc = make_service(resolver=rebind, webhook_allowlist="")
    with Receiver() as rx, svc.client() as c:
        r = c.post("/v1/rules", headers=TEXT, content=(
            f"SEARCH s FROM p WHERE x > 1 THEN WEBHOOK 'https://rebind.test:{rx.port}/h'"))
        assert r.status_code == 201, r.text
        wait_for(lambda: c.get("/v1/rules/s").json()["status"] == "running")
        c.post("/v1/streams/p/events", json={"x": 5})
        d = wait_for(lambda: [x for x in c.get("/v1/deliveries").json()["data"]
                              if x["attempts"]])[0]
        assert "127.0.0.2" in d["last_error"] and rx.hits == []


def test_endpoint_secret_rotation_signs_with_both(svc) -> None:
    with svc.client() as c:
        ep = c.post("/v1/endpoints", json={"url": "https://public.test/hook"}).json()
        assert ep["secret"].startswith("whsec_")
        assert c.post("/v1/endpoints", json={"url": "https://public.test/hook"}).status_code == 200
        old = c.get(f"/v1/endpoints/{ep['id']}/secret").json()
        rot = c.post(f"/v1/endpoints/{ep['id']}/secret:rotate",
                     json={"overlap_seconds": 3600}).json()
        assert rot["secret"] != old["secret"] and rot["active"] == [rot["secret"], old["secret"]]
        rot = c.post(f"/v1/endpoints/{ep['id']}/secret:rotate",
                     json={"overlap_seconds": 0}).json()
        assert rot["active"] == [rot["secret"]]
        assert c.get(f"/v1/endpoints/{ep['id']}").json().get("secret") is None


def test_pause_resume_delete_and_graph(svc) -> None:
    rule = ("RULE r FROM payments PARTITION BY card_id PATTERN (a b) "
            "DEFINE a AS amount < 5, b AS amount > 500 WITHIN 1m")
    with svc.client() as c:
        assert c.post("/v1/rules", content=rule, headers=TEXT).status_code == 201
        assert c.post("/v1/rules", content=rule, headers=TEXT).json()["change"] == "unchanged"
        r = c.put("/v1/rules/r", content=rule.replace("1m", "2m"), headers=TEXT)
        assert r.status_code == 200 and r.json()["version"] == 2
        assert c.put("/v1/rules/other", content=rule, headers=TEXT).status_code == 422
        assert c.patch("/v1/rules/r", json={"enabled": False}).json()["status"] == "paused"
        g = c.get("/v1/rules/r/graph").json()
        assert [e["var"] for e in g["edges"] if e["var"]] == ["a", "b"]
        assert c.get("/v1/rules/r/stats").json()["matches_stored"] == 0
        assert c.delete("/v1/rules/r").status_code == 204
        assert c.get("/v1/rules/r").status_code == 404


def test_health_ready_metrics_and_keys(svc) -> None:
    with svc.client(None) as anon:
        assert anon.get("/healthz").json()["status"] == "ok"
        assert anon.get("/readyz").status_code == 200
        text = anon.get("/metrics").text
        assert "cep_http_requests_total" in text and "cep_outbox_pending" in text
    with svc.client() as c:
        k = c.post("/v1/keys", json={"tenant": "t9", "role": "reader", "name": "ci"}).json()
        assert k["token"].startswith("cep_") and k["role"] == "reader"
        listed = c.get("/v1/keys").json()["data"]
        assert any(x["id"] == k["id"] for x in listed)
        assert all("hash" not in x and x.get("token") is None for x in listed)
        stored = svc.rt.store.get_resource("apikey", k["id"]).doc
        assert k["token"] not in orjson.dumps(stored).decode()  # only the hash at rest


def test_structured_json_search_registers_like_its_text(svc) -> None:
    doc = {"name": "s42", "from": "listings",
           "where": {"city": "Seoul", "price": {"gte": 300000, "lte": 500000}},
           "emit": ["listing_id", "price"]}
    with svc.client() as c:
        r = c.post("/v1/rules", json={"search": doc})
        assert r.status_code == 201, r.text
        assert r.json()["kind"] == "search" and r.json()["text"].startswith("SEARCH s42")
        bad = c.post("/v1/rules", json={"search": {**doc, "where": {"price": {"gtx": 1}}}})
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["path"].startswith(
            "$.where.price")
        assert c.post("/v1/rules", json={"search": doc, "text": "SEARCH x FROM y"}
                      ).status_code == 422
