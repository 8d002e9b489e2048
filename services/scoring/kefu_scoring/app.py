from __future__ import annotations

from pathlib import Path

from kefu.escalation.v1 import escalation_pb2_grpc
from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kefu_common.clock import SystemClock
from kefu_common.db import Database
from kefu_common.grpc_client import create_channel
from kefu_common.grpc_server import ServiceSpec
from kefu_common.runner import Built, GrpcService
from kefu_scoring.models import SCHEMA
from kefu_scoring.rules import load_ruleset
from kefu_scoring.servicer import ScoringServicer
from kefu_scoring.settings import ScoringSettings
from kefu_scoring.signals import SignalRelay

SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name


async def build(settings: ScoringSettings, db: Database) -> Built:
    clock = SystemClock()
    relay = None
    on_stop = []
    before_stop = []
    if settings.relay_signals:
        channel = create_channel(settings.escalation_addr)
        relay = SignalRelay(
            db,
            escalation_pb2_grpc.EscalationServiceStub(channel),
            clock,
            interval=settings.relay_interval_seconds,
            timeout=settings.relay_timeout_seconds,
        )
        await relay.start()
        before_stop.append(relay.stop)
        on_stop.append(channel.close)
    servicer = ScoringServicer(
        db, load_ruleset(settings.ruleset_path), clock, on_signals=relay.wake if relay else None
    )
    return Built(
        services=[
            ServiceSpec(servicer, scoring_pb2_grpc.add_ScoringServiceServicer_to_server, SERVICE_NAME)
        ],
        on_stop=on_stop,
        before_stop=before_stop,
    )


service = GrpcService(
    name="scoring",
    schema=SCHEMA,
    migrations_dir=Path(__file__).parent / "migrations",
    settings_factory=ScoringSettings,
    build=build,
)
