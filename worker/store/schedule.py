"""Delayed work: `task(*args)` due at a time, drained by the scheduler loop (worker/scheduler.py)
rather than Celery ETAs, which kombu would hand out again after the visibility timeout."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from worker.store._prefix import PREFIX, Client

SCHEDULE = f"{PREFIX}schedule"  # zset JSON {"task": ..., "args": [...]} -> due at (epoch s)


def member(task: str, args: list[Any]) -> str:
    return json.dumps({"task": task, "args": args})


class Schedule:
    def __init__(self, client: Client) -> None:
        self._r = client

    def add(self, task: str, args: list[Any], due_in_s: float) -> None:
        self._r.zadd(SCHEDULE, {member(task, args): time.time() + due_in_s})

    def claim_due(self, limit: int = 100) -> list[tuple[str, list[Any]]]:
        """Take due items; ZREM makes each one ours alone."""
        due = self._r.zrangebyscore(SCHEDULE, "-inf", time.time(), start=0, num=limit)
        out = []
        for m in due:
            if self._r.zrem(SCHEDULE, m):
                item = json.loads(m)
                out.append((item.get("task", ""), list(item.get("args", []))))
        return out


def add_in(pipe: redis.client.Pipeline, task: str, args: list[Any], due_in_s: float) -> None:
    pipe.zadd(SCHEDULE, {member(task, args): time.time() + due_in_s})
