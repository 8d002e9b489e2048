"""Partner webhooks end to end: a real partner receiver (a tiny HTTP server), the real
ticketing event stream feeding the outbox, deliveries driven on a manual clock."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from support import assert_problem, new_partner_key, running_gateway, staff_headers, ticket_body
from kefu_common.clock import ManualClock
from kefu_common.db import Database
from kefu_common.signing import verify_signature
from kefu_gateway.webhooks import RetryPolicy, deliver_due

POLICY = RetryPolicy(max_attempts=5, base=timedelta(seconds=10))


class Receiver:
    """A partner endpoint that answers `failures` 500s before it starts to accept."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(outer.received) < outer.failures else 204
                outer.received.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(failures=2) as r:
        yield r


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
async def running(gateway_settings: Any, clock: ManualClock) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The gateway with its event fan-out running; deliveries are driven by the tests."""
    settings = gateway_settings.model_copy(
        update={"webhooks_enabled": True, "webhook_delivery_interval_seconds": 0}
    )
    async with running_gateway(settings, clock=clock) as running:
        yield running


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


async def partner_key(db: Database) -> str:
    return (await new_partner_key(db))[1]


async def subscribe(client: httpx.AsyncClient, key: str, url: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhooks/subscriptions",
        json={"url": url, "event_types": ["ticket.created", "ticket.status_changed"]},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def deliveries(client: httpx.AsyncClient, key: str, *, count: int = 1) -> list[dict[str, Any]]:
    """The partner's delivery log, once the fan-out has put `count` deliveries in it."""
    for _ in range(500):  # the fan-out follows the live stream; wait for it to catch up
        items: list[dict[str, Any]] = (
            await client.get("/v1/webhooks/deliveries", headers={"X-API-Key": key})
        ).json()["items"]
        if len(items) >= count:
            return items
        await asyncio.sleep(0.02)
    raise AssertionError("the fan-out never enqueued the delivery")


async def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_try(
    app, client, http, clock, receiver
) -> None:
    db = app.state.db
    key = await partner_key(db)
    subscription = await subscribe(client, key, receiver.url)
    created = await client.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": key})
    ticket_id = created.json()["id"]
    [delivery] = await deliveries(client, key)
    assert (delivery["event_type"], delivery["ticket_id"], delivery["status"]) == (
        "ticket.created", ticket_id, "pending",
    )

    assert await deliver_due(db, http, clock, POLICY) == 1  # 1st try: 500
    assert await deliver_due(db, http, clock, POLICY) == 0  # not due again before the backoff
    clock.advance(timedelta(seconds=10))
    assert await deliver_due(db, http, clock, POLICY) == 1  # 2nd try, 10 s later: 500
    clock.advance(timedelta(seconds=19))
    assert await deliver_due(db, http, clock, POLICY) == 0  # backoff doubled to 20 s
    clock.advance(timedelta(seconds=1))
    assert await deliver_due(db, http, clock, POLICY) == 1  # 3rd try: accepted

    assert [status for _, _, status in receiver.received] == [500, 500, 204]
    [delivery] = await deliveries(client, key)
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 204]

    headers, body, _ = receiver.received[-1]
    event = json.loads(body)
    assert (event["type"], event["ticket_id"]) == ("ticket.created", ticket_id)
    assert headers["Kefu-Delivery-Id"] == delivery["id"]
    assert verify_signature(
        subscription["secret"], timestamp=headers["Kefu-Timestamp"], body=body,
        signature=headers["Kefu-Signature"], now=clock.now(),
    )
    # A changed body, another secret or an old timestamp does not verify.
    assert not verify_signature(subscription["secret"], timestamp=headers["Kefu-Timestamp"],
                                body=body.replace(b"ticket", b"tickex"),
                                signature=headers["Kefu-Signature"], now=clock.now())
    assert not verify_signature("whsec_other", timestamp=headers["Kefu-Timestamp"], body=body,
                                signature=headers["Kefu-Signature"], now=clock.now())
    assert not verify_signature(subscription["secret"], timestamp=headers["Kefu-Timestamp"], body=body,
                                signature=headers["Kefu-Signature"], now=clock.now() + timedelta(hours=1))


async def test_events_of_other_partners_tickets_are_never_delivered_to_me(
    app, client, http, clock, receiver, auth
) -> None:
    mine, other = await partner_key(app.state.db), await partner_key(app.state.db)
    await subscribe(client, mine, receiver.url)
    await client.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": other})
    await client.post("/v1/tickets", json=ticket_body(), headers=auth)  # a staff-made ticket
    own = await client.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": mine})
    [delivery] = await deliveries(client, mine)  # the stream is ordered: mine came last
    assert delivery["ticket_id"] == own.json()["id"]


