"""The Fedify harness itself, without the service: two real Fedify servers follow each other, so
every signature is made and checked by Fedify's own code on both sides (tests/fedify_peer.py)."""

from __future__ import annotations

import pytest
import requests

from tests.fedify_peer import SKIP_REASON, FedifyPeer, PeerError, available, running_peer

pytestmark = pytest.mark.skipif(not available(), reason=SKIP_REASON)


@pytest.fixture(scope="module")
def peers():
    with running_peer() as a, running_peer(users=("alice", "bob")) as b:
        yield a, b


@pytest.fixture
def pair(peers):
    a, b = peers
    a.reset()
    b.reset()
    return a, b


def test_a_follow_is_verified_and_auto_accepted_with_a_verified_accept(pair):
    a, b = pair
    followed = a.follow(b.handle_of("alice"))
    assert followed["actor"] == b.actor_of("alice")
    assert followed["inbox"] == f"{b.url}/users/alice/inbox"
    assert followed["shared_inbox"] == b.shared_inbox_url

    [follow] = b.wait_received(lambda x: x["type"] == "Follow")
    assert follow["verified"] is True and follow["status"] == 202, follow
    assert follow["http_signature"] == {"verified": True, "key_id": a.key_id, "reason": None}
    # signed as Mastodon signs: cavage, rsa-sha256, digest covered on a POST
    assert follow["signature_spec"] == "draft-cavage-http-signatures-12"
    assert follow["algorithm"] == "rsa-sha256"
    assert {"(request-target)", "host", "date", "digest"} <= set(follow["signed_components"])
    assert follow["recipient"] == "alice" and not follow["shared"]
    assert follow["activity"]["object"] == b.actor_of("alice")
    assert follow["id"] == followed["follow_id"] and follow["actor"] == a.actor_url

    [accept] = a.wait_received(lambda x: x["type"] == "Accept")
    assert accept["verified"] is True and accept["status"] == 202, accept
    assert accept["http_signature"]["verified"] is True
    assert accept["key_id"] == f"{b.actor_of('alice')}#main-key"
    assert accept["accepted_follow"] == followed["follow_id"]
    embedded = accept["activity"]["object"]  # the Follow embedded, as Mastodon sends it
    assert embedded["type"] == "Follow" and embedded["id"] == followed["follow_id"]
    assert embedded["actor"] == a.actor_url

    state = a.state()["following"]["reader"][b.actor_of("alice")]
    assert state["accepted"] is True
    assert b.state()["followers"]["alice"] == {a.actor_url: followed["follow_id"]}
    # the WebFinger lookup and the signed POST went out through Fedify
    sent = [(s["method"], s["url"].split("?")[0]) for s in a.sent()]
    assert ("GET", f"{b.url}/.well-known/webfinger") in sent
    assert ("POST", f"{b.url}/users/alice/inbox") in sent


def test_unfollow_sends_an_undo_with_the_follow_embedded(pair):
    a, b = pair
    followed = a.follow(b.handle_of("bob"), user="reader2")
    a.wait_received(lambda x: x["type"] == "Accept")
    undone = a.unfollow(b.handle_of("bob"), user="reader2")
    [undo] = b.wait_received(lambda x: x["type"] == "Undo")
    assert undo["verified"] is True and undo["id"] == undone["undo_id"]
    assert undo["activity"]["object"]["type"] == "Follow"
    assert undo["activity"]["object"]["id"] == followed["follow_id"]
    assert b.state()["followers"].get("bob") == {}
    with pytest.raises(PeerError) as refused:
        a.unfollow(b.handle_of("bob"), user="reader2")
    assert refused.value.status == 409


def test_an_unsigned_or_forged_post_is_refused_and_recorded(pair):
    a, b = pair
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Follow",
        "id": f"{a.actor_url}#forged",
        "actor": a.actor_url,
        "object": b.actor_of("alice"),
    }
    r = requests.post(
        f"{b.url}/users/alice/inbox",
        json=activity,
        timeout=10,
        headers={"content-type": "application/activity+json"},
    )
    assert r.status_code == 401
    forged = requests.post(
        b.shared_inbox_url,
        json=activity,
        timeout=10,
        headers={
            "content-type": "application/activity+json",
            "date": "Wed, 02 Dec 2026 07:00:00 GMT",
            "signature": f'keyId="{a.key_id}",algorithm="rsa-sha256",headers="date",signature="AAAA"',
        },
    )
    assert forged.status_code == 401
    unsigned, bad = b.received("Follow")
    assert unsigned["verified"] is False and unsigned["reason"] == "noSignature"
    assert unsigned["http_signature"]["verified"] is False
    assert bad["verified"] is False and bad["shared"] is True
    assert bad["reason"] == "invalidSignature" and bad["key_id"] == a.key_id
    assert b.state()["followers"].get("alice") is None  # the listeners never ran


def test_a_failed_lookup_is_reported(pair):
    a, b = pair
    with pytest.raises(PeerError) as missing:
        a.follow(f"nobody@{b.host}")
    assert missing.value.status == 404
    with pytest.raises(PeerError) as bad:
        a.follow(b.handle_of("alice"), user="stranger")
    assert bad.value.status == 400


def test_rfc9421_first_knock_is_verified_too():
    with (
        FedifyPeer().start(env={"FEDIFY_FIRST_KNOCK": "rfc9421"}) as a,
        running_peer(users=("carol",)) as b,
    ):
        a.follow(b.handle_of("carol"))
        [follow] = b.wait_received(lambda x: x["type"] == "Follow")
        assert follow["signature_spec"] == "rfc9421" and follow["verified"] is True
        assert follow["http_signature"]["key_id"] == a.key_id
        assert {"@method", "@target-uri", "content-digest"} <= set(follow["signed_components"])
