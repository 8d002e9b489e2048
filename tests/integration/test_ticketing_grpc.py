"""Ticketing over a real gRPC stub, real escalation service and real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from support import error_code, outbox_json
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from kefu_common.db import Database
from kefu_common.protoconv import to_timestamp


@pytest.fixture(scope="module")
async def stub(ticketing_addr: str):
    async with grpc.aio.insecure_channel(ticketing_addr) as channel:
        yield ticketing_pb2_grpc.TicketingServiceStub(channel)


@pytest.fixture(scope="module")
async def db(database_url: str):
    database = Database(database_url, schema="ticketing", pool_size=2)
    yield database
    await database.dispose()


def new_request(**overrides: object) -> ticketing_pb2.CreateTicketRequest:
    fields: dict[str, object] = {
        "request_id": uuid.uuid4().hex,
        "customer": ticketing_pb2.Customer(
            id=f"C-{uuid.uuid4().hex[:8]}", name="王女士", tier=types_pb2.CUSTOMER_TIER_STANDARD
        ),
        "channel": types_pb2.CHANNEL_PHONE,
        "severity": types_pb2.SEVERITY_NORMAL,
        "category": "quality",
        "subject": "电视开机黑屏",
    }
    fields.update(overrides)
    return ticketing_pb2.CreateTicketRequest(**fields)  # type: ignore[arg-type]


async def count_tickets(db: Database, customer_id: str) -> int:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM ticketing.ticket WHERE customer_id = :c"), {"c": customer_id}
        )
        return int(result.scalar_one())


async def test_created_ticket_is_new_and_carries_sla_targets_from_the_matrix(stub) -> None:
    ticket = await stub.CreateTicket(new_request())
    assert ticket.status == ticketing_pb2.TICKET_STATUS_NEW
    assert ticket.number > 0
    assert ticket.sla.level == types_pb2.ESCALATION_LEVEL_L0
    assert ticket.sla.policy_id == "p4-standard"
    names = [t.name for t in ticket.sla.targets]
    assert names == ["first_response", "next_update", "resolution", "escalation_ack"]
    fetched = await stub.GetTicket(ticketing_pb2.GetTicketRequest(id=ticket.id))
    assert fetched == ticket


async def test_sla_clocks_start_at_first_contact_not_at_creation(stub) -> None:
    first_contact = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    ticket = await stub.CreateTicket(
        new_request(severity=types_pb2.SEVERITY_HIGH, first_contact_at=to_timestamp(first_contact))
    )
    targets = {t.name: t for t in ticket.sla.targets}
    first_response = targets["first_response"]
    assert first_response.due_at.ToDatetime(tzinfo=UTC) == first_contact + timedelta(
        seconds=first_response.duration_seconds
    )
    assert ticket.first_contact_at.ToDatetime(tzinfo=UTC) == first_contact


async def test_regulator_complaint_is_read_as_high_risk(stub) -> None:
    ticket = await stub.CreateTicket(new_request(channel=types_pb2.CHANNEL_REGULATOR))
    assert ticket.sla.matrix_tier == "sensitive"
    assert ticket.sla.level == types_pb2.ESCALATION_LEVEL_L1
    assert ticket.customer.sensitive is True


async def test_vip_critical_goes_to_the_crisis_team(stub) -> None:
    customer = ticketing_pb2.Customer(id="C-vip", tier=types_pb2.CUSTOMER_TIER_VIP)
    ticket = await stub.CreateTicket(
        new_request(customer=customer, severity=types_pb2.SEVERITY_CRITICAL)
    )
    assert ticket.sla.level == types_pb2.ESCALATION_LEVEL_L3
    assert ticket.sla.policy_id == "p1-critical"


async def test_retry_with_same_request_id_returns_first_ticket_and_writes_nothing(stub, db) -> None:
    request = new_request()
    first = await stub.CreateTicket(request)
    second = await stub.CreateTicket(request)
    assert second.id == first.id
    assert await count_tickets(db, request.customer.id) == 1


async def test_reused_request_id_with_another_body_is_rejected(stub, db) -> None:
    request = new_request()
    await stub.CreateTicket(request)
    other = ticketing_pb2.CreateTicketRequest()
    other.CopyFrom(request)
    other.subject = "something else"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateTicket(other)
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_code(info.value) == "idempotency_key_reused"
    assert await count_tickets(db, request.customer.id) == 1


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"subject": ""}, "invalid_subject", "subject"),
        ({"subject": "x" * 301}, "invalid_subject", "subject"),
        ({"category": "weather"}, "invalid_category", "category"),
        ({"severity": types_pb2.SEVERITY_UNSPECIFIED}, "invalid_severity", "severity"),
        ({"severity": 42}, "invalid_severity", "severity"),
        ({"channel": types_pb2.CHANNEL_UNSPECIFIED}, "invalid_channel", "channel"),
        ({"request_id": ""}, "invalid_request_id", "request_id"),
        ({"description": "长" * 20_001}, "invalid_description", "description"),
        (
            {"first_contact_at": to_timestamp(datetime.now(UTC) + timedelta(days=1))},
            "invalid_first_contact_at",
            "first_contact_at",
        ),
    ],
)
async def test_bad_input_is_rejected_with_a_named_field_and_nothing_written(
    stub, db, overrides, code, field
) -> None:
    request = new_request(**overrides)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateTicket(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(info.value) == code
    assert field in (info.value.details() or "")
    assert await count_tickets(db, request.customer.id) == 0


async def test_missing_customer_tier_is_rejected(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateTicket(new_request(customer=ticketing_pb2.Customer(id="C-x")))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(info.value) == "invalid_tier"


async def test_creation_writes_status_change_and_outbox_event_in_one_transaction(stub, db) -> None:
    ticket = await stub.CreateTicket(new_request())
    async with db.engine.connect() as conn:
        changes = (
            await conn.execute(
                text("SELECT from_status, to_status FROM ticketing.status_change WHERE ticket_id = :t"),
                {"t": uuid.UUID(ticket.id)},
            )
        ).all()
        events = (
            await conn.execute(
                text("SELECT event_type, body FROM ticketing.outbox_event WHERE ticket_id = :t"),
                {"t": uuid.UUID(ticket.id)},
            )
        ).all()
    assert [tuple(c) for c in changes] == [(None, "new")]
    assert [e[0] for e in events] == ["ticket.created"]
    assert outbox_json(events[0][1])["sla"]["policy_id"] == ticket.sla.policy_id


async def test_unknown_ticket_is_not_found(stub) -> None:
    for ticket_id in (str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetTicket(ticketing_pb2.GetTicketRequest(id=ticket_id))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert error_code(info.value) == "ticket_not_found"


async def test_every_grpc_service_answers_the_standard_health_check(
    ticketing_addr: str, escalation_addr: str
) -> None:
    for addr, name in (
        (ticketing_addr, "kefu.ticketing.v1.TicketingService"),
        (escalation_addr, "kefu.escalation.v1.EscalationService"),
    ):
        async with grpc.aio.insecure_channel(addr) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", name):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_concurrent_retries_with_one_request_id_create_exactly_one_ticket(stub, db) -> None:
    request = new_request()
    replies = await asyncio.gather(*(stub.CreateTicket(request) for _ in range(8)))
    assert len({r.id for r in replies}) == 1
    assert await count_tickets(db, request.customer.id) == 1


async def test_text_postgres_cannot_store_is_invalid_argument_not_internal(stub, db) -> None:
    request = new_request(subject="black\x00screen")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateTicket(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(info.value) == "unstorable_value"
    assert await count_tickets(db, request.customer.id) == 0
