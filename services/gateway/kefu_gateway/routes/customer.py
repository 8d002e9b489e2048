"""The customer app: the caller's own cases and their progress (DOMAIN.md §1 Progress, §5).

The token subject is the customer id. Another customer's case is 404, exactly like a missing
one. Progress reads are built for polling: a strong `ETag` that changes with what the customer
can see, `If-None-Match` answered with 304 from a cheap stamp (no ticket body, progress text or
timeline is read; a tag this process already checked needs no RPC at all, see changes.py), and
`?wait=` to hold the request until the case changes. Every read, 304s included, is recorded as
a progress view (the anxious-customer signal), cached answers in batches within a second.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Query, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.protoconv import enum_to_str, str_to_enum, to_timestamp
from kefu_common.errors import AlreadyExists, ServiceError
from kefu_gateway.auth import Allowed, Principal, has_permission, token_quota_name
from kefu_gateway.clients import Clients, ClientsDep
from kefu_gateway.convert import case_progress, case_public
from kefu_gateway.customer_schemas import (
    CaseCreate,
    CaseDispute,
    CaseMessageCreate,
    CaseMessagePublic,
    ReopenSuggestion,
)
from kefu_gateway.deps import IdempotencyKey, IfNoneMatch, etag_matches, request_id_for
from kefu_gateway.http_contract import created
from kefu_gateway.problems import problem_responses
from kefu_common.logging import get_logger
from kefu_gateway.schemas import CaseCommitments, CasePage, CaseProgress, CasePublic, CaseQuery
from kefu_gateway.sla_public import read_ticket_sla
from kefu_gateway.scope import TicketId, can_see, case_progress_view, case_view, list_filter, not_found

Customer = Allowed["cases:own"]
MAX_WAIT_SECONDS = 30

log = get_logger("kefu.gateway.customer")

router = APIRouter(prefix="/v1/customer/cases", tags=["customer"])


def progress_etag(ticket_version: int, progress_count: int) -> str:
    """Strong: two reads with the same tag show the customer exactly the same case."""
    return f'"v{ticket_version}.p{progress_count}"'


@router.get(
    "",
    operation_id="listMyCases",
    summary="My cases, newest first",
    response_model=CasePage,
    responses=problem_responses(400, 401, 403, 422, 429, 503, 504),
)
async def list_my_cases(
    principal: Customer, query: Annotated[CaseQuery, Query()], clients: ClientsDep
) -> CasePage:
    request = ticketing_pb2.ListTicketsRequest(
        statuses=[str_to_enum(ticketing_pb2.TicketStatus, s) for s in query.status],
        updated_since=to_timestamp(query.updated_since) if query.updated_since else None,
        page_size=query.page_size,
        page_token=query.cursor or "",
        **list_filter(principal),
    )
    reply = await clients.ticketing.ListTickets(request, timeout=clients.timeout)
    return CasePage(
        items=[case_view(case_public(t)) for t in reply.tickets], next_cursor=reply.next_page_token or None
    )


async def _stamp_tag(clients: Clients, principal: Principal, case_id: str) -> str:
    stamp = await clients.ticketing.GetProgressStamp(
        ticketing_pb2.GetProgressStampRequest(ticket_id=case_id, customer_id=principal.subject),
        timeout=clients.timeout,
    )
    return progress_etag(stamp.ticket_version, stamp.progress_count)


@router.get(
    "/{case_id}/progress",
    operation_id="getMyCaseProgress",
    summary="My case and its customer-visible history (poll with If-None-Match and wait)",
    description="Answers 304 Not Modified while the `ETag` you send in `If-None-Match` is "
    "current. With `wait`, a current tag holds the request until the case changes (then 200 at "
    "once) or `wait` seconds pass (then 304). Each call counts as one progress view.",
    response_model=CaseProgress,
    responses={
        304: {"description": "Not modified: the case still matches `If-None-Match`"},
        **problem_responses(401, 403, 404, 422, 429, 503, 504),
    },
)
async def get_my_case_progress(
    principal: Customer,
    case_id: TicketId,
    clients: ClientsDep,
    response: Response,
    if_none_match: IfNoneMatch = None,
    wait: Annotated[
        int,
        Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for a change (long poll)"),
    ] = 0,
) -> CaseProgress | Response:
    tracker = clients.changes
    generation = tracker.generation(case_id)
    known = remembered_tag(clients, principal, case_id, if_none_match)
    if known is not None and not wait:
        # Unchanged since a read this process checked: no RPC; the view is counted in a batch.
        await clients.views.add(case_id, principal.subject)
        return _not_modified(known, response)
    view = await clients.ticketing.RecordProgressView(
        ticketing_pb2.RecordProgressViewRequest(
            request_id=f"view/{uuid.uuid4().hex}",
            ticket_id=case_id,
            viewer=principal.actor,
            customer_id=principal.subject,
        ),
        timeout=clients.timeout,
    )
    tag = progress_etag(view.stamp.ticket_version, view.stamp.progress_count)
    await tracker.remember(case_id, principal.subject, tag, generation=generation, after_sequence=view.sequence)
    if etag_matches(if_none_match, tag) and wait:
        deadline = asyncio.get_running_loop().time() + wait
        while etag_matches(if_none_match, tag):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await clients.changes.wait(case_id, after_sequence=view.sequence, timeout=remaining)
            # Woken or timed out: the stamp decides (a wake-up is only a hint).
            tag = await _stamp_tag(clients, principal, case_id)
    if etag_matches(if_none_match, tag):
        return _not_modified(tag, response)
    generation = tracker.generation(case_id)
    timeline = await clients.ticketing.GetTimeline(
        ticketing_pb2.GetTimelineRequest(ticket_id=case_id, include_internal=False),
        timeout=clients.timeout,
    )
    if timeline.ticket.customer.id != principal.subject:  # checked by ticketing already
        raise not_found(case_id)
    body = case_progress_view(case_progress(timeline))
    body.commitments = await _commitments(clients, case_id, timeline.ticket)
    progress_count = sum(1 for e in body.entries if e.kind == "progress")
    tag = progress_etag(timeline.ticket.version, progress_count)
    await tracker.remember(case_id, principal.subject, tag, generation=generation, after_sequence=view.sequence)
    response.headers["ETag"] = tag
    return body


async def _commitments(clients: Clients, case_id: str, ticket: ticketing_pb2.Ticket) -> CaseCommitments | None:
    """"Next update by" and "resolve by" from the escalation service's clocks (from the case's
    own SLA snapshot until escalation has seen it: read-your-writes); None when it cannot
    answer (the progress page never fails for it)."""
    try:
        sla = await read_ticket_sla(clients, case_id, ticket=ticket)
    except grpc.aio.AioRpcError as err:
        log.info("case_commitments_unavailable", case_id=case_id, status=err.code().name)
        return None
    return CaseCommitments(
        next_update_by=sla.next_update_by.ToDatetime(tzinfo=UTC) if sla.HasField("next_update_by") else None,
        resolve_by=sla.resolve_by.ToDatetime(tzinfo=UTC) if sla.HasField("resolve_by") else None,
        next_update_overdue_seconds=sla.next_update_overdue_seconds,
    )


def _not_modified(tag: str, response: Response) -> Response:
    quota = {k: v for k, v in response.headers.items() if k.startswith("ratelimit")}
    return Response(status_code=304, headers={"ETag": tag, **quota})


# The customer's own actions (issue #13): open a case, write to it, confirm or dispute what was
# done. Each is an existing ticketing command under the customer's identity, so the rules stay
# in one place: a message is an inbound contact (never restarts a clock, DOMAIN.md §1), a
# dispute is a reopen (the only restart), a confirmation closes the case.

_FINISHED = frozenset({ticketing_pb2.TICKET_STATUS_RESOLVED, ticketing_pb2.TICKET_STATUS_CLOSED})


def _suggestion(t: ticketing_pb2.Ticket) -> dict[str, Any]:
    return ReopenSuggestion(
        id=t.id, number=t.number, subject=t.subject,
        status=enum_to_str(ticketing_pb2.TicketStatus, t.status),
        resolved_at=t.resolved_at.ToDatetime(tzinfo=UTC) if t.HasField("resolved_at") else None,
    ).model_dump(mode="json")


async def _own_case(clients: Clients, principal: Principal, case_id: str) -> ticketing_pb2.Ticket:
    ticket = await clients.ticketing.GetTicket(
        ticketing_pb2.GetTicketRequest(id=case_id), timeout=clients.timeout
    )
    if not can_see(principal, ticket):
        raise not_found(case_id)
    return ticket


@router.post(
    "",
    status_code=201,
    operation_id="openMyCase",
    summary="Open a case (the customer app)",
    description="Reopen, never duplicate (DOMAIN.md §1): when I have a case of the same category "
    "resolved within the reopen window, it is proposed instead — 409 `reopen_suggested` with its "
    "`candidates` — and I either dispute its resolution (`/{case_id}/dispute`, which reopens it) "
    "or send `open_new: true`. `Idempotency-Key` makes a retry return the same case. The case "
    "gets my tier and name as staff last recorded them (standard for a first case).",
    response_model=CasePublic,
    responses=problem_responses(400, 401, 403, 409, 413, 422, 429, 503, 504),
)
async def open_my_case(
    body: CaseCreate,
    principal: Customer,
    clients: ClientsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CasePublic:
    candidates, latest = await asyncio.gather(
        clients.ticketing.FindReopenCandidates(
            ticketing_pb2.FindReopenCandidatesRequest(customer_id=principal.subject, category=body.category),
            timeout=clients.timeout,
        ),
        clients.ticketing.ListTickets(
            ticketing_pb2.ListTicketsRequest(page_size=1, **list_filter(principal)), timeout=clients.timeout
        ),
    )
    if candidates.tickets and not body.open_new:
        raise AlreadyExists(
            "a case of this category was resolved recently: reopen it instead, or send open_new",
            code="reopen_suggested", extra={"candidates": [_suggestion(t) for t in candidates.tickets]},
        )
    known = latest.tickets[0].customer if latest.tickets else None
    ticket = await clients.ticketing.CreateTicket(
        ticketing_pb2.CreateTicketRequest(
            request_id=request_id_for(principal, idempotency_key),
            customer=ticketing_pb2.Customer(
                id=principal.subject,
                name=known.name if known else "",
                tier=known.tier if known else types_pb2.CUSTOMER_TIER_STANDARD,
                sensitive=known.sensitive if known else False,
            ),
            channel=str_to_enum(types_pb2.Channel, body.channel),
            severity=types_pb2.SEVERITY_NORMAL,  # staff triage it; the customer does not rank
            category=body.category,
            subject=body.subject,
            description=body.description,
            actor=principal.actor,
        ),
        timeout=clients.timeout,
    )
    created(response, f"/v1/customer/cases/{ticket.id}/progress")
    return case_view(case_public(ticket))


@router.post(
    "/{case_id}/messages",
    status_code=201,
    operation_id="addMyCaseMessage",
    summary="Write to my open case (a message, or what a photo shows)",
    description="Logged as my contact on the case; it never starts, restarts or extends a clock. "
    "Only while the case is open: a resolved or closed case is 409 `case_not_open` (dispute its "
    "resolution to reopen it).",
    response_model=CaseMessagePublic,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503, 504),
)
async def add_my_case_message(
    case_id: TicketId,
    body: CaseMessageCreate,
    principal: Customer,
    clients: ClientsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CaseMessagePublic:
    ticket = await _own_case(clients, principal, case_id)
    if ticket.status in _FINISHED:
        raise AlreadyExists("the case is resolved: dispute the resolution to reopen it", code="case_not_open")
    text = body.text if not body.photo_description else f"{body.text}\n[照片] {body.photo_description}"
    contact = await clients.ticketing.LogContact(
        ticketing_pb2.LogContactRequest(
            request_id=request_id_for(principal, idempotency_key),
            ticket_id=case_id,
            direction=ticketing_pb2.CONTACT_DIRECTION_INBOUND,
            channel=types_pb2.CHANNEL_APP,
            summary=text,
            actor=principal.actor,
        ),
        timeout=clients.timeout,
    )
    created(response, f"/v1/customer/cases/{case_id}/progress")
    return CaseMessagePublic(id=contact.id, case_id=case_id, text=contact.summary,
                             sent_at=contact.occurred_at.ToDatetime(tzinfo=UTC))


@router.post(
    "/{case_id}/confirm",
    operation_id="confirmMyCaseResolution",
    summary="Confirm that my resolved case is solved (it closes)",
    description="Resolved → closed. Confirming a closed case again changes nothing; a case that is "
    "not resolved is 409 `case_not_resolved`.",
    response_model=CasePublic,
    responses=problem_responses(400, 401, 403, 404, 409, 422, 429, 503, 504),
)
async def confirm_my_case_resolution(
    case_id: TicketId,
    principal: Customer,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> CasePublic:
    ticket = await _own_case(clients, principal, case_id)
    if ticket.status == ticketing_pb2.TICKET_STATUS_CLOSED:
        return case_view(case_public(ticket))
    if ticket.status != ticketing_pb2.TICKET_STATUS_RESOLVED:
        raise AlreadyExists("only a resolved case can be confirmed", code="case_not_resolved")
    closed = await clients.ticketing.TransitionTicket(
        ticketing_pb2.TransitionTicketRequest(
            request_id=request_id_for(principal, idempotency_key), id=case_id,
            expected_version=ticket.version, actor=principal.actor,
            action=ticketing_pb2.TRANSITION_ACTION_CLOSE, reason="the customer confirmed the resolution",
        ),
        timeout=clients.timeout,
    )
    return case_view(case_public(closed))


@router.post(
    "/{case_id}/dispute",
    operation_id="disputeMyCaseResolution",
    summary="Say my resolved case is not solved (it reopens, never a duplicate)",
    description="Resolved or closed → reopened: a new SLA cycle starts (the only restart), my "
    "reason is logged as my contact. A case that is still open is 409 `case_not_resolved` (write "
    "to it instead). `Idempotency-Key` makes a retry return the same reopened case.",
    response_model=CasePublic,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503, 504),
)
async def dispute_my_case_resolution(
    case_id: TicketId,
    body: CaseDispute,
    principal: Customer,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> CasePublic:
    ticket = await _own_case(clients, principal, case_id)
    still_open = AlreadyExists("the case is still open: write to it instead", code="case_not_resolved")
    if ticket.status not in _FINISHED and idempotency_key is None:
        raise still_open
    try:  # with a key, an open case may be this very dispute's reopen: ticketing replays it
        reopened = await clients.ticketing.ReopenTicket(
            ticketing_pb2.ReopenTicketRequest(
                request_id=request_id_for(principal, idempotency_key), id=case_id, expected_version=0,
                actor=principal.actor, reason=f"the customer disputed the resolution: {body.reason}",
                contact_channel=types_pb2.CHANNEL_APP, contact_summary=body.reason,
            ),
            timeout=clients.timeout,
        )
    except grpc.aio.AioRpcError as err:
        if ticket.status not in _FINISHED and err.code() == grpc.StatusCode.FAILED_PRECONDITION:
            raise still_open from None
        raise
    return case_view(case_public(reopened))


def remembered_tag(clients: Clients, principal: Principal, case_id: str, if_none_match: str | None) -> str | None:
    """The case's current tag if this process remembers it for this customer and the caller
    already has it (then the answer is 304 without asking ticketing)."""
    known = clients.changes.tag_for(case_id, principal.subject)
    return known if known is not None and etag_matches(if_none_match, known) else None


_PROGRESS_PATH = re.compile(r"^/v1/customer/cases/(?P<case_id>[A-Za-z0-9-]{1,64})/progress$")


class RememberedProgressMiddleware:
    """The hot path of the customer app, outside FastAPI's routing and dependency solving:
    `GET …/progress` with a bearer token and an If-None-Match that equals the remembered tag is
    answered 304 here, with the same token verifier, permission table, quota and view counter
    the route uses. Anything else — other credentials, query parameters, an unknown tag, an
    invalid token, an exhausted quota — goes on to the route, which answers it in full."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: Any = None  # the route answered here, for whoever reads scope["route"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            match = _PROGRESS_PATH.match(scope["path"])
            if match and await self._answered(scope, send, match["case_id"]):
                return
        await self.app(scope, receive, send)

    async def _answered(self, scope: Scope, send: Send, case_id: str) -> bool:
        headers = {k: v for k, v in scope["headers"] if k in _WANTED_HEADERS}
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if b"x-api-key" in headers or scheme.lower() != "bearer" or not token:
            return False
        state = scope["app"].state
        try:
            principal = state.token_verifier.verify(token)
        except ServiceError:
            return False
        if not has_permission(principal, "cases:own"):
            return False
        if_none_match = headers.get(b"if-none-match", b"").decode("latin-1")
        tag = remembered_tag(state.clients, principal, case_id, if_none_match)
        if tag is None:
            return False
        try:
            quota = await state.rate_limiter.hit(token_quota_name(principal))
        except ServiceError:
            return False
        await state.clients.views.add(case_id, principal.subject)
        if self._route is None:
            self._route = next(
                (r for r in scope["app"].routes if getattr(r, "operation_id", "") == "getMyCaseProgress"), None
            )
        scope["route"] = self._route  # as routing would have set it (access metrics by template)
        reply = [(b"etag", tag.encode())] + [(k.lower().encode(), v.encode()) for k, v in quota.items()]
        await send({"type": "http.response.start", "status": 304, "headers": reply})
        await send({"type": "http.response.body", "body": b""})
        return True


_WANTED_HEADERS = frozenset({b"authorization", b"if-none-match", b"x-api-key"})
