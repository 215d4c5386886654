"""The Store contract for resources and webhook deliveries, on memory, SQLite and Redis."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cep.store.base import Store, StoreError
from cep.store.records import Delivery, delivery_id

from .test_store_contract import match


def dlv(mid: str, ep: str = "ep_a", tenant: str = "t1", at: int = 1000, **kw: object) -> Delivery:
    base = Delivery(
        id=delivery_id(mid, ep), match_id=mid, endpoint_id=ep, tenant=tenant,
        statement="card_testing", status="pending", attempts=0, next_attempt_at=at,
        created_at=at, updated_at=at, info={"payload": '{"a":1}', "log": []},
    )
    return replace(base, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ resources


def test_resources_are_per_kind_and_tenant(store: Store) -> None:
    assert store.create_resource("endpoint", "ep_1", "t1", {"url": "https://a.example/x"})
    assert not store.create_resource("endpoint", "ep_1", "t2", {"url": "other"})
    assert store.get_resource("endpoint", "ep_1").doc == {"url": "https://a.example/x"}
    assert store.get_resource("endpoint", "ep_1", tenant="t2") is None
    assert store.get_resource("apikey", "ep_1") is None
    store.put_resource("endpoint", "ep_2", "t2", {"url": "https://b.example/"})
    store.put_resource("endpoint", "ep_0", "t1", {"url": "https://c.example/", "n": [1, 2]})
    assert [r.id for r in store.list_resources("endpoint")] == ["ep_0", "ep_1", "ep_2"]
    assert [r.id for r in store.list_resources("endpoint", "t1")] == ["ep_0", "ep_1"]
    got = store.get_resource("endpoint", "ep_0")
    assert got is not None and got.tenant == "t1" and got.doc["n"] == [1, 2]
    got.doc["n"].append(3)  # callers' copies never change the stored document
    assert store.get_resource("endpoint", "ep_0").doc["n"] == [1, 2]
    assert not store.delete_resource("endpoint", "ep_0", tenant="t2")
    assert store.delete_resource("endpoint", "ep_0", tenant="t1")
    assert not store.delete_resource("endpoint", "ep_0")
    assert store.get_resource("endpoint", "ep_0") is None


def test_resource_names_are_validated(store: Store) -> None:
    with pytest.raises(StoreError):
        store.put_resource("Bad Kind", "x", "t", {})
    with pytest.raises(StoreError):
        store.put_resource("endpoint", "a b", "t", {})
    with pytest.raises(StoreError):
        store.create_resource("endpoint", "x", "", {})


# ------------------------------------------------------------------ deliveries


def test_deliveries_are_added_once(store: Store) -> None:
    assert delivery_id("m1", "ep_a") == delivery_id("m1", "ep_a") != delivery_id("m1", "ep_b")
    assert store.deliveries_add([dlv("m1"), dlv("m2")]) == 2
    assert store.deliveries_add([dlv("m1"), dlv("m3")]) == 1
    assert store.deliveries_add([]) == 0
    got = store.delivery_get(delivery_id("m1", "ep_a"))
    assert got is not None and got.match_id == "m1" and got.info["payload"] == '{"a":1}'
    assert store.delivery_get(got.id, tenant="t2") is None
    assert store.delivery_counts() == {"pending": 3, "delivered": 0, "failed": 0}


def test_due_deliveries_are_fair_per_endpoint(store: Store) -> None:
    store.deliveries_add([dlv(f"a{i}", "ep_a", at=100 + i) for i in range(5)])
    store.deliveries_add([dlv(f"b{i}", "ep_b", at=200 + i) for i in range(2)])
    store.deliveries_add([dlv("late", "ep_c", at=10_000)])
    due = store.deliveries_due(now=1000, per_endpoint=2)
    assert [d.match_id for d in due] == ["a0", "a1", "b0", "b1"]
    assert [d.match_id for d in store.deliveries_due(now=1000, per_endpoint=10,
                                                     skip_endpoints=["ep_a"])] == ["b0", "b1"]
    assert {d.match_id for d in store.deliveries_due(now=20_000, per_endpoint=1)} == {
        "a0", "b0", "late"}


def test_saving_a_delivery_moves_it_through_its_states(store: Store) -> None:
    d = dlv("m1")
    store.deliveries_add([d])
    retry = replace(d, attempts=1, next_attempt_at=5000,
                    info={**d.info, "log": [{"status": 500}]})
    assert store.delivery_save(retry)
    assert store.deliveries_due(now=1000) == []
    (due,) = store.deliveries_due(now=5000)
    assert due.attempts == 1 and due.info["log"] == [{"status": 500}]
    assert store.delivery_save(replace(due, status="delivered", attempts=2,
                                       next_attempt_at=None))
    assert store.deliveries_due(now=10**12) == []
    got = store.delivery_get(d.id)
    assert got is not None and (got.status, got.attempts) == ("delivered", 2)
    assert store.delivery_counts(endpoint_id="ep_a") == {
        "pending": 0, "delivered": 1, "failed": 0}
    assert store.delivery_counts(tenant="t1")["delivered"] == 1
    assert store.delivery_counts(tenant="t2") == {"pending": 0, "delivered": 0, "failed": 0}
    # back to pending (a manual redelivery), then dead-lettered
    assert store.delivery_save(replace(got, status="pending", next_attempt_at=1))
    assert [x.id for x in store.deliveries_due(now=2)] == [d.id]
    assert store.delivery_save(replace(got, status="failed", next_attempt_at=None))
    assert store.delivery_counts() == {"pending": 0, "delivered": 0, "failed": 1}
    assert not store.delivery_save(dlv("unknown"))
    with pytest.raises(StoreError):
        store.delivery_save(replace(d, status="lost"))


def test_delivery_list_is_newest_first_filtered_and_paged(store: Store) -> None:
    for i in range(7):
        store.deliveries_add([dlv(f"m{i}", "ep_a" if i % 2 else "ep_b",
                                  tenant="t1" if i < 5 else "t2")])
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = store.list_deliveries(tenant="t1", after_cursor=cursor, limit=2)
        seen += [d.match_id for d in page]
        if cursor is None:
            break
    assert seen == ["m4", "m3", "m2", "m1", "m0"]
    page, cursor = store.list_deliveries(endpoint_id="ep_a", limit=10)
    assert [d.match_id for d in page] == ["m5", "m3", "m1"] and cursor is None
    assert store.list_deliveries(status="failed")[0] == []
    assert len(store.list_deliveries(statement="card_testing", limit=100)[0]) == 7
    with pytest.raises(StoreError):
        store.list_deliveries(after_cursor="nope")


def test_latest_match_cursor_starts_a_live_feed_after_existing_matches(store: Store) -> None:
    store.commit("p:0", b"s", {"s": 1}, [match("m1"), match("m2")])
    cursor = store.latest_match_cursor()
    assert store.list_matches(None, cursor, 10)[0] == []
    store.commit("p:1", b"s", {"s": 1}, [match("m3")])
    page, _ = store.list_matches(None, cursor, 10)
    assert [m["match_id"] for m in page] == ["m3"]
