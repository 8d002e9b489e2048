"""Quality inspection through the gateway: score, then read the evaluation back."""

from __future__ import annotations

import uuid

from support import assert_problem


async def test_created_evaluation_can_be_read_back_with_its_scorecard(gateway, auth) -> None:
    created = await gateway.post(
        "/v1/qa/evaluations",
        json={
            "ticket_id": f"T-{uuid.uuid4().hex[:12]}",
            "turns": [
                {"role": "customer", "text": "我要打１２３１５投诉你们！电话13800138000"},
                {"role": "agent", "text": "您好，我保证明天一定到账"},
            ],
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert {"regulator", "other"} <= set(body["risk_flags"])
    assert {h["rule_id"] for h in body["hits"]} >= {"risk-regulator", "unauthorised-promise"}
    assert [d["dimension"] for d in body["dimensions"]] == ["compliance", "process", "attitude", "skill"]
    assert body["emotion"]["turns"][0]["label"] == "negative"
    assert "13800138000" not in created.text

    fetched = await gateway.get(f"/v1/qa/evaluations/{body['id']}", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_unknown_evaluation_is_404_problem(gateway, auth) -> None:
    response = await gateway.get(f"/v1/qa/evaluations/{uuid.uuid4()}", headers=auth)
    assert_problem(response, 404, "evaluation_not_found")


async def test_malformed_evaluation_id_is_400_problem(gateway, auth) -> None:
    response = await gateway.get("/v1/qa/evaluations/not-a-uuid", headers=auth)
    assert_problem(response, 400, "invalid_evaluation_id")


async def test_reading_an_evaluation_needs_a_token(gateway) -> None:
    response = await gateway.get(f"/v1/qa/evaluations/{uuid.uuid4()}")
    assert_problem(response, 401, "missing_token")
