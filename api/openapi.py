"""The API described (OpenAPI 3.1), served at `GET /openapi.json` for clients and fuzzers."""

from __future__ import annotations

import json
from pathlib import Path

_EVENT_SCHEMA = json.loads(
    (Path(__file__).parent.parent / "feeds" / "event.schema.json").read_text()
)
_DEFS = _EVENT_SCHEMA.pop("$defs")
_EVENT_SCHEMA.pop("$schema", None)
_EVENT_SCHEMA.pop("$id", None)


def _rewrite_refs(node: object) -> object:
    if isinstance(node, dict):
        return {
            k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _rewrite_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(x) for x in node]
    return node


_PROBLEM = {
    "description": "problem details",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
_FEED_PARAM = {
    "name": "feed",
    "in": "path",
    "required": True,
    "description": "feed key and format (rss, atom, json), e.g. `section/news/lithuania.atom`",
    "schema": {"type": "string"},
}
_XML = {
    "application/rss+xml": {"schema": {"type": "string"}},
    "application/atom+xml": {"schema": {"type": "string"}},
    "application/feed+json": {"schema": {"type": "object"}},
}

OPENAPI: dict = {
    "openapi": "3.1.0",
    "info": {
        "title": "syndicate",
        "version": "0.1.0",
        "description": "CMS events in; RSS, Atom, WebSub pings and social posts out.",
    },
    "paths": {
        "/events": {
            "post": {
                "summary": "Submit a CMS event (Standard Webhooks signed)",
                "parameters": [
                    {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                    for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Event"}}
                    },
                },
                "responses": {
                    "202": {
                        "description": "queued",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Accepted"}
                            }
                        },
                    },
                    "200": {
                        "description": "duplicate of an event already accepted",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Accepted"}
                            }
                        },
                    },
                    "400": _PROBLEM,
                    "401": _PROBLEM,
                    "408": _PROBLEM,
                    "413": _PROBLEM,
                    "415": _PROBLEM,
                    "422": {
                        "description": "schema violated; every offending field named",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ValidationProblem"}
                            }
                        },
                    },
                    "503": _PROBLEM,
                },
            }
        },
        "/integrations/ghost": {
            "post": {
                "summary": "A Ghost custom integration's webhook (post.published, "
                "post.published.edited, post.unpublished, post.deleted), signed with "
                "X-Ghost-Signature; 404 while SYNDICATE_GHOST_WEBHOOK_SECRET is unset",
                "parameters": [
                    {
                        "name": "X-Ghost-Signature",
                        "in": "header",
                        "required": True,
                        "description": "sha256=<hex HMAC-SHA256 of body + t>, t=<ms>",
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["post"],
                                "properties": {
                                    "event": {
                                        "enum": [
                                            "post.published",
                                            "post.published.edited",
                                            "post.unpublished",
                                            "post.deleted",
                                        ]
                                    },
                                    "post": {
                                        "type": "object",
                                        "properties": {
                                            "current": {"type": "object"},
                                            "previous": {"type": "object"},
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "queued",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Accepted"}
                            }
                        },
                    },
                    "200": {
                        "description": "duplicate of a delivery already accepted",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Accepted"}
                            }
                        },
                    },
                    "400": _PROBLEM,
                    "401": _PROBLEM,
                    "404": _PROBLEM,
                    "408": _PROBLEM,
                    "413": _PROBLEM,
                    "415": _PROBLEM,
                    "422": {
                        "description": "not a post webhook of the four events, or the post does "
                        "not make a valid event; fields named as Ghost names them",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ValidationProblem"}
                            }
                        },
                    },
                    "503": _PROBLEM,
                },
            }
        },
        "/events/{event_id}": {
            "get": {
                "summary": "An event's status and what it changed",
                "parameters": [
                    {
                        "name": "event_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "status",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "404": _PROBLEM,
                },
            }
        },
        "/articles/{article_id}": {
            "get": {
                "summary": "A stored article, its feeds and its social deliveries",
                "parameters": [
                    {
                        "name": "article_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "article",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "404": _PROBLEM,
                },
            }
        },
        "/feeds/{feed}": {
            "get": {
                "summary": "A feed (RSS 2.0, Atom 1.0 or JSON Feed 1.1)",
                "parameters": [_FEED_PARAM],
                "responses": {
                    "200": {"description": "feed", "content": _XML},
                    "304": {"description": "not modified"},
                    "404": {"description": "no such feed"},
                },
            },
            "head": {
                "summary": "A feed's headers",
                "parameters": [_FEED_PARAM],
                "responses": {
                    "200": {"description": "feed headers"},
                    "304": {"description": "not modified"},
                    "404": {"description": "no such feed"},
                },
            },
        },
        "/": {
            "get": {
                "summary": "The status page (HTML)",
                "responses": {
                    "200": {
                        "description": "status page",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/status/articles/{article_id}": {
            "get": {
                "summary": "One article's timeline (HTML)",
                "parameters": [
                    {
                        "name": "article_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "timeline",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    "404": {"description": "no such article"},
                },
            }
        },
        "/feeds/style.xsl": {
            "get": {
                "summary": "The XSLT that shows a feed as a page in a browser",
                "responses": {"200": {"description": "XSLT"}},
            }
        },
        "/feeds.opml": {
            "get": {
                "summary": "The feeds that have items (all, audio, sections, then "
                "the largest; at most 500), strong ETag",
                "responses": {
                    "200": {
                        "description": "OPML 2.0",
                        "content": {"text/x-opml": {"schema": {"type": "string"}}},
                    },
                    "304": {"description": "not modified"},
                },
            }
        },
        "/feeds/": {
            "get": {
                "summary": "Every feed that has items (HTML), 100 a page, strong ETag",
                "parameters": [
                    {
                        "name": "page",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 999999},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "index page",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    "304": {"description": "not modified"},
                    "400": {"description": "page is not a whole number from 1"},
                    "404": {"description": "past the last page"},
                },
            }
        },
        "/login": {
            "post": {
                "summary": "Sign in with the operator token (form field `token`)",
                "responses": {
                    "303": {"description": "signed in: session cookie"},
                    "401": {"description": "wrong token"},
                    "429": {"description": "too many failed sign-ins; see Retry-After"},
                },
            }
        },
        "/logout": {
            "post": {
                "summary": "Sign out: the session is deleted (form field `csrf`)",
                "responses": {
                    "303": {"description": "signed out"},
                    "403": {"description": "missing or wrong CSRF token"},
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness: Redis answers a PING",
                "responses": {
                    "200": {"description": "alive"},
                    "503": {"description": "Redis unreachable"},
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: Redis, broker and a live worker",
                "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "text exposition format"}},
            }
        },
    },
    "components": {
        "schemas": {
            "Event": _rewrite_refs(_EVENT_SCHEMA),
            **{name: _rewrite_refs(schema) for name, schema in _DEFS.items()},
            "Accepted": {
                "type": "object",
                "required": ["event_id", "status"],
                "properties": {
                    "event_id": {"type": "string"},
                    "status": {"enum": ["queued", "duplicate"]},
                },
            },
            "Problem": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                },
            },
            "ValidationProblem": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            },
        }
    },
}
