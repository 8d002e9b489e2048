"""Staff find tickets by text (issue #13): subject, description, customer-visible progress and the
customer's own words (inbound contacts); Chinese without spaces matches any substring; every
word of the query must occur; combinable with the other filters; never for customers or partners
(a match in a field they cannot see would tell them what it holds)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kefu_common.db import Database
from support import assert_problem, new_partner_key, staff_headers, ticket_body


async def _ticket(gateway: httpx.AsyncClient, settings: Any, **body: Any) -> str:
    created = await gateway.post("/v1/tickets", json=ticket_body(**body),
                                 headers={**staff_headers(settings), "Idempotency-Key": uuid.uuid4().hex})
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def _search(gateway: httpx.AsyncClient, settings: Any, **params: Any) -> list[str]:
    found = await gateway.get("/v1/tickets", params=params, headers=staff_headers(settings))
    assert found.status_code == 200, found.text
    return [t["id"] for t in found.json()["items"]]


async def test_chinese_text_matches_any_substring_of_subject_description_progress_and_customer_words(
    gateway, gateway_settings
) -> None:
    tag = uuid.uuid4().hex[:6]  # keeps this test's tickets apart from the rest of the suite
    by_subject = await _ticket(gateway, gateway_settings, subject=f"电视开机黑屏{tag}")
    by_description = await _ticket(gateway, gateway_settings, subject=f"投诉{tag}", description="遥控器按键失灵，换了电池也不行")
    by_progress = await _ticket(gateway, gateway_settings, subject=f"物流{tag}")
    await gateway.post(f"/v1/tickets/{by_progress}/progress", json={"text": "已联系顺丰核实包裹位置"},
                       headers=staff_headers(gateway_settings))
    by_contact = await _ticket(gateway, gateway_settings, subject=f"退款{tag}")
    await gateway.post(f"/v1/tickets/{by_contact}/contacts",
                       json={"direction": "inbound", "channel": "phone", "summary": "客户说要去消协投诉"},
                       headers=staff_headers(gateway_settings))
    by_note_only = await _ticket(gateway, gateway_settings, subject=f"备注{tag}")
    await gateway.post(f"/v1/tickets/{by_note_only}/notes", json={"text": "内部：疑似黄牛"},
                       headers=staff_headers(gateway_settings))

    assert await _search(gateway, gateway_settings, q=f"黑屏{tag}") == [by_subject]
    # (each query also names this test's tag: other tests' tickets share the database)
    assert await _search(gateway, gateway_settings, q=f"{tag} 按键失灵") == [by_description]
    assert await _search(gateway, gateway_settings, q=f"{tag} 顺丰") == [by_progress]
    assert await _search(gateway, gateway_settings, q=f"{tag} 消协") == [by_contact]
    assert await _search(gateway, gateway_settings, q=f"{tag} 黄牛") == []  # internal notes are not searched
    assert await _search(gateway, gateway_settings, q=f"顺丰 {tag}") == [by_progress]  # every word, any order
    assert await _search(gateway, gateway_settings, q=f"{tag} 不存在的词") == []


async def test_search_combines_with_filters_and_treats_wildcards_as_text(gateway, gateway_settings) -> None:
    tag = uuid.uuid4().hex[:6]
    refund = await _ticket(gateway, gateway_settings, subject=f"退款 100% {tag}", category="refund")
    await _ticket(gateway, gateway_settings, subject=f"退款 {tag}", category="billing")
    assert await _search(gateway, gateway_settings, q=tag, category="refund") == [refund]
    assert await _search(gateway, gateway_settings, q=f"100% {tag}") == [refund]
    assert await _search(gateway, gateway_settings, q=f"1_0 {tag}") == []  # _ is a character, not a wildcard


async def test_search_is_for_staff_only_and_bounded(gateway, gateway_settings, database_url) -> None:
    db = Database(database_url, schema="gateway", pool_size=1)
    try:
        _, key = await new_partner_key(db)
    finally:
        await db.dispose()
    listed = await gateway.get("/v1/tickets", headers={"X-API-Key": key})
    assert listed.status_code == 200  # a partner lists its own tickets ...
    refused = await gateway.get("/v1/tickets", params={"q": "黑屏"}, headers={"X-API-Key": key})
    assert_problem(refused, 403, "staff_only")  # ... but does not search them
    too_long = await gateway.get("/v1/tickets", params={"q": "字" * 101}, headers=staff_headers(gateway_settings))
    assert_problem(too_long, 422, "validation_error")
