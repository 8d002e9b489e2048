"""One timestamp format across every body and webhook (issue #13): RFC 3339 in UTC with `Z`
and six fractional digits (kefu_common.timestamps). A ticket's life is driven through the
gateway (partner and staff writes, the customer's app, QA), then every GET route without path
parameters, the ticket's own reads, the CSV and XLSX exports, problem+json answers and a real
webhook delivery are walked: each timestamp-looking string must be in the one format, and
each field that carried one must be declared `format: date-time` in the OpenAPI."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import openpyxl

from support import new_partner_key, staff_headers, ticket_body
from test_gateway_webhooks import Receiver
import test_webhook_standard as standard
from kefu_common.timestamps import RFC3339_UTC, instants_in_one_format, instants_in_text, rfc3339
from kefu_gateway.webhooks import RetryPolicy, deliver_due

# Anything that looks like a date with a time of day, however it is written.
LOOKS_LIKE_A_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)


def test_the_format_is_utc_z_with_six_fractional_digits() -> None:
    assert rfc3339(datetime(2026, 12, 4, 18, 2, 3, tzinfo=UTC)) == "2026-12-04T18:02:03.000000Z"
    beijing = datetime(2026, 12, 5, 2, 2, 3, 120000).astimezone(UTC).replace(tzinfo=None)
    assert rfc3339(beijing.replace(tzinfo=UTC)) == rfc3339(beijing)  # naive is taken as UTC
    east8 = datetime.fromisoformat("2026-12-05T02:02:03.12+08:00")
    assert rfc3339(east8) == "2026-12-04T18:02:03.120000Z"
    assert instants_in_one_format({"due_at": "2026-12-04T18:02:03+00:00", "subject": "2026-12-04T18:02:03",
                                   "changes": {"promised_at": "2026-12-04T18:02:03.123456789Z"}}) == {
        "due_at": "2026-12-04T18:02:03.000000Z", "subject": "2026-12-04T18:02:03",
        "changes": {"promised_at": "2026-12-04T18:02:03.123456Z"}}
    # a reason stored before the one format, as escalation wrote it
    assert instants_in_text("no progress update by 2025-09-28T13:00:00+00:00 (not 2025-09-28T13:00)") == (
        "no progress update by 2025-09-28T13:00:00.000000Z (not 2025-09-28T13:00)")


def timestamps_in(value: Any, path: str = "$") -> list[tuple[str, str]]:
    """(json path, timestamp-looking substring) for every one inside `value`."""
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in timestamps_in(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in timestamps_in(v, f"{path}[{i}]")]
    if isinstance(value, str):
        return [(path, m.group()) for m in LOOKS_LIKE_A_TIMESTAMP.finditer(value)]
    return []


def whole_timestamps_in(value: Any, path: str = "$") -> list[tuple[str, str]]:
    """(json path, value) for every string that is a timestamp and nothing else."""
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in whole_timestamps_in(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in whole_timestamps_in(v, f"{path}[{i}]")]
    if isinstance(value, str) and LOOKS_LIKE_A_TIMESTAMP.fullmatch(value):
        return [(path, value)]
    return []


# The webhook-enabled gateway on a manual clock that starts at a whole second: the gateway's own
# instants (the webhook log) have a zero fraction, so a formatter that drops it shows here.
clock, running = standard.clock, standard.running


def required_query(op: dict[str, Any]) -> dict[str, str]:
    """Values for an operation's required query parameters (report ranges, mostly)."""
    today = date.today()
    values = {"start": (today - timedelta(days=7)).isoformat(), "end": (today + timedelta(days=1)).isoformat()}
    params = {}
    for p in op.get("parameters", []):
        if p["in"] == "query" and p.get("required"):
            params[p["name"]] = values.get(p["name"], "x")
    return params


