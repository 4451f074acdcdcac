"""What a valid setting value is: http(s) URLs, broker URLs, secrets and tokens that could have
come from a random generator, lists of hubs, networks and proxies. The pydantic types at the end
(`Text`, `Url`, `Secret`, `Token`, ...) declare the fields of `Settings` (syndicate/config.py)
and of each network's settings (worker/social/); a failed check is a `ValueError` whose message
`config.one_line` makes the operator's one line.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator

from syndicate.connections import parse_sentinel

MIN_SECRET_BYTES = 24


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


def _optional(check: Callable[[str], str]) -> AfterValidator:
    return AfterValidator(lambda v: check(v) if v else None)


# A blank variable is an unset one: each type below strips its value first.
Blank = BeforeValidator(_blank_is_none)
Text = Annotated[str | None, Blank]
Url = Annotated[str, Blank, AfterValidator(checked_url)]
OptionalUrl = Annotated[str | None, Blank, _optional(checked_url)]
Email = Annotated[str | None, Blank, _optional(_email)]
Broker = Annotated[str | None, Blank, AfterValidator(_broker_url)]
Secret = Annotated[str | None, Blank, AfterValidator(_webhook_secret)]
Token = Annotated[str | None, Blank, AfterValidator(_admin_token)]
GhostSecret = Annotated[str | None, Blank, AfterValidator(_ghost_secret)]
IndexNowKey = Annotated[str | None, Blank, AfterValidator(_indexnow_key)]
HeaderToken = Annotated[str | None, Blank, AfterValidator(_header_token)]
Hubs = Annotated[tuple[str, ...], BeforeValidator(_hubs)]
Proxies = Annotated[tuple[str, ...], BeforeValidator(_trusted_proxies)]
Names = Annotated[tuple[str, ...] | None, BeforeValidator(_names)]
