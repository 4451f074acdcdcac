"""Redis clients from one URL: `redis://`, `rediss://`, `unix://`, or `sentinel://` for a Redis
watched by Redis Sentinel.

A unix socket (what `syndicate run`'s embedded Redis listens on) with a password and a database:

    unix://[[USER]:PASSWORD@]/path/to/redis.sock[?db=N]

A Sentinel URL lists the sentinels and names the master they monitor:

    sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]

e.g. `sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/syndicate/0`. The password is
the master's (`requirepass`); the sentinels themselves are asked without one. Every client asks
the sentinels for the current master whenever it (re)connects and checks that the server it
reached is still a master, so after a failover the next command goes to the promoted replica.
The same URL works in `SYNDICATE_BROKER_URL`: Celery's Redis transport gets kombu's spelling of
it (`celery_broker`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

SCHEME = "sentinel"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelAddress:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def is_sentinel(url: str) -> bool:
    return urlsplit(url).scheme == SCHEME


def parse_sentinel(url: str) -> SentinelAddress:
    """The parts of a `sentinel://` URL; ValueError says what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise ValueError("is not a sentinel:// URL")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = []
    for host in filter(None, hosts.split(",")):
        if host.endswith("]") or ":" not in host:  # no port: "[::1]", "sentinel-1"
            name, port = host, str(DEFAULT_SENTINEL_PORT)
        else:
            name, _, port = host.rpartition(":")
        if not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"has a malformed sentinel address {host!r} (HOST:PORT)")
        sentinels.append((name.strip("[]"), int(port)))
    if not sentinels:
        raise ValueError("names no sentinel (sentinel://HOST:PORT[,HOST:PORT]/MASTER_NAME[/DB])")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("must name the master: sentinel://HOST:PORT[,...]/MASTER_NAME[/DB]")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError(f"has a database that is not a number: {path[1]!r}")
    return SentinelAddress(
        tuple(sentinels),
        unquote(path[0]),
        int(path[1]) if len(path) == 2 else 0,
        unquote(username) or None,
        unquote(password) or None,
    )


def _sentinel_options(address: SentinelAddress, options: dict[str, Any]) -> dict[str, Any]:
    # Asking a sentinel is quick or it is down: the next one is tried.
    asking = {k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")}
    return dict(
        sentinel_kwargs=asking,
        db=address.db,
        username=address.username,
        password=address.password,
        **options,
    )


def redis_client(url: str, **options: Any) -> redis.Redis:
    """A client of the Redis (or of the current master) the URL names."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    address = parse_sentinel(url)
    options.pop("health_check_interval", None)  # the sentinel pool checks the role instead
    sentinel = redis.sentinel.Sentinel(address.sentinels, **_sentinel_options(address, options))
    return sentinel.master_for(address.master)


def async_redis_client(url: str, **options: Any) -> redis.asyncio.Redis:
    """The asyncio twin of `redis_client` (the API's serving path)."""
    if not is_sentinel(url):
        return redis.asyncio.Redis.from_url(url, **options)
    address = parse_sentinel(url)
    sentinel = redis.asyncio.sentinel.Sentinel(
        address.sentinels, **_sentinel_options(address, options)
    )
    return sentinel.master_for(address.master)


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Kombu's spelling of a broker URL, and the transport options it needs besides.

    Kombu's Sentinel transport takes one `sentinel://` URL per sentinel, joined with `;`, and the
    master's name as the `master_name` transport option. A `unix://` socket is kombu's
    `redis+socket://` (the database as `virtual_host`); every other URL passes unchanged."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        db = (parse_qs(parts.query).get("db") or ["0"])[0]
        return f"redis+socket://{parts.netloc}{parts.path}?virtual_host={db}", {}
    if not is_sentinel(url):
        return url, {}
    address = parse_sentinel(url)
    auth = ""
    if address.password:
        auth = f"{address.username or ''}:{address.password}@"
    hosts = ";".join(
        f"{SCHEME}://{auth}{host}:{port}/{address.db}" for host, port in address.sentinels
    )
    return hosts, {"master_name": address.master}


def with_password(url: str, password: str) -> str:
    """`url` with `password` in it (a URL written down without one, e.g. `run`'s run file)."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}").geturl()
