"""The one place that reads the environment: `Settings.from_env()`, built once at start-up and
passed down.

Each setting is one field below: its variable (the alias), its default and its bounds, checked
by pydantic with the value types of syndicate/values.py (what a valid URL, secret or token is).
A bad value is a `ConfigError` whose message is the one line an operator sees.
The social networks read their own variables from `Settings.environ` (worker/social/: a network
is one module, settings included).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from syndicate.values import (
    Broker,
    Email,
    GhostSecret,
    HeaderToken,
    Hubs,
    IndexNowKey,
    Names,
    OptionalUrl,
    Proxies,
    Secret,
    Text,
    Token,
    Url,
)

PREFIX = "SYNDICATE_"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _setting(default: Any, name: str, **bounds: Any) -> Any:
    return Field(default, validation_alias=PREFIX + name, **bounds)


class Settings(BaseModel):
    model_config = ConfigDict(
        frozen=True, populate_by_name=True, extra="ignore", arbitrary_types_allowed=True
    )

    redis_url: Broker = _setting(None, "REDIS_URL")
    broker_url: Broker = _setting(None, "BROKER_URL")
    data_dir: Path = _setting(Path("./var"), "DATA_DIR")
    webhook_secret: Secret = Field(None, validation_alias="SYNDICATE_WEBHOOK_SECRET", repr=False)
    admin_token: Token = Field(None, validation_alias="SYNDICATE_ADMIN_TOKEN", repr=False)
    # the secret of the Ghost webhooks POST /integrations/ghost accepts (api/ghost.py); off: 404
    ghost_webhook_secret: GhostSecret = Field(
        None, validation_alias="SYNDICATE_GHOST_WEBHOOK_SECRET", repr=False
    )
    public_url: OptionalUrl = _setting(None, "PUBLIC_URL")
    site_url: Url = _setting("https://news.example.org", "SITE_URL")
    site_title: Text = _setting("Newsroom", "SITE_TITLE")
    site_description: Text = _setting("Latest articles from the newsroom", "SITE_DESCRIPTION")
    site_language: Text = _setting("en", "SITE_LANGUAGE")
    feed_size: int = _setting(50, "FEED_SIZE", ge=1, le=1000)
    websub_hubs: Hubs = _setting((), "WEBSUB_HUBS")
    # on: {PUBLIC_URL}/hub is our own WebSub hub (api/hub.py, worker/hub.py), within these bounds
    websub_hub: bool = _setting(False, "WEBSUB_HUB")
    hub_max_subscriptions: int = _setting(10_000, "HUB_MAX_SUBSCRIPTIONS", ge=1, le=1_000_000)
    hub_max_per_host: int = _setting(100, "HUB_MAX_PER_HOST", ge=1, le=1_000_000)
    # on: every feed is a followable fediverse account (feeds/activitypub.py, api/fediverse.py,
    # worker/fediverse.py), within these bounds; the icon (a URL) is every account's avatar
    activitypub: bool = _setting(False, "ACTIVITYPUB")
    activitypub_max_followers: int = _setting(
        100_000, "ACTIVITYPUB_MAX_FOLLOWERS", ge=1, le=10_000_000
    )
    activitypub_follows_per_host: int = _setting(
        100, "ACTIVITYPUB_FOLLOWS_PER_HOST", ge=1, le=1_000_000
    )  # new follows an hour
    activitypub_icon: OptionalUrl = _setting(None, "ACTIVITYPUB_ICON")
    visibility_timeout: int = _setting(60, "VISIBILITY_TIMEOUT", ge=5, le=86400)
    deleted_entry_days: int = _setting(7, "DELETED_ENTRY_DAYS", ge=0, le=365)
    http_timeout: float = _setting(10.0, "HTTP_TIMEOUT", ge=1, le=120)
    # on: outside-supplied URLs may resolve to loopback/private addresses (worker/outbound.py):
    # for tests on one machine, never in production
    allow_private_addresses: bool = _setting(False, "ALLOW_PRIVATE_ADDRESSES")
    retry_base_ms: int = _setting(2000, "RETRY_BASE_MS", ge=10, le=600_000)
    # The shortest time between two renders of one feed (changes meanwhile are rendered together).
    render_interval_ms: int = _setting(50, "RENDER_INTERVAL_MS", ge=0, le=60_000)
    log_json: bool = _setting(False, "LOG_JSON")
    body_timeout: float = _setting(10.0, "BODY_TIMEOUT", ge=1, le=300)
    event_retention_days: int = _setting(30, "EVENT_RETENTION_DAYS", ge=1, le=3650)
    max_header_bytes: int = _setting(16_384, "MAX_HEADER_BYTES", ge=1_024, le=1_048_576)
    header_timeout: float = _setting(10.0, "HEADER_TIMEOUT", ge=1, le=300)
    idle_timeout: float = _setting(5.0, "IDLE_TIMEOUT", ge=1, le=300)
    max_connections: int = _setting(1_000, "MAX_CONNECTIONS", ge=1, le=100_000)
    access_log: bool = _setting(True, "ACCESS_LOG")
    export_dir: Path | None = _setting(None, "EXPORT_DIR")  # static copies for nginx or a CDN
    # the audio feed as podcast apps see it (`check` warns while the owner's email is missing)
    podcast_owner_name: Text = _setting(None, "PODCAST_OWNER_NAME")
    podcast_owner_email: Email = _setting(None, "PODCAST_OWNER_EMAIL")
    podcast_image: OptionalUrl = _setting(None, "PODCAST_IMAGE")
    podcast_category: Text = _setting("News", "PODCAST_CATEGORY")
    podcast_explicit: bool = _setting(False, "PODCAST_EXPLICIT")
    # Reverse proxies whose X-Forwarded-For/-Proto the API believes (IPs or CIDR networks).
    trusted_proxies: Proxies = _setting(("127.0.0.1", "::1"), "TRUSTED_PROXIES")
    # The API's in-memory copies of feed bytes (and their gzip), in MB.
    body_cache_mb: int = _setting(64, "BODY_CACHE_MB", ge=1, le=65_536)
    # Search engines and podcast apps (CONTRACT §9): the news sitemap's publication name
    # (default the site title), IndexNow (off without a key) and Podping (off without a token).
    news_publication: Text = _setting(None, "NEWS_PUBLICATION")
    indexnow_key: IndexNowKey = Field(None, validation_alias="SYNDICATE_INDEXNOW_KEY", repr=False)
    indexnow_endpoint: Url = _setting("https://api.indexnow.org/indexnow", "INDEXNOW_ENDPOINT")
    # where the key file is served; default {SITE_URL}/{key}.txt
    indexnow_key_location: OptionalUrl = _setting(None, "INDEXNOW_KEY_LOCATION")
    indexnow_window_ms: int = _setting(2000, "INDEXNOW_WINDOW_MS", ge=0, le=600_000)
    podping_token: HeaderToken = Field(None, validation_alias="SYNDICATE_PODPING_TOKEN", repr=False)
    podping_url: Url = _setting("https://podping.cloud", "PODPING_URL")
    # The networks whose share-intent links articles get (comma-separated; worker/social checks
    # the names). Unset: the networks that are on.
    share_links: Names = _setting(None, "SHARE_LINKS")
    # Every SYNDICATE_* variable as given: what each network module reads its settings from.
    environ: Mapping[str, str] = Field(default_factory=dict, repr=False, exclude=True)

    @field_validator("redis_url")
    @classmethod
    def _redis_is_redis(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme.startswith(("amqp", "pyamqp")):
            raise ValueError("must be a redis:// URL")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mine = {k: v for k, v in env.items() if k.startswith(PREFIX)}
        values: dict[str, Any] = {
            k: v.strip() for k, v in mine.items() if v.strip()
        }  # blank: default
        for name in ("HTTP_TIMEOUT", "BODY_TIMEOUT", "HEADER_TIMEOUT", "IDLE_TIMEOUT"):
            raw = values.get(PREFIX + name)
            if raw is not None and not raw.strip().isdigit():
                raise ConfigError(f"{PREFIX}{name} must be a whole number of seconds, got {raw!r}")
        try:
            return cls.model_validate({**values, "environ": dict(mine)})
        except ValidationError as exc:
            raise ConfigError(one_line(exc)) from None

    @property
    def retry_base_s(self) -> float:
        return self.retry_base_ms / 1000

    def with_(self, **changes: Any) -> Settings:
        return self.model_copy(update=changes)

    @property
    def broker(self) -> str | None:
        return self.broker_url or self.redis_url

    def secret_values(self) -> list[str]:
        """Every configured secret, for masking (syndicate.logs.register_secrets): the core's,
        passwords in URLs, and any network variable named like a credential."""
        values = [self.webhook_secret, self.admin_token, self.ghost_webhook_secret]
        for url in (self.redis_url, self.broker_url, *self.websub_hubs):
            values.append(urlsplit(url).password if url else None)
        values += [
            v
            for k, v in self.environ.items()
            if any(w in k for w in ("TOKEN", "SECRET", "PASSWORD", "KEY"))
        ]
        return [v for v in values if v]

    def require_redis(self) -> str:
        if not self.redis_url:
            raise ConfigError("SYNDICATE_REDIS_URL is required (e.g. redis://127.0.0.1:6379/0)")
        return self.redis_url

    def require_secret(self) -> str:
        if not self.webhook_secret:
            raise ConfigError(
                "SYNDICATE_WEBHOOK_SECRET is required (a Standard Webhooks secret: whsec_ + base64)"
            )
        return self.webhook_secret

    def require_admin_token(self) -> str:
        if not self.admin_token:
            raise ConfigError(
                "SYNDICATE_ADMIN_TOKEN is required for the operator surface (`syndicate run` "
                "creates one in the data directory)"
            )
        return self.admin_token


def one_line(exc: ValidationError) -> str:
    """The first error as `VARIABLE message` (the variable is the field's alias)."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    name = field if field.startswith(PREFIX) or not field else PREFIX + field.upper()
    message = error["msg"].removeprefix("Value error, ")
    message = message[0].lower() + message[1:] if message else "is invalid"
    secret = any(word in name for word in ("SECRET", "TOKEN", "PASSWORD", "KEY"))
    if "got" not in message and not secret:  # a secret is never echoed, even a bad one
        message += f", got {public_hub_url(str(error.get('input')))!r}"
    elif secret:
        message = message.split(", got ")[0]
    if not name:  # a rule over several variables names them itself
        return error["msg"].removeprefix("Value error, ")
    return f"{name}: {message}"


def public_hub_url(url: str) -> str:
    """A hub URL as feeds advertise it and logs show it: without `user:password@`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment for a child process (the worker `run` starts) carrying `settings`.

    Values that `run` decided itself (embedded Redis URL, created secrets, public URL) are
    written back so the child's `Settings.from_env()` sees the same configuration.
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
