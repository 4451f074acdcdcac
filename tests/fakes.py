"""Loopback stand-ins for the remotes syndicate talks to, speaking their real request and
response shapes of X API v2, the Graph API, plusDomains v1 and a WebSub hub, with fault
injection.

Each fake records what it received; tests read `fake.requests` and queue faults with
`fake.fail_next(...)`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Recorded:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


class Fake:
    """One HTTP server; subclasses answer in `respond`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.faults: list[Any] = []
        self.path_faults: list[list[Any]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with fake.lock:
                    fault = fake.faults.pop(0) if fake.faults else None
                    if fault is None:
                        fault = fake._path_fault(rec)
                    fake.requests.append(rec)
                if fault == "drop-before":
                    self.close_connection = True
                    self.connection.close()
                    return
                status, headers, payload = (
                    fault[1:]
                    if isinstance(fault, tuple) and fault[0] == "answer"
                    else fake.respond(rec)
                )
                if isinstance(fault, tuple) and fault[0] == "sleep":  # done, but answered late
                    time.sleep(fault[1])
                if fault == "drop-after":  # the request took effect; the answer never arrives
                    self.close_connection = True
                    self.connection.close()
                    return
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-type", headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.path_faults.clear()
        self.reset_state()

    def reset_state(self) -> None:
        pass

    def fail_next(self, *faults: Any) -> None:
        """Queue faults for the next requests: "drop-before", "drop-after", ("sleep", s),
        ("answer", status, headers, body)."""
        with self.lock:
            self.faults.extend(faults)

    def fail_path(self, method: str, path_prefix: str, fault: Any, times: int = 1_000) -> None:
        """`fault` for the next `times` requests of `method` under `path_prefix` only."""
        with self.lock:
            self.path_faults.append([method, path_prefix, fault, times])

    def _path_fault(self, rec: Recorded) -> Any:
        for entry in self.path_faults:
            method, prefix, fault, times = entry
            if times > 0 and rec.method == method and rec.path.startswith(prefix):
                entry[3] -= 1
                return fault
        return None

    def received(self, method: str | None = None, path_prefix: str = "") -> list[Recorded]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and r.path.startswith(path_prefix)
            ]

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError


class FakeHub(Fake):
    """A WebSub hub: accepts `hub.mode=publish` pings with 204."""

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        form = rec.form
        if rec.method != "POST" or form.get("hub.mode") != ["publish"]:
            return 400, {"content-type": "text/plain"}, b"hub.mode=publish expected"
        return 204, {}, b""

    def pinged_urls(self) -> list[str]:
        urls: list[str] = []
        for rec in self.received("POST"):
            urls += rec.form.get("hub.url", [])
        return urls


class FakeTwitter(Fake):
    """X API v2: bearer or OAuth 1.0a; 201 with a 19-digit id; 403 on duplicate text."""

    TOKEN = "tw-user-token"

    def reset_state(self) -> None:
        self.posts: dict[str, str] = {}  # id -> text
        self.next_id = 1790000000000000000

    def __init__(self) -> None:
        super().__init__()
        self.reset_state()

    def limits(self) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "99",
            "x-rate-limit-reset": str(int(time.time()) + 900),
        }

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        auth = rec.headers.get("authorization", "")
        if auth != f"Bearer {self.TOKEN}" and not auth.startswith("OAuth "):
            return (
                401,
                {"content-type": "application/problem+json"},
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
            )
        path = urlsplit(rec.path).path
        if rec.method == "GET" and path == "/2/users/me":
            return (
                200,
                self.limits(),
                {"data": {"id": "2244994945", "name": "Newsroom", "username": "newsroom"}},
            )
        if rec.method == "POST" and path == "/2/tweets":
            body = rec.json
            extra = set(body) - {"text", "media", "reply", "quote_tweet_id", "poll"}
            from twitter_text import parse_tweet

            if extra or not isinstance(body.get("text"), str):
                return (
                    400,
                    {},
                    {
                        "errors": [
                            {"parameters": {k: [str(body[k])] for k in extra}, "message": "invalid"}
                        ],
                        "title": "Invalid Request",
                        "detail": "One or more parameters to your request was invalid.",
                        "type": "https://api.twitter.com/2/problems/invalid-request",
                    },
                )
            if parse_tweet(body["text"]).weightedLength > 280:
                return (
                    400,
                    {},
                    {
                        "title": "Invalid Request",
                        "detail": "Your Tweet text is too long.",
                        "type": "https://api.twitter.com/2/problems/invalid-request",
                    },
                )
            if body["text"] in self.posts.values():
                return (
                    403,
                    self.limits(),
                    {
                        "detail": "You are not allowed to create a Tweet with duplicate content.",
                        "type": "about:blank",
                        "title": "Forbidden",
                        "status": 403,
                    },
                )
            self.next_id += 1
            self.posts[str(self.next_id)] = body["text"]
            return 201, self.limits(), {"data": {"id": str(self.next_id), "text": body["text"]}}
        if rec.method == "DELETE" and path.startswith("/2/tweets/"):
            tweet_id = path.rsplit("/", 1)[1]
            if self.posts.pop(tweet_id, None) is None:
                return (
                    404,
                    {},
                    {
                        "title": "Not Found Error",
                        "status": 404,
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    },
                )
            return 200, self.limits(), {"data": {"deleted": True}}
        return 404, {}, {"title": "Not Found", "status": 404}

    @staticmethod
    def rate_limited(reset_in_s: float) -> tuple:
        return (
            "answer",
            429,
            {
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(time.time() + reset_in_s)),
            },
            {
                "title": "Too Many Requests",
                "detail": "Too Many Requests",
                "type": "about:blank",
                "status": 429,
            },
        )


