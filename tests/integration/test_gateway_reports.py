"""Service metrics through the public HTTP API, over the real ticketing service and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from support import assert_problem, staff_headers
from kefu.ticketing.v1 import ticketing_pb2

METRIC_FIELDS = {f.name for f in ticketing_pb2.ServiceMetrics.DESCRIPTOR.fields}


async def create_and_resolve(
    gateway: httpx.AsyncClient, auth: dict[str, str], *, team: str, category: str = "billing"
) -> dict[str, Any]:
    body = {
        "customer": {"id": f"C-{uuid.uuid4().hex[:12]}", "tier": "standard"},
        "channel": "phone",
        "severity": "normal",
        "category": category,
        "subject": "账单多扣了钱",
        "team": team,
    }
    created = await gateway.post("/v1/tickets", json=body, headers=auth)
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["owner"]["team"] == team
    for action in ("open", "resolve"):
        moved = await gateway.post(f"/v1/tickets/{ticket['id']}/{action}", headers=auth)
        assert moved.status_code == 200, moved.text
    return ticket


def around_now() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "period_start": (now - timedelta(hours=1)).isoformat(),
        "period_end": (now + timedelta(hours=1)).isoformat(),
    }


async def metrics(gateway: httpx.AsyncClient, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await gateway.get("/v1/reports/service-metrics", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def test_service_metrics_route_returns_rows(gateway, auth) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    first = await create_and_resolve(gateway, auth, team=team)
    await create_and_resolve(gateway, auth, team=team)
    # A second customer-initiated contact on one ticket: a repeat contact.
    contact = await gateway.post(
        f"/v1/tickets/{first['id']}/contacts", json={"direction": "inbound", "channel": "phone"},
        headers=auth,
    )
    assert contact.status_code == 201, contact.text
    # An agent callback is logged but is not a proactive contact.
    callback = await gateway.post(
        f"/v1/tickets/{first['id']}/contacts", json={"direction": "outbound", "channel": "phone"},
        headers=auth,
    )
    assert callback.status_code == 201, callback.text

    period = around_now()
    report = await metrics(gateway, auth, group_by="team", **period)
    assert report["group_by"] == "team"
    assert datetime.fromisoformat(report["period_start"]) == datetime.fromisoformat(period["period_start"])
    assert datetime.fromisoformat(report["period_end"]) == datetime.fromisoformat(period["period_end"])
    rows = [r for r in report["rows"] if r["group"] == team]
    assert len(rows) == 1, report["rows"]
    row = rows[0]
    assert set(row) == METRIC_FIELDS, "every ServiceMetrics field is exposed"
    assert row["resolved_tickets"] == 2
    assert row["created_tickets"] == 2
    assert row["first_contact_resolved"] == 2
    assert row["first_contact_resolution_rate"] == 1.0
    assert row["proactive_contacts"] == 3  # two creating contacts + one inbound
    assert row["average_proactive_contacts"] == 1.5
    assert row["repeat_contact_tickets"] == 1
    assert row["repeat_contact_ratio"] == 0.5
    assert row["closure_rate_72h"] == 1.0
    assert (row["reopens"], row["reopen_rate"]) == (0, 0.0)
    groups = [r["group"] for r in report["rows"]]
    assert groups == sorted(groups), "rows are ordered by group"

    reopened = await gateway.post(f"/v1/tickets/{first['id']}/reopen", json={}, headers=auth)
    assert reopened.status_code == 200, reopened.text
    after = await metrics(gateway, auth, group_by="team", **period)
    row = next(r for r in after["rows"] if r["group"] == team)
    assert (row["reopens"], row["first_contact_resolved"]) == (1, 1)


async def test_service_metrics_ungrouped_is_exactly_one_row(gateway, auth) -> None:
    long_ago = {"period_start": "2001-01-01T00:00:00Z", "period_end": "2001-02-01T00:00:00Z"}
    report = await metrics(gateway, auth, **long_ago)
    assert report["group_by"] == "none"
    assert len(report["rows"]) == 1
    assert report["rows"][0]["group"] == ""
    assert report["rows"][0]["resolved_tickets"] == report["rows"][0]["created_tickets"] == 0


async def test_service_metrics_can_group_by_category(gateway, auth) -> None:
    await create_and_resolve(gateway, auth, team=f"team-{uuid.uuid4().hex[:8]}", category="refund")
    report = await metrics(gateway, auth, group_by="category", **around_now())
    refund = next(r for r in report["rows"] if r["group"] == "refund")
    assert refund["resolved_tickets"] >= 1


async def test_closure_within_72h_counts_from_first_contact_not_creation(gateway, auth) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    body = {
        "customer": {"id": f"C-{uuid.uuid4().hex[:12]}", "tier": "standard"},
        "channel": "regulator", "severity": "normal", "category": "billing", "subject": "转来的投诉",
        "team": team,
        # A complaint forwarded four days after the customer first reported it.
        "first_contact_at": (datetime.now(UTC) - timedelta(days=4)).isoformat(),
    }
    created = await gateway.post("/v1/tickets", json=body, headers=auth)
    assert created.status_code == 201, created.text
    for action in ("open", "resolve"):
        moved = await gateway.post(f"/v1/tickets/{created.json()['id']}/{action}", headers=auth)
        assert moved.status_code == 200, moved.text
    report = await metrics(gateway, auth, group_by="team", **around_now())
    row = next(r for r in report["rows"] if r["group"] == team)
    assert row["resolved_tickets"] == 1
    assert row["closure_rate_72h"] == 0.0, "resolved 4 days after the first contact"


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"period_end": "2026-01-02T00:00:00Z"}, 422, "validation_error"),
        ({"period_start": "2026-01-01T00:00:00", "period_end": "2026-01-02T00:00:00Z"}, 422,
         "validation_error"),
        ({"period_start": "2026-01-01T00:00:00Z", "period_end": "2026-01-02T00:00:00Z",
          "group_by": "weekday"}, 422, "validation_error"),
        ({"period_start": "2026-01-02T00:00:00Z", "period_end": "2026-01-01T00:00:00Z"}, 400,
         "invalid_period"),
        ({"period_start": "2024-01-01T00:00:00Z", "period_end": "2026-01-01T00:00:00Z"}, 400,
         "invalid_period"),
    ],
    ids=["no start", "naive start", "unknown group_by", "end before start", "two years"],
)
async def test_bad_metrics_query_is_problem_json(gateway, auth, params, status, code) -> None:
    response = await gateway.get("/v1/reports/service-metrics", params=params, headers=auth)
    assert_problem(response, status, code)


async def test_service_metrics_are_for_staff_only(gateway, gateway_settings) -> None:
    customer = staff_headers(gateway_settings, role="customer", subject="C-1")
    response = await gateway.get("/v1/reports/service-metrics", params=around_now(), headers=customer)
    assert_problem(response, 403, "staff_only")
