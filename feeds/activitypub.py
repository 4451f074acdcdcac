"""The fediverse's documents, pure (CONTRACT §7): every feed an ActivityPub actor, one `Article`
object per article (built from the neutral `Item` of feeds/item.py, like every other format),
the activities that carry it (Create, Announce, Update, Delete), the Accept of a Follow, the
WebFinger JRD and NodeInfo. No I/O: api/fediverse.py serves these, worker/fediverse.py signs and
delivers them.

Addresses, all under the public URL:
`/ap/actors/{username}` (the actor; `#main-key` its key; `/inbox`, `/outbox`, `/followers`),
`/ap/inbox` (the shared inbox), `/ap/objects/{article id}` (an article's object).
A feed key's username is the key with `/` as `.` (`tag/nato` -> `tag.nato`): slugs hold no dot.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from feeds.describe import FeedDescription
from feeds.item import Item
from feeds.membership import ALL, is_feed_key

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS = "https://www.w3.org/ns/activitystreams"
CONTEXT: list[Any] = [
    AS,
    "https://w3id.org/security/v1",
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "Hashtag": "as:Hashtag",
        "sensitive": "as:sensitive",
    },
]
ACTIVITY_JSON = "application/activity+json"
NODEINFO_REL = "http://nodeinfo.diaspora.software/ns/schema/2.1"
NODEINFO_PROFILE = f'application/json; profile="{NODEINFO_REL}#"'
_HASHTAG = re.compile(r"[^\w]+", re.UNICODE)
JSON_MAX_DEPTH = 32  # of an incoming document


def username(feed_key: str) -> str:
    return feed_key.replace("/", ".")


def feed_key_of(user: str) -> str | None:
    """The feed key an actor's username names, or None if it names none."""
    key = user.replace(".", "/")
    return key if "/" not in user and is_feed_key(key) else None


def host_of(public_url: str) -> str:
    """The account host: the public URL's host, with its port if it has one."""
    return urlsplit(public_url).netloc.lower()


def actor_id(public_url: str, feed_key: str) -> str:
    return f"{public_url.rstrip('/')}/ap/actors/{username(feed_key)}"


def key_id(public_url: str, feed_key: str) -> str:
    return actor_id(public_url, feed_key) + "#main-key"


def shared_inbox(public_url: str) -> str:
    return f"{public_url.rstrip('/')}/ap/inbox"


def object_id(public_url: str, article_id: str) -> str:
    return f"{public_url.rstrip('/')}/ap/objects/{quote(article_id, safe='')}"


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def actor(
    public_url: str, desc: FeedDescription, public_key_pem: str, icon: str | None = None
) -> dict[str, Any]:
    """The actor of a feed: `Organization` for `all` (the author of every article), `Service`
    for the others."""
    me = actor_id(public_url, desc.key)
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": me,
        "type": "Organization" if desc.key == ALL else "Service",
        "preferredUsername": username(desc.key),
        "name": desc.title,
        "summary": desc.subtitle,
        "url": desc.page,
        "inbox": me + "/inbox",
        "outbox": me + "/outbox",
        "followers": me + "/followers",
        "endpoints": {"sharedInbox": shared_inbox(public_url)},
        "publicKey": {"id": me + "#main-key", "owner": me, "publicKeyPem": public_key_pem},
        "discoverable": True,
        "manuallyApprovesFollowers": False,
    }
    if icon:
        doc["icon"] = {"type": "Image", "url": icon}
    return doc


def _hashtags(item: Item) -> list[dict[str, str]]:
    out = []
    for cat in item.categories:
        if not cat.scheme.endswith("/tag/"):
            continue
        name = _HASHTAG.sub("", cat.label)
        if name:
            out.append({"type": "Hashtag", "href": cat.scheme + cat.term, "name": "#" + name})
    return out


