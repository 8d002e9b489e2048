"""Escalation configuration: business-hours calendars, SLA policy versions and the
tier × severity matrix. Reads are for any staff role, writes for admin and lead.

Policies and the matrix are published as new versions, never edited in place: a ticket keeps
the SLA snapshot it was given. Every write accepts `Idempotency-Key`; repeating a publish
with the same key and body returns the version the first call created.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2
from kefu_common.protoconv import str_to_enum
from kefu_gateway.auth import AdminOrLead, Staff
from kefu_gateway.clients import ClientsDep
from kefu_gateway.convert import calendar_public, matrix_public, policy_public
from kefu_gateway.deps import IdempotencyKey, request_id_for
from kefu_gateway.http_contract import created
from kefu_gateway.problems import problem_responses
from kefu_gateway.sla_public import MatrixPreviewPublic, preview_public
from kefu_gateway.schemas import (
    CalendarList,
    CalendarPublic,
    CalendarPut,
    MatrixPublic,
    MatrixPublish,
    MatrixQuery,
    PolicyList,
    PolicyPublic,
    PolicyPublish,
    PolicyQuery,
)

router = APIRouter(tags=["escalation"])

CalendarName = Annotated[
    str, Path(min_length=1, max_length=64, description="The calendar's name", examples=["cn-business"])
]

_READ = (401, 403, 422, 503, 504)
# ... plus, for writes: domain rules (400), key reuse (422), body size (413).
_WRITE = (400, 413, *_READ)


@router.get(
    "/v1/calendars",
    operation_id="listCalendars",
    summary="Every business-hours calendar, by name",
    response_model=CalendarList,
    responses=problem_responses(*_READ),
)
async def list_calendars(principal: Staff, clients: ClientsDep) -> CalendarList:
    reply = await clients.escalation.ListCalendars(
        escalation_pb2.ListCalendarsRequest(), timeout=clients.timeout
    )
    return CalendarList(items=[calendar_public(c) for c in reply.calendars])


@router.get(
    "/v1/calendars/{name}",
    operation_id="getCalendar",
    summary="One business-hours calendar",
    response_model=CalendarPublic,
    responses=problem_responses(404, *_READ),
)
async def get_calendar(name: CalendarName, principal: Staff, clients: ClientsDep) -> CalendarPublic:
    reply = await clients.escalation.GetCalendar(
        escalation_pb2.GetCalendarRequest(name=name), timeout=clients.timeout
    )
    return calendar_public(reply)


@router.put(
    "/v1/calendars/{name}",
    operation_id="putCalendar",
    summary="Create or replace a business-hours calendar",
    description="The spec is checked with the code that computes due times (400 "
    "`invalid_calendar` naming the problem). The response is the calendar in canonical form. "
    "A change applies to due times computed from now on; SLA snapshots already taken keep "
    "theirs. Sending the same calendar again changes nothing.",
    response_model=CalendarPublic,
    responses=problem_responses(*_WRITE),
)
async def put_calendar(
    name: CalendarName,
    body: CalendarPut,
    principal: AdminOrLead,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> CalendarPublic:
    reply = await clients.escalation.UpsertCalendar(
        escalation_pb2.UpsertCalendarRequest(
            request_id=request_id_for(principal, idempotency_key),
            calendar=escalation_pb2.Calendar(
                name=name,
                tz=body.tz,
                weekly={k: escalation_pb2.Intervals(intervals=v) for k, v in body.weekly.items()},
                holidays=body.holidays,
                extra_workdays={
                    k: escalation_pb2.Intervals(intervals=v) for k, v in body.extra_workdays.items()
                },
            ),
        ),
        timeout=clients.timeout,
    )
    return calendar_public(reply)


@router.get(
    "/v1/escalation/policies",
    operation_id="listSlaPolicies",
    summary="SLA policies: the latest version of each, or every version",
    response_model=PolicyList,
    responses=problem_responses(*_READ),
)
async def list_policies(
    query: Annotated[PolicyQuery, Query()], principal: Staff, clients: ClientsDep
) -> PolicyList:
    reply = await clients.escalation.ListPolicies(
        escalation_pb2.ListPoliciesRequest(
            all_versions=query.all_versions, policy_id=query.policy_id or ""
        ),
        timeout=clients.timeout,
    )
    return PolicyList(items=[policy_public(p) for p in reply.policies])


@router.post(
    "/v1/escalation/policies",
    status_code=status.HTTP_201_CREATED,
    operation_id="publishSlaPolicy",
    summary="Publish the next version of an SLA policy",
    description="Version n+1 of the policy `id`, or version 1 of a new id. The calendar must "
    "exist (400 `calendar_missing`). The matrix keeps naming the versions it was published "
    "with: publish a matrix version to put the new policy version to use.",
    response_model=PolicyPublic,
    responses=problem_responses(*_WRITE),
)
async def publish_policy(
    body: PolicyPublish,
    principal: AdminOrLead,
    clients: ClientsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> PolicyPublic:
    reply = await clients.escalation.PublishPolicy(
        escalation_pb2.PublishPolicyRequest(
            request_id=request_id_for(principal, idempotency_key), **body.model_dump(exclude_none=True)
        ),
        timeout=clients.timeout,
    )
    created(response, f"/v1/escalation/policies#{reply.id}-v{reply.version}")
    return policy_public(reply)


@router.get(
    "/v1/escalation/matrix",
    operation_id="getEscalationMatrix",
    summary="A version of the tier × severity matrix (default: the one new tickets get)",
    response_model=MatrixPublic,
    responses=problem_responses(404, *_READ),
)
async def get_matrix(
    query: Annotated[MatrixQuery, Query()], principal: Staff, clients: ClientsDep
) -> MatrixPublic:
    reply = await clients.escalation.GetMatrix(
        escalation_pb2.GetMatrixRequest(version=query.version or 0), timeout=clients.timeout
    )
    return matrix_public(reply)


@router.post(
    "/v1/escalation/matrix",
    status_code=status.HTTP_201_CREATED,
    operation_id="publishEscalationMatrix",
    summary="Publish a new version of the tier × severity matrix",
    description="All 12 cells (tiers standard, vip, sensitive × severities low..critical) "
    "exactly once, else 400 `matrix_incomplete`; every named policy version must exist "
    "(400 `policy_missing`). New tickets get it as soon as this returns; earlier versions and "
    "the tickets that got them do not change.",
    response_model=MatrixPublic,
    responses=problem_responses(*_WRITE),
)
async def publish_matrix(
    body: MatrixPublish,
    principal: AdminOrLead,
    clients: ClientsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> MatrixPublic:
    reply = await clients.escalation.PublishMatrix(
        _matrix_request(body, request_id_for(principal, idempotency_key)), timeout=clients.timeout
    )
    created(response, f"/v1/escalation/matrix?version={reply.version}")
    return matrix_public(reply)


@router.post(
    "/v1/escalation/matrix/preview",
    operation_id="previewEscalationMatrix",
    summary="What-if: how a draft matrix would move the deadlines of open tickets",
    description="Validated like a publish (400 `matrix_incomplete`, `policy_missing`) but nothing is "
    "written. For each open ticket cycle, the draft cell's policy is replayed over the cycle's own "
    "history (its pauses included) and every target whose due time would change is listed, "
    "earliest current due time first. Cycles already open never change when a matrix is published; "
    "this says what the same tickets would get under the draft.",
    response_model=MatrixPreviewPublic,
    responses=problem_responses(400, 413, *_READ),
)
async def preview_matrix(body: MatrixPublish, principal: AdminOrLead, clients: ClientsDep) -> MatrixPreviewPublic:
    reply = await clients.escalation.PreviewMatrix(_matrix_request(body, "preview"), timeout=clients.timeout)
    return preview_public(reply)


def _matrix_request(body: MatrixPublish, request_id: str) -> escalation_pb2.PublishMatrixRequest:
    return escalation_pb2.PublishMatrixRequest(
        request_id=request_id,
        note=body.note,
        cells=[
            escalation_pb2.MatrixCell(
                tier=c.tier,
                severity=str_to_enum(types_pb2.Severity, c.severity),
                level=str_to_enum(types_pb2.EscalationLevel, c.level),
                policy_id=c.policy_id,
                policy_version=c.policy_version,
            )
            for c in body.cells
        ],
    )
