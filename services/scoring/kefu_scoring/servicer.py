"""gRPC face of the scoring service: translate only, rules live in service.py."""

from __future__ import annotations

from typing import Any

import grpc

from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kefu_common.db import Database
from kefu_common.protoconv import enum_to_str, to_timestamp
from kefu_scoring import service
from kefu_scoring.models import Evaluation


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(self, db: Database, ruleset: service.Ruleset) -> None:
        self.db = db
        self.ruleset = ruleset

    async def ScoreConversation(
        self, request: scoring_pb2.ScoreConversationRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.Evaluation:
        conversation = service.Conversation(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            ticket_id=request.ticket_id,
            agent_id=request.agent_id,
            turns=tuple(
                service.Turn(
                    role=enum_to_str(scoring_pb2.Role, t.role),
                    text=t.text,
                    start_ms=t.start_ms,
                    end_ms=t.end_ms,
                )
                for t in request.turns
            ),
        )
        evaluation = await self.db.idempotent(
            lambda session: service.score_conversation(
                session, ruleset=self.ruleset, conversation=conversation
            ),
            lambda session: service.find_stored(session, conversation=conversation),
        )
        return _evaluation_pb(evaluation)


def _hit_pb(hit: dict[str, Any]) -> scoring_pb2.Hit:
    return scoring_pb2.Hit(
        rule_id=hit["rule_id"],
        rule_version=hit["rule_version"],
        dimension=hit["dimension"],
        turn_index=hit["turn_index"],
        start=hit["start"],
        end=hit["end"],
        matched_text=hit["matched_text"],
        points=hit["points"],
    )


def _evaluation_pb(evaluation: Evaluation) -> scoring_pb2.Evaluation:
    return scoring_pb2.Evaluation(
        id=str(evaluation.id),
        conversation_id=evaluation.conversation_id,
        ticket_id=evaluation.ticket_id,
        agent_id=evaluation.agent_id,
        ruleset_id=evaluation.ruleset_id,
        ruleset_version=evaluation.ruleset_version,
        total_score=evaluation.total_score,
        grade=evaluation.grade,
        hits=[_hit_pb(hit) for hit in evaluation.hits],
        created_at=to_timestamp(evaluation.created_at) if evaluation.created_at else None,
    )
