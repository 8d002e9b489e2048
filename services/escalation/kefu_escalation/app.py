from __future__ import annotations

from pathlib import Path

from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu_common.db import Database
from kefu_common.grpc_server import ServiceSpec
from kefu_common.runner import Built, GrpcService
from kefu_escalation.models import SCHEMA
from kefu_escalation.servicer import EscalationServicer
from kefu_escalation.settings import EscalationSettings

SERVICE_NAME = escalation_pb2.DESCRIPTOR.services_by_name["EscalationService"].full_name


async def build(settings: EscalationSettings, db: Database) -> Built:
    servicer = EscalationServicer(db)
    return Built(
        services=[
            ServiceSpec(servicer, escalation_pb2_grpc.add_EscalationServiceServicer_to_server, SERVICE_NAME)
        ]
    )


service = GrpcService(
    name="escalation",
    schema=SCHEMA,
    migrations_dir=Path(__file__).parent / "migrations",
    settings_factory=EscalationSettings,
    build=build,
)