class FakeFacebook(Fake):
    """Graph API Page posts under /v25.0: form or JSON, token as access_token; 506 duplicates."""

    PAGE = "1647395831"
    TOKEN = "fb-page-token"

    def reset_state(self) -> None:
        self.posts: dict[str, dict[str, str]] = {}  # post id -> {message, link}
        self.scrapes: list[str] = []
        self.tokens_in_urls: list[str] = []  # what a proxy log would have shown
        self.next_id = 130068550371568

    def __init__(self) -> None:
        super().__init__()
        self.reset_state()

    @staticmethod
    def error(code: int, message: str, status: int = 400, **extra: Any) -> tuple:
        return (
            status,
            {},
            {
                "error": {
                    "message": message,
                    "type": "OAuthException",
                    "code": code,
                    "fbtrace_id": "AbCdEf",
                    **extra,
                }
            },
        )

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        params = {k: v[0] for k, v in rec.query.items()}
        if rec.body and rec.headers.get("content-type", "").startswith("application/json"):
            params.update(rec.json)
        elif rec.body:
            params.update({k: v[0] for k, v in rec.form.items()})
        if "access_token" in rec.query:
            self.tokens_in_urls.append(rec.path)
        header = rec.headers.get("authorization", "")
        token = params.get("access_token") or header.removeprefix("Bearer ")
        if token != self.TOKEN:
            return self.error(190, "Invalid OAuth access token.")
        path = urlsplit(rec.path).path
        if path == "/v25.0/me" and rec.method == "GET":
            return 200, {}, {"id": self.PAGE, "name": "Test Page"}
        if path == "/v25.0/" and rec.method == "POST" and params.get("scrape") == "true":
            self.scrapes.append(params.get("id", ""))
            return 200, {}, {"url": params.get("id"), "title": "scraped", "updated_time": "now"}
        if path == f"/v25.0/{self.PAGE}/feed" and rec.method == "POST":
            if not params.get("message") and not params.get("link"):
                return self.error(197, "The post is empty. Please enter a message to share.")
            if not str(params.get("link", "")).startswith("http"):
                return self.error(1500, "The url you supplied is invalid")
            last = list(self.posts.values())[-1:]
            if (
                last
                and last[0]["message"] == params.get("message")
                and last[0]["link"] == params.get("link")
            ):
                return self.error(506, "Duplicate posts cannot be published consecutively.")
            self.next_id += 1
            post_id = f"{self.PAGE}_{self.next_id}"
            self.posts[post_id] = {"message": params.get("message", ""), "link": params["link"]}
            return 200, {}, {"id": post_id}
        if path == f"/v25.0/{self.PAGE}/feed" and rec.method == "GET":
            data = [{"id": i, "link": p["link"]} for i, p in reversed(list(self.posts.items()))]
            return 200, {}, {"data": data}
        if rec.method == "DELETE" and path.startswith("/v25.0/"):
            post_id = path.rsplit("/", 1)[1]
            if self.posts.pop(post_id, None) is None:
                return self.error(100, "Unsupported delete request.")
            return 200, {}, {"success": True}
        return self.error(100, "Unknown path components", status=404)


class FakeGooglePlus(Fake):
    """plusDomains v1 activities.insert / list; bearer token."""

    TOKEN = "gplus-token"

    def reset_state(self) -> None:
        self.activities: dict[str, dict] = {}

    def __init__(self) -> None:
        super().__init__()
        self.reset_state()

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        if rec.headers.get("authorization") != f"Bearer {self.TOKEN}":
            return (
                401,
                {},
                {
                    "error": {
                        "code": 401,
                        "message": "Invalid Credentials",
                        "errors": [
                            {
                                "domain": "global",
                                "reason": "authError",
                                "message": "Invalid Credentials",
                            }
                        ],
                    }
                },
            )
        path = urlsplit(rec.path).path
        if rec.method == "GET" and path == "/plusDomains/v1/people/me":
            return 200, {}, {"kind": "plus#person", "id": "1170", "displayName": "Newsroom"}
        if rec.method == "POST" and path == "/plusDomains/v1/people/me/activities":
            body = rec.json
            activity_id = f"z{len(self.activities) + 1:020d}"
            self.activities[activity_id] = body
            return (
                200,
                {},
                {
                    "kind": "plus#activity",
                    "id": activity_id,
                    "verb": "post",
                    "object": body.get("object"),
                    "access": body.get("access"),
                },
            )
        if rec.method == "GET" and path == "/plusDomains/v1/people/me/activities/user":
            items = [{"id": i, **a} for i, a in self.activities.items()]
            return 200, {}, {"kind": "plus#activityFeed", "items": items}
        return 404, {}, {"error": {"code": 404, "message": "Not Found"}}


