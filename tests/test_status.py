"""Status endpoints: events, articles, health, readiness, OpenAPI, metrics."""

from __future__ import annotations

from tests.support import publish, wait_for


def test_event_status_says_what_changed(service):
    seed = publish(service, "seed-article-published")
    status = service.client.get(f"/events/{seed['id']}").json()
    assert status["status"] == "done"
    assert status["type"] == "article.published"
    assert status["article_id"] == "20230713-0001"
    assert set(status["result"]["feeds"]) >= {"all", "tag/nato", "author/news-desk"}
    assert service.client.get("/events/nope").status_code == 404


def test_article_shows_state_and_feeds(service):
    publish(service, "seed-article-published")
    article = service.client.get("/articles/20230713-0001").json()
    assert article["state"] == "published"
    assert article["version"] == 1
    assert {f["key"] for f in article["feeds"]} >= {"all", "section/news/lithuania"}
    assert article["article"]["title"] == "NATO Summit in Lithuania Ends Amid Division"
    assert service.client.get("/articles/unknown").status_code == 404


def test_health_and_readiness(service):
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True and ready.json()["workers"]


def test_openapi_describes_the_api(service):
    doc = service.client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) >= {"/events", "/feeds/{feed}", "/articles/{article_id}"}
    assert "422" in doc["paths"]["/events"]["post"]["responses"]


def test_metrics_count_events_and_renders(service):
    publish(service, "seed-article-published")
    text = service.client.get("/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['syndicate_events_total{outcome="accepted",type="article.published"}'] == 1
    assert samples["syndicate_renders_total"] >= 5  # the seed's feeds, each rendered
    assert samples["syndicate_render_seconds_total"] > 0
    assert samples['syndicate_queue_depth{queue="events"}'] == 0
    assert samples["syndicate_dead_letters"] == 0
    assert samples["syndicate_intake_seconds_count"] >= 1
    wait_for(
        lambda: (
            'syndicate_deliveries_total{network="twitter",state="sent"} 1.0'
            in service.client.get("/metrics").text
        ),
        what="the tweet counted",
    )
    assert "# TYPE syndicate_deliveries_total counter" in service.client.get("/metrics").text
