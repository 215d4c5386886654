"""End to end over real HTTP and a real Redis: rule -> events -> signed webhook, and outages."""

from __future__ import annotations

import time
from collections import Counter

import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from cep.actions.schedule import SVIX_SCHEDULE_S

from ..actions.receiver import Answer, Receiver
from .conftest import Service, wait_for

RULE = """RULE big_after_small
FROM payments
PARTITION BY card_id
PATTERN (small big)
DEFINE small AS amount < 5, big AS amount > 500
EMIT card_id, big.amount AS amount
THEN WEBHOOK '{url}'"""


def pair(card: str, t: int) -> list[dict]:
    return [{"card_id": card, "amount": 1.0, "ts": t}, {"card_id": card, "amount": 900.0,
                                                        "ts": t + 1}]


STREAM = "STREAM payments (card_id STRING, amount FLOAT, ts TIMESTAMP) KEY card_id TIME ts"


def register(svc: Service, key: str, url: str, name: str = "big_after_small") -> dict:
    with svc.client() as admin:  # the stream declaration (KEY card_id) needs an admin key
        r = admin.post("/v1/rules", content=STREAM, headers={"content-type": "text/plain"})
        assert r.status_code in (200, 201), r.text
    with svc.client(key) as c:
        r = c.post("/v1/rules", content=RULE.format(url=url).replace("big_after_small", name),
                   headers={"content-type": "text/plain"})
        assert r.status_code == 201, r.text
        return r.json()


def test_rule_events_signed_webhook_verified_with_the_reference_library(
        make_service, redis_url: str) -> None:
    svc = make_service("redis", redis_url=redis_url)
    key = svc.key("acme")
    with Receiver() as rx, svc.client(key) as c:
        rule = register(svc, key, f"{rx.url}/hook")
        assert rule["status"] in ("running", "starting") and rule["actions"][0]["endpoint_id"]
        eid = rule["actions"][0]["endpoint_id"]
        secret = c.get(f"/v1/endpoints/{eid}/secret").json()["secret"]
        wait_for(lambda: c.get("/v1/rules/big_after_small").json()["status"] == "running")
        r = c.post("/v1/streams/payments/events", content=orjson.dumps(pair("c1", 1000)),
                   headers={"content-type": "application/json"})
        assert r.status_code == 200 and r.json()["accepted"] == 2
        wait_for(lambda: rx.hits)
        hit = rx.hits[0]
        msg = Webhook(secret).verify(hit.body, hit.headers)
        assert msg["type"] == "match.created"
        assert msg["data"]["fields"] == {"card_id": "c1", "amount": 900.0}
        matches = c.get("/v1/matches").json()["data"]
        assert [m["id"] for m in matches] == [hit.headers["webhook-id"]]
        dl = wait_for(lambda: [d for d in c.get("/v1/deliveries").json()["data"]
                               if d["status"] == "delivered"])
        assert dl[0]["match_id"] == matches[0]["id"] and dl[0]["attempts"] == 1
        # redelivery by id: same webhook-id, new timestamp and signature
        assert c.post(f"/v1/deliveries/{dl[0]['id']}:retry").status_code == 200
        wait_for(lambda: len(rx.hits) == 2)
        assert rx.ids() == [matches[0]["id"]] * 2
        Webhook(secret).verify(rx.hits[1].body, rx.hits[1].headers)


SCALE = 0.01  # 1 s of schedule = 10 ms: 5 s -> 50 ms, 5 min -> 3 s


