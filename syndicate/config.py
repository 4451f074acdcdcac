"""The one place that reads the environment: `Settings.from_env()`, built once at start-up and
passed down.

Each setting is one field below: its variable (the alias), its default and its bounds, checked
by pydantic. A bad value is a `ConfigError` whose message is the one line an operator sees.
The social networks read their own variables from `Settings.environ` (worker/social/: a network
is one module, settings included).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from syndicate.connections import parse_sentinel

MIN_SECRET_BYTES = 24
PREFIX = "SYNDICATE_"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def checked_url(value: str) -> str:
    """An http(s) base URL without its trailing slash (paths are appended to it)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


def _broker_url(value: str | None) -> str | None:
    if not value:
        return None
    scheme = urlsplit(value).scheme
    if scheme not in (
        "redis",
        "rediss",
        "unix",
        "amqp",
        "amqps",
        "pyamqp",
        "redis+socket",
        "sentinel",
    ):
        raise ValueError(f"has an unsupported scheme {scheme!r}")
    if scheme == "sentinel":
        parse_sentinel(value)  # says what is malformed, at start-up
    return value


def _blank_is_none(value: Any) -> Any:
    return (
        None
        if isinstance(value, str) and not value.strip()
        else (value.strip() if isinstance(value, str) else value)
    )


def _hubs(value: Any) -> Any:
    """Comma-separated hub URLs, each an http(s) URL, kept as written."""
    if isinstance(value, str):
        hubs = [h.strip() for h in value.split(",") if h.strip()]
        for hub in hubs:
            checked_url(hub)
        return tuple(dict.fromkeys(hubs))
    return value


def weakness(value: str | bytes, min_distinct: int) -> str | None:
    """Why `value` (a token, or a secret's key bytes) cannot have come from a random generator:
    too few distinct characters, a short pattern repeated (`abcdefgh` three times), or mostly a
    run (`aaaa`, `abcd...`). None when none of these holds."""
    seq: list[int] = list(value.encode() if isinstance(value, str) else value)
    if len(set(seq)) < min_distinct:
        return f"is not random (fewer than {min_distinct} distinct characters)"
    for period in range(1, len(seq) // 2 + 1):
        if all(seq[i] == seq[i + period] for i in range(len(seq) - period)):
            return "is not random (a short pattern repeated)"
    steps = sum(abs(a - b) <= 1 for a, b in zip(seq, seq[1:]))
    if steps * 4 > 3 * (len(seq) - 1):
        return "is not random (mostly a run of neighbouring characters)"
    return None


def _names(value: Any) -> Any:
    """Comma-separated lower-case names (networks), without repeats."""
    if isinstance(value, str):
        names = [n.strip().lower() for n in value.split(",") if n.strip()]
        for name in names:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
                raise ValueError(f"must be network names separated by commas, got {name!r}")
        return tuple(dict.fromkeys(names))
    return value


def _trusted_proxies(value: Any) -> Any:
    """Comma-separated IP addresses or networks whose X-Forwarded-For/-Proto are believed."""
    if isinstance(value, str):
        value = [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, (list, tuple)):
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"must be IP addresses or networks (CIDR), got {proxy!r}"
                ) from None
        return tuple(value)
    return value


