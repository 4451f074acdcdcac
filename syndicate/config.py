"""The one place that reads the environment.

Every process (API, worker, CLI) builds a `Settings` at start-up with `Settings.from_env()` and
passes it down. A bad value is a `ConfigError` whose message is the one line an operator sees.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

NETWORKS = ("twitter", "facebook", "googleplus")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _checked_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value


def _url(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """A base URL; the trailing slash is dropped so paths can be appended."""
    value = env.get(name, "").strip() or default
    return None if value is None else _checked_url(name, value).rstrip("/")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _broker_url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    scheme = urlsplit(value).scheme
    if scheme not in ("redis", "rediss", "unix", "amqp", "amqps", "pyamqp", "redis+socket"):
        raise ConfigError(f"{name} has an unsupported scheme {scheme!r}")
    return value


@dataclass(frozen=True)
class TwitterCredentials:
    bearer_token: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    access_token: str | None = None
    access_secret: str | None = None

    def __repr__(self) -> str:  # secrets never reach logs through a repr
        return "TwitterCredentials(<redacted>)"


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    broker_url: str | None = None
    data_dir: Path = Path("./var")
    webhook_secret: str | None = field(default=None, repr=False)
    public_url: str | None = None
    site_url: str = "https://news.example.org"
    site_title: str = "Newsroom"
    site_description: str = "Latest articles from the newsroom"
    site_language: str = "en"
    feed_size: int = 50
    websub_hubs: tuple[str, ...] = ()
    twitter_api_url: str = "https://api.x.com"
    twitter: TwitterCredentials | None = field(default=None, repr=False)
    facebook_graph_url: str = "https://graph.facebook.com/v25.0"
    facebook_page_id: str | None = None
    facebook_page_token: str | None = field(default=None, repr=False)
    googleplus_api_url: str = "https://www.googleapis.com/plusDomains/v1"
    googleplus_token: str | None = field(default=None, repr=False)
    googleplus_audience: str = "public"
    visibility_timeout: int = 60
    deleted_entry_days: int = 7
    http_timeout: float = 10.0
    retry_base_s: float = 2.0
    log_json: bool = False
    body_timeout: float = 10.0
    admin_token: str | None = field(default=None, repr=False)
    event_retention_days: int = 30
    max_header_bytes: int = 16_384
    header_timeout: float = 10.0
    idle_timeout: float = 5.0
    max_connections: int = 1_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        hubs = tuple(dict.fromkeys(
            _checked_url("SYNDICATE_WEBSUB_HUBS", h.strip())
            for h in env.get("SYNDICATE_WEBSUB_HUBS", "").split(",")
            if h.strip()
        ))
        secret = env.get("SYNDICATE_WEBHOOK_SECRET", "").strip() or None
        if secret is not None:
            validate_webhook_secret(secret)
        tw = TwitterCredentials(
            bearer_token=env.get("SYNDICATE_TWITTER_BEARER_TOKEN") or None,
            consumer_key=env.get("SYNDICATE_TWITTER_CONSUMER_KEY") or None,
            consumer_secret=env.get("SYNDICATE_TWITTER_CONSUMER_SECRET") or None,
            access_token=env.get("SYNDICATE_TWITTER_ACCESS_TOKEN") or None,
            access_secret=env.get("SYNDICATE_TWITTER_ACCESS_SECRET") or None,
        )
        oauth1 = [tw.consumer_key, tw.consumer_secret, tw.access_token, tw.access_secret]
        if any(oauth1) and not all(oauth1):
            raise ConfigError(
                "SYNDICATE_TWITTER_CONSUMER_KEY, _CONSUMER_SECRET, _ACCESS_TOKEN and _ACCESS_SECRET "
                "must be set together"
            )
        twitter = tw if (tw.bearer_token or all(oauth1)) else None
        page_id = env.get("SYNDICATE_FACEBOOK_PAGE_ID", "").strip() or None
        page_token = env.get("SYNDICATE_FACEBOOK_PAGE_TOKEN", "").strip() or None
        if bool(page_id) != bool(page_token):
            raise ConfigError(
                "SYNDICATE_FACEBOOK_PAGE_ID and SYNDICATE_FACEBOOK_PAGE_TOKEN must be set together"
            )
        audience = env.get("SYNDICATE_GOOGLEPLUS_AUDIENCE", "").strip() or "public"
        if audience not in ("public", "domain"):
            raise ConfigError(f"SYNDICATE_GOOGLEPLUS_AUDIENCE must be public or domain, got {audience!r}")
        redis_url = _broker_url(env, "SYNDICATE_REDIS_URL")
        if redis_url and urlsplit(redis_url).scheme.startswith("amqp"):
            raise ConfigError("SYNDICATE_REDIS_URL must be a redis:// URL")
        return cls(
            redis_url=redis_url,
            broker_url=_broker_url(env, "SYNDICATE_BROKER_URL"),
            data_dir=Path(env.get("SYNDICATE_DATA_DIR", "").strip() or "./var"),
            webhook_secret=secret,
            public_url=_url(env, "SYNDICATE_PUBLIC_URL"),
            site_url=_url(env, "SYNDICATE_SITE_URL", "https://news.example.org") or "",
            site_title=env.get("SYNDICATE_SITE_TITLE", "").strip() or "Newsroom",
            site_description=env.get("SYNDICATE_SITE_DESCRIPTION", "").strip()
            or "Latest articles from the newsroom",
            site_language=env.get("SYNDICATE_SITE_LANGUAGE", "").strip() or "en",
            feed_size=_int(env, "SYNDICATE_FEED_SIZE", 50, 1, 1000),
            websub_hubs=hubs,
            twitter_api_url=_url(env, "SYNDICATE_TWITTER_API_URL", "https://api.x.com") or "",
            twitter=twitter,
            facebook_graph_url=_url(
                env, "SYNDICATE_FACEBOOK_GRAPH_URL", "https://graph.facebook.com/v25.0"
            )
            or "",
            facebook_page_id=page_id,
            facebook_page_token=page_token,
            googleplus_api_url=_url(
                env, "SYNDICATE_GOOGLEPLUS_API_URL", "https://www.googleapis.com/plusDomains/v1"
            )
            or "",
            googleplus_token=env.get("SYNDICATE_GOOGLEPLUS_TOKEN", "").strip() or None,
            googleplus_audience=audience,
            visibility_timeout=_int(env, "SYNDICATE_VISIBILITY_TIMEOUT", 60, 5, 86400),
            deleted_entry_days=_int(env, "SYNDICATE_DELETED_ENTRY_DAYS", 7, 0, 365),
            http_timeout=float(_int(env, "SYNDICATE_HTTP_TIMEOUT", 10, 1, 120)),
            retry_base_s=_int(env, "SYNDICATE_RETRY_BASE_MS", 2000, 10, 600_000) / 1000,
            log_json=_int(env, "SYNDICATE_LOG_JSON", 0, 0, 1) == 1,
            body_timeout=float(_int(env, "SYNDICATE_BODY_TIMEOUT", 10, 1, 300)),
            admin_token=_admin_token(env),
            event_retention_days=_int(env, "SYNDICATE_EVENT_RETENTION_DAYS", 30, 1, 3650),
            max_header_bytes=_int(env, "SYNDICATE_MAX_HEADER_BYTES", 16_384, 1_024, 1_048_576),
            header_timeout=float(_int(env, "SYNDICATE_HEADER_TIMEOUT", 10, 1, 300)),
            idle_timeout=float(_int(env, "SYNDICATE_IDLE_TIMEOUT", 5, 1, 300)),
            max_connections=_int(env, "SYNDICATE_MAX_CONNECTIONS", 1_000, 1, 100_000),
        )

    def secret_values(self) -> list[str]:
        """Every configured secret, for masking (syndicate.logs.register_secrets)."""
        tw = self.twitter or TwitterCredentials()
        values = [self.webhook_secret, self.facebook_page_token, self.googleplus_token,
                  tw.bearer_token, tw.consumer_key, tw.consumer_secret, tw.access_token,
                  tw.access_secret, self.admin_token]
        for url in (self.redis_url, self.broker_url, *self.websub_hubs):
            password = urlsplit(url).password if url else None
            values.append(password)
        return [v for v in values if v]

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def broker(self) -> str | None:
        return self.broker_url or self.redis_url

    @property
    def enabled_networks(self) -> tuple[str, ...]:
        on = {
            "twitter": self.twitter is not None,
            "facebook": self.facebook_page_id is not None,
            "googleplus": self.googleplus_token is not None,
        }
        return tuple(n for n in NETWORKS if on[n])

    def require_redis(self) -> str:
        if not self.redis_url:
            raise ConfigError("SYNDICATE_REDIS_URL is required (e.g. redis://127.0.0.1:6379/0)")
        return self.redis_url

    def require_admin_token(self) -> str:
        if not self.admin_token:
            raise ConfigError(
                "SYNDICATE_ADMIN_TOKEN is required for the operator surface (`syndicate run` "
                "creates one in the data directory)")
        return self.admin_token

    def require_secret(self) -> str:
        if not self.webhook_secret:
            raise ConfigError(
                "SYNDICATE_WEBHOOK_SECRET is required (a Standard Webhooks secret: whsec_ + base64)"
            )
        return self.webhook_secret


def validate_webhook_secret(secret: str) -> None:
    import base64
    import binascii

    if not secret.startswith("whsec_"):
        raise ConfigError("SYNDICATE_WEBHOOK_SECRET must start with whsec_")
    try:
        key = base64.b64decode(secret[len("whsec_") :] + "==", validate=False)
    except (binascii.Error, ValueError):
        raise ConfigError("SYNDICATE_WEBHOOK_SECRET is not valid base64 after whsec_") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(f"SYNDICATE_WEBHOOK_SECRET must decode to at least {MIN_SECRET_BYTES} "
                          "bytes (make one with `syndicate run`, or 32 random bytes in base64)")
    if len(set(key)) < 8:
        raise ConfigError("SYNDICATE_WEBHOOK_SECRET is not random (too few distinct bytes)")


MIN_SECRET_BYTES = 24


def _admin_token(env: Mapping[str, str]) -> str | None:
    token = env.get("SYNDICATE_ADMIN_TOKEN", "").strip() or None
    if token is not None and (len(token) < MIN_SECRET_BYTES or len(set(token)) < 8
                              or not token.isprintable() or " " in token):
        raise ConfigError(f"SYNDICATE_ADMIN_TOKEN must be at least {MIN_SECRET_BYTES} random "
                          "printable characters without spaces (e.g. `python -c 'import secrets; "
                          "print(secrets.token_urlsafe(32))'`)")
    return token


def public_hub_url(url: str) -> str:
    """A hub URL as feeds advertise it and logs show it: without `user:password@`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment for a child process (the worker `run` starts) carrying `settings`.

    Values that `run` decided itself (embedded Redis URL, created secret, public URL) are written
    back so the child's `Settings.from_env()` sees the same configuration.
    """
    env = dict(os.environ)
    decided = {
        "SYNDICATE_REDIS_URL": settings.redis_url,
        "SYNDICATE_WEBHOOK_SECRET": settings.webhook_secret,
        "SYNDICATE_PUBLIC_URL": settings.public_url,
        "SYNDICATE_DATA_DIR": str(settings.data_dir),
        "SYNDICATE_LOG_JSON": "1" if settings.log_json else None,
        "SYNDICATE_ADMIN_TOKEN": settings.admin_token,
    }
    env.update({k: v for k, v in decided.items() if v})
    return env
