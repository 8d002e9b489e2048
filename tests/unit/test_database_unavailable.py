"""An unreachable database is UNAVAILABLE with code `database_unavailable` (503 at the
gateway, retryable), never INTERNAL: here a real connection attempt to a closed port."""

from __future__ import annotations

import grpc
import pytest

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu_common.db import Database
from kefu_common.devstack import free_port
from kefu_common.grpc_server import GrpcServer, ServiceSpec
from support import error_code

NAME = "kefu.escalation.v1.EscalationService"


class NeedsDatabase(escalation_pb2_grpc.EscalationServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ResolveSla(self, request, context):
        await self.db.ping()
        return types_pb2.SlaSnapshot()


async def test_unreachable_database_gives_unavailable_not_internal() -> None:
    db = Database(f"postgresql://kefu@127.0.0.1:{free_port()}/kefu", schema="probe", pool_size=1)
    server = GrpcServer(
        name="probe",
        bind="127.0.0.1:0",
        services=[ServiceSpec(NeedsDatabase(db), escalation_pb2_grpc.add_EscalationServiceServicer_to_server, NAME)],
        grace_seconds=0,
        on_stop=[db.dispose],
    )
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await escalation_pb2_grpc.EscalationServiceStub(channel).ResolveSla(
                    escalation_pb2.ResolveSlaRequest()
                )
    finally:
        await server.stop()
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_code(err.value) == "database_unavailable"
