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

CONTEXT_FIELDS = (
    "event_id",
    "article_id",
    "network",
    "feed",
    "hub",
    "trace_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "client",
)
# Standard Webhooks secrets, bearer tokens, access_token parameters and OAuth 1.0a signatures.
_SECRETS = (
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_<redacted>"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1<redacted>"),
    (re.compile(r"(access_token=)[^&\s\"']+"), r"\1<redacted>"),
    (re.compile(r"(oauth_(?:signature|token)=\"?)[^\",&\s]+"), r"\1<redacted>"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s:]*:[^/@\s]*@"), r"\1<redacted>@"),
    (
        re.compile(
            r"(?i)((?:token|password|secret|passwd|app_password)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
        ),
        r"\1<redacted>",
    ),
)
# The configured secrets themselves (tokens, passwords), registered when a runtime is built, are
# masked wherever they appear, whatever their shape.
_known: set[str] = set()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def register_secrets(values: Any) -> None:
    _known.update(v for v in values if v and len(v) >= 6)


def mask(text: str) -> str:
    """`text` with every secret masked: what may be logged, stored as an error or shown."""
    for value in _known:
        if value in text:
            text = text.replace(value, "<redacted>")
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def escape_controls(text: str) -> str:
    """Newlines and other control characters as escapes, so no value can forge a log line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class PlainFormatter(logging.Formatter):
    """One line per record, whatever the message holds (tracebacks indented below it)."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        line = f"{self.formatTime(record)} {record.levelname} {record.name} {record.message}"
        if record.exc_info:
            trace = mask(self.formatException(record.exc_info))
            line += "\n" + "\n".join("    " + t for t in trace.splitlines())
        return line


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
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "httpx", "kombu", "amqp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
