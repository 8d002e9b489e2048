"""Who may see what (DOMAIN.md §5) through the public API, over the real services: customers
see only their own cases and only customer-visible fields, partners only the tickets created
with their own credentials, and neither ever gets internal notes or unmasked personal data.
Also the customer's progress polling: ETag, 304, long poll, and every read counted as a view."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

import support
from support import assert_problem, running_gateway, staff_headers
from kefu_common.db import Database

PHONE = "+86 138 0013 8000"
EMAIL = "wang.li@example.com"
NOTE = "internal: customer threatened to call 12315, handle with care"
CONTACT = "customer rang, very upset, gave ID 110101199003074578"


def new_customer() -> str:
    return f"C-{uuid.uuid4().hex[:12]}"


def ticket_body(customer_id: str, **overrides: Any) -> dict[str, Any]:
    """A ticket whose customer has a phone number and an e-mail address (personal data)."""
    customer = {"id": customer_id, "name": "王女士", "tier": "vip", "phone": PHONE, "email": EMAIL}
    return support.ticket_body(customer=customer, **overrides)


@pytest.fixture(scope="module")
async def running(gateway_settings: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with running_gateway(gateway_settings) as running:
        yield running


@pytest.fixture(scope="module")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, schema="ticketing", pool_size=2)
    yield database
    await database.dispose()


def customer_headers(settings: Any, customer_id: str) -> dict[str, str]:
    return staff_headers(settings, role="customer", subject=customer_id)


def headers_subject(headers: dict[str, str]) -> str:
    """The `sub` of the bearer token in these headers."""
    import jwt

    token = headers["Authorization"].split()[1]
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def partner_headers(settings: Any, partner_id: str) -> dict[str, str]:
    return staff_headers(settings, role="partner", subject=partner_id)


async def views_of(db: Database, ticket_id: str) -> int:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM ticketing.progress_view WHERE ticket_id = :t"),
            {"t": uuid.UUID(ticket_id)},
        )
        return int(result.scalar_one())


async def staff_ticket(client: httpx.AsyncClient, auth: dict[str, str], customer_id: str) -> str:
    """A ticket with everything a customer must never see: PII, a note, a contact summary."""
    created = await client.post("/v1/tickets", json=ticket_body(customer_id), headers=auth)
    assert created.status_code == 201, created.text
    ticket_id: str = created.json()["id"]
    for path, body in [
        ("notes", {"text": NOTE}),
        ("contacts", {"direction": "inbound", "channel": "phone", "summary": CONTACT}),
        ("progress", {"text": "已联系物流公司核实包裹位置", "next_step": "明天回电"}),
    ]:
        response = await client.post(f"/v1/tickets/{ticket_id}/{path}", json=body, headers=auth)
        assert response.status_code == 201, response.text
    return ticket_id


def assert_nothing_internal(response: httpx.Response) -> None:
    """No unmasked personal data, internal note or contact summary anywhere in the body."""
    raw = response.text
    for secret in (PHONE, "13800138000", EMAIL, NOTE, CONTACT, "110101199003074578"):
        assert secret not in raw, f"{secret!r} leaked in {response.request.url.path}"


# --- customers ------------------------------------------------------------------------------


async def test_customer_lists_only_their_own_cases(client, auth, gateway_settings) -> None:
    mine, theirs = new_customer(), new_customer()
    own = {await staff_ticket(client, auth, mine) for _ in range(2)}
    other = await staff_ticket(client, auth, theirs)

    listed = await client.get("/v1/customer/cases", headers=customer_headers(gateway_settings, mine))
    assert listed.status_code == 200, listed.text
    assert {c["id"] for c in listed.json()["items"]} == own
    assert other not in listed.text
    assert_nothing_internal(listed)


async def test_customer_cannot_widen_the_listing_to_another_customer(client, auth, gateway_settings) -> None:
    mine, theirs = new_customer(), new_customer()
    await staff_ticket(client, auth, theirs)
    headers = customer_headers(gateway_settings, mine)
    # An unknown filter is refused rather than silently honoured or ignored.
    response = await client.get("/v1/customer/cases", params={"customer_id": theirs}, headers=headers)
    assert_problem(response, 422, "validation_error")
    assert (await client.get("/v1/customer/cases", headers=headers)).json()["items"] == []


async def test_customer_reading_another_customers_case_gets_404_like_a_missing_one(
    client, auth, gateway_settings, db
) -> None:
    a, b = new_customer(), new_customer()
    b_ticket = await staff_ticket(client, auth, b)
    headers = customer_headers(gateway_settings, a)

    other = await client.get(f"/v1/customer/cases/{b_ticket}/progress", headers=headers)
    missing = await client.get(f"/v1/customer/cases/{uuid.uuid4()}/progress", headers=headers)
    assert_problem(other, 404, "ticket_not_found")
    assert_problem(missing, 404, "ticket_not_found")
    assert other.json()["detail"].replace(b_ticket, "ID") == missing.json()["detail"].replace(
        missing.request.url.path.split("/")[4], "ID"
    )
    assert await views_of(db, b_ticket) == 0  # nothing recorded on B's case either


async def test_customer_progress_shows_only_customer_visible_entries(client, auth, gateway_settings) -> None:
    customer = new_customer()
    ticket_id = await staff_ticket(client, auth, customer)
    response = await client.get(
        f"/v1/customer/cases/{ticket_id}/progress", headers=customer_headers(gateway_settings, customer)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["case"]["id"] == ticket_id
    assert set(body["case"]) == {
        "id", "number", "status", "category", "subject", "channel", "reopen_count",
        "first_contact_at", "updated_at", "resolved_at", "closed_at",
    }
    assert [e["kind"] for e in body["entries"]] == ["status_changed", "progress"]
    assert body["entries"][1]["next_step"] == "明天回电"
    assert_nothing_internal(response)
    for internal in ("test-agent", "sensitive", "created_by", "assignee", "tier", "sla"):
        assert internal not in response.text


async def test_customer_tokens_cannot_use_the_ticket_desk_routes(client, auth, gateway_settings) -> None:
    customer = new_customer()
    ticket_id = await staff_ticket(client, auth, customer)
    headers = customer_headers(gateway_settings, customer)  # even for their own ticket
    routes = [
        ("GET", "/v1/tickets", None),
        ("GET", f"/v1/tickets/{ticket_id}", None),
        ("GET", f"/v1/tickets/{ticket_id}/timeline", None),
        ("GET", "/v1/tickets/reopen-candidates?customer_id=" + customer, None),
        ("PATCH", f"/v1/tickets/{ticket_id}", {"subject": "x"}),
        ("POST", f"/v1/tickets/{ticket_id}/notes", {"text": "x"}),
    ]
    for method, path, body in routes:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert_nothing_internal(response)


async def test_staff_and_partners_cannot_use_the_customer_routes(client, auth, gateway_settings) -> None:
    for headers in (auth, partner_headers(gateway_settings, "P-any")):
        assert_problem(await client.get("/v1/customer/cases", headers=headers), 403, "customer_only")


# --- progress polling -----------------------------------------------------------------------


async def polled_case(
    client: httpx.AsyncClient, auth: dict[str, str], settings: Any
) -> tuple[str, dict[str, str], str]:
    """A staff-made case of a fresh customer: (ticket id, customer headers, progress path)."""
    customer = new_customer()
    ticket_id = await staff_ticket(client, auth, customer)
    return ticket_id, customer_headers(settings, customer), f"/v1/customer/cases/{ticket_id}/progress"


async def test_unchanged_progress_is_304_without_a_body_and_still_counts_as_a_view(
    client, app, auth, gateway_settings, db
) -> None:
    ticket_id, headers, path = await polled_case(client, auth, gateway_settings)

    first = await client.get(path, headers=headers)
    tag = first.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")  # strong
    again = await client.get(path, headers={**headers, "If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    assert again.headers["ratelimit"]  # the quota is announced on 304s too
    await app.state.clients.views.flush()  # (views answered from a remembered tag are batched)
    assert await views_of(db, ticket_id) == 2


async def test_a_repeated_poll_is_answered_without_ticketing_and_counted_in_the_next_batch(
    client, app, auth, gateway_settings, db
) -> None:
    ticket_id, headers, path = await polled_case(client, auth, gateway_settings)
    tag = (await client.get(path, headers=headers)).headers["etag"]
    conditional = {**headers, "If-None-Match": tag}
    changes = app.state.clients.changes
    while changes.tag_for(ticket_id, headers_subject(headers)) is None:  # the follower is up
        assert (await client.get(path, headers=conditional)).status_code == 304
    await app.state.clients.views.flush()
    counted = await views_of(db, ticket_id)

    cached = await client.get(path, headers=conditional)
    assert cached.status_code == 304 and cached.headers["etag"] == tag
    assert cached.headers["x-request-id"] and cached.headers["ratelimit"]
    assert await views_of(db, ticket_id) == counted  # nothing was asked of ticketing ...
    await app.state.clients.views.flush()
    assert await views_of(db, ticket_id) == counted + 1  # ... and the view still counts


async def test_a_remembered_tag_is_never_used_for_another_caller(client, app, auth, gateway_settings) -> None:
    ticket_id, owner, path = await polled_case(client, auth, gateway_settings)
    tag = (await client.get(path, headers=owner)).headers["etag"]
    while app.state.clients.changes.tag_for(ticket_id, headers_subject(owner)) is None:
        await client.get(path, headers={**owner, "If-None-Match": tag})
    stranger = customer_headers(gateway_settings, new_customer())
    response = await client.get(path, headers={**stranger, "If-None-Match": tag})
    assert_problem(response, 404, "ticket_not_found")
    # Nor for a caller who is not a customer, or whose token does not verify.
    assert_problem(await client.get(path, headers={**auth, "If-None-Match": tag}), 403, "customer_only")
    forged = {"Authorization": owner["Authorization"][:-2] + "xx", "If-None-Match": tag}
    assert_problem(await client.get(path, headers=forged), 401, "invalid_token")


async def seen_by_gateway(app: Any, ticket_id: str, generation: int) -> None:
    """Wait until the gateway's event follower has seen a change of the ticket after
    `generation` (a remembered tag may answer until then: the stream's delay)."""
    changes = app.state.clients.changes
    for _ in range(1000):
        if changes.generation(ticket_id) > generation:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the change never reached the gateway's event follower")


async def test_progress_etag_changes_with_a_new_progress_entry_and_with_a_status_change(
    client, app, auth, gateway_settings
) -> None:
    ticket_id, headers, path = await polled_case(client, auth, gateway_settings)
    tags = [(await client.get(path, headers=headers)).headers["etag"]]
    changes = app.state.clients.changes

    generation = changes.generation(ticket_id)
    await client.post(f"/v1/tickets/{ticket_id}/progress", json={"text": "包裹已找到"}, headers=auth)
    await seen_by_gateway(app, ticket_id, generation)
    changed = await client.get(path, headers={**headers, "If-None-Match": tags[-1]})
    assert changed.status_code == 200
    assert changed.json()["entries"][-1]["text"] == "包裹已找到"
    tags.append(changed.headers["etag"])

    generation = changes.generation(ticket_id)
    await client.post(f"/v1/tickets/{ticket_id}/open", headers=auth)
    await seen_by_gateway(app, ticket_id, generation)
    changed = await client.get(path, headers={**headers, "If-None-Match": tags[-1]})
    assert changed.status_code == 200
    assert changed.json()["case"]["status"] == "open"
    tags.append(changed.headers["etag"])
    assert len(set(tags)) == 3


async def test_long_poll_returns_as_soon_as_the_case_changes(client, app, auth, gateway_settings) -> None:
    ticket_id, headers, path = await polled_case(client, auth, gateway_settings)
    tag = (await client.get(path, headers=headers)).headers["etag"]

    poll = asyncio.create_task(
        client.get(path, params={"wait": 30}, headers={**headers, "If-None-Match": tag})
    )
    changes = app.state.clients.changes
    while not changes.waiting(ticket_id):  # the poll is parked; now change the case
        assert not poll.done(), poll.result().text
        await asyncio.sleep(0.01)
    await client.post(f"/v1/tickets/{ticket_id}/progress", json={"text": "已安排重新派送"}, headers=auth)

    response = await poll  # a wake-up that never came would end in 304 after 30 s
    assert response.status_code == 200, response.text
    assert response.headers["etag"] != tag
    assert response.json()["entries"][-1]["text"] == "已安排重新派送"


async def test_long_poll_without_a_change_ends_in_304(client, auth, gateway_settings, db) -> None:
    ticket_id, headers, path = await polled_case(client, auth, gateway_settings)
    tag = (await client.get(path, headers=headers)).headers["etag"]
    # A note is internal: it must not end the wait or change the tag.
    await client.post(f"/v1/tickets/{ticket_id}/notes", json={"text": "still checking"}, headers=auth)
    response = await client.get(path, params={"wait": 1}, headers={**headers, "If-None-Match": tag})
    assert response.status_code == 304
    assert response.headers["etag"] == tag
    assert await views_of(db, ticket_id) == 2  # a long poll is one view


async def test_long_poll_wait_is_bounded(client, gateway_settings) -> None:
    headers = customer_headers(gateway_settings, new_customer())
    response = await client.get(f"/v1/customer/cases/{uuid.uuid4()}/progress?wait=31", headers=headers)
    assert_problem(response, 422, "validation_error")


# --- partners -------------------------------------------------------------------------------


async def partner_ticket(client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    created = await client.post("/v1/tickets", json=ticket_body(new_customer(), **overrides), headers=headers)
    assert created.status_code == 201, created.text
    assert_nothing_internal(created)
    return created.json()


async def test_partner_reads_only_tickets_created_with_its_own_credentials(
    client, auth, gateway_settings
) -> None:
    p1 = partner_headers(gateway_settings, f"P-{uuid.uuid4().hex[:8]}")
    p2 = partner_headers(gateway_settings, f"P-{uuid.uuid4().hex[:8]}")
    mine = await partner_ticket(client, p1)
    staff_made = await staff_ticket(client, auth, new_customer())
    assert mine["created_by"].startswith("partner:")

    for path in (f"/v1/tickets/{mine['id']}", f"/v1/tickets/{mine['id']}/timeline"):
        assert (await client.get(path, headers=p1)).status_code == 200
        assert_problem(await client.get(path, headers=p2), 404, "ticket_not_found")
    assert_problem(
        await client.patch(f"/v1/tickets/{mine['id']}", json={"subject": "hijack"}, headers=p2),
        404, "ticket_not_found",
    )
    assert_problem(await client.get(f"/v1/tickets/{staff_made}", headers=p1), 404, "ticket_not_found")

    listed = await client.get("/v1/tickets", headers=p1)
    assert [t["id"] for t in listed.json()["items"]] == [mine["id"]]
    # Asking for someone else's customer does not widen the listing.
    other_customer = await client.get(
        "/v1/tickets", params={"customer_id": mine["customer"]["id"]}, headers=p2
    )
    assert other_customer.json()["items"] == []


async def test_partner_never_gets_unmasked_pii_or_internal_entries(client, auth, gateway_settings) -> None:
    partner = partner_headers(gateway_settings, f"P-{uuid.uuid4().hex[:8]}")
    ticket = await partner_ticket(client, partner)
    ticket_id = ticket["id"]
    assert ticket["customer"]["phone"] == "*********8000"  # 13 digits, last 4 kept
    assert ticket["customer"]["email"] == "w***@example.com"
    await client.post(f"/v1/tickets/{ticket_id}/notes", json={"text": NOTE}, headers=auth)
    await client.post(
        f"/v1/tickets/{ticket_id}/contacts",
        json={"direction": "inbound", "channel": "phone", "summary": CONTACT},
        headers=auth,
    )
    responses = [
        await client.get(f"/v1/tickets/{ticket_id}", headers=partner),
        await client.get("/v1/tickets", headers=partner),
        await client.get(f"/v1/tickets/{ticket_id}/timeline?include_internal=true", headers=partner),
        await client.patch(f"/v1/tickets/{ticket_id}", json={"subject": "新的标题"}, headers=partner),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        assert_nothing_internal(response)
    kinds = {e["kind"] for e in json.loads(responses[2].text)["entries"]}
    assert kinds <= {"status_changed", "progress"}
    # Staff still see everything, unmasked.
    staff_view = await client.get(f"/v1/tickets/{ticket_id}/timeline", headers=auth)
    assert PHONE in staff_view.text and NOTE in staff_view.text


async def test_partner_cannot_do_desk_work(client, gateway_settings) -> None:
    partner = partner_headers(gateway_settings, f"P-{uuid.uuid4().hex[:8]}")
    ticket = await partner_ticket(client, partner)
    for action in ("open", "resolve", "notes", "assign"):
        response = await client.post(f"/v1/tickets/{ticket['id']}/{action}", json={}, headers=partner)
        assert_problem(response, 403, "staff_only")


async def test_partner_idempotent_retry_returns_the_first_ticket_and_creates_nothing(
    client, auth, gateway_settings
) -> None:
    partner = partner_headers(gateway_settings, f"P-{uuid.uuid4().hex[:8]}")
    customer = new_customer()
    headers = {**partner, "Idempotency-Key": "order-42"}
    first = await client.post("/v1/tickets", json=ticket_body(customer), headers=headers)
    retry = await client.post("/v1/tickets", json=ticket_body(customer), headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    listed = await client.get("/v1/tickets", params={"customer_id": customer}, headers=auth)
    assert len(listed.json()["items"]) == 1
