"""Prometheus metrics (`GET /metrics`), named by convention: counters end in `_total`, gauges
do not.

This process's own counters (events in, feed requests, intake latency) live in prometheus_client
objects; the workers' counters (renders, deliveries, retries) are read from Redis at each scrape
(worker/store/counters.py) and exposed as counters by `WorkerTotals`.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from worker.store.counters import Totals


class WorkerTotals(Collector):
    """The workers' counters, as read from Redis by the last scrape."""

    def __init__(self) -> None:
        self.totals = Totals()

    def collect(self) -> Iterator[CounterMetricFamily]:
        t = self.totals
        renders = CounterMetricFamily("syndicate_renders", "Feed renders done by the workers")
        renders.add_metric([], t.renders)
        seconds = CounterMetricFamily("syndicate_render_seconds", "Time spent rendering feeds")
        seconds.add_metric([], t.render_seconds)
        deliveries = CounterMetricFamily(
            "syndicate_deliveries",
            "Social delivery outcomes, by network and state",
            labels=["network", "state"],
        )
        for network, states in sorted(t.deliveries.items()):
            for state, n in sorted(states.items()):
                deliveries.add_metric([network, state], n)
        retries = CounterMetricFamily(
            "syndicate_retries", "Retries scheduled, by what was retried", labels=["kind"]
        )
        for kind, n in sorted(t.retries.items()):
            retries.add_metric([kind], n)
        yield from (renders, seconds, deliveries, retries)


class HubTotals(Collector):
    """Our own hub's requests, verifications and deliveries by outcome (worker/hub.py), as read
    from Redis by the last scrape."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "syndicate_hub", "Our WebSub hub's work, by outcome", labels=["outcome"]
        )
        for outcome, n in sorted(self.counts.items()):
            family.add_metric([outcome], n)
        yield family


class FediverseTotals(HubTotals):
    """The fediverse's follows, refusals and deliveries by outcome (worker/fediverse.py)."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "syndicate_fediverse", "The fediverse accounts' work, by outcome", labels=["outcome"]
        )
        for outcome, n in sorted(self.counts.items()):
            family.add_metric([outcome], n)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "syndicate_events",
            "Events received, by type and outcome",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.feed_requests = Counter(
            "syndicate_feed_requests", "Feed requests by status", ["status"], registry=self.registry
        )
        self.intake_seconds = Histogram(
            "syndicate_intake_seconds",
            "POST /events: from request to answer",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "syndicate_queue_depth", "Messages waiting per queue", ["queue"], registry=self.registry
        )
        self.dead_letters = Gauge(
            "syndicate_dead_letters", "Units of work out of retries", registry=self.registry
        )
        # our own WebSub hub (worker/hub.py): its state at the last scrape
        self.hub_subscriptions = Gauge(
            "syndicate_hub_subscriptions",
            "Verified subscriptions to our own WebSub hub",
            registry=self.registry,
        )
        self.hub_failing = Gauge(
            "syndicate_hub_failing_callbacks",
            "Subscriptions whose last delivery failed",
            registry=self.registry,
        )
        self.hub = HubTotals()
        self.registry.register(self.hub)
        self.fediverse_followers = Gauge(
            "syndicate_fediverse_followers",
            "Followers of the feeds' fediverse accounts",
            registry=self.registry,
        )
        self.fediverse = FediverseTotals()
        self.registry.register(self.fediverse)
        self.worker = WorkerTotals()
        self.registry.register(self.worker)
