"""Which of two states of an article wins, whatever order the events arrive in.

The CMS's `version` decides when both sides carry one; otherwise `updated_at` (or
`published_at`). On a tie an unpublish beats a publish, so a retraction is never undone by a
replay of the state it retracted.
"""

from __future__ import annotations

from datetime import datetime


def supersedes(
    incoming_version: int | None,
    incoming_time: datetime | None,
    incoming_publishes: bool,
    stored_version: int | None,
    stored_time: datetime | None,
    stored_published: bool,
) -> bool:
    """True when the incoming state should replace the stored one."""
    if incoming_version is not None and stored_version is not None:
        if incoming_version != stored_version:
            return incoming_version > stored_version
    elif incoming_time is not None and stored_time is not None and incoming_time != stored_time:
        return incoming_time > stored_time
    elif incoming_version is None and incoming_time is None and not incoming_publishes:
        # An unpublish that carries no version or time: retract whatever is there.
        return stored_published
    # Same version (or time): only a retraction of a published state changes anything.
    return stored_published and not incoming_publishes
