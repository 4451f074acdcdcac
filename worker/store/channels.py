"""A network's own state (a Bluesky session, a Mastodon account id, an instance's limits),
kept in Redis so every worker shares it and a restart does not log in again. Never logged."""

from __future__ import annotations

import json
from typing import Any

from worker.store._prefix import PREFIX, Client


def state_key(network: str) -> str:
    return f"{PREFIX}channel:{network}"


class ChannelState:
    def __init__(self, client: Client, network: str) -> None:
        self._r = client
        self._key = state_key(network)

    def get(self, name: str) -> Any:
        raw = self._r.hget(self._key, name)
        return json.loads(raw) if raw else None

    def set(self, name: str, value: Any) -> None:
        self._r.hset(self._key, name, json.dumps(value))

    def delete(self, name: str) -> None:
        self._r.hdel(self._key, name)
