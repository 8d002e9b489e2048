"""One webhook signature and one set of headers for every service that calls out: partner
webhooks (gateway) and notification webhooks (escalation).

    Kefu-Delivery-Id: <id>            de-duplicate on it (delivery is at least once)
    Kefu-Event-Type:  <type>          e.g. ticket.created, escalation.notification
    Kefu-Timestamp:   <unix seconds>
    Kefu-Signature:   v1=<hex HMAC-SHA256(secret, "<Kefu-Timestamp>.<raw body>")>

Signing the timestamp with the body lets a receiver refuse replays of an old delivery;
`verify_signature` is what a receiver does. The `v1=` prefix leaves room for a second scheme
during a key or algorithm rotation."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

SIGNATURE_HEADER = "Kefu-Signature"
TIMESTAMP_HEADER = "Kefu-Timestamp"
DELIVERY_HEADER = "Kefu-Delivery-Id"
EVENT_HEADER = "Kefu-Event-Type"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Kefu-Signature` value: ``v1=`` and the hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    return "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, timestamp: int, delivery_id: str, event_type: str) -> dict[str, str]:
    """Every header of one signed JSON delivery."""
    return {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event_type,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def verify_signature(
    secret: str, *, timestamp: str, body: bytes, signature: str, now: datetime, tolerance_seconds: int = 300
) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)
