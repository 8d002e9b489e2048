"""The review queue through the gateway: who sees which evaluations and appeals, the query
parameters, and the sampled queue."""

from __future__ import annotations

import uuid

from support import assert_problem, staff_headers

SHIRK = [{"role": "agent", "text": "您好"}, {"role": "agent", "text": "这个我不知道"}]
FATAL = [{"role": "agent", "text": "您好"}, {"role": "agent", "text": "你这个白痴"}]


async def scored(gateway, headers, *, agent: str, team: str, turns=SHIRK) -> dict:
    response = await gateway.post(
        "/v1/qa/evaluations", json={"agent_id": agent, "team": team, "turns": turns}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_agents_see_only_their_own_evaluations_and_reviewers_see_all(gateway, gateway_settings) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    qa = staff_headers(gateway_settings, role="qa", subject="qa-1")
    mine = await scored(gateway, qa, agent="agent-li", team=team)
    theirs = await scored(gateway, qa, agent="agent-wang", team=team)
    agent = staff_headers(gateway_settings, role="agent", subject="agent-li")

    as_agent = await gateway.get("/v1/qa/evaluations", params={"team": team, "agent_id": "agent-wang"}, headers=agent)
    assert as_agent.status_code == 200, as_agent.text
    assert [i["id"] for i in as_agent.json()["items"]] == [mine["id"]]
    as_qa = await gateway.get("/v1/qa/evaluations", params={"team": team}, headers=qa)
    assert [i["id"] for i in as_qa.json()["items"]] == [theirs["id"], mine["id"]]
    item = as_qa.json()["items"][1]
    assert (item["team"], item["agent_id"], item["hit_count"], item["reviewed"]) == (team, "agent-li", len(mine["hits"]), False)


async def test_query_filters_and_cursor_pages(gateway, gateway_settings) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    qa = staff_headers(gateway_settings, role="lead", subject="lead-1")
    made = [await scored(gateway, qa, agent="a", team=team) for _ in range(3)]
    fatal = await scored(gateway, qa, agent="a", team=team, turns=FATAL)
    first = await gateway.get("/v1/qa/evaluations", params={"team": team, "page_size": 2}, headers=qa)
    second = await gateway.get(
        "/v1/qa/evaluations", params={"team": team, "page_size": 2, "cursor": first.json()["next_cursor"]}, headers=qa
    )
    assert [i["id"] for i in first.json()["items"] + second.json()["items"]] == [fatal["id"]] + [
        m["id"] for m in reversed(made)
    ]
    assert second.json()["next_cursor"] is None
    only_fatal = await gateway.get(
        "/v1/qa/evaluations", params={"team": team, "fatal": "true", "grade": ["C", "D"], "max_score": 0}, headers=qa
    )
    assert [i["id"] for i in only_fatal.json()["items"]] == [fatal["id"]]
    by_rule = await gateway.get("/v1/qa/evaluations", params={"team": team, "rule_id": "agent-abuse"}, headers=qa)
    assert [i["id"] for i in by_rule.json()["items"]] == [fatal["id"]]
    today_elsewhere = await gateway.get(
        "/v1/qa/evaluations", params={"team": team, "start": "2020-01-01", "end": "2020-01-02", "tz": "Europe/Berlin"},
        headers=qa,
    )
    assert today_elsewhere.json()["items"] == []


async def test_bad_list_parameters_are_problems(gateway, gateway_settings) -> None:
    qa = staff_headers(gateway_settings, role="qa", subject="qa-1")
    assert_problem(await gateway.get("/v1/qa/evaluations", params={"grade": "E"}, headers=qa), 422, "validation_error")
    assert_problem(await gateway.get("/v1/qa/evaluations", params={"cursor": "garbage"}, headers=qa), 400,
                   "invalid_page_token")
    assert_problem(await gateway.get("/v1/qa/evaluations", params={"min_score": 90, "max_score": 10}, headers=qa),
                   400, "invalid_score_range")
    assert_problem(await gateway.get("/v1/qa/evaluations", params={"start": "2026-01-01", "tz": "Mars/Base"},
                                     headers=qa), 400, "invalid_time_zone")


async def test_review_queue_is_for_reviewers_and_puts_fatal_first(gateway, gateway_settings) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    qa = staff_headers(gateway_settings, role="qa", subject="qa-2")
    await scored(gateway, qa, agent="a", team=team)
    fatal = await scored(gateway, qa, agent="a", team=team, turns=FATAL)
    response = await gateway.get("/v1/qa/review-queue", params={"team": team, "share": 1, "seed": "x"}, headers=qa)
    assert response.status_code == 200, response.text
    assert [(i["id"], i["reason"]) for i in response.json()["items"]][0] == (fatal["id"], "fatal")
    assert [i["reason"] for i in response.json()["items"]] == ["fatal", "sampled"]
    agent = staff_headers(gateway_settings, role="agent", subject="a")
    assert_problem(await gateway.get("/v1/qa/review-queue", headers=agent), 403, "qa_admin_only")
    assert_problem(await gateway.get("/v1/qa/review-queue", params={"share": 2}, headers=qa), 422, "validation_error")


async def test_agents_list_only_their_own_appeals(gateway, gateway_settings) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    qa = staff_headers(gateway_settings, role="qa", subject="qa-3")
    agent_a = f"agent-{uuid.uuid4().hex[:6]}"
    agent_b = f"agent-{uuid.uuid4().hex[:6]}"
    filed = []
    for agent in (agent_a, agent_b):
        evaluation = await scored(gateway, qa, agent=agent, team=team)
        headers = staff_headers(gateway_settings, role="agent", subject=agent)
        appeal = await gateway.post(
            f"/v1/qa/evaluations/{evaluation['id']}/hits/0/appeals", json={"reason": "context"}, headers=headers
        )
        assert appeal.status_code == 201, appeal.text
        filed.append(appeal.json())
    mine = await gateway.get("/v1/qa/appeals", params={"appellant": agent_b},
                             headers=staff_headers(gateway_settings, role="agent", subject=agent_a))
    assert [a["id"] for a in mine.json()["items"]] == [filed[0]["id"]]
    assert mine.json()["items"][0]["team"] == team
    everyone = await gateway.get("/v1/qa/appeals", params={"page_size": 500}, headers=qa)
    ids = [a["id"] for a in everyone.json()["items"]]
    assert filed[0]["id"] in ids and filed[1]["id"] in ids
    assert ids.index(filed[0]["id"]) < ids.index(filed[1]["id"])  # oldest first


async def test_lists_export_as_csv_and_xlsx_walking_every_page(gateway, gateway_settings) -> None:
    import csv
    import io

    import openpyxl

    team = f"team-{uuid.uuid4().hex[:8]}"
    qa = staff_headers(gateway_settings, role="qa", subject="qa-4")
    made = [await scored(gateway, qa, agent="张三", team=team) for _ in range(5)]
    response = await gateway.get("/v1/qa/evaluations", params={"team": team, "page_size": 2},
                                 headers={**qa, "Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="listEvaluations.csv"' in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == [m["id"] for m in reversed(made)]
    assert {r["agent_id"] for r in rows} == {"张三"} and rows[0]["hit_count"] == str(len(made[0]["hits"]))

    xlsx = await gateway.get("/v1/qa/review-queue",
                             params={"team": team, "share": 1, "seed": "s", "format": "xlsx", "page_size": 2},
                             headers=qa)
    assert xlsx.status_code == 200, xlsx.text
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    table = list(sheet.iter_rows(values_only=True))
    header, body = table[0], table[1:]
    assert header[0] == "id" and "reason" in header
    assert sorted(r[0] for r in body) == sorted(m["id"] for m in made)
    assert {r[header.index("reason")] for r in body} == {"sampled"}

    appeals = await gateway.get("/v1/qa/appeals", params={"format": "csv", "evaluation_id": made[0]["id"]}, headers=qa)
    assert appeals.status_code == 200 and appeals.content.decode("utf-8-sig").splitlines()[0].startswith("id,")


async def test_an_agent_cannot_read_another_agents_evaluation(gateway, gateway_settings) -> None:
    qa = staff_headers(gateway_settings, role="qa", subject="qa-5")
    theirs = await scored(gateway, qa, agent="agent-zhao", team="t")
    other = staff_headers(gateway_settings, role="agent", subject="agent-qian")
    assert_problem(await gateway.get(f"/v1/qa/evaluations/{theirs['id']}", headers=other), 404,
                   "evaluation_not_found")
    owner = staff_headers(gateway_settings, role="agent", subject="agent-zhao")
    assert (await gateway.get(f"/v1/qa/evaluations/{theirs['id']}", headers=owner)).status_code == 200
    assert (await gateway.get(f"/v1/qa/evaluations/{theirs['id']}", headers=qa)).status_code == 200
