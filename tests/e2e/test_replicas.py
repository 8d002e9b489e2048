"""Scale-out on real processes (issue #15): two replicas of every service on one PostgreSQL,
a bounded create/contact/resolve load through both gateways, one replica of each service
killed with SIGKILL mid-load and not brought back. Then, asked of the database and of a real
HTTP receiver:

* every acknowledged write is stored once, and no write twice (e2e_load);
* every SLA timer fired once: the load's tickets are back-dated, so their warnings and
  breaches fall due during the load, on whichever escalation replica claims them;
* a partner's request quota holds across both gateways (counted in PostgreSQL);
* every webhook was delivered at least once, and all deliveries of one event carry one
  `webhook-id`: the partner webhooks of the gateways (the partner creates the tickets) and
  the escalation notifications (the SLA warnings and escalations the timers raised).

How the replicas find each other: every service calls the others at a multi-address target of
both replicas (`ipv4:127.0.0.1:p1,127.0.0.1:p2`), spread round-robin by the shared gRPC
channel, as a headless Service's DNS name is on Kubernetes (devstack.replica_set); the load
client turns to the other gateway port after a failure, as a load balancer would.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
import pytest

from e2e_load import SteadyLoad, assert_nothing_lost_or_doubled, wait_for
from kefu_common.db import Database, to_libpq_url
from kefu_common.devstack import ALL_SERVICES, Stack, replica_set
from support import new_partner_key

pytestmark = pytest.mark.e2e

SETTLE_SECONDS = 90.0  # after the load: leases of the killed replicas run out, retries land
BACKDATE = timedelta(days=3)  # every SLA target of a new ticket is already due
SECRET = "whsec-e2e-replicas-0123456789"
QUOTA = 200  # partner requests per minute; each gateway leases max(1, QUOTA // 50) at a time


@dataclass
class Receiver:
    """A real HTTP endpoint recording each delivery: (path, webhook-id, parsed body)."""

    server: ThreadingHTTPServer
    received: list[tuple[str, str, dict[str, object]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def by_id(self, path: str) -> dict[str, set[str]]:
        """The `webhook-id`s each body id was delivered with, on `path`."""
        ids: dict[str, set[str]] = defaultdict(set)
        for p, webhook_id, body in list(self.received):
            if p == path:
                ids[str(body["id"])].add(webhook_id)
        return ids


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received: list[tuple[str, str, dict[str, object]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["webhook-id"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(server, received)
    server.shutdown()
    server.server_close()


@pytest.fixture
def replicas(database_url: str, receiver: Receiver, tmp_path: Path) -> Iterator[list[Stack]]:
    stacks = replica_set(
        database_url, 2, log_dir=tmp_path,
        extra_env={
            "KEFU_LOG_FORMAT": "json", "KEFU_ENV": "test",
            # Escalation notifications go out at once (not in working hours) to the receiver.
            "ESCALATION_STAFF_CALENDAR": "24x7",
            "ESCALATION_NOTIFY_WEBHOOK_URL": f"{receiver.url}/escalation",
            "ESCALATION_NOTIFY_WEBHOOK_SECRET": SECRET,
            # A delivery claimed by the killed gateway is taken over within seconds.
            "GATEWAY_WEBHOOK_TIMEOUT_SECONDS": "2", "GATEWAY_WEBHOOK_LEASE_SECONDS": "5",
            "GATEWAY_WEBHOOK_BACKOFF_BASE_SECONDS": "1",
            # A partner quota small enough to exhaust in seconds, above what the load spends.
            "GATEWAY_RATE_LIMIT_REQUESTS": str(QUOTA), "GATEWAY_RATE_LIMIT_WINDOW_SECONDS": "60",
        },
    )
    try:
        # Replica 0 first: it takes whatever is leader-elected (the webhook fan-out), so the
        # kill below takes the leader down and the fail-over is exercised.
        for stack in stacks:
            for name in ALL_SERVICES:
                stack.spawn(name)
            for name in ALL_SERVICES:
                stack.wait_ready(name, 90)
        yield stacks
    finally:
        for stack in stacks:
            stack.stop_all()


@pytest.mark.timeout(600)
async def test_two_replicas_of_every_service_lose_and_double_nothing_when_one_of_each_is_killed(
    replicas: list[Stack], receiver: Receiver, database_url: str, tmp_path: Path
) -> None:
    first, second = replicas
    creds = first.demo_credentials(tmp_path / "partner-key")
    partner = {"X-API-Key": creds["partner_key"]}
    subscribed = httpx.post(
        f"{second.gateway_url}/v1/webhooks/subscriptions", headers=partner, timeout=10,
        json={"url": f"{receiver.url}/partner", "event_types": ["ticket.created", "ticket.status_changed"]},
    )
    assert subscribed.status_code == 201, subscribed.text
    await assert_a_quota_holds_across_both_gateways(database_url, replicas)

    load = SteadyLoad([first.gateway_url, second.gateway_url], creds["agent"], create_headers=partner,
                      resolve_every=2, evaluate_every=4, backdate=BACKDATE, max_operations=400, pause=0.05)
    load.start()
    try:
        wait_for(lambda: load.acknowledged() >= 10 or load.error is not None, "the load to get going", 60)
        assert load.error is None, load.error
        for name in ("ticketing", "escalation", "scoring", "gateway"):
            first.kill(name)  # SIGKILL, and it stays down: the other replica carries on
            before = load.acknowledged()
            wait_for(lambda b=before: load.acknowledged() >= b + 15 or load.error is not None,
                     f"progress after killing a {name} replica", 60)
            assert load.error is None and load.is_alive(), (load.error, load.statuses)
        before = load.acknowledged()  # and on, with one replica of each left
        wait_for(lambda: load.acknowledged() >= before + 30 or load.error is not None,
                 "progress on the replicas left", 90)
    finally:
        load.stopping.set()
        load.join(timeout=30)
    assert load.error is None, load.error
    assert load.acked_resolves and load.acked_contacts
    failures = sum(n for status, n in load.statuses.items() if not status.startswith("2"))
    assert failures > 0, "no request failed: the kills were not under load"

    ticket_ids = await assert_nothing_lost_or_doubled(load, database_url)
    unresolved = [t for t in load.acked_tickets.values() if t not in load.resolving]
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        await assert_every_timer_fired_once(conn, ticket_ids, unresolved)
        await assert_every_webhook_delivered_with_one_id(conn, receiver, ticket_ids)
        await assert_every_signal_relayed_once(conn, load)
    finally:
        await conn.close()


async def assert_a_quota_holds_across_both_gateways(database_url: str, replicas: list[Stack]) -> None:
    """A fresh partner calling both gateways in turn gets QUOTA answers a minute in all, not
    QUOTA per replica (less at most one unspent lease per replica), then 429."""
    db = Database(database_url, schema="gateway", pool_size=1)
    try:
        _, key = await new_partner_key(db)
    finally:
        await db.dispose()
    lease = max(1, QUOTA // 50)
    with httpx.Client(headers={"X-API-Key": key}, timeout=10) as client:
        def call(i: int) -> httpx.Response:
            return client.get(f"{replicas[i % 2].gateway_url}/v1/webhooks/subscriptions")

        first = call(0)
        assert first.status_code == 200, first.text
        left = int(first.headers["ratelimit"].rsplit("t=", 1)[1])
        if left < 20:  # too close to the window's end for the whole count to fall in it
            time.sleep(left + 1)
            assert call(0).status_code == 200
        statuses = Counter(call(i).status_code for i in range(1, QUOTA + 20))
    assert set(statuses) == {200, 429}, statuses
    assert QUOTA - 2 * lease <= statuses[200] + 1 <= QUOTA, statuses


async def settled(conn: asyncpg.Connection, sql: str, *args: object) -> list[asyncpg.Record]:
    """The rows of `sql` once it returns none with `done` false (or SETTLE_SECONDS passed)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        rows = await conn.fetch(sql, *args)
        if all(r["done"] for r in rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.2)


