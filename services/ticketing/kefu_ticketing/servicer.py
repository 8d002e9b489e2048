"""gRPC face of the ticketing service: translate proto <-> domain, nothing more."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.errors import FailedPrecondition, InvalidArgument, Unavailable
from kefu_common.logging import get_logger
from kefu_common.protoconv import enum_to_str, from_timestamp, str_to_enum, to_timestamp
from kefu_ticketing import service
from kefu_ticketing.models import Ticket

log = get_logger("kefu.ticketing")


class EscalationSlaResolver:
    """Asks the escalation service which level and SLA targets a new ticket gets."""

    def __init__(self, stub: escalation_pb2_grpc.EscalationServiceStub, timeout: float) -> None:
        self.stub = stub
        self.timeout = timeout

    async def __call__(
        self, *, tier: str, sensitive: bool, severity: str, channel: str, first_contact_at: datetime
    ) -> dict[str, Any]:
        request = escalation_pb2.ResolveSlaRequest(
            tier=str_to_enum(types_pb2.CustomerTier, tier),
            sensitive=sensitive,
            severity=str_to_enum(types_pb2.Severity, severity),
            channel=str_to_enum(types_pb2.Channel, channel),
            first_contact_at=to_timestamp(first_contact_at),
        )
        try:
            reply = await self.stub.ResolveSla(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument(err.details() or "invalid SLA request") from None
            if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise FailedPrecondition(err.details() or "no SLA policy", code="sla_unresolved") from None
            log.warning("escalation_unreachable", status=err.code().name, details=err.details())
            raise Unavailable(
                "the escalation service is unavailable; retry with the same request_id",
                code="escalation_unavailable",
            ) from None
        return {
            "level": (enum_to_str(types_pb2.EscalationLevel, reply.level) or "").upper(),
            "policy_id": reply.policy_id,
            "policy_version": reply.policy_version,
            "policy_name": reply.policy_name,
            "matrix_version": reply.matrix_version,
            "matrix_tier": reply.matrix_tier,
            "calendar": reply.calendar,
            "targets": [
                {
                    "name": t.name,
                    "duration_seconds": t.duration_seconds,
                    "due_at": from_timestamp(t.due_at).isoformat() if t.HasField("due_at") else None,
                }
                for t in reply.targets
            ],
        }


def _new_ticket(request: ticketing_pb2.CreateTicketRequest) -> service.NewTicket:
    c = request.customer
    return service.NewTicket(
        request_id=request.request_id,
        customer_id=c.id,
        customer_name=c.name,
        tier=enum_to_str(types_pb2.CustomerTier, c.tier),
        sensitive=c.sensitive,
        phone=c.phone,
        email=c.email,
        channel=enum_to_str(types_pb2.Channel, request.channel),
        severity=enum_to_str(types_pb2.Severity, request.severity),
        category=request.category,
        subject=request.subject,
        description=request.description,
        tags=tuple(request.tags),
        first_contact_at=(
            from_timestamp(request.first_contact_at) if request.HasField("first_contact_at") else None
        ),
    )


def _sla_proto(sla: dict[str, Any]) -> ticketing_pb2.Sla | None:
    if not sla:
        return None
    return ticketing_pb2.Sla(
        level=str_to_enum(types_pb2.EscalationLevel, sla["level"]),
        policy_id=sla["policy_id"],
        policy_version=sla["policy_version"],
        policy_name=sla["policy_name"],
        matrix_version=sla["matrix_version"],
        matrix_tier=sla["matrix_tier"],
        calendar=sla["calendar"],
        targets=[
            ticketing_pb2.SlaTarget(
                name=t["name"],
                duration_seconds=t["duration_seconds"],
                due_at=to_timestamp(datetime.fromisoformat(t["due_at"])) if t["due_at"] else None,
            )
            for t in sla["targets"]
        ],
    )


def ticket_to_proto(t: Ticket) -> ticketing_pb2.Ticket:
    return ticketing_pb2.Ticket(
        id=str(t.id),
        number=t.number or 0,
        status=str_to_enum(ticketing_pb2.TicketStatus, t.status),
        customer=ticketing_pb2.Customer(
            id=t.customer_id,
            name=t.customer_name,
            tier=str_to_enum(types_pb2.CustomerTier, t.customer_tier),
            sensitive=t.customer_sensitive,
            phone=t.customer_phone,
            email=t.customer_email,
        ),
        channel=str_to_enum(types_pb2.Channel, t.channel),
        severity=str_to_enum(types_pb2.Severity, t.severity),
        category=t.category,
        subject=t.subject,
        description=t.description,
        tags=t.tags,
        reopen_count=t.reopen_count,
        version=t.version,
        first_contact_at=to_timestamp(t.first_contact_at),
        created_at=to_timestamp(t.created_at),
        updated_at=to_timestamp(t.updated_at),
        sla=_sla_proto(t.sla),
    )


class TicketingServicer(ticketing_pb2_grpc.TicketingServiceServicer):
    def __init__(self, db: Database, resolve_sla: service.SlaResolver, clock: Clock) -> None:
        self.db = db
        self.resolve_sla = resolve_sla
        self.clock = clock

    async def CreateTicket(
        self, request: ticketing_pb2.CreateTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        cmd = _new_ticket(request)

        async def replay(session: AsyncSession) -> tuple[Ticket, bool] | None:
            ticket = await service.find_replayed_ticket(session, cmd)
            return None if ticket is None else (ticket, False)

        ticket, created = await self.db.idempotent(
            lambda session: service.create_ticket(
                session, cmd, resolve_sla=self.resolve_sla, clock=self.clock
            ),
            replay,
        )
        if created:
            log.info("ticket_created", ticket_id=str(ticket.id), number=ticket.number,
                     severity=ticket.severity, level=ticket.sla.get("level"))
        return ticket_to_proto(ticket)

    async def GetTicket(
        self, request: ticketing_pb2.GetTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        async with self.db.session() as session:
            ticket = await service.get_ticket(session, request.id)
        return ticket_to_proto(ticket)
