"""Rulesets published through the API: validated, immutable versions, scored against by name."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest

from sqlmodel import col, select

from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kefu_common.db import Database
from kefu_scoring.models import Evaluation
from support import error_code


def document(ruleset_id: str, version: int, keyword: str = "不好意思") -> str:
    return json.dumps(
        {
            "id": ruleset_id,
            "version": version,
            "name": "test ruleset",
            "include": ["customer_risk"],
            "rules": [
                {
                    "id": "apology-overuse",
                    "version": 1,
                    "dimension": "attitude",
                    "points": -3,
                    "condition": {"operator": "keyword", "keywords": [keyword], "scope": {"role": "agent"}},
                }
            ],
        },
        ensure_ascii=False,
    )


def new_id() -> str:
    return f"team-{uuid.uuid4().hex[:12]}"


async def publish(stub: scoring_pb2_grpc.ScoringServiceStub, doc: str) -> scoring_pb2.RulesetVersion:
    return await stub.PublishRuleset(scoring_pb2.PublishRulesetRequest(document=doc, published_by="qa-1"))


async def test_published_versions_are_listed_fetched_and_scored_against(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    ruleset_id = new_id()
    v1 = await publish(scoring_stub, document(ruleset_id, 1))
    v2 = await publish(scoring_stub, document(ruleset_id, 2, keyword="抱歉"))
    assert (v1.version, v2.version, v2.published_by) == (1, 2, "qa-1")
    assert v2.rule_count == 1 + 5  # its own rule + the customer_risk pack (with risk-police)
    assert v2.HasField("published_at")

    latest = await scoring_stub.GetRuleset(scoring_pb2.GetRulesetRequest(id=ruleset_id))
    assert latest.version == 2
    first = await scoring_stub.GetRuleset(scoring_pb2.GetRulesetRequest(id=ruleset_id, version=1))
    stored = json.loads(first.document)
    assert stored["rules"][0]["condition"]["keywords"] == ["不好意思"]
    # Self-contained: the included pack is expanded, so editing a pack later cannot change v1.
    assert stored["include"] == []
    assert {r["id"] for r in stored["rules"]} >= {"risk-regulator", "risk-legal"}
    listed = await scoring_stub.ListRulesets(scoring_pb2.ListRulesetsRequest())
    assert [(r.id, r.version) for r in listed.rulesets if r.id == ruleset_id] == [(ruleset_id, 2)]

    turns = [scoring_pb2.Turn(role=scoring_pb2.ROLE_AGENT, text="不好意思，抱歉")]
    on_v1 = await scoring_stub.ScoreConversation(
        scoring_pb2.ScoreConversationRequest(
            request_id=uuid.uuid4().hex, turns=turns, ruleset_id=ruleset_id, ruleset_version=1
        )
    )
    on_latest = await scoring_stub.ScoreConversation(
        scoring_pb2.ScoreConversationRequest(request_id=uuid.uuid4().hex, turns=turns, ruleset_id=ruleset_id)
    )
    assert (on_v1.ruleset_id, on_v1.ruleset_version) == (ruleset_id, 1)
    assert [h.matched_text for h in on_v1.hits] == ["不好意思"]
    assert (on_latest.ruleset_version, [h.matched_text for h in on_latest.hits]) == (2, ["抱歉"])


async def test_republishing_the_same_version_is_a_safe_retry_but_other_content_is_refused(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    ruleset_id = new_id()
    first = await publish(scoring_stub, document(ruleset_id, 1))
    again = await publish(scoring_stub, document(ruleset_id, 1))
    assert again == first
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await publish(scoring_stub, document(ruleset_id, 1, keyword="别的"))
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_code(raised.value) == "ruleset_version_exists"


@pytest.mark.parametrize(
    ("doc", "status", "code", "message"),
    [
        (lambda rid: document(rid, 2), grpc.StatusCode.FAILED_PRECONDITION, "ruleset_version_gap", "version must be 1"),
        (lambda rid: document(rid, 1, keyword=" "), grpc.StatusCode.INVALID_ARGUMENT, "invalid_ruleset",
         "rules[0].condition.keywords[0]"),
        (lambda rid: document("default", 3), grpc.StatusCode.INVALID_ARGUMENT, "reserved_ruleset_id", "default"),
        (lambda rid: "[]", grpc.StatusCode.INVALID_ARGUMENT, "invalid_ruleset", "must be a JSON object"),
    ],
)
async def test_bad_publish_is_refused_with_a_clear_error(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, doc, status, code, message
) -> None:
    ruleset_id = new_id()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await publish(scoring_stub, doc(ruleset_id))
    assert raised.value.code() == status
    assert error_code(raised.value) == code
    assert message in (raised.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await scoring_stub.GetRuleset(scoring_pb2.GetRulesetRequest(id=ruleset_id))
    assert error_code(missing.value) == "ruleset_not_found"


async def test_scoring_with_an_unknown_ruleset_is_not_found_and_stores_nothing(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, scoring_db: Database
) -> None:
    request_id = uuid.uuid4().hex
    request = scoring_pb2.ScoreConversationRequest(
        request_id=request_id,
        turns=[scoring_pb2.Turn(role=scoring_pb2.ROLE_AGENT, text="hi")],
        ruleset_id=new_id(),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring_stub.ScoreConversation(request)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_code(raised.value) == "ruleset_not_found"
    async with scoring_db.session() as session:
        stmt = select(Evaluation).where(col(Evaluation.request_id) == request_id)
        assert (await session.exec(stmt)).first() is None