async def assert_every_timer_fired_once(
    conn: asyncpg.Connection, ticket_ids: list[str], unresolved: list[str]
) -> None:
    """Each warning and breach is recorded once per ticket, cycle and target; a ticket left
    open has the warning and the breach of its first response and of its resolution (all due
    at creation: back-dated), fired by whichever replica's timer claimed them."""
    rows = await settled(
        conn,
        "SELECT t.id::text AS ticket_id, count(DISTINCT (e.kind, e.target)) FILTER (WHERE e.kind IN "
        "('warned', 'breached') AND e.target IN ('first_response', 'resolution')) = 4 AS done "
        "FROM unnest($1::uuid[]) AS t(id) LEFT JOIN escalation.clock_event e ON e.ticket_id = t.id "
        "GROUP BY t.id",
        unresolved,
    )
    assert [r["ticket_id"] for r in rows if not r["done"]] == []
    fired = await conn.fetch(
        "SELECT ticket_id, cycle, target, kind, count(*) AS n FROM escalation.clock_event "
        "WHERE ticket_id = ANY($1::uuid[]) AND kind IN ('warned', 'breached', 'cycle_opened') "
        "GROUP BY ticket_id, cycle, target, kind",
        ticket_ids,
    )
    assert fired and max(r["n"] for r in fired) == 1, [dict(r) for r in fired if r["n"] > 1][:5]
    escalations = await conn.fetch(
        "SELECT ticket_id, cycle, trigger_key, count(*) AS n FROM escalation.escalation "
        "WHERE ticket_id = ANY($1::uuid[]) GROUP BY 1, 2, 3", ticket_ids)
    assert escalations and max(r["n"] for r in escalations) == 1