class FakeMastodon(Fake):
    """A Mastodon instance (social_apis_next checklist): statuses with Idempotency-Key kept an
    hour per account (the clock is a knob), the instance's limit, ISO rate-limit resets."""

    TOKEN = "mastodon-token"
    ACCOUNT = "14715"

    def reset_state(self) -> None:
        self.statuses: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, tuple[str, float]] = {}  # Idempotency-Key -> (status id, stored at)
        self.max_characters = 500
        self.clock_offset = 0.0  # seconds added to "now" (to age the keys)
        self.next_id = 103254962155278888

    def __init__(self) -> None:
        super().__init__()
        self.reset_state()

    def limits(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "300",
            "x-ratelimit-remaining": "299",
            "x-ratelimit-reset": "2026-12-01T15:00:00.000000Z",
        }

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        import regex

        path = urlsplit(rec.path).path
        if path == "/api/v2/instance":
            return (
                200,
                {},
                {
                    "domain": "mastodon.test",
                    "version": "4.5.0",
                    "configuration": {
                        "statuses": {
                            "max_characters": self.max_characters,
                            "max_media_attachments": 4,
                            "characters_reserved_per_url": 23,
                        }
                    },
                },
            )
        if rec.headers.get("authorization") != f"Bearer {self.TOKEN}":
            return 401, {}, {"error": "The access token is invalid"}
        if path == "/api/v1/accounts/verify_credentials":
            return 200, {}, {"id": self.ACCOUNT, "username": "news", "acct": "news"}
        if rec.method == "POST" and path == "/api/v1/statuses":
            form = {k: v[0] for k, v in rec.form.items()}
            key = rec.headers.get("idempotency-key")
            now = time.time() + self.clock_offset
            if key and key in self.keys and now - self.keys[key][1] < 3600:
                original = self.statuses.get(self.keys[key][0])
                return (
                    (200, self.limits(), original)
                    if original
                    else (404, {}, {"error": "Record not found"})
                )
            text = form.get("status", "")
            if not text.strip():
                return 422, {}, {"error": "Validation failed: Text can't be blank"}
            urls = regex.findall(r"https?://\S+", text)
            count = len(regex.findall(r"\X", regex.sub(r"https?://\S+", "", text))) + 23 * len(urls)
            if count > self.max_characters:
                return (
                    422,
                    {},
                    {
                        "error": f"Validation failed: Text character limit of "
                        f"{self.max_characters} exceeded"
                    },
                )
            self.next_id += 1
            status_id = str(self.next_id)
            links = "".join(f' <a href="{u}">{u}</a>' for u in urls)
            status = {
                "id": status_id,
                "created_at": "2026-12-01T12:00:00.000Z",
                "url": f"{self.url}/@news/{status_id}",
                "uri": f"{self.url}/users/news/statuses/{status_id}",
                "content": f"<p>{text}{links}</p>",
                "text": text,
                "visibility": form.get("visibility", "public"),
                "language": form.get("language"),
                "spoiler_text": "",
                "edited_at": None,
                "card": None,
                "account": {"id": self.ACCOUNT, "acct": "news"},
            }
            self.statuses[status_id] = status
            if key:
                self.keys[key] = (status_id, now)
            return 200, self.limits(), status
        if rec.method == "DELETE" and path.startswith("/api/v1/statuses/"):
            status = self.statuses.pop(path.rsplit("/", 1)[1], None)
            return (200, {}, status) if status else (404, {}, {"error": "Record not found"})
        if rec.method == "GET" and path == f"/api/v1/accounts/{self.ACCOUNT}/statuses":
            return 200, {}, list(reversed(list(self.statuses.values())))[:40]
        return 404, {}, {"error": "Record not found"}

    def environment(self) -> dict[str, str]:
        return {"SYNDICATE_MASTODON_URL": self.url, "SYNDICATE_MASTODON_TOKEN": self.TOKEN}


class FakeServers:
    def __init__(self) -> None:
        self.hub = FakeHub()
        self.twitter = FakeTwitter()
        self.facebook = FakeFacebook()
        self.googleplus = FakeGooglePlus()
        self.all = [self.hub, self.twitter, self.facebook, self.googleplus]

    def start(self) -> None:
        for fake in self.all:
            fake.start()

    def stop(self) -> None:
        for fake in self.all:
            fake.stop()

    def reset(self) -> None:
        for fake in self.all:
            fake.reset()

    def environment(self) -> dict[str, str]:
        return {
            "SYNDICATE_WEBSUB_HUBS": self.hub.url + "/",
            "SYNDICATE_TWITTER_API_URL": self.twitter.url,
            "SYNDICATE_TWITTER_BEARER_TOKEN": FakeTwitter.TOKEN,
            "SYNDICATE_FACEBOOK_GRAPH_URL": self.facebook.url + "/v25.0",
            "SYNDICATE_FACEBOOK_PAGE_ID": FakeFacebook.PAGE,
            "SYNDICATE_FACEBOOK_PAGE_TOKEN": FakeFacebook.TOKEN,
            "SYNDICATE_GOOGLEPLUS_API_URL": self.googleplus.url + "/plusDomains/v1",
            "SYNDICATE_GOOGLEPLUS_TOKEN": FakeGooglePlus.TOKEN,
            "SYNDICATE_GOOGLEPLUS_AUDIENCE": "domain",
        }


