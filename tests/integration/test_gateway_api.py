"""The public HTTP API in-process (ASGI transport) over the real gRPC services and database."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from support import assert_problem, staff_headers, ticket_body
from kefu_common.db import Database
from kefu_gateway.app import create_app





@pytest.fixture(scope="module")
async def db(database_url: str):
    database = Database(database_url, schema="ticketing", pool_size=2)
    yield database
    await database.dispose()


async def tickets_of(db: Database, customer_id: str) -> int:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM ticketing.ticket WHERE customer_id = :c"), {"c": customer_id}
        )
        return int(result.scalar_one())


async def test_create_then_get_ticket_shows_sla_targets(gateway: httpx.AsyncClient, auth) -> None:
    created = await gateway.post("/v1/tickets", json=ticket_body(severity="high"), headers=auth)
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert created.headers["location"] == f"/v1/tickets/{ticket['id']}"
    assert created.headers["etag"] == '"1"'
    assert ticket["status"] == "new"
    assert ticket["sla"]["level"] == "L1"
    assert {t["name"] for t in ticket["sla"]["targets"]} == {
        "first_response", "next_update", "resolution", "escalation_ack",
    }

    fetched = await gateway.get(f"/v1/tickets/{ticket['id']}", headers=auth)
    assert fetched.status_code == 200
    assert ticket.pop("reopen_candidates") == []  # a first ticket of this customer
    assert fetched.json() == ticket


async def test_idempotency_key_makes_create_safe_to_retry(gateway, auth, db) -> None:
    body = ticket_body()
    headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
    first = await gateway.post("/v1/tickets", json=body, headers=headers)
    second = await gateway.post("/v1/tickets", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert await tickets_of(db, body["customer"]["id"]) == 1


async def test_idempotency_keys_are_scoped_to_the_caller(gateway, gateway_settings, auth) -> None:
    key = uuid.uuid4().hex
    other = staff_headers(gateway_settings, subject="another-agent")
    a = await gateway.post("/v1/tickets", json=ticket_body(), headers={**auth, "Idempotency-Key": key})
    b = await gateway.post("/v1/tickets", json=ticket_body(), headers={**other, "Idempotency-Key": key})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_same_idempotency_key_with_other_body_is_unprocessable(gateway, auth) -> None:
    headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
    assert (await gateway.post("/v1/tickets", json=ticket_body(), headers=headers)).status_code == 201
    again = await gateway.post("/v1/tickets", json=ticket_body(), headers=headers)
    assert_problem(again, 422, "idempotency_key_reused")


BAD_BODIES: list[tuple[str, Any, int, str]] = [
    ("missing subject", lambda b: b.pop("subject"), 422, "validation_error"),
    ("missing customer", lambda b: b.pop("customer"), 422, "validation_error"),
    ("subject wrong type", lambda b: b.update(subject=42), 422, "validation_error"),
    ("tags wrong type", lambda b: b.update(tags="a,b"), 422, "validation_error"),
    ("unknown severity", lambda b: b.update(severity="apocalyptic"), 422, "validation_error"),
    ("unknown channel", lambda b: b.update(channel="pigeon"), 422, "validation_error"),
    ("unknown tier", lambda b: b["customer"].update(tier="gold"), 422, "validation_error"),
    ("unknown field", lambda b: b.update(priority="p1"), 422, "validation_error"),
    ("naive first_contact_at", lambda b: b.update(first_contact_at="2026-01-01T10:00:00"), 422, "validation_error"),
    ("subject too long", lambda b: b.update(subject="长" * 301), 422, "validation_error"),
    ("1 MB description", lambda b: b.update(description="x" * 1_048_576), 413, "payload_too_large"),
    ("unknown category", lambda b: b.update(category="weather"), 400, "invalid_category"),
    ("first contact in the future", lambda b: b.update(first_contact_at="2999-01-01T00:00:00Z"), 400, "invalid_first_contact_at"),
]


@pytest.mark.parametrize(("case", "mutate", "status", "code"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_ticket_input_gets_problem_json_and_writes_nothing(
    gateway, auth, db, case, mutate, status, code
) -> None:
    body = ticket_body()
    customer_id = body["customer"]["id"]
    mutate(body)
    response = await gateway.post("/v1/tickets", json=body, headers=auth)
    problem = assert_problem(response, status, code)
    if code == "validation_error":
        assert problem["errors"], "validation problems list the failing fields"
        assert "x" * 100 not in response.text, "the input is never echoed back"
    assert await tickets_of(db, customer_id) == 0


async def test_malformed_json_is_a_validation_problem(gateway, auth) -> None:
    response = await gateway.post(
        "/v1/tickets", content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    assert_problem(response, 422, "validation_error")


async def test_requests_without_a_valid_token_are_unauthenticated(gateway) -> None:
    response = await gateway.post("/v1/tickets", json=ticket_body())
    assert_problem(response, 401, "missing_token")
    assert response.headers["www-authenticate"] == "Bearer"
    response = await gateway.get(
        f"/v1/tickets/{uuid.uuid4()}", headers={"Authorization": "Bearer not-a-jwt"}
    )
    assert_problem(response, 401, "invalid_token")


async def test_customer_tokens_cannot_use_the_ticket_desk_routes(gateway, gateway_settings) -> None:
    headers = staff_headers(gateway_settings, role="customer", subject="C-1")
    response = await gateway.post("/v1/tickets", json=ticket_body(), headers=headers)
    assert_problem(response, 403, "staff_or_partner_only")


async def test_unknown_ticket_and_unknown_route_are_problem_json(gateway, auth) -> None:
    assert_problem(await gateway.get(f"/v1/tickets/{uuid.uuid4()}", headers=auth), 404, "ticket_not_found")
    assert_problem(await gateway.get("/v1/nothing-here", headers=auth), 404, "not_found")
    assert_problem(await gateway.delete("/v1/tickets", headers=auth), 405, "method_not_allowed")


async def test_callers_request_id_is_echoed_and_a_bad_one_replaced(gateway) -> None:
    ok = await gateway.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert ok.headers["x-request-id"] == "abc-123"
    bad = await gateway.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert bad.headers["x-request-id"] != "bad id\twith spaces"
    assert len(bad.headers["x-request-id"]) == 32


async def test_readiness_reports_every_downstream_service(gateway) -> None:
    response = await gateway.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "ticketing": "serving", "escalation": "serving", "scoring": "serving",
    }


async def test_qa_evaluation_through_the_gateway(gateway, auth) -> None:
    response = await gateway.post(
        "/v1/qa/evaluations",
        json={"turns": [
            {"role": "customer", "text": "我的快递到底在哪里？"},
            {"role": "agent", "text": "这个我不知道，你自己看吧"},
        ]},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    evaluation = response.json()
    assert [h["matched_text"] for h in evaluation["hits"] if h["matched_text"]] == ["不知道", "你自己看"]
    assert all(h["turn_index"] == 1 for h in evaluation["hits"])
    assert evaluation["total_score"] < 100


async def test_qa_evaluation_needs_turns(gateway, auth) -> None:
    response = await gateway.post("/v1/qa/evaluations", json={"turns": []}, headers=auth)
    assert_problem(response, 422, "validation_error")


async def test_downstream_down_gives_503_with_retry_after_not_500(gateway_settings) -> None:
    dead = gateway_settings.model_copy(
        update={"ticketing_addr": "127.0.0.1:1", "scoring_addr": "127.0.0.1:1", "rpc_timeout_seconds": 2}
    )
    app = create_app(dead, configure_logs=False)
    headers = staff_headers(dead)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            response = await client.post("/v1/tickets", json=ticket_body(), headers=headers)
            assert_problem(response, 503, "service_unavailable")
            assert response.headers["retry-after"] == "1"
            ready = await client.get("/readyz")
            assert_problem(ready, 503, "not_ready")


async def test_openapi_declares_problem_responses(gateway) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    create = spec["paths"]["/v1/tickets"]["post"]
    assert create["operationId"] == "createTicket"
    assert "application/problem+json" in create["responses"]["422"]["content"]
    assert "application/problem+json" in create["responses"]["503"]["content"]


@pytest.mark.parametrize(
    ("where", "mutate"),
    [
        ("tag with NUL", lambda b: b.update(tags=["ok", "bad\x00tag"])),
        ("subject with lone surrogate", lambda b: b.update(subject="bad \udb78 subject")),
        ("customer name with NUL", lambda b: b["customer"].update(name="Wang\x00")),
    ],
)
async def test_unstorable_text_is_a_validation_problem_not_a_500(gateway, auth, db, where, mutate) -> None:
    body = ticket_body()
    mutate(body)
    content = json.dumps(body).encode()  # json.dumps escapes the surrogate as \\udb78
    response = await gateway.post(
        "/v1/tickets", content=content, headers={**auth, "content-type": "application/json"}
    )
    assert_problem(response, 422, "validation_error")
    assert await tickets_of(db, body["customer"]["id"]) == 0


async def test_out_of_range_offsets_are_a_validation_problem_not_a_500(gateway, auth) -> None:
    response = await gateway.post(
        "/v1/qa/evaluations",
        json={"turns": [{"role": "bot", "text": "hi", "start_ms": 2**70, "end_ms": 2**70 + 1}]},
        headers=auth,
    )
    assert_problem(response, 422, "validation_error")
