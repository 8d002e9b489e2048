"""The shared gRPC bootstrap: error mapping, correlation id, health and graceful stop."""

from __future__ import annotations

import json
import logging

import grpc
import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu_common.context import get_request_id, reset_request_id, set_request_id
from kefu_common.errors import ERROR_CODE_METADATA_KEY, NotFound
from kefu_common.grpc_client import create_channel
from kefu_common.grpc_server import GrpcServer, ServiceSpec
from kefu_common.logging import configure_logging, get_logger

NAME = "kefu.escalation.v1.EscalationService"


class Probe(escalation_pb2_grpc.EscalationServiceServicer):
    """A test servicer whose behaviour depends on the request's policy-free fields."""

    seen_request_ids: list[str | None]

    def __init__(self) -> None:
        self.seen_request_ids = []

    async def ResolveSla(self, request, context):
        self.seen_request_ids.append(get_request_id())
        if request.sensitive:
            raise NotFound("no such cell", code="matrix_cell_missing")
        if request.severity == 4:
            raise RuntimeError("database password is hunter2")
        return types_pb2.SlaSnapshot(policy_id="ok")


@pytest.fixture
async def probe_server():
    probe = Probe()
    stopped: list[bool] = []

    async def on_stop() -> None:
        stopped.append(True)

    server = GrpcServer(
        name="probe",
        bind="127.0.0.1:0",
        services=[ServiceSpec(probe, escalation_pb2_grpc.add_EscalationServiceServicer_to_server, NAME)],
        grace_seconds=1,
        on_stop=[on_stop],
    )
    port = await server.start()
    yield probe, f"127.0.0.1:{port}", server, stopped
    await server.stop()


async def test_service_error_becomes_its_grpc_status_with_code_trailer(probe_server) -> None:
    _, addr, _, _ = probe_server
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = escalation_pb2_grpc.EscalationServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ResolveSla(escalation_pb2.ResolveSlaRequest(sensitive=True))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "no such cell"
    assert dict(info.value.trailing_metadata())[ERROR_CODE_METADATA_KEY] == "matrix_cell_missing"


async def test_unexpected_exception_is_internal_with_a_generic_message(probe_server) -> None:
    _, addr, _, _ = probe_server
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = escalation_pb2_grpc.EscalationServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ResolveSla(escalation_pb2.ResolveSlaRequest(severity=4))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details() == "internal error"
    assert "hunter2" not in info.value.debug_error_string()


async def test_client_channel_carries_the_correlation_id_to_the_server(probe_server) -> None:
    probe, addr, _, _ = probe_server
    channel = create_channel(addr)
    token = set_request_id("corr-42")
    try:
        stub = escalation_pb2_grpc.EscalationServiceStub(channel)
        await stub.ResolveSla(escalation_pb2.ResolveSlaRequest())
    finally:
        reset_request_id(token)
        await channel.close()
    assert probe.seen_request_ids[-1] == "corr-42"


async def test_server_mints_a_request_id_when_the_caller_sent_none(probe_server) -> None:
    probe, addr, _, _ = probe_server
    async with grpc.aio.insecure_channel(addr) as channel:
        await escalation_pb2_grpc.EscalationServiceStub(channel).ResolveSla(
            escalation_pb2.ResolveSlaRequest()
        )
    minted = probe.seen_request_ids[-1]
    assert minted is not None and len(minted) == 32


async def test_health_serving_then_not_serving_after_graceful_stop(probe_server) -> None:
    _, addr, server, stopped = probe_server
    async with grpc.aio.insecure_channel(addr) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", NAME):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        await server.stop()
    assert stopped == [True], "on_stop callbacks (engine.dispose) run after the server stops"


def test_json_logs_carry_service_and_request_id(capsys) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("probe", fmt="json")
    token = set_request_id("rid-7")
    try:
        get_logger("t").info("ticket_reopened", ticket_id="T1", reopen_count=2)
    finally:
        reset_request_id(token)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        root.handlers[:], root.level = saved
    line = capsys.readouterr().out.strip().splitlines()[-1]
    event = json.loads(line)
    assert event["event"] == "ticket_reopened"
    assert event["service"] == "probe"
    assert event["request_id"] == "rid-7"
    assert event["reopen_count"] == 2
    assert event["level"] == "info"


class Named(Probe):
    """A probe that answers with its own name, to see which replica served a call."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    async def ResolveSla(self, request, context):
        return types_pb2.SlaSnapshot(policy_id=self.name)


async def test_a_channel_to_several_replicas_spreads_calls_and_skips_a_replica_that_went_away() -> None:
    servers = []
    for name in ("a", "b"):
        server = GrpcServer(
            name=name, bind="127.0.0.1:0", grace_seconds=0,
            services=[ServiceSpec(Named(name), escalation_pb2_grpc.add_EscalationServiceServicer_to_server, NAME)],
        )
        servers.append((server, await server.start()))
    channel = create_channel("ipv4:" + ",".join(f"127.0.0.1:{port}" for _, port in servers))
    try:
        stub = escalation_pb2_grpc.EscalationServiceStub(channel)
        await channel.channel_ready()
        served = [(await stub.ResolveSla(escalation_pb2.ResolveSlaRequest(), timeout=5)).policy_id
                  for _ in range(20)]
        assert set(served) == {"a", "b"}  # round robin over both, not the first address only
        await servers[0][0].stop()
        after = [(await stub.ResolveSla(escalation_pb2.ResolveSlaRequest(), timeout=5)).policy_id
                 for _ in range(20)]
        assert set(after) == {"b"}  # every call answered, by the replica left
    finally:
        await channel.close()
        await servers[1][0].stop()
