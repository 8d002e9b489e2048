"""QA reports over time (issue #12): scores per bucket, score distribution per agent and the
rule-hit ranking, over evaluations scored through the API (real scoring service) and placed on
days of their own; the expected figures are computed here from the evaluations' own answers."""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONVERSATIONS = [
    [{"role": "customer", "text": "我要打12315投诉你们！"}, {"role": "agent", "text": "您好，我保证明天一定到账"}],
    [{"role": "agent", "text": "这个我不知道，你自己看吧"}],
    [{"role": "agent", "text": "您好，很高兴为您服务"}, {"role": "customer", "text": "谢谢"},
     {"role": "agent", "text": "感谢您的来电，再见"}],
    [{"role": "agent", "text": "这个我不知道，你自己看吧，我保证明天一定到账"}],
]


@pytest.fixture(scope="module")
def day1() -> date:
    """A day of the far past no other test scores evaluations on."""
    return date(1950, 1, 1) + timedelta(days=random.randrange(365 * 45))


async def score(gateway, auth, scoring_db, agent: str, turns: list, day: date) -> dict:
    created = await gateway.post("/v1/qa/evaluations", json={"agent_id": agent, "turns": turns},
                                 headers=auth)
    assert created.status_code == 201, created.text
    body = created.json()
    at = datetime.combine(day, time(10, 30), tzinfo=SHANGHAI)  # 10:30 local on that day
    async with scoring_db.session() as session:
        await (await session.connection()).execute(
            text("UPDATE scoring.evaluation SET created_at = :at WHERE id = :id"),
            {"at": at, "id": uuid.UUID(body["id"])})
    return body


@pytest.fixture(scope="module")
async def scored(gateway, auth, scoring_db, day1):
    agent_a, agent_b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    day2 = day1 + timedelta(days=1)
    placed = [(agent_a, 0, day1), (agent_a, 1, day1), (agent_b, 2, day1), (agent_a, 3, day2),
              (agent_b, 1, day2)]
    out = []
    for agent, n, day in placed:
        out.append((agent, day, await score(gateway, auth, scoring_db, agent, CONVERSATIONS[n], day)))
    return agent_a, agent_b, out


def _range(day1: date, **params) -> dict:
    return {"start": day1.isoformat(), "end": (day1 + timedelta(days=2)).isoformat(), **params}


async def test_qa_scores_per_day_and_agent(gateway, auth, scored, day1) -> None:
    agent_a, _, evaluations = scored
    response = await gateway.get("/v1/reports/qa-scores", params=_range(day1, bucket="day", group_by="agent"),
                                 headers=auth)
    assert response.status_code == 200, response.text
    [series] = [s for s in response.json()["series"] if s["group"] == agent_a]
    for bucket, day in zip(series["buckets"], (day1, day1 + timedelta(days=1)), strict=True):
        mine = [e for a, d, e in evaluations if a == agent_a and d == day]
        grades = Counter(e["grade"] for e in mine)
        v = bucket["values"]
        assert v["evaluations"] == len(mine)
        assert v["score_mean"] == pytest.approx(sum(e["total_score"] for e in mine) / len(mine))
        assert v["fatal"] == sum(1 for e in mine if e["fatal"])
        assert [v[f"grade_{g.lower()}"] for g in "ABCD"] == [grades[g] for g in "ABCD"]
        predicted = [e["satisfaction"] for e in mine]  # issue #16: predicted satisfaction per bucket
        assert v["satisfaction_mean"] == pytest.approx(sum(p["score"] for p in predicted) / len(mine))
        assert v["predicted_detractors"] == sum(1 for p in predicted if p["label"] == "detractor")
        assert v["predicted_satisfied"] == sum(1 for p in predicted if p["label"] == "satisfied")
    second = series["buckets"][1]
    assert second["previous"] == series["buckets"][0]["values"]  # the day before


async def test_score_distribution_puts_each_evaluation_in_its_bin(gateway, auth, scored, day1) -> None:
    agent_a, agent_b, evaluations = scored
    response = await gateway.get("/v1/reports/qa-score-distribution",
                                 params=_range(day1, group_by="agent", bin_width=20), headers=auth)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    for agent in (agent_a, agent_b):
        rows = [r for r in items if r["group"] == agent]
        assert [r["bin_start"] for r in rows] == [0, 20, 40, 60, 80]  # every bin, zeros included
        expected = Counter(min(int(e["total_score"] // 20) * 20, 80) for a, _, e in evaluations if a == agent)
        assert {r["bin_start"]: r["evaluations"] for r in rows} == {b: expected.get(b, 0) for b in range(0, 100, 20)}
        assert all(r["previous_evaluations"] == 0 for r in rows)


async def test_rule_hit_ranking_counts_hits_and_share_of_evaluations(gateway, auth, scored, day1) -> None:
    _, _, evaluations = scored
    response = await gateway.get("/v1/reports/rule-hits", params=_range(day1, bucket="day"), headers=auth)
    assert response.status_code == 200, response.text
    series = response.json()["series"]
    hits = Counter(h["rule_id"] for _, _, e in evaluations for h in e["hits"])
    assert hits, "the conversations hit rules"
    assert [s["group"] for s in series] == sorted(hits, key=lambda r: (-hits[r], r))  # ranked
    for s in series:
        for bucket, day in zip(s["buckets"], (day1, day1 + timedelta(days=1)), strict=True):
            that_day = [e for _, d, e in evaluations if d == day]
            hit = [e for e in that_day if any(h["rule_id"] == s["group"] for h in e["hits"])]
            v = bucket["values"]
            assert v["hits"] == sum(1 for e in that_day for h in e["hits"] if h["rule_id"] == s["group"])
            assert (v["evaluations_hit"], v["evaluations"]) == (len(hit), len(that_day))
            assert v["share_of_evaluations"] == pytest.approx(len(hit) / len(that_day))

    limited = await gateway.get("/v1/reports/rule-hits", params=_range(day1, limit=1, format="csv"),
                                headers=auth)
    rows = list(csv.DictReader(io.StringIO(limited.content.decode("utf-8-sig"))))
    assert [r["group"] for r in rows] == [series[0]["group"]]
    assert rows[0]["hits"] == str(hits[series[0]["group"]])
    assert rows[0]["previous_hits"] == "0"
