"""What a delivery attempt can end in, decided by each network's `classify` from the API's own
status, body and headers."""

from __future__ import annotations


class DeliveryError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:500]


class PermanentError(DeliveryError):
    """Bad credentials, missing permission, invalid payload: retrying cannot help."""


class RetryableError(DeliveryError):
    """Try again later. `ambiguous`: the post may exist already (5xx, timeout after sending).
    `wait_s`: the remote said when (rate-limit reset); None means use the backoff schedule."""

    def __init__(self, reason: str, *, ambiguous: bool, wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.ambiguous = ambiguous
        self.wait_s = wait_s


class DuplicateError(DeliveryError):
    """The network refuses the post as a duplicate of one that exists (X 403, Facebook 506)."""


class QuotaWait(RetryableError):
    """The network's own posting (or deleting) quota is used up and nothing was sent: wait
    `wait_s`, which the channel read from the network. Waiting for a quota is not an attempt:
    the delivery state machine gives the attempt back, so a full quota never spends the retry
    budget (Threads' 250 posts and 100 deletes a day)."""

    def __init__(self, reason: str, wait_s: float) -> None:
        super().__init__(reason, ambiguous=False, wait_s=wait_s)


class HealthWarning(DeliveryError):
    """`check`: the network works now, but something needs attention soon (a LinkedIn-Version
    close to its sunset); shown as a warning that does not fail `check`."""
