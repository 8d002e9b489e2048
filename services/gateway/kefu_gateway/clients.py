"""gRPC channels and stubs to the core services, created once per process in the lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

import grpc
from fastapi import Depends, Request
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kefu.escalation.v1 import escalation_pb2_grpc
from kefu.scoring.v1 import scoring_pb2_grpc
from kefu.ticketing.v1 import ticketing_pb2_grpc
from kefu_common.grpc_client import create_channel
from kefu_gateway.changes import TicketChanges, ViewCounter
from kefu_gateway.settings import GatewaySettings


@dataclass
class Clients:
    ticketing: ticketing_pb2_grpc.TicketingServiceStub
    escalation: escalation_pb2_grpc.EscalationServiceStub
    scoring: scoring_pb2_grpc.ScoringServiceStub
    channels: dict[str, grpc.aio.Channel]
    timeout: float
    changes: TicketChanges
    views: ViewCounter

    @classmethod
    def connect(cls, settings: GatewaySettings) -> Clients:
        channels = {
            "ticketing": create_channel(settings.ticketing_addr),
            "escalation": create_channel(settings.escalation_addr),
            "scoring": create_channel(settings.scoring_addr),
        }
        ticketing = ticketing_pb2_grpc.TicketingServiceStub(channels["ticketing"])
        return cls(
            ticketing=ticketing,
            escalation=escalation_pb2_grpc.EscalationServiceStub(channels["escalation"]),
            scoring=scoring_pb2_grpc.ScoringServiceStub(channels["scoring"]),
            channels=channels,
            timeout=settings.rpc_timeout_seconds,
            changes=TicketChanges(ticketing, tag_ttl=settings.progress_tag_ttl_seconds),
            views=ViewCounter(ticketing, timeout=settings.rpc_timeout_seconds),
        )

    async def health(self, timeout: float = 1.0) -> dict[str, str]:
        """The standard gRPC health status of every downstream service."""

        async def check(name: str, channel: grpc.aio.Channel) -> tuple[str, str]:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
            except grpc.aio.AioRpcError as err:
                return name, err.code().name.lower()
            return name, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status).lower()

        results = await asyncio.gather(*(check(n, c) for n, c in self.channels.items()))
        return dict(results)

    async def close(self) -> None:
        await self.changes.close()
        await self.views.close()  # records the views still buffered
        for channel in self.channels.values():
            await channel.close()


def get_clients(request: Request) -> Clients:
    clients: Clients = request.app.state.clients
    return clients


ClientsDep = Annotated[Clients, Depends(get_clients)]
