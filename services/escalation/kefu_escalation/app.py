from __future__ import annotations

from pathlib import Path

from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu.ticketing.v1 import ticketing_pb2_grpc
from kefu_common.clock import SystemClock
from kefu_common.db import Database
from kefu_common.grpc_client import create_channel
from kefu_common.grpc_server import ServiceSpec
from kefu_common.runner import Built, GrpcService
from kefu_escalation.clocks.timer import SlaClockWorker
from kefu_escalation.clocks.projector import ClockProjector
from kefu_escalation.escalations.escalator import Escalator, TriggerSettings
from kefu_escalation.notifications import LogSink, NotificationDispatcher, WebhookSink
from kefu_escalation.configuration.service import load_calendar
from kefu_escalation.consumer import TicketEventConsumer
from kefu_escalation.models import SCHEMA
from kefu_escalation.configuration.published_sla import PublishedSlaCache
from kefu_escalation.servicer import EscalationServicer
from kefu_escalation.settings import EscalationSettings

SERVICE_NAME = escalation_pb2.DESCRIPTOR.services_by_name["EscalationService"].full_name


async def build(settings: EscalationSettings, db: Database) -> Built:
    escalator = Escalator(
        TriggerSettings(
            contacts_threshold=settings.contacts_escalate_at,
            reopen_threshold=settings.reopens_escalate_at,
            anxious_views=settings.anxious_views_per_hour,
            staff_calendar=settings.staff_calendar,
            signal_pending_seconds=settings.signal_pending_seconds,
        ),
        calendars=load_calendar,
    )
    sla_cells = PublishedSlaCache(db)
    await sla_cells.start()
    servicer = EscalationServicer(db, escalator=escalator, sla_cells=sla_cells)
    built = Built(
        services=[
            ServiceSpec(servicer, escalation_pb2_grpc.add_EscalationServiceServicer_to_server, SERVICE_NAME)
        ]
    )
    built.on_stop.append(sla_cells.stop)
    worker = None
    if settings.run_sla_clocks:
        sinks: list = [LogSink()]
        if settings.notify_webhook_url:
            webhook = WebhookSink(settings.notify_webhook_url, settings.notify_webhook_secret.get_secret_value())
            sinks.append(webhook)
            built.on_stop.append(webhook.close)
        worker = SlaClockWorker(
            db, SystemClock(), interval=settings.sla_clock_interval_seconds,
            projector=ClockProjector(escalator=escalator, cursor=settings.sla_projection_cursor), dispatcher=NotificationDispatcher(sinks),
        )
        await worker.start()
        built.before_stop.append(worker.stop)
    if settings.consume_ticket_events:
        channel = create_channel(settings.ticketing_addr)
        consumer = TicketEventConsumer(
            db, ticketing_pb2_grpc.TicketingServiceStub(channel), SystemClock(),
            on_stored=worker.wake if worker else None,
        )
        await consumer.start()
        built.before_stop.append(consumer.stop)
        built.on_stop.append(channel.close)
    return built


service = GrpcService(
    name="escalation",
    schema=SCHEMA,
    migrations_dir=Path(__file__).parent / "migrations",
    settings_factory=EscalationSettings,
    build=build,
)
