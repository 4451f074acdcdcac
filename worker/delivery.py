"""The delivery state machine: exactly one post per article and network, whatever fails.

Posting is at-least-once underneath (tasks rerun after crashes, retries after timeouts), so:
- intent is recorded before the call (`in_flight=1`, attempts+1) and the remote id after;
- an attempt that may have reached the network (timeout or dropped connection after sending,
  5xx, a crash between send and record) leaves `in_flight=1`: the next attempt first asks the
  network whether the post exists (Facebook, Google+), and a duplicate refusal (X 403,
  Facebook 506) after such an attempt means the post was made;
- one lock per entry keeps two workers from attempting at once;
- waits (rate limits, backoff) go to the Redis schedule, not to Celery ETAs.

States: pending -> sent -> deleted, or failed, or skipped.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from feeds.article import Article
from feeds.share import payload_hash
from worker import plausible, trace
from worker.http import traced
from worker.retry import DELETE, DELIVERY, LONGEST_WAIT_S, REFRESH, Retry
from worker.runtime import Runtime
from worker.social import NETWORKS
from worker.social.base import Channel, Memo
from worker.social.errors import (
    DeliveryError,
    DuplicateError,
    PermanentError,
    QuotaWait,
    RetryableError,
)
from worker.store.dead import Reason, delivery_letter, reason_of
from worker.store.outbox import Listing

log = logging.getLogger("syndicate.delivery")


def outbox_plan(rt: Runtime, article: Article) -> dict[str, tuple[str, str]]:
    """What each network should do with this article on its first publish."""
    wanted = set(article.share.networks) if article.share.networks is not None else set(NETWORKS)
    enabled = set(rt.channels)
    plan = {}
    for network in NETWORKS:
        if network not in wanted:
            plan[network] = ("skipped", "not in the article's share.networks")
        elif network not in enabled:
            plan[network] = ("skipped", "channel not configured")
        else:
            plan[network] = ("pending", "")
    return plan


class Delivery:
    """One (article, network) entry being worked on; `run(action)` is the task body."""

    def __init__(self, rt: Runtime, article_id: str, network: str) -> None:
        self.rt = rt
        self.store = rt.store
        self.outbox = rt.store.outbox
        self.article_id = article_id
        self.network = network
        self.channel: Channel | None = rt.channels.get(network)

    def run(self, action: str, attempt: int = 1) -> str:
        if self.channel is None:
            return "channel off"
        # Shorter than the visibility timeout, so a rerun after a crash is not locked out.
        ttl = int(self.rt.settings.http_timeout * 2 + 5)
        if not self.outbox.lock(self.article_id, self.network, ttl):
            return "busy"  # another worker holds it; its outcome decides
        try:
            entry = self.outbox.entry(self.article_id, self.network)
            # What the network keeps between attempts (Threads' container), in the entry itself.
            self.channel.memo = Memo(
                _memo(entry), lambda data: self._update(listing="keep", memo=json.dumps(data))
            )
            # Every call to the network carries the event's trace, as a new span: each request
            # of this run's own, never set on the channel's session that other runs share.
            with traced(trace.child(entry.get("traceparent", ""))):
                return self._work(action, attempt, entry)
        finally:
            self.outbox.unlock(self.article_id, self.network)

    def _work(self, action: str, attempt: int, entry: dict[str, str]) -> str:
        """The run's work: a refresh, the post, or the delete a retraction asked for; an entry
        with none of these left leaves the open list."""
        if action == "refresh":
            return self._refresh(attempt)
        state = entry.get("state")
        if state == "pending":
            return self._post(entry)
        if state == "sent" and entry.get("delete_requested") == "1":
            return self._delete(entry)
        self._update(listing="close")
        return state or "no entry"

    # ----------------------------------------------------------------------------------------
    def _context(self) -> dict[str, str]:
        """Log fields: the article, the network, the event that asked for the post, its trace."""
        entry = self.outbox.entry(self.article_id, self.network)
        return {
            "article_id": self.article_id,
            "network": self.network,
            "event_id": entry.get("event_id", ""),
            "trace_id": trace.trace_id(entry.get("traceparent")),
        }

    def _article(self) -> Article:
        article = self.store.articles.article(self.article_id)
        if article is None:
            raise PermanentError("article not published")
        return article

    def _update(self, listing: Listing = "open", incr: bool = False, **fields: Any) -> None:
        """Write the entry's fields; `listing` as for Outbox.update (open: work is left)."""
        self.outbox.update(
            self.article_id, self.network, listing=listing, incr_attempts=incr, **fields
        )

    def _retry(
        self,
        action: str,
        attempts: int,
        error: RetryableError,
        policy: Retry = DELIVERY,
        attempt: int = 0,
    ) -> str:
        wait = (
            error.wait_s
            if error.wait_s is not None
            else policy.backoff_s(attempts, self.rt.settings.retry_base_s)
        )
        wait = min(wait, LONGEST_WAIT_S)
        self.store.schedule.add(
            "deliver", [self.article_id, self.network, action, attempt + 1], wait
        )
        self.outbox.count_retry(self.network)
        self._update(last_error=error.reason, next_attempt_at=f"{time.time() + wait:.0f}")
        log.info(
            "%s %s for %s: %s; retry in %.1fs",
            self.network,
            action,
            self.article_id,
            error.reason,
            wait,
            extra=self._context(),
        )
        return "retry"

    def _give_up(self, reason: str, **fields: Any) -> str:
        """Failed for good: recorded, closed and dead-lettered (`in_flight` stays as it is)."""
        self._update(listing="close", state="failed", last_error=reason, **fields)
        self.store.dead.add(delivery_letter(self.article_id, self.network), reason_of(reason))
        log.warning(
            "%s post for %s failed: %s",
            self.network,
            self.article_id,
            reason,
            extra=self._context(),
        )
        return "failed"

    def _post(self, entry: dict[str, str]) -> str:
        ambiguous = entry.get("in_flight") == "1"
        # The article's own state decides, not only the flag the unpublish set: nothing that
        # is not published now is ever posted, whatever the entry says.
        retracted = (
            entry.get("delete_requested") == "1"
            or self.store.articles.state(self.article_id) != "published"
        )
        if retracted and not ambiguous:
            self._update(
                listing="close",
                state="skipped",
                delete_requested=0,
                reason="unpublished before it was shared",
            )
            return "skipped"
        attempts = int(entry.get("attempts", 0))
        if DELIVERY.gives_up(attempts):  # in_flight stays: a replay must still check first
            return self._give_up(
                f"gave up after {attempts} attempts: {entry.get('last_error', '')}"
            )
        if ambiguous:
            # The last attempt may have posted: ask the network first. The lookup is an
            # attempt like any other (counted, backed off, given up).
            settled = self._look_first(entry, attempts, retracted)
            if settled is not None:
                return settled
            attempts += 1
        return self._send(entry, attempts, ambiguous)

    def _look_first(self, entry: dict[str, str], attempts: int, retracted: bool) -> str | None:
        """After an attempt that may have posted: the outcome if asking the network settles
        the entry (found, retried, skipped, failed); None if it shows no earlier post and the
        article is still published, so the post is made now."""
        assert self.channel is not None
        self._update(incr=True, last_attempt_at=f"{time.time():.3f}")
        try:
            existing = self.channel.find_existing(self.store.articles.url(self.article_id))
        except RetryableError as exc:
            if retracted:
                return self._unknown_after_retraction(f"lookup failed: {exc.reason}")
            return self._retry(
                "post",
                attempts + 1,
                RetryableError(f"checking for an earlier post: {exc.reason}", ambiguous=True),
            )
        except DeliveryError as exc:
            return self._give_up(f"could not check for an earlier post: {exc.reason}")
        if existing:
            return self._sent(entry, existing, "found after an uncertain attempt")
        if not retracted:
            return None
        if not self.channel.can_find:
            return self._unknown_after_retraction(f"{self.network} cannot be searched")
        self._update(
            listing="close",
            state="skipped",
            in_flight=0,
            delete_requested=0,
            reason="unpublished; the network shows no earlier post",
        )
        return "skipped"

    def _send(self, entry: dict[str, str], attempts: int, ambiguous: bool) -> str:
        """The post itself: the intent recorded (in flight, the payload's hash), then the call;
        its answer decides sent, retry or failed. `attempts`: those made before this one; after
        a lookup (`ambiguous`) the lookup counted as this one."""
        assert self.channel is not None
        article = self._article()  # still published, or PermanentError
        if self.channel.stable_payload and entry.get("payload"):
            payload = json.loads(entry["payload"])  # exactly the bytes of the first attempt
        else:
            payload = self.channel.payload(article)
        extra: dict[str, Any] = (
            {"payload": json.dumps(payload)} if self.channel.stable_payload else {}
        )
        self._update(
            incr=not ambiguous,
            in_flight=1,
            payload_hash=payload_hash(payload),
            last_attempt_at=f"{time.time():.3f}",
            **extra,
        )
        try:
            remote_id = self.channel.post(payload)
        except DuplicateError as exc:
            if ambiguous:
                return self._sent(
                    entry, "", f"duplicate refusal after an uncertain attempt ({exc.reason})"
                )
            return self._give_up(exc.reason, in_flight=0)
        except RetryableError as exc:
            if not exc.ambiguous:
                self._update(in_flight=0)
            if isinstance(exc, QuotaWait) and not ambiguous:
                self._update(attempts=attempts)  # a quota wait is not an attempt
            return self._retry("post", attempts + 1, exc)
        except PermanentError as exc:
            return self._give_up(exc.reason, in_flight=0)
        return self._sent(entry, remote_id, "")

    def _unknown_after_retraction(self, why: str) -> str:
        """Unpublished after an attempt that may have posted, and no way to find that post:
        never post again; tell the editor to look."""
        self._update(
            listing="close",
            state="skipped",
            delete_requested=0,
            reason=f"unpublished after an uncertain attempt ({why}): if a post "
            f"appeared on {self.network}, delete it by hand",
        )
        self.store.dead.add(delivery_letter(self.article_id, self.network), Reason.MAYBE_POSTED)
        return "skipped"

    def _sent(self, entry: dict[str, str], remote_id: str, note: str) -> str:
        delete_next = (
            entry.get("delete_requested") == "1"
            or self.outbox.entry(self.article_id, self.network).get("delete_requested") == "1"
        )
        if not plausible.post_id(remote_id):  # a remote answer: kept only if it looks like an id
            log.warning(
                "%s answered an implausible post id for %s; kept as unknown",
                self.network,
                self.article_id,
                extra=self._context(),
            )
            remote_id, note = "", note or "the network answered an implausible post id"
        url = self.channel.remote_url(remote_id) if self.channel and remote_id else ""
        if not plausible.post_url(url):
            url = ""
        self._update(
            listing="open" if delete_next else "close",
            state="sent",
            remote_id=remote_id,
            remote_url=url,
            in_flight=0,
            note=note,
            sent_at=f"{time.time():.3f}",
            last_error="",
        )
        log.info(
            "%s post for %s sent (%s)",
            self.network,
            self.article_id,
            remote_id or "id unknown",
            extra=self._context(),
        )
        if delete_next:
            self.store.schedule.add("deliver", [self.article_id, self.network, "delete", 1], 0)
        return "sent"

    def _delete(self, entry: dict[str, str]) -> str:
        assert self.channel is not None
        remote_id = entry.get("remote_id", "")
        if not self.channel.can_delete:
            self._update(listing="close", delete_requested=0, note=f"{self.network} has no delete")
            return "kept"
        if not remote_id:
            self._update(
                listing="close",
                delete_requested=0,
                last_error="remote id unknown: delete the post by hand",
            )
            return "kept"
        attempts = int(entry.get("delete_attempts", 0)) + 1
        self._update(delete_attempts=attempts)
        try:
            self.channel.delete(remote_id)
        except RetryableError as exc:
            if isinstance(exc, QuotaWait):
                self._update(delete_attempts=attempts - 1)  # a quota wait is not an attempt
                return self._retry("delete", attempts - 1, exc, DELETE)
            if DELETE.gives_up(attempts):
                self._update(listing="close", last_error=f"delete gave up: {exc.reason}")
                self.store.dead.add(
                    delivery_letter(self.article_id, self.network), reason_of(exc.reason)
                )
                return "failed"
            return self._retry("delete", attempts, exc, DELETE)
        except DeliveryError as exc:
            self._update(listing="close", last_error=f"delete failed: {exc.reason}")
            self.store.dead.add(
                delivery_letter(self.article_id, self.network), reason_of(exc.reason)
            )
            return "failed"
        self._update(
            listing="close",
            state="deleted",
            delete_requested=0,
            deleted_at=f"{time.time():.3f}",
            last_error="",
        )
        return "deleted"

    def _refresh(self, attempt: int) -> str:
        assert self.channel is not None
        try:
            self.channel.refresh(self._article())
        except RetryableError as exc:
            if REFRESH.gives_up(attempt):
                return "failed"
            return self._retry("refresh", attempt, exc, REFRESH, attempt)
        except DeliveryError as exc:
            log.warning(
                "%s refresh for %s failed: %s",
                self.network,
                self.article_id,
                exc.reason,
                extra=self._context(),
            )
            return "failed"
        self._update(listing="keep", refreshed_at=f"{time.time():.3f}")
        return "refreshed"


def _memo(entry: dict[str, str]) -> dict[str, Any]:
    try:
        data = json.loads(entry.get("memo") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
