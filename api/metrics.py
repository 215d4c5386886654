"""Prometheus metrics: request counters and latency, plus gauges read at scrape time.

Request metrics are labelled by route template (`/v1/rules/{name}`), never by raw path,
so label cardinality stays bounded. Store and worker gauges are computed when /metrics is
scraped (a scrape costs a few store reads), so nothing runs when nobody scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from api.runtime import Runtime

__all__ = ["Metrics", "MetricsMiddleware"]


class _State(Collector):
    """Gauges from the runtime: outbox, deliveries, lag, worker and dispatcher counters."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Any]:
        rt = self.rt
        g = GaugeMetricFamily("cep_outbox_pending", "Matches whose actions are not handed out")
        g.add_metric([], rt.store.outbox_depth())
        yield g
        d = GaugeMetricFamily("cep_deliveries", "Webhook deliveries by status",
                              labels=["status"])
        for status, n in rt.store.delivery_counts().items():
            d.add_metric([status], n)
        yield d
        c = CounterMetricFamily("cep_dispatcher", "Dispatcher counters", labels=["counter"])
        for k, v in rt.dispatcher.counters.items():
            c.add_metric([k], v)
        yield c
        w = rt.worker
        if w is None:
            return
        ev = CounterMetricFamily("cep_worker_events", "Events processed", labels=["partition"])
        mt = CounterMetricFamily("cep_worker_matches", "Matches committed",
                                 labels=["partition"])
        for p, r in list(w.runners.items()):
            ev.add_metric([str(p)], r.counters.get("events", 0))
            mt.add_metric([str(p)], r.counters.get("matches", 0))
        yield ev
        yield mt
        from cep.lag import group_report

        reg = rt.registry()
        lag = GaugeMetricFamily("cep_lag_entries", "Entries not yet consumed",
                                labels=["partition"])
        st = GaugeMetricFamily("cep_lag_status", "Burrow status (0 OK .. 4 REWIND)",
                               labels=["partition"])
        from cep.lag import Status

        for rep in group_report(rt.log, rt.store, w.group, reg.consumed_streams(), reg.specs):
            if rep.lag_entries is not None:
                lag.add_metric([str(rep.partition)], rep.lag_entries)
            st.add_metric([str(rep.partition)], Status[rep.status].value)
        yield lag
        yield st


class Metrics:
    """The app's registry and its request instruments."""

    def __init__(self, rt: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("cep_http_requests", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("cep_http_request_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5))
        self.events = Counter("cep_events_ingested", "Events appended over HTTP", ["stream"],
                              registry=self.registry)
        self.webhook_seconds = Histogram(
            "cep_webhook_attempt_seconds", "Webhook attempt latency", ["outcome"],
            registry=self.registry, buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15))
        self.registry.register(_State(rt))
        rt.dispatcher.observer = lambda out: self.webhook_seconds.labels(
            out.kind or ("ok" if out.ok else "error")).observe(out.seconds)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one HTTP request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class MetricsMiddleware:
    """ASGI middleware recording every HTTP request by route template."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """ASGI entry."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def send_(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, send_)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], route, status[0], time.perf_counter() - t0)
