"""gRPC face of the ticketing service: translate proto <-> domain, nothing more."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf.message import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.errors import FailedPrecondition, InvalidArgument, Unavailable
from kefu_common.logging import get_logger
from kefu_common.protoconv import (
    enum_to_str,
    from_timestamp,
    plan_from_range,
    str_to_enum,
    to_timestamp,
)
from kefu_common.ticket_events import sla_json, sla_snapshot
from kefu_common.replies import REPLY_BUDGET_BYTES, fitting
from kefu_ticketing import backlog, metrics, ratings, service
from kefu_ticketing.events import to_message
from kefu_ticketing.idempotency import run_command
from kefu_ticketing.models import (
    Agent,
    Contact,
    Note,
    ProgressEntry,
    Rating,
    StatusChange,
    Ticket,
)

if TYPE_CHECKING:
    from kefu_ticketing.feed import EventFeed

R = TypeVar("R", bound=Message)

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
        return sla_json(reply)


def _ts(dt: datetime | None) -> Any:
    return to_timestamp(dt) if dt is not None else None


def _opt_ts(message: Any, field: str) -> datetime | None:
    return from_timestamp(getattr(message, field)) if message.HasField(field) else None


def _new_ticket(request: ticketing_pb2.CreateTicketRequest) -> service.NewTicket:
    c = request.customer
    return service.NewTicket(
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
        first_contact_at=_opt_ts(request, "first_contact_at"),
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
        sla=sla_snapshot(t.sla) if t.sla else None,
        owner=ticketing_pb2.Owner(
            assignee_id=t.assignee_id or "",
            assignee_name=t.assignee_name,
            team=t.team,
            skill_level=t.assignee_skill_level,
        ),
        first_response_at=_ts(t.first_response_at),
        resolved_at=_ts(t.resolved_at),
        closed_at=_ts(t.closed_at),
        created_by=t.created_by,
    )


def contact_to_proto(c: Contact) -> ticketing_pb2.Contact:
    return ticketing_pb2.Contact(
        id=str(c.id),
        ticket_id=str(c.ticket_id),
        direction=str_to_enum(ticketing_pb2.ContactDirection, c.direction),
        channel=str_to_enum(types_pb2.Channel, c.channel),
        occurred_at=to_timestamp(c.occurred_at),
        summary=c.summary,
        actor=c.actor,
        initial=c.initial,
    )


def progress_to_proto(p: ProgressEntry) -> ticketing_pb2.ProgressEntry:
    return ticketing_pb2.ProgressEntry(
        id=str(p.id),
        ticket_id=str(p.ticket_id),
        text=p.text,
        next_step=p.next_step,
        promised_at=_ts(p.promised_at),
        owner_name=p.owner_name,
        owner_direct_line=p.owner_direct_line,
        created_at=to_timestamp(p.created_at),
        actor=p.actor,
    )


def note_to_proto(n: Note) -> ticketing_pb2.Note:
    return ticketing_pb2.Note(
        id=str(n.id), ticket_id=str(n.ticket_id), text=n.text,
        created_at=to_timestamp(n.created_at), actor=n.actor,
    )


def agent_to_proto(a: Agent) -> ticketing_pb2.Agent:
    return ticketing_pb2.Agent(
        id=a.id, name=a.name, team=a.team, skill_level=a.skill_level,
        specialist=a.specialist, active=a.active, direct_line=a.direct_line,
    )


def _stamp_proto(stamp: service.ProgressStamp) -> ticketing_pb2.ProgressStamp:
    return ticketing_pb2.ProgressStamp(
        ticket_version=stamp.ticket_version, progress_count=stamp.progress_count
    )


MAX_TIMELINE_PAGE = 1000


def _timeline_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"timeline:{offset}".encode()).decode()


def _timeline_offset(token: str) -> int:
    """The entry a timeline page starts at (entries are ordered oldest first)."""
    if not token:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "timeline" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidArgument("page_token is not valid", code="invalid_page_token")


def _timeline_entry(item: service.TimelineItem) -> ticketing_pb2.TimelineEntry:
    entry = ticketing_pb2.TimelineEntry(at=to_timestamp(item.at), kind=item.kind, actor=item.actor)
    obj = item.item
    if isinstance(obj, StatusChange):
        entry.status_change.CopyFrom(
            ticketing_pb2.StatusChange(
                from_status=str_to_enum(ticketing_pb2.TicketStatus, obj.from_status)
                if obj.from_status else ticketing_pb2.TICKET_STATUS_UNSPECIFIED,
                to_status=str_to_enum(ticketing_pb2.TicketStatus, obj.to_status),
                reason=obj.reason,
            )
        )
    elif isinstance(obj, Contact):
        entry.contact.CopyFrom(contact_to_proto(obj))
    elif isinstance(obj, ProgressEntry):
        entry.progress.CopyFrom(progress_to_proto(obj))
    elif isinstance(obj, Note):
        entry.note.CopyFrom(note_to_proto(obj))
    else:
        entry.assignment.CopyFrom(
            ticketing_pb2.Assignment(assignee_id=obj.assignee_id or "", team=obj.team, reason=obj.reason)
        )
    return entry


_ACTIONS = {
    ticketing_pb2.TRANSITION_ACTION_OPEN: "open",
    ticketing_pb2.TRANSITION_ACTION_PEND: "pend",
    ticketing_pb2.TRANSITION_ACTION_RESUME: "resume",
    ticketing_pb2.TRANSITION_ACTION_RESOLVE: "resolve",
    ticketing_pb2.TRANSITION_ACTION_CLOSE: "close",
}

_GROUP_BY = {
    ticketing_pb2.METRICS_GROUP_BY_UNSPECIFIED: None,
    ticketing_pb2.METRICS_GROUP_BY_TEAM: "team",
    ticketing_pb2.METRICS_GROUP_BY_AGENT: "agent",
    ticketing_pb2.METRICS_GROUP_BY_CATEGORY: "category",
    ticketing_pb2.METRICS_GROUP_BY_CHANNEL: "channel",
}


_REPORTS = {
    ticketing_pb2.TICKET_REPORT_UNSPECIFIED: metrics.Report.SERVICE_METRICS,
    ticketing_pb2.TICKET_REPORT_SERVICE_METRICS: metrics.Report.SERVICE_METRICS,
    ticketing_pb2.TICKET_REPORT_RESOLUTION_TIME: metrics.Report.RESOLUTION_TIME,
    ticketing_pb2.TICKET_REPORT_FLOW: metrics.Report.FLOW,
}


def _figures_to_proto(f: metrics.TicketFigures) -> ticketing_pb2.TicketFigures:
    fields = dataclasses.asdict(f)
    key = types_pb2.SeriesKey(
        group=fields.pop("group"), bucket=fields.pop("bucket"), previous=fields.pop("previous")
    )
    return ticketing_pb2.TicketFigures(
        key=key, **{k: v for k, v in fields.items() if v is not None}
    )


class TicketingServicer(ticketing_pb2_grpc.TicketingServiceServicer):
    def __init__(
        self,
        db: Database,
        resolve_sla: service.SlaResolver,
        clock: Clock,
        *,
        feed: EventFeed | None = None,
        reopen_window: timedelta = service.DEFAULT_REOPEN_WINDOW,
        rating_policy: ratings.RatingPolicy | None = None,
    ) -> None:
        self.rating_policy = rating_policy or ratings.RatingPolicy()
        self.db = db
        self.resolve_sla = resolve_sla
        self.clock = clock
        self.feed = feed
        self.reopen_window = reopen_window

    def _command(
        self,
        command: str,
        request: Message,
        reply_type: type[R],
        write: Callable[[AsyncSession], Awaitable[R]],
    ) -> Awaitable[R]:
        return run_command(
            self.db, self.clock, command=command, request=request, reply_type=reply_type, write=write
        )

    async def CreateTicket(
        self, request: ticketing_pb2.CreateTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        cmd = _new_ticket(request)

        async def write(session: AsyncSession) -> ticketing_pb2.Ticket:
            ticket = await service.create_ticket(
                session, cmd, resolve_sla=self.resolve_sla, clock=self.clock,
                actor=request.actor, team=request.team,
            )
            log.info("ticket_created", ticket_id=str(ticket.id), number=ticket.number,
                     severity=ticket.severity, level=ticket.sla.get("level"),
                     assignee_id=ticket.assignee_id)
            return ticket_to_proto(ticket)

        return await self._command("create_ticket", request, ticketing_pb2.Ticket, write)

    async def GetTicket(
        self, request: ticketing_pb2.GetTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        async with self.db.reader() as conn:
            ticket = await service.read_ticket(conn, request.id)
        return ticket_to_proto(ticket)

    async def ListTickets(
        self, request: ticketing_pb2.ListTicketsRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ListTicketsResponse:
        filters = service.TicketFilter(
            statuses=tuple(
                enum_to_str(ticketing_pb2.TicketStatus, s) or "unspecified" for s in request.statuses
            ),
            customer_id=request.customer_id,
            assignee_id=request.assignee_id,
            team=request.team,
            category=request.category,
            channel=enum_to_str(types_pb2.Channel, request.channel),
            severity=enum_to_str(types_pb2.Severity, request.severity),
            updated_since=_opt_ts(request, "updated_since"),
            created_by=request.created_by,
            text=request.text,
        )
        async with self.db.session() as session:
            tickets, token = await service.list_tickets(
                session, filters, page_size=request.page_size, page_token=request.page_token
            )
        protos = [ticket_to_proto(t) for t in tickets]
        fit = fitting(protos)
        if fit < len(protos):  # bounded in bytes: the page ends early, the next one goes on
            protos, token = protos[:fit], service.cursor_after(tickets[fit - 1])
        return ticketing_pb2.ListTicketsResponse(tickets=protos, next_page_token=token)

    async def UpdateTicket(
        self, request: ticketing_pb2.UpdateTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        severity = None
        if request.HasField("severity"):
            severity = enum_to_str(types_pb2.Severity, request.severity) or "unspecified"
        changes = service.TicketChanges(
            subject=request.subject if request.HasField("subject") else None,
            description=request.description if request.HasField("description") else None,
            severity=severity,
            category=request.category if request.HasField("category") else None,
            tags=tuple(request.tags) if request.set_tags else None,
            customer_tier=(enum_to_str(types_pb2.CustomerTier, request.customer_tier) or "unspecified")
            if request.HasField("customer_tier") else None,
            customer_sensitive=request.customer_sensitive if request.HasField("customer_sensitive") else None,
        )

        async def write(session: AsyncSession) -> ticketing_pb2.Ticket:
            ticket = await service.update_ticket(
                session, request.id, changes, expected_version=request.expected_version,
                actor=request.actor, clock=self.clock,
            )
            return ticket_to_proto(ticket)

        return await self._command("update_ticket", request, ticketing_pb2.Ticket, write)

    async def AssignTicket(
        self, request: ticketing_pb2.AssignTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        async def write(session: AsyncSession) -> ticketing_pb2.Ticket:
            ticket = await service.assign_ticket(
                session, request.id, assignee_id=request.assignee_id, team=request.team,
                reason=request.reason, expected_version=request.expected_version,
                actor=request.actor, clock=self.clock,
            )
            return ticket_to_proto(ticket)

        return await self._command("assign_ticket", request, ticketing_pb2.Ticket, write)

    async def TransitionTicket(
        self, request: ticketing_pb2.TransitionTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        async def write(session: AsyncSession) -> ticketing_pb2.Ticket:
            ticket = await service.transition_ticket(
                session, request.id, _ACTIONS.get(request.action), reason=request.reason,
                expected_version=request.expected_version, actor=request.actor, clock=self.clock,
            )
            log.info("ticket_status_changed", ticket_id=request.id, status=ticket.status)
            return ticket_to_proto(ticket)

        return await self._command("transition_ticket", request, ticketing_pb2.Ticket, write)

    async def ReopenTicket(
        self, request: ticketing_pb2.ReopenTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        async def write(session: AsyncSession) -> ticketing_pb2.Ticket:
            ticket = await service.reopen_ticket(
                session, request.id, reason=request.reason,
                contact_channel=enum_to_str(types_pb2.Channel, request.contact_channel),
                contact_summary=request.contact_summary,
                expected_version=request.expected_version, actor=request.actor, clock=self.clock,
            )
            log.info("ticket_reopened", ticket_id=request.id, reopen_count=ticket.reopen_count)
            return ticket_to_proto(ticket)

        return await self._command("reopen_ticket", request, ticketing_pb2.Ticket, write)

    async def FindReopenCandidates(
        self, request: ticketing_pb2.FindReopenCandidatesRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.FindReopenCandidatesResponse:
        window = timedelta(days=request.window_days) if request.window_days else self.reopen_window
        async with self.db.reader() as conn:
            tickets = await service.find_reopen_candidates(
                conn, customer_id=request.customer_id, category=request.category,
                window=window, clock=self.clock,
            )
            proposed = await ratings.reopen_proposed(conn, tickets)
        return ticketing_pb2.FindReopenCandidatesResponse(
            tickets=[ticket_to_proto(t) for t in tickets],
            reopen_proposed=[str(t.id) for t in tickets if t.id in proposed],
        )

    async def LogContact(
        self, request: ticketing_pb2.LogContactRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Contact:
        async def write(session: AsyncSession) -> ticketing_pb2.Contact:
            contact = await service.log_contact(
                session, request.ticket_id,
                direction=enum_to_str(ticketing_pb2.ContactDirection, request.direction),
                channel=enum_to_str(types_pb2.Channel, request.channel),
                occurred_at=_opt_ts(request, "occurred_at"),
                summary=request.summary, actor=request.actor, clock=self.clock,
            )
            return contact_to_proto(contact)

        return await self._command("log_contact", request, ticketing_pb2.Contact, write)

    async def AddProgress(
        self, request: ticketing_pb2.AddProgressRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ProgressEntry:
        entry = service.NewProgress(
            text=request.text, next_step=request.next_step,
            promised_at=_opt_ts(request, "promised_at"), owner_name=request.owner_name,
            owner_direct_line=request.owner_direct_line,
        )

        async def write(session: AsyncSession) -> ticketing_pb2.ProgressEntry:
            progress = await service.add_progress(
                session, request.ticket_id, entry, actor=request.actor, clock=self.clock
            )
            return progress_to_proto(progress)

        return await self._command("add_progress", request, ticketing_pb2.ProgressEntry, write)

    async def AddNote(
        self, request: ticketing_pb2.AddNoteRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Note:
        async def write(session: AsyncSession) -> ticketing_pb2.Note:
            note = await service.add_note(
                session, request.ticket_id, request.text, actor=request.actor, clock=self.clock
            )
            return note_to_proto(note)

        return await self._command("add_note", request, ticketing_pb2.Note, write)

    async def RecordProgressView(
        self, request: ticketing_pb2.RecordProgressViewRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.RecordProgressViewResponse:
        async def write(session: AsyncSession) -> ticketing_pb2.RecordProgressViewResponse:
            view = await service.record_progress_view(
                session, request.ticket_id, viewer=request.viewer, clock=self.clock,
                customer_id=request.customer_id, count=request.count or 1,
            )
            return ticketing_pb2.RecordProgressViewResponse(
                view_count=view.view_count,
                views_last_hour=view.views_last_hour,
                stamp=_stamp_proto(view.stamp),
                sequence=view.sequence,
            )

        return await self._command(
            "record_progress_view", request, ticketing_pb2.RecordProgressViewResponse, write
        )

    async def GetProgressStamp(
        self, request: ticketing_pb2.GetProgressStampRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ProgressStamp:
        async with self.db.session() as session:
            stamp = await service.progress_stamp(
                session, request.ticket_id, customer_id=request.customer_id
            )
            return _stamp_proto(stamp)

    async def GetTimeline(
        self, request: ticketing_pb2.GetTimelineRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Timeline:
        if not 0 <= request.page_size <= MAX_TIMELINE_PAGE:
            raise InvalidArgument(f"page_size must be 0..{MAX_TIMELINE_PAGE}", code="invalid_page_size")
        offset = _timeline_offset(request.page_token)
        async with self.db.session() as session:
            ticket, items = await service.timeline(
                session, request.ticket_id, include_internal=request.include_internal
            )
        page = items[offset : offset + (request.page_size or MAX_TIMELINE_PAGE)]
        entries = [_timeline_entry(i) for i in page]
        ticket_pb = ticket_to_proto(ticket)
        fit = fitting(entries, budget=REPLY_BUDGET_BYTES - ticket_pb.ByteSize())
        following = offset + fit
        token = _timeline_token(following) if following < len(items) else ""
        return ticketing_pb2.Timeline(ticket=ticket_pb, entries=entries[:fit], next_page_token=token)

    async def WatchEvents(
        self, request: ticketing_pb2.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ticketing_pb2.Event]:
        if self.feed is None:
            raise FailedPrecondition("the event feed is not running", code="feed_unavailable")
        async for event in self.feed.watch(request.after_sequence):
            yield to_message(event)
        # The feed only ends when this process stops: tell the consumer to resume elsewhere
        # rather than ending the stream with OK, which would read as "no more events ever".
        raise Unavailable(
            "ticketing is shutting down; resume from your last sequence", code="shutting_down"
        )

    async def GetServiceMetrics(
        self, request: ticketing_pb2.GetServiceMetricsRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.GetServiceMetricsResponse:
        if not (request.HasField("period_start") and request.HasField("period_end")):
            raise InvalidArgument("period_start and period_end are required", code="invalid_period")
        if request.group_by not in _GROUP_BY:
            raise InvalidArgument("unknown group_by", code="invalid_group_by")
        async with self.db.session() as session:
            rows = await metrics.service_metrics(
                session,
                period_start=from_timestamp(request.period_start),
                period_end=from_timestamp(request.period_end),
                group_by=_GROUP_BY[request.group_by],
            )
        return ticketing_pb2.GetServiceMetricsResponse(
            rows=[ticketing_pb2.ServiceMetrics(**dataclasses.asdict(r)) for r in rows]
        )

    async def GetTicketSeries(
        self, request: ticketing_pb2.GetTicketSeriesRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.GetTicketSeriesResponse:
        plan = plan_from_range(request.range)
        if request.group_by not in _GROUP_BY or request.report not in _REPORTS:
            raise InvalidArgument("unknown group_by or report", code="invalid_argument")
        async with self.db.session() as session:
            rows = await metrics.ticket_series(
                session, plan, report=_REPORTS[request.report], group_by=_GROUP_BY[request.group_by]
            )
        return ticketing_pb2.GetTicketSeriesResponse(rows=[_figures_to_proto(f) for f in rows])

    async def GetBacklog(
        self, request: ticketing_pb2.GetBacklogRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.GetBacklogResponse:
        if request.group_by not in _GROUP_BY:
            raise InvalidArgument("unknown group_by", code="invalid_group_by")
        now = self.clock.now()
        async with self.db.session() as session:
            rows = await backlog.backlog(session, now=now, group_by=_GROUP_BY[request.group_by])
        return ticketing_pb2.GetBacklogResponse(
            as_of=to_timestamp(now),
            rows=[
                ticketing_pb2.BacklogRow(
                    group=r.group,
                    status=str_to_enum(ticketing_pb2.TicketStatus, r.status),
                    age_band=r.age_band,
                    tickets=r.tickets,
                    oldest_first_contact_at=to_timestamp(r.oldest_first_contact_at),
                )
                for r in rows
            ],
        )

    async def UpsertAgent(
        self, request: ticketing_pb2.UpsertAgentRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Agent:
        a = request.agent
        async with self.db.session() as session:
            agent = await service.upsert_agent(
                session,
                Agent(id=a.id, name=a.name, team=a.team, skill_level=a.skill_level,
                      specialist=a.specialist, active=a.active, direct_line=a.direct_line),
                clock=self.clock,
            )
            return agent_to_proto(agent)

    async def ListAgents(
        self, request: ticketing_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ListAgentsResponse:
        async with self.db.session() as session:
            agents = await service.list_agents(session, team=request.team)
            return ticketing_pb2.ListAgentsResponse(agents=[agent_to_proto(a) for a in agents])

    async def RateTicket(
        self, request: ticketing_pb2.RateTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Rating:
        new = ratings.NewRating(
            score=request.score, nps=request.nps if request.HasField("nps") else None,
            comment=request.comment, source=request.source, rater=request.rater,
        )

        async def write(session: AsyncSession) -> ticketing_pb2.Rating:
            rating, until = await ratings.rate_ticket(
                session, request.ticket_id, new, policy=self.rating_policy, clock=self.clock,
                customer_id=request.customer_id, created_by=request.created_by,
            )
            return rating_to_proto(rating, until)

        return await self._command("rate_ticket", request, ticketing_pb2.Rating, write)

    async def ListRatings(
        self, request: ticketing_pb2.ListRatingsRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ListRatingsResponse:
        async with self.db.session() as session:
            rows = await ratings.list_ratings(
                session, request.ticket_id, customer_id=request.customer_id, created_by=request.created_by
            )
        first: dict[int, Any] = {}
        for r in rows:
            first.setdefault(r.cycle, r.created_at + self.rating_policy.change_window)
        return ticketing_pb2.ListRatingsResponse(ratings=[rating_to_proto(r, first[r.cycle]) for r in rows])

    async def ListLatestRatings(
        self, request: ticketing_pb2.ListLatestRatingsRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ListRatingsResponse:
        f = ratings.RatingFilter(
            team=request.team, agent_id=request.agent_id, category=request.category, channel=request.channel,
            min_score=request.min_score, max_score=request.max_score,
            start=_opt_ts(request, "start"), end=_opt_ts(request, "end"),
        )
        async with self.db.session() as session:
            page, token = await ratings.list_latest(
                session, f, policy=self.rating_policy, page_size=request.page_size, page_token=request.page_token
            )
        return ticketing_pb2.ListRatingsResponse(
            ratings=[rating_to_proto(r, until) for r, until in page], next_page_token=token
        )

    async def GetCsatReport(
        self, request: ticketing_pb2.GetCsatReportRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.CsatReport:
        plan = plan_from_range(request.range)
        async with self.db.session() as session:
            rows = await ratings.csat_report(session, plan, group_by=request.group_by or "none")
        return ticketing_pb2.CsatReport(rows=[
            ticketing_pb2.CsatReport.Row(
                key=types_pb2.SeriesKey(group=r.group, bucket=r.bucket, previous=r.previous),
                ratings=r.ratings, satisfied=r.satisfied, nps_responses=r.nps_responses,
                promoters=r.promoters, detractors=r.detractors, score_sum=r.score_sum,
            )
            for r in rows
        ])


def rating_to_proto(r: Rating, changeable_until: datetime) -> ticketing_pb2.Rating:
    return ticketing_pb2.Rating(
        id=str(r.id), ticket_id=str(r.ticket_id), cycle=r.cycle, revision=r.revision, score=r.score,
        nps=r.nps, comment=r.comment, source=r.source, rater=r.rater, dissatisfied=r.dissatisfied,
        created_at=to_timestamp(r.created_at), team=r.team, agent_id=r.agent_id, category=r.category,
        channel=r.channel, changeable_until=to_timestamp(changeable_until),
    )
