"""Event validation against the contract's JSON Schema, with every offending field named.

The schema is the contract's own (`event.schema.json`, shipped with the package). jsonschema's
stock format checks are lenient or need extra packages, so `date-time` (with a required UTC
offset) and `uri` are checked here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

_SPACE = re.compile(r"\s")
_formats = FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with a UTC offset (e.g. 2023-07-13T18:00:00Z)")
    datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


@_formats.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    if not parts.scheme or not (parts.netloc or parts.path) or _SPACE.search(value):
        raise ValueError("must be an absolute URI")
    return True


_SCHEMA = json.loads((Path(__file__).parent / "event.schema.json").read_text("utf-8"))
_VALIDATOR = Draft202012Validator(_SCHEMA, format_checker=_formats)


def _as_predicate(check: Callable[[object], bool]) -> Callable[[object], bool]:
    def predicate(value: object) -> bool:
        try:
            return check(value)
        except ValueError:
            return False
    return predicate


# The same schema compiled to Python by fastjsonschema: ~8x faster than jsonschema, which was
# most of intake's CPU. It answers only valid/invalid, so an invalid event is validated again
# by jsonschema to name every offending field. The schema uses no keyword whose meaning differs
# between draft 7 (fastjsonschema) and 2020-12; tests/test_fuzz.py checks the two agree.
_FAST = fastjsonschema.compile(
    {k: v for k, v in _SCHEMA.items() if k != "$schema"},
    formats={"date-time": _as_predicate(_is_datetime), "uri": _as_predicate(_is_uri)})


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(body)"


def validate_event(payload: Any) -> list[FieldError]:
    """Every schema violation of an event body, one entry per offending field, sorted by field."""
    try:
        _FAST(payload)
        return []
    except Exception:  # invalid (or too odd for the fast path): the full validator decides
        pass
    return full_validation(payload)


def full_validation(payload: Any) -> list[FieldError]:
    """jsonschema's verdict, every error named (the reference `validate_event` must agree with)."""
    errors: dict[tuple[str, str], FieldError] = {}
    for err in _VALIDATOR.iter_errors(payload):
        # `if/then` failures repeat the inner errors; report the inner ones only.
        leaves = [e for e in err.context] if err.validator in ("allOf", "oneOf") and err.context else [err]
        for leaf in leaves:
            field = _path(leaf.absolute_path)
            if leaf.validator == "required":
                missing = leaf.message.split("'")[1] if "'" in leaf.message else "?"
                field = f"{field}.{missing}" if field != "(body)" else missing
                message = "is required"
            elif leaf.validator == "format":
                message = str(leaf.cause) if leaf.cause else leaf.message
            elif leaf.validator == "additionalProperties":
                message = leaf.message
            else:
                message = leaf.message
            if len(message) > 300:
                message = message[:297] + "..."
            errors.setdefault((field, message), FieldError(field, message))
    return sorted(errors.values(), key=lambda e: (e.field, e.message))
