"""Every outbound fetch of a URL that came from outside (an article's image, and the fediverse
and WebSub-hub callers to come) goes through `fetch` here, never through a bare session.

What it guarantees (the SSRF guard):

* The URL is parsed once, by urllib3's `parse_url` (the parser requests itself uses), with
  intake's rules (`feeds.validation.parse_outside_url`: http(s) only, no backslash, no
  credentials, a host); what is sent is rebuilt from that parse, so no second parser can read
  another host out of it.
* The host is resolved once (`getaddrinfo`); every address it resolves to must be public:
  `ipaddress`'s `is_global`, and not multicast, reserved or private, with IPv4 inside IPv6
  (`::ffff:a.b.c.d`, 6to4, NAT64) judged as the IPv4 it carries. So loopback (`localhost`,
  `127.1`, `0x7f000001`, `[::1]`), private, link-local (`169.254.169.254`, cloud metadata),
  CGNAT (100.64/10), unspecified and reserved addresses are refused (`Refused`) before any
  connection is made.
* The connection goes to exactly that address (`_PinnedAdapter`: the connection pool's host is
  the IP), with the `Host` header, TLS SNI and certificate verification still for the original
  hostname; nothing resolves the name a second time (no DNS rebinding between check and use).
* Redirects are not followed unless asked for, and then each hop is parsed, resolved and checked
  again (at most `MAX_REDIRECTS`); the body is read up to `max_bytes` (`TooLarge` past that) and
  the whole exchange within about `timeout` seconds (`TooSlow`); no proxy, netrc or retry.

`SYNDICATE_ALLOW_PRIVATE_ADDRESSES=on` (`allow_private=True`) lifts only the address check, for
tests against loopback servers on one machine: never in production. Resolution and pinning stay.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urljoin

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.util import Url
from urllib3.util.connection import allowed_gai_family
from urllib3.util.retry import Retry

from feeds.validation import parse_outside_url
from worker.http import CONNECT_TIMEOUT_S, USER_AGENT

log = logging.getLogger("syndicate.outbound")

MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)
DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # DNS64 synthesises these for IPv4-only hosts
_getaddrinfo = socket.getaddrinfo  # the one resolver call (tests put a fake DNS here)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundError(requests.RequestException):
    """A guarded fetch did not complete (a `requests.RequestException`, so callers that catch
    those catch this)."""


class Refused(OutboundError):
    """The URL, or an address its host resolves to, may not be fetched. Never worth a retry."""


class TooLarge(OutboundError):
    """The body is longer than `max_bytes`."""


class TooSlow(OutboundError):
    """The exchange took longer than `timeout`."""


@dataclass(frozen=True)
class Fetched:
    """A fetched answer: the URL actually fetched (after any redirects), status, headers, body."""

    url: str
    status_code: int
    headers: CaseInsensitiveDict[str]
    content: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def checked_url(url: str) -> Url:
    """The URL as urllib3 parses it, by intake's rules; `Refused` says why not."""
    try:
        return parse_outside_url(url)
    except ValueError as exc:
        raise Refused(f"URL {exc}") from None


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, the port made explicit; `Refused` if unusable."""
    parts = checked_url(url)
    scheme = (parts.scheme or "").lower()
    return scheme, (parts.host or "").lower(), parts.port or DEFAULT_PORTS[scheme]


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs name the same scheme, host and port (False if either is unusable)."""
    try:
        return origin(url) == origin(other)
    except Refused:
        return False


