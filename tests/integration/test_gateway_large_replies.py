"""Any stored data stays readable (issue #14, item 20): replies are bounded below the internal
8 MiB gRPC message limit by paging, so a timeline of 290 long notes and a page of 150
maximum-length tickets come back (in pages), never as an error."""

from __future__ import annotations

import asyncio
import uuid

import grpc

from support import new_partner_key, ticket_body
from kefu_common.problem import problem_from_grpc

LONG_NOTE = "记" * 10_000  # the longest note: 30 KB of UTF-8
LONG_DESCRIPTION = "述" * 20_000  # the longest description: 60 KB


async def test_a_timeline_of_290_maximum_length_notes_is_read_whole_in_pages(gateway, auth) -> None:
    created = await gateway.post("/v1/tickets", json=ticket_body(), headers=auth)
    ticket_id = created.json()["id"]
    for batch in range(29):
        replies = await asyncio.gather(*(
            gateway.post(f"/v1/tickets/{ticket_id}/notes", json={"text": f"{batch}-{i} {LONG_NOTE}"[:10_000]},
                         headers=auth)
            for i in range(10)
        ))
        assert {r.status_code for r in replies} == {201}, replies[0].text[:300]
    notes, cursor, pages = 0, None, 0
    while True:
        params = {"cursor": cursor} if cursor else {}
        page = await gateway.get(f"/v1/tickets/{ticket_id}/timeline", params=params, headers=auth)
        assert page.status_code == 200, page.text[:300]
        body = page.json()
        notes += sum(1 for e in body["entries"] if e["kind"] == "note")
        pages += 1
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert notes == 290
    assert pages >= 2  # 8.7 MB of notes cannot be one reply


async def test_a_page_of_200_maximum_length_partner_tickets_comes_back_in_bounded_pages(gateway, gateway_settings) -> None:
    from kefu_common.db import Database

    db = Database(gateway_settings.database_url.get_secret_value(), schema="gateway", pool_size=2)
    try:
        _, key = await new_partner_key(db)
    finally:
        await db.dispose()
    partner = {"X-API-Key": key}
    ids = set()
    for _ in range(15):
        replies = await asyncio.gather(*(
            gateway.post("/v1/tickets", json=ticket_body(description=LONG_DESCRIPTION, subject="长" * 300),
                         headers={**partner, "Idempotency-Key": uuid.uuid4().hex})
            for _ in range(10)
        ))
        for reply in replies:
            assert reply.status_code == 201, reply.text[:300]
            ids.add(reply.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"page_size": 200, **({"cursor": cursor} if cursor else {})}
        page = await gateway.get("/v1/tickets", params=params, headers=partner)
        assert page.status_code == 200, page.text[:300]
        seen += [t["id"] for t in page.json()["items"]]
        cursor = page.json().get("next_cursor")
        if not cursor:
            break
    assert set(seen) == ids and len(seen) == 150  # every ticket once


def test_a_reply_over_the_message_limit_is_not_reported_as_rate_limiting() -> None:
    problem = problem_from_grpc(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                "Received message larger than max (9123456 vs. 8388608)", None)
    assert (problem.status, problem.code) == (502, "reply_too_large")
    assert "8388608" not in problem.detail and "9123456" not in problem.detail
    assert "Retry-After" not in problem.headers
    # a service's own RESOURCE_EXHAUSTED with its code keeps its meaning
    quota = problem_from_grpc(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", [("kefu-error-code", "rate_limited")])
    assert (quota.status, quota.code) == (429, "rate_limited")
