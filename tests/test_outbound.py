"""SSRF: the outbound guard (worker/outbound.py) against real loopback servers (plain HTTP and
TLS), intake's URL rules (feeds/validation.py), Bluesky's thumbnail fetch through the guard, and
one refused event through the real service.

Nothing here mocks requests: every fetch is a real connection. Where a test needs a hostname
that resolves to this machine (news.example.org does not resolve here), it puts a fake DNS in
the guard's one resolver call (`outbound._getaddrinfo`); urllib3 never resolves the name itself,
which is what proves the connection is pinned to the checked address.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from feeds.article import Article
from feeds.validation import validate_event
from tests.support import load_fixture, signed_headers
from worker import outbound
from worker.social.bluesky import Bluesky, BlueskySettings
from worker.store import keys

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
SITE = "news.example.org"


class Recorder:
    """A loopback HTTP(S) server that records every request: (method, path, Host header, SNI)."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.seen: list[dict[str, Any]] = []
        self.sni: list[str | None] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(
                self,
                status: int,
                body: bytes,
                headers: dict[str, str] | None = None,
                length: bool = True,
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                size = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(size) if size else b""
                recorder.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "host": self.headers.get("host"),
                        "body": body,
                        "auth": self.headers.get("authorization"),
                    }
                )
                path = self.path.split("?")[0]
                if path == "/image.jpg":
                    self._answer(200, IMAGE, {"Content-Type": "image/png"})
                elif path == "/big":
                    self._answer(200, b"x" * 5000, {"Content-Type": "image/png"})
                elif path == "/big-unannounced":
                    self._answer(200, b"x" * 5000, {"Content-Type": "image/png"}, length=False)
                elif path == "/big-chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for _ in range(5):
                        self.wfile.write(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                elif path == "/slow":
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    for _ in range(100):
                        try:
                            self.wfile.write(b"x")
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(0.2)
                elif path == "/redirect":
                    target = self.path.split("?to=", 1)[1]
                    self._answer(302, b"", {"Location": target})
                elif path == "/xrpc/com.atproto.server.createSession":
                    self._answer(
                        200,
                        json.dumps(
                            {
                                "did": "did:plc:test",
                                "handle": "n.test",
                                "accessJwt": "access",
                                "refreshJwt": "refresh",
                            }
                        ).encode(),
                        {"Content-Type": "application/json"},
                    )
                elif path == "/xrpc/com.atproto.repo.uploadBlob":
                    self._answer(
                        200,
                        json.dumps(
                            {
                                "blob": {
                                    "$type": "blob",
                                    "ref": {"$link": "bafkrei"},
                                    "mimeType": self.headers.get("content-type"),
                                    "size": len(body),
                                }
                            }
                        ).encode(),
                        {"Content-Type": "application/json"},
                    )
                else:
                    self._answer(404, b"not here")

            do_GET = do_POST = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if context is not None:

            def remember(sock: Any, name: str | None, ctx: Any) -> None:
                recorder.sni.append(name)

            context.sni_callback = remember
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def paths(self) -> list[str]:
        return [s["path"] for s in self.seen]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def web() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def dns(monkeypatch) -> dict[str, Any]:
    """A fake DNS for the guard's one resolver call: names in `answers` resolve to the given
    addresses, anything else as the system resolves it; `asked` counts the look-ups."""
    real = socket.getaddrinfo
    fake: dict[str, Any] = {"answers": {}, "asked": []}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        fake["asked"].append(host)
        if host in fake["answers"]:
            out = []
            for address in fake["answers"][host]:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
                out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
            return out
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(outbound, "_getaddrinfo", getaddrinfo)
    return fake


def get(url: str, allow_private: bool = False, **kw: Any) -> outbound.Fetched:
    kw.setdefault("max_bytes", 100_000)
    kw.setdefault("timeout", 5)
    return outbound.fetch(url, allow_private=allow_private, **kw)


# (a) the guard ------------------------------------------------------------------------------------

REFUSED = [
    "http://localhost:{port}/image.jpg",  # a name that resolves to 127.0.0.1
    "http://127.1:{port}/image.jpg",
    "http://127.0.0.1:{port}/image.jpg",
    "http://[::1]:{port}/image.jpg",
    "http://0x7f000001:{port}/image.jpg",
    "http://2130706433:{port}/image.jpg",
    "http://[::ffff:127.0.0.1]:{port}/image.jpg",
    "http://[::ffff:7f00:1]:{port}/image.jpg",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://[fc00::1]/",
    "http://100.64.0.1/",  # CGNAT
    "http://0.0.0.0:{port}/",
    "http://[::]:{port}/",  # unspecified (this machine on Linux)
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[64:ff9b::7f00:1]:{port}/",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]:{port}/",  # 6to4 of 127.0.0.1
    "http://127.0.0.1:{port}\\@news.example.org/image.jpg",  # the audit's backslash trick
    "http://127.0.0.1:{port}\\\\@news.example.org/image.jpg",
    "http://user:secret@news.example.org/image.jpg",  # credentials
    "http://user@localhost:{port}/image.jpg",
    "ftp://news.example.org/image.jpg",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{port}/",
    "http:///image.jpg",
    "http://news.example.org:99999/",
]


@pytest.mark.parametrize("template", REFUSED)
def test_private_and_tricky_urls_are_refused_before_any_connection(web, template):
    url = template.format(port=web.port)
    with pytest.raises(outbound.Refused):
        get(url)
    assert web.seen == []


def test_a_name_with_any_private_answer_is_refused(web, dns):
    dns["answers"]["mixed.test"] = ["93.184.215.14", "127.0.0.1"]
    dns["answers"]["inside.test"] = ["10.1.2.3"]
    for name in ("mixed.test", "inside.test"):
        with pytest.raises(outbound.Refused, match="not a public address"):
            get(f"http://{name}:{web.port}/image.jpg")
    assert web.seen == []


def test_the_guard_is_a_request_exception_and_checks_only_http_urls():
    assert issubclass(outbound.Refused, requests.RequestException)
    assert outbound.is_public(outbound.ipaddress.ip_address("93.184.215.14"))
    assert outbound.is_public(outbound.ipaddress.ip_address("2606:4700::1111"))
    assert outbound.is_public(outbound.ipaddress.ip_address("::ffff:93.184.215.14"))
    assert not outbound.is_public(outbound.ipaddress.ip_address("64:ff9b::a00:1"))  # 10.0.0.1


def test_a_loopback_server_is_reached_only_with_private_addresses_allowed(web):
    url = f"http://localhost:{web.port}/image.jpg"
    with pytest.raises(outbound.Refused):
        get(url)
    assert web.seen == []
    got = get(url, allow_private=True)
    assert (got.status_code, got.content, got.media_type) == (200, IMAGE, "image/png")
    [seen] = web.seen
    assert seen["host"] == f"localhost:{web.port}" and seen["path"] == "/image.jpg"


def test_the_connection_goes_to_the_checked_address_with_the_original_host(web, dns):
    # news.example.org does not resolve on this machine: only the pinned address can reach it
    dns["answers"][SITE] = ["127.0.0.1"]
    got = get(f"http://{SITE}:{web.port}/image.jpg?size=s#frag", allow_private=True)
    assert got.content == IMAGE
    assert dns["asked"] == [SITE]  # resolved once, by the guard; urllib3 never looked it up
    [seen] = web.seen
    assert seen["host"] == f"{SITE}:{web.port}"
    assert seen["path"] == "/image.jpg?size=s"  # the fragment is never sent
    assert got.url == f"http://{SITE}:{web.port}/image.jpg?size=s"


def test_an_ipv6_literal_is_pinned_with_its_brackets_in_the_host_header():
    class V6(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    try:
        server = V6(("::1", 0), BaseHTTPRequestHandler)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    hosts: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            hosts.append(self.headers.get("host"))
            self.send_response(204)
            self.end_headers()

    server.RequestHandlerClass = Handler
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        port = server.server_address[1]
        with pytest.raises(outbound.Refused):
            get(f"http://[::1]:{port}/")
        assert get(f"http://[::1]:{port}/", allow_private=True).status_code == 204
        assert hosts == [f"[::1]:{port}"]
    finally:
        server.shutdown()
        server.server_close()


# TLS: SNI and certificate verification for the original hostname ------------------------------------


def _certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is not installed")
    cert, key = tmp / f"{name}.pem", tmp / f"{name}.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_web(tmp_path) -> Iterator[tuple[Recorder, Path]]:
    cert, key = _certificate(tmp_path, SITE)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = Recorder(context)
    yield server, cert
    server.close()


def test_tls_keeps_sni_and_verifies_the_certificate_for_the_original_hostname(tls_web, dns):
    server, cert = tls_web
    dns["answers"][SITE] = ["127.0.0.1"]
    got = get(f"https://{SITE}:{server.port}/image.jpg", allow_private=True, verify=str(cert))
    assert got.content == IMAGE
    assert server.sni[-1] == SITE  # SNI is the hostname, not the address
    assert server.seen[-1]["host"] == f"{SITE}:{server.port}"
    # the certificate is checked against the URL's hostname (not the address connected to)
    dns["answers"]["other.example"] = ["127.0.0.1"]
    with pytest.raises(requests.exceptions.SSLError):
        get(f"https://other.example:{server.port}/image.jpg", allow_private=True, verify=str(cert))
    with pytest.raises(requests.exceptions.SSLError):  # nor is the IP taken for the name
        get(f"https://127.0.0.1:{server.port}/image.jpg", allow_private=True, verify=str(cert))


# Redirects, bytes and time --------------------------------------------------------------------------


def test_redirects_are_not_followed_unless_asked_and_then_each_hop_is_checked(web):
    base = f"http://127.0.0.1:{web.port}"
    got = get(f"{base}/redirect?to={base}/image.jpg", allow_private=True)
    assert got.status_code == 302 and web.paths() == [f"/redirect?to={base}/image.jpg"]
    got = get(f"{base}/redirect?to=/image.jpg", allow_private=True, allow_redirects=True)
    assert got.content == IMAGE and got.url == f"{base}/image.jpg"
    web.seen.clear()
    for hop in (
        f"http://user:pw@127.0.0.1:{web.port}/secret",
        f"http://127.0.0.1:{web.port}\\@{SITE}/secret",
        f"http://0.0.0.0:{web.port}/secret",
        "file:///etc/passwd",
    ):
        with pytest.raises(outbound.Refused):
            get(f"{base}/redirect?to={hop}", allow_private=True, allow_redirects=True)
    assert all(not p.startswith("/secret") for p in web.paths()), web.paths()
    with pytest.raises(outbound.Refused, match="redirects"):
        get(
            f"{base}/redirect?to={base}/redirect?to={base}/redirect?to={base}/redirect?to=/x",
            allow_private=True,
            allow_redirects=True,
        )


def test_bodies_are_bounded(web):
    base = f"http://127.0.0.1:{web.port}"
    for path in ("/big", "/big-unannounced", "/big-chunked"):
        with pytest.raises(outbound.TooLarge):
            get(base + path, allow_private=True, max_bytes=1000)
    for path in ("/big", "/big-unannounced", "/big-chunked"):
        assert get(base + path, allow_private=True, max_bytes=5000).content == b"x" * 5000


def test_a_slow_answer_is_cut_at_the_timeout(web):
    started = time.monotonic()
    with pytest.raises((outbound.TooSlow, requests.Timeout)):
        get(f"http://127.0.0.1:{web.port}/slow", allow_private=True, timeout=1)
    assert time.monotonic() - started < 3


# Bluesky's thumbnail goes through the guard -----------------------------------------------------------


def _bluesky(site: str, pds: str, allow_private: bool) -> Bluesky:
    config = BlueskySettings.model_validate(
        {
            "SYNDICATE_BLUESKY_HANDLE": "n.test",
            "SYNDICATE_BLUESKY_APP_PASSWORD": "app-pass",
            "SYNDICATE_BLUESKY_PDS": pds,
            "SYNDICATE_SITE_URL": site,
            "SYNDICATE_ALLOW_PRIVATE_ADDRESSES": "on" if allow_private else "off",
        }
    )
    return Bluesky(config, 2.0)


def _article(image_url: str) -> Article:
    raw = load_fixture("seed-article-published")["article"]
    raw["image"]["url"] = image_url
    return Article.from_payload(raw)


def test_bluesky_thumbnail_refuses_the_backslash_trick_and_private_sites(web):
    pds = f"http://127.0.0.1:{web.port}"
    trick = _article(f"http://127.0.0.1:{web.port}\\@{SITE}/image.jpg")
    assert _bluesky(f"http://{SITE}", pds, allow_private=True)._thumb(trick) is None
    local = _article(f"http://127.0.0.1:{web.port}/image.jpg")
    assert _bluesky(f"http://127.0.0.1:{web.port}", pds, allow_private=False)._thumb(local) is None
    # the same host on another port (or scheme) is another origin
    assert _bluesky("http://127.0.0.1:1", pds, allow_private=True)._thumb(local) is None
    assert _bluesky(f"https://127.0.0.1:{web.port}", pds, allow_private=True)._thumb(local) is None
    assert web.seen == []  # nothing was fetched, nothing uploaded


def test_bluesky_thumbnail_from_the_site_is_uploaded(web):
    base = f"http://127.0.0.1:{web.port}"
    blob = _bluesky(base + "/", base, allow_private=True)._thumb(_article(base + "/image.jpg"))
    assert blob and blob["size"] == len(IMAGE) and blob["mimeType"] == "image/png"
    image, login, upload = web.seen
    assert (image["path"], image["host"]) == ("/image.jpg", f"127.0.0.1:{web.port}")
    assert login["path"] == "/xrpc/com.atproto.server.createSession"
    assert upload["path"] == "/xrpc/com.atproto.repo.uploadBlob" and upload["body"] == IMAGE


# Intake: one parser's rules -----------------------------------------------------------------------------


def _errors(mutate) -> dict[str, str]:
    event = load_fixture("seed-article-published")
    mutate(event["article"])
    return {e.field: e.message for e in validate_event(event)}


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://127.0.0.1:18602\\@news.example.org/x.jpg", "backslash"),
        ("https://news.example.org\\x.jpg", "backslash"),
        ("https://editor:pw@news.example.org/x.jpg", "user name or password"),
        ("https://editor@news.example.org/x.jpg", "user name or password"),
        ("https://news.example.org:99999/x.jpg", "not a valid URL"),
        ("https:///x.jpg", "must name a host"),
    ],
)
def test_intake_refuses_backslashes_credentials_and_unparseable_urls(url, message):
    def image(article):
        article["image"]["url"] = url

    def related(article):
        article["related"] = [{"url": url}]

    def page(article):
        article["url"] = url

    assert message in _errors(image).get("article.image.url", "")
    assert message in _errors(related).get("article.related[0].url", "")
    assert message in _errors(page).get("article.url", "")


