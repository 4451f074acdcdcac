"""Prometheus metrics of the API process (`GET /metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter("syndicate_events_total", "Events received, by type and outcome",
                              ["type", "outcome"], registry=self.registry)
        self.feed_requests = Counter("syndicate_feed_requests_total", "Feed requests by status",
                                     ["status"], registry=self.registry)
        self.queue_depth = Gauge("syndicate_queue_depth", "Messages waiting per queue", ["queue"],
                                 registry=self.registry)
        self.renders = Gauge("syndicate_renders_total", "Feed renders done by the workers",
                             registry=self.registry)
        self.render_seconds = Gauge("syndicate_render_seconds_total",
                                    "Time spent rendering feeds", registry=self.registry)
        self.deliveries = Gauge("syndicate_deliveries", "Social deliveries by network and state",
                                ["network", "state"], registry=self.registry)
        self.retries = Gauge("syndicate_retries", "Retries scheduled, by what was retried",
                             ["kind"], registry=self.registry)
        self.dead_letters = Gauge("syndicate_dead_letters", "Events and deliveries out of retries",
                                  registry=self.registry)
        self.intake_seconds = Histogram("syndicate_intake_seconds", "POST /events latency",
                                        registry=self.registry)