def is_public(ip: IPAddress) -> bool:
    """Whether an address may be fetched from: globally routable unicast. IPv4 carried in IPv6
    (mapped, 6to4, NAT64) is judged as that IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or ip.sixtofour
        if carried is None and ip in _NAT64:
            carried = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if carried is not None:
            return is_public(carried)
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
    )


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The one address to connect to for `host`: resolved once, every answer checked (a name
    with any non-public answer is refused), the first answer used."""
    name = host[1:-1] if host.startswith("[") else host
    try:
        answers = _getaddrinfo(name, port, allowed_gai_family(), socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise requests.ConnectionError(f"cannot resolve {name!r}: {exc}") from None
    addresses = []
    for family, _type, _proto, _canon, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip.is_multicast or ip.is_unspecified or not (allow_private or is_public(ip)):
            log.warning("outbound fetch refused: %s resolves to %s", name, ip)
            raise Refused(f"{name} resolves to {ip}, which is not a public address")
        addresses.append(ip)
    if not addresses:
        raise requests.ConnectionError(f"{name!r} has no IPv4 or IPv6 address")
    first = addresses[0]
    return f"[{first}]" if first.version == 6 else str(first)


class _PinnedAdapter(HTTPAdapter):
    """Connects to `address` for requests to `host` only: the pool is keyed by the address,
    while SNI and certificate verification (`server_hostname`, `assert_hostname`) stay with the
    hostname. Needs requests >= 2.32.2 (`build_connection_pool_key_attributes`); older versions
    call `get_connection`, which refuses, so the fetch fails closed instead of going unpinned."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(
            max_retries=Retry(total=0, connect=0, read=0, redirect=0),
            pool_connections=1,
            pool_maxsize=1,
        )
        self._host = host.strip("[]").lower()
        self._address = address

    def build_connection_pool_key_attributes(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        cert: str | tuple[str, str] | None = None,
    ) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if (host_params.get("host") or "").lower() != self._host:
            raise Refused(f"the request is not for {self._host}, the host it was checked for")
        host_params["host"] = self._address
        if host_params.get("scheme") == "https":
            tls = cast(dict[str, Any], pool_kwargs)  # urllib3 pool kwargs the stubs do not list
            tls["server_hostname"] = self._host
            tls["assert_hostname"] = self._host
        return host_params, pool_kwargs

    def get_connection(self, url: Any, proxies: Any = None) -> Any:
        raise Refused("this version of requests cannot pin a connection (requests >= 2.32.2)")


def fetch(
    url: str,
    *,
    allow_private: bool,
    max_bytes: int,
    timeout: float,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    allow_redirects: bool = False,
    verify: bool | str = True,
) -> Fetched:
    """Fetch an outside-supplied URL through the guard (module docstring): `Refused` for a URL or
    an address that may not be fetched, `TooLarge`, `TooSlow`, or requests' own errors
    (connection, TLS, timeouts); every one a `requests.RequestException`. A redirect is
    answered as is unless `allow_redirects` (GET and HEAD only), and then each hop is checked
    like the first. `verify`: as requests' (a CA bundle path for tests)."""
    deadline = time.monotonic() + timeout
    for _hop in range(MAX_REDIRECTS + 1):
        answer = _fetch_once(
            url,
            allow_private=allow_private,
            max_bytes=max_bytes,
            deadline=deadline,
            timeout=timeout,
            method=method,
            headers=headers,
            data=data,
            verify=verify,
        )
        location = answer.headers.get("location")
        if not (
            allow_redirects
            and method in ("GET", "HEAD")
            and answer.status_code in REDIRECTS
            and location
        ):
            return answer
        url = urljoin(answer.url, location)  # checked like the first by the next _fetch_once
    raise Refused(f"more than {MAX_REDIRECTS} redirects")


def _fetch_once(
    url: str,
    *,
    allow_private: bool,
    max_bytes: int,
    deadline: float,
    timeout: float,
    method: str,
    headers: Mapping[str, str] | None,
    data: bytes | None,
    verify: bool | str,
) -> Fetched:
    """One exchange, no redirect followed: the URL checked, its host resolved and checked, the
    connection pinned to that address, the body read within `max_bytes` and the deadline."""
    parts = checked_url(url)
    scheme, host = (parts.scheme or "").lower(), parts.host or ""
    port = parts.port or DEFAULT_PORTS[scheme]
    address = resolve(host, port, allow_private=allow_private)
    # What is sent is rebuilt from urllib3's parse: no fragment, no userinfo, nothing between.
    target = Url(
        scheme=scheme, host=host, port=parts.port, path=parts.path or "/", query=parts.query
    ).url
    left = deadline - time.monotonic()
    if left <= 0:
        raise TooSlow(f"no time left for {target}")
    sent = {
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        **(headers or {}),
        "Host": parts.netloc or host,
    }
    session = _pinned_session(host, address)
    try:
        with session.request(
            method,
            target,
            headers=sent,
            data=data,
            stream=True,
            allow_redirects=False,
            verify=verify,
            timeout=(min(CONNECT_TIMEOUT_S, left), left),
        ) as r:
            body = _read_body(r, target, max_bytes, deadline, timeout)
            return Fetched(target, r.status_code, CaseInsensitiveDict(r.headers), body)
    except urllib3.exceptions.ReadTimeoutError as exc:  # reading the body: urllib3's own errors
        raise requests.ReadTimeout(str(exc)) from None
    except urllib3.exceptions.HTTPError as exc:
        raise requests.ConnectionError(f"{type(exc).__name__}: {exc}") from None
    finally:
        session.close()


def _pinned_session(host: str, address: str) -> requests.Session:
    """A session of one exchange that connects to `address` only, whatever the URL's host."""
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment, no .netrc credentials
    session.mount("http://", _PinnedAdapter(host, address))
    session.mount("https://", _PinnedAdapter(host, address))
    return session


def _read_body(
    r: requests.Response, target: str, max_bytes: int, deadline: float, timeout: float
) -> bytes:
    """The body as it arrives, refused past `max_bytes` (declared or read) or the deadline."""
    declared = r.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"{target} declares {declared} bytes; at most {max_bytes}")
    body = bytearray()
    while chunk := r.raw.read1(64 * 1024, decode_content=True):  # what has arrived
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge(f"{target} is longer than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise TooSlow(f"{target} took longer than {timeout:g} s")
    return bytes(body)


def deliver(
    url: str,
    *,
    data: bytes,
    headers: Mapping[str, str],
    allow_private: bool,
    max_bytes: int,
    timeout: float,
) -> tuple[int, str, bool]:
    """POST one delivery (a hub's, a fediverse inbox's) through the guard: (status, reason,
    refused): status 0 when nothing answered or the guard refused the URL, and the reason as
    a delivery records it (no URL, no secret)."""
    try:
        answer = fetch(
            url,
            method="POST",
            data=data,
            headers=headers,
            allow_private=allow_private,
            max_bytes=max_bytes,
            timeout=timeout,
        )
    except Refused as exc:
        return 0, f"refused: {str(exc).split(':')[0]}", True
    except requests.RequestException as exc:
        return 0, f"no answer ({type(exc).__name__})", False
    return answer.status_code, f"HTTP {answer.status_code}", False
