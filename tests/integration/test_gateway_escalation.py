"""Escalation configuration through the public HTTP API (calendars, SLA policies, matrix),
over the real escalation service and PostgreSQL.

The session database is shared with tests that create tickets against the seeded matrix v1.
The matrix versions published here are exact copies of the latest cells, so no ticket any
other test creates can tell them apart (the matrix changing what new tickets get is tested
over gRPC in test_escalation_admin.py, which restores the cells it changes).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from support import PROBLEM_JSON, assert_problem, staff_headers

H = 3600
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
OFFICE = {
    "tz": "Asia/Shanghai",
    "weekly": {day: ["9:00-12:00", "13:30-18:00"] for day in WEEKDAYS},
    "holidays": ["2026-10-01", "2026-10-02"],
    "extra_workdays": {"2026-10-10": ["09:00-18:00"]},
}


@pytest.fixture(scope="module")
def admin(gateway_settings: Any) -> dict[str, str]:
    return staff_headers(gateway_settings, role="admin", subject="test-admin")


@pytest.fixture(scope="module")
def lead(gateway_settings: Any) -> dict[str, str]:
    return staff_headers(gateway_settings, role="lead", subject="test-lead")


def new_name(prefix: str) -> str:
    return f"t-{prefix}-{uuid.uuid4().hex[:8]}"


def policy_body(**overrides: Any) -> dict[str, Any]:
    return {
        "id": new_name("policy"),
        "name": "测试策略",
        "calendar": "24x7",
        "first_response_seconds": 4 * H,
        "next_update_seconds": 24 * H,
        "resolution_seconds": 48 * H,
        "escalation_ack_seconds": 2 * H,
        **overrides,
    }


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def copy_of(matrix: dict[str, Any]) -> dict[str, Any]:
    return {"note": "test: copy of the latest cells", "cells": matrix["cells"]}


# --- calendars ---------------------------------------------------------------------------


async def test_calendar_upsert_then_read(gateway, admin, auth) -> None:
    name = new_name("office")
    saved = ok(await gateway.put(f"/v1/calendars/{name}", json=OFFICE, headers=admin))
    assert saved["name"] == name
    assert saved["tz"] == "Asia/Shanghai"
    assert saved["weekly"] == {day: ["09:00-12:00", "13:30-18:00"] for day in WEEKDAYS}, "canonical"
    assert saved["holidays"] == ["2026-10-01", "2026-10-02"]
    assert saved["extra_workdays"] == {"2026-10-10": ["09:00-18:00"]}

    # Any staff role reads it back, alone and in the list.
    assert ok(await gateway.get(f"/v1/calendars/{name}", headers=auth)) == saved
    listed = ok(await gateway.get("/v1/calendars", headers=auth))["items"]
    assert saved in listed
    assert {"24x7", "cn-business"} <= {c["name"] for c in listed}

    # The same calendar again changes nothing; a change is stored and read back.
    again = ok(await gateway.put(f"/v1/calendars/{name}", json=OFFICE, headers={
        **admin, "Idempotency-Key": "cal-1"}))
    assert again == saved
    weekend = {**OFFICE, "weekly": {**OFFICE["weekly"], "sat": ["10:00-16:00"]}}
    changed = ok(await gateway.put(f"/v1/calendars/{name}", json=weekend, headers=admin))
    assert changed["weekly"]["sat"] == ["10:00-16:00"]
    assert changed["updated_at"] > saved["updated_at"]
    assert ok(await gateway.get(f"/v1/calendars/{name}", headers=auth)) == changed


async def test_unknown_calendar_is_404(gateway, auth) -> None:
    assert_problem(await gateway.get(f"/v1/calendars/{new_name('nowhere')}", headers=auth), 404,
                   "calendar_not_found")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**OFFICE, "tz": "Asia/Atlantis"}, "unknown time zone 'Asia/Atlantis'"),
        ({**OFFICE, "weekly": {"mon": ["09:00-12:00", "11:30-13:00"]}},
         "intervals 09:00:00-12:00:00 and 11:30:00-13:00:00 overlap"),
        ({**OFFICE, "weekly": {"mon": ["18:00-09:00"]}}, "empty or reversed"),
        ({**OFFICE, "weekly": {}}, "no working hours on any weekday"),
        ({**OFFICE, "weekly": {"mon": ["nine to five"]}}, "is not an interval like '09:00-18:00'"),
        ({**OFFICE, "holidays": ["2026-10-10"]}, "2026-10-10 is both a holiday and an extra workday"),
        ({**OFFICE, "holidays": ["2026-02-30"]}, "'2026-02-30' is not an ISO date"),
        ({**OFFICE, "weekly": {"funday": ["09:00-18:00"]}}, "weekly keys must be mon, tue"),
    ],
    ids=["time zone", "overlap", "reversed", "no hours", "interval", "holiday+workday", "date",
         "weekday"],
)
async def test_bad_calendar_spec_is_a_clear_400(gateway, admin, auth, body, words) -> None:
    name = new_name("bad")
    problem = assert_problem(await gateway.put(f"/v1/calendars/{name}", json=body, headers=admin),
                             400, "invalid_calendar")
    assert words in problem["detail"]
    assert_problem(await gateway.get(f"/v1/calendars/{name}", headers=auth), 404, "calendar_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"weekly": {"mon": ["09:00-18:00"]}},
        {**OFFICE, "weekly": "mon-fri 9-6"},
        {**OFFICE, "holidays": "2026-10-01"},
        {**OFFICE, "colour": "blue"},
    ],
    ids=["no tz", "weekly not a map", "holidays not a list", "unknown field"],
)
async def test_calendar_of_the_wrong_shape_is_422(gateway, admin, body) -> None:
    response = await gateway.put(f"/v1/calendars/{new_name('shape')}", json=body, headers=admin)
    assert_problem(response, 422, "validation_error")


# --- SLA policies ------------------------------------------------------------------------


async def test_policy_publish_adds_versions_and_lists_them(gateway, admin, auth) -> None:
    body = policy_body()
    first = ok(await gateway.post("/v1/escalation/policies", json=body, headers=admin), 201)
    assert first["version"] == 1
    assert {k: first[k] for k in body} == body
    assert first["warning_percent"] == 75
    second = ok(await gateway.post(
        "/v1/escalation/policies", json={**body, "resolution_seconds": 24 * H}, headers=admin
    ), 201)
    assert (second["version"], second["resolution_seconds"]) == (2, 24 * H)

    every = ok(await gateway.get("/v1/escalation/policies", headers=auth,
                                 params={"all_versions": "true", "policy_id": body["id"]}))
    assert every["items"] == [first, second], "version 1 is unchanged"
    latest = ok(await gateway.get("/v1/escalation/policies", headers=auth))
    assert [p for p in latest["items"] if p["id"] == body["id"]] == [second]
    assert {"p1-critical", "p3-high", "p5-low"} <= {p["id"] for p in latest["items"]}


async def test_policy_publish_with_one_idempotency_key_gives_one_version(gateway, admin) -> None:
    body = policy_body()
    headers = {**admin, "Idempotency-Key": f"pol-{uuid.uuid4().hex[:8]}"}
    first = ok(await gateway.post("/v1/escalation/policies", json=body, headers=headers), 201)
    again = ok(await gateway.post("/v1/escalation/policies", json=body, headers=headers), 201)
    assert again == first
    other = {**body, "warning_percent": 80}
    assert_problem(await gateway.post("/v1/escalation/policies", json=other, headers=headers), 422,
                   "idempotency_key_reused")
    # Without the key, the same body publishes the next version.
    assert ok(await gateway.post("/v1/escalation/policies", json=body, headers=admin), 201)["version"] == 2


async def test_policy_on_unknown_calendar_is_a_400(gateway, admin, auth) -> None:
    body = policy_body(calendar="mars-business")
    problem = assert_problem(await gateway.post("/v1/escalation/policies", json=body, headers=admin),
                             400, "calendar_missing")
    assert "mars-business" in problem["detail"]
    listed = ok(await gateway.get("/v1/escalation/policies", headers=auth,
                                  params={"all_versions": "true", "policy_id": body["id"]}))
    assert listed["items"] == []


@pytest.mark.parametrize(
    "overrides",
    [{"first_response_seconds": 0}, {"resolution_seconds": -1}, {"warning_percent": 0},
     {"warning_percent": 100}, {"id": "Upper Case"}, {"name": ""}, {"colour": "blue"}],
)
async def test_bad_policy_is_422(gateway, admin, overrides) -> None:
    response = await gateway.post("/v1/escalation/policies", json=policy_body(**overrides), headers=admin)
    assert_problem(response, 422, "validation_error")


# --- the matrix --------------------------------------------------------------------------


async def test_matrix_reads_the_latest_or_a_given_version(gateway, auth) -> None:
    v1 = ok(await gateway.get("/v1/escalation/matrix", params={"version": 1}, headers=auth))
    assert v1["version"] == 1
    assert len(v1["cells"]) == 12
    cells = {(c["tier"], c["severity"]): c for c in v1["cells"]}
    assert cells["vip", "critical"] == {"tier": "vip", "severity": "critical", "level": "L3",
                                        "policy_id": "p1-critical", "policy_version": 1}
    assert cells["sensitive", "low"]["level"] == "L1"
    assert [c["tier"] for c in v1["cells"]][::4] == ["standard", "vip", "sensitive"]
    latest = ok(await gateway.get("/v1/escalation/matrix", headers=auth))
    assert latest["version"] >= 1
    assert latest["published_at"]
    assert_problem(await gateway.get("/v1/escalation/matrix", params={"version": 2**30},
                                     headers=auth), 404, "matrix_version_not_found")
    assert_problem(await gateway.get("/v1/escalation/matrix", params={"verison": 1}, headers=auth),
                   422, "validation_error")


async def test_matrix_publish_with_one_idempotency_key_gives_one_version(gateway, lead, auth) -> None:
    latest = ok(await gateway.get("/v1/escalation/matrix", headers=auth))
    headers = {**lead, "Idempotency-Key": f"mx-{uuid.uuid4().hex[:8]}"}
    first = ok(await gateway.post("/v1/escalation/matrix", json=copy_of(latest), headers=headers), 201)
    assert first["version"] == latest["version"] + 1
    assert first["cells"] == latest["cells"]
    assert first["note"] == "test: copy of the latest cells"
    again = ok(await gateway.post("/v1/escalation/matrix", json=copy_of(latest), headers=headers), 201)
    assert again == first
    assert ok(await gateway.get("/v1/escalation/matrix", headers=auth)) == first
    earlier = ok(await gateway.get("/v1/escalation/matrix", params={"version": latest["version"]},
                                   headers=auth))
    assert earlier == latest
    reused = {**copy_of(latest), "note": "something else"}
    assert_problem(await gateway.post("/v1/escalation/matrix", json=reused, headers=headers), 422,
                   "idempotency_key_reused")


async def test_incomplete_matrix_is_a_400(gateway, admin, auth) -> None:
    latest = ok(await gateway.get("/v1/escalation/matrix", headers=auth))
    for cells, words in [
        (latest["cells"][:-1], "missing sensitive/critical"),
        ([*latest["cells"], latest["cells"][0]], "more than once standard/low"),
    ]:
        problem = assert_problem(
            await gateway.post("/v1/escalation/matrix", json={"cells": cells}, headers=admin),
            400, "matrix_incomplete",
        )
        assert words in problem["detail"]
    unknown_policy = [{**c, "policy_version": 77} if i == 0 else c for i, c in enumerate(latest["cells"])]
    assert_problem(await gateway.post("/v1/escalation/matrix", json={"cells": unknown_policy},
                                      headers=admin), 400, "policy_missing")
    gold = [{**c, "tier": "gold"} if i == 0 else c for i, c in enumerate(latest["cells"])]
    assert_problem(await gateway.post("/v1/escalation/matrix", json={"cells": gold}, headers=admin),
                   422, "validation_error")
    assert ok(await gateway.get("/v1/escalation/matrix", headers=auth)) == latest, "nothing published"


# --- who may do what ---------------------------------------------------------------------


async def test_writes_need_admin_or_lead(gateway, gateway_settings, auth) -> None:
    matrix = ok(await gateway.get("/v1/escalation/matrix", headers=auth))
    calendar = new_name("cal")
    policy = policy_body()
    writes = [
        ("PUT", f"/v1/calendars/{calendar}", OFFICE),
        ("POST", "/v1/escalation/policies", policy),
        ("POST", "/v1/escalation/matrix", copy_of(matrix)),
    ]
    reads = ["/v1/calendars", "/v1/calendars/24x7", "/v1/escalation/policies", "/v1/escalation/matrix"]
    for role in ("agent", "specialist", "qa"):
        headers = staff_headers(gateway_settings, role=role, subject=f"{role}-1")
        for method, path, body in writes:
            response = await gateway.request(method, path, json=body, headers=headers)
            assert_problem(response, 403, "admin_only")
        for path in reads:
            assert (await gateway.get(path, headers=headers)).status_code == 200, (role, path)
    # Nothing was written.
    assert_problem(await gateway.get(f"/v1/calendars/{calendar}", headers=auth), 404, "calendar_not_found")
    policies = ok(await gateway.get("/v1/escalation/policies", headers=auth,
                                    params={"all_versions": "true", "policy_id": policy["id"]}))
    assert policies["items"] == []
    assert ok(await gateway.get("/v1/escalation/matrix", headers=auth)) == matrix

    customer = staff_headers(gateway_settings, role="customer", subject="C-1")
    for path in reads:
        assert_problem(await gateway.get(path, headers=customer), 403, "staff_only")
    for method, path, body in writes:
        assert_problem(await gateway.request(method, path, json=body, headers=customer), 403, "admin_only")
        assert_problem(await gateway.request(method, path, json=body), 401, "missing_token")

    for role in ("admin", "lead"):
        headers = staff_headers(gateway_settings, role=role, subject=f"{role}-1")
        assert ok(await gateway.put(f"/v1/calendars/{calendar}-{role}", json=OFFICE, headers=headers))
        assert ok(await gateway.post("/v1/escalation/policies", json=policy, headers=headers), 201)


# --- contract ----------------------------------------------------------------------------

OPERATIONS = {
    ("get", "/v1/calendars"): "listCalendars",
    ("get", "/v1/calendars/{name}"): "getCalendar",
    ("put", "/v1/calendars/{name}"): "putCalendar",
    ("get", "/v1/escalation/policies"): "listSlaPolicies",
    ("post", "/v1/escalation/policies"): "publishSlaPolicy",
    ("get", "/v1/escalation/matrix"): "getEscalationMatrix",
    ("post", "/v1/escalation/matrix"): "publishEscalationMatrix",
}


async def test_openapi_declares_the_escalation_operations(gateway) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    for (method, path), operation_id in OPERATIONS.items():
        op = spec["paths"][path][method]
        assert op["operationId"] == operation_id
        assert op["tags"] == ["escalation"]
        assert op["summary"]
        errors = {s for s in op["responses"] if s.startswith(("4", "5"))}
        assert {"401", "403", "422", "503", "504"} <= errors, operation_id
        for status in errors:
            assert PROBLEM_JSON in op["responses"][status]["content"], (operation_id, status)
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        if method != "get":
            assert "Idempotency-Key" in headers, operation_id
            assert {"400", "413"} <= errors, operation_id


async def test_policy_with_an_absolute_warning_threshold_round_trips(gateway, admin) -> None:
    body = policy_body(warning_before_seconds=2 * H)
    created = await gateway.post("/v1/escalation/policies", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["warning_before_seconds"] == 2 * H
    plain = await gateway.post("/v1/escalation/policies", json=policy_body(), headers=admin)
    assert plain.json()["warning_before_seconds"] is None
    bad = await gateway.post("/v1/escalation/policies", json=policy_body(warning_before_seconds=0), headers=admin)
    assert_problem(bad, 422, "validation_error")
