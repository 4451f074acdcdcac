"""POST /events: every answer of the contract's table, and nothing queued when refused."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from starlette.testclient import TestClient

from syndicate.config import Settings
from tests.support import OPERATOR, PUBLIC_URL, api_process, load_fixture, signed_headers
from worker.store import keys


def _nothing_queued(service, event_id: str) -> None:
    assert service.client.get(f"/events/{event_id}").status_code == 404
    assert not service.redis.exists(keys.event_key(event_id))
    assert service.redis.zcard(keys.ARTICLES) == 0


def test_valid_event_is_queued_then_done(service):
    seed = load_fixture("seed-article-published")
    r = service.send(seed)
    assert r.status_code == 202
    assert r.json() == {"event_id": seed["id"], "status": "queued"}
    status = service.event_done(seed["id"])
    assert status["status"] == "done"
    assert status["result"]["outcome"] == "applied"
    assert "section/news/lithuania" in status["result"]["feeds"]


def test_same_webhook_id_is_a_duplicate_and_done_once(service):
    seed = load_fixture("seed-article-published")
    assert service.send(seed).status_code == 202
    again = service.send(seed)
    assert again.status_code == 200
    assert again.json() == {"event_id": seed["id"], "status": "duplicate"}
    service.event_done(seed["id"])
    article = service.client.get(f"/articles/{seed['article']['id']}").json()
    assert len(article["timeline"]) == 1


@pytest.mark.parametrize("case", ["wrong-secret", "no-signature", "old", "future", "garbled"])
def test_bad_signature_is_401_and_queues_nothing(service, case):
    seed = load_fixture("seed-article-published")
    body = json.dumps(seed).encode()
    if case == "wrong-secret":
        headers = signed_headers("e1", body, secret="whsec_" + base64.b64encode(b"x" * 32).decode())
    elif case == "no-signature":
        headers = {k: v for k, v in signed_headers("e1", body).items() if k != "webhook-signature"}
    elif case == "old":
        headers = signed_headers("e1", body, ts=time.time() - 301)
    elif case == "future":
        headers = signed_headers("e1", body, ts=time.time() + 301)
    else:
        headers = {**signed_headers("e1", body), "webhook-signature": "v1"}
    r = service.client.post("/events", content=body, headers=headers)
    assert r.status_code == 401
    _nothing_queued(service, "e1")


def test_signature_over_a_different_body_is_401(service):
    seed = load_fixture("seed-article-published")
    body = json.dumps(seed).encode()
    headers = signed_headers("e1", body)
    seed["article"]["title"] = "Tampered"
    r = service.client.post("/events", content=json.dumps(seed).encode(), headers=headers)
    assert r.status_code == 401
    _nothing_queued(service, "e1")


def test_not_json_is_400(service):
    body = b'{"type": "article.published", '
    r = service.client.post("/events", content=body, headers=signed_headers("e2", body))
    assert r.status_code == 400
    _nothing_queued(service, "e2")


def test_wrong_content_type_is_415(service):
    body = json.dumps(load_fixture("seed-article-published")).encode()
    r = service.client.post(
        "/events", content=body, headers=signed_headers("e3", body, content_type="text/plain")
    )
    assert r.status_code == 415
    _nothing_queued(service, "e3")


def test_body_over_one_mebibyte_is_413(service):
    seed = load_fixture("seed-article-published")
    seed["article"]["body_html"] = "x" * (1024 * 1024)
    body = json.dumps(seed).encode()
    r = service.client.post("/events", content=body, headers=signed_headers("e4", body))
    assert r.status_code == 413
    _nothing_queued(service, "e4")


def test_schema_violations_are_422_naming_every_field(service):
    seed = load_fixture("seed-article-published")
    seed["type"] = "article.deleted"
    seed["article"]["url"] = "ftp://example.org/x"
    seed["article"]["published_at"] = "2023-07-13T18:00:00"  # no UTC offset
    seed["article"]["version"] = -1
    del seed["article"]["title"]
    body = json.dumps(seed).encode()
    r = service.client.post("/events", content=body, headers=signed_headers("e5", body))
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"type", "article.url", "article.published_at", "article.version"} <= fields
    _nothing_queued(service, "e5")


def test_published_event_without_required_article_fields_is_422(service):
    body = json.dumps({"type": "article.published", "article": {"id": "a-1"}}).encode()
    r = service.client.post("/events", content=body, headers=signed_headers("e6", body))
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"article.url", "article.title", "article.published_at"} <= fields


def test_naive_time_is_422(service):
    seed = load_fixture("seed-article-published")
    seed["article"]["updated_at"] = "2023-07-13 18:00:00"
    body = json.dumps(seed).encode()
    r = service.client.post("/events", content=body, headers=signed_headers("e7", body))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["article.updated_at"]


def test_redis_unreachable_is_503(settings: Settings):
    from api.app import create_app

    dead = settings.with_(redis_url="redis://127.0.0.1:1/0", broker_url=None)
    body = json.dumps(load_fixture("seed-article-published")).encode()
    with TestClient(create_app(dead), base_url=PUBLIC_URL, headers=OPERATOR) as client:
        r = client.post("/events", content=body, headers=signed_headers("e8", body))
    assert r.status_code == 503


def test_broker_unreachable_is_503_and_keeps_nothing(service, settings: Settings):
    """Redis for state is up, the broker (a second one) is down: the real `syndicate api`
    answers 503 and keeps nothing, so the CMS sends the event again later."""
    body = json.dumps(load_fixture("seed-article-published")).encode()
    env = {"SYNDICATE_BROKER_URL": "redis://127.0.0.1:1/0"}
    with api_process(settings, env) as base:
        r = requests.post(
            f"{base}/events", data=body, headers=signed_headers("e9", body), timeout=10
        )
        assert r.status_code == 503
        assert (
            requests.get(f"{base}/readyz", timeout=10, headers=OPERATOR)
            .json()["broker"]
            .startswith("unreachable")
        )
    _nothing_queued(service, "e9")