async def test_every_timestamp_in_bodies_exports_problems_and_webhooks_is_in_the_one_format(
    running, gateway_settings, clock
) -> None:
    app, client = running
    staff = staff_headers(gateway_settings, role="admin", subject="ts-admin")
    _, key = await new_partner_key(app.state.db)
    partner = {"X-API-Key": key}
    bodies: dict[str, Any] = {}

    def keep(label: str, response: httpx.Response) -> Any:
        if response.headers.get("content-type", "").split(";")[0] in ("application/json", "application/problem+json"):
            bodies[label] = response.json()
            return bodies[label]
        return None

    with Receiver(failures=0) as receiver:
        subscribed = await client.post("/v1/webhooks/subscriptions", headers=partner, json={
            "url": receiver.url, "event_types": ["ticket.created", "ticket.status_changed",
                                                 "ticket.progress_added", "ticket.updated"]})
        assert subscribed.status_code == 201, subscribed.text
        customer_id = f"C-ts-{clock.now().timestamp():.0f}"
        created = keep("createTicket", await client.post(
            "/v1/tickets", json=ticket_body(customer_id), headers={**partner, "Idempotency-Key": customer_id}))
        ticket = f"/v1/tickets/{created['id']}"
        # An instant sent with another offset and a millisecond fraction comes back in the one format.
        keep("addProgress", await client.post(f"{ticket}/progress", headers=staff, json={
            "text": "已联系物流", "promised_at": "2026-12-10T10:00:00.5+08:00"}))
        keep("logContact", await client.post(f"{ticket}/contacts", headers=staff, json={
            "direction": "inbound", "channel": "phone", "occurred_at": "2026-12-01T09:00:00+08:00"}))
        keep("updateTicket", await client.patch(ticket, headers={**staff, "Idempotency-Key": f"{customer_id}-u"},
                                                json={"description": "包裹丢失"}))
        keep("openTicket", await client.post(f"{ticket}/open", headers=staff, json={}))
        keep("resolveTicket", await client.post(f"{ticket}/resolve", headers=staff, json={"reason": "已补发"}))
        keep("createEvaluation", await client.post("/v1/qa/evaluations", headers=staff, json={
            "ticket_id": created["id"], "turns": [{"role": "customer", "text": "我要投诉"},
                                                  {"role": "agent", "text": "您好，马上处理"}]}))
        for path in ("", "/timeline", "/sla", "/ratings"):
            keep(f"GET {ticket}{path}", await client.get(f"{ticket}{path}", headers=staff))
        customer = staff_headers(gateway_settings, role="customer", subject=customer_id)
        keep("getMyCaseProgress", await client.get(f"/v1/customer/cases/{created['id']}/progress", headers=customer))
        keep("listMyCases", await client.get("/v1/customer/cases", headers=customer))
        # A problem+json that carries an instant: the resolved case proposed instead of a new one.
        suggested = keep("reopenSuggested", await client.post("/v1/customer/cases", headers=customer, json={
            "category": "logistics", "subject": "快递又没到"}))
        assert suggested["code"] == "reopen_suggested" and suggested["candidates"][0]["resolved_at"], suggested
        keep("problem", await client.get("/v1/tickets/00000000-0000-0000-0000-000000000000", headers=staff))
        keep("closeTicket", await client.post(f"{ticket}/close", headers=staff, json={}))

        spec = (await client.get("/openapi.json")).json()
        for path, operations in spec["paths"].items():
            op = operations.get("get")
            if op is None or "{" in path or path.startswith("/v1/customer") or path == "/v1/realtime/schema":
                continue  # (the realtime schema is a JSON Schema document: its instants are examples)
            headers = partner if path.startswith("/v1/webhooks") else staff
            keep(op["operationId"], await client.get(path, params=required_query(op), headers=headers))

        exports = {}
        for fmt in ("csv", "xlsx"):
            got = await client.get("/v1/tickets", params={"customer_id": customer_id, "format": fmt}, headers=staff)
            assert got.status_code == 200, got.text
            exports[fmt] = got.content

        await standard._deliveries(client, key)
        clock.advance(timedelta(seconds=1))
        async with httpx.AsyncClient() as http:
            for _ in range(5):  # every event of this ticket, each to the receiver
                await deliver_due(app.state.db, http, clock, RetryPolicy(max_attempts=3, base=timedelta(seconds=1)))
        keep("listWebhookDeliveries", await client.get("/v1/webhooks/deliveries", headers=partner))
    webhooks = [json.loads(body) for _, body, _ in receiver.received]
    assert {"ticket.created", "ticket.status_changed", "ticket.progress_added"} <= {w["type"] for w in webhooks}
    bodies["webhooks"] = webhooks

    rows = list(csv.reader(io.StringIO(exports["csv"].decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(exports["xlsx"]), read_only=True).active
    cells = {"csv": rows, "xlsx": [[c for c in row] for row in sheet.iter_rows(values_only=True)]}
    assert len(rows) == 2 and cells["xlsx"][1]

    found = timestamps_in(bodies) + timestamps_in(cells, "$exports")
    wrong = [(path, value) for path, value in found if not RFC3339_UTC.fullmatch(value)]
    assert not wrong, "\n".join(f"{p}: {v}" for p, v in wrong)
    labels = {p.split(".")[1].split("[")[0] for p, _ in found}
    assert {"createTicket", "addProgress", "getMyCaseProgress", "webhooks", "csv", "xlsx",
            "listWebhookDeliveries", "createEvaluation", "reopenSuggested"} <= labels, labels
    assert "2026-12-10T02:00:00.500000Z" in {v for _, v in found}  # the promise, normalised

    # Every field of a JSON body whose value is a timestamp is declared date-time in the OpenAPI
    # (a sentence that quotes one, an escalation's reason, is text: its instant is checked above).
    fields = {re.sub(r"\[\d+\]", "", p).rsplit(".", 1)[-1] for p, _ in whole_timestamps_in(
        {k: v for k, v in bodies.items() if k != "webhooks"})}
    declared = date_time_properties(spec)
    undeclared = sorted(f for f in fields if f not in declared)
    assert not undeclared, undeclared


def date_time_properties(spec: dict[str, Any]) -> set[str]:
    """Property names declared `format: date-time` (directly or in an anyOf with null) anywhere
    in the components, each of them never declared otherwise."""
    declared: set[str] = set()
    otherwise: set[str] = set()
    for schema in spec["components"]["schemas"].values():
        for name, prop in schema.get("properties", {}).items():
            branches = prop.get("anyOf", [prop])
            formats = {b.get("format") for b in branches if b.get("type") == "string"}
            (declared if "date-time" in formats else otherwise).add(name)
    return declared - otherwise


async def test_the_openapi_declares_every_instant_field_date_time(running) -> None:
    _, client = running
    spec = (await client.get("/openapi.json")).json()
    instants = set()
    for schema in spec["components"]["schemas"].values():
        for name, prop in schema.get("properties", {}).items():
            branches = prop.get("anyOf", [prop])
            if any(b.get("format") == "date-time" for b in branches):
                instants.add(name)
                assert all(b.get("format") == "date-time" for b in branches if b.get("type") == "string"), name
                example = next(b for b in branches if b.get("format") == "date-time").get("examples", [None])[0]
                assert example is None or RFC3339_UTC.fullmatch(example), (name, example)
    assert {"created_at", "updated_at", "due_at", "occurred_at", "promised_at", "resolved_at", "as_of"} <= instants
