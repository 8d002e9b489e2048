"""gRPC face of the escalation service: translate only, rules live in service.py."""

from __future__ import annotations

import grpc

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu_common.clock import Clock, SystemClock
from kefu_common.db import Database
from kefu_common.errors import InvalidArgument
from kefu_common.protoconv import enum_to_str, from_timestamp, level_to_str, str_to_enum, to_timestamp
from kefu_escalation import service
from kefu_escalation.models import Calendar, MatrixEntry, SlaPolicy


def _calendar_pb(row: Calendar) -> escalation_pb2.Calendar:
    spec = service.stored_spec(row)
    return escalation_pb2.Calendar(
        name=row.name,
        tz=spec["tz"],
        weekly={k: escalation_pb2.Intervals(intervals=v) for k, v in spec["weekly"].items()},
        holidays=spec["holidays"],
        extra_workdays={
            k: escalation_pb2.Intervals(intervals=v) for k, v in spec["extra_workdays"].items()
        },
        updated_at=to_timestamp(row.updated_at),
    )


def _policy_pb(p: SlaPolicy) -> escalation_pb2.SlaPolicy:
    return escalation_pb2.SlaPolicy(
        id=p.id,
        version=p.version,
        name=p.name,
        calendar=p.calendar,
        first_response_seconds=p.first_response_seconds,
        next_update_seconds=p.next_update_seconds,
        resolution_seconds=p.resolution_seconds,
        escalation_ack_seconds=p.escalation_ack_seconds,
        warning_percent=p.warning_percent,
        created_at=to_timestamp(p.created_at),
    )


def _cell_pb(e: MatrixEntry) -> escalation_pb2.MatrixCell:
    return escalation_pb2.MatrixCell(
        tier=e.tier,
        severity=str_to_enum(types_pb2.Severity, e.severity),
        level=str_to_enum(types_pb2.EscalationLevel, e.level),
        policy_id=e.policy_id,
        policy_version=e.policy_version,
    )


def _matrix_pb(view: service.MatrixView) -> escalation_pb2.Matrix:
    published = view.version.published_at
    return escalation_pb2.Matrix(
        version=view.version.version,
        note=view.version.note,
        published_at=to_timestamp(published) if published else None,
        cells=[_cell_pb(e) for e in view.cells],
    )


class EscalationServicer(escalation_pb2_grpc.EscalationServiceServicer):
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()

    async def ResolveSla(
        self, request: escalation_pb2.ResolveSlaRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.ResolveSlaResponse:
        tier = enum_to_str(types_pb2.CustomerTier, request.tier)
        severity = enum_to_str(types_pb2.Severity, request.severity)
        if tier is None:
            raise InvalidArgument("tier is required", code="invalid_tier")
        if severity is None:
            raise InvalidArgument("severity is required", code="invalid_severity")
        if not request.HasField("first_contact_at"):
            raise InvalidArgument("first_contact_at is required", code="invalid_first_contact_at")
        async with self.db.session() as session:
            sla = await service.resolve_sla(
                session,
                tier=tier,
                sensitive=request.sensitive,
                severity=severity,
                channel=enum_to_str(types_pb2.Channel, request.channel),
                first_contact_at=from_timestamp(request.first_contact_at),
            )
        return escalation_pb2.ResolveSlaResponse(
            level=str_to_enum(types_pb2.EscalationLevel, sla.level),
            policy_id=sla.policy.id,
            policy_version=sla.policy.version,
            policy_name=sla.policy.name,
            matrix_version=sla.matrix_version,
            matrix_tier=sla.matrix_tier,
            calendar=sla.policy.calendar,
            targets=[
                escalation_pb2.SlaTarget(
                    name=t.name,
                    duration_seconds=int(t.duration.total_seconds()),
                    due_at=to_timestamp(t.due_at) if t.due_at else None,
                )
                for t in sla.targets
            ],
        )

    # --- versioned configuration ------------------------------------------------------------

    async def ListCalendars(
        self, request: escalation_pb2.ListCalendarsRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.ListCalendarsResponse:
        async with self.db.session() as session:
            rows = await service.list_calendars(session)
        return escalation_pb2.ListCalendarsResponse(calendars=[_calendar_pb(r) for r in rows])

    async def GetCalendar(
        self, request: escalation_pb2.GetCalendarRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.Calendar:
        async with self.db.session() as session:
            row = await service.get_calendar(session, request.name)
        return _calendar_pb(row)

    async def UpsertCalendar(
        self, request: escalation_pb2.UpsertCalendarRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.Calendar:
        service.check_request_id(request.request_id)
        c = request.calendar
        spec = service.calendar_spec(
            name=c.name,
            tz=c.tz,
            weekly={k: list(v.intervals) for k, v in c.weekly.items()},
            holidays=list(c.holidays),
            extra_workdays={k: list(v.intervals) for k, v in c.extra_workdays.items()},
        )
        async with self.db.session() as session:
            row = await service.upsert_calendar(session, spec, now=self.clock.now())
        return _calendar_pb(row)

    async def ListPolicies(
        self, request: escalation_pb2.ListPoliciesRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.ListPoliciesResponse:
        async with self.db.session() as session:
            rows = await service.list_policies(
                session, all_versions=request.all_versions, policy_id=request.policy_id
            )
        return escalation_pb2.ListPoliciesResponse(policies=[_policy_pb(p) for p in rows])

    async def PublishPolicy(
        self, request: escalation_pb2.PublishPolicyRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.SlaPolicy:
        request_id = request.request_id
        draft = service.PolicyDraft(
            id=request.id,
            name=request.name,
            calendar=request.calendar,
            first_response_seconds=request.first_response_seconds,
            next_update_seconds=request.next_update_seconds,
            resolution_seconds=request.resolution_seconds,
            escalation_ack_seconds=request.escalation_ack_seconds,
            warning_percent=request.warning_percent,
        )
        service.check_request_id(request_id)
        draft.validate()
        now = self.clock.now()
        policy = await self.db.idempotent(
            lambda s: service.publish_policy(s, draft, request_id=request_id, now=now),
            lambda s: service.find_published_policy(s, request_id=request_id, draft=draft),
        )
        return _policy_pb(policy)

    async def GetMatrix(
        self, request: escalation_pb2.GetMatrixRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.Matrix:
        if request.version < 0:
            raise InvalidArgument("version must be 0 (latest) or more", code="invalid_version")
        async with self.db.session() as session:
            view = await service.get_matrix(session, request.version)
        return _matrix_pb(view)

    async def PublishMatrix(
        self, request: escalation_pb2.PublishMatrixRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.Matrix:
        request_id, note = request.request_id, request.note
        service.check_request_id(request_id)
        cells = service.validate_matrix(
            [
                service.Cell(
                    tier=c.tier,
                    severity=enum_to_str(types_pb2.Severity, c.severity) or "",
                    level=level_to_str(c.level),
                    policy_id=c.policy_id,
                    policy_version=c.policy_version,
                )
                for c in request.cells
            ],
            note,
        )
        now = self.clock.now()
        view = await self.db.idempotent(
            lambda s: service.publish_matrix(s, cells, note=note, request_id=request_id, now=now),
            lambda s: service.find_published_matrix(s, request_id=request_id, cells=cells, note=note),
        )
        return _matrix_pb(view)
