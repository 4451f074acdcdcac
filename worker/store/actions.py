"""What operators did (backfill, rebuild, replay, purge, unpurge): who, when, what, newest
first, for the status page.

list `syn:actions`: JSON `{"at", "who", "what", "detail"}`, at most KEPT (older ones fall off).
`who` is the OS user of a command, or "status page" for its Retry button.
"""

from __future__ import annotations

import getpass
import json
import time
from typing import Any

from syndicate.logs import mask
from worker.store._prefix import PREFIX, Client

ACTIONS = f"{PREFIX}actions"
KEPT = 200
KINDS = ("backfill", "rebuild", "replay", "purge", "unpurge")
DETAIL_MAX = 200


def os_user() -> str:
    try:
        return getpass.getuser()[:64] or "unknown"
    except (OSError, KeyError, ImportError):  # no login name and no passwd entry (containers)
        return "unknown"


class Actions:
    def __init__(self, client: Client) -> None:
        self._r = client

    def record(self, what: str, detail: str = "", who: str | None = None) -> None:
        if what not in KINDS:
            raise ValueError(f"unknown operator action {what!r}")
        entry = {
            "at": round(time.time(), 3),
            "who": (who or os_user())[:64],
            "what": what,
            "detail": " ".join(mask(detail).split())[:DETAIL_MAX],
        }
        pipe = self._r.pipeline()
        pipe.lpush(ACTIONS, json.dumps(entry))
        pipe.ltrim(ACTIONS, 0, KEPT - 1)
        pipe.execute()

    def newest(self, limit: int = 20) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if limit <= 0:
            return out
        for raw in self._r.lrange(ACTIONS, 0, min(limit, KEPT) - 1):
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out
