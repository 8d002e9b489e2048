"""The one timestamp format of everything Kefu emits (issue #13): RFC 3339 in UTC, `Z`, always
six fractional digits (microseconds, PostgreSQL's precision), e.g. `2026-12-04T18:02:23.120000Z`.

REST bodies, webhook bodies, CSV/XLSX cells and problem+json texts all use it, so a client
parses one shape and can compare timestamps as strings. Calendar dates stay RFC 3339
full-dates (`2026-12-04`); HTTP headers keep the formats HTTP defines for them.

- `rfc3339(dt)`: the string. A naive datetime is taken as UTC (protobuf's `ToDatetime()`).
- `UtcDateTime`: a pydantic field type, `datetime` in and this string out in JSON; the JSON
  schema stays `{"type": "string", "format": "date-time"}`.
- `instants_in_one_format(payload)`: the same for JSON built elsewhere (webhook event data);
  `instants_in_text(text)` for sentences stored with instants in them (escalation reasons).
- `RFC3339_UTC`: the pattern a test or a client checks with.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import PlainSerializer, WithJsonSchema

RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
EXAMPLE = "2026-12-04T09:30:00.000000Z"


def rfc3339(dt: datetime) -> str:
    utc = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_or_same(value: Any) -> Any:
    """`value` in the one format if it is a datetime or an ISO 8601 date-time string (as older
    payloads carry them, e.g. `+00:00`); anything else as it is."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, str) and len(value) > 10 and value[10:11] == "T":
        try:
            return rfc3339(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


# Keys that name an instant in our payloads (`created_at`, `due_at`, `next_update_by`...).
INSTANT_KEY_SUFFIXES = ("_at", "_by", "_until")


def instants_in_one_format(payload: Any) -> Any:
    """A JSON-like payload with the value of every instant key (nested too) in the one format:
    for payloads built from other services' JSON (webhook event data)."""
    if isinstance(payload, dict):
        return {k: rfc3339_or_same(v) if k.endswith(INSTANT_KEY_SUFFIXES) else instants_in_one_format(v)
                for k, v in payload.items()}
    if isinstance(payload, list):
        return [instants_in_one_format(v) for v in payload]
    return payload


# An instant with an explicit offset as Python or protobuf write it inside a sentence.
_INSTANT_IN_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


def instants_in_text(text: str) -> str:
    """A stored sentence (an escalation's reason written before the one format) with each
    instant it quotes in the one format; instants without an offset are left alone."""
    return _INSTANT_IN_TEXT.sub(lambda m: rfc3339_or_same(m.group()[:10] + "T" + m.group()[11:]), text)


UtcDateTime = Annotated[
    datetime,
    PlainSerializer(rfc3339, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [EXAMPLE]}),
]
