from __future__ import annotations

from pathlib import Path

from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kefu_common.db import Database
from kefu_common.grpc_server import ServiceSpec
from kefu_common.runner import Built, GrpcService
from kefu_scoring.models import SCHEMA
from kefu_scoring.service import load_ruleset
from kefu_scoring.servicer import ScoringServicer
from kefu_scoring.settings import ScoringSettings

SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name


async def build(settings: ScoringSettings, db: Database) -> Built:
    servicer = ScoringServicer(db, load_ruleset())
    return Built(
        services=[
            ServiceSpec(servicer, scoring_pb2_grpc.add_ScoringServiceServicer_to_server, SERVICE_NAME)
        ]
    )


service = GrpcService(
    name="scoring",
    schema=SCHEMA,
    migrations_dir=Path(__file__).parent / "migrations",
    settings_factory=ScoringSettings,
    build=build,
)
