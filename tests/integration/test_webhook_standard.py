"""Webhooks are Standard Webhooks (issue #14, item 13): a real delivery to a real receiver
verifies with the `standardwebhooks` library, for partner webhooks (gateway) and notification
webhooks (escalation) alike; the deprecated Kefu-* headers still come along."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from support import new_partner_key, running_gateway, ticket_body
from test_gateway_webhooks import Receiver
from kefu_common.clock import ManualClock
from kefu_common.signing import new_secret, signed_headers, verify_signature
from kefu_gateway.webhooks import CURSOR, RetryPolicy, deliver_due


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    # The library checks the timestamp against the wall clock: start the manual clock there.
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(scope="module")
async def running(gateway_settings: Any, clock: ManualClock) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    # The delivery log is polled until the fan-out catches up (hundreds of reads with one key on a
    # manual clock, whose quota window never ends): this test is not about quotas.
    settings = gateway_settings.model_copy(update={
        "webhooks_enabled": True, "webhook_delivery_interval_seconds": 0, "rate_limit_requests": 1_000_000})
    await _fan_out_from_now(gateway_settings.database_url.get_secret_value())
    async with running_gateway(settings, clock=clock) as running:
        yield running


async def _fan_out_from_now(database_url: str) -> None:
    """Start the webhook fan-out at the stream's current end: after a long test run there are
    thousands of earlier events (each a GetTicket for its creator) that this test does not need."""
    from sqlalchemy import text

    from kefu_common.db import Database

    db = Database(database_url, schema="gateway", pool_size=1)
    try:
        async with db.session() as session:
            await (await session.connection()).execute(text(
                "INSERT INTO gateway.stream_cursor (name, last_sequence) "
                "SELECT :n, coalesce(max(sequence), 0) FROM ticketing.outbox_event "
                "ON CONFLICT (name) DO UPDATE SET last_sequence = excluded.last_sequence"), {"n": CURSOR})
    finally:
        await db.dispose()


async def _deliveries(client: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    """The partner's delivery log once the fan-out put the delivery in it (after a long test
    run it first catches up with every event since its stored cursor: up to a minute)."""
    for _ in range(600):
        items = (await client.get("/v1/webhooks/deliveries", headers={"X-API-Key": key})).json()["items"]
        if items:
            return items
        await asyncio.sleep(0.1)
    raise AssertionError("the fan-out never enqueued the delivery")


async def test_partner_delivery_verifies_with_the_standard_webhooks_library(running, clock) -> None:
    app, client = running
    key = (await new_partner_key(app.state.db))[1]
    with Receiver(failures=0) as receiver:
        created = await client.post(
            "/v1/webhooks/subscriptions",
            json={"url": receiver.url, "event_types": ["ticket.created"]}, headers={"X-API-Key": key},
        )
        subscription = created.json()
        assert subscription["secret"].startswith("whsec_")
        ticket = await client.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": key})
        [delivery] = await _deliveries(client, key)
        clock.advance(max(timedelta(0), datetime.now(UTC) - clock.now()))  # signed "now", as the library checks
        async with httpx.AsyncClient() as http:
            assert await deliver_due(app.state.db, http, clock, RetryPolicy(max_attempts=3, base=timedelta(seconds=10))) >= 1
    [(headers, body, _)] = [r for r in receiver.received if json.loads(r[1])["ticket_id"] == ticket.json()["id"]]

    event = Webhook(subscription["secret"]).verify(body, headers)
    assert (event["type"], event["ticket_id"]) == ("ticket.created", ticket.json()["id"])
    assert headers["webhook-id"] == delivery["id"]
    with pytest.raises(WebhookVerificationError):
        Webhook(subscription["secret"]).verify(body.replace(b"ticket", b"tickex"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    # the deprecated headers are still sent and still verify
    assert verify_signature(subscription["secret"], timestamp=headers["Kefu-Timestamp"], body=body,
                            signature=headers["Kefu-Signature"], now=clock.now())


def test_a_rotation_signs_with_every_secret_and_either_verifies() -> None:
    old, new = new_secret(), new_secret()
    body = b'{"id":"e1"}'
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers([new, old], body, timestamp=now, delivery_id="msg_1", event_type="ticket.created")
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        assert Webhook(secret).verify(body, headers) == {"id": "e1"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


async def test_notification_webhook_verifies_with_the_standard_webhooks_library() -> None:
    from kefu_escalation.notifications import WebhookSink

    secret = new_secret()
    now = datetime.now(UTC)
    notification = {"id": str(uuid.uuid4()), "ticket_id": str(uuid.uuid4()), "kind": "escalated",
                    "sent_at": now.isoformat(), "payload": {"to_level": "L2"}}
    with Receiver(failures=0) as receiver:
        sink = WebhookSink(receiver.url, secret)
        await sink.send(notification)
        await sink.close()
    [(headers, body, _)] = receiver.received
    assert Webhook(secret).verify(body, headers)["payload"] == {"to_level": "L2"}
    assert headers["webhook-id"] == notification["id"]
