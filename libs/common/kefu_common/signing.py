"""One webhook signature and one set of headers for every service that calls out: partner
webhooks (gateway) and notification webhooks (escalation).

Deliveries are signed per the Standard Webhooks specification (standardwebhooks.com), so any
of its receiver libraries verifies them:

    webhook-id:        <id>               the same on every retry: de-duplicate on it
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<raw body>")>

The key is the base64-decoded part of the secret after `whsec_` (a secret without the prefix
is used as its UTF-8 bytes). During a secret rotation a delivery carries one signature per
secret, space-separated; a receiver accepts any one it can verify.

Deprecated (sent until 2027-06-30, see docs/gateway.md), the headers Kefu used before:

    Kefu-Delivery-Id: <id>
    Kefu-Timestamp:   <unix seconds>
    Kefu-Signature:   v1=<hex HMAC-SHA256(secret as text, "<Kefu-Timestamp>.<raw body>")>

`Kefu-Event-Type` (e.g. ticket.created, escalation.notification) stays: the specification has
no event-type header. `verify_signature` is what a receiver of the deprecated headers does; a Standard Webhooks
receiver uses that specification's libraries (the tests verify with `standardwebhooks`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime

WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
# Deprecated (Kefu's own scheme before Standard Webhooks): sent beside the standard headers.
SIGNATURE_HEADER = "Kefu-Signature"
TIMESTAMP_HEADER = "Kefu-Timestamp"
DELIVERY_HEADER = "Kefu-Delivery-Id"
EVENT_HEADER = "Kefu-Event-Type"
LEGACY_HEADERS_UNTIL = "2027-06-30"


def signing_key(secret: str) -> bytes:
    """The HMAC key of `secret`: base64 after `whsec_` (as the reference libraries decode it:
    padding optional), else the secret's UTF-8 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    encoded = secret[len(SECRET_PREFIX):]
    try:
        return base64.b64decode(encoded + "==")
    except (binascii.Error, ValueError):  # a url-safe secret of an older subscription
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def new_secret(nbytes: int = 32) -> str:
    """A fresh `whsec_` secret: standard base64 of `nbytes` random bytes."""
    import secrets

    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def standard_signature(secret: str | Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: ``v1,<base64>`` per secret, space-separated."""
    keys = [secret] if isinstance(secret, str) else list(secret)
    content = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(signing_key(k), content, hashlib.sha256).digest()).decode()
        for k in keys
    )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The deprecated `Kefu-Signature` value: ``v1=`` and the hex HMAC-SHA256 of
    ``"<timestamp>.<body>"`` keyed with the secret's text."""
    return "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str | Sequence[str], body: bytes, *, timestamp: int, delivery_id: str, event_type: str
) -> dict[str, str]:
    """Every header of one signed JSON delivery; several secrets (newest first) during a
    rotation: one standard signature each, the deprecated one with the newest."""
    current = secret if isinstance(secret, str) else secret[0]
    return {
        "Content-Type": "application/json",
        WEBHOOK_ID_HEADER: delivery_id,
        WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
        WEBHOOK_SIGNATURE_HEADER: standard_signature(secret, delivery_id, timestamp, body),
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(current, timestamp, body),
    }


def verify_signature(
    secret: str, *, timestamp: str, body: bytes, signature: str, now: datetime, tolerance_seconds: int = 300
) -> bool:
    """What a receiver of the deprecated headers does: recompute, compare in constant time,
    refuse stale timestamps."""
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)
