"""Logs: JSON lines with `--log-json` that follow one article from intake through the worker to
each network, and no secret in any log line or HTTP answer."""

from __future__ import annotations

import json
import logging

import requests

from syndicate.logs import JsonFormatter, RedactSecrets
from tests.fakes import FakeFacebook, FakeGooglePlus, FakeTwitter
from tests.support import (
    OPERATOR,
    SECRET,
    SEED_ID,
    api_process,
    load_fixture,
    signed_headers,
    wait_for,
    wait_states,
)

SECRETS = [
    SECRET,
    SECRET.removeprefix("whsec_"),
    FakeTwitter.TOKEN,
    FakeFacebook.TOKEN,
    FakeGooglePlus.TOKEN,
]


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_logs_follow_an_article_and_hold_no_secret(
    service, settings, settings_env, worker, fakes, tmp_path
):
    api_log = tmp_path / "api.log"
    event = load_fixture("seed-article-published")
    body = json.dumps(event).encode()
    answers = []
    # The flag, not the environment, turns JSON on for the API process here.
    with api_process(
        settings,
        {**settings_env, "SYNDICATE_LOG_JSON": "0"},
        log_path=api_log,
        cli_args=("--log-json",),
    ) as base:
        r = requests.post(base + "/events", data=body, headers=signed_headers(event["id"], body))
        assert r.status_code == 202
        wait_states(service, {"twitter": "sent", "facebook": "sent", "googleplus": "sent"})
        bad = requests.post(
            base + "/events",
            data=body,
            headers=signed_headers("other", body, secret="whsec_" + "A" * 40),
        )
        assert bad.status_code == 401
        for path in (
            "/",
            f"/articles/{SEED_ID}",
            f"/events/{event['id']}",
            "/readyz",
            "/metrics",
            "/openapi.json",
            f"/status/articles/{SEED_ID}",
        ):
            answers.append(requests.get(base + path, timeout=5, headers=OPERATOR).text)
    api_text = api_log.read_text()
    api_lines = _json_lines(api_text)
    accepted = [l for l in api_lines if l.get("event_id") == event["id"]]
    assert (
        accepted and accepted[0]["article_id"] == SEED_ID and "accepted" in accepted[0]["message"]
    )

    def worker_lines() -> list[dict] | None:
        lines = _json_lines(worker.log_path.read_text())
        sent = {
            l.get("network")
            for l in lines
            if l.get("article_id") == SEED_ID
            and l.get("event_id") == event["id"]
            and "sent" in l["message"]
        }
        return lines if sent == {"twitter", "facebook", "googleplus"} else None

    lines = wait_for(worker_lines, what="a sent line per network, with both ids")
    assert any(
        l.get("event_id") == event["id"]
        and l.get("article_id") == SEED_ID
        and "applied" in l["message"]
        for l in lines
    )
    assert all({"ts", "level", "logger", "message"} <= set(l) for l in lines + api_lines)
    for text in [api_text, worker.log_path.read_text(), *answers]:
        for secret in SECRETS:
            assert secret not in text


def test_a_secret_in_a_message_is_masked_before_it_is_written():
    record = logging.LogRecord(
        "x",
        logging.WARNING,
        __file__,
        1,
        "call to %s failed with %s",
        (
            "https://graph.test/feed?access_token=fb-page-token&x=1",
            f"Bearer {FakeTwitter.TOKEN} and {SECRET}",
        ),
        None,
    )
    assert RedactSecrets().filter(record)
    line = JsonFormatter().format(record)
    for secret in SECRETS:
        assert secret not in line
    assert "access_token=<redacted>&x=1" in json.loads(line)["message"]
