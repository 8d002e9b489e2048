"""Durable SLA timers on real escalation processes: kill -9 while hundreds of timers are due,
restart, and two replicas at once — every due timer fires exactly once (asserted on the rows).

Each test writes `ticket.created` rows straight into escalation's inbox (first contact two
hours ago, a 1-hour first-response target: its warning and its breach are both due at once)
and gives the processes a projection cursor of their own that starts just before those rows.
The processes run without the ticketing event consumer; nothing else is needed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from kefu_common.db import Database
from kefu_common.devstack import GRPC_SERVICES, Stack
from kefu_common.ticket_events import from_json
from support import free_port

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 90.0  # the whole batch is processed well within this on a 2-core machine


@pytest.fixture(scope="module")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, schema="escalation", pool_size=2)
    yield database
    await database.dispose()


def replica(database_url: str, cursor: str, log_dir: Path) -> Stack:
    """An escalation process of its own (own gRPC port), clock worker on, consumer off."""
    return Stack(
        database_url=database_url,
        ports={name: free_port() for name in ("gateway", *GRPC_SERVICES)},
        extra_env={"KEFU_LOG_FORMAT": "json", "KEFU_ENV": "test",
                   "ESCALATION_CONSUME_TICKET_EVENTS": "false",
                   "ESCALATION_SLA_PROJECTION_CURSOR": cursor,
                   "ESCALATION_STAFF_CALENDAR": "24x7"},
        log_dir=log_dir,
    )


async def due_batch(db: Database, count: int) -> tuple[str, list[uuid.UUID]]:
    """`count` tickets whose first-response warning and breach are already due; a cursor name."""
    cursor = f"e2e-timers-{uuid.uuid4().hex[:8]}"
    tickets = [uuid.uuid4() for _ in range(count)]
    first_contact = datetime.now(UTC) - timedelta(hours=2)
    sla = {"level": "L0", "policy_id": "e2e", "policy_version": 1, "matrix_version": 1,
           "matrix_tier": "standard", "calendar": "24x7",
           "targets": [{"name": "first_response", "duration_seconds": 3600},
                       {"name": "resolution", "duration_seconds": 8 * 3600},
                       {"name": "escalation_ack", "duration_seconds": 8 * 3600}]}  # not due
    async with db.session() as session:
        conn = await session.connection()
        top = await conn.scalar(text("SELECT coalesce(max(sequence), 0) FROM escalation.ticket_event"))
        start = max(int(top), 1_500_000_000) + 1_000
        await conn.execute(text(
            "INSERT INTO escalation.consumer_cursor (name, last_sequence, updated_at) VALUES (:n, :s, now())"),
            {"n": cursor, "s": start - 1})
        await conn.execute(
            text("INSERT INTO escalation.ticket_event (sequence, event_id, event_type, ticket_id, body, "
                 "occurred_at, received_at) VALUES (:s, :e, 'ticket.created', :t, :p, :at, :at)"),
            [{"s": start + i, "e": uuid.uuid4(), "t": t, "at": first_contact,
              "p": from_json("ticket.created", {"ticket_id": str(t), "status": "new", "severity": "normal",
                                                "team": "e2e", "first_contact_at": first_contact.isoformat(),
                                                "sla": sla}).SerializeToString()}
             for i, t in enumerate(tickets)])
    return cursor, tickets


async def facts(db: Database, tickets: list[uuid.UUID]) -> dict[str, list[int]]:
    """Per kind of fact, how many rows each ticket has (sorted counts)."""
    queries = {
        "breached": "SELECT ticket_id, count(*) FROM escalation.clock_event WHERE kind = 'breached' "
                    "AND ticket_id = ANY(:t) GROUP BY ticket_id",
        "warned": "SELECT ticket_id, count(*) FROM escalation.clock_event WHERE kind = 'warned' "
                  "AND ticket_id = ANY(:t) GROUP BY ticket_id",
        "cycles": "SELECT ticket_id, count(*) FROM escalation.clock_event WHERE kind = 'cycle_opened' "
                  "AND ticket_id = ANY(:t) GROUP BY ticket_id",
        "escalations": "SELECT ticket_id, count(*) FROM escalation.escalation WHERE ticket_id = ANY(:t) "
                       "GROUP BY ticket_id",
        "notifications": "SELECT ticket_id, count(*) FROM escalation.notification WHERE ticket_id = ANY(:t) "
                         "GROUP BY ticket_id",
    }
    out: dict[str, list[int]] = {}
    async with db.engine.connect() as conn:
        for name, sql in queries.items():
            out[name] = sorted(n for _, n in (await conn.execute(text(sql), {"t": tickets})).all())
    return out


def complete(f: dict[str, list[int]], count: int) -> bool:
    return all(len(f[k]) == count for k in ("breached", "warned", "escalations", "notifications"))


async def wait_complete(db: Database, tickets: list[uuid.UUID]) -> dict[str, list[int]]:
    until = time.monotonic() + WAIT_SECONDS
    while True:
        f = await facts(db, tickets)
        if complete(f, len(tickets)) or time.monotonic() > until:
            return f
        await asyncio.sleep(0.2)


def assert_exactly_once(f: dict[str, list[int]], count: int) -> None:
    assert f["cycles"] == [1] * count
    assert f["warned"] == [1] * count  # every warning fired, once
    assert f["breached"] == [1] * count  # every breach fired, once
    assert f["escalations"] == [1] * count  # breach:first_response escalated once
    assert f["notifications"] == [2] * count  # the warning and the escalation, once each


@pytest.fixture
def stacks() -> Iterator[list[Stack]]:
    started: list[Stack] = []
    yield started
    for s in started:
        s.stop("escalation")


async def test_every_due_timer_fires_exactly_once_across_a_kill_9(db, database_url, stacks, tmp_path) -> None:
    count = 600
    cursor, tickets = await due_batch(db, count)
    first = replica(database_url, cursor, tmp_path)
    stacks.append(first)
    first.start("escalation")
    until = time.monotonic() + WAIT_SECONDS
    while not (await facts(db, tickets))["breached"] and time.monotonic() < until:
        await asyncio.sleep(0.01)
    first.kill("escalation")  # SIGKILL in the middle of the batch
    at_kill = await facts(db, tickets)

    first.start("escalation")
    f = await wait_complete(db, tickets)
    assert len(at_kill["breached"]) > 0, "the worker never started firing before the kill"
    assert_exactly_once(f, count)


async def test_two_replicas_at_once_fire_every_due_timer_exactly_once(db, database_url, stacks, tmp_path) -> None:
    count = 400
    cursor, tickets = await due_batch(db, count)
    a, b = replica(database_url, cursor, tmp_path / "a"), replica(database_url, cursor, tmp_path / "b")
    stacks += [a, b]
    a.spawn("escalation")
    b.spawn("escalation")
    a.wait_ready("escalation", 30)
    b.wait_ready("escalation", 30)
    f = await wait_complete(db, tickets)
    assert_exactly_once(f, count)
