"""Delivering queued notifications (the ``escalation.notification`` outbox) to pluggable sinks.

Escalations and warnings insert notification rows in their own transaction (escalations/escalator.py);
`NotificationDispatcher.dispatch_due` leases rows that are due with ``FOR UPDATE SKIP LOCKED``
(any number of replicas) in a short transaction, hands each to every sink with no transaction
open (kefu_common.relay), and marks it ``sent`` — or, when a sink
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

from kefu_common.clock import Clock
from kefu_common.db import Database, driver_connection, json_param
from kefu_common.logging import get_logger
from kefu_common.relay import relay_once
from kefu_common.signing import signed_headers
from kefu_common.timestamps import instants_in_one_format, rfc3339

log = get_logger("kefu.escalation.notifications")

__all__ = ["LogSink", "NotificationDispatcher", "NotificationSink", "WebhookSink"]

NOTIFICATION_EVENT_TYPE = "escalation.notification"


# The outbox is written here only (issue #15: one writer per table): queued by `queue` in the
# transaction of whatever caused it, leased and marked by the dispatcher below.
_INSERT_NOTIFICATIONS = (
    "INSERT INTO escalation.notification (dedupe_key, ticket_id, escalation_id, kind, level, recipient, "
    "payload, created_at, next_attempt_at) SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(k text, t uuid, "
    "e uuid, kind text, level text, r text, p jsonb, at timestamptz, deliver timestamptz) "
    "ON CONFLICT (dedupe_key) DO NOTHING"
)


async def queue(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue notifications in one statement, each once per dedupe key (``k``); ``deliver`` is
    when the dispatcher may first send it. Takes the caller's session, never commits."""
    await (await driver_connection(session)).execute(_INSERT_NOTIFICATIONS, json_param(list(rows)))


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

    async def dispatch_due(self, db: Database, *, clock: Clock, limit: int = 200,
                           lease: timedelta = timedelta(seconds=60)) -> int:
        """Deliver the due notifications; returns how many were sent. The sinks run with no
        transaction open (kefu_common.relay: leased, then recorded)."""
        sent = await relay_once(db, self, clock, lease=lease, limit=limit)
        return sum(1 for _, error in sent if error is None)

    # --- kefu_common.relay.Outbox ----------------------------------------------------------

    async def claim(self, session: AsyncSession, *, now: datetime, until: datetime,
                    limit: int) -> list[tuple[dict[str, Any], int]]:
        conn = await session.connection()
        rows = (await conn.execute(text(
            "WITH due AS (SELECT id, next_attempt_at AS due_at FROM escalation.notification "
            "WHERE status = 'pending' AND next_attempt_at <= :now ORDER BY next_attempt_at, id LIMIT :lim "
            "FOR UPDATE SKIP LOCKED) "
            "UPDATE escalation.notification n SET next_attempt_at = :until FROM due WHERE n.id = due.id "
            "RETURNING due.due_at, n.id, n.ticket_id, n.escalation_id, n.kind, n.level, n.recipient, n.payload, "
            "n.created_at, n.attempts"), {"now": now, "until": until, "lim": limit})).all()
        return [({
            "id": r.id, "kind": r.kind, "level": r.level, "recipient": r.recipient,
            "ticket_id": str(r.ticket_id), "escalation_id": str(r.escalation_id) if r.escalation_id else None,
            "created_at": rfc3339(r.created_at), "sent_at": rfc3339(now),
            "payload": instants_in_one_format(json.loads(r.payload) if isinstance(r.payload, str) else r.payload),
        }, r.attempts) for r in sorted(rows, key=lambda r: (r.due_at, r.id))]  # leased: not sent twice meanwhile

    async def send(self, item: tuple[dict[str, Any], int]) -> Exception | None:
        try:
            for sink in self.sinks:
                await sink.send(item[0])
        except Exception as exc:  # noqa: BLE001 - any sink failure: retry later
            return exc
        return None

    async def record(self, session: AsyncSession, sent: Sequence[tuple[tuple[dict[str, Any], int], Exception | None]],
                     *, now: datetime) -> None:
        conn = await session.connection()
        for (body, attempts), exc in sent:
            if exc is None:
                continue
            attempts += 1
            failed = attempts >= self.max_attempts
            await conn.execute(text(
                "UPDATE escalation.notification SET attempts = :a, last_error = :e, "
                "status = :s, next_attempt_at = :next WHERE id = :id"),
                {"a": attempts, "e": repr(exc)[:500], "s": "failed" if failed else "pending",
                 "next": now + self.backoff(attempts), "id": body["id"]})
            log.warning("notification_failed", id=body["id"], attempts=attempts, final=failed, error=repr(exc))
        delivered = [body["id"] for (body, _), exc in sent if exc is None]
        if delivered:
            await conn.execute(text(
                "UPDATE escalation.notification SET attempts = attempts + 1, status = 'sent', sent_at = :now, "
                "last_error = NULL WHERE id = ANY(:ids)"), {"now": now, "ids": delivered})
