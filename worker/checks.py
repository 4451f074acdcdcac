"""`syndicate check`: prove each configured piece works (Redis, the broker, each network with a
cheap authenticated call, each hub, IndexNow, Podping, the fediverse accounts) and say what is
off. Where a running service published its configuration (worker/ops.py `effective_config`),
that is what is checked against, not this shell's environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
import requests

from syndicate.config import Settings, public_hub_url
from worker import fediverse, indexnow, podping
from worker.celery_app import app, broker_error
from worker.http import RemoteSession
from worker.runtime import Runtime
from worker.social import NETWORKS, REGISTRY
from worker.social.errors import DeliveryError, HealthWarning


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: off, nothing to check
    detail: str
    warning: bool = False  # a failure that does not fail `check`


def check(rt: Runtime) -> list[Check]:
    """Every check, in the order `syndicate check` prints them."""
    settings = rt.settings
    out: list[Check] = []
    service = None
    if settings.redis_url is None:
        out.append(
            Check(
                "redis",
                False,
                "no Redis: set SYNDICATE_REDIS_URL, or start `syndicate run` in this directory",
            )
        )
    else:
        out += _check_redis_and_broker(rt)
        if out[0].ok:
            service = rt.store.workers.config()
    out += _check_settings(settings, service)
    out += [_check_network(rt, network, service) for network in NETWORKS]
    if not settings.websub_hubs:
        out.append(Check("websub", None, "off (SYNDICATE_WEBSUB_HUBS not set)"))
    out.append(_check_own_hub(settings, service))
    out += [_check_hub(rt, hub) for hub in settings.websub_hubs]
    out.append(Check(*indexnow.check(rt)))
    out.append(Check(*podping.check(rt), warning=True))
    out.append(Check(*fediverse.check(rt, settings.activitypub)))
    if not any(c.ok for c in out if c.name in ("redis", "broker")):
        out.append(Check("reachable", False, "nothing configured could be reached"))
    return out


def _check_redis_and_broker(rt: Runtime) -> list[Check]:
    out = []
    try:
        rt.store.ping()
        out.append(Check("redis", True, f"reachable, appendonly={rt.store.persistence()}"))
    except redis.RedisError as exc:
        out.append(Check("redis", False, f"unreachable: {type(exc).__name__}"))
    error = broker_error(timeout_s=3)
    if error:
        out.append(Check("broker", False, f"unreachable: {error}"))
    else:
        out.append(Check("broker", True, f"reachable ({app.conf.broker_url.split(':', 1)[0]})"))
    return out


def _check_settings(settings: Settings, service: dict[str, Any] | None) -> list[Check]:
    """The running service (if one published its settings), its webhook secret and the
    podcast owner: set here or in the service."""
    out = []
    if service:
        out.append(
            Check(
                "service",
                True,
                f"running {service['version']} since "
                f"{service['started_at']} at {service['public_url']}",
            )
        )
    secret_set = settings.webhook_secret or (service and service["webhook_secret"] == "set")
    out.append(
        Check("webhook secret", True, "set")
        if secret_set
        else Check(
            "webhook secret", None, "not set: `syndicate run` creates one, `syndicate api` refuses"
        )
    )
    owner_set = settings.podcast_owner_email or (
        service and service["podcast_owner_email"] == "set"
    )
    out.append(
        Check("podcast owner", True, "set")
        if owner_set
        else Check(
            "podcast owner",
            False,
            "SYNDICATE_PODCAST_OWNER_EMAIL not set: the audio feed lacks "
            "itunes:owner (podcast directories want it)",
            warning=True,
        )
    )
    return out


def _check_network(rt: Runtime, network: str, service: dict[str, Any] | None) -> Check:
    """A network's cheap authenticated call, if its credentials are in this shell."""
    channel = rt.channels.get(network)
    if channel is None:
        running = service and network in service["networks"]
        return Check(
            network,
            None if not running else False,
            "off (no credentials)"
            if not running
            else "on in the running service, but its credentials are not in this "
            "shell's environment: run `check` with the service's settings",
            warning=True,
        )
    try:
        return Check(network, True, channel.health_check())
    except DeliveryError as exc:
        return Check(
            network,
            False,
            f"{REGISTRY[network].__name__}: {exc.reason}",
            warning=isinstance(exc, HealthWarning),
        )


def _check_hub(rt: Runtime, hub: str) -> Check:
    """A hub must answer HTTP below 500 (a publish ping with no topic is refused as a bad
    request by a working hub; a 5xx or no answer is a hub that will not take pings)."""
    name = f"hub {public_hub_url(hub)}"
    try:
        r = RemoteSession(rt.settings.http_timeout).post(hub, data={"hub.mode": "publish"})
    except requests.RequestException as exc:
        return Check(name, False, f"unreachable: {type(exc).__name__}")
    if r.status_code >= 500:
        return Check(name, False, f"answers HTTP {r.status_code}: it will not take pings")
    return Check(name, True, f"answers (HTTP {r.status_code})")


def _check_own_hub(settings: Settings, service: dict[str, Any] | None) -> Check:
    """Whether our own hub is on (in the running service, if one published its settings)."""
    on = service.get("websub_hub") == "on" if service else settings.websub_hub
    where = settings.public_url or (service or {}).get("public_url") or "PUBLIC_URL"
    if on:
        return Check("own hub", True, f"on at {where}/hub (subscribers are pushed each change)")
    return Check("own hub", None, "off (SYNDICATE_WEBSUB_HUB not on)")
