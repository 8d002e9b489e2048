from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from kefu.escalation.v1 import escalation_pb2_grpc
from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from kefu_common.clock import SystemClock
from kefu_common.db import Database
from kefu_common.grpc_client import create_channel
from kefu_common.grpc_server import ServiceSpec
from kefu_common.runner import Built, GrpcService
from kefu_ticketing.feed import EventFeed
from kefu_ticketing.models import SCHEMA
from kefu_ticketing.ratings import RatingPolicy
from kefu_ticketing.servicer import EscalationSlaResolver, TicketingServicer
from kefu_ticketing.settings import TicketingSettings

SERVICE_NAME = ticketing_pb2.DESCRIPTOR.services_by_name["TicketingService"].full_name


async def build(settings: TicketingSettings, db: Database) -> Built:
    channel = create_channel(settings.escalation_addr)
    resolver = EscalationSlaResolver(
        escalation_pb2_grpc.EscalationServiceStub(channel), settings.escalation_timeout_seconds
    )
    feed = EventFeed(db)
    await feed.start()
    servicer = TicketingServicer(
        db, resolver, SystemClock(), feed=feed,
        reopen_window=timedelta(days=settings.reopen_window_days),
        rating_policy=RatingPolicy(
            change_window=timedelta(days=settings.csat_change_window_days),
            dissatisfied_max_score=settings.csat_dissatisfied_max_score,
        ),
    )
    return Built(
        services=[
            ServiceSpec(servicer, ticketing_pb2_grpc.add_TicketingServiceServicer_to_server, SERVICE_NAME)
        ],
        before_stop=[feed.stop],
        on_stop=[channel.close],
    )


service = GrpcService(
    name="ticketing",
    schema=SCHEMA,
    migrations_dir=Path(__file__).parent / "migrations",
    settings_factory=TicketingSettings,
    build=build,
)
