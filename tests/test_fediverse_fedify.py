"""Every feed a fediverse account (CONTRACT §7, issue #22), end to end against a real ActivityPub
implementation: a Fedify 2.x peer (tests/fedify_peer.py) finds `tag.nato` and `all` by WebFinger,
follows them with signed Follows, gets signed Accepts, then one `Create` and one `Announce` of the
same object for a new article (its signatures verified by Fedify's own code, the Announce's object
fetched by id), an `Update` on change, a `Delete` on unpublish; an `Undo` stops the Announces.
One real `syndicate run` (module-scoped) with SYNDICATE_ACTIVITYPUB=on on plain http loopback.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import fedify_peer
from tests.support import OPERATOR, Run, load_fixture, post_event, wait_for

pytestmark = pytest.mark.skipif(not fedify_peer.available(), reason=fedify_peer.SKIP_REASON)

ENV = {
    "SYNDICATE_ACTIVITYPUB": "on",
    "SYNDICATE_ALLOW_PRIVATE_ADDRESSES": "on",
    "SYNDICATE_RETRY_BASE_MS": "200",
    "SYNDICATE_HTTP_TIMEOUT": "5",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    service = Run(Path(tmp_path_factory.mktemp("fedi")), ENV)
    try:
        service.wait_up()
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def peer() -> Iterator[fedify_peer.FedifyPeer]:
    with fedify_peer.running_peer() as p:
        yield p


def _event(name: str, article_id: str, event_id: str, **article: object) -> dict:
    event = copy.deepcopy(load_fixture(name))
    event["id"] = event_id
    event["article"].update(id=article_id, **article)
    return event


def _account(run: Run, user: str) -> str:
    return f"{user}@127.0.0.1:{run.port}"


def _of(peer: fedify_peer.FedifyPeer, kind: str, object_id: str) -> list[dict]:
    def matches(a: dict) -> bool:
        obj = a["activity"].get("object")
        oid = obj.get("id") if isinstance(obj, dict) else obj
        return a["type"] == kind and oid == object_id

    return [a for a in peer.received() if matches(a)]


def test_follow_publish_update_delete_and_undo_with_a_real_peer(run: Run, peer) -> None:
    # A feed is an account once it exists (an article tagged NATO makes `tag/nato`); before: 404.
    missing = requests.get(
        f"{run.base}/.well-known/webfinger",
        timeout=5,
        params={"resource": f"acct:{_account(run, 'tag.nato')}"},
    )
    assert missing.status_code == 404
    assert post_event(run.base, _event("seed-article-published", "fedi-0", "evt-fedi-0")) == 202
    wait_for(
        lambda: requests.get(f"{run.base}/ap/actors/tag.nato", timeout=5).status_code == 200,
        30,
        "the tag.nato account",
    )
    # Discovery as Mastodon does it, then the follows (Fedify: WebFinger, actor, signed Follow).
    jrd = requests.get(
        f"{run.base}/.well-known/webfinger",
        params={"resource": f"acct:{_account(run, 'tag.nato')}"},
        timeout=5,
    )
    assert jrd.status_code == 200 and jrd.headers["content-type"].startswith("application/jrd+json")
    for user in ("tag.nato", "all"):
        peer.follow(_account(run, user))
    accepts = peer.wait_received(lambda a: a["type"] == "Accept", count=2)
    assert all(a["verified"] for a in accepts), accepts
    followers = requests.get(f"{run.base}/ap/actors/tag.nato/followers", timeout=5).json()
    assert followers["totalItems"] == 1
    # Following twice counts once.
    peer.follow(_account(run, "all"))
    peer.wait_received(lambda a: a["type"] == "Accept", count=3)
    assert requests.get(f"{run.base}/ap/actors/all/followers", timeout=5).json()["totalItems"] == 1

    # A new article: one Create by `all` and one Announce by `tag.nato`, both verified by Fedify.
    assert post_event(run.base, _event("seed-article-published", "fedi-1", "evt-fedi-1")) == 202
    object_id = f"{run.base}/ap/objects/fedi-1"
    wait_for(
        lambda: _of(peer, "Create", object_id) and _of(peer, "Announce", object_id),
        30,
        "a Create and an Announce",
    )
    created, announced = _of(peer, "Create", object_id), _of(peer, "Announce", object_id)
    assert len(created) == 1 and len(announced) == 1
    assert created[0]["verified"] and announced[0]["verified"], (created, announced)
    assert created[0]["actor"].endswith("/ap/actors/all")
    assert announced[0]["actor"].endswith("/ap/actors/tag.nato")
    obj = created[0]["activity"]["object"]
    assert obj["type"] == "Article" and obj["attributedTo"].endswith("/ap/actors/all")
    assert obj["name"].startswith("NATO Summit") and "<figure" in obj["content"]
    assert {"type": "Hashtag", "name": "#NATO"}.items() <= obj["tag"][0].items()
    assert obj["attachment"][0]["type"] == "Image" and obj["attachment"][0]["name"]
    assert "object_error" not in announced[0] or not announced[0]["object_error"]
    # Other feeds the article is in have no followers: nothing else arrived.
    shown = [a for a in peer.received() if a["type"] in ("Create", "Announce")]
    assert len(shown) == 2, [(a["type"], a["activity"]["id"], a["actor"]) for a in shown]

    # A change: one Update.
    assert post_event(run.base, _event("seed-article-updated", "fedi-1", "evt-fedi-1u")) == 202
    wait_for(lambda: _of(peer, "Update", object_id), 30, "an Update")
    assert _of(peer, "Update", object_id)[0]["verified"]

    # Undo: the Announces stop; `all`'s Create still comes.
    peer.unfollow(_account(run, "tag.nato"))
    wait_for(
        lambda: (
            requests.get(f"{run.base}/ap/actors/tag.nato/followers", timeout=5).json()["totalItems"]
            == 0
        ),
        15,
        "the Undo",
    )
    assert post_event(run.base, _event("seed-article-published", "fedi-2", "evt-fedi-2")) == 202
    second = f"{run.base}/ap/objects/fedi-2"
    wait_for(lambda: _of(peer, "Create", second), 30, "the second Create")
    assert not _of(peer, "Announce", second)

    # Unpublished: a Delete (a Tombstone) to the inbox that received it; the object answers 410.
    assert post_event(run.base, _event("seed-article-unpublished", "fedi-1", "evt-fedi-1d")) == 202
    wait_for(lambda: [a for a in peer.received() if a["type"] == "Delete"], 30, "a Delete")
    delete = next(a for a in peer.received() if a["type"] == "Delete")
    assert delete["verified"] and delete["activity"]["object"]["type"] == "Tombstone"
    gone = requests.get(object_id, headers={"Accept": "application/activity+json"}, timeout=5)
    assert gone.status_code == 410 and gone.json()["type"] == "Tombstone"
    assert len(_of(peer, "Create", object_id)) == 1 and len(_of(peer, "Announce", object_id)) == 1

    # A takedown (`syndicate purge`): a Delete of the second article too, and its object is gone.
    purged = run.cli("purge", "fedi-2", "--yes")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    wait_for(lambda: _of(peer, "Delete", second), 30, "the purge's Delete")
    gone = requests.get(second, headers={"Accept": "application/activity+json"}, timeout=5)
    assert gone.status_code == 410 and gone.json()["type"] == "Tombstone"


def test_forged_requests_are_refused_and_status_counts_followers(run: Run, peer) -> None:
    before = requests.get(f"{run.base}/ap/actors/all/followers", timeout=5).json()["totalItems"]
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": peer.actor_url + "#f9",
        "type": "Follow",
        "actor": peer.actor_url,
        "object": f"{run.base}/ap/actors/all",
    }
    r = requests.post(
        f"{run.base}/ap/inbox",
        json=follow,
        timeout=5,
        headers={"Content-Type": "application/activity+json"},
    )
    assert r.status_code == 401
    after = requests.get(f"{run.base}/ap/actors/all/followers", timeout=5).json()["totalItems"]
    assert after == before
    # A peer that signs RFC 9421 first (as Fedify does for servers it does not know) is taken.
    with fedify_peer.running_peer(env={"FEDIFY_FIRST_KNOCK": "rfc9421"}, users=("nine",)) as p9:
        p9.follow(_account(run, "all"), user="nine")
        [accept] = p9.wait_received(lambda a: a["type"] == "Accept")
        assert accept["verified"]
        follows = [s for s in p9.sent() if s["method"] == "POST"]
        assert follows[0]["signature_spec"] == "rfc9421" and follows[0]["status"] == 202, follows
    metrics = requests.get(f"{run.base}/metrics", headers=OPERATOR, timeout=5).text
    assert "syndicate_fediverse_followers" in metrics
    assert 'syndicate_fediverse_total{outcome="refused"}' in metrics


def _descendants(pid: int) -> list[tuple[int, str, int]]:
    """(pid, command line, niceness) of every process under `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                cmd = (Path(f"/proc/{child}/cmdline").read_bytes()).replace(b"\0", b" ").decode()
                nice = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[16])
            except OSError:
                continue
            out.append((child, cmd, nice))
            todo.append(child)
    return out


def test_the_fan_out_runs_in_its_own_process_below_the_renderer(run: Run) -> None:
    """The fediverse's work never takes the CPU from events and renders: a Celery worker of its
    own takes the `fediverse` queue, niced below the renderer, and the worker's own pool does
    not consume that queue (Celery's banners in worker.log say which queues each takes)."""
    procs = _descendants(run.proc.pid)
    [renderer] = [p for p in procs if "worker.renderer" in p[1]]
    fanouts = [p for p in procs if "-A worker.fanout" in p[1] and "--queues=fediverse" in p[1]]
    assert fanouts, procs
    assert all(nice > renderer[2] for _, _, nice in fanouts), (fanouts, renderer)

    def banners() -> set[tuple[str, ...]]:
        log = (run.data / "worker.log").read_text(errors="replace")
        return {
            tuple(
                sorted(
                    line.split(".>")[1].split()[0] for line in b.splitlines() if "exchange=" in line
                )
            )
            for b in log.split("[queues]")[1:]
        }

    wait_for(lambda: len(banners()) >= 2, 30, "both workers' banners")
    assert banners() == {("fediverse",), ("deliveries", "events", "pings")}


def test_the_workers_own_pool_stays_prefork_beside_the_fan_out_threads(run: Run) -> None:
    """Only the fan-out process runs a thread pool: the worker's own pool (posts, pings,
    takedowns) keeps prefork's time limits and lost-worker redelivery."""

    def pools() -> list[str]:
        log = (run.data / "worker.log").read_text(errors="replace")
        return [
            line.split("(")[-1].rstrip(")") for line in log.splitlines() if "concurrency:" in line
        ]

    wait_for(lambda: len(pools()) >= 2, 30, "both workers' banners")
    assert sorted(set(pools())) == ["prefork", "thread"], pools()