def test_intake_still_accepts_ordinary_urls():
    for url in (
        "https://news.example.org:8443/media/a%20b.jpg?w=1200&h=675#top",
        "http://[2001:db8::1]/x.jpg",
        "https://bücher.example/x.jpg",
        "https://news.example.org/@desk/x.jpg",
    ):

        def mutate(article, url=url):
            article["image"]["url"] = url

        assert "article.image.url" not in _errors(mutate), url

    def author(article):
        article["authors"][0]["url"] = "mailto:desk@news.example.org"

    assert not any(f.startswith("article.authors") for f in _errors(author))

    def author_trick(article):
        article["authors"][0]["url"] = "mailto:desk\\@news.example.org"

    assert "backslash" in _errors(author_trick)["article.authors[0].url"]


# (b) through the real service ----------------------------------------------------------------------


def test_the_service_answers_422_for_the_backslash_trick_and_stores_nothing(service):
    event = load_fixture("seed-article-published")
    event["id"] = "ssrf-backslash"
    event["article"]["image"]["url"] = "http://127.0.0.1:18602\\@news.example.org/media/x.jpg"
    event["article"]["related"] = [{"url": "https://editor:pw@news.example.org/a"}]
    body = json.dumps(event).encode()
    r = service.client.post("/events", content=body, headers=signed_headers(event["id"], body))
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert "backslash" in errors["article.image.url"]
    assert "user name or password" in errors["article.related[0].url"]
    assert service.client.get(f"/events/{event['id']}").status_code == 404
    assert not service.redis.exists(keys.event_key(event["id"]))
    assert service.redis.zcard(keys.ARTICLES) == 0
