"""The webhook dispatcher: outbox -> one delivery per (match, endpoint) -> signed HTTP attempts.

Why it works this way:

* **Fan-out.** The worker's commit puts one outbox entry per new match. The dispatcher
  reads the statement's `THEN WEBHOOK` actions, resolves each URL to the tenant's endpoint
  and inserts one delivery per endpoint (deterministic id, insert-if-absent), then marks
  the outbox entry `delivered` ("handed to the deliveries"). A crash in between re-does
  the fan-out and creates nothing twice.
* **Attempts** follow Standard Webhooks v1: `webhook-id` is the match id on every attempt,
  a new `webhook-timestamp` and signature (with every active secret) per attempt, over the
  exact payload bytes stored with the delivery. 2xx is success; 3xx is a failure and the
  redirect is never followed; 410 disables the endpoint; 429/502/503/504 honour
  `Retry-After` (and pause the whole endpoint until then); anything else, a timeout or a
  refused address is a failure retried on the Svix schedule with jitter. After the last
  attempt the delivery is dead-lettered (`failed`) until redelivered by id or in bulk.
* **Isolation.** At most `concurrency` attempts per endpoint are in flight, and the due
  query skips endpoints that are busy, paused or disabled, so a receiver that is down
  or slow delays only its own deliveries.
* **At least once.** Nothing is written when an attempt starts; a crash mid-request leaves
  the delivery due, and it is sent again with the same `webhook-id` (receivers dedupe on
  it). The outbox never holds an id twice and a delivery id exists once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from cep.actions.endpoints import Endpoint, Endpoints
from cep.actions.schedule import RetryPolicy, parse_retry_after
from cep.actions.signing import signed_headers
from cep.actions.ssrf import GuardedTransport, SsrfError, SsrfGuard
from cep.lang import ast
from cep.store.base import DELIVERED, FAILED, PENDING, OutboxEntry, Store, now_ms
from cep.store.records import Delivery, delivery_id

__all__ = ["Dispatcher", "build_payload", "webhook_actions"]

log_ = logging.getLogger("cep.actions")

MAX_PAYLOAD = 20_000  # bytes; bigger matches are sent without their bound events
LOG_KEEP = 20  # attempts kept per delivery
RESPONSE_KEEP = 512  # bytes of a response body kept in the attempt log
THROTTLE = {429, 502, 503, 504}
USER_AGENT = "cep-webhooks/1"


def webhook_actions(text: str) -> list[ast.Webhook]:
    """The `THEN WEBHOOK` actions of a stored statement's text ([] if none or unparsable)."""
    from cep.lang.parser import parse_collect

    script, errors = parse_collect(text, "")
    if errors or len(script.statements) != 1:
        return []
    return [a for a in getattr(script.statements[0], "actions", ()) or ()
            if isinstance(a, ast.Webhook)]


def _iso(ms: Any) -> str:
    if isinstance(ms, (int, float)) and not isinstance(ms, bool):
        with contextlib.suppress(OverflowError, OSError, ValueError):
            return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace(
                "+00:00", "Z")
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def build_payload(match: dict[str, Any]) -> bytes:
    """`{type, timestamp (event time), data}`; bound events dropped past ~20 kB."""
    body = {"type": "match.created", "timestamp": _iso(match.get("end_ts")), "data": match}
    raw = orjson.dumps(body)
    if len(raw) > MAX_PAYLOAD:
        data = {**match, "bindings": {}, "bindings_truncated": True}
        raw = orjson.dumps({**body, "data": data})
    return raw


@dataclass
class _EndpointState:
    in_flight: int = 0
    paused_until: int = 0  # ms: Retry-After or a throttle status paused the endpoint


@dataclass
class Outcome:
    """What one attempt did (also given to the observer hook for metrics)."""

    ok: bool
    status: int | None
    error: str | None
    seconds: float
    retry_after_s: float | None = None
    disable: bool = False
    response: str = ""
    kind: str = field(default="")


