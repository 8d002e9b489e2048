"""Opaque keyset cursors of every list (docs/reports-contract.md "Lists").

A list ordered on a unique key hands out the last row's key as its cursor; the next page
starts after it. The token is URL-safe base64 of a JSON array; `decode` converts each element
back with the caller's types (datetime, uuid.UUID, int, str) and refuses anything else as
INVALID_ARGUMENT `invalid_page_token`.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kefu_common.errors import InvalidArgument

_CONVERT: dict[type, Callable[[Any], Any]] = {
    datetime: lambda v: datetime.fromisoformat(v),
    uuid.UUID: lambda v: uuid.UUID(v),
    int: lambda v: v if isinstance(v, int) and not isinstance(v, bool) else int("x"),
    str: lambda v: v if isinstance(v, str) else int("x"),
}


def encode(*key: Any) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v for v in key]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def decode(token: str, *types: type) -> tuple[Any, ...] | None:
    """The key in `token` (None for an empty token: the first page)."""
    if not token:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong arity")
        return tuple(_CONVERT[t](v) for t, v in zip(types, values, strict=True))
    except (ValueError, TypeError, UnicodeDecodeError, AttributeError):
        raise InvalidArgument("page_token is not valid", code="invalid_page_token") from None
