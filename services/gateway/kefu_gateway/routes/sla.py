"""A ticket's SLA clocks and escalations (issue #4): every clock of every cycle with its
history, the escalations and their acknowledgement, manual (green-channel) escalation.

Staff only. The customer-facing commitments ("next update by", "resolve by") are part of the
SLA view; the customer routes show those two instants and nothing else of it.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2
from kefu_common.protoconv import enum_choices, str_to_enum
from kefu_common.protoconv import to_timestamp
from kefu_gateway.auth import Allowed, Staff
from kefu_gateway.clients import ClientsDep
from kefu_gateway.deps import IdempotencyKey, request_id_for
from kefu_gateway.export import EXPORT_RESPONSES, ExportFormat, export_list, negotiate
from kefu_gateway.http_contract import created
from kefu_gateway.idempotency import keyed_command
from kefu_gateway.problems import problem_responses
from kefu_gateway.sla_public import (
    EscalateCreate,
    EscalationList,
    EscalationPublic,
    EscalationQuery,
    SlaReportPublic,
    SlaReportQuery,
    TicketSlaPublic,
    escalation_public,
    read_ticket_sla,
    sla_report_public,
    ticket_sla_public,
)

TRIGGERS = frozenset(enum_choices(escalation_pb2.EscalationTrigger))
router = APIRouter(tags=["escalation"])
CanReadReports = Allowed["reports:read"]

TicketId = Annotated[str, Path(min_length=1, max_length=64, description="The ticket's id")]
EscalationId = Annotated[str, Path(min_length=1, max_length=64, description="The escalation's id")]

_READ = (401, 403, 422, 503, 504)


def _level(value: str | None) -> int:
    return str_to_enum(types_pb2.EscalationLevel, value) if value else 0


@router.get(
    "/v1/tickets/{ticket_id}/sla",
    operation_id="getTicketSla",
    summary="Every SLA clock of every cycle of a ticket, with history and escalations",
    description="Clocks run in business time of the cycle's calendar: `due_at` is unset while a "
    "clock is paused (pending_customer) with time left. A reopen opens a new cycle with fresh "
    "targets; earlier cycles keep their outcome. `commitments` are what the customer is promised. "
    "Read-your-writes: right after a create, before the escalation service has seen the ticket "
    "(usually well under a second), the clocks come from the ticket's own SLA snapshot and "
    "`provisional` is true. 404 `ticket_not_found` for a ticket that does not exist.",
    response_model=TicketSlaPublic,
    responses=problem_responses(404, *_READ),
)
async def get_ticket_sla(ticket_id: TicketId, principal: Staff, clients: ClientsDep) -> TicketSlaPublic:
    return ticket_sla_public(await read_ticket_sla(clients, ticket_id))


@router.post(
    "/v1/tickets/{ticket_id}/escalate",
    status_code=201,
    operation_id="escalateTicket",
    summary="Green channel (绿色升级): escalate a ticket by hand",
    description="To `to_level`, or one level above the current one. Starts an acknowledgement clock "
    "for the party it goes to. `Idempotency-Key` makes a retry return the first escalation. 400 "
    "`no_open_cycle` for a resolved ticket, `already_at_level` when it is already that high.",
    response_model=EscalationPublic,
    responses=problem_responses(400, 404, 413, *_READ),
)
async def escalate_ticket(
    ticket_id: TicketId, body: EscalateCreate, principal: Staff, clients: ClientsDep, request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    request_id = request_id_for(principal, idempotency_key)

    async def call() -> tuple[int, dict[str, Any]]:
        reply = await clients.escalation.EscalateTicket(
            escalation_pb2.EscalateTicketRequest(
                request_id=request_id, ticket_id=ticket_id,
                to_level=_level(body.to_level), reason=body.reason, actor=principal.subject,
            ),
            timeout=clients.timeout,
        )
        return 201, escalation_public(reply).model_dump(mode="json")

    # escalation dedupes a request id but does not compare bodies: the gateway's records do
    reply = await keyed_command(request, principal, idempotency_key, "escalateTicket",
                                {"ticket": ticket_id, **body.model_dump(mode="json")}, call)
    if reply.status_code == 201:
        created(reply, f"/v1/tickets/{ticket_id}/sla#escalation-{orjson.loads(reply.body)['id']}")
    return reply


@router.get(
    "/v1/escalations",
    operation_id="listEscalations",
    summary="Escalations, newest first",
    description="`format=csv|xlsx` (or the matching `Accept`) downloads every page as one file.",
    response_model=EscalationList,
    responses={**EXPORT_RESPONSES, **problem_responses(400, *_READ)},
)
async def list_escalations(
    request: Request, query: Annotated[EscalationQuery, Query()], principal: Staff, clients: ClientsDep
) -> Any:
    fmt = negotiate(request, query.format)

    known = query.trigger in TRIGGERS  # an unknown trigger matches no escalation

    async def page(cursor: str | None, size: int = query.page_size) -> tuple[list[EscalationPublic], str | None]:
        if query.trigger and not known:
            return [], None
        reply = await clients.escalation.ListEscalations(
            escalation_pb2.ListEscalationsRequest(
                ticket_id=query.ticket_id or "", status=query.status or "",
                trigger=str_to_enum(escalation_pb2.EscalationTrigger, query.trigger) if known else 0,
                team=query.team or "", min_level=_level(query.min_level), page_size=size,
                page_token=cursor or "",
            ),
            timeout=clients.timeout,
        )
        return [escalation_public(e) for e in reply.escalations], reply.next_page_token or None

    if fmt is not ExportFormat.JSON:
        return await export_list(fmt, "listEscalations", EscalationPublic, lambda c: page(c, 200),
                                 cursor=query.cursor)
    items, nxt = await page(query.cursor)
    return EscalationList(items=items, next_cursor=nxt)


@router.post(
    "/v1/escalations/{escalation_id}/acknowledge",
    operation_id="acknowledgeEscalation",
    summary="Acknowledge an escalation (stops its acknowledgement clock)",
    description="Only the party escalated to may acknowledge: its level's role or above (L1 "
    "specialist, L2 lead; L3, the crisis team, only admin) or an admin; anyone else gets 403 "
    "`not_escalated_party`. Idempotent: acknowledging again returns the escalation unchanged. A late "
    "acknowledgement is recorded but the status stays `ack_breached` (it was escalated again).",
    response_model=EscalationPublic,
    responses=problem_responses(400, 404, *_READ),
)
async def acknowledge_escalation(
    escalation_id: EscalationId, principal: Staff, clients: ClientsDep
) -> EscalationPublic:
    reply = await clients.escalation.AcknowledgeEscalation(
        escalation_pb2.AcknowledgeEscalationRequest(escalation_id=escalation_id, actor=principal.subject,
                                                    actor_role=principal.role),
        timeout=clients.timeout,
    )
    return escalation_public(reply)


@router.get(
    "/v1/reports/sla",
    tags=["reports"],
    operation_id="getSlaReport",
    summary="SLA attainment per target and escalation rate over a period",
    description="Over `[period_start, period_end)`, at most 366 days (400 `invalid_period`), optionally "
    "for one `team`. A target counts in the period it ended in; see DOMAIN.md §4.",
    response_model=SlaReportPublic,
    responses=problem_responses(400, *_READ),
)
async def get_sla_report(
    query: Annotated[SlaReportQuery, Query()], principal: CanReadReports, clients: ClientsDep
) -> SlaReportPublic:
    reply = await clients.escalation.GetSlaReport(
        escalation_pb2.GetSlaReportRequest(
            period_start=to_timestamp(query.period_start), period_end=to_timestamp(query.period_end),
            team=query.team or "",
        ),
        timeout=clients.timeout,
    )
    return sla_report_public(reply, query)