def article_object(public_url: str, article_id: str, item: Item) -> dict[str, Any]:
    """The one object of an article, the same in every feed, authored by `all`."""
    author = actor_id(public_url, ALL)
    obj: dict[str, Any] = {
        "id": object_id(public_url, article_id),
        "type": "Article",
        "attributedTo": author,
        "name": item.title,
        "summary": item.summary,
        "content": item.content_html,
        "mediaType": "text/html",
        "url": item.link,
        "published": _iso(item.published),
        "to": [PUBLIC],
        "cc": [author + "/followers"],
        "tag": _hashtags(item),
    }
    if item.updated > item.published:
        obj["updated"] = _iso(item.updated)
    if item.language:
        obj["contentMap"] = {item.language: item.content_html}
    if item.image is not None:
        image: dict[str, Any] = {
            "type": "Image",
            "url": item.image.url,
            "name": item.image.caption or "",
        }
        if item.image.type:
            image["mediaType"] = item.image.type
        if item.image.width and item.image.height:
            image.update(width=item.image.width, height=item.image.height)
        obj["attachment"] = [image]
    return obj


def tombstone(public_url: str, article_id: str) -> dict[str, Any]:
    return {"@context": AS, "id": object_id(public_url, article_id), "type": "Tombstone"}


def _activity(kind: str, activity_id: str, by: str, obj: Any, cc: list[str]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "id": activity_id,
        "type": kind,
        "actor": by,
        "object": obj,
        "to": [PUBLIC],
        "cc": cc,
    }


def create(public_url: str, obj: dict[str, Any]) -> dict[str, Any]:
    by = actor_id(public_url, ALL)
    return {
        **_activity("Create", obj["id"] + "#create", by, obj, [by + "/followers"]),
        "published": obj["published"],
    }


def announce(public_url: str, feed_key: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A boost of the article's object (by its id: the receiver fetches it) by a feed's actor."""
    by = actor_id(public_url, feed_key)
    return {
        **_activity(
            "Announce",
            f"{obj['id']}#announce-{username(feed_key)}",
            by,
            obj["id"],
            [by + "/followers", obj["attributedTo"]],
        ),
        "published": obj["published"],
    }


def update(public_url: str, obj: dict[str, Any], version: str) -> dict[str, Any]:
    """The change of an article (`version`: the event's, so each change is its own activity)."""
    by = actor_id(public_url, ALL)
    return _activity("Update", f"{obj['id']}#update-{version}", by, obj, [by + "/followers"])


def delete(public_url: str, article_id: str) -> dict[str, Any]:
    by = actor_id(public_url, ALL)
    gone = tombstone(public_url, article_id)
    gone.pop("@context")
    return _activity("Delete", gone["id"] + "#delete", by, gone, [by + "/followers"])


def accept(public_url: str, feed_key: str, follow: dict[str, Any], serial: str) -> dict[str, Any]:
    """The Accept of a Follow, with the Follow embedded (as Mastodon sends it)."""
    me = actor_id(public_url, feed_key)
    return {
        "@context": AS,
        "id": f"{me}#accepts/follows/{serial}",
        "type": "Accept",
        "actor": me,
        "object": follow,
    }


def collection(
    coll_id: str, total: int, items: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": AS,
        "id": coll_id,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if items is not None:
        doc["orderedItems"] = items
    return doc


def webfinger(public_url: str, feed_key: str) -> dict[str, Any]:
    me = actor_id(public_url, feed_key)
    return {
        "subject": f"acct:{username(feed_key)}@{host_of(public_url)}",
        "aliases": [me],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": me},
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": f"{public_url.rstrip('/')}/feeds/{quote(feed_key)}",
            },
        ],
    }


def nodeinfo_links(public_url: str) -> dict[str, Any]:
    return {"links": [{"rel": NODEINFO_REL, "href": f"{public_url.rstrip('/')}/nodeinfo/2.1"}]}


def nodeinfo(version: str, feeds: int, articles: int, title: str) -> dict[str, Any]:
    return {
        "version": "2.1",
        "software": {"name": "syndicate", "version": version},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["rss2.0", "atom1.0"]},
        "openRegistrations": False,
        "usage": {"users": {"total": feeds}, "localPosts": articles},
        "metadata": {"nodeName": title},
    }


def parse(body: bytes) -> dict[str, Any]:
    """An incoming JSON object, its nesting counted before the parser recurses into it (at most
    JSON_MAX_DEPTH levels); `ValueError` says what is wrong."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
            continue
        if byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > JSON_MAX_DEPTH:
                raise ValueError(f"JSON nested deeper than {JSON_MAX_DEPTH} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(doc, dict):
        raise ValueError("the body is not a JSON object")
    return doc
