"""One webhook signature for every service that calls out (partner webhooks in the gateway,
notification webhooks in escalation): HMAC-SHA256 over ``"<unix timestamp>.<body>"``.

Signing the timestamp with the body lets a receiver refuse replays of an old delivery; each
service puts the hex digest and the timestamp in its own headers (see its docs)."""

from __future__ import annotations

import hashlib
import hmac


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
