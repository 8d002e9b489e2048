"""Reports over time through the public HTTP API (issue #12), over the real ticketing service
and PostgreSQL: series of service metrics, resolution time, created vs resolved, the backlog
panel, and their CSV/XLSX exports."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest

from support import assert_problem, staff_headers

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def create(
    gateway: httpx.AsyncClient, auth: dict[str, str], *, team: str, category: str = "billing",
    actions: tuple[str, ...] = ("open", "resolve"), first_contact_at: datetime | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": {"id": f"C-{uuid.uuid4().hex[:12]}", "tier": "standard"},
        "channel": "phone", "severity": "normal", "category": category,
        "subject": "账单多扣了钱", "team": team,
    }
    if first_contact_at is not None:
        body["first_contact_at"] = first_contact_at.isoformat()
    created = await gateway.post("/v1/tickets", json=body, headers=auth)
    assert created.status_code == 201, created.text
    ticket = created.json()
    for action in actions:
        await act(gateway, auth, ticket["id"], action)
    return ticket


async def act(gateway, auth, ticket_id: str, action: str, **body: Any) -> None:
    moved = await gateway.post(f"/v1/tickets/{ticket_id}/{action}", json=body or None, headers=auth)
    assert moved.status_code in (200, 201), moved.text


def today() -> date:
    return datetime.now(SHANGHAI).date()


def days(**params: Any) -> dict[str, Any]:
    """Yesterday and today (Shanghai) as day buckets."""
    return {"start": (today() - timedelta(days=1)).isoformat(),
            "end": (today() + timedelta(days=1)).isoformat(), "bucket": "day", **params}


async def report(gateway, auth, path: str, **params: Any) -> dict[str, Any]:
    response = await gateway.get(f"/v1/reports/{path}", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def group(answer: dict[str, Any], name: str) -> list[dict[str, Any]]:
    [series] = [s for s in answer["series"] if s["group"] == name]
    return series["buckets"]


async def test_service_metrics_series_counts_fcr_on_closed_and_contacts_on_resolved(gateway, auth):
    team = f"team-{uuid.uuid4().hex[:8]}"
    closed_once = await create(gateway, auth, team=team, actions=("open", "resolve", "close"))
    await act(gateway, auth, closed_once["id"], "contacts", direction="inbound", channel="phone")
    await act(gateway, auth, closed_once["id"], "contacts", direction="outbound", channel="phone")
    reopened = await create(gateway, auth, team=team, actions=("open", "resolve", "close"))
    await act(gateway, auth, reopened["id"], "reopen")
    await act(gateway, auth, reopened["id"], "resolve")
    await act(gateway, auth, reopened["id"], "close")
    await create(gateway, auth, team=team)  # resolved, not closed
    await create(gateway, auth, team=team, actions=())  # created only

    answer = await report(gateway, auth, "service-metrics", group_by="team", **days())

    assert (answer["bucket"], answer["group_by"], answer["tz"]) == ("day", "team", "Asia/Shanghai")
    yesterday, now = group(answer, team)
    assert (now["start"], now["end"]) == (today().isoformat(), (today() + timedelta(days=1)).isoformat())
    v = now["values"]
    assert (v["closed_tickets"], v["first_contact_resolved"]) == (2, 1)
    assert v["first_contact_resolution_rate"] == 0.5  # DOMAIN.md §4: over closed tickets
    assert v["closure_rate_72h"] == 1.0
    assert v["resolved_tickets"] == 3
    assert v["proactive_contacts"] == 4  # 3 creating contacts + 1 inbound; callbacks never
    assert v["average_proactive_contacts"] == pytest.approx(4 / 3)
    assert v["repeat_contact_tickets"] == 1
    assert v["created_tickets"] == 4
    assert (v["reopens"], v["reopen_rate"]) == (1, pytest.approx(1 / 3))
    # the previous span of today is yesterday: nothing there, zero counts and null ratios
    assert (now["previous_start"], now["previous_end"]) == (yesterday["start"], yesterday["end"])
    assert now["previous"]["closed_tickets"] == 0
    assert now["previous"]["first_contact_resolution_rate"] is None
    assert yesterday["values"]["created_tickets"] == 0  # the bucket is present, with zeros


async def test_ungrouped_series_is_one_series_with_every_bucket(gateway, auth):
    answer = await report(gateway, auth, "service-metrics", start="2001-01-01", end="2001-03-01",
                          bucket="month", compare="none")
    [series] = answer["series"]
    assert series["group"] == ""
    assert [(b["start"], b["end"]) for b in series["buckets"]] == [
        ("2001-01-01", "2001-02-01"), ("2001-02-01", "2001-03-01")]
    assert all(b["previous"] is None and b["values"]["closed_tickets"] == 0 for b in series["buckets"])


async def test_bucket_none_is_the_old_single_period_answer(gateway, auth):
    team = f"team-{uuid.uuid4().hex[:8]}"
    await create(gateway, auth, team=team, actions=("open", "resolve", "close"))
    answer = await report(gateway, auth, "service-metrics", group_by="team",
                          start=(today() - timedelta(days=6)).isoformat(),
                          end=(today() + timedelta(days=1)).isoformat())
    [bucket] = group(answer, team)
    assert bucket["values"]["first_contact_resolution_rate"] == 1.0
    assert bucket["previous_end"] == (today() - timedelta(days=6)).isoformat()
    assert bucket["previous_start"] == (today() - timedelta(days=13)).isoformat()


async def test_ticket_flow_counts_created_resolved_closed_per_bucket(gateway, auth):
    team = f"team-{uuid.uuid4().hex[:8]}"
    await create(gateway, auth, team=team, actions=())
    await create(gateway, auth, team=team)
    await create(gateway, auth, team=team, actions=("open", "resolve", "close"))
    _, now = group(await report(gateway, auth, "ticket-flow", group_by="team", **days()), team)
    assert now["values"] == {"created_tickets": 3, "resolved_tickets": 2, "closed_tickets": 1,
                             "reopens": 0}


async def test_resolution_time_counts_from_the_first_contact(gateway, auth):
    team = f"team-{uuid.uuid4().hex[:8]}"
    await create(gateway, auth, team=team,
                 first_contact_at=datetime.now(UTC) - timedelta(hours=10))
    _, now = group(await report(gateway, auth, "resolution-time", group_by="team", **days()), team)
    assert now["values"]["resolved_tickets"] == 1
    assert now["values"]["resolution_seconds_median"] == pytest.approx(10 * 3600, abs=120)


async def test_series_exports_as_csv_with_previous_columns(gateway, auth):
    team = f"team-{uuid.uuid4().hex[:8]}"
    await create(gateway, auth, team=team, actions=("open", "resolve", "close"))
    response = await gateway.get("/v1/reports/service-metrics", params=days(group_by="team"),
                                 headers={**auth, "Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    start, end = today() - timedelta(days=1), today() + timedelta(days=1)
    assert (f'filename="getServiceMetrics-{start.isoformat()}-{end.isoformat()}.csv"'
            in response.headers["content-disposition"])
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    mine = [r for r in rows if r["group"] == team]
    assert [r["bucket_start"] for r in mine] == [start.isoformat(), today().isoformat()]
    assert mine[1]["closed_tickets"] == "1"
    assert mine[1]["first_contact_resolution_rate"] == "1.0"
    assert mine[1]["previous_closed_tickets"] == "0"
    assert mine[1]["previous_first_contact_resolution_rate"] == ""


async def test_series_exports_as_xlsx(gateway, auth):
    response = await gateway.get("/v1/reports/ticket-flow",
                                 params=days(group_by="team", format="xlsx"), headers=auth)
    assert response.status_code == 200, response.text
    sheet = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True).active
    header = next(sheet.iter_rows(values_only=True))
    assert header == ("group", "bucket_start", "bucket_end", "created_tickets", "resolved_tickets",
                      "closed_tickets", "reopens", "previous_start", "previous_end",
                      "previous_created_tickets", "previous_resolved_tickets",
                      "previous_closed_tickets", "previous_reopens")


async def test_backlog_now_by_status_and_age_band(gateway, auth):
    team = f"team-{uuid.uuid4().hex[:8]}"
    await create(gateway, auth, team=team, actions=())
    await create(gateway, auth, team=team, actions=("open",))
    await create(gateway, auth, team=team, actions=("open",),
                 first_contact_at=datetime.now(UTC) - timedelta(days=2))
    await create(gateway, auth, team=team, actions=("open", "pend"),
                 first_contact_at=datetime.now(UTC) - timedelta(days=9))
    await create(gateway, auth, team=team)  # resolved: not backlog

    answer = await report(gateway, auth, "backlog", group_by="team", page_size=500)
    mine = [(r["status"], r["age_band"], r["tickets"]) for r in answer["items"] if r["group"] == team]
    assert mine == [("new", "0-4h", 1), ("open", "0-4h", 1), ("open", "1-3d", 1),
                    ("pending_customer", "7d+", 1)]

    pages, cursor = [], None
    while True:
        params = {"group_by": "team", "page_size": 2, **({"cursor": cursor} if cursor else {})}
        page = await report(gateway, auth, "backlog", **params)
        pages += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(pages) == len(answer["items"])

    response = await gateway.get("/v1/reports/backlog", params={"group_by": "team", "format": "csv"},
                                 headers=auth)
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["status"], r["age_band"], r["tickets"]) for r in rows if r["group"] == team] == [
        (s, b, str(n)) for s, b, n in mine]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"end": "2026-01-02"}, 422, "validation_error"),
        ({"start": "2026-01-01", "end": "2026-01-02", "group_by": "weekday"}, 422,
         "validation_error"),
        ({"start": "2026-01-01", "end": "2026-01-02", "bucket": "hour"}, 422, "validation_error"),
        ({"start": "2026-01-02", "end": "2026-01-01"}, 400, "invalid_range"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, 400, "invalid_range"),
        ({"start": "2026-01-01", "end": "2026-01-02", "tz": "Mars/Olympus"}, 400,
         "invalid_time_zone"),
        ({"period_start": "2026-01-01T00:00:00Z", "period_end": "2026-01-02T00:00:00Z"}, 422,
         "validation_error"),
    ],
    ids=["no start", "unknown group_by", "unknown bucket", "end before start", "two years",
         "unknown tz", "old period parameters"],
)
async def test_bad_report_query_is_problem_json(gateway, auth, params, status, code) -> None:
    for path in ("service-metrics", "ticket-flow", "resolution-time"):
        response = await gateway.get(f"/v1/reports/{path}", params=params, headers=auth)
        assert_problem(response, status, code)


async def test_reports_are_for_staff_only(gateway, gateway_settings) -> None:
    customer = staff_headers(gateway_settings, role="customer", subject="C-1")
    for path in ("service-metrics", "backlog"):
        response = await gateway.get(f"/v1/reports/{path}", params=days(), headers=customer)
        assert_problem(response, 403, "staff_only")


async def test_ticket_list_exports_every_page_as_csv_and_xlsx(gateway, auth):
    team = f"team-{uuid.uuid4().hex[:8]}"
    made = [await create(gateway, auth, team=team, actions=()) for _ in range(3)]
    response = await gateway.get("/v1/tickets", params={"team": team, "page_size": 1},
                                 headers={**auth, "Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert 'filename="listTickets.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert sorted(r["id"] for r in rows) == sorted(t["id"] for t in made)  # not just one page
    assert {r["owner_team"] for r in rows} == {team}
    assert rows[0]["subject"] == "账单多扣了钱"
    assert "customer_id" in rows[0] and "sla_level" in rows[0]  # nested fields flattened

    xlsx = await gateway.get("/v1/tickets", params={"team": team, "format": "xlsx"}, headers=auth)
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert len(list(sheet.iter_rows(values_only=True))) == 4

    as_json = await gateway.get("/v1/tickets", params={"team": team, "page_size": 1}, headers=auth)
    assert len(as_json.json()["items"]) == 1 and as_json.json()["next_cursor"]


async def test_a_bad_filter_on_an_export_is_still_problem_json(gateway, auth):
    response = await gateway.get("/v1/tickets", params={"cursor": "not-a-cursor", "format": "csv"},
                                 headers=auth)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_openapi_declares_csv_and_xlsx_on_every_report_and_list(gateway):
    spec = (await gateway.get("/openapi.json")).json()
    exportable = [p for p in spec["paths"] if p.startswith("/v1/reports/") and p not in (
        "/v1/reports/sla", "/v1/reports/voc")] + ["/v1/tickets", "/v1/escalations"]
    assert len(exportable) >= 13
    for path in exportable:
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert {"application/json", "text/csv",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"} <= set(content), path
        params = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
        assert "format" in params, path
