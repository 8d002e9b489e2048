"""Browser-ready HTTP (issue #13): CORS from an allow-list in settings (off by default),
compressed large bodies, response headers declared in the OpenAPI (so generated clients can read
ETag and Location), header parameters typed as plain strings, `Cache-Control: private, no-store`
on API bodies, `If-None-Match` -> 304 on ticket reads, `Location` on every 201."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from support import running_gateway, staff_headers, ticket_body

ORIGIN = "https://desk.example.com"


@pytest.fixture(scope="module")
async def running(gateway_settings: Any):
    settings = gateway_settings.model_copy(update={"cors_allow_origins": [ORIGIN]})
    async with running_gateway(settings) as pair:
        yield pair


async def test_cors_is_off_by_default(gateway) -> None:
    preflight = await gateway.options("/v1/tickets", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_preflight_from_an_allowed_origin_is_answered(client) -> None:
    preflight = await client.options("/v1/tickets", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "idempotency-key", "if-match", "if-none-match"} <= {
        h.strip() for h in allowed.split(",")}


async def test_cors_exposes_etag_and_location_to_allowed_origins_only(client, gateway_settings) -> None:
    created = await client.post("/v1/tickets", json=ticket_body(), headers={
        **staff_headers(gateway_settings), "Origin": ORIGIN, "Idempotency-Key": "cors-1"})
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip().lower() for h in created.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "location", "x-request-id", "retry-after", "ratelimit"} <= exposed
    other = await client.get("/v1/tickets", headers={
        **staff_headers(gateway_settings), "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    refused = await client.options("/v1/tickets", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert refused.status_code == 400


async def test_large_bodies_are_gzip_compressed_when_the_client_accepts_it(gateway) -> None:
    raw = await gateway.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    zipped = await gateway.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in raw.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(raw.content) / 4
    assert zipped.json() == raw.json()  # httpx decodes it
    small = await gateway.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers  # below the threshold
    assert gzip  # the stdlib decoder is what httpx uses


async def test_api_bodies_are_private_no_store(gateway, gateway_settings) -> None:
    listed = await gateway.get("/v1/tickets", headers=staff_headers(gateway_settings))
    assert listed.headers["cache-control"] == "private, no-store"
    spec = await gateway.get("/openapi.json")
    assert "no-store" not in spec.headers.get("cache-control", "")


async def test_a_ticket_read_with_its_current_etag_is_304(gateway, gateway_settings) -> None:
    headers = staff_headers(gateway_settings)
    created = await gateway.post("/v1/tickets", json=ticket_body(), headers={**headers, "Idempotency-Key": "inm-1"})
    url = created.headers["location"]
    first = await gateway.get(url, headers=headers)
    assert first.status_code == 200
    again = await gateway.get(url, headers={**headers, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["etag"] == first.headers["etag"]
    assert again.content == b""
    changed = await gateway.patch(url, json={"subject": "快递五天没有更新"},
                                  headers={**headers, "If-Match": first.headers["etag"]})
    assert changed.status_code == 200
    stale = await gateway.get(url, headers={**headers, "If-None-Match": first.headers["etag"]})
    assert stale.status_code == 200
    assert stale.headers["etag"] == changed.headers["etag"] != first.headers["etag"]


def _spec(gateway_settings: Any) -> dict[str, Any]:
    from kefu_gateway.app import create_app

    return create_app(gateway_settings, configure_logs=False).openapi()


def test_every_header_parameter_is_a_plain_string(gateway_settings) -> None:
    headers = [
        (path, p["name"], p["schema"])
        for path, ops in _spec(gateway_settings)["paths"].items()
        for op in ops.values() for p in op.get("parameters", []) if p["in"] == "header"
    ]
    assert len(headers) >= 10
    for path, name, schema in headers:
        assert schema.get("type") == "string" and "anyOf" not in schema, (path, name, schema)


def test_every_response_declares_its_headers(gateway_settings) -> None:
    spec = _spec(gateway_settings)
    created = etagged = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                headers = response.get("headers", {})
                assert headers["X-Request-ID"]["schema"]["type"] == "string", (path, method, status)
                if status == "201":
                    created += 1
                    assert headers["Location"]["required"] is True, (path, method)
                if status in ("429", "503", "504"):
                    assert "Retry-After" in headers, (path, method, status)
                if status == "429":
                    assert {"RateLimit", "RateLimit-Policy"} <= set(headers), (path, method)
                if "ETag" in headers:
                    etagged += 1
    assert created >= 8
    ticket = spec["paths"]["/v1/tickets/{ticket_id}"]["get"]["responses"]
    assert ticket["200"]["headers"]["ETag"]["schema"]["type"] == "string"
    assert "304" in ticket and "ETag" in ticket["304"]["headers"]
    assert spec["paths"]["/v1/tickets"]["post"]["responses"]["201"]["headers"]["ETag"]
    assert etagged >= 10  # every operation that answers with a ticket


async def test_every_201_carries_a_location_that_reads_back(gateway, gateway_settings) -> None:
    """(The green-channel escalation's Location is checked in test_gateway_sla, which has clocks;
    schemathesis checks every declared required header, Location on 201 included, on every
    operation of the spec.)"""
    headers = staff_headers(gateway_settings, role="admin")
    ticket = await gateway.post("/v1/tickets", json=ticket_body(), headers={**headers, "Idempotency-Key": "loc-t"})
    tid = ticket.json()["id"]
    made = {
        "contact": await gateway.post(f"/v1/tickets/{tid}/contacts", json={"direction": "inbound", "channel": "phone"},
                                      headers={**headers, "Idempotency-Key": "loc-c"}),
        "progress": await gateway.post(f"/v1/tickets/{tid}/progress", json={"text": "已联系快递公司"},
                                       headers={**headers, "Idempotency-Key": "loc-p"}),
        "note": await gateway.post(f"/v1/tickets/{tid}/notes", json={"text": "内部备注"},
                                   headers={**headers, "Idempotency-Key": "loc-n"}),
        "evaluation": await gateway.post("/v1/qa/evaluations", json={
            "turns": [{"role": "agent", "text": "您好，请问有什么可以帮您"}]},
            headers={**headers, "Idempotency-Key": "loc-q"}),
    }
    for name, response in made.items():
        assert response.status_code == 201, (name, response.text)
        location = response.headers["location"]
        assert location.startswith("/v1/"), (name, location)
        read = await gateway.get(location.split("#")[0], headers=headers)
        assert read.status_code == 200, (name, location)
