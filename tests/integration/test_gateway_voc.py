"""Voice of customer through the gateway: conversations carry when they happened, a corpus is
imported in batches, the report finds reasons (not boilerplate) per bucket, and it exports."""

from __future__ import annotations

import io
import json
import uuid

from kefu_scoring import importer
from support import assert_problem
from voc_corpus import REFUND, generate, truth_shares


async def test_a_far_past_range_with_a_long_baseline_is_a_problem_not_a_500(gateway, auth) -> None:
    # Issue #14 item 11: the baseline before 0001-02-01 leaves the calendar (date overflow).
    response = await gateway.get(
        "/v1/reports/voc",
        params={"start": "0001-02-01T00:00:00Z", "end": "0001-02-08T00:00:00Z", "baseline_days": 366},
        headers=auth,
    )
    assert_problem(response, 400, "invalid_range")
    response = await gateway.get(
        "/v1/reports/voc", params={"start": "0002-01-01", "end": "0002-01-08", "baseline_days": 366},
        headers=auth,
    )
    assert_problem(response, 400, "invalid_range")
    # A year-long range whose previous span would start in year 1 (periods.plan overflows).
    response = await gateway.get(
        "/v1/reports/voc", params={"start": "0002-01-01", "end": "0003-01-01", "baseline_days": 0},
        headers=auth,
    )
    assert_problem(response, 400, "invalid_range")


def conversation(conversation_id: str, text: str, **extra: object) -> dict:
    return {
        "conversation_id": conversation_id,
        "turns": [{"role": "agent", "text": "您好，很高兴为您服务"}, {"role": "customer", "text": text}],
        **extra,
    }


async def test_a_batch_is_scored_item_by_item_and_is_idempotent_per_conversation(gateway, auth) -> None:
    ids = [f"batch-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    items = [
        conversation(ids[0], "遥控器坏了", started_at="2026-09-01T10:00:00+08:00", product="tv-x"),
        conversation(ids[1], "屏幕闪烁"),
        conversation(ids[2], "发票还没开", started_at="2099-01-01T00:00:00Z"),  # in the future
    ]
    first = await gateway.post("/v1/qa/evaluations:batch", json={"items": items}, headers=auth)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["scored"], body["refused"]) == (2, 1)
    assert [i["status"] for i in body["items"]] == ["scored", "scored", "refused"]
    assert body["items"][2]["error"]["code"] == "invalid_started_at"
    assert body["items"][2]["error"]["status"] == 400

    evaluation = await gateway.get(f"/v1/qa/evaluations/{body['items'][0]['evaluation_id']}", headers=auth)
    assert evaluation.json()["started_at"] == "2026-09-01T02:00:00.000000Z"  # the one timestamp format
    assert evaluation.json()["product"] == "tv-x"

    again = await gateway.post("/v1/qa/evaluations:batch", json={"items": items[:2]}, headers=auth)
    assert [i["evaluation_id"] for i in again.json()["items"]] == [i["evaluation_id"] for i in body["items"][:2]]
    changed = [conversation(ids[0], "遥控器又坏了", started_at="2026-09-01T10:00:00+08:00")]
    reused = await gateway.post("/v1/qa/evaluations:batch", json={"items": changed}, headers=auth)
    assert reused.json()["items"][0]["error"]["code"] == "idempotency_key_reused"


async def test_a_batch_item_needs_a_conversation_id(gateway, auth) -> None:
    item = conversation("", "遥控器坏了")
    response = await gateway.post("/v1/qa/evaluations:batch", json={"items": [item]}, headers=auth)
    assert_problem(response, 422, "validation_error")


async def test_a_single_evaluation_carries_started_at_and_product(gateway, auth) -> None:
    created = await gateway.post(
        "/v1/qa/evaluations",
        json=conversation("c-1", "遥控器坏了", started_at="2026-10-02T08:00:00Z", product="tv-x"),
        headers=auth,
    )
    assert created.status_code == 201, created.text
    assert (created.json()["started_at"], created.json()["product"]) == ("2026-10-02T08:00:00.000000Z", "tv-x")


async def test_an_imported_refund_archive_reports_its_true_reasons_per_month_and_exports(
    gateway, auth, tmp_path
) -> None:
    product = f"refund-{uuid.uuid4().hex[:8]}"
    corpus = generate(REFUND, seed=31, n=400)
    for c in corpus:
        c["product"] = product
        c["conversation_id"] = f"{product}-{c['conversation_id']}"
    source = tmp_path / "refunds.jsonl"
    source.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in corpus) + "not json\n")
    gateway.headers.update(auth)
    try:
        summary = await importer.run(source, gateway, 150, io.StringIO())
    finally:
        for key in auth:
            del gateway.headers[key]
    assert (summary["scored"], summary["refused"]) == (400, 1)
    assert summary["refused_lines"][0]["line"] == 401

    params = {"start": "2026-09-01", "end": "2026-11-30", "bucket": "month", "product": product, "examples": 5}
    response = await gateway.get("/v1/reports/voc", params=params, headers=auth)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["start"], report["end"], report["tz"], report["bucket"]) == (
        "2026-09-01", "2026-11-30", "Asia/Shanghai", "month"
    )
    truth = {c["conversation_id"]: c["truth"] for c in corpus}
    shares = truth_shares(corpus)
    top = report["reasons"][:3]
    found = set()
    for reason in top:
        (label,) = {truth[q["conversation_id"]] for q in reason["examples"]}
        found.add(label)
        assert abs(reason["share"] - shares[label]) <= 0.05, (reason["label"], label)
    assert found == set(list(shares)[:3])
    (group,) = report["groups"]
    assert "退款" in group["boilerplate"]  # said in the opening of every call
    assert len(report["series"]) == len(report["reasons"])
    first = report["series"][0]
    assert [b["start"] for b in first["buckets"]] == ["2026-09-01", "2026-10-01", "2026-11-01"]
    assert first["buckets"][1]["previous_start"] == "2026-09-01"
    assert sum(b["values"]["conversations"] for b in first["buckets"]) == top[0]["conversations"]

    csv = await gateway.get("/v1/reports/voc", params={**params, "format": "csv"}, headers=auth)
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8")
    assert text.startswith("\ufeffgroup,bucket_start,bucket_end,reason,conversations,total,share,spike")
    assert len(text.strip().splitlines()) == 1 + 3 * len(report["reasons"])
    xlsx = await gateway.get(
        "/v1/reports/voc", params=params,
        headers={**auth, "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