async def test_webhooks_carry_no_internal_fields_risk_flag_sla_owner_actor_or_reason(
    app, client, http, clock, receiver, auth
) -> None:
    key = await partner_key(app.state.db)
    response = await client.post(
        "/v1/webhooks/subscriptions",
        json={"url": receiver.url, "event_types": ["ticket.created", "ticket.assigned", "ticket.status_changed"]},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 201, response.text
    customer = {"id": f"C-{uuid.uuid4().hex[:8]}", "name": "李先生", "tier": "vip", "sensitive": True}
    created = await client.post("/v1/tickets", json=ticket_body(customer=customer), headers={"X-API-Key": key})
    ticket = created.json()
    assigned = await client.post(
        f"/v1/tickets/{ticket['id']}/assign", json={"assignee_id": None, "team": "vip-desk", "reason": "media risk"},
        headers={**auth, "If-Match": created.headers["ETag"]},
    )
    assert assigned.status_code == 200, assigned.text
    await deliveries(client, key, count=2)
    while await deliver_due(app.state.db, http, clock, POLICY):
        pass

    bodies = {event["type"]: event for event in (json.loads(body) for _, body, _ in receiver.received)}
    assert set(bodies) == {"ticket.created", "ticket.assigned"}
    assert bodies["ticket.created"]["data"] == {
        "customer_id": customer["id"], "customer_tier": "vip", "channel": "app", "severity": "normal",
        "category": "logistics", "first_contact_at": bodies["ticket.created"]["data"]["first_contact_at"],
    }
    assert bodies["ticket.assigned"]["data"] == {}  # someone took it: not who, which team or why
    raw = b"".join(body for _, body, _ in receiver.received)
    for internal in (b"sensitive", b"vip-desk", b"media risk", b"policy", b"matrix"):
        assert internal not in raw


async def test_a_failed_delivery_can_be_redelivered_by_hand_and_only_by_its_partner(
    app, client, http, clock
) -> None:
    db = app.state.db
    key, stranger = await partner_key(db), await partner_key(db)
    with Receiver(failures=100) as down:
        await subscribe(client, key, down.url)
        await client.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": key})
        [delivery] = await deliveries(client, key)
        give_up = RetryPolicy(max_attempts=2, base=timedelta(seconds=1))
        for _ in range(2):
            await deliver_due(db, http, clock, give_up)
            clock.advance(timedelta(seconds=1))
        [delivery] = await deliveries(client, key)
        assert delivery["status"] == "failed"
        assert len(down.received) == 2

    path = f"/v1/webhooks/deliveries/{delivery['id']}/redeliver"
    assert_problem(await client.post(path, headers={"X-API-Key": stranger}), 404, "delivery_not_found")
    with Receiver(failures=0) as back:
        # The endpoint moved back up (same URL is not required for the test: point it there).
        async with db.session() as session:
            await session.exec(text("UPDATE gateway.webhook_subscription SET url = :u WHERE id = "
                                    "(SELECT subscription_id FROM gateway.webhook_delivery WHERE id = :d)")
                               .bindparams(u=back.url, d=uuid.UUID(delivery["id"])))
        again = await client.post(path, headers={"X-API-Key": key})
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "pending"
        assert await deliver_due(db, http, clock, give_up) == 1
        assert json.loads(back.received[0][1])["id"] == delivery["event_id"]  # the same event
    [delivery] = await deliveries(client, key)
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 204]