class Dispatcher:
    """Fans out the outbox and delivers webhooks; `run` in a thread of its own."""

    def __init__(
        self,
        store: Store,
        policy: RetryPolicy | None = None,
        guard: SsrfGuard | None = None,
        clock: Callable[[], int] = now_ms,
        concurrency: int = 4,
        poll_ms: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        observer: Callable[[Outcome], None] | None = None,
        on_exhausted: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or RetryPolicy()
        self.guard = guard or SsrfGuard()
        self.clock = clock
        self.concurrency = concurrency
        self.poll_ms = poll_ms
        self.endpoints = Endpoints(store, clock)
        self.rng = rng or random.Random()
        self.observer = observer
        self.on_exhausted = on_exhausted
        self._transport = transport
        self._states: dict[str, _EndpointState] = {}
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._actions: dict[tuple[str, int], list[ast.Webhook]] = {}
        self._ep_cache: dict[str, tuple[float, Endpoint | None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self.counters: dict[str, int] = {
            "fanned_out": 0, "attempts": 0, "delivered": 0, "failed_attempts": 0,
            "dead_lettered": 0, "endpoints_disabled": 0,
        }
        self.alive = False

    # ------------------------------------------------------------ fan-out

    def _webhooks_of(self, statement: str) -> tuple[str, list[ast.Webhook]] | None:
        rec = self.store.get_statement(statement)
        if rec is None:
            return None
        key = (rec.name, rec.version)
        hit = self._actions.get(key)
        if hit is None:
            hit = self._actions[key] = webhook_actions(rec.text)
        return rec.tenant, hit

    def fan_out(self, limit: int = 500) -> int:
        """Turn due outbox entries into deliveries; returns the number of entries handled."""
        entries = self.store.outbox_pending(limit)
        for e in entries:
            self._fan_out_one(e)
        self.counters["fanned_out"] += len(entries)
        return len(entries)

    def _fan_out_one(self, e: OutboxEntry) -> None:
        found = self._webhooks_of(e.statement)
        if found is None:
            self.store.outbox_mark(e.match_id, FAILED, e.attempts + 1,
                                   "statement was deleted before its actions ran")
            return
        tenant, hooks = found
        now = self.clock()
        items = []
        for hook in hooks:
            ep = self.endpoints.for_url(tenant, hook.url, hook.secret)
            payload = build_payload({**(e.match or {}), "match_id": e.match_id})
            items.append(Delivery(
                id=delivery_id(e.match_id, ep.id), match_id=e.match_id, endpoint_id=ep.id,
                tenant=tenant, statement=e.statement, status=PENDING, attempts=0,
                next_attempt_at=now, created_at=now, updated_at=now,
                info={"payload": payload.decode(), "log": [], "step": 0},
            ))
        if items:
            self.store.deliveries_add(items)
        self.store.outbox_mark(e.match_id, DELIVERED, e.attempts + 1)

    # ------------------------------------------------------------ redelivery

    def retry(self, did: str, tenant: str | None = None) -> Delivery | None:
        """Redeliver one delivery now (same webhook-id); None if absent."""
        d = self.store.delivery_get(did, tenant)
        if d is None:
            return None
        manual = d.status != PENDING  # a dead or delivered one gets one more attempt
        new = replace(d, status=PENDING, next_attempt_at=self.clock(),
                      info={**d.info, "manual": manual})
        self.store.delivery_save(new)
        self.kick()
        return new

    def retry_many(self, tenant: str | None, endpoint_id: str | None = None,
                   status: str = FAILED, since: int | None = None,
                   statement: str | None = None, limit: int = 10_000) -> int:
        """Redeliver every matching delivery (bulk recover); returns how many."""
        n = 0
        cursor = None
        while n < limit:
            page, cursor = self.store.list_deliveries(tenant, endpoint_id, status, statement,
                                                      cursor, 500)
            for d in page:
                if since is not None and d.created_at < since:
                    continue
                self.retry(d.id)
                n += 1
            if cursor is None:
                break
        return n

    # ------------------------------------------------------------ the loop

    def kick(self) -> None:
        """Wake the loop (new outbox entries or a redelivery); safe from any thread."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # loop closed
                loop.call_soon_threadsafe(wake.set)

    def run(self, stop: threading.Event) -> None:
        """Dispatch until `stop` is set (blocking; run it in a thread)."""
        asyncio.run(self._main(stop))

    def _client(self) -> httpx.AsyncClient:
        transport = self._transport or GuardedTransport(self.guard, retries=0)
        return httpx.AsyncClient(
            transport=transport, follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(self.policy.timeout_s),
            headers={"user-agent": USER_AGENT},
        )

    async def _main(self, stop: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.alive = True
        backoff = 0.1
        try:
            async with self._client() as client:
                while not stop.is_set():
                    try:
                        await self.step(client)
                        backoff = 0.1
                    except Exception as e:  # storage down: keep the loop, retry later
                        log_.warning("dispatcher: %s: %s; retrying in %.1fs",
                                     type(e).__name__, e, backoff)
                        await asyncio.sleep(backoff)
                        backoff = min(5.0, backoff * 2)
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_ms / 1000)
                    self._wake.clear()
                if self._tasks:  # graceful: let in-flight attempts finish and be recorded
                    await asyncio.wait(self._tasks, timeout=self.policy.timeout_s + 1)
        finally:
            self.alive = False
            self._loop = None

    def _endpoint(self, eid: str) -> Endpoint | None:
        now = time.monotonic()
        hit = self._ep_cache.get(eid)
        if hit is None or now - hit[0] > 0.5:
            hit = (now, self.endpoints.get(eid))
            self._ep_cache[eid] = hit
        return hit[1]

    def _forget_endpoint(self, eid: str) -> None:
        self._ep_cache.pop(eid, None)

    async def step(self, client: httpx.AsyncClient) -> int:
        """One round: fan out, then start attempts for due deliveries; returns started."""
        self.fan_out()
        now = self.clock()
        skip = [eid for eid, st in self._states.items()
                if st.in_flight >= self.concurrency or st.paused_until > now]
        fresh = time.monotonic() - 0.5  # a stale cache entry is re-read (maybe re-enabled)
        skip += [eid for eid, (t, ep) in self._ep_cache.items()
                 if ep is not None and not ep.enabled and t > fresh]
        started = 0
        for d in self.store.deliveries_due(now, self.concurrency, skip):
            if d.id in self._in_flight:
                continue
            ep = self._endpoint(d.endpoint_id)
            st = self._states.setdefault(d.endpoint_id, _EndpointState())
            if ep is None:
                self._dead(d, "endpoint was deleted")
                continue
            if not ep.enabled or st.in_flight >= self.concurrency or st.paused_until > now:
                continue
            st.in_flight += 1
            self._in_flight.add(d.id)
            task = asyncio.create_task(self._attempt(client, d, ep, st))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def settle(self) -> None:
        """Wait until every attempt in flight is recorded (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _attempt(self, client: httpx.AsyncClient, d: Delivery, ep: Endpoint,
                       st: _EndpointState) -> None:
        try:
            out = await self._send(client, d, ep)
            self._record(d, ep, st, out)
        except Exception:  # never lose the task silently; the delivery stays due
            log_.exception("dispatcher: recording delivery %s failed", d.id)
        finally:
            st.in_flight -= 1
            self._in_flight.discard(d.id)

    async def _send(self, client: httpx.AsyncClient, d: Delivery, ep: Endpoint) -> Outcome:
        body = d.info["payload"].encode()
        headers = signed_headers(d.match_id, int(time.time()), body,
                                 ep.active_secrets(self.clock()))
        headers["content-type"] = "application/json"
        t0 = time.perf_counter()
        try:
            resp = await client.post(ep.url, content=body, headers=headers)
        except SsrfError as e:
            return Outcome(False, None, f"refused: {e}", time.perf_counter() - t0, kind="ssrf")
        except httpx.TimeoutException as e:
            return Outcome(False, None, f"timeout: {type(e).__name__}",
                           time.perf_counter() - t0, kind="timeout")
        except (httpx.HTTPError, OSError) as e:
            return Outcome(False, None, f"{type(e).__name__}: {e}", time.perf_counter() - t0,
                           kind="connect")
        secs = time.perf_counter() - t0
        text = resp.content[:RESPONSE_KEEP].decode("utf-8", "replace")
        code = resp.status_code
        if 200 <= code < 300:
            return Outcome(True, code, None, secs, response=text, kind="ok")
        if 300 <= code < 400:
            loc = resp.headers.get("location", "")
            return Outcome(False, code, f"HTTP {code}: redirect to {loc!r} not followed",
                           secs, response=text, kind="redirect")
        if code == 410:
            return Outcome(False, code, "HTTP 410 Gone: endpoint disabled", secs,
                           disable=True, response=text, kind="gone")
        ra = parse_retry_after(resp.headers.get("retry-after"), time.time())
        kind = "throttled" if code in THROTTLE else "http_error"
        return Outcome(False, code, f"HTTP {code}", secs,
                       retry_after_s=ra if code in THROTTLE else None, response=text, kind=kind)

    def _record(self, d: Delivery, ep: Endpoint, st: _EndpointState, out: Outcome) -> None:
        now = self.clock()
        self.counters["attempts"] += 1
        if self.observer is not None:
            with contextlib.suppress(Exception):
                self.observer(out)
        entry = {"attempt": d.attempts + 1, "at": now, "status": out.status,
                 "latency_ms": round(out.seconds * 1000, 2), "error": out.error,
                 "response": out.response}
        info = {**d.info, "log": [*d.info.get("log", []), entry][-LOG_KEEP:],
                "last_error": out.error, "last_status": out.status}
        manual = bool(info.pop("manual", False))
        attempts = d.attempts + 1
        if out.ok:
            self.counters["delivered"] += 1
            self.store.delivery_save(replace(d, status=DELIVERED, attempts=attempts,
                                             next_attempt_at=None, info=info))
            if ep.failing_since is not None:
                self._forget_endpoint(ep.id)
                self.endpoints.save(replace(ep, failing_since=None))
            return
        self.counters["failed_attempts"] += 1
        if out.disable:
            self._disable(ep, out.error or "HTTP 410")
            self.store.delivery_save(replace(d, status=FAILED, attempts=attempts,
                                             next_attempt_at=None, info=info))
            return
        step = int(info.get("step", 0)) + (0 if manual else 1)
        info["step"] = step
        delay = None if manual else self.policy.delay_ms(step, self.rng)
        if out.retry_after_s is not None:
            wait = self.policy.scaled_ms(out.retry_after_s)
            st.paused_until = max(st.paused_until, now + wait)
            if delay is not None:
                delay = max(delay, wait)
        self._note_failure(ep, now)
        if delay is None:
            self.counters["dead_lettered"] += 1
            self.store.delivery_save(replace(d, status=FAILED, attempts=attempts,
                                             next_attempt_at=None, info=info))
            if self.on_exhausted is not None:
                with contextlib.suppress(Exception):
                    self.on_exhausted(replace(d, status=FAILED, attempts=attempts, info=info))
            return
        self.store.delivery_save(replace(d, attempts=attempts, next_attempt_at=now + delay,
                                         info=info))

    def _note_failure(self, ep: Endpoint, now: int) -> None:
        """Track how long every attempt failed; disable after the window (5 days)."""
        cur = self.endpoints.get(ep.id) or ep
        if cur.failing_since is None:
            self.endpoints.save(replace(cur, failing_since=now))
            self._forget_endpoint(ep.id)
        elif now - cur.failing_since >= self.policy.disable_after_ms:
            self._disable(cur, "every attempt failed for the auto-disable window")

    def _disable(self, ep: Endpoint, reason: str) -> None:
        cur = self.endpoints.get(ep.id) or ep
        if cur.enabled:
            self.endpoints.set_enabled(cur, False, reason)
            self.counters["endpoints_disabled"] += 1
            log_.warning("dispatcher: endpoint %s (%s) disabled: %s", ep.id, ep.url, reason)
        self._forget_endpoint(ep.id)

    def _dead(self, d: Delivery, reason: str) -> None:
        self.store.delivery_save(replace(d, status=FAILED, next_attempt_at=None,
                                         info={**d.info, "last_error": reason}))
