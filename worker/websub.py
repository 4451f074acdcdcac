"""WebSub publisher pings (W3C WebSub §6): after a feed's bytes change, tell every hub.

One form POST per topic (each format has its own self URL), `hub.mode=publish` with both
`hub.url` (what most hubs read) and `hub.topic` (websub.rocks, Flask-WebSub). A failed ping is
retried with backoff through the Redis schedule; an unchanged render pings nobody.
"""

from __future__ import annotations

import logging

import requests

from feeds.describe import FORMATS, feed_url
from syndicate.config import public_hub_url
from worker.http import RemoteSession
from worker.retry import PING
from worker.runtime import Runtime
from worker.store import counters
from worker.store.dead import ping_letter

log = logging.getLogger("syndicate.websub")


def ping(rt: Runtime, feed_key: str, hub: str, attempt: int) -> bool:
    """Ping one hub about every format of one feed; schedule a retry on failure.

    `hub` is the configured URL: credentials in it (`https://user:pass@hub/`) become HTTP basic
    auth for the ping, and are never advertised, logged or stored (`public_hub_url`)."""
    session = rt.hub_sessions.setdefault(hub, RemoteSession(rt.settings.http_timeout))
    shown = public_hub_url(hub)
    failed = False
    answers = []
    for fmt in FORMATS:
        topic = feed_url(rt.site.public_url, feed_key, fmt)
        try:
            r = session.post(hub, data={"hub.mode": "publish", "hub.url": topic, "hub.topic": topic})
            answers.append(f"HTTP {r.status_code}")
            if not 200 <= r.status_code < 300:
                failed = True
                log.warning("hub %s answered %s for %s", shown, r.status_code, topic,
                            extra={"feed": feed_key, "hub": shown})
        except requests.RequestException as exc:
            answers.append(f"unreachable ({type(exc).__name__})")
            log.warning("hub %s unreachable for %s: %s", shown, topic, type(exc).__name__,
                        extra={"feed": feed_key, "hub": shown})
            failed = True
    rt.store.counters.add({counters.pings(not failed): 1})
    rt.store.feeds.pinged(feed_key, shown, ", ".join(dict.fromkeys(answers)), ok=not failed)
    if failed and PING.gives_up(attempt):
        rt.store.dead.add(ping_letter(feed_key, shown))
    elif failed:
        rt.store.schedule.add("ping", [feed_key, hub, attempt + 1],
                              PING.backoff_s(attempt, rt.settings.retry_base_s))
    return not failed
