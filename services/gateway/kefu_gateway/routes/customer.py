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
from fastapi import APIRouter, Header, Query, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kefu.escalation.v1 import escalation_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.protoconv import str_to_enum, to_timestamp
from kefu_common.errors import ServiceError
from kefu_gateway.auth import Allowed, Principal, has_permission, token_quota_name
from kefu_gateway.clients import Clients, ClientsDep
from kefu_gateway.convert import case_progress, case_public
from kefu_gateway.problems import problem_responses
from kefu_common.logging import get_logger
from kefu_gateway.schemas import CaseCommitments, CasePage, CaseProgress, CaseQuery
from kefu_gateway.scope import TicketId, case_progress_view, case_view, list_filter, not_found

Customer = Allowed["cases:own"]
MAX_WAIT_SECONDS = 30

log = get_logger("kefu.gateway.customer")

router = APIRouter(prefix="/v1/customer/cases", tags=["customer"])


def progress_etag(ticket_version: int, progress_count: int) -> str:
    """Strong: two reads with the same tag show the customer exactly the same case."""
    return f'"v{ticket_version}.p{progress_count}"'


def etag_matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison against a list of tags, or `*`."""
    if not if_none_match:
        return False
    candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
    return "*" in candidates or tag in candidates


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
    if_none_match: Annotated[
        str | None,
        Header(alias="If-None-Match", max_length=512, description="The `ETag` of your last read"),
    ] = None,
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
    body.commitments = await _commitments(clients, case_id)
    progress_count = sum(1 for e in body.entries if e.kind == "progress")
    tag = progress_etag(timeline.ticket.version, progress_count)
    await tracker.remember(case_id, principal.subject, tag, generation=generation, after_sequence=view.sequence)
    response.headers["ETag"] = tag
    return body


async def _commitments(clients: Clients, case_id: str) -> CaseCommitments | None:
    """"Next update by" and "resolve by" from the escalation service's clocks; None when it
    does not know the case yet or cannot answer (the progress page never fails for it)."""
    try:
        sla = await clients.escalation.GetTicketSla(
            escalation_pb2.GetTicketSlaRequest(ticket_id=case_id), timeout=clients.timeout
        )
    except grpc.aio.AioRpcError as err:
        log.info("case_commitments_unavailable", case_id=case_id, status=err.code().name)
        return None
    return CaseCommitments(
        next_update_by=sla.next_update_by.ToDatetime(tzinfo=UTC) if sla.HasField("next_update_by") else None,
        resolve_by=sla.resolve_by.ToDatetime(tzinfo=UTC) if sla.HasField("resolve_by") else None,
    )


def _not_modified(tag: str, response: Response) -> Response:
    quota = {k: v for k, v in response.headers.items() if k.startswith("ratelimit")}
    return Response(status_code=304, headers={"ETag": tag, **quota})


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
            quota = state.rate_limiter.hit(token_quota_name(principal))
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
