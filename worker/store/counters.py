"""Counters for the metrics and the status page, in one hash: the names are built and read
back only here."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import redis

from worker.store._prefix import PREFIX, Client

COUNTERS = f"{PREFIX}counters"  # hash name -> amount


def delivery(network: str, state: str) -> str:
    return f"delivery:{network}:{state}"


def retries(network: str) -> str:
    return f"retries:{network}"


def pings(ok: bool) -> str:
    return "pings:ok" if ok else "pings:failed"


RENDERS = "renders"
RENDER_SECONDS = "render_seconds"


@dataclass
class Totals:
    renders: float = 0.0
    render_seconds: float = 0.0
    deliveries: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    retries: dict[str, int] = field(default_factory=dict)  # per network, and "websub"


class Counters:
    def __init__(self, client: Client) -> None:
        self._r = client

    def add(self, amounts: dict[str, float]) -> None:
        pipe = self._r.pipeline()
        for name, amount in amounts.items():
            pipe.hincrbyfloat(COUNTERS, name, amount)
        pipe.execute()

    def totals(self) -> Totals:
        out = Totals()
        for raw, value in self._r.hgetall(COUNTERS).items():
            name, amount = raw.decode(), float(value)
            if name == RENDERS:
                out.renders = amount
            elif name == RENDER_SECONDS:
                out.render_seconds = amount
            elif name.startswith("delivery:"):
                _, network, state = name.split(":", 2)
                out.deliveries[network][state] = int(amount)
            elif name.startswith("retries:"):
                out.retries[name.split(":", 1)[1]] = int(amount)
            elif name == pings(False):
                out.retries["websub"] = int(amount)
        return out


def add_in(pipe: redis.client.Pipeline, name: str, amount: float = 1) -> None:
    pipe.hincrbyfloat(COUNTERS, name, amount)