async def test_subscription_create_is_idempotent_and_key_reuse_with_another_body_is_422(
    app, client, receiver
) -> None:
    key = await partner_key(app.state.db)
    headers = {"X-API-Key": key, "Idempotency-Key": "sub-1"}
    body = {"url": receiver.url, "event_types": ["ticket.created"]}
    first = await client.post("/v1/webhooks/subscriptions", json=body, headers=headers)
    retry = await client.post("/v1/webhooks/subscriptions", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    listed = await client.get("/v1/webhooks/subscriptions", headers={"X-API-Key": key})
    assert len(listed.json()["items"]) == 1
    assert "secret" not in listed.text or listed.json()["items"][0]["secret"] is None
    other = {**body, "event_types": ["ticket.updated"]}
    assert_problem(
        await client.post("/v1/webhooks/subscriptions", json=other, headers=headers),
        422, "idempotency_key_reused",
    )


@pytest.mark.parametrize(
    "body",
    [{"url": "ftp://x.example/h", "event_types": ["ticket.created"]},
     {"url": "https://x.example/h", "event_types": ["ticket.progress_viewed"]},
     {"url": "https://x.example/h", "event_types": []}],
    ids=["not http", "internal event type", "no event types"],
)
async def test_bad_subscriptions_are_refused(app, client, body) -> None:
    key = await partner_key(app.state.db)
    response = await client.post("/v1/webhooks/subscriptions", json=body, headers={"X-API-Key": key})
    assert response.status_code in (400, 422), response.text
    assert response.json()["code"] in {"invalid_webhook_url", "invalid_event_types", "validation_error"}


async def test_staff_and_customers_cannot_manage_webhooks(client, auth) -> None:
    assert_problem(await client.get("/v1/webhooks/subscriptions", headers=auth), 403, "partner_only")


async def test_a_partner_token_without_a_registered_partner_cannot_subscribe(client, gateway_settings) -> None:
    token = staff_headers(gateway_settings, role="partner", subject="never-registered")
    body = {"url": "https://x.example/h", "event_types": ["ticket.created"]}
    response = await client.post("/v1/webhooks/subscriptions", json=body, headers=token)
    assert_problem(response, 400, "partner_not_registered")


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1/h", "https://10.1.2.3/h", "https://169.254.169.254/latest/meta-data",
     "https://localhost/h", "https://[::1]/h", "https://192.168.0.10:8443/h"],
    ids=["loopback", "private", "cloud metadata", "localhost", "ipv6 loopback", "lan"],
)
async def test_in_production_subscriptions_to_our_own_network_are_refused(app, url) -> None:
    from kefu_common.clock import SystemClock
    from kefu_common.errors import InvalidArgument
    from kefu_gateway import webhooks

    partner_id, _ = await new_partner_key(app.state.db)
    with pytest.raises(InvalidArgument) as refused:
        async with app.state.db.session() as session:
            await webhooks.create_subscription(
                session, partner_id=partner_id, url=url, event_types=["ticket.created"],
                https_only=True, allow_private_hosts=False, clock=SystemClock(),
            )
    assert refused.value.code == "invalid_webhook_url"
    async with app.state.db.session() as session:  # a public address is fine
        await webhooks.create_subscription(
            session, partner_id=partner_id, url="https://93.184.216.34/h", event_types=["ticket.created"],
            https_only=True, allow_private_hosts=False, clock=SystemClock(),
        )


async def test_a_delivery_to_a_host_that_now_resolves_privately_is_not_sent(
    app, client, http, clock, receiver
) -> None:
    key = await partner_key(app.state.db)
    await subscribe(client, key, receiver.url)  # allowed outside production
    await client.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": key})
    await deliveries(client, key)
    production = RetryPolicy(max_attempts=5, base=timedelta(seconds=10), allow_private_hosts=False)
    assert await deliver_due(app.state.db, http, clock, production) >= 1
    assert receiver.received == []
    [delivery] = await deliveries(client, key)
    assert delivery["attempts"][0]["status_code"] is None
    assert delivery["attempts"][0]["error"].startswith("refused")


async def test_only_one_gateway_process_fans_events_out_at_a_time(app, clock) -> None:
    from kefu_gateway.webhooks import WebhookFanout

    leader = app.state.webhook_fanout
    for _ in range(500):  # the module's gateway takes the lead as it starts
        if leader.leading:
            break
        await asyncio.sleep(0.01)
    assert leader.leading
    second = WebhookFanout(app.state.db, app.state.clients.ticketing, clock, timeout=5)
    await second.loop.start()
    try:
        await asyncio.wait_for(second.standing_by.wait(), timeout=30)
        assert not second.leading and leader.leading
    finally:
        await second.loop.stop()


