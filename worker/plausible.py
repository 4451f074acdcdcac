"""What a network's answer says about a post, judged before it is kept, logged or shown: its id
and its public URL. A remote answer is input like any other (a careless or hostile network may
answer a 5,000-character "id" with a newline in it); worker/delivery.py keeps an implausible one
as unknown. (A network's numbers, limits and quotas: `plausible_int` in worker/social/base.py.)
"""

from __future__ import annotations

MAX_REMOTE_ID = 512  # the longest real ones (Bluesky at-URIs) are ~100 characters
MAX_REMOTE_URL = 2048


def post_id(remote_id: str) -> bool:
    """Short, printable, without a space."""
    return len(remote_id) <= MAX_REMOTE_ID and remote_id.isprintable() and " " not in remote_id


def post_url(url: str) -> bool:
    """None given (empty), or a short, printable http(s) URL without a space."""
    if not url:
        return True
    return (
        len(url) <= MAX_REMOTE_URL
        and url.startswith(("https://", "http://"))
        and url.isprintable()
        and " " not in url
    )