class FakeIndexNow(Fake):
    """An IndexNow engine (news_and_podcasts.md §4): `POST /indexnow` with a JSON
    `{"host", "key", "keyLocation", "urlList"}` in `application/json; charset=utf-8`; 403 for
    another key, 422 for a keyLocation not `{scheme}://{host}/{key}.txt`-shaped or a URL off
    `host`, 400 for anything malformed (more than 10,000 URLs too), else 200. It also serves the
    key file `GET /{key}.txt` (the site's side), with `key_file` as its body. `refusals` holds
    every answer that was not 200, with why."""

    KEY = "a1b2c3d4-e5f6-7a8b-9c0d-e1f2a3b4c5d6"

    def __init__(self) -> None:
        super().__init__()
        self.reset_state()

    def reset_state(self) -> None:
        self.key_file: bytes | None = self.KEY.encode()
        self.key_file_redirect: str | None = None
        self.refusals: list[tuple[int, str]] = []

    def submissions(self) -> list[dict[str, Any]]:
        return [r.json for r in self.received("POST", "/indexnow")]

    def urls(self) -> list[str]:
        return [u for body in self.submissions() for u in body["urlList"]]

    def _refuse(self, status: int, why: str) -> tuple[int, dict[str, str], Any]:
        self.refusals.append((status, why))
        return status, {"content-type": "text/plain"}, why.encode()

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        path = urlsplit(rec.path).path
        if rec.method == "GET" and path == f"/{self.KEY}.txt":
            if self.key_file_redirect:
                return 301, {"location": self.key_file_redirect}, b""
            if self.key_file is None:
                return 404, {"content-type": "text/plain"}, b"not found"
            return 200, {"content-type": "text/plain; charset=utf-8"}, self.key_file
        if rec.method != "POST" or path != "/indexnow" or urlsplit(rec.path).query:
            return self._refuse(405 if path == "/indexnow" else 404, f"{rec.method} {rec.path}")
        if rec.headers.get("content-type") != "application/json; charset=utf-8":
            return self._refuse(400, f"content-type {rec.headers.get('content-type')!r}")
        try:
            body = json.loads(rec.body.decode("utf-8"))
        except ValueError:
            return self._refuse(400, "not JSON")
        if not isinstance(body, dict) or set(body) != {"host", "key", "keyLocation", "urlList"}:
            return self._refuse(400, f"fields {sorted(body) if isinstance(body, dict) else body}")
        host, key, location, urls = body["host"], body["key"], body["keyLocation"], body["urlList"]
        if (
            not all(isinstance(v, str) for v in (host, key, location))
            or not isinstance(urls, list)
            or not 1 <= len(urls) <= 10_000
            or not all(isinstance(u, str) for u in urls)
        ):
            return self._refuse(400, "types or size")
        import re

        if not re.fullmatch(r"[A-Za-z0-9-]{8,128}", key) or key != self.KEY:
            return self._refuse(403, "key not valid")
        where = urlsplit(location)
        if (
            where.netloc != host
            or not where.path.endswith(f"/{key}.txt")
            or where.scheme not in ("http", "https")
        ):
            return self._refuse(422, f"keyLocation {location} for host {host}")
        if any(
            urlsplit(u).netloc != host or urlsplit(u).scheme not in ("http", "https") for u in urls
        ):
            return self._refuse(422, "a URL is not on host")
        return 200, {"content-type": "text/plain"}, b""


class FakePodping(Fake):
    """podping.cloud's front end (news_and_podcasts.md §3.1): `GET /?url=...&reason=...&medium=...`
    with `Authorization: <token>` (the whole value) and a User-Agent; 401 without either, 400
    without an http(s) url or with a reason/medium podping does not know, else `200 Success!`."""

    TOKEN = "podping-token-0123456789abcdefghijklmnopqrstu"
    REASONS = {"update", "live", "liveend"}
    MEDIA = {
        m + s
        for m in (
            "podcast",
            "music",
            "video",
            "film",
            "audiobook",
            "newsletter",
            "blog",
            "publisher",
            "course",
        )
        for s in ("", "l")
    }

    def __init__(self) -> None:
        super().__init__()
        self.reset_state()

    def reset_state(self) -> None:
        self.refusals: list[tuple[int, str]] = []

    def _refuse(self, status: int, why: str) -> tuple[int, dict[str, str], Any]:
        self.refusals.append((status, why))
        return status, {"content-type": "text/plain"}, why.encode()

    def pings(self) -> list[Recorded]:
        return self.received("GET", "/?")

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(rec.path)
        if rec.method != "GET" or parts.path != "/":
            return self._refuse(404, f"{rec.method} {parts.path}")
        if rec.headers.get("authorization") != self.TOKEN:
            return self._refuse(401, "Invalid Authorization header")
        if not rec.headers.get("user-agent"):
            return self._refuse(401, "User-Agent header is required")
        query = parse_qs(parts.query)
        url = query.get("url", [""])
        if len(url) != 1 or not url[0].startswith(("http://", "https://")):
            return self._refuse(400, "Url parameter is missing.")
        reason = query.get("reason", ["update"])
        medium = query.get("medium", ["podcast"])
        if (
            len(reason) != 1
            or reason[0].lower() not in self.REASONS
            or len(medium) != 1
            or medium[0].lower() not in self.MEDIA
        ):
            return self._refuse(400, "unknown reason or medium")
        return 200, {"content-type": "text/plain"}, b"Success!"


