"""Delivering queued notifications (the ``escalation.notification`` outbox) to pluggable sinks.

Escalations and warnings insert notification rows in their own transaction (escalations.py);
`NotificationDispatcher.dispatch_due` claims rows that are due with ``FOR UPDATE SKIP LOCKED``
(any number of replicas), hands each to every sink, and marks it ``sent`` — or, when a sink
raises, schedules a retry with exponential backoff (``base * 2**attempts``, capped) until
``max_attempts``, then ``failed`` with the last error kept.

Delivery is *at least once*: a crash after a sink succeeded and before the commit sends the
row again. Receivers de-duplicate by the notification id (``Kefu-Delivery-Id``).

Sinks:

* `LogSink` writes one structured log line per notification (always on).
* `WebhookSink` POSTs the JSON body signed like partner webhooks (`kefu_common.signing`:
  Standard Webhooks ``webhook-id`` (the notification id), ``webhook-timestamp``,
  ``webhook-signature: v1,<base64>``; ``Kefu-Event-Type: escalation.notification``; the
  deprecated ``Kefu-Signature`` headers until 2027-06-30); any non-2xx answer or transport
  error retries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.logging import get_logger
from kefu_common.signing import signed_headers
from kefu_common.timestamps import instants_in_one_format, rfc3339

log = get_logger("kefu.escalation.notifications")

__all__ = ["LogSink", "NotificationDispatcher", "NotificationSink", "WebhookSink"]

NOTIFICATION_EVENT_TYPE = "escalation.notification"


class NotificationSink(Protocol):
    async def send(self, notification: Mapping[str, Any]) -> None:
        """Deliver one notification; raise to have it retried."""
        ...


class LogSink:
    async def send(self, notification: Mapping[str, Any]) -> None:
        log.info("notification", **{k: v for k, v in notification.items() if k != "payload"},
                 payload=notification.get("payload"))


class WebhookSink:
    def __init__(self, url: str, secret: str, *, client: httpx.AsyncClient | None = None,
                 timeout: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def send(self, notification: Mapping[str, Any]) -> None:
        body = json.dumps(notification, default=str, separators=(",", ":")).encode()
        ts = int(datetime.fromisoformat(str(notification["sent_at"])).timestamp())
        response = await self._client.post(self.url, content=body, headers=signed_headers(
            self.secret, body, timestamp=ts, delivery_id=str(notification["id"]),
            event_type=NOTIFICATION_EVENT_TYPE))
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"webhook answered {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


class NotificationDispatcher:
    def __init__(self, sinks: Sequence[NotificationSink], *, max_attempts: int = 10,
                 backoff_base: timedelta = timedelta(seconds=2),
                 backoff_cap: timedelta = timedelta(hours=1)) -> None:
        self.sinks = list(sinks)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap

    def backoff(self, attempts: int) -> timedelta:
        return min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempts - 1)))

    async def dispatch_due(self, session: AsyncSession, *, now: datetime, limit: int = 200) -> int:
        """Deliver the due notifications; returns how many were sent."""
        conn = await session.connection()
        rows = (await conn.execute(text(
            "SELECT id, dedupe_key, ticket_id, escalation_id, kind, level, recipient, payload, created_at, "
            "attempts FROM escalation.notification WHERE status = 'pending' AND next_attempt_at <= :now "
            "ORDER BY next_attempt_at, id LIMIT :lim FOR UPDATE SKIP LOCKED"), {"now": now, "lim": limit})).all()
        sent: list[int] = []
        for r in rows:
            body = {
                "id": r.id, "kind": r.kind, "level": r.level, "recipient": r.recipient,
                "ticket_id": str(r.ticket_id), "escalation_id": str(r.escalation_id) if r.escalation_id else None,
                "created_at": rfc3339(r.created_at), "sent_at": rfc3339(now),
                "payload": instants_in_one_format(json.loads(r.payload) if isinstance(r.payload, str) else r.payload),
            }
            try:
                for sink in self.sinks:
                    await sink.send(body)
            except Exception as exc:  # noqa: BLE001 - any sink failure: retry later
                attempts = r.attempts + 1
                failed = attempts >= self.max_attempts
                await conn.execute(text(
                    "UPDATE escalation.notification SET attempts = :a, last_error = :e, "
                    "status = :s, next_attempt_at = :next WHERE id = :id"),
                    {"a": attempts, "e": repr(exc)[:500], "s": "failed" if failed else "pending",
                     "next": now + self.backoff(attempts), "id": r.id})
                log.warning("notification_failed", id=r.id, attempts=attempts, final=failed, error=repr(exc))
                continue
            sent.append(r.id)
        if sent:
            await conn.execute(text(
                "UPDATE escalation.notification SET attempts = attempts + 1, status = 'sent', sent_at = :now, "
                "last_error = NULL WHERE id = ANY(:ids)"), {"now": now, "ids": sent})
        return len(sent)
