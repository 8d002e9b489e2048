"""Replies are bounded below the gRPC message limit, so any stored data stays readable.

Every channel and server allows messages up to `MAX_MESSAGE_BYTES` (8 MiB). A list or timeline
reply holds at most `REPLY_BUDGET_BYTES` (half of it, leaving room for the envelope) of
items: `fitting` says how many of a page's items fit, and the servicer ends the page there
with a next-page token, so a page may hold fewer items than asked for but never fails.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
REPLY_BUDGET_BYTES = MAX_MESSAGE_BYTES // 2
_FIELD_OVERHEAD = 6  # tag and length prefix of one repeated element (at most)


def fitting(items: Sequence[Message], *, budget: int = REPLY_BUDGET_BYTES) -> int:
    """How many of `items`, in order, fit in `budget` bytes (at least one: a single item is
    always far below the limit, every field being bounded)."""
    total = 0
    for i, item in enumerate(items):
        total += item.ByteSize() + _FIELD_OVERHEAD
        if total > budget and i:
            return i
    return len(items)
