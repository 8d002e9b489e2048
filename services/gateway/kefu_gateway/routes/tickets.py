"""Ticket lifecycle routes: thin translations of HTTP to TicketingService calls.

Every single-ticket response carries `ETag: "<version>"`; every call that changes the ticket
row accepts `If-Match` with that tag (412 when the ticket moved on meanwhile, see problems.py)
and every mutating call accepts `Idempotency-Key`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response, status

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.protoconv import str_to_enum, to_timestamp
from kefu_gateway.auth import Allowed, Principal, has_permission
from kefu_gateway.clients import ClientsDep
from kefu_gateway.convert import (
    contact_public,
    note_public,
    progress_public,
    timeline_public,
)
from kefu_gateway.export import EXPORT_RESPONSES, ExportFormat, export_list, negotiate
from kefu_gateway.csat_schemas import ReopenCandidateList
from kefu_gateway.deps import ExpectedVersion, IdempotencyKey, etag, request_id_for
from kefu_gateway.problems import problem_responses
from kefu_gateway.scope import AccessibleTicketId, TicketId, can_see, list_filter, not_found, ticket_view
from kefu_gateway.schemas import (
    AssignmentCreate,
    ContactCreate,
    ContactPublic,
    NoteCreate,
    NotePublic,
    ProgressCreate,
    ProgressPublic,
    ReopenCandidatesQuery,
    ReopenCreate,
    StatusChangeCreate,
    TicketCreate,
    TicketPage,
    TicketPublic,
    TicketQuery,
    TicketUpdate,
    TimelinePublic,
)

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

# Statuses every route that reaches the ticketing service can answer with.
_UPSTREAM = (401, 403, 422, 429, 503, 504)
_EXPORT_PAGE = 200  # the largest page ListTickets serves
# ... plus, for calls that write: bad domain input, unknown ticket, key reuse, body size.
_WRITE = (400, 404, 413, *_UPSTREAM)
# ... plus, for calls that change the ticket row: version conflicts (409, or 412 with If-Match).
_CONDITIONAL_WRITE = (*_WRITE, 409, 412)


# Who may call what is declared once per route with `Allowed[...]` (auth.PERMISSIONS); what
# they then see goes through scope.py: listings are filtered, single tickets of others are 404,
# and every ticket body passes `ticket_view` (personal data masked for customers and partners).
CanCreate = Allowed["tickets:create"]
CanRead = Allowed["tickets:read"]
CanUpdate = Allowed["tickets:update"]
CanWork = Allowed["tickets:work"]


def _with_etag(response: Response, principal: Principal, ticket: ticketing_pb2.Ticket) -> TicketPublic:
    response.headers["ETag"] = etag(ticket.version)
    return ticket_view(principal, ticket)


def _opt(value: str | None) -> str:
    return value or ""


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createTicket",
    summary="Open a ticket",
    response_model=TicketPublic,
    responses=problem_responses(400, 401, 403, 409, 413, 422, 429, 503, 504),
)
async def create_ticket(
    body: TicketCreate,
    principal: CanCreate,
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
        actor=principal.actor,
        team=body.team,
    )
    ticket = await clients.ticketing.CreateTicket(request, timeout=clients.timeout)
    response.headers["Location"] = f"/v1/tickets/{ticket.id}"
    return _with_etag(response, principal, ticket)


@router.get(
    "",
    operation_id="listTickets",
    summary="List tickets, newest first, one page at a time",
    description="`format=csv|xlsx` (or `Accept: text/csv` / the XLSX media type) downloads every "
    "page of the filtered list as one file.",
    response_model=TicketPage,
    responses={**EXPORT_RESPONSES, **problem_responses(400, *_UPSTREAM)},
)
async def list_tickets(
    request: Request,
    query: Annotated[TicketQuery, Query()],
    principal: CanRead,
    clients: ClientsDep,
) -> Any:
    fmt = negotiate(request, query.format)

    async def page(cursor: str | None, size: int = query.page_size) -> tuple[list[TicketPublic], str | None]:
        req = ticketing_pb2.ListTicketsRequest(
            statuses=[str_to_enum(ticketing_pb2.TicketStatus, s) for s in query.status],
            customer_id=_opt(query.customer_id),
            assignee_id=_opt(query.assignee_id),
            team=_opt(query.team),
            category=_opt(query.category),
            channel=str_to_enum(types_pb2.Channel, query.channel) if query.channel else 0,
            severity=str_to_enum(types_pb2.Severity, query.severity) if query.severity else 0,
            updated_since=to_timestamp(query.updated_since) if query.updated_since else None,
            page_size=size,
            page_token=_opt(cursor),
        )
        for field, value in list_filter(principal).items():
            setattr(req, field, value)
        reply = await clients.ticketing.ListTickets(req, timeout=clients.timeout)
        return [ticket_view(principal, t) for t in reply.tickets], reply.next_page_token or None

    if fmt is not ExportFormat.JSON:
        return await export_list(
            fmt, "listTickets", TicketPublic, lambda c: page(c, _EXPORT_PAGE), cursor=query.cursor
        )
    items, nxt = await page(query.cursor)
    return TicketPage(items=items, next_cursor=nxt)


# Declared before /{ticket_id}, which would otherwise take "reopen-candidates" for an id.
@router.get(
    "/reopen-candidates",
    operation_id="findReopenCandidates",
    summary="Recently finished tickets of this customer to reopen instead of duplicating",
    description="Resolved or closed tickets of the customer (and category) finished within the "
    "window, most recently finished first; `reopen_proposed` names those whose last cycle the "
    "customer rated dissatisfied.",
    response_model=ReopenCandidateList,
    responses=problem_responses(400, *_UPSTREAM),
)
async def find_reopen_candidates(
    query: Annotated[ReopenCandidatesQuery, Query()],
    principal: CanWork,
    clients: ClientsDep,
) -> ReopenCandidateList:
    reply = await clients.ticketing.FindReopenCandidates(
        ticketing_pb2.FindReopenCandidatesRequest(
            customer_id=query.customer_id,
            category=_opt(query.category),
            window_days=query.window_days or 0,
        ),
        timeout=clients.timeout,
    )
    return ReopenCandidateList(
        items=[ticket_view(principal, t) for t in reply.tickets], reopen_proposed=list(reply.reopen_proposed)
    )


@router.get(
    "/{ticket_id}",
    operation_id="getTicket",
    summary="Read one ticket with its SLA targets",
    response_model=TicketPublic,
    responses=problem_responses(404, *_UPSTREAM),
)
async def get_ticket(
    principal: CanRead,
    ticket_id: TicketId,
    clients: ClientsDep,
    response: Response,
) -> TicketPublic:
    ticket = await clients.ticketing.GetTicket(
        ticketing_pb2.GetTicketRequest(id=ticket_id), timeout=clients.timeout
    )
    if not can_see(principal, ticket):
        raise not_found(ticket_id)
    return _with_etag(response, principal, ticket)


@router.patch(
    "/{ticket_id}",
    operation_id="updateTicket",
    summary="Change subject, description, severity, category or tags",
    response_model=TicketPublic,
    responses=problem_responses(*_CONDITIONAL_WRITE),
)
async def update_ticket(
    principal: CanUpdate,
    ticket_id: AccessibleTicketId,
    body: TicketUpdate,
    clients: ClientsDep,
    response: Response,
    version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> TicketPublic:
    present = body.model_fields_set
    request = ticketing_pb2.UpdateTicketRequest(
        request_id=request_id_for(principal, idempotency_key),
        id=ticket_id,
        expected_version=version,
        actor=principal.actor,
        subject=body.subject,
        description=body.description,
        severity=str_to_enum(types_pb2.Severity, body.severity) if body.severity else None,
        category=body.category,
        set_tags="tags" in present,
        tags=body.tags or [],
    )
    ticket = await clients.ticketing.UpdateTicket(request, timeout=clients.timeout)
    return _with_etag(response, principal, ticket)


@router.post(
    "/{ticket_id}/assign",
    operation_id="assignTicket",
    summary="Give the ticket to an agent (and team), or back to the team queue",
    response_model=TicketPublic,
    responses=problem_responses(*_CONDITIONAL_WRITE),
)
async def assign_ticket(
    ticket_id: TicketId,
    body: AssignmentCreate,
    principal: CanWork,
    clients: ClientsDep,
    response: Response,
    version: ExpectedVersion,
    idempotency_key: IdempotencyKey = None,
) -> TicketPublic:
    request = ticketing_pb2.AssignTicketRequest(
        request_id=request_id_for(principal, idempotency_key),
        id=ticket_id,
        expected_version=version,
        actor=principal.actor,
        assignee_id=_opt(body.assignee_id),
        team=body.team,
        reason=body.reason,
    )
    ticket = await clients.ticketing.AssignTicket(request, timeout=clients.timeout)
    return _with_etag(response, principal, ticket)


def _add_transition_route(
    path: str, action: ticketing_pb2.TransitionAction.ValueType, operation_id: str, summary: str
) -> None:
    async def transition(
        ticket_id: TicketId,
        principal: CanWork,
        clients: ClientsDep,
        response: Response,
        version: ExpectedVersion,
        body: Annotated[StatusChangeCreate | None, Body()] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> TicketPublic:
        request = ticketing_pb2.TransitionTicketRequest(
            request_id=request_id_for(principal, idempotency_key),
            id=ticket_id,
            expected_version=version,
            actor=principal.actor,
            action=action,
            reason=body.reason if body else "",
        )
        ticket = await clients.ticketing.TransitionTicket(request, timeout=clients.timeout)
        return _with_etag(response, principal, ticket)

    transition.__name__ = operation_id
    router.add_api_route(
        f"/{{ticket_id}}/{path}",
        transition,
        methods=["POST"],
        operation_id=operation_id,
        summary=summary,
        description="Moving from any other status is refused with 400 `invalid_transition`, "
        "naming the ticket's current status.",
        response_model=TicketPublic,
        responses=problem_responses(*_CONDITIONAL_WRITE),
    )


_add_transition_route("open", ticketing_pb2.TRANSITION_ACTION_OPEN, "openTicket",
                      "Start work on a new ticket (new → open)")
_add_transition_route("pend", ticketing_pb2.TRANSITION_ACTION_PEND, "pendTicket",
                      "Wait for the customer (open | reopened → pending_customer)")
_add_transition_route("resume", ticketing_pb2.TRANSITION_ACTION_RESUME, "resumeTicket",
                      "The customer answered (pending_customer → open)")
_add_transition_route("resolve", ticketing_pb2.TRANSITION_ACTION_RESOLVE, "resolveTicket",
                      "The problem is solved (open | reopened → resolved)")
_add_transition_route("close", ticketing_pb2.TRANSITION_ACTION_CLOSE, "closeTicket",
                      "Close a resolved ticket (resolved → closed)")


@router.post(
    "/{ticket_id}/reopen",
    operation_id="reopenTicket",
    summary="Reactivate a resolved or closed ticket instead of opening a duplicate",
    description="The same ticket goes to `reopened` (it then behaves as `open`), `reopen_count` "
    "grows by one and the earlier history stays. With `contact_channel` the customer's contact "
    "that brought the problem back is logged too.",
    response_model=TicketPublic,
    responses=problem_responses(*_CONDITIONAL_WRITE),
)
async def reopen_ticket(
    ticket_id: TicketId,
    principal: CanWork,
    clients: ClientsDep,
    response: Response,
    version: ExpectedVersion,
    body: Annotated[ReopenCreate | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> TicketPublic:
    body = body or ReopenCreate()
    request = ticketing_pb2.ReopenTicketRequest(
        request_id=request_id_for(principal, idempotency_key),
        id=ticket_id,
        expected_version=version,
        actor=principal.actor,
        reason=body.reason,
        contact_channel=(
            str_to_enum(types_pb2.Channel, body.contact_channel) if body.contact_channel else 0
        ),
        contact_summary=body.contact_summary,
    )
    ticket = await clients.ticketing.ReopenTicket(request, timeout=clients.timeout)
    return _with_etag(response, principal, ticket)


@router.post(
    "/{ticket_id}/contacts",
    status_code=status.HTTP_201_CREATED,
    operation_id="logContact",
    summary="Log a customer contact (inbound) or a callback (outbound)",
    description="Contacts never start, restart or extend an SLA clock.",
    response_model=ContactPublic,
    responses=problem_responses(*_WRITE),
)
async def log_contact(
    ticket_id: TicketId,
    body: ContactCreate,
    principal: CanWork,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> ContactPublic:
    request = ticketing_pb2.LogContactRequest(
        request_id=request_id_for(principal, idempotency_key),
        ticket_id=ticket_id,
        direction=str_to_enum(ticketing_pb2.ContactDirection, body.direction),
        channel=str_to_enum(types_pb2.Channel, body.channel),
        occurred_at=to_timestamp(body.occurred_at) if body.occurred_at else None,
        summary=body.summary,
        actor=principal.actor,
    )
    contact = await clients.ticketing.LogContact(request, timeout=clients.timeout)
    return contact_public(contact)


@router.post(
    "/{ticket_id}/progress",
    status_code=status.HTTP_201_CREATED,
    operation_id="addProgress",
    summary="Add a customer-visible progress entry",
    response_model=ProgressPublic,
    responses=problem_responses(*_WRITE),
)
async def add_progress(
    ticket_id: TicketId,
    body: ProgressCreate,
    principal: CanWork,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> ProgressPublic:
    request = ticketing_pb2.AddProgressRequest(
        request_id=request_id_for(principal, idempotency_key),
        ticket_id=ticket_id,
        text=body.text,
        next_step=body.next_step,
        promised_at=to_timestamp(body.promised_at) if body.promised_at else None,
        owner_name=body.owner_name,
        owner_direct_line=body.owner_direct_line,
        actor=principal.actor,
    )
    progress = await clients.ticketing.AddProgress(request, timeout=clients.timeout)
    return progress_public(progress)


@router.post(
    "/{ticket_id}/notes",
    status_code=status.HTTP_201_CREATED,
    operation_id="addNote",
    summary="Add an internal note (never shown to the customer)",
    response_model=NotePublic,
    responses=problem_responses(*_WRITE),
)
async def add_note(
    ticket_id: TicketId,
    body: NoteCreate,
    principal: CanWork,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> NotePublic:
    request = ticketing_pb2.AddNoteRequest(
        request_id=request_id_for(principal, idempotency_key),
        ticket_id=ticket_id,
        text=body.text,
        actor=principal.actor,
    )
    note = await clients.ticketing.AddNote(request, timeout=clients.timeout)
    return note_public(note)


@router.get(
    "/{ticket_id}/timeline",
    operation_id="getTimeline",
    summary="Everything that happened to the ticket, oldest first",
    response_model=TimelinePublic,
    responses=problem_responses(404, *_UPSTREAM),
)
async def get_timeline(
    principal: CanRead,
    ticket_id: TicketId,
    clients: ClientsDep,
    include_internal: Annotated[
        bool,
        Query(
            description="false: only what the customer may see (status changes and progress "
            "entries; never notes, contacts or assignments). Partners always get that view."
        ),
    ] = True,
) -> TimelinePublic:
    internal = include_internal and has_permission(principal, "tickets:internal")
    timeline = await clients.ticketing.GetTimeline(
        ticketing_pb2.GetTimelineRequest(ticket_id=ticket_id, include_internal=internal),
        timeout=clients.timeout,
    )
    if not can_see(principal, timeline.ticket):
        raise not_found(ticket_id)
    public = timeline_public(timeline)
    return public.model_copy(update={"ticket": ticket_view(principal, timeline.ticket)})
