"""gRPC face of the escalation service: translate only, rules live in service.py."""

from __future__ import annotations

import grpc

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu_common.db import Database
from kefu_common.errors import InvalidArgument
from kefu_common.protoconv import enum_to_str, from_timestamp, str_to_enum, to_timestamp
from kefu_escalation import service


class EscalationServicer(escalation_pb2_grpc.EscalationServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ResolveSla(
        self, request: escalation_pb2.ResolveSlaRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.ResolveSlaResponse:
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
            )
        return escalation_pb2.ResolveSlaResponse(
            level=str_to_enum(types_pb2.EscalationLevel, sla.level),
            policy_id=sla.policy.id,
            policy_version=sla.policy.version,
            policy_name=sla.policy.name,
            matrix_version=sla.matrix_version,
            matrix_tier=sla.matrix_tier,
            calendar=sla.policy.calendar,
            targets=[
                escalation_pb2.SlaTarget(
                    name=t.name,
                    duration_seconds=int(t.duration.total_seconds()),
                    due_at=to_timestamp(t.due_at) if t.due_at else None,
                )
                for t in sla.targets
            ],
        )
