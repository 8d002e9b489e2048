"""Request-level dependencies shared by the routes: idempotency keys and conditional writes."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import Depends, Header, Request

from kefu_common.errors import InvalidArgument
from kefu_gateway.auth import Principal
from kefu_gateway.problems import mark_conditional

_KEY = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
# An entity tag as the ticket routes send it ("<version>"), also weak (W/"7") or bare (7).
_IF_MATCH = re.compile(r'^(?:W/)?(?:"(?P<quoted>[0-9]{1,18})"|(?P<bare>[0-9]{1,18}))$')

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes the call safe to retry: the same key returns the first result",
        max_length=64,
    ),
]


def request_id_for(principal: Principal, key: str | None) -> str:
    """Idempotency keys are scoped to the caller, so two callers never collide."""
    if key is None:
        return f"auto/{uuid.uuid4().hex}"
    if not _KEY.match(key):
        raise InvalidArgument(
            "Idempotency-Key must be 1..64 characters of A-Z a-z 0-9 . _ : -",
            code="invalid_idempotency_key",
        )
    return f"{principal.actor}/{key}"


def etag(version: int) -> str:
    """The entity tag of a ticket representation: its version, quoted."""
    return f'"{version}"'


IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match", max_length=512,
        description="The `ETag` of your last read: 304 Not Modified while it is still current",
    ),
]


def etag_matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison (`W/` ignored) against a list of tags, or `*`.
    True: the client's copy is current (answer 304)."""
    if not if_none_match:
        return False
    candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
    return "*" in candidates or tag in candidates


def parse_if_match(value: str) -> int:
    """`"7"`, `W/"7"` or `7` -> 7; `*` -> 0 (any current version). Anything else is refused."""
    value = value.strip()
    if value == "*":
        return 0
    match = _IF_MATCH.match(value)
    version = int(match["quoted"] or match["bare"]) if match else 0
    if version < 1:
        raise InvalidArgument(
            'If-Match must be one entity tag as sent in ETag, e.g. "3"', code="invalid_if_match"
        )
    return version


async def expected_version(
    request: Request,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='Apply only if the ticket is still at this version (its ETag, e.g. "3"); '
            "otherwise 412 and nothing changes",
        ),
    ] = None,
) -> int:
    """The version the caller last saw (0: unconditional). A conditional request is marked so
    that a version conflict renders as 412 rather than 409 (see problems.py)."""
    if if_match is None:
        return 0
    version = parse_if_match(if_match)
    if version:
        mark_conditional(request)
    return version


ExpectedVersion = Annotated[int, Depends(expected_version)]
