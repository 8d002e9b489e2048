"""The customer app opens and follows its own cases (issue #13): open a case (idempotent),
write to an open case (an inbound contact that never restarts a clock), confirm or dispute a
resolution; a recently resolved case of the same category is proposed instead of a duplicate,
to the app and in the staff create response."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from support import assert_problem, staff_headers, ticket_body


def _customer(settings: Any, customer_id: str) -> dict[str, str]:
    return staff_headers(settings, role="customer", subject=customer_id)


async def _resolved_ticket(gateway: httpx.AsyncClient, settings: Any, customer_id: str, category: str) -> str:
    staff = staff_headers(settings)
    created = await gateway.post("/v1/tickets", json=ticket_body(customer_id, category=category),
                                 headers={**staff, "Idempotency-Key": uuid.uuid4().hex})
    tid = created.json()["id"]
    for action in ("open", "resolve"):
        moved = await gateway.post(f"/v1/tickets/{tid}/{action}", json={}, headers=staff)
        assert moved.status_code == 200, moved.text
    return tid


async def test_the_customer_opens_a_case_once_per_idempotency_key(gateway, gateway_settings) -> None:
    me = f"C-{uuid.uuid4().hex[:10]}"
    headers = {**_customer(gateway_settings, me), "Idempotency-Key": "app-open-1"}
    body = {"category": "quality", "subject": "电视开机黑屏", "description": "买了三个月"}
    first = await gateway.post("/v1/customer/cases", json=body, headers=headers)
    again = await gateway.post("/v1/customer/cases", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["id"] == again.json()["id"]
    assert first.headers["location"] == f"/v1/customer/cases/{first.json()['id']}/progress"
    assert (first.json()["status"], first.json()["channel"]) == ("new", "app")
    mine = await gateway.get("/v1/customer/cases", headers=_customer(gateway_settings, me))
    assert [c["id"] for c in mine.json()["items"]] == [first.json()["id"]]
    staff_view = await gateway.get(f"/v1/tickets/{first.json()['id']}", headers=staff_headers(gateway_settings))
    assert staff_view.json()["customer"]["id"] == me


async def test_a_recently_resolved_case_of_the_same_category_is_proposed_instead_of_a_duplicate(
    gateway, gateway_settings
) -> None:
    me = f"C-{uuid.uuid4().hex[:10]}"
    earlier = await _resolved_ticket(gateway, gateway_settings, me, "logistics")
    body = {"category": "logistics", "subject": "快递又没到"}
    proposed = await gateway.post("/v1/customer/cases", json=body, headers=_customer(gateway_settings, me))
    problem = assert_problem(proposed, 409, "reopen_suggested")
    assert [c["id"] for c in problem["candidates"]] == [earlier]
    other = await gateway.post("/v1/customer/cases", json={**body, "category": "billing"},
                               headers=_customer(gateway_settings, me))
    assert other.status_code == 201  # another category: no proposal
    anyway = await gateway.post("/v1/customer/cases", json={**body, "open_new": True},
                                headers=_customer(gateway_settings, me))
    assert anyway.status_code == 201 and anyway.json()["id"] != earlier


async def test_the_staff_create_response_lists_reopen_candidates(gateway, gateway_settings) -> None:
    me = f"C-{uuid.uuid4().hex[:10]}"
    earlier = await _resolved_ticket(gateway, gateway_settings, me, "refund")
    again = await gateway.post("/v1/tickets", json=ticket_body(me, category="refund"),
                               headers={**staff_headers(gateway_settings), "Idempotency-Key": uuid.uuid4().hex})
    assert again.status_code == 201
    assert [c["id"] for c in again.json()["reopen_candidates"]] == [earlier]
    fresh = await gateway.post("/v1/tickets", json=ticket_body(category="refund"),
                               headers={**staff_headers(gateway_settings), "Idempotency-Key": uuid.uuid4().hex})
    assert fresh.json()["reopen_candidates"] == []


async def test_a_message_on_an_open_case_is_an_inbound_contact_and_not_on_a_resolved_one(
    gateway, gateway_settings
) -> None:
    me = f"C-{uuid.uuid4().hex[:10]}"
    case = (await gateway.post("/v1/customer/cases", json={"category": "quality", "subject": "黑屏"},
                               headers=_customer(gateway_settings, me))).json()
    sent = await gateway.post(f"/v1/customer/cases/{case['id']}/messages",
                              json={"text": "可以下午上门吗", "photo_description": "屏幕左上角有裂痕"},
                              headers={**_customer(gateway_settings, me), "Idempotency-Key": "msg-1"})
    assert sent.status_code == 201, sent.text
    assert "屏幕左上角有裂痕" in sent.json()["text"]
    timeline = await gateway.get(f"/v1/tickets/{case['id']}/timeline", headers=staff_headers(gateway_settings))
    contacts = [e for e in timeline.json()["entries"] if e["kind"] == "contact"]
    assert [(c["contact"]["direction"], c["contact"]["channel"]) for c in contacts][-1] == ("inbound", "app")
    resolved = await _resolved_ticket(gateway, gateway_settings, me, "billing")
    refused = await gateway.post(f"/v1/customer/cases/{resolved}/messages", json={"text": "还在吗"},
                                 headers=_customer(gateway_settings, me))
    assert_problem(refused, 409, "case_not_open")
    stranger = await gateway.post(f"/v1/customer/cases/{case['id']}/messages", json={"text": "hi"},
                                  headers=_customer(gateway_settings, "C-someone-else"))
    assert_problem(stranger, 404, "ticket_not_found")


async def test_confirming_closes_and_disputing_reopens_the_same_case(gateway, gateway_settings) -> None:
    me = f"C-{uuid.uuid4().hex[:10]}"
    first = await _resolved_ticket(gateway, gateway_settings, me, "quality")
    confirmed = await gateway.post(f"/v1/customer/cases/{first}/confirm", headers=_customer(gateway_settings, me))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "closed"
    again = await gateway.post(f"/v1/customer/cases/{first}/confirm", headers=_customer(gateway_settings, me))
    assert again.json()["status"] == "closed"  # idempotent

    second = await _resolved_ticket(gateway, gateway_settings, me, "product")
    headers = {**_customer(gateway_settings, me), "Idempotency-Key": "dispute-1"}
    disputed = await gateway.post(f"/v1/customer/cases/{second}/dispute", json={"reason": "还是黑屏"}, headers=headers)
    assert disputed.status_code == 200, disputed.text
    assert (disputed.json()["id"], disputed.json()["status"], disputed.json()["reopen_count"]) == (
        second, "reopened", 1)
    retried = await gateway.post(f"/v1/customer/cases/{second}/dispute", json={"reason": "还是黑屏"}, headers=headers)
    assert retried.json()["reopen_count"] == 1  # the same reopen, not a second one
    open_case = await gateway.post(f"/v1/customer/cases/{second}/dispute", json={"reason": "again"},
                                   headers=_customer(gateway_settings, me))
    assert_problem(open_case, 409, "case_not_resolved")
    not_resolved = await gateway.post(f"/v1/customer/cases/{second}/confirm", headers=_customer(gateway_settings, me))
    assert_problem(not_resolved, 409, "case_not_resolved")


async def test_staff_cannot_use_the_customer_routes(gateway, gateway_settings) -> None:
    refused = await gateway.post("/v1/customer/cases", json={"category": "quality", "subject": "x"},
                                 headers=staff_headers(gateway_settings))
    assert_problem(refused, 403, "customer_only")
