"""Two tenants, every endpoint: no cross-tenant read or write; roles and keys enforced."""

from __future__ import annotations

import httpx
import orjson

from ..actions.receiver import Receiver
from .conftest import Service, wait_for
from .test_e2e_webhooks import RULE, pair, register

TEXT = {"content-type": "text/plain"}
JSON = {"content-type": "application/json"}


def setup_tenant(svc: Service, c: httpx.Client, key: str, name: str, url: str) -> dict:
    rule = register(svc, key, url, name)
    wait_for(lambda: c.get(f"/v1/rules/{name}").json()["status"] == "running")
    return rule


# Streams are one namespace for the deployment (like Kafka topics): B's statements read
# `orders`, so that B has matches of its own and A's matches are all A's.
SEARCH_B = "SEARCH rule_b FROM orders WHERE amount > 500 THEN WEBHOOK '{url}'"


def test_tenants_never_see_or_change_each_other(make_service) -> None:
    svc = make_service()
    ka, kb = svc.key("tenant-a"), svc.key("tenant-b")
    ra = svc.key("tenant-a", "reader")
    touched: set[tuple[str, str]] = set()

    def call(c: httpx.Client, method: str, template: str, path: str, **kw) -> httpx.Response:
        touched.add((method, template))
        return c.request(method, path, **kw)

    with Receiver() as rx, svc.client(ka) as a, svc.client(kb) as b, svc.client(ra) as reader:
        rule_a = setup_tenant(svc, a, ka, "rule_a", f"{rx.url}/a")
        assert b.post("/v1/rules", headers=TEXT,
                      content=SEARCH_B.format(url=f"{rx.url}/b")).status_code == 201
        wait_for(lambda: b.get("/v1/rules/rule_b").json()["status"] == "running")
        b.post("/v1/streams/orders/events", json={"amount": 900}, headers=JSON)
        wait_for(lambda: b.get("/v1/matches").json()["data"])
        ep_a = rule_a["actions"][0]["endpoint_id"]
        for i in range(3):
            a.post("/v1/streams/payments/events", content=orjson.dumps(pair(f"a{i}", 100 + i * 9)),
                   headers=JSON)
        wait_for(lambda: len(a.get("/v1/deliveries", params={"status": "delivered"})
                             .json()["data"]) == 3)
        match_a = a.get("/v1/matches").json()["data"][0]["id"]
        dlv_a = a.get("/v1/deliveries").json()["data"][0]["id"]

        # ---- B reads nothing of A's
        assert [r["name"] for r in call(b, "GET", "/v1/rules", "/v1/rules").json()["data"]] == [
            "rule_b"]
        for tmpl in ("/v1/rules/{name}", "/v1/rules/{name}/graph", "/v1/rules/{name}/stats"):
            r = call(b, "GET", tmpl, tmpl.replace("{name}", "rule_a"))
            assert r.status_code == 404, (tmpl, r.text)
            assert r.json()["error"]["code"] == "not_found"
        assert {m["statement"] for m in call(b, "GET", "/v1/matches", "/v1/matches")
                .json()["data"]} == {"rule_b"}
        assert call(b, "GET", "/v1/matches", "/v1/matches",
                    params={"statement": "rule_a"}).status_code == 404
        assert call(b, "GET", "/v1/matches/stream", "/v1/matches/stream",
                    params={"statement": "rule_a", "max_seconds": 1}).status_code == 404
        assert [e["url"] for e in call(b, "GET", "/v1/endpoints", "/v1/endpoints")
                .json()["data"]] == [f"{rx.url}/b"]
        for tmpl in ("/v1/endpoints/{eid}", "/v1/endpoints/{eid}/secret"):
            assert call(b, "GET", tmpl, tmpl.replace("{eid}", ep_a)).status_code == 404
        assert {d["statement"] for d in call(b, "GET", "/v1/deliveries", "/v1/deliveries")
                .json()["data"]} == {"rule_b"}
        assert call(b, "GET", "/v1/deliveries/{did}",
                    f"/v1/deliveries/{dlv_a}").status_code == 404

        # ---- B changes nothing of A's
        assert call(b, "PUT", "/v1/rules/{name}", "/v1/rules/rule_a",
                    content=RULE.format(url=f"{rx.url}/x").replace("big_after_small", "rule_a"),
                    headers=TEXT).status_code == 409
        assert call(b, "POST", "/v1/rules", "/v1/rules",
                    content=RULE.format(url=f"{rx.url}/x").replace("big_after_small", "rule_a"),
                    headers=TEXT).status_code == 409
        assert call(b, "PATCH", "/v1/rules/{name}", "/v1/rules/rule_a",
                    json={"enabled": False}).status_code == 404
        assert call(b, "DELETE", "/v1/rules/{name}", "/v1/rules/rule_a").status_code == 404
        assert call(b, "PATCH", "/v1/endpoints/{eid}", f"/v1/endpoints/{ep_a}",
                    json={"enabled": False}).status_code == 404
        assert call(b, "POST", "/v1/endpoints/{eid}/secret:rotate",
                    f"/v1/endpoints/{ep_a}/secret:rotate").status_code == 404
        assert call(b, "POST", "/v1/endpoints/{eid}:recover",
                    f"/v1/endpoints/{ep_a}:recover").status_code == 404
        assert call(b, "DELETE", "/v1/endpoints/{eid}", f"/v1/endpoints/{ep_a}").status_code == 404
        assert call(b, "POST", "/v1/deliveries/{did}:retry",
                    f"/v1/deliveries/{dlv_a}:retry").status_code == 404
        r = call(b, "POST", "/v1/deliveries:retry", "/v1/deliveries:retry",
                 json={"status": "delivered"})
        assert r.status_code == 200 and r.json()["retried"] <= 1  # B's own delivery only
        # the same URL is a different endpoint (own secret) for each tenant
        r = call(b, "POST", "/v1/endpoints", "/v1/endpoints", json={"url": f"{rx.url}/a"})
        assert r.status_code == 201 and r.json()["id"] != ep_a
        # after A deletes its statement, B still cannot take the name (or its matches)
        assert a.delete("/v1/rules/rule_a").status_code == 204
        assert b.post("/v1/rules", headers=TEXT, content=RULE.format(url=f"{rx.url}/x")
                      .replace("big_after_small", "rule_a")).status_code == 409
        assert [m["id"] for m in a.get("/v1/matches").json()["data"]].count(match_a) == 1
        assert {m["statement"] for m in b.get("/v1/matches").json()["data"]} == {"rule_b"}

        # ---- A's own resources all still there and untouched
        assert a.get(f"/v1/endpoints/{ep_a}").json()["enabled"] is True
        assert a.get(f"/v1/deliveries/{dlv_a}").json()["status"] == "delivered"

        # ---- roles: a reader reads but never writes; keys need admin
        assert reader.get("/v1/matches").status_code == 200
        assert reader.post("/v1/streams/payments/events", json={"card_id": "x"}).status_code == 403
        assert reader.post("/v1/rules", headers=TEXT, content="SEARCH s FROM payments"
                           ).status_code == 403
        assert reader.post(f"/v1/deliveries/{dlv_a}:retry").status_code == 403
        assert reader.get(f"/v1/endpoints/{ep_a}/secret").status_code == 403
        for m, path in (("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/x")):
            touched.add((m, path.replace("/x", "/{kid}")))
            assert a.request(m, path, json={"tenant": "z"}).status_code == 403
        # ---- and without a key nothing answers but health and metrics
        with svc.client(None) as anon:
            assert anon.get("/v1/rules").status_code == 401
            assert anon.get("/v1/matches/stream").status_code == 401
            assert anon.get("/healthz").status_code == 200
        # a revoked key stops working
        with svc.client() as admin:
            kid = admin.get("/v1/whoami", headers={"authorization": f"Bearer {kb}"}).json()[
                "key_id"]
            assert admin.delete(f"/v1/keys/{kid}").status_code == 204
        assert b.get("/v1/rules").status_code == 401

    # every tenant-scoped route of the API was exercised across tenants
    spec = svc.app.openapi()
    scoped = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
              if p.startswith("/v1/") and p not in ("/v1/whoami", "/v1/rules:validate",
                                                    "/v1/streams", "/v1/streams/{stream}",
                                                    "/v1/streams/{stream}/events")}
    assert scoped - touched == set()
