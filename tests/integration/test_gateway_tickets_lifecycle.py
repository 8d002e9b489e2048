"""The ticket lifecycle through the public HTTP API, over the real ticketing service and
PostgreSQL: transitions, reopen, conditional writes (If-Match / ETag), contacts, progress,
notes, timeline, listing and the agent roster."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import httpx
import pytest
from starlette.requests import Request

from support import assert_problem, staff_headers, ticket_body
from kefu_common.errors import ERROR_CODE_METADATA_KEY
from kefu_common.problem import problem_from_rpc_error
from kefu_gateway.problems import mark_conditional, precondition_aware

PROBLEM = "application/problem+json"


def new_customer() -> str:
    return f"C-{uuid.uuid4().hex[:12]}"




def assert_ticket(response: httpx.Response, status_code: int = 200) -> dict[str, Any]:
    assert response.status_code == status_code, response.text
    ticket = response.json()
    assert response.headers["etag"] == f'"{ticket["version"]}"'
    return ticket


async def create(gateway: httpx.AsyncClient, auth: dict[str, str], **overrides: Any) -> dict[str, Any]:
    return assert_ticket(await gateway.post("/v1/tickets", json=ticket_body(**overrides), headers=auth), 201)


async def act(
    gateway: httpx.AsyncClient,
    auth: dict[str, str],
    ticket_id: str,
    action: str,
    body: dict[str, Any] | None = None,
    **headers: str,
) -> httpx.Response:
    return await gateway.post(
        f"/v1/tickets/{ticket_id}/{action}", json=body, headers={**auth, **headers}
    )


async def timeline(
    gateway: httpx.AsyncClient, auth: dict[str, str], ticket_id: str, **params: Any
) -> dict[str, Any]:
    response = await gateway.get(f"/v1/tickets/{ticket_id}/timeline", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def status_path(tl: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [
        (e["status_change"]["from_status"], e["status_change"]["to_status"])
        for e in tl["entries"]
        if e["kind"] == "status_changed"
    ]


@pytest.fixture(scope="module")
def admin(gateway_settings) -> dict[str, str]:
    return staff_headers(gateway_settings, role="admin", subject="test-admin")


# --- lifecycle ------------------------------------------------------------------------------


async def test_full_lifecycle_new_open_pending_resume_resolve_close_reopen_via_api(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    tid = ticket["id"]
    assert (ticket["status"], ticket["version"]) == ("new", 1)
    assert ticket["created_by"] == "test-agent", "the actor is the token's subject"
    assert ticket["resolved_at"] is ticket["closed_at"] is ticket["first_response_at"] is None
    assert ticket["owner"] == {"assignee_id": None, "assignee_name": "", "team": "", "skill_level": 0}

    expected = [
        ("open", "open"),
        ("pend", "pending_customer"),
        ("resume", "open"),
        ("resolve", "resolved"),
        ("close", "closed"),
    ]
    version = ticket["version"]
    for action, status in expected:
        moved = assert_ticket(await act(gateway, auth, tid, action, {"reason": f"step {action}"}))
        assert moved["status"] == status, action
        assert moved["version"] == version + 1, "every transition makes a new version"
        version = moved["version"]
    assert moved["resolved_at"] is not None and moved["closed_at"] is not None

    reopened = assert_ticket(
        await act(gateway, auth, tid, "reopen", {"reason": "还是没收到", "contact_channel": "phone"})
    )
    assert (reopened["id"], reopened["status"], reopened["reopen_count"]) == (tid, "reopened", 1)
    assert reopened["resolved_at"] is None and reopened["closed_at"] is None
    # reopened behaves as open: it can be resolved again
    assert assert_ticket(await act(gateway, auth, tid, "resolve"))["status"] == "resolved"

    tl = await timeline(gateway, auth, tid)
    assert status_path(tl) == [
        (None, "new"),
        ("new", "open"),
        ("open", "pending_customer"),
        ("pending_customer", "open"),
        ("open", "resolved"),
        ("resolved", "closed"),
        ("closed", "reopened"),
        ("reopened", "resolved"),
    ]
    reasons = [e["status_change"]["reason"] for e in tl["entries"] if e["kind"] == "status_changed"]
    assert reasons[1:3] == ["step open", "step pend"]
    assert {e["actor"] for e in tl["entries"] if e["kind"] == "status_changed"} == {"test-agent"}


async def test_transitions_accept_an_empty_body(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    response = await gateway.post(f"/v1/tickets/{ticket['id']}/open", headers=auth)
    assert assert_ticket(response)["status"] == "open"


ILLEGAL = [
    ("pend", "new"),
    ("resume", "new"),
    ("resolve", "new"),
    ("close", "new"),
    ("reopen", "new"),
]


@pytest.mark.parametrize(("action", "current"), ILLEGAL, ids=[a for a, _ in ILLEGAL])
async def test_illegal_transition_is_400_naming_current_state(gateway, auth, action, current) -> None:
    ticket = await create(gateway, auth)
    problem = assert_problem(await act(gateway, auth, ticket["id"], action), 400, "invalid_transition")
    assert current in problem["detail"]
    after = assert_ticket(await gateway.get(f"/v1/tickets/{ticket['id']}", headers=auth))
    assert (after["status"], after["version"]) == (current, ticket["version"])


async def test_closing_an_open_ticket_is_400_naming_open(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    assert_ticket(await act(gateway, auth, ticket["id"], "open"))
    problem = assert_problem(await act(gateway, auth, ticket["id"], "close"), 400, "invalid_transition")
    assert "open" in problem["detail"]


async def test_reopen_increments_reopen_count_and_keeps_history(gateway, auth) -> None:
    customer = new_customer()
    ticket = await create(gateway, auth, customer_id=customer)
    tid = ticket["id"]
    for action in ("open", "resolve"):
        assert_ticket(await act(gateway, auth, tid, action))
    first = assert_ticket(
        await act(gateway, auth, tid, "reopen",
                  {"reason": "客户再次来电", "contact_channel": "phone", "contact_summary": "还是黑屏"})
    )
    assert first["reopen_count"] == 1
    for action in ("resolve", "close"):
        assert_ticket(await act(gateway, auth, tid, action))
    second = assert_ticket(await act(gateway, auth, tid, "reopen", {"reason": "第三次"}))
    assert (second["id"], second["reopen_count"], second["number"]) == (tid, 2, ticket["number"])

    listed = await gateway.get("/v1/tickets", params={"customer_id": customer}, headers=auth)
    assert [t["id"] for t in listed.json()["items"]] == [tid], "reopen never creates a duplicate"

    tl = await timeline(gateway, auth, tid)
    assert [to for _, to in status_path(tl)] == [
        "new", "open", "resolved", "reopened", "resolved", "closed", "reopened",
    ]
    contacts = [e["contact"] for e in tl["entries"] if e["kind"] == "contact"]
    assert [(c["direction"], c["channel"], c["initial"]) for c in contacts] == [
        ("inbound", "app", True),
        ("inbound", "phone", False),
    ], "the reopening contact is logged; the second reopen had no contact"
    assert contacts[1]["summary"] == "还是黑屏"


async def test_reopen_candidates_propose_recently_resolved_ticket_of_same_customer_and_category(
    gateway, auth
) -> None:
    customer = new_customer()
    resolved_logistics = await create(gateway, auth, customer_id=customer, category="logistics")
    still_open = await create(gateway, auth, customer_id=customer, category="logistics")
    resolved_billing = await create(gateway, auth, customer_id=customer, category="billing")
    someone_else = await create(gateway, auth, category="logistics")
    for t in (resolved_logistics, still_open, resolved_billing, someone_else):
        assert_ticket(await act(gateway, auth, t["id"], "open"))
    for t in (resolved_logistics, resolved_billing, someone_else):
        assert_ticket(await act(gateway, auth, t["id"], "resolve"))

    response = await gateway.get(
        "/v1/tickets/reopen-candidates",
        params={"customer_id": customer, "category": "logistics"},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    assert [t["id"] for t in response.json()["items"]] == [resolved_logistics["id"]]

    any_category = await gateway.get(
        "/v1/tickets/reopen-candidates", params={"customer_id": customer, "window_days": 7},
        headers=auth,
    )
    assert [t["id"] for t in any_category.json()["items"]] == [
        resolved_billing["id"], resolved_logistics["id"],
    ], "most recently finished first"

    nobody = await gateway.get(
        "/v1/tickets/reopen-candidates", params={"customer_id": new_customer()}, headers=auth
    )
    assert nobody.json() == {"items": [], "reopen_proposed": []}


@pytest.mark.parametrize(
    "params",
    [{}, {"customer_id": "C-1", "window_days": 0}, {"customer_id": "C-1", "window_days": 366},
     {"customer_id": "C-1", "category": "Not A Category"}, {"customer_id": "C-1", "surprise": "x"}],
    ids=["no customer", "window 0", "window 366", "malformed category", "unknown parameter"],
)
async def test_reopen_candidates_bad_query_is_422(gateway, auth, params) -> None:
    response = await gateway.get("/v1/tickets/reopen-candidates", params=params, headers=auth)
    assert_problem(response, 422, "validation_error")


async def test_reopen_candidates_unknown_category_is_400(gateway, auth) -> None:
    response = await gateway.get(
        "/v1/tickets/reopen-candidates", params={"customer_id": "C-1", "category": "weather"},
        headers=auth,
    )
    assert_problem(response, 400, "invalid_category")


# --- conditional writes ---------------------------------------------------------------------


async def test_stale_if_match_is_412_and_changes_nothing(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    tid = ticket["id"]
    fresh = assert_ticket(
        await gateway.patch(f"/v1/tickets/{tid}", json={"subject": "A"},
                            headers={**auth, "If-Match": '"1"'})
    )
    assert fresh["version"] == 2

    stale = await gateway.patch(
        f"/v1/tickets/{tid}", json={"subject": "B"}, headers={**auth, "If-Match": '"1"'}
    )
    problem = assert_problem(stale, 412, "version_conflict")
    assert problem["title"] == "Precondition Failed"

    stale_transition = await act(gateway, auth, tid, "open", **{"If-Match": '"1"'})
    assert_problem(stale_transition, 412, "version_conflict")
    stale_assign = await act(gateway, auth, tid, "assign", {"assignee_id": None, "team": "x"},
                             **{"If-Match": '"1"'})
    assert_problem(stale_assign, 412, "version_conflict")

    after = assert_ticket(await gateway.get(f"/v1/tickets/{tid}", headers=auth))
    assert (after["subject"], after["status"], after["version"], after["owner"]["team"]) == (
        "A", "new", 2, ""
    )


@pytest.mark.parametrize("tag", ['"1"', 'W/"1"', "1", " \"1\" "], ids=["strong", "weak", "bare", "padded"])
async def test_if_match_accepts_strong_weak_and_bare_tags(gateway, auth, tag) -> None:
    ticket = await create(gateway, auth)
    ok = await act(gateway, auth, ticket["id"], "open", **{"If-Match": tag})
    assert assert_ticket(ok)["version"] == 2
    stale = await act(gateway, auth, ticket["id"], "pend", **{"If-Match": tag})
    assert_problem(stale, 412, "version_conflict")


async def test_if_match_star_is_unconditional(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    assert_ticket(await act(gateway, auth, ticket["id"], "open"))
    response = await act(gateway, auth, ticket["id"], "pend", **{"If-Match": "*"})
    assert assert_ticket(response)["status"] == "pending_customer"


@pytest.mark.parametrize(
    "tag", ["abc", '"1', '"1", "2"', '"0"', '"-1"', 'W/1x', '""', '"1.5"'],
)
async def test_malformed_if_match_is_400_invalid_if_match_and_changes_nothing(gateway, auth, tag) -> None:
    ticket = await create(gateway, auth)
    response = await gateway.patch(
        f"/v1/tickets/{ticket['id']}", json={"subject": "changed"}, headers={**auth, "If-Match": tag}
    )
    assert_problem(response, 400, "invalid_if_match")
    after = assert_ticket(await gateway.get(f"/v1/tickets/{ticket['id']}", headers=auth))
    assert (after["subject"], after["version"]) == (ticket["subject"], 1)


async def test_two_concurrent_updates_with_same_version_one_wins(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    tid = ticket["id"]
    headers = {**auth, "If-Match": f'"{ticket["version"]}"'}
    first, second = await asyncio.gather(
        gateway.patch(f"/v1/tickets/{tid}", json={"subject": "first writer"}, headers=headers),
        gateway.patch(f"/v1/tickets/{tid}", json={"subject": "second writer"}, headers=headers),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 412], (first.text, second.text)
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert_problem(loser, 412, "version_conflict")
    after = assert_ticket(await gateway.get(f"/v1/tickets/{tid}", headers=auth))
    assert after["version"] == 2
    assert after["subject"] == winner.json()["subject"]


def _rpc_error(code: grpc.StatusCode, error_code: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata((ERROR_CODE_METADATA_KEY, error_code)),
        details="ticket is at version 3, not 2",
    )


def _request() -> Request:
    return Request({"type": "http", "method": "PATCH", "path": "/v1/tickets/x", "headers": [],
                    "query_string": b""})


def test_version_conflict_renders_409_unless_the_client_sent_if_match() -> None:
    conflict = _rpc_error(grpc.StatusCode.ABORTED, "version_conflict")
    plain = precondition_aware(_request(), problem_from_rpc_error(conflict))
    assert (plain.status, plain.title, plain.code) == (409, "Conflict", "version_conflict")

    conditional = _request()
    mark_conditional(conditional)
    # The flag lives in the ASGI scope: a second Request on the same scope (as the exception
    # handler gets) sees it.
    seen_by_handler = Request(conditional.scope)
    problem = precondition_aware(seen_by_handler, problem_from_rpc_error(conflict))
    assert (problem.status, problem.title, problem.code) == (412, "Precondition Failed", "version_conflict")

    other = precondition_aware(seen_by_handler, problem_from_rpc_error(
        _rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "invalid_transition")
    ))
    assert other.status == 400, "only version conflicts become 412"


# --- update ---------------------------------------------------------------------------------


async def test_patch_changes_only_the_fields_present_and_tags_replace(gateway, auth) -> None:
    ticket = await create(gateway, auth, tags=["快递"], description="原始描述")
    tid = ticket["id"]
    patched = assert_ticket(
        await gateway.patch(f"/v1/tickets/{tid}", json={"severity": "high", "category": "quality"},
                            headers=auth)
    )
    assert (patched["severity"], patched["category"]) == ("high", "quality")
    assert (patched["subject"], patched["description"], patched["tags"]) == (
        ticket["subject"], "原始描述", ["快递"],
    )
    tagged = assert_ticket(
        await gateway.patch(f"/v1/tickets/{tid}", json={"tags": ["b", "a"]}, headers=auth)
    )
    assert tagged["tags"] == ["a", "b"]
    cleared = assert_ticket(await gateway.patch(f"/v1/tickets/{tid}", json={"tags": []}, headers=auth))
    assert cleared["tags"] == []
    assert cleared["version"] == 4


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"subject": None}, 422, "validation_error"),
        ({"subject": ""}, 422, "validation_error"),
        ({"severity": "apocalyptic"}, 422, "validation_error"),
        ({"status": "closed"}, 422, "validation_error"),
        ({"tags": "a,b"}, 422, "validation_error"),
        ({"category": "weather"}, 400, "invalid_category"),
        pytest.param({"tags": [" "]}, 400, "invalid_tags", id="blank tag"),
    ],
    ids=["null subject", "empty subject", "unknown severity", "status is not patchable",
         "tags not a list", "unknown category", "blank tag"],
)
async def test_bad_patch_is_problem_json_and_changes_nothing(gateway, auth, body, status, code) -> None:
    ticket = await create(gateway, auth)
    response = await gateway.patch(f"/v1/tickets/{ticket['id']}", json=body, headers=auth)
    assert_problem(response, status, code)
    after = assert_ticket(await gateway.get(f"/v1/tickets/{ticket['id']}", headers=auth))
    assert after == ticket


async def test_write_routes_on_an_unknown_ticket_are_404(gateway, auth) -> None:
    missing = str(uuid.uuid4())
    calls = [
        gateway.patch(f"/v1/tickets/{missing}", json={"subject": "x"}, headers=auth),
        act(gateway, auth, missing, "open"),
        act(gateway, auth, missing, "reopen"),
        act(gateway, auth, missing, "assign", {"assignee_id": None}),
        act(gateway, auth, missing, "notes", {"text": "x"}),
        act(gateway, auth, missing, "progress", {"text": "x"}),
        act(gateway, auth, missing, "contacts", {"direction": "inbound", "channel": "app"}),
        gateway.get(f"/v1/tickets/{missing}/timeline", headers=auth),
    ]
    for response in await asyncio.gather(*calls):
        assert_problem(response, 404, "ticket_not_found")


# --- contacts, progress, notes, timeline ----------------------------------------------------


async def test_contacts_are_logged_with_direction_and_channel(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    response = await act(gateway, auth, ticket["id"], "contacts",
                         {"direction": "inbound", "channel": "wechat", "summary": "又来问了",
                          "occurred_at": "2026-01-02T03:04:05+08:00"})
    assert response.status_code == 201, response.text
    contact = response.json()
    assert (contact["ticket_id"], contact["direction"], contact["channel"], contact["initial"]) == (
        ticket["id"], "inbound", "wechat", False,
    )
    assert contact["occurred_at"].startswith("2026-01-01T19:04:05")
    assert contact["actor"] == "test-agent"

    bad = await act(gateway, auth, ticket["id"], "contacts", {"direction": "sideways", "channel": "app"})
    assert_problem(bad, 422, "validation_error")
    future = await act(gateway, auth, ticket["id"], "contacts",
                       {"direction": "inbound", "channel": "app", "occurred_at": "2999-01-01T00:00:00Z"})
    assert_problem(future, 400, "invalid_occurred_at")


async def test_retry_of_progress_with_same_idempotency_key_adds_one_entry(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    body = {"text": "已联系物流公司", "next_step": "明天回电", "promised_at": "2030-01-01T09:00:00Z",
            "owner_direct_line": "+86 10 8888 0001"}
    headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
    first = await gateway.post(f"/v1/tickets/{ticket['id']}/progress", json=body, headers=headers)
    second = await gateway.post(f"/v1/tickets/{ticket['id']}/progress", json=body, headers=headers)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json() == second.json()
    entry = first.json()
    assert (entry["next_step"], entry["owner_direct_line"], entry["actor"]) == (
        "明天回电", "+86 10 8888 0001", "test-agent",
    )
    assert entry["promised_at"].startswith("2030-01-01T09:00:00")

    tl = await timeline(gateway, auth, ticket["id"])
    assert [e["progress"]["id"] for e in tl["entries"] if e["kind"] == "progress"] == [entry["id"]]
    assert tl["ticket"]["first_response_at"] is not None, "a progress entry is a first response"

    reused = await gateway.post(f"/v1/tickets/{ticket['id']}/progress", json={"text": "另一条"},
                                headers=headers)
    assert_problem(reused, 422, "idempotency_key_reused")


async def test_retry_of_a_transition_with_same_idempotency_key_is_not_a_conflict(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    headers = {"Idempotency-Key": uuid.uuid4().hex, "If-Match": '"1"'}
    first = await act(gateway, auth, ticket["id"], "open", **headers)
    second = await act(gateway, auth, ticket["id"], "open", **headers)
    assert assert_ticket(first) == assert_ticket(second)
    assert first.json()["version"] == 2


async def test_bad_idempotency_key_is_400(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    response = await act(gateway, auth, ticket["id"], "notes", {"text": "x"},
                         **{"Idempotency-Key": "no spaces allowed"})
    assert_problem(response, 400, "invalid_idempotency_key")


async def test_customer_visible_timeline_never_contains_internal_notes(gateway, auth) -> None:
    ticket = await create(gateway, auth)
    tid = ticket["id"]
    secret = f"内部备注-{uuid.uuid4().hex}"
    note = await act(gateway, auth, tid, "notes", {"text": secret})
    assert note.status_code == 201, note.text
    assert (note.json()["text"], note.json()["actor"]) == (secret, "test-agent")
    assert (await act(gateway, auth, tid, "progress", {"text": "正在处理"})).status_code == 201
    assert (await act(gateway, auth, tid, "contacts",
                      {"direction": "outbound", "channel": "phone", "summary": "回电"})).status_code == 201
    assert_ticket(await act(gateway, auth, tid, "assign", {"assignee_id": None, "team": "east"}))

    staff_view = await gateway.get(f"/v1/tickets/{tid}/timeline", headers=auth)
    assert secret in staff_view.text, "staff see internal notes by default"
    assert {e["kind"] for e in staff_view.json()["entries"]} == {
        "status_changed", "contact", "progress", "note", "assigned",
    }

    customer_view = await gateway.get(
        f"/v1/tickets/{tid}/timeline", params={"include_internal": "false"}, headers=auth
    )
    assert customer_view.status_code == 200, customer_view.text
    assert secret not in customer_view.text
    kinds = [e["kind"] for e in customer_view.json()["entries"]]
    assert set(kinds) == {"status_changed", "progress"}
    ats = [e["at"] for e in customer_view.json()["entries"]]
    assert ats == sorted(ats), "oldest first"


# --- list -----------------------------------------------------------------------------------


async def test_list_paginates_with_cursor_without_duplicates(gateway, auth) -> None:
    customer = new_customer()
    created = [await create(gateway, auth, customer_id=customer) for _ in range(5)]
    seen: list[dict[str, Any]] = []
    pages = 0
    params: dict[str, Any] = {"customer_id": customer, "page_size": 2}
    while True:
        response = await gateway.get("/v1/tickets", params=params, headers=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
        assert pages < 10
    assert pages == 3
    ids = [t["id"] for t in seen]
    assert len(ids) == len(set(ids)) == 5
    assert set(ids) == {t["id"] for t in created}
    numbers = [t["number"] for t in seen]
    assert numbers == sorted(numbers, reverse=True), "newest first"


async def test_list_filters_by_status_team_and_updated_since(gateway, auth) -> None:
    customer = new_customer()
    team = f"team-{uuid.uuid4().hex[:8]}"
    a = await create(gateway, auth, customer_id=customer, team=team)
    b = await create(gateway, auth, customer_id=customer, channel="phone")
    c = await create(gateway, auth, customer_id=customer, severity="low")
    opened = assert_ticket(await act(gateway, auth, b["id"], "open"))

    async def ids(**params: Any) -> set[str]:
        response = await gateway.get("/v1/tickets", params={"customer_id": customer, **params},
                                     headers=auth)
        assert response.status_code == 200, response.text
        return {t["id"] for t in response.json()["items"]}

    assert await ids(status="open") == {b["id"]}
    assert await ids(status=["new", "open"]) == {a["id"], b["id"], c["id"]}
    assert await ids(status="closed") == set()
    assert await ids(team=team) == {a["id"]}
    assert await ids(channel="phone") == {b["id"]}
    assert await ids(severity="low") == {c["id"]}
    assert await ids(updated_since=opened["updated_at"]) == {b["id"]}


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"status": "sleeping"}, 422, "validation_error"),
        ({"page_size": 0}, 422, "validation_error"),
        ({"page_size": 201}, 422, "validation_error"),
        ({"updated_since": "2026-01-01T00:00:00"}, 422, "validation_error"),
        ({"channel": "pigeon"}, 422, "validation_error"),
        ({"stauts": "open"}, 422, "validation_error"),
        ({"cursor": "!!not-a-cursor!!"}, 400, "invalid_page_token"),
    ],
    ids=["unknown status", "page 0", "page 201", "naive updated_since", "unknown channel",
         "misspelt filter", "bad cursor"],
)
async def test_bad_list_query_is_problem_json(gateway, auth, params, status, code) -> None:
    assert_problem(await gateway.get("/v1/tickets", params=params, headers=auth), status, code)


# --- roster and assignment ------------------------------------------------------------------


async def test_roster_routes_need_admin_or_lead(gateway, gateway_settings) -> None:
    agent = {"id": f"A-{uuid.uuid4().hex[:8]}", "name": "李专员", "team": "east", "skill_level": 3}
    for role in ("agent", "specialist", "qa"):
        headers = staff_headers(gateway_settings, role=role, subject=f"{role}-1")
        assert_problem(await gateway.post("/v1/agents", json=agent, headers=headers), 403, "admin_only")
        assert_problem(await gateway.get("/v1/agents", headers=headers), 403, "admin_only")
    customer = staff_headers(gateway_settings, role="customer", subject="C-1")
    assert_problem(await gateway.get("/v1/agents", headers=customer), 403, "admin_only")
    assert_problem(await gateway.get("/v1/agents"), 401, "missing_token")

    for role in ("admin", "lead"):
        headers = staff_headers(gateway_settings, role=role, subject=f"{role}-1")
        saved = await gateway.post("/v1/agents", json={**agent, "name": f"李专员-{role}"}, headers=headers)
        assert saved.status_code == 200, saved.text
        assert saved.json()["name"] == f"李专员-{role}"
        listed = await gateway.get("/v1/agents", params={"team": "east"}, headers=headers)
        assert listed.status_code == 200
        mine = [a for a in listed.json()["items"] if a["id"] == agent["id"]]
        assert mine == [{**agent, "name": f"李专员-{role}", "specialist": False, "active": True,
                         "direct_line": ""}]


async def test_bad_agent_is_problem_json(gateway, admin) -> None:
    bad_skill = {"id": "A-x", "name": "x", "skill_level": 9}
    assert_problem(await gateway.post("/v1/agents", json=bad_skill, headers=admin), 422, "validation_error")
    bad_line = {"id": "A-x", "name": "x", "direct_line": "call me"}
    assert_problem(await gateway.post("/v1/agents", json=bad_line, headers=admin), 400, "invalid_direct_line")


async def test_assign_to_a_roster_agent_sets_the_owner(gateway, auth, admin) -> None:
    agent_id = f"A-{uuid.uuid4().hex[:8]}"
    team = f"team-{uuid.uuid4().hex[:8]}"
    saved = await gateway.post(
        "/v1/agents", json={"id": agent_id, "name": "张师傅", "team": team, "skill_level": 4},
        headers=admin,
    )
    assert saved.status_code == 200, saved.text
    ticket = await create(gateway, auth)
    assigned = assert_ticket(
        await act(gateway, auth, ticket["id"], "assign", {"assignee_id": agent_id, "reason": "熟悉物流"},
                  **{"If-Match": '"1"'})
    )
    assert assigned["owner"] == {"assignee_id": agent_id, "assignee_name": "张师傅", "team": team,
                                 "skill_level": 4}
    mine = await gateway.get("/v1/tickets", params={"assignee_id": agent_id}, headers=auth)
    assert [t["id"] for t in mine.json()["items"]] == [ticket["id"]]
    tl = await timeline(gateway, auth, ticket["id"])
    assert [e["assignment"] for e in tl["entries"] if e["kind"] == "assigned"] == [
        {"assignee_id": agent_id, "team": team, "reason": "熟悉物流"}
    ]

    unknown = await act(gateway, auth, ticket["id"], "assign", {"assignee_id": "A-nobody"})
    assert_problem(unknown, 400, "unknown_assignee")
    missing_field = await act(gateway, auth, ticket["id"], "assign", {"team": team})
    assert_problem(missing_field, 422, "validation_error")


# --- contract -------------------------------------------------------------------------------


LIFECYCLE_OPERATIONS = {
    ("get", "/v1/tickets"): "listTickets",
    ("get", "/v1/tickets/reopen-candidates"): "findReopenCandidates",
    ("patch", "/v1/tickets/{ticket_id}"): "updateTicket",
    ("post", "/v1/tickets/{ticket_id}/assign"): "assignTicket",
    ("post", "/v1/tickets/{ticket_id}/open"): "openTicket",
    ("post", "/v1/tickets/{ticket_id}/pend"): "pendTicket",
    ("post", "/v1/tickets/{ticket_id}/resume"): "resumeTicket",
    ("post", "/v1/tickets/{ticket_id}/resolve"): "resolveTicket",
    ("post", "/v1/tickets/{ticket_id}/close"): "closeTicket",
    ("post", "/v1/tickets/{ticket_id}/reopen"): "reopenTicket",
    ("post", "/v1/tickets/{ticket_id}/contacts"): "logContact",
    ("post", "/v1/tickets/{ticket_id}/progress"): "addProgress",
    ("post", "/v1/tickets/{ticket_id}/notes"): "addNote",
    ("get", "/v1/tickets/{ticket_id}/timeline"): "getTimeline",
    ("get", "/v1/reports/service-metrics"): "getServiceMetrics",
    ("post", "/v1/agents"): "upsertAgent",
    ("get", "/v1/agents"): "listAgents",
}


async def test_openapi_declares_every_lifecycle_operation_with_problem_responses(gateway) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    for (method, path), operation_id in LIFECYCLE_OPERATIONS.items():
        op = spec["paths"][path][method]
        assert op["operationId"] == operation_id
        assert op["tags"] and op["summary"]
        errors = {s for s in op["responses"] if s.startswith(("4", "5"))}
        assert {"401", "403", "503", "504"} <= errors, operation_id
        for status in errors:
            assert PROBLEM in op["responses"][status]["content"], (operation_id, status)
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        if method != "get":
            assert "Idempotency-Key" in headers, operation_id
    for path in ("/v1/tickets/{ticket_id}", "/v1/tickets/{ticket_id}/resolve",
                 "/v1/tickets/{ticket_id}/reopen", "/v1/tickets/{ticket_id}/assign"):
        op = spec["paths"][path]["patch" if path.endswith("}") else "post"]
        assert "412" in op["responses"]
        assert "If-Match" in {p["name"] for p in op["parameters"] if p["in"] == "header"}