class RouteFaults:
    """Faults by route name, as social_apis_more.md's checklist names them (`threads.publish`,
    `linkedin.create`, ...): `rate_limit`, `error`, `auth`, `drop` (closed before any effect),
    `accept_drop` (the effect happens, the answer is lost), `slow` (answered after the client's
    timeout), for the next `times` requests of the route or, with `seconds`, for that long."""

    lock: threading.Lock
    route_faults: list[dict[str, Any]]

    def route(self, rec: Recorded) -> str:
        raise NotImplementedError

    def fault_answer(self, route: str, kind: str, status: int) -> tuple:
        raise NotImplementedError

    def fault(
        self, route: str, kind: str, times: int = 1, seconds: float | None = None, status: int = 500
    ) -> None:
        with self.lock:
            self.route_faults.append(
                {
                    "route": route,
                    "kind": kind,
                    "times": times,
                    "until": time.time() + seconds if seconds else None,
                    "status": status,
                }
            )

    def fault_active(self, route: str, kind: str) -> bool:
        return any(
            f["route"] == route
            and f["kind"] == kind
            and (f["until"] > time.time() if f["until"] is not None else f["times"] > 0)
            for f in self.route_faults
        )

    def _path_fault(self, rec: Recorded) -> Any:
        found = super()._path_fault(rec)  # type: ignore[misc]
        if found is not None:
            return found
        route = self.route(rec)
        for f in self.route_faults:
            if f["route"] != route:
                continue
            if f["until"] is not None:
                if time.time() >= f["until"]:
                    continue
            elif f["times"] <= 0:
                continue
            else:
                f["times"] -= 1
            kind = f["kind"]
            if kind == "drop":
                return "drop-before"
            if kind == "accept_drop":
                return "drop-after"
            if kind == "slow":
                return ("sleep", 3)
            return ("answer", *self.fault_answer(route, kind, f["status"]))
        return None


def threads_weight(text: str) -> int:
    """Threads' count as the fake sees it: an emoji code point (or a joiner or variation
    selector) costs its UTF-8 bytes, everything else one."""

    def emoji(c: str) -> bool:
        n = ord(c)
        return n >= 0x1F000 or 0x2600 <= n <= 0x27BF or c in "\u200d\ufe0f\u20e3"

    return sum(len(c.encode()) if emoji(c) else 1 for c in text)


