"""Takedowns (`syndicate purge`) under way and done: what the operator waits on.

hash `syn:takedown:<article id>`: state (queued|rendering|done|incomplete), requested_at,
started_at, finished_at, deadline (epoch s), targets (JSON: feed key -> the version its render
must reach), report (JSON: counts and checks, no words of the article). The article's own
record (`worker/store/articles.py`, the audit list) says what was removed.
"""

from __future__ import annotations

import json
import time
from typing import Any

from worker.store._prefix import PREFIX, Client, part

ENDED = ("done", "incomplete")


def takedown_key(article_id: str) -> str:
    return f"{PREFIX}takedown:{part(article_id)}"


class Takedowns:
    def __init__(self, client: Client) -> None:
        self._r = client

    def request(self, article_id: str) -> None:
        """A new takedown of this article (a second request starts it over)."""
        key = takedown_key(article_id)
        pipe = self._r.pipeline()
        pipe.delete(key)
        pipe.hset(key, mapping={"state": "queued", "requested_at": f"{time.time():.3f}"})
        pipe.execute()

    def get(self, article_id: str) -> dict[str, Any]:
        raw = {k.decode(): v.decode() for k, v in self._r.hgetall(takedown_key(article_id)).items()}
        for name in ("targets", "report"):
            if name in raw:
                raw[name] = json.loads(raw[name])
        return raw

    def rendering(
        self, article_id: str, targets: dict[str, int], deadline: float, report: dict[str, Any]
    ) -> None:
        self._r.hset(
            takedown_key(article_id),
            mapping={
                "state": "rendering",
                "started_at": f"{time.time():.3f}",
                "deadline": f"{deadline:.3f}",
                "targets": json.dumps(targets),
                "report": json.dumps(report),
            },
        )

    def progress(self, article_id: str, report: dict[str, Any]) -> None:
        self._r.hset(takedown_key(article_id), "report", json.dumps(report))

    def finish(self, article_id: str, state: str, report: dict[str, Any]) -> None:
        self._r.hset(
            takedown_key(article_id),
            mapping={
                "state": state,
                "finished_at": f"{time.time():.3f}",
                "report": json.dumps(report),
            },
        )