async def assert_every_webhook_delivered_with_one_id(
    conn: asyncpg.Connection, receiver: Receiver, ticket_ids: list[str]
) -> None:
    """Partner webhooks: one delivery row per subscribed event of the partner's tickets,
    each received at least once, every receipt of an event carrying that row's id.
    Escalation notifications: each received at least once, under its own id only."""
    events = await conn.fetch(
        "SELECT event_id::text FROM ticketing.outbox_event WHERE ticket_id = ANY($1::uuid[]) "
        "AND event_type IN ('ticket.created', 'ticket.status_changed')", ticket_ids)
    deliveries = await settled(
        conn,
        "SELECT event_id::text, array_agg(id::text) AS ids, bool_and(status = 'delivered') AS done "
        "FROM gateway.webhook_delivery WHERE ticket_id = ANY($1::uuid[]) GROUP BY event_id",
        ticket_ids,
    )
    by_event = {r["event_id"]: r["ids"] for r in deliveries}
    assert sorted(by_event) == sorted(r["event_id"] for r in events)  # none lost in the fan-out
    assert all(len(ids) == 1 for ids in by_event.values())  # and none fanned out twice
    assert [r["event_id"] for r in deliveries if not r["done"]] == []
    wait_for(lambda: set(by_event) <= set(receiver.by_id("/partner")), "partner receipts", 10)
    received = receiver.by_id("/partner")
    for event_id, ids in by_event.items():
        assert received[event_id] == set(ids), event_id  # at least once, always one webhook-id

    notifications = await settled(
        conn,
        "SELECT id::text, status = 'sent' AS done FROM escalation.notification WHERE ticket_id = ANY($1::uuid[])",
        ticket_ids,
    )
    assert notifications, "the timers raised no notification"
    assert [r["id"] for r in notifications if not r["done"]] == []
    wait_for(lambda: {r["id"] for r in notifications} <= set(receiver.by_id("/escalation")),
             "notification receipts", 10)
    received = receiver.by_id("/escalation")
    for r in notifications:
        assert received[r["id"]] == {r["id"]}


async def assert_every_signal_relayed_once(conn: asyncpg.Connection, load: SteadyLoad) -> None:
    """Each acknowledged evaluation's risk signal left scoring's outbox and reached escalation,
    once (one row per signal id there, on the ticket it was raised for)."""
    assert load.acked_evaluations, "the load scored no conversation"
    outbox = await settled(
        conn,
        "SELECT signal_id, ticket_id, status = 'delivered' AS done FROM scoring.signal_outbox "
        "WHERE ticket_id = ANY($1::text[])", list(load.acked_evaluations.values()))
    assert {r["ticket_id"] for r in outbox} == set(load.acked_evaluations.values())
    assert [r["signal_id"] for r in outbox if not r["done"]] == []
    received = await conn.fetch(
        "SELECT signal_id, ticket_id::text FROM escalation.risk_signal WHERE signal_id = ANY($1::text[])",
        [r["signal_id"] for r in outbox])
    assert sorted((r["signal_id"], r["ticket_id"]) for r in received) == sorted(
        (r["signal_id"], r["ticket_id"]) for r in outbox)