async def test_idempotency_record_answers_within_retention_and_is_purged_after_it(app, client, clock) -> None:
    from kefu_common.idempotency import purge_expired

    retention = timedelta(hours=24)
    key = await partner_key(app.state.db)
    headers = {"X-API-Key": key, "Idempotency-Key": f"sub-{uuid.uuid4().hex[:8]}"}
    body = {"url": "https://partner.example.com/a", "event_types": ["ticket.created"]}
    first = await client.post("/v1/webhooks/subscriptions", json=body, headers=headers)
    assert first.status_code == 201, first.text
    other = {**body, "url": "https://partner.example.com/b"}

    clock.advance(retention - timedelta(minutes=1))  # still within the retention: kept
    await purge_expired(app.state.db, "gateway.idempotency_record", now=clock.now(), retention=retention)
    assert_problem(await client.post("/v1/webhooks/subscriptions", json=other, headers=headers),
                   422, "idempotency_key_reused")

    clock.advance(timedelta(minutes=2))  # expired: purged, the key is free again
    assert await purge_expired(app.state.db, "gateway.idempotency_record", now=clock.now(), retention=retention) >= 1
    again = await client.post("/v1/webhooks/subscriptions", json=other, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["id"] != first.json()["id"]


async def test_ticketing_idempotency_records_expire_after_the_retention(database_url) -> None:
    from kefu_common.idempotency import purge_expired

    db = Database(database_url, schema="ticketing")
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    old, fresh = f"old-{uuid.uuid4().hex}", f"fresh-{uuid.uuid4().hex}"
    try:
        async with db.session() as session:
            conn = await session.connection()
            for rid, at in ((old, now - timedelta(hours=25)), (fresh, now - timedelta(hours=23))):
                await conn.execute(text(
                    "INSERT INTO ticketing.idempotency_record (request_id, command, request_hash, response, "
                    "created_at) VALUES (:r, 'CreateTicket', 'h', '\\x00', :at)"), {"r": rid, "at": at})
        await purge_expired(db, "ticketing.idempotency_record", now=now, retention=timedelta(hours=24))
        async with db.session() as session:
            conn = await session.connection()
            left = set((await conn.execute(text(
                "SELECT request_id FROM ticketing.idempotency_record WHERE request_id IN (:a, :b)"),
                {"a": old, "b": fresh})).scalars())
        assert left == {fresh}
    finally:
        await db.dispose()


async def test_deleting_a_subscription_stops_its_pending_retries_at_once(app, client, http, clock) -> None:
    db = app.state.db
    key = await partner_key(db)
    with Receiver(failures=100) as failing:
        subscription = await subscribe(client, key, failing.url)
        await client.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": key})
        [delivery] = await deliveries(client, key)
        await deliver_due(db, http, clock, POLICY)  # 1st try: 500, a retry is pending (others' too)
        deleted = await client.delete(f"/v1/webhooks/subscriptions/{subscription['id']}", headers={"X-API-Key": key})
        assert deleted.status_code == 204
        for _ in range(6):  # every retry would have been due by now
            clock.advance(timedelta(minutes=30))
            await deliver_due(db, http, clock, POLICY)
        assert len([r for r in failing.received if json.loads(r[1])["id"] == delivery["event_id"]]) == 1
    [after] = await deliveries(client, key)
    assert (after["status"], after["next_attempt_at"], len(after["attempts"])) == ("cancelled", None, 1)
    redo = await client.post(f"/v1/webhooks/deliveries/{delivery['id']}/redeliver", headers={"X-API-Key": key})
    assert_problem(redo, 400, "subscription_deleted")

async def test_webhook_bodies_carry_free_text_with_personal_data_masked(app, client, http, clock, auth) -> None:
    """Issue 14 item 10: a changed description reaches the partner's receiver masked (IDs,
    cards, phones, e-mails), as the partner's REST view shows it."""
    key = await partner_key(app.state.db)
    with Receiver(failures=0) as hooks:
        response = await client.post(
            "/v1/webhooks/subscriptions", json={"url": hooks.url, "event_types": ["ticket.updated"]},
            headers={"X-API-Key": key},
        )
        assert response.status_code == 201, response.text
        created = await client.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": key})
        pii = "身份证11010519491231002X，卡4111111111111111，电话13800138000，邮箱wang.li@example.com，一三八，一二三四，五六七八"
        updated = await client.patch(
            f"/v1/tickets/{created.json()['id']}", json={"description": pii, "subject": "回电13800138000"},
            headers={**auth, "If-Match": created.headers["ETag"]},
        )
        assert updated.status_code == 200, updated.text
        await deliveries(client, key)
        while await deliver_due(app.state.db, http, clock, POLICY):
            pass
        [(_, body, status)] = hooks.received
    assert status == 204
    changes = json.loads(body)["data"]["changes"]
    for raw in ("11010519491231002X", "4111111111111111", "13800138000", "wang.li@example.com", "一二三四"):
        assert raw.encode() not in body and raw not in json.dumps(changes, ensure_ascii=False)
    assert "002X" in changes["description"] and changes["subject"].endswith("8000")
