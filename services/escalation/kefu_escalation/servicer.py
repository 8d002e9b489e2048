"""gRPC face of the escalation service: translate only, rules live in service.py."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta

import grpc

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu_common.clock import Clock, SystemClock
from kefu_common.db import Database
from kefu_common.errors import FailedPrecondition, InvalidArgument, NotFound
from kefu_common.protoconv import (
    enum_to_str,
    from_timestamp,
    level_to_str,
    plan_from_range,
    str_to_enum,
    to_timestamp,
)
from kefu_escalation.escalations import store as escalation_store
from kefu_escalation.read_models import reports
from kefu_escalation.configuration import service
from kefu_escalation.read_models import ticket_sla as sla_view
from kefu_escalation.read_models import whatif
from kefu_escalation.escalations.escalator import SIGNAL_KINDS, Escalator
from kefu_escalation.escalations.levels import LEVELS
from kefu_escalation.models import Calendar, MatrixEntry, SlaPolicy
from kefu_escalation.configuration.published_sla import PublishedSlaCache


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
        warning_before_seconds=p.warning_before_seconds or 0,
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


def _ts(value):  # noqa: ANN001, ANN202 - optional datetime -> optional Timestamp
    return to_timestamp(value) if value is not None else None


def _level(value: str) -> int:
    return str_to_enum(types_pb2.EscalationLevel, value)


def _trigger(value: str) -> int:
    return str_to_enum(escalation_pb2.EscalationTrigger, value)


def _escalation_pb(r) -> escalation_pb2.Escalation:  # noqa: ANN001 - a row of escalation.escalation
    return escalation_pb2.Escalation(
        id=str(r.id), ticket_id=str(r.ticket_id), cycle=r.cycle, trigger=_trigger(r.trigger),
        trigger_key=r.trigger_key, from_level=_level(r.from_level), to_level=_level(r.to_level),
        to_party=r.to_party, team=r.team, reason=r.reason, actor=r.actor,
        created_at=_ts(r.created_at), ack_due_at=_ts(r.ack_due_at),
        acknowledged_at=_ts(r.acknowledged_at), acknowledged_by=r.acknowledged_by or "",
        status=r.status,
    )


def _uuid(value: str, field: str, code: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{field} must be a UUID", code=code) from None


def _seconds(value: timedelta) -> int:
    return int(value.total_seconds())


def _text(value: str, field: str, limit: int, *, required: bool = False) -> str:
    if required and not value:
        raise InvalidArgument(f"{field} is required", code=f"invalid_{field}")
    if len(value) > limit:
        raise InvalidArgument(f"{field} must be at most {limit} characters", code=f"invalid_{field}")
    return value


def _validated_cells(request: escalation_pb2.PublishMatrixRequest) -> list[service.Cell]:
    return service.validate_matrix(
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
        request.note,
    )


class EscalationServicer(escalation_pb2_grpc.EscalationServiceServicer):
    def __init__(self, db: Database, clock: Clock | None = None, escalator: Escalator | None = None,
                 sla_cells: PublishedSlaCache | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.escalator = escalator or Escalator(calendars=service.load_calendar)
        self.sla_cells = sla_cells  # None: every ResolveSla reads the database

    async def ResolveSla(
        self, request: escalation_pb2.ResolveSlaRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.SlaSnapshot:
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
                cells=self.sla_cells,
            )
        return types_pb2.SlaSnapshot(
            level=str_to_enum(types_pb2.EscalationLevel, sla.level),
            policy_id=sla.policy.id,
            policy_version=sla.policy.version,
            policy_name=sla.policy.name,
            matrix_version=sla.matrix_version,
            matrix_tier=sla.matrix_tier,
            calendar=sla.policy.calendar,
            targets=[
                types_pb2.SlaTarget(
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
        self._config_changed()
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
            warning_before_seconds=request.warning_before_seconds or None,
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
        cells = _validated_cells(request)
        now = self.clock.now()
        view = await self.db.idempotent(
            lambda s: service.publish_matrix(s, cells, note=note, request_id=request_id, now=now),
            lambda s: service.find_published_matrix(s, request_id=request_id, cells=cells, note=note),
        )
        self._config_changed()
        return _matrix_pb(view)

    def _config_changed(self) -> None:
        """After a publish committed: this process's cache of published cells reads its own
        write at once (other replicas learn it from the NOTIFY sent at commit)."""
        if self.sla_cells is not None:
            self.sla_cells.invalidate()

    async def PreviewMatrix(
        self, request: escalation_pb2.PublishMatrixRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.PreviewMatrixResponse:
        cells = _validated_cells(request)
        async with self.db.session() as session:
            preview = await whatif.preview_matrix(session, cells, calendars=service.load_calendar)
        Shift = escalation_pb2.PreviewMatrixResponse.Shift
        return escalation_pb2.PreviewMatrixResponse(
            shifts=[
                Shift(ticket_id=s.ticket_id, cycle=s.cycle, target=s.target,
                      current_due_at=_ts(s.current_due), draft_due_at=_ts(s.draft_due),
                      shift_seconds=s.seconds, current_policy=s.current_policy, draft_policy=s.draft_policy,
                      current_level=_level(s.current_level), draft_level=_level(s.draft_level))
                for s in preview.shifts
            ],
            open_cycles=preview.open_cycles, earlier=preview.earlier, later=preview.later,
        )

    # --- escalations -------------------------------------------------------------------------

    async def RaiseSignal(
        self, request: escalation_pb2.RaiseSignalRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.RaiseSignalResponse:
        signal_id = _text(request.signal_id, "signal_id", 128, required=True)
        ticket_id = _uuid(request.ticket_id, "ticket_id", "invalid_ticket_id")
        kind = enum_to_str(escalation_pb2.SignalKind, request.kind)
        if kind not in SIGNAL_KINDS:
            raise InvalidArgument(f"kind must be one of {', '.join(SIGNAL_KINDS)}", code="invalid_kind")
        now = self.clock.now()
        occurred = from_timestamp(request.occurred_at) if request.HasField("occurred_at") else now
        async with self.db.session() as session:
            accepted, row, note = await self.escalator.raise_signal(
                session, signal_id=signal_id, ticket_id=ticket_id, kind=kind,
                source=_text(request.source, "source", 64), detail=_text(request.detail, "detail", 1000),
                conversation_id=_text(request.conversation_id, "conversation_id", 128),
                occurred_at=occurred, now=now)
        return escalation_pb2.RaiseSignalResponse(
            accepted=accepted, escalation=_escalation_pb(row) if row is not None else None, note=note)

    async def EscalateTicket(
        self, request: escalation_pb2.EscalateTicketRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.Escalation:
        request_id = _text(request.request_id, "request_id", 128, required=True)
        ticket_id = _uuid(request.ticket_id, "ticket_id", "invalid_ticket_id")
        to_level = level_to_str(request.to_level) if request.to_level else None
        if to_level is not None and to_level not in LEVELS:
            raise InvalidArgument("to_level must be L0..L3", code="invalid_level")
        reason = _text(request.reason, "reason", 1000, required=True)
        actor = _text(request.actor, "actor", 128)
        async with self.db.session() as session:
            cycle = await escalation_store.current_open_cycle(session, ticket_id)
            if cycle is None:
                raise FailedPrecondition("the ticket has no open SLA cycle to escalate (resolved, or not "
                                         "known to escalation yet)", code="no_open_cycle")
            row, note = await self.escalator.escalate_manually(
                session, ticket_id, cycle=cycle, request_id=request_id, reason=reason, actor=actor,
                to_level=to_level, at=self.clock.now())
            if row is None:
                raise FailedPrecondition(f"nothing to escalate: the ticket is {note}", code="already_at_level")
        return _escalation_pb(row)

    async def AcknowledgeEscalation(
        self, request: escalation_pb2.AcknowledgeEscalationRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.Escalation:
        escalation_id = _uuid(request.escalation_id, "escalation_id", "invalid_escalation_id")
        actor = _text(request.actor, "actor", 128, required=True)
        async with self.db.session() as session:
            row = await self.escalator.acknowledge(session, escalation_id, actor=actor,
                                                   role=request.actor_role[:32], now=self.clock.now())
        if row is None:
            raise NotFound(f"escalation {escalation_id} not found", code="escalation_not_found")
        return _escalation_pb(row)

    async def ListEscalations(
        self, request: escalation_pb2.ListEscalationsRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.ListEscalationsResponse:
        size = request.page_size or 50
        if not 1 <= size <= 200:
            raise InvalidArgument("page_size must be 1..200", code="invalid_page_size")
        if request.status and request.status not in ("open", "acknowledged", "ack_breached"):
            raise InvalidArgument("status must be open, acknowledged or ack_breached", code="invalid_status")
        before = _decode_page_token(request.page_token) if request.page_token else None
        ticket_id = _uuid(request.ticket_id, "ticket_id", "invalid_ticket_id") if request.ticket_id else None
        async with self.db.session() as session:
            rows = await escalation_store.list_escalations(
                session, ticket_id=ticket_id, status=request.status, trigger=enum_to_str(escalation_pb2.EscalationTrigger, request.trigger) or "",
                team=request.team[:64], min_level=level_to_str(request.min_level) if request.min_level else "",
                limit=size + 1, before=before)
        token = _encode_page_token(rows[size - 1]) if len(rows) > size else ""
        return escalation_pb2.ListEscalationsResponse(
            escalations=[_escalation_pb(r) for r in rows[:size]], next_page_token=token)

    async def GetTicketSla(
        self, request: escalation_pb2.GetTicketSlaRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.TicketSla:
        try:
            ticket_id = uuid.UUID(request.ticket_id)
        except ValueError:  # no such ticket can exist
            raise NotFound(f"no SLA clocks for ticket {request.ticket_id!r}", code="ticket_not_found") from None
        provisional = _provisional(request.provisional) if request.HasField("provisional") else None
        async with self.db.session() as session:
            view = await sla_view.ticket_sla(session, ticket_id, now=self.clock.now(), provisional=provisional)
        return escalation_pb2.TicketSla(
            ticket_id=str(view.ticket_id), current_level=_level(view.level),
            cycles=[
                escalation_pb2.SlaCycleView(
                    number=c.number, opened_at=_ts(c.opened_at), stopped_at=_ts(c.stopped_at),
                    calendar=c.calendar, paused=c.paused,
                    clocks=[
                        escalation_pb2.ClockView(
                            target=k.target, duration_seconds=_seconds(k.duration), started_at=_ts(k.started_at),
                            due_at=_ts(k.due_at), warn_at=_ts(k.warn_at), state=k.state,
                            used_seconds=_seconds(k.used), remaining_seconds=_seconds(k.remaining),
                            overrun_seconds=_seconds(k.overrun), warned=k.warned, breached=k.breached,
                            paused_reason=k.paused_reason, finished_at=_ts(k.finished_at),
                            unpublished_years=k.unpublished_years)
                        for k in c.clocks
                    ],
                    history=[escalation_pb2.ClockHistoryEvent(kind=kind, target=target, at=_ts(at), details_json=d)
                             for kind, target, at, d in c.history],
                )
                for c in view.cycles
            ],
            escalations=[_escalation_pb(r) for r in view.escalations],
            next_update_by=_ts(view.next_update_by), resolve_by=_ts(view.resolve_by), as_of=_ts(view.as_of),
            next_update_overdue_seconds=_seconds(view.next_update_overdue), provisional=view.provisional,
            unpublished_years=view.unpublished_years,
        )


    async def GetSlaReport(
        self, request: escalation_pb2.GetSlaReportRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.SlaReport:
        if not (request.HasField("period_start") and request.HasField("period_end")):
            raise InvalidArgument("period_start and period_end are required", code="invalid_period")
        async with self.db.session() as session:
            view = await sla_view.sla_report(session, start=from_timestamp(request.period_start),
                                             end=from_timestamp(request.period_end), team=request.team[:64])
        Attainment, Count = escalation_pb2.SlaReport.TargetAttainment, escalation_pb2.SlaReport.EscalationCount
        return escalation_pb2.SlaReport(
            targets=[Attainment(target=t, finished=n, met=met, breached=n - met, attainment=met / n if n else 0.0)
                     for t, n, met in view.targets],
            cycles_opened=view.cycles_opened, tickets_escalated=view.tickets_escalated,
            escalation_rate=view.tickets_escalated / view.tickets_opened if view.tickets_opened else 0.0,
            escalations=[Count(trigger=_trigger(t), to_level=_level(lvl), count=n) for t, lvl, n in view.escalations],
        )

    async def GetSlaSeries(
        self, request: escalation_pb2.GetSlaSeriesRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.GetSlaSeriesResponse:
        plan = plan_from_range(request.range)
        compute = (reports.escalation_series if request.report == escalation_pb2.SLA_REPORT_KIND_ESCALATIONS
                   else reports.attainment_series)
        async with self.db.session() as session:
            rows = await compute(session, plan, by_team=request.by_team)
        Target = escalation_pb2.SlaFigures.Target
        return escalation_pb2.GetSlaSeriesResponse(rows=[
            escalation_pb2.SlaFigures(
                key=types_pb2.SeriesKey(group=f.group, bucket=f.bucket, previous=f.previous),
                targets=[Target(target=t, finished=n, met=m, breached=b) for t, (n, m, b) in f.targets.items()],
                cycles_opened=f.cycles_opened, tickets_opened=f.tickets_opened,
                tickets_escalated=f.tickets_escalated, escalations=f.escalations,
                to_l1=f.to_l1, to_l2=f.to_l2, to_l3=f.to_l3,
            )
            for f in rows
        ])

    async def ListClocksAtRisk(
        self, request: escalation_pb2.ListClocksAtRiskRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.ListClocksAtRiskResponse:
        size = request.page_size or 50
        if not 1 <= size <= 500:
            raise InvalidArgument("page_size must be 1..500", code="invalid_page_size")
        if not 0 <= request.within_minutes <= 7 * 24 * 60:
            raise InvalidArgument("within_minutes must be 0..10080", code="invalid_argument")
        now = self.clock.now()
        async with self.db.session() as session:
            page, token = await reports.clocks_at_risk(
                session, now=now, within=timedelta(minutes=request.within_minutes),
                include_breached=request.include_breached, team=request.team[:64], limit=size,
                after=request.page_token)
        return escalation_pb2.ListClocksAtRiskResponse(
            as_of=to_timestamp(now), next_page_token=token,
            clocks=[escalation_pb2.ClockAtRisk(
                ticket_id=str(c.ticket_id), cycle=c.cycle, target=c.target, due_at=to_timestamp(c.due_at),
                seconds_remaining=c.seconds_remaining, seconds_overrun=c.seconds_overrun,
                breached=c.breached, level=_level(c.level), team=c.team) for c in page])

    async def ListUnacknowledgedEscalations(
        self, request: escalation_pb2.ListUnacknowledgedEscalationsRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.ListUnacknowledgedEscalationsResponse:
        size = request.page_size or 50
        if not 1 <= size <= 500:
            raise InvalidArgument("page_size must be 1..500", code="invalid_page_size")
        after = _decode_page_token(request.page_token) if request.page_token else None
        now = self.clock.now()
        async with self.db.session() as session:
            rows = await reports.unacknowledged(session, team=request.team[:64], limit=size + 1, after=after)
        token = _encode_page_token(rows[size - 1]) if len(rows) > size else ""
        return escalation_pb2.ListUnacknowledgedEscalationsResponse(
            as_of=to_timestamp(now), escalations=[_escalation_pb(r) for r in rows[:size]],
            next_page_token=token)


def _provisional(p: escalation_pb2.ProvisionalSla) -> sla_view.ProvisionalSla:
    """The ticket's own SLA snapshot, as the `sla` of its `ticket.created` event reads."""
    if not p.HasField("first_contact_at"):
        raise InvalidArgument("provisional.first_contact_at is required", code="invalid_provisional")
    sla = p.sla
    return sla_view.ProvisionalSla(
        level=level_to_str(sla.level) if sla.level else "L0",
        first_contact_at=from_timestamp(p.first_contact_at),
        sla={"policy_id": sla.policy_id[:64], "policy_version": sla.policy_version, "calendar": sla.calendar[:64],
             "targets": [{"name": t.name, "duration_seconds": t.duration_seconds} for t in sla.targets[:8]]},
    )


def _encode_page_token(row) -> str:  # noqa: ANN001
    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.id}".encode()).decode()


def _decode_page_token(token: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, _, ident = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("page_token is not one this service issued", code="invalid_page_token") from None