class FakeThreads(RouteFaults, Fake):
    """The Threads API under /v1.0 (social_apis_more.md §5): containers (TEXT only) and their
    statuses, publish with the 250-in-24-h quota (the window is a knob), the profile's threads
    with cursors, `threads_publishing_limit`, deletes (100 a day). Graph-style errors."""

    USER = "17841401234567890"
    TOKEN = "threads-token"
    REPLY_CONTROL = {
        "everyone",
        "accounts_you_follow",
        "mentioned_only",
        "parent_post_author_only",
        "followers_only",
    }

    def __init__(self) -> None:
        super().__init__()
        self.reset_state()

    def reset_state(self) -> None:
        self.containers: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}  # newest last
        self.published_at: list[float] = []
        self.deleted_at: list[float] = []
        self.quota_total, self.quota_duration, self.delete_limit = 250, 86_400, 100
        self.new_status = "FINISHED"  # a new container's status
        self.route_faults: list[dict[str, Any]] = []
        self.tokens_in_urls: list[str] = []
        self.next_container, self.next_media = 17889615691921648, 18028564589123456

    def environment(self) -> dict[str, str]:
        return {
            "SYNDICATE_THREADS_USER_ID": self.USER,
            "SYNDICATE_THREADS_TOKEN": self.TOKEN,
            "SYNDICATE_THREADS_API_URL": self.url + "/v1.0",
        }

    @staticmethod
    def error(code: int, message: str, status: int = 400, **extra: Any) -> tuple:
        return (
            status,
            {},
            {
                "error": {
                    "message": message,
                    "type": "OAuthException",
                    "code": code,
                    "fbtrace_id": "AxYz",
                    **extra,
                }
            },
        )

    def route(self, rec: Recorded) -> str:
        parts = urlsplit(rec.path).path.removeprefix("/v1.0/").strip("/").split("/")
        if len(parts) == 2:
            return {
                ("POST", "threads"): "threads.create",
                ("POST", "threads_publish"): "threads.publish",
                ("GET", "threads"): "threads.list",
                ("GET", "threads_publishing_limit"): "threads.quota",
            }.get((rec.method, parts[1]), "threads.other")
        if len(parts) == 1 and rec.method == "GET":
            return "threads.status" if parts[0] in self.containers else "threads.read"
        return "threads.delete" if len(parts) == 1 and rec.method == "DELETE" else "threads.other"

    def fault_answer(self, route: str, kind: str, status: int) -> tuple:
        if kind == "rate_limit" and route == "threads.publish":
            return self.error(
                9,
                "Application request limit reached",
                error_subcode=2207042,
                error_user_title="Max posts reached",
            )
        if kind == "rate_limit":
            return self.error(4, "(#4) Application request limit reached", is_transient=True)
        if kind == "auth":
            return self.error(190, "Error validating access token: Session has expired.")
        return self.error(
            2,
            "An unexpected error has occurred. Please retry your request later.",
            status=status,
            is_transient=True,
        )

    def usage(self) -> int:
        if self.fault_active("threads.publish", "rate_limit"):
            return self.quota_total
        return sum(t > time.time() - self.quota_duration for t in self.published_at)

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        params = {k: v[0] for k, v in rec.query.items()}
        if "access_token" in params:
            self.tokens_in_urls.append(rec.path)
        if rec.method == "POST":
            params.update({k: v[0] for k, v in rec.form.items()})
        token = params.get("access_token") or rec.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        if token != self.TOKEN:
            return self.error(190, "Invalid OAuth access token - Cannot parse access token")
        route = self.route(rec)
        parts = urlsplit(rec.path).path.removeprefix("/v1.0/").strip("/").split("/")
        if route in (
            "threads.create",
            "threads.publish",
            "threads.list",
            "threads.quota",
        ) and parts[0] not in (self.USER, "me"):
            return self.error(100, f"Object with ID '{parts[0]}' does not exist", error_subcode=33)
        handler = {
            "threads.create": self._create,
            "threads.publish": self._publish,
            "threads.list": self._list,
            "threads.quota": self._quota,
            "threads.status": self._status,
            "threads.read": self._read,
            "threads.delete": self._delete,
        }.get(route)
        if handler is None:
            return self.error(100, "Unsupported request", status=400)
        return handler(params, parts[-1])

    def _create(self, params: dict[str, str], _: str) -> tuple:
        import re

        if params.get("media_type") != "TEXT":
            return self.error(100, "The parameter media_type is required (TEXT in this fake)")
        text, link = params.get("text"), params.get("link_attachment")
        if not text:
            return self.error(100, "The parameter text is required for TEXT")
        if threads_weight(text) > 500:
            return self.error(100, "Text posts are limited to 500 characters")
        if link is not None and not re.fullmatch(r"https?://\S+", link):
            return self.error(100, "Param link_attachment must be a valid URL")
        if len(set(re.findall(r"https?://\S+", text)) | ({link} if link else set())) > 5:
            return self.error(100, "THREADS_API__LINK_LIMIT_EXCEEDED")
        tag = params.get("topic_tag")
        if tag is not None and (not 1 <= len(tag) <= 50 or set(tag) & {".", "&"}):
            return self.error(100, "Param topic_tag is invalid")
        if params.get("reply_control", "everyone") not in self.REPLY_CONTROL:
            return self.error(100, "Param reply_control is invalid")
        self.next_container += 1
        cid = str(self.next_container)
        self.containers[cid] = {
            "status": self.new_status,
            "text": text,
            "link": link,
            "tags": re.findall(r"(?<!\w)#\w+", text),
            "at": time.time(),
        }
        return 200, {}, {"id": cid}

    def _publish(self, params: dict[str, str], _: str) -> tuple:
        container = self.containers.get(params.get("creation_id", ""))
        if container is None:
            return self.error(100, "Object with ID does not exist", error_subcode=33)
        status = container["status"]
        if status == "PUBLISHED":
            return self.error(100, "(#100) The media has already been published")
        if status in ("EXPIRED", "ERROR"):
            return self.error(100, f"(#100) The media container is {status.lower()}")
        if status == "IN_PROGRESS":
            return self.error(
                24, "The media is not ready for publishing, please wait", error_subcode=4279009
            )
        if self.usage() >= self.quota_total:
            return self.error(9, "Application request limit reached", error_subcode=2207042)
        self.next_media += 1
        mid = str(self.next_media)
        container["status"] = "PUBLISHED"
        self.published_at.append(time.time())
        self.media[mid] = {
            "id": mid,
            "text": container["text"],
            "link_attachment_url": container["link"],
            "permalink": f"https://www.threads.net/@newsroom/post/C{mid[-8:]}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime()),
            "container": params["creation_id"],
        }
        return 200, {}, {"id": mid}

    def _list(self, params: dict[str, str], _: str) -> tuple:
        items = [
            {k: v for k, v in m.items() if k != "container"}
            for m in reversed(list(self.media.values()))
        ]
        start = int(params.get("after") or 0)
        limit = min(int(params.get("limit") or 25), 100)
        page = items[start : start + limit]
        body: dict[str, Any] = {
            "data": page,
            "paging": {"cursors": {"before": str(start), "after": str(start + len(page))}},
        }
        if start + limit < len(items):
            body["paging"]["next"] = f"{self.url}/v1.0/{self.USER}/threads?after={start + limit}"
        return 200, {}, body

    def _quota(self, params: dict[str, str], _: str) -> tuple:
        return (
            200,
            {},
            {
                "data": [
                    {
                        "quota_usage": self.usage(),
                        "config": {
                            "quota_total": self.quota_total,
                            "quota_duration": self.quota_duration,
                        },
                    }
                ]
            },
        )

    def _status(self, params: dict[str, str], cid: str) -> tuple:
        container = self.containers[cid]
        body = {"status": container["status"], "id": cid}
        if container["status"] == "ERROR":
            body["error_message"] = "UNKNOWN"
        return 200, {}, body

    def _read(self, params: dict[str, str], mid: str) -> tuple:
        if mid in self.media:
            return 200, {}, {k: v for k, v in self.media[mid].items() if k != "container"}
        return self.error(100, f"Object with ID '{mid}' does not exist", error_subcode=33)

    def _delete(self, params: dict[str, str], mid: str) -> tuple:
        if mid not in self.media:
            return self.error(100, f"Object with ID '{mid}' does not exist", error_subcode=33)
        if sum(t > time.time() - 86_400 for t in self.deleted_at) >= self.delete_limit:
            return self.error(4, "(#4) Application request limit reached: 100 deletes a day")
        del self.media[mid]
        self.deleted_at.append(time.time())
        return 200, {}, {"success": True, "deleted_id": mid}


