"""Quality inspection through the gateway: score, then read the evaluation back."""

from __future__ import annotations

import uuid

from support import assert_problem


async def test_created_evaluation_can_be_read_back_with_its_scorecard(gateway, auth) -> None:
    from support import ticket_body

    ticket = await gateway.post("/v1/tickets", json=ticket_body(f"C-{uuid.uuid4().hex[:10]}"), headers=auth)
    created = await gateway.post(
        "/v1/qa/evaluations",
        json={
            "ticket_id": ticket.json()["id"],
            "turns": [
                {"role": "customer", "text": "我要打１２３１５投诉你们！电话13800138000"},
                {"role": "agent", "text": "您好，我保证明天一定到账"},
            ],
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert "regulator" in body["risk_flags"] and "other" not in body["risk_flags"]
    assert {h["rule_id"] for h in body["hits"]} >= {"risk-regulator", "unauthorised-promise"}
    assert [d["dimension"] for d in body["dimensions"]] == ["compliance", "process", "attitude", "skill"]
    assert body["emotion"]["turns"][0]["label"] == "negative"
    assert "13800138000" not in created.text

    fetched = await gateway.get(f"/v1/qa/evaluations/{body['id']}", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_an_evaluation_carries_its_predicted_satisfaction_with_evidence(gateway, auth) -> None:
    created = await gateway.post(
        "/v1/qa/evaluations",
        json={"turns": [
            {"role": "customer", "text": "退款怎么还没到"},
            {"role": "agent", "text": "您好，请等通知"},
            {"role": "customer", "text": "又让我等，太差了，我要打12315投诉你们，电话13800138000"},
        ]},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    predicted = created.json()["satisfaction"]
    assert predicted["label"] == "detractor" and 1 <= predicted["score"] < 2.5
    assert (predicted["turns"], predicted["customer_turns"]) == (3, 2)
    factors = {f["factor"]: f for f in predicted["factors"]}
    assert factors["last_customer_turns"]["turn_index"] == 2
    assert factors["unresolved_threat"]["turn_index"] == 2 and "12315" in factors["unresolved_threat"]["detail"]
    assert "13800138000" not in created.text
    fetched = await gateway.get(f"/v1/qa/evaluations/{created.json()['id']}", headers=auth)
    assert fetched.json()["satisfaction"] == predicted


async def test_unknown_evaluation_is_404_problem(gateway, auth) -> None:
    response = await gateway.get(f"/v1/qa/evaluations/{uuid.uuid4()}", headers=auth)
    assert_problem(response, 404, "evaluation_not_found")


async def test_malformed_evaluation_id_is_400_problem(gateway, auth) -> None:
    response = await gateway.get("/v1/qa/evaluations/not-a-uuid", headers=auth)
    assert_problem(response, 400, "invalid_evaluation_id")


async def test_reading_an_evaluation_needs_a_token(gateway) -> None:
    response = await gateway.get(f"/v1/qa/evaluations/{uuid.uuid4()}")
    assert_problem(response, 401, "missing_token")


def ruleset_doc(ruleset_id: str, version: int, keywords: list[str]) -> dict:
    return {
        "id": ruleset_id,
        "version": version,
        "rules": [
            {
                "id": "no-slang",
                "version": 1,
                "dimension": "attitude",
                "points": -4,
                "condition": {"operator": "keyword", "keywords": keywords, "scope": {"role": "agent"}},
            }
        ],
    }


async def test_qa_publishes_a_ruleset_and_scores_against_it(gateway, gateway_settings) -> None:
    from support import staff_headers

    qa = staff_headers(gateway_settings, role="qa", subject="inspector-1")
    ruleset_id = f"team-{uuid.uuid4().hex[:10]}"
    first = await gateway.post("/v1/qa/rulesets", json=ruleset_doc(ruleset_id, 1, ["搞定了"]), headers=qa)
    assert first.status_code == 201, first.text
    assert (first.json()["version"], first.json()["published_by"], first.json()["rule_count"]) == (1, "inspector-1", 1)
    second = await gateway.post("/v1/qa/rulesets", json=ruleset_doc(ruleset_id, 2, ["妥妥的"]), headers=qa)
    assert second.status_code == 201, second.text

    latest = await gateway.get(f"/v1/qa/rulesets/{ruleset_id}", headers=qa)
    assert latest.json()["version"] == 2
    v1 = await gateway.get(f"/v1/qa/rulesets/{ruleset_id}/versions/1", headers=qa)
    assert v1.json()["document"]["rules"][0]["condition"]["keywords"] == ["搞定了"]
    listed = await gateway.get("/v1/qa/rulesets", headers=qa)
    assert [r["version"] for r in listed.json()["items"] if r["id"] == ruleset_id] == [2]

    scored = await gateway.post(
        "/v1/qa/evaluations",
        json={"ruleset_id": ruleset_id, "ruleset_version": 1,
              "turns": [{"role": "agent", "text": "搞定了，妥妥的"}]},
        headers=qa,
    )
    assert scored.status_code == 201, scored.text
    assert [h["matched_text"] for h in scored.json()["hits"]] == ["搞定了"]


async def test_invalid_ruleset_is_400_naming_the_field(gateway, gateway_settings) -> None:
    from support import staff_headers

    qa = staff_headers(gateway_settings, role="qa")
    response = await gateway.post(
        "/v1/qa/rulesets", json=ruleset_doc(f"team-{uuid.uuid4().hex[:10]}", 1, []), headers=qa
    )
    body = assert_problem(response, 400, "invalid_ruleset")
    assert "rules[0].condition.keywords" in body["detail"]


async def test_agents_cannot_publish_rulesets(gateway, auth) -> None:
    response = await gateway.post("/v1/qa/rulesets", json=ruleset_doc("x", 1, ["a"]), headers=auth)
    assert_problem(response, 403, "qa_admin_only")


async def test_unknown_ruleset_is_404(gateway, auth) -> None:
    response = await gateway.get(f"/v1/qa/rulesets/none-{uuid.uuid4().hex[:8]}", headers=auth)
    assert_problem(response, 404, "ruleset_not_found")


async def test_qa_overturns_a_hit_and_the_agreement_report_counts_it(gateway, gateway_settings, auth) -> None:
    from support import staff_headers

    qa = staff_headers(gateway_settings, role="qa", subject="inspector-2")
    created = await gateway.post(
        "/v1/qa/evaluations", json={"turns": [{"role": "agent", "text": "您好，这个不归我管"}]}, headers=auth
    )
    evaluation = created.json()
    index = next(i for i, h in enumerate(evaluation["hits"]) if h["rule_id"] == "shirking")

    response = await gateway.post(
        f"/v1/qa/evaluations/{evaluation['id']}/hits/{index}/review",
        json={"decision": "overturned", "note": "said in jest, customer laughed"},
        headers=qa,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["hits"][index]["review"] == "overturned"
    assert body["final_score"] > body["total_score"]
    assert [(r["reviewer"], r["decision"]) for r in body["reviews"]] == [("inspector-2", "overturned")]

    report = await gateway.get("/v1/qa/reports/agreement", params={"ruleset_id": "default"}, headers=qa)
    assert report.status_code == 200
    rules = {r["rule_id"]: r for r in report.json()["rules"]}
    assert rules["shirking"]["overturned"] >= 1


async def test_agents_cannot_review_hits(gateway, auth) -> None:
    response = await gateway.post(
        f"/v1/qa/evaluations/{uuid.uuid4()}/hits/0/review", json={"decision": "confirmed"}, headers=auth
    )
    assert_problem(response, 403, "qa_admin_only")


async def test_unknown_decision_is_a_validation_problem(gateway, gateway_settings) -> None:
    from support import staff_headers

    qa = staff_headers(gateway_settings, role="qa")
    response = await gateway.post(
        f"/v1/qa/evaluations/{uuid.uuid4()}/hits/0/review", json={"decision": "maybe"}, headers=qa
    )
    assert_problem(response, 422, "validation_error")


async def test_voice_of_customer_report_through_the_gateway(gateway, auth) -> None:
    category = f"cat-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        created = await gateway.post(
            "/v1/qa/evaluations",
            json={"category": category, "channel": "app",
                  "turns": [{"role": "customer", "text": "屏幕闪烁，屏幕闪烁得厉害"}]},
            headers=auth,
        )
        assert created.status_code == 201, created.text
    response = await gateway.get("/v1/reports/voc", params={"category": category, "channel": "app"}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["conversations"] == 3
    terms = {t["term"]: t for t in body["terms"]}
    assert (terms["屏幕"]["conversations"], terms["屏幕"]["baseline_conversations"]) == (3, 0)
    assert not terms["屏幕"]["spike"]  # a new category has no baseline to spike against
    assert {p["term"] for p in body["phrases"]} >= {"屏幕 闪烁"}


async def test_voice_of_customer_refuses_unknown_parameters(gateway, auth) -> None:
    response = await gateway.get("/v1/reports/voc", params={"categroy": "x"}, headers=auth)
    assert_problem(response, 422, "validation_error")


async def test_agent_appeals_a_hit_and_qa_upholds_it(gateway, gateway_settings) -> None:
    from support import staff_headers

    agent = staff_headers(gateway_settings, role="agent", subject="agent-zhang")
    qa = staff_headers(gateway_settings, role="qa", subject="inspector-3")
    created = await gateway.post(
        "/v1/qa/evaluations",
        json={"agent_id": "agent-zhang", "turns": [{"role": "agent", "text": "您好，没办法"}]},
        headers=agent,
    )
    evaluation = created.json()
    index = next(i for i, h in enumerate(evaluation["hits"]) if h["rule_id"] == "forbidden-dead-end")

    filed = await gateway.post(
        f"/v1/qa/evaluations/{evaluation['id']}/hits/{index}/appeals",
        json={"reason": "the customer asked if there was no way to cancel"},
        headers=agent,
    )
    assert filed.status_code == 201, filed.text
    assert (filed.json()["status"], filed.json()["appellant"]) == ("open", "agent-zhang")

    not_qa = await gateway.post(
        f"/v1/qa/appeals/{filed.json()['id']}/decision", json={"outcome": "upheld"}, headers=agent
    )
    assert_problem(not_qa, 403, "qa_admin_only")
    decided = await gateway.post(
        f"/v1/qa/appeals/{filed.json()['id']}/decision", json={"outcome": "upheld", "note": "agreed"}, headers=qa
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "upheld"
    after = (await gateway.get(f"/v1/qa/evaluations/{evaluation['id']}", headers=qa)).json()
    assert after["hits"][index]["review"] == "overturned"
    assert after["final_score"] > after["total_score"]


async def test_another_agent_cannot_appeal(gateway, gateway_settings) -> None:
    from support import staff_headers

    owner = staff_headers(gateway_settings, role="agent", subject="agent-li")
    other = staff_headers(gateway_settings, role="agent", subject="agent-wang")
    created = await gateway.post(
        "/v1/qa/evaluations",
        json={"agent_id": "agent-li", "turns": [{"role": "agent", "text": "不知道"}]},
        headers=owner,
    )
    response = await gateway.post(
        f"/v1/qa/evaluations/{created.json()['id']}/hits/0/appeals", json={"reason": "not me"}, headers=other
    )
    assert_problem(response, 403, "not_your_evaluation")


async def test_appeal_and_decision_retried_with_an_idempotency_key_return_the_first_reply(
    gateway, gateway_settings
) -> None:
    import uuid

    from support import staff_headers

    agent = staff_headers(gateway_settings, role="agent", subject="agent-zhou")
    qa = staff_headers(gateway_settings, role="qa", subject="inspector-9")
    created = await gateway.post(
        "/v1/qa/evaluations",
        json={"agent_id": "agent-zhou", "turns": [{"role": "agent", "text": "您好，没办法"}]},
        headers=agent,
    )
    evaluation = created.json()
    index = next(i for i, h in enumerate(evaluation["hits"]) if h["rule_id"] == "forbidden-dead-end")
    url = f"/v1/qa/evaluations/{evaluation['id']}/hits/{index}/appeals"
    keyed = {**agent, "Idempotency-Key": f"appeal-{uuid.uuid4().hex[:12]}"}
    first = await gateway.post(url, json={"reason": "context"}, headers=keyed)
    again = await gateway.post(url, json={"reason": "context"}, headers=keyed)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()  # the retry replays; it is not a second (409) appeal
    assert_problem(await gateway.post(url, json={"reason": "context"}, headers=agent), 409, "appeal_already_open")
    assert_problem(await gateway.post(url, json={"reason": "other"}, headers=keyed), 422, "idempotency_key_reused")

    decision = f"/v1/qa/appeals/{first.json()['id']}/decision"
    keyed_qa = {**qa, "Idempotency-Key": f"decide-{uuid.uuid4().hex[:12]}"}
    decided = await gateway.post(decision, json={"outcome": "rejected"}, headers=keyed_qa)
    retried = await gateway.post(decision, json={"outcome": "rejected"}, headers=keyed_qa)
    assert decided.status_code == retried.status_code == 200
    assert decided.json() == retried.json()


async def test_an_evaluation_linked_to_a_ticket_that_does_not_exist_is_refused(gateway, auth) -> None:
    """Issue #14.23: no orphan evaluations (nor risk signals that could never apply)."""
    body = {"ticket_id": str(uuid.uuid4()), "turns": [{"role": "customer", "text": "我要打12315投诉你们"}]}
    assert_problem(await gateway.post("/v1/qa/evaluations", json=body, headers=auth), 400, "unknown_ticket")
    body["ticket_id"] = "not-a-ticket"
    assert_problem(await gateway.post("/v1/qa/evaluations", json=body, headers=auth), 400, "unknown_ticket")


async def test_an_evaluation_links_to_an_existing_ticket_or_is_explicitly_unlinked(gateway, auth) -> None:
    from support import ticket_body

    created = await gateway.post("/v1/tickets", json=ticket_body(f"C-{uuid.uuid4().hex[:10]}"), headers=auth)
    turns = [{"role": "customer", "text": "电视黑屏了"}]
    linked = await gateway.post("/v1/qa/evaluations", json={"ticket_id": created.json()["id"], "turns": turns},
                                headers=auth)
    assert linked.status_code == 201, linked.text
    assert linked.json()["ticket_id"] == created.json()["id"]
    unlinked = await gateway.post("/v1/qa/evaluations", json={"turns": turns}, headers=auth)
    assert unlinked.status_code == 201, unlinked.text
    assert unlinked.json()["ticket_id"] == ""


async def test_the_active_ruleset_is_readable_and_named_in_each_evaluation(gateway, auth) -> None:
    """Issue #14.8: every evaluation names `default` vN, so `default` must be readable."""
    scored = await gateway.post("/v1/qa/evaluations", json={"turns": [{"role": "agent", "text": "您好"}]},
                                headers=auth)
    evaluation = scored.json()
    active = await gateway.get("/v1/qa/active-ruleset", headers=auth)
    assert active.status_code == 200, active.text
    assert (active.json()["ruleset"]["id"], active.json()["ruleset"]["version"]) == (
        evaluation["ruleset_id"], evaluation["ruleset_version"])
    builtin = await gateway.get(f"/v1/qa/rulesets/{evaluation['ruleset_id']}", headers=auth)
    assert builtin.status_code == 200, builtin.text
    assert builtin.json()["builtin"] is True and builtin.json()["version"] == evaluation["ruleset_version"]
    assert builtin.json()["rule_count"] > 0 and builtin.json()["published_at"] is None
    listed = (await gateway.get("/v1/qa/rulesets", headers=auth)).json()["items"]
    assert evaluation["ruleset_id"] in [r["id"] for r in listed]


async def test_qa_switches_the_active_ruleset_at_run_time_and_back(gateway, gateway_settings, auth) -> None:
    from support import staff_headers

    qa = staff_headers(gateway_settings, role="qa", subject="inspector-2")
    builtin = (await gateway.get("/v1/qa/active-ruleset", headers=auth)).json()["ruleset"]
    ruleset_id = f"team-{uuid.uuid4().hex[:10]}"
    assert (await gateway.post("/v1/qa/rulesets", json=ruleset_doc(ruleset_id, 1, ["搞定了"]), headers=qa)).status_code == 201
    assert_problem(await gateway.put("/v1/qa/active-ruleset", json={"ruleset_id": ruleset_id}, headers=auth),
                   403, "qa_admin_only")
    assert_problem(await gateway.put("/v1/qa/active-ruleset", json={"ruleset_id": "no-such-ruleset"}, headers=qa),
                   404, "ruleset_not_found")
    try:
        switched = await gateway.put("/v1/qa/active-ruleset", json={"ruleset_id": ruleset_id}, headers=qa)
        assert switched.status_code == 200, switched.text
        body = switched.json()
        assert (body["ruleset"]["id"], body["ruleset"]["version"], body["activated_by"]) == (ruleset_id, 1, "inspector-2")
        again = await gateway.put("/v1/qa/active-ruleset", json={"ruleset_id": ruleset_id, "version": 1}, headers=qa)
        assert again.json()["activation"] == body["activation"]  # the active one again: no new activation
        scored = await gateway.post("/v1/qa/evaluations", json={"turns": [{"role": "agent", "text": "搞定了"}]},
                                    headers=auth)
        assert (scored.json()["ruleset_id"], scored.json()["ruleset_version"]) == (ruleset_id, 1)
        assert [h["matched_text"] for h in scored.json()["hits"]] == ["搞定了"]
    finally:
        back = await gateway.put("/v1/qa/active-ruleset", json={"ruleset_id": builtin["id"]}, headers=qa)
    assert back.status_code == 200 and back.json()["activation"] > body["activation"]  # versioned history
    scored = await gateway.post("/v1/qa/evaluations", json={"turns": [{"role": "agent", "text": "搞定了"}]},
                                headers=auth)
    assert (scored.json()["ruleset_id"], scored.json()["ruleset_version"]) == (builtin["id"], builtin["version"])


def regex_ruleset_doc(ruleset_id: str, pattern: str) -> dict:
    return {
        "id": ruleset_id,
        "version": 1,
        "rules": [
            {"id": "pattern", "version": 1, "dimension": "compliance", "points": -3,
             "condition": {"operator": "regex", "pattern": pattern}}
        ],
    }


async def test_published_backtracking_regex_scores_at_once_instead_of_stalling(gateway, gateway_settings) -> None:
    from support import staff_headers

    qa = staff_headers(gateway_settings, role="qa")
    ruleset_id = f"team-{uuid.uuid4().hex[:10]}"
    published = await gateway.post("/v1/qa/rulesets", json=regex_ruleset_doc(ruleset_id, "(a+)+$"), headers=qa)
    assert published.status_code == 201, published.text
    scored = await gateway.post(
        "/v1/qa/evaluations",
        json={"ruleset_id": ruleset_id, "turns": [{"role": "agent", "text": "a" * 9_000 + "b"}]},
        headers=qa,
    )
    assert scored.status_code == 201, scored.text
    assert scored.json()["hits"] == []
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200


async def test_unboundable_regex_is_400_unsupported_regex_naming_the_rule_not_500(gateway, gateway_settings) -> None:
    from support import staff_headers

    qa = staff_headers(gateway_settings, role="qa")
    for pattern in ("a{99999999999}", "(" * 499 + "a" + ")" * 499, "(?<=a)b"):
        response = await gateway.post(
            "/v1/qa/rulesets", json=regex_ruleset_doc(f"team-{uuid.uuid4().hex[:10]}", pattern), headers=qa
        )
        body = assert_problem(response, 400, "unsupported_regex")
        assert "rules[0].condition.pattern" in body["detail"]


async def test_an_evaluation_carries_its_masked_transcript_and_hits_point_into_it(gateway, auth) -> None:
    turns = [
        {"role": "customer", "text": "我的电话是13800138000，电视黑屏了"},
        {"role": "agent", "text": "这个我不知道，你自己看吧"},
    ]
    body = (await gateway.post("/v1/qa/evaluations", json={"turns": turns}, headers=auth)).json()
    assert [t["role"] for t in body["turns"]] == ["customer", "agent"]
    assert "13800138000" not in body["turns"][0]["text"] and "138****8000" in body["turns"][0]["text"]
    spoken = [h for h in body["hits"] if h["matched_text"]]
    assert spoken
    for hit in spoken:
        assert body["turns"][hit["turn_index"]]["text"][hit["start"]:hit["end"]] == hit["matched_text"]
