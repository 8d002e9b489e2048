from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response, status

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.errors import InvalidArgument
from kefu_common.protoconv import enum_to_str, str_to_enum, to_timestamp
from kefu_gateway.auth import Principal, Staff
from kefu_gateway.clients import ClientsDep
from kefu_gateway.problems import problem_responses
from kefu_gateway.schemas import TicketCreate, TicketPublic

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

_KEY = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes the call safe to retry: the same key returns the first result",
        max_length=64,
    ),
]


def request_id_for(principal: Principal, key: str | None) -> str:
    """Idempotency keys are scoped to the caller, so two callers never collide."""
    if key is None:
        return f"auto/{uuid.uuid4().hex}"
    if not _KEY.match(key):
        raise InvalidArgument(
            "Idempotency-Key must be 1..64 characters of A-Z a-z 0-9 . _ : -",
            code="invalid_idempotency_key",
        )
    return f"{principal.subject}/{key}"


def ticket_public(t: ticketing_pb2.Ticket) -> TicketPublic:
    sla = None
    if t.HasField("sla"):
        sla = {
            "level": (enum_to_str(types_pb2.EscalationLevel, t.sla.level) or "").upper(),
            "policy_id": t.sla.policy_id,
            "policy_version": t.sla.policy_version,
            "policy_name": t.sla.policy_name,
            "matrix_version": t.sla.matrix_version,
            "matrix_tier": t.sla.matrix_tier,
            "calendar": t.sla.calendar,
            "targets": [
                {
                    "name": x.name,
                    "duration_seconds": x.duration_seconds,
                    "due_at": x.due_at.ToJsonString() if x.HasField("due_at") else None,
                }
                for x in t.sla.targets
            ],
        }
    return TicketPublic.model_validate(
        {
            "id": t.id,
            "number": t.number,
            "status": enum_to_str(ticketing_pb2.TicketStatus, t.status),
            "customer": {
                "id": t.customer.id,
                "name": t.customer.name,
                "tier": enum_to_str(types_pb2.CustomerTier, t.customer.tier),
                "sensitive": t.customer.sensitive,
                "phone": t.customer.phone,
                "email": t.customer.email,
            },
            "channel": enum_to_str(types_pb2.Channel, t.channel),
            "severity": enum_to_str(types_pb2.Severity, t.severity),
            "category": t.category,
            "subject": t.subject,
            "description": t.description,
            "tags": list(t.tags),
            "reopen_count": t.reopen_count,
            "version": t.version,
            "first_contact_at": t.first_contact_at.ToJsonString(),
            "created_at": t.created_at.ToJsonString(),
            "updated_at": t.updated_at.ToJsonString(),
            "sla": sla,
        }
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createTicket",
    summary="Open a ticket",
    response_model=TicketPublic,
    responses=problem_responses(400, 401, 403, 409, 413, 422, 503, 504),
)
async def create_ticket(
    body: TicketCreate,
    principal: Staff,
    clients: ClientsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TicketPublic:
    request = ticketing_pb2.CreateTicketRequest(
        request_id=request_id_for(principal, idempotency_key),
        customer=ticketing_pb2.Customer(
            id=body.customer.id,
            name=body.customer.name,
            tier=str_to_enum(types_pb2.CustomerTier, body.customer.tier),
            sensitive=body.customer.sensitive,
            phone=body.customer.phone,
            email=body.customer.email,
        ),
        channel=str_to_enum(types_pb2.Channel, body.channel),
        severity=str_to_enum(types_pb2.Severity, body.severity),
        category=body.category,
        subject=body.subject,
        description=body.description,
        tags=body.tags,
        first_contact_at=to_timestamp(body.first_contact_at) if body.first_contact_at else None,
    )
    ticket = await clients.ticketing.CreateTicket(request, timeout=clients.timeout)
    response.headers["Location"] = f"/v1/tickets/{ticket.id}"
    response.headers["ETag"] = f'"{ticket.version}"'
    return ticket_public(ticket)


@router.get(
    "/{ticket_id}",
    operation_id="getTicket",
    summary="Read one ticket with its SLA targets",
    response_model=TicketPublic,
    responses=problem_responses(401, 403, 404, 422, 503, 504),
)
async def get_ticket(
    ticket_id: Annotated[str, Path(min_length=1, max_length=64)],
    principal: Staff,
    clients: ClientsDep,
    response: Response,
) -> TicketPublic:
    ticket = await clients.ticketing.GetTicket(
        ticketing_pb2.GetTicketRequest(id=ticket_id), timeout=clients.timeout
    )
    response.headers["ETag"] = f'"{ticket.version}"'
    return ticket_public(ticket)


