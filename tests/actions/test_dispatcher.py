"""The dispatcher on a fake clock: fan-out, the Svix schedule, 410, Retry-After, 3xx, isolation."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from cep.actions.dispatcher import Dispatcher
from cep.actions.endpoints import Endpoints
from cep.actions.schedule import SVIX_SCHEDULE_S, RetryPolicy
from cep.store.memory import MemoryStore

RULE = ("RULE big FROM payments PATTERN (a) DEFINE a AS amount > 5 "
        "THEN WEBHOOK 'https://a.example/hook', WEBHOOK 'https://b.example/hook'")
ONE = "RULE one FROM payments PATTERN (a) DEFINE a AS amount > 5 THEN WEBHOOK 'https://a.example/hook'"


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000_000

    def __call__(self) -> int:
        return self.t


Handler = Callable[[httpx.Request], Awaitable[httpx.Response] | httpx.Response]


def setup(handler: Handler, text: str = ONE, matches: int = 1,
          **kw: object) -> tuple[MemoryStore, Dispatcher, Clock, list[httpx.Request]]:
    store = MemoryStore()
    name = text.split()[1]
    store.put_statement(name, text, tenant="t1")
    store.commit("w:0", b"", {}, [{"statement": name, "match_id": f"m{i}", "end_ts": 1000,
                                   "fields": {"i": i}} for i in range(matches)])
    seen: list[httpx.Request] = []

    async def record(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        got = handler(req)
        return await got if asyncio.iscoroutine(got) else got  # type: ignore[return-value]

    clock = Clock()
    d = Dispatcher(store, RetryPolicy(jitter=0), clock=clock, rng=random.Random(0),
                   transport=httpx.MockTransport(record), **kw)  # type: ignore[arg-type]
    return store, d, clock, seen


async def round_(d: Dispatcher) -> int:
    async with d._client() as client:
        n = await d.step(client)
        await d.settle()
        return n


def test_fan_out_creates_one_delivery_per_endpoint_once() -> None:
    store, d, _, _ = setup(lambda r: httpx.Response(200), RULE, matches=2)
    assert d.fan_out() == 2
    assert d.fan_out() == 0
    assert store.outbox_depth() == 0 and store.outbox_get("m0").status == "delivered"
    dl, _ = store.list_deliveries(limit=100)
    assert len(dl) == 4 and {x.tenant for x in dl} == {"t1"}
    assert len(Endpoints(store).list("t1")) == 2
    # a crash between the fan-out and marking the outbox: the next fan-out adds nothing
    store.outbox_mark("m0", "pending", 0)
    d.fan_out()
    assert len(store.list_deliveries(limit=100)[0]) == 4


def test_signed_payload_verifies_and_webhook_id_is_the_match_id() -> None:
    store, d, _, seen = setup(lambda r: httpx.Response(204))
    asyncio.run(round_(d))
    (req,) = seen
    ep = Endpoints(store).list("t1")[0]
    msg = Webhook(ep.secrets[0]["secret"]).verify(req.content, dict(req.headers))
    assert req.headers["webhook-id"] == "m0" and msg["data"]["fields"] == {"i": 0}
    assert msg["type"] == "match.created" and msg["timestamp"].startswith("1970-01-01T00:00:01")
    (dl,) = store.list_deliveries()[0]
    assert (dl.status, dl.attempts) == ("delivered", 1) and dl.info["log"][0]["status"] == 204


def test_a_failing_endpoint_follows_the_schedule_then_dead_letters() -> None:
    dead = []
    store, d, clock, seen = setup(lambda r: httpx.Response(500), on_exhausted=dead.append)
    start = clock.t
    times = []
    for _ in range(20):
        if asyncio.run(round_(d)):
            times.append(clock.t - start)
        (dl,) = store.list_deliveries()[0]
        if dl.status != "pending":
            break
        clock.t = dl.next_attempt_at
    cumulative = [sum(SVIX_SCHEDULE_S[: i + 1]) * 1000 for i in range(len(SVIX_SCHEDULE_S))]
    assert times == cumulative
    assert (dl.status, dl.attempts) == ("failed", 8) and len(dead) == 1
    assert {r.headers["webhook-id"] for r in seen} == {"m0"}
    assert len({r.headers["webhook-timestamp"] + r.headers["webhook-signature"]
                for r in seen}) >= 1
    # redeliver by hand: one more attempt with the same id
    assert d.retry(dl.id, "t1") is not None and d.retry(dl.id, "t2") is None
    asyncio.run(round_(d))
    assert store.delivery_get(dl.id).status == "failed" and len(seen) == 9


def test_410_disables_the_endpoint_and_stops_retries() -> None:
    store, d, clock, seen = setup(lambda r: httpx.Response(410), matches=3)
    asyncio.run(round_(d))
    clock.t += 10**9
    asyncio.run(round_(d))
    ep = Endpoints(store).list("t1")[0]
    assert not ep.enabled and "410" in (ep.disabled_reason or "")
    counts = store.delivery_counts()
    assert counts["failed"] >= 1 and len(seen) <= 3
    # re-enabled: the held deliveries go out
    Endpoints(store).set_enabled(ep, True)
    d._ep_cache.clear()
    n_before = len(seen)
    asyncio.run(round_(d))
    assert len(seen) > n_before or counts["pending"] == 0


def test_retry_after_is_honoured_and_pauses_the_endpoint() -> None:
    store, d, clock, _ = setup(
        lambda r: httpx.Response(429, headers={"retry-after": "120"}), matches=2)
    t0 = clock.t
    asyncio.run(round_(d))
    for dl in store.list_deliveries()[0]:
        assert dl.next_attempt_at == t0 + 120_000 and dl.status == "pending"
    clock.t += 60_000
    assert asyncio.run(round_(d)) == 0
    clock.t = t0 + 120_000
    assert asyncio.run(round_(d)) == 2


def test_3xx_is_a_failure_and_the_location_is_never_requested() -> None:
    store, d, _, seen = setup(
        lambda r: httpx.Response(302, headers={"location": "http://169.254.169.254/"}))
    asyncio.run(round_(d))
    assert [str(r.url) for r in seen] == ["https://a.example/hook"]
    (dl,) = store.list_deliveries()[0]
    assert dl.status == "pending" and "not followed" in dl.info["last_error"]


def test_crash_after_200_before_recording_redelivers_the_same_id() -> None:
    store, d, _, seen = setup(lambda r: httpx.Response(200))

    async def crash() -> None:
        d.fan_out()
        (dl,) = store.deliveries_due(d.clock())
        async with d._client() as client:
            await d._send(client, dl, d.endpoints.get(dl.endpoint_id))  # 200, then "crash"

    asyncio.run(crash())
    fresh = Dispatcher(store, RetryPolicy(jitter=0), clock=d.clock,
                       transport=d._transport)
    asyncio.run(round_(fresh))
    assert [r.headers["webhook-id"] for r in seen] == ["m0", "m0"]
    assert store.delivery_counts()["delivered"] == 1


def test_a_slow_endpoint_delays_only_its_own_deliveries() -> None:
    gate = asyncio.Event()

    async def handler(req: httpx.Request) -> httpx.Response:
        if req.url.host == "a.example":
            await gate.wait()
        return httpx.Response(200)

    store, d, _, seen = setup(handler, RULE, matches=6)

    async def run() -> None:
        async with d._client() as client:
            await d.step(client)
            for _ in range(20):
                await asyncio.sleep(0.01)
            b_done = sum(1 for x in store.list_deliveries(limit=100)[0]
                         if x.status == "delivered")
            assert b_done >= 4  # b got its deliveries while a's attempts hang
            assert d._states[next(e.id for e in d.endpoints.list() if "a.ex" in e.url)
                             ].in_flight == d.concurrency
            await d.step(client)  # a is full: nothing more of a is started
            gate.set()
            await d.settle()

    asyncio.run(run())
    a_reqs = [r for r in seen if r.url.host == "a.example"]
    assert len(a_reqs) == 4  # concurrency 4; the other 2 wait for the next round


def test_bulk_retry_recovers_dead_letters() -> None:
    store, d, clock, _ = setup(lambda r: httpx.Response(500), matches=3)
    d.policy = RetryPolicy(schedule_s=(0,), jitter=0)
    asyncio.run(round_(d))
    assert store.delivery_counts()["failed"] == 3
    assert d.retry_many("t2") == 0
    assert d.retry_many("t1", since=clock.t - 1) == 3
    assert store.delivery_counts()["pending"] == 3


def test_deleted_statement_fails_its_outbox_entry() -> None:
    store, d, _, _ = setup(lambda r: httpx.Response(200))
    store.delete_statement("one")
    d.fan_out()
    assert store.outbox_get("m0").status == "failed"
    assert orjson.loads(orjson.dumps(store.delivery_counts())) == {
        "pending": 0, "delivered": 0, "failed": 0}


@pytest.mark.parametrize("n", [1])
def test_payload_over_the_limit_drops_bindings(n: int) -> None:
    from cep.actions.dispatcher import build_payload

    big = {"match_id": "m", "bindings": {"a": [{"x": "y" * 30_000}]}, "end_ts": 5}
    body = orjson.loads(build_payload(big))
    assert body["data"]["bindings"] == {} and body["data"]["bindings_truncated"]
