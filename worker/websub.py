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
from worker.store.dead import ping_letter, reason_of

log = logging.getLogger("syndicate.websub")


def configured_hub(rt: Runtime, shown: str) -> str | None:
    """The configured hub URL (credentials and all) whose public form is `shown`."""
    return next((h for h in rt.settings.websub_hubs if public_hub_url(h) == shown), None)


def ping(rt: Runtime, feed_key: str, shown: str, attempt: int) -> bool:
    """Ping one hub about every format of one feed; schedule a retry on failure.

    `shown` is the hub's public URL: messages on the broker, the schedule and dead letters
    carry only that; credentials in the configured URL (`https://user:pass@hub/`) are looked up
    here, become HTTP basic auth for the ping, and are never advertised, logged or stored. A hub
    no longer configured is not pinged."""
    hub = configured_hub(rt, shown)
    if hub is None:
        log.warning(
            "hub %s is no longer configured: ping of %s dropped",
            shown,
            feed_key,
            extra={"feed": feed_key, "hub": shown},
        )
        return False
    session = rt.hub_sessions.setdefault(hub, RemoteSession(rt.settings.http_timeout))
    failed = False
    answers = []
    for fmt in FORMATS:
        topic = feed_url(rt.site.public_url, feed_key, fmt)
        try:
            r = session.post(
                hub, data={"hub.mode": "publish", "hub.url": topic, "hub.topic": topic}
            )
            answers.append(f"HTTP {r.status_code}")
            if not 200 <= r.status_code < 300:
                failed = True
                log.warning(
                    "hub %s answered %s for %s",
                    shown,
                    r.status_code,
                    topic,
                    extra={"feed": feed_key, "hub": shown},
                )
        except requests.RequestException as exc:
            answers.append(f"unreachable ({type(exc).__name__})")
            log.warning(
                "hub %s unreachable for %s: %s",
                shown,
                topic,
                type(exc).__name__,
                extra={"feed": feed_key, "hub": shown},
            )
            failed = True
    rt.store.counters.add({counters.pings(not failed): 1})
    rt.store.feeds.pinged(feed_key, shown, ", ".join(dict.fromkeys(answers)), ok=not failed)
    if failed and PING.gives_up(attempt):
        rt.store.dead.add(ping_letter(feed_key, shown), reason_of(", ".join(answers)))
    elif failed:
        rt.store.schedule.add(
            "ping",
            [feed_key, shown, attempt + 1],
            PING.backoff_s(attempt, rt.settings.retry_base_s),
        )
    return not failed
