"""Logging for every syndicate process: plain lines by default, JSON lines with `--log-json`.

Records carry the ids that tie a story together (event_id, article_id, network, feed), passed as
`extra=` at the call sites, so `jq 'select(.article_id=="...")'` follows one article from intake
through its renders to its posts. Secrets never reach a record: Settings' repr hides them, and
the filter below masks anything that looks like one should a message carry it anyway.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

CONTEXT_FIELDS = ("event_id", "article_id", "network", "feed", "hub")
# Standard Webhooks secrets, bearer tokens, access_token parameters and OAuth 1.0a signatures.
_SECRETS = (
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_<redacted>"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1<redacted>"),
    (re.compile(r"(access_token=)[^&\s\"']+"), r"\1<redacted>"),
    (re.compile(r"(oauth_(?:signature|token)=\"?)[^\",&\s]+"), r"\1<redacted>"),
)


def mask(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def setup(json_lines: bool, level: int = logging.INFO) -> None:
    """Configure the root logger of this process (the CLI, the API, or a Celery worker)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "httpx", "kombu", "amqp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
