"""Keyset cursors (kefu_common.keyset): a key survives the round trip, anything else is refused."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest

from kefu_common import keyset
from kefu_common.errors import InvalidArgument


def test_a_key_comes_back_with_its_types() -> None:
    at, ident = datetime(2026, 11, 30, 16, 30, tzinfo=UTC), uuid.uuid4()
    assert keyset.decode(keyset.encode(2, at, ident), int, datetime, uuid.UUID) == (2, at, ident)
    assert keyset.decode("", datetime, uuid.UUID) is None


@pytest.mark.parametrize(
    "token",
    ["not-base64!", base64.urlsafe_b64encode(b"{}").decode(), keyset.encode("2026-11-30"),
     keyset.encode("x", "not-a-uuid"), keyset.encode(True, "2026-11-30T00:00:00+00:00", str(uuid.uuid4()))],
)
def test_a_token_that_is_not_such_a_key_is_invalid_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        keyset.decode(token, int, datetime, uuid.UUID)
    assert err.value.code == "invalid_page_token"