def test_receiver_down_two_compressed_minutes_every_id_delivered_once_on_schedule(
        make_service, redis_url: str) -> None:
    svc = make_service("redis", redis_url=redis_url, webhook_time_scale=SCALE)
    key = svc.key("acme")
    rx = Receiver()  # not listening yet: connections are refused
    with svc.client(key) as c:
        register(svc, key, f"{rx.url}/hook")
        wait_for(lambda: c.get("/v1/rules/big_after_small").json()["status"] == "running")
        down_for = 120 * SCALE  # two minutes of compressed time
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < down_for:  # matches keep firing while it is down
            c.post("/v1/streams/payments/events",
                   content=orjson.dumps(pair(f"c{n}", 1000 + 10 * n)),
                   headers={"content-type": "application/json"})
            n += 1
            time.sleep(0.05)
        wait_for(lambda: len(c.get("/v1/matches", params={"limit": 1000}).json()["data"]) == n)
        rx.up()
        try:
            wait_for(lambda: c.get("/v1/deliveries", params={"status": "delivered",
                                                             "limit": 1000}).json()["data"]
                     and len(c.get("/v1/deliveries", params={"status": "delivered",
                                                             "limit": 1000}).json()["data"]) == n,
                     timeout=30)
        finally:
            rx.down()
        ids = [m["id"] for m in c.get("/v1/matches", params={"limit": 1000}).json()["data"]]
        deliveries = c.get("/v1/deliveries", params={"limit": 1000}).json()["data"]
    assert len(ids) == len(set(ids)) == n >= 10
    assert Counter(rx.ids()) == Counter(ids)  # every id delivered, each exactly once
    store = svc.rt.store
    assert store.match_count("big_after_small") == n
    assert all(store.outbox_get(i) is not None for i in ids)
    assert len(deliveries) == n and {d["match_id"] for d in deliveries} == set(ids)
    retried = 0
    for d in deliveries:
        log = d["log"]
        assert log[-1]["status"] == 200 and all(a["status"] is None for a in log[:-1])
        for i in range(1, len(log)):
            gap = log[i]["at"] - log[i - 1]["at"]
            want = SVIX_SCHEDULE_S[i] * SCALE * 1000
            assert want * 0.9 - 5 <= gap <= want * 1.1 + 400, (i, gap, want)
        retried += len(log) > 2
    assert retried >= 1  # some waited for the 5-minute (compressed) retry


def test_a_down_receiver_delays_only_its_own_deliveries(make_service) -> None:
    svc = make_service()
    key = svc.key("acme")
    slow = Receiver()
    slow.respond = lambda hit: Answer(200, delay=2.0)  # hangs far longer than a fast one
    with slow, Receiver() as fast, svc.client(key) as c:
        register(svc, key, f"{slow.url}/a", "to_slow")
        register(svc, key, f"{fast.url}/b", "to_fast")
        wait_for(lambda: all(r["status"] == "running" for r in c.get("/v1/rules").json()["data"]))
        for i in range(8):
            c.post("/v1/streams/payments/events", content=orjson.dumps(pair(f"c{i}", 1000 + 9 * i)),
                   headers={"content-type": "application/json"})
        t0 = time.monotonic()
        wait_for(lambda: len(fast.hits) == 8, timeout=10)
        assert time.monotonic() - t0 < 1.5  # not stuck behind the slow receiver
        assert len(slow.hits) <= svc.rt.settings.webhook_concurrency


@pytest.mark.parametrize("status", [410, 302])
def test_410_disables_and_3xx_is_not_followed(make_service, status: int) -> None:
    svc = make_service()
    key = svc.key("acme")
    with Receiver() as rx, Receiver() as target, svc.client(key) as c:
        rx.respond = lambda hit: Answer(status, {"location": f"{target.url}/meta"})
        rule = register(svc, key, f"{rx.url}/hook")
        eid = rule["actions"][0]["endpoint_id"]
        wait_for(lambda: c.get("/v1/rules/big_after_small").json()["status"] == "running")
        c.post("/v1/streams/payments/events", content=orjson.dumps(pair("c1", 1000)),
               headers={"content-type": "application/json"})
        wait_for(lambda: rx.hits)
        d = wait_for(lambda: [x for x in c.get("/v1/deliveries").json()["data"]
                              if x["attempts"] >= 1])[0]
        ep = c.get(f"/v1/endpoints/{eid}").json()
        if status == 410:
            assert not ep["enabled"] and "410" in ep["disabled_reason"]
            assert d["status"] == "failed"
        else:
            assert ep["enabled"] and d["status"] == "pending"
            assert "not followed" in d["last_error"]
        assert target.hits == []


def test_emit_into_appends_derived_events(make_service) -> None:
    svc = make_service()
    with svc.client() as c:
        r = c.post("/v1/rules", json={"text": "SEARCH big FROM orders WHERE amount > 500 "
                                              "EMIT amount",
                                      "actions": [{"type": "emit", "stream": "big_orders"}]})
        assert r.status_code == 201 and r.json()["actions"] == [
            {"type": "emit", "url": None, "stream": "big_orders", "endpoint_id": None}]
        wait_for(lambda: c.get("/v1/rules/big").json()["status"] == "running")
        c.post("/v1/streams/orders/events", json=[{"amount": 900}, {"amount": 5}])
        wait_for(lambda: c.get("/v1/streams/big_orders").json()["entries"] == 1)
        got = svc.rt.log.read("big_orders", _nonempty(svc), 0, 10)
        assert got[0][1]["amount"] == 900 and got[0][1]["_cep"]["statement"] == "big"


def _nonempty(svc: Service) -> int:
    return next(p for p, e in enumerate(svc.rt.log.end_offsets("big_orders")) if e)