def little_shown(commentary: str) -> str:
    """The text LinkedIn shows for a `little` commentary: escapes become their character,
    hashtags (`#tag`, `{hashtag|\\#|tag}`) and mentions (`@[Name](urn)`) their text, and the
    text is cut at the first reserved character that is none of these."""
    import re

    out, i = [], 0
    while i < len(commentary):
        ch, rest = commentary[i], commentary[i:]
        if ch == "\\" and i + 1 < len(commentary):
            out.append(commentary[i + 1])
            i += 2
            continue
        element = (
            re.match(r"#(\w+)", rest)
            if ch == "#"
            else re.match(r"\{hashtag\|\\#\|(\w+)\}", rest)
            if ch == "{"
            else re.match(r"@\[([^\]]*)\]\(urn:li:[a-zA-Z]+:[\w-]+\)", rest)
            if ch == "@"
            else None
        )
        if element:
            out.append(("#" + element.group(1)) if ch != "@" else element.group(1))
            i += len(element.group(0))
            continue
        if ch in "\\|{}@[]()<>#*_~":
            break  # LinkedIn shows the post cut here
        out.append(ch)
        i += 1
    return "".join(out)


class FakeLinkedIn(RouteFaults, Fake):
    """The LinkedIn Posts API (social_apis_more.md §5): versioned headers checked on every
    call, article posts for the configured author, the `little` text stored as shown, 422
    DUPLICATE_POST for a repeat of a live post, reads (a knob makes them 403: a token that may
    post but not read), deletes by encoded URN."""

    TOKEN = "linkedin-token"
    AUTHOR = "urn:li:organization:5515715"

    def __init__(self) -> None:
        super().__init__()
        self.reset_state()

    def reset_state(self) -> None:
        self.posts: dict[str, dict[str, Any]] = {}  # urn -> body, with "shown"
        self.deleted: set[str] = set()
        self.readable = True
        self.route_faults: list[dict[str, Any]] = []
        self.next_id = 7141138937766391808

    @staticmethod
    def version(months_ago: int = 1) -> str:
        now = time.gmtime()
        n = now.tm_year * 12 + now.tm_mon - 1 - months_ago
        return f"{n // 12}{n % 12 + 1:02d}"

    def environment(self) -> dict[str, str]:
        return {
            "SYNDICATE_LINKEDIN_TOKEN": self.TOKEN,
            "SYNDICATE_LINKEDIN_AUTHOR": self.AUTHOR,
            "SYNDICATE_LINKEDIN_VERSION": self.version(),
            "SYNDICATE_LINKEDIN_API_URL": self.url,
        }

    @staticmethod
    def error(status: int, message: str, code: str = "", **extra: Any) -> tuple:
        body = {"status": status, "message": message, **extra}
        if code:
            body["code"] = code
        return status, {"x-restli-protocol-version": "2.0.0"}, body

    def route(self, rec: Recorded) -> str:
        path = urlsplit(rec.path).path
        if path == "/rest/posts":
            return {"POST": "linkedin.create", "GET": "linkedin.list"}.get(
                rec.method, "linkedin.other"
            )
        if path.startswith("/rest/posts/"):
            return {"GET": "linkedin.read", "DELETE": "linkedin.delete"}.get(
                rec.method, "linkedin.other"
            )
        return "linkedin.other"

    def fault_answer(self, route: str, kind: str, status: int) -> tuple:
        if kind == "rate_limit":
            return self.error(
                429,
                "Resource level throttle APPLICATION DAY limit for calls to "
                "this resource is reached.",
                "TOO_MANY_REQUESTS",
            )
        if kind == "auth":
            return self.error(
                401,
                "The token used in the request has been revoked by the user",
                "REVOKED_ACCESS_TOKEN",
                serviceErrorCode=65601,
            )
        return self.error(status, "Internal Server Error")

    def _headers(self, rec: Recorded) -> tuple | None:
        import re

        if rec.headers.get("authorization") != f"Bearer {self.TOKEN}":
            return self.error(
                401, "Invalid access token", "INVALID_ACCESS_TOKEN", serviceErrorCode=65600
            )
        version = rec.headers.get("linkedin-version")
        if not version:
            return self.error(
                400,
                "A version must be present. Please specify a version by "
                "adding the LinkedIn-Version header.",
                "VERSION_MISSING",
            )
        if not re.fullmatch(r"20\d\d(0[1-9]|1[0-2])", version):
            return self.error(400, f"Invalid version format {version}", "INVALID_VERSION")
        if not self.version(12) <= version <= self.version(0):
            return self.error(
                426, f"Requested version {version} is not active", "NONEXISTENT_VERSION"
            )
        if rec.headers.get("x-restli-protocol-version") != "2.0.0":
            return self.error(400, "X-Restli-Protocol-Version 2.0.0 is required")
        return None

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        refused = self._headers(rec)
        if refused:
            return refused
        route = self.route(rec)
        if route == "linkedin.create":
            return self._create(rec)
        if route == "linkedin.list":
            query = {k: v[0] for k, v in rec.query.items()}
            if not self.readable:
                return self.error(403, "Not enough permissions to access: posts.FINDER-author")
            if query.get("q") != "author" or query.get("author") != self.AUTHOR:
                return self.error(400, "Invalid finder parameters")
            elements = [{"id": u, **p} for u, p in reversed(list(self.posts.items()))]
            count = min(int(query.get("count") or 10), 100)
            return (
                200,
                {},
                {"elements": elements[:count], "paging": {"start": 0, "count": count, "links": []}},
            )
        raw = urlsplit(rec.path).path.removeprefix("/rest/posts/")
        if route == "linkedin.other" or ":" in raw:
            return self.error(400, f"Invalid key {raw[:80]}")
        from urllib.parse import unquote

        urn = unquote(raw)
        if route == "linkedin.read":
            if not self.readable:
                return self.error(403, "Not enough permissions to access: posts.GET")
            return (
                (200, {}, {"id": urn, **self.posts[urn]})
                if urn in self.posts
                else self.error(404, f"Post {urn} not found", "NOT_FOUND")
            )
        if urn in self.posts:
            self.deleted.add(urn)
            del self.posts[urn]
        elif urn not in self.deleted:
            return self.error(404, f"Post {urn} not found", "NOT_FOUND")
        return 204, {}, b""

    def _create(self, rec: Recorded) -> tuple:
        import re

        if not rec.headers.get("content-type", "").startswith("application/json"):
            return self.error(415, "Content-Type application/json is required")
        try:
            body = rec.json
        except ValueError:
            return self.error(400, "Invalid JSON")
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON")
        if body.get("author") != self.AUTHOR:
            return self.error(
                403,
                "Not enough permissions to access: partnerApiPostsExternal.CREATE.20261101",
                "ACCESS_DENIED",
            )
        for name, value in (
            ("visibility", body.get("visibility")),
            (
                "distribution/feedDistribution",
                (body.get("distribution") or {}).get("feedDistribution"),
            ),
            ("lifecycleState", body.get("lifecycleState")),
        ):
            if not value:
                return self.error(
                    422,
                    f"/{name} :: field is required but not found",
                    errorDetails={
                        "inputErrors": [
                            {"code": "FIELD_REQUIRED", "input": {"inputPath": {"fieldPath": name}}}
                        ]
                    },
                )
        article = ((body.get("content") or {}).get("article")) or {}
        if (
            not re.fullmatch(r"https?://\S+", str(article.get("source") or ""))
            or not article.get("title")
            or (
                "thumbnail" in article
                and not re.fullmatch(r"urn:li:image:\S+", str(article["thumbnail"]))
            )
        ):
            return self.error(
                422,
                "/content/article :: source (a URL) and title are required; "
                "thumbnail is an image URN",
                errorDetails={"inputErrors": [{"code": "INVALID_VALUE", "input": {}}]},
            )
        text = body.get("commentary", "")
        if not isinstance(text, str) or len(text) > 3000:
            return self.error(
                422,
                "/commentary :: length exceeds 3000",
                errorDetails={"inputErrors": [{"code": "INVALID_LENGTH", "input": {}}]},
            )
        for urn, post in self.posts.items():
            if (post["author"], post["commentary"], post["content"]) == (
                body["author"],
                text,
                body.get("content"),
            ):
                return self.error(
                    422,
                    "com.linkedin.content.common.exception."
                    "BadRequestResponseException: Content is a duplicate of "
                    f"{urn}",
                    errorDetailType="com.linkedin.common.error.BadRequest",
                    errorDetails={
                        "inputErrors": [
                            {
                                "description": "Duplicate post is detected",
                                "input": {},
                                "code": "DUPLICATE_POST",
                            }
                        ]
                    },
                )
        self.next_id += 1
        urn = f"urn:li:share:{self.next_id}"
        self.posts[urn] = {**body, "commentary": text, "shown": little_shown(text)}
        return 201, {"x-restli-id": urn}, b""
