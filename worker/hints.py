"""What an editor or the on-call engineer does next about one dead letter: a lookup on the
reason stored with the letter (worker/store/dead.py `Reason`), worded for whoever failed; the
kind's own hint (worker/work.py) when the reason says no more, or names no one to fix.

A letter written before reasons were kept has none: it is given one from the words of its
error, as the hints were found before.
"""

from __future__ import annotations

from worker.store.dead import Reason
from worker.work import Letters

HINTS: dict[str, str] = {
    Reason.AUTH: (
        "{remote} refused the credentials (token expired or revoked, or a wrong key): "
        "set {credentials}, restart the service and press Retry."
    ),
    Reason.REMOTE_4XX: (
        "{remote} refused it (permission or content): check the account, then press Retry."
    ),
    Reason.INVALID: (
        "{remote} refused what was sent as invalid: check its settings and the article, "
        "then press Retry."
    ),
    Reason.RATE_LIMITED: "{remote} kept limiting our rate: press Retry once its limit resets.",
    Reason.REMOTE_5XX: "{remote} kept failing (down or overloaded): press Retry once it is back.",
    Reason.TIMEOUT: "{remote} kept not answering in time: press Retry once it is back.",
    Reason.UNREACHABLE: (
        "{remote} could not be reached: check its address and this host's network, "
        "then press Retry."
    ),
    Reason.DUPLICATE: (
        "{remote} refused it as a duplicate: look there for an earlier post of this article, "
        "and press Retry only if there is none."
    ),
    Reason.MAYBE_POSTED: (
        "Look on {remote} for a post of this article and delete it by hand if there is one."
    ),
}

# Words of a refused credential in the errors of letters written before reasons were kept.
REFUSED = (
    "401",
    "code 190",
    "invalid oauth",
    "unauthorized",
    "expired",
    "invalid credentials",
    "autherror",
    "invalid token",
)


def hint(
    letters: Letters,
    reason: str,
    error: str = "",
    remote: str = "",
    credentials: tuple[str, ...] = (),
) -> str:
    """The hint for a letter of `letters`' kind that failed for `reason` ("": a letter from
    before reasons, read from `error`); `remote` and `credentials` name who failed when the
    letter itself says (a delivery's network), else the kind's."""
    template = HINTS.get(reason or legacy_reason(error))
    remote = remote or letters.remote
    credentials = credentials or letters.credentials
    if template is None or not remote or ("{credentials}" in template and not credentials):
        return letters.hint
    return template.format(remote=remote, credentials=" / ".join(credentials))


def legacy_reason(error: str) -> Reason:
    """The reason of a letter written before reasons were kept, from its error's words."""
    error = error.lower()
    if "uncertain attempt" in error:
        return Reason.MAYBE_POSTED
    if any(word in error for word in REFUSED):
        return Reason.AUTH
    if "403" in error or "permission" in error or "forbidden" in error:
        return Reason.REMOTE_4XX
    if "gave up" in error:
        return Reason.REMOTE_5XX
    return Reason.OTHER
