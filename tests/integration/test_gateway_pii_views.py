"""Personal data written into free text (ticket subject and description, progress entries,
status reasons) never reaches partners or customers unmasked (DOMAIN.md §5; issue 14 item 10;
docs/decisions.md "PII in free text"): resident IDs and bank cards are masked for both,
phones and e-mails for partners too; the owner's direct line, a field of its own, is shown
as is. Staff see everything. Over the real services and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from kefu_common.db import Database
from support import new_partner_key, staff_headers, ticket_body

ID = "11010519491231002X"  # checksum-valid resident ID
CARD = "4111111111111111"  # Luhn-valid card
PHONE = "13800138000"
EMAIL = "wang.li@example.com"
SPOKEN_PHONE = "一三八，一二三四，五六七八"
FREE_TEXT = f"身份证{ID}，退款到卡{CARD}，电话{PHONE}，邮箱{EMAIL}，或者{SPOKEN_PHONE}"
DIRECT_LINE = "010-88880001"


@pytest.fixture(scope="module")
async def gateway_db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, schema="gateway", pool_size=2)
    yield database
    await database.dispose()


def assert_masked_for_partner(text: str) -> None:
    for raw in (ID, CARD, PHONE, EMAIL, SPOKEN_PHONE):
        assert raw not in text, (raw, text)
    assert "002X" in text and "1111" in text  # masked, not dropped: the tail stays recognisable


def assert_masked_for_customer(text: str) -> None:
    assert ID not in text and CARD not in text, text
    assert PHONE in text and EMAIL in text  # a customer's own contact details stay readable


async def partner_ticket_with_pii(gateway, gateway_db, auth) -> tuple[str, str]:
    _, key = await new_partner_key(gateway_db)
    created = await gateway.post(
        "/v1/tickets",
        json=ticket_body(subject=f"退款 {ID}", description=FREE_TEXT),
        headers={"X-API-Key": key},
    )
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    etag = created.headers["ETag"]
    opened = await gateway.post(f"/v1/tickets/{ticket_id}/open", json={"reason": f"客户卡号{CARD}"},
                                headers={**auth, "If-Match": etag})
    assert opened.status_code == 200, opened.text
    progress = await gateway.post(
        f"/v1/tickets/{ticket_id}/progress",
        json={"text": FREE_TEXT, "next_step": f"回电{PHONE}", "owner_name": "李专员",
              "owner_direct_line": DIRECT_LINE},
        headers=auth,
    )
    assert progress.status_code == 201, progress.text
    return ticket_id, key


async def test_partner_ticket_body_masks_ids_cards_phones_and_emails_in_free_text(gateway, gateway_db, auth) -> None:
    ticket_id, key = await partner_ticket_with_pii(gateway, gateway_db, auth)
    for seen in ((await gateway.get(f"/v1/tickets/{ticket_id}", headers={"X-API-Key": key})).json(),
                 *[t for t in (await gateway.get("/v1/tickets", headers={"X-API-Key": key})).json()["items"]]):
        assert_masked_for_partner(seen["description"])
        assert ID not in seen["subject"]
    staff = (await gateway.get(f"/v1/tickets/{ticket_id}", headers=auth)).json()
    assert staff["description"] == FREE_TEXT and ID in staff["subject"]  # staff see what was written


async def test_partner_timeline_masks_progress_and_reasons_but_keeps_the_owners_direct_line(
    gateway, gateway_db, auth
) -> None:
    ticket_id, key = await partner_ticket_with_pii(gateway, gateway_db, auth)
    timeline = await gateway.get(f"/v1/tickets/{ticket_id}/timeline", headers={"X-API-Key": key})
    assert timeline.status_code == 200, timeline.text
    body = timeline.json()
    [progress] = [e["progress"] for e in body["entries"] if e.get("progress")]
    assert_masked_for_partner(progress["text"])
    assert PHONE not in progress["next_step"]
    assert progress["owner_direct_line"] == DIRECT_LINE
    assert_masked_for_partner(body["ticket"]["description"])
    for raw in (ID, CARD, PHONE, EMAIL):
        assert raw not in timeline.text
    staff = (await gateway.get(f"/v1/tickets/{ticket_id}/timeline", headers=auth)).json()
    assert [e["progress"]["text"] for e in staff["entries"] if e.get("progress")] == [FREE_TEXT]


async def test_customer_app_masks_ids_and_cards_and_keeps_phones_and_the_direct_line(gateway, gateway_settings, auth) -> None:
    customer_id = f"C-{uuid.uuid4().hex[:12]}"
    created = await gateway.post(
        "/v1/tickets", json=ticket_body(customer_id, subject=f"银行卡{CARD}退款", description=FREE_TEXT), headers=auth
    )
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    await gateway.post(
        f"/v1/tickets/{ticket_id}/progress",
        json={"text": FREE_TEXT, "next_step": f"核对身份证{ID}", "owner_direct_line": DIRECT_LINE}, headers=auth,
    )
    customer = staff_headers(gateway_settings, role="customer", subject=customer_id)
    listed = await gateway.get("/v1/customer/cases", headers=customer)
    [case] = listed.json()["items"]
    assert CARD not in case["subject"]
    progress = await gateway.get(f"/v1/customer/cases/{ticket_id}/progress", headers=customer)
    assert progress.status_code == 200, progress.text
    body = progress.json()
    assert CARD not in body["case"]["subject"]
    [entry] = [e for e in body["entries"] if e["kind"] == "progress"]
    assert_masked_for_customer(entry["text"])
    assert ID not in entry["next_step"]
    assert entry["owner_direct_line"] == DIRECT_LINE
    assert ID not in progress.text and CARD not in progress.text