def _webhook_secret(secret: str | None) -> str | None:
    if secret is None:
        return None
    if not secret.startswith("whsec_"):
        raise ValueError("must start with whsec_")
    try:
        key = base64.b64decode(secret[len("whsec_") :] + "==", validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64 after whsec_") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"must decode to at least {MIN_SECRET_BYTES} bytes (make one with "
            "`syndicate run`, or 32 random bytes in base64)"
        )
    reason = weakness(key, 16)
    if reason:
        raise ValueError(reason)
    return secret


def _email(value: str) -> str:
    if not re.fullmatch(r"[^@\s<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", value):
        raise ValueError("must be an email address")
    return value


def _admin_token(token: str | None) -> str | None:
    if token is not None and (
        len(token) < MIN_SECRET_BYTES
        or len(set(token)) < 8
        or not token.isprintable()
        or " " in token
    ):
        raise ValueError(
            f"must be at least {MIN_SECRET_BYTES} random printable characters "
            "without spaces (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`)"
        )
    reason = token and weakness(token, 10)
    if reason:
        raise ValueError(
            f"{reason}: make one with `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`"
        )
    return token


def _indexnow_key(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z0-9-]{8,128}", value):
        raise ValueError("must be 8 to 128 characters of a-z, A-Z, 0-9 and -")
    return value


def _header_token(value: str | None) -> str | None:
    if value is not None and (
        not value.isascii() or not value.isprintable() or " " in value or len(value) > 1_000
    ):
        raise ValueError("must be printable ASCII without spaces (the whole Authorization value)")
    return value


def _ghost_secret(secret: str | None) -> str | None:
    """The secret of the Ghost webhooks (Ghost keeps at most 191 characters): as strong as the
    operator token."""
    if secret is not None and len(secret) > 191:
        raise ValueError("must be at most 191 characters (Ghost's limit)")
    return _admin_token(secret)


Text = Annotated[str | None, BeforeValidator(_blank_is_none)]
Url = Annotated[str, BeforeValidator(_blank_is_none), AfterValidator(checked_url)]
Broker = Annotated[str | None, BeforeValidator(_blank_is_none), AfterValidator(_broker_url)]
Secret = Annotated[str | None, BeforeValidator(_blank_is_none), AfterValidator(_webhook_secret)]
Token = Annotated[str | None, BeforeValidator(_blank_is_none), AfterValidator(_admin_token)]


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
    ghost_webhook_secret: Annotated[
        str | None, BeforeValidator(_blank_is_none), AfterValidator(_ghost_secret)
    ] = Field(None, validation_alias="SYNDICATE_GHOST_WEBHOOK_SECRET", repr=False)
    public_url: Annotated[
        str | None,
        BeforeValidator(_blank_is_none),
        AfterValidator(lambda v: checked_url(v) if v else None),
    ] = _setting(None, "PUBLIC_URL")
    site_url: Url = _setting("https://news.example.org", "SITE_URL")
    site_title: Text = _setting("Newsroom", "SITE_TITLE")
    site_description: Text = _setting("Latest articles from the newsroom", "SITE_DESCRIPTION")
    site_language: Text = _setting("en", "SITE_LANGUAGE")
    feed_size: int = _setting(50, "FEED_SIZE", ge=1, le=1000)
    websub_hubs: Annotated[tuple[str, ...], BeforeValidator(_hubs)] = _setting((), "WEBSUB_HUBS")
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
    activitypub_icon: Annotated[
        str | None,
        BeforeValidator(_blank_is_none),
        AfterValidator(lambda v: checked_url(v) if v else None),
    ] = _setting(None, "ACTIVITYPUB_ICON")
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
    podcast_owner_email: Annotated[
        str | None,
        BeforeValidator(_blank_is_none),
        AfterValidator(lambda v: _email(v) if v else None),
    ] = _setting(None, "PODCAST_OWNER_EMAIL")
    podcast_image: Annotated[
        str | None,
        BeforeValidator(_blank_is_none),
        AfterValidator(lambda v: checked_url(v) if v else None),
    ] = _setting(None, "PODCAST_IMAGE")
    podcast_category: Text = _setting("News", "PODCAST_CATEGORY")
    podcast_explicit: bool = _setting(False, "PODCAST_EXPLICIT")
    # Reverse proxies whose X-Forwarded-For/-Proto the API believes (IPs or CIDR networks).
    trusted_proxies: Annotated[tuple[str, ...], BeforeValidator(_trusted_proxies)] = _setting(
        ("127.0.0.1", "::1"), "TRUSTED_PROXIES"
    )
    # The API's in-memory copies of feed bytes (and their gzip), in MB.
    body_cache_mb: int = _setting(64, "BODY_CACHE_MB", ge=1, le=65_536)
    # Search engines and podcast apps (CONTRACT §9): the news sitemap's publication name
    # (default the site title), IndexNow (off without a key) and Podping (off without a token).
    news_publication: Text = _setting(None, "NEWS_PUBLICATION")
    indexnow_key: Annotated[
        str | None, BeforeValidator(_blank_is_none), AfterValidator(_indexnow_key)
    ] = Field(None, validation_alias="SYNDICATE_INDEXNOW_KEY", repr=False)
    indexnow_endpoint: Url = _setting("https://api.indexnow.org/indexnow", "INDEXNOW_ENDPOINT")
    indexnow_key_location: Annotated[
        str | None,
        BeforeValidator(_blank_is_none),
        AfterValidator(lambda v: checked_url(v) if v else None),
    ] = _setting(None, "INDEXNOW_KEY_LOCATION")  # default {SITE_URL}/{key}.txt
    indexnow_window_ms: int = _setting(2000, "INDEXNOW_WINDOW_MS", ge=0, le=600_000)
    podping_token: Annotated[
        str | None, BeforeValidator(_blank_is_none), AfterValidator(_header_token)
    ] = Field(None, validation_alias="SYNDICATE_PODPING_TOKEN", repr=False)
    podping_url: Url = _setting("https://podping.cloud", "PODPING_URL")
    # The networks whose share-intent links articles get (comma-separated; worker/social checks
    # the names). Unset: the networks that are on.
    share_links: Annotated[tuple[str, ...] | None, BeforeValidator(_names)] = _setting(
        None, "SHARE_LINKS"
    )
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
