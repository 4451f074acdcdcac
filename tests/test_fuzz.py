"""Abuse: every operation of the OpenAPI document fuzzed by schemathesis, and signed random or
mangled event bodies from hypothesis: never a 5xx, and a refused event leaves nothing behind."""

from __future__ import annotations

import copy
import json
import uuid

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.support import OPERATOR, load_fixture, signed_headers
from worker.store import keys

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


def test_no_operation_answers_with_a_server_error(service):
    """Each operation's cases, generated from its parameters and body schema (schemathesis)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.client.app, headers=OPERATOR)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def check(case) -> None:
            case.call_and_validate(checks=[not_a_server_error], headers=OPERATOR)

        check()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mangled_events(draw) -> dict:
    """The seed event with one field removed or replaced by any JSON value, at any depth."""
    event = copy.deepcopy(load_fixture("seed-article-published"))
    node = event
    while True:
        keys_ = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys_:
            return event
        key = draw(st.sampled_from(keys_))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(json_values)
        return event


bodies = st.one_of(
    mangled_events().map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
)


@given(body=bodies)
@FUZZ
def test_signed_random_bodies_never_fail_the_server_or_leave_a_trace(service, body):
    event_id = f"fuzz-{uuid.uuid4()}"
    data = body.encode()
    r = service.client.post("/events", content=data, headers=signed_headers(event_id, data))
    assert r.status_code in (200, 202, 400, 422), (r.status_code, r.text)
    if r.status_code == 202:
        assert service.redis.exists(keys.event_key(event_id))
    else:
        assert (
            r.headers["content-type"].startswith("application/problem+json") or r.status_code == 422
        )
        assert not service.redis.exists(keys.event_key(event_id))


@given(payload=st.one_of(mangled_events(), json_values))
@settings(max_examples=400, deadline=None)
def test_the_fast_validator_and_jsonschema_agree(payload):
    """Intake trusts fastjsonschema's "valid"; it must never accept what jsonschema refuses.
    (It may refuse more: the rules beyond the schema, `semantic_errors`, e.g. an id of spaces.)"""
    from feeds.validation import full_validation, validate_event

    if full_validation(payload):
        assert validate_event(payload), payload
