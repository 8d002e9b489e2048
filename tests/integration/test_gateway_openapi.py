"""The published contract: /openapi.json describes every route (tags, stable operationIds,
problem+json errors), and schemathesis, generating requests from it against the live app with
valid credentials, finds no server error and no response that breaks the schema."""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck

from support import new_partner_key, served_gateway, staff_headers
from kefu_gateway.app import create_app

# POSTs that need no Idempotency-Key: repeating them changes nothing by their nature.
IDEMPOTENT_BY_NATURE = {
    "upsertAgent",  # an upsert of the whole agent
    "previewEscalationMatrix",  # a what-if: writes nothing (issue #4)
    "acknowledgeEscalation",  # acknowledging twice is one acknowledgement (issue #4)
    "publishRuleset",  # versions are explicit: the same version and content returns it (issue #5)
    "createEvaluationsBatch",  # each item is idempotent by its conversation_id (issue #12)
}
EXAMPLES_PER_OPERATION = 8  # modest: the run covers every operation in well under a minute


@pytest.fixture(scope="module")
def live_gateway(gateway_settings: Any) -> Iterator[str]:
    """The gateway served by uvicorn on a loopback port, in its own thread and event loop."""
    settings = gateway_settings.model_copy(update={"rate_limit_requests": 1_000_000})
    with served_gateway(settings) as url:
        yield url


def test_every_operation_is_tagged_named_and_declares_its_errors_as_problem_json(gateway_settings) -> None:
    spec = create_app(gateway_settings, configure_logs=False).openapi()
    assert spec["openapi"].startswith("3.1")
    tags = {t["name"] for t in spec["tags"]}
    seen: set[str] = set()
    for path, operations in spec["paths"].items():
        assert path.startswith("/v1/") or path in ("/healthz", "/readyz"), path
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            assert op.get("tags") and set(op["tags"]) <= tags, where
            # Chosen by hand (camelCase), never FastAPI's generated `name_path_method`.
            assert re.fullmatch(r"[a-z][A-Za-z]+", op["operationId"]), where
            assert op["operationId"] not in seen, where
            seen.add(op["operationId"])
            for status, response in op["responses"].items():
                if status[0] in "45":
                    content = response["content"]
                    assert list(content) == ["application/problem+json"], (where, status)
                    assert content["application/problem+json"]["schema"]["$ref"].endswith("/ProblemDetail")
            headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
            if method in ("post", "patch") and op["operationId"] not in IDEMPOTENT_BY_NATURE:
                assert "Idempotency-Key" in headers, where
            if "Idempotency-Key" in headers:  # a malformed key is 400 invalid_idempotency_key
                assert "400" in op["responses"], where


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    live_gateway, gateway_settings, database_url
) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    from kefu_common.db import Database

    db = Database(database_url, schema="gateway", pool_size=1)
    try:
        _, key = await new_partner_key(db)
    finally:
        await db.dispose()
    credentials = {
        "customer": staff_headers(gateway_settings, role="customer", subject="C-schemathesis"),
        "webhooks": {"X-API-Key": key},
        "health": {},
    }
    admin = staff_headers(gateway_settings, role="admin", subject="schemathesis")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_headers_conformance, response_schema_conformance]

    def run() -> list[str]:
        schema = schemathesis.openapi.from_url(f"{live_gateway}/openapi.json")
        failures: list[str] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 30

        def fuzz(operation: Any, headers: dict[str, str]) -> None:
            @hypothesis.given(case=operation.as_strategy())
            @hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            def check(case: Any) -> None:
                case.call_and_validate(base_url=live_gateway, headers=headers, checks=checks, timeout=30)

            check()

        for operation in operations:
            try:
                fuzz(operation, credentials.get(operation.tags[0] if operation.tags else "", admin))
            except Exception as failure:  # collect every operation's failure, then report
                failures.append(f"{operation.label}: {failure}")
        return failures

    failures = await asyncio.to_thread(run)
    assert not failures, "\n\n".join(failures)


async def test_a_client_generated_from_openapi_creates_polls_and_resolves_a_ticket(
    live_gateway, gateway_settings, tmp_path
) -> None:
    """openapi-python-client, a standard generator (with our templates: typed response headers),
    builds a client from the live spec; the agent's side opens and resolves a ticket, with the
    typed ETag and Location of the create, while the customer's side polls its progress."""
    generator = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).resolve().parents[2] / "tools" / "openapi" / "generate_python_client.py"),
        "--spec", f"{live_gateway}/openapi.json", "--output", str(tmp_path / "kefu_client"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await generator.communicate()
    assert generator.returncode == 0, output.decode()
    sys.path.insert(0, str(tmp_path))
    try:
        from kefu_client import AuthenticatedClient
        from kefu_client.api.customer import get_my_case_progress
        from kefu_client.api.tickets import add_progress, create_ticket, open_ticket, resolve_ticket
        from kefu_client.models import (
            Channel, CustomerCreate, ProgressCreate, Severity, StatusChangeCreate, TicketCreate,
        )
        from kefu_client.types import MissingResponseHeader
    finally:
        sys.path.remove(str(tmp_path))

    def token(role: str, subject: str) -> str:
        return staff_headers(gateway_settings, role=role, subject=subject)["Authorization"].split()[1]

    customer_id = f"C-{uuid.uuid4().hex[:10]}"
    agent = AuthenticatedClient(base_url=live_gateway, token=token("agent", "gen-agent"))
    customer = AuthenticatedClient(base_url=live_gateway, token=token("customer", customer_id))
    async with agent, customer:
        created = await create_ticket.asyncio_detailed(
            client=agent,
            body=TicketCreate(
                customer=CustomerCreate(id=customer_id, name="王女士"), channel=Channel.APP,
                severity=Severity.NORMAL, category="logistics", subject="快递三天没有更新",
            ),
            idempotency_key="generated-client-1",
        )
        assert created.status_code == 201, created.content
        ticket = created.parsed
        assert created.typed_headers.location == f"/v1/tickets/{ticket.id}"
        assert created.typed_headers.etag == created.headers["etag"] and created.typed_headers.etag.startswith('"')
        assert created.typed_headers.x_request_id == created.headers["x-request-id"]
        missing = await get_my_case_progress.asyncio_detailed("T-none", client=customer)
        assert missing.status_code == 404 and missing.typed_headers.x_request_id
        with pytest.raises(MissingResponseHeader):  # an error response has no ETag to read
            _ = missing.typed_headers.etag
        progress = await get_my_case_progress.asyncio_detailed(ticket.id, client=customer)
        assert progress.status_code == 200 and progress.parsed.case.status.value == "new"
        tag = progress.headers["etag"]

        unchanged = await get_my_case_progress.asyncio_detailed(ticket.id, client=customer, if_none_match=tag)
        assert unchanged.status_code == 304

        await add_progress.asyncio_detailed(ticket.id, client=agent, body=ProgressCreate(text="已找到包裹"))
        # (The generated code cannot send an absent optional body, so send an empty one.)
        opened = await open_ticket.asyncio_detailed(ticket.id, client=agent, body=StatusChangeCreate())
        resolved = await resolve_ticket.asyncio_detailed(
            ticket.id, client=agent, body=StatusChangeCreate(reason="包裹已送达"),
            if_match=opened.typed_headers.etag,
        )
        assert resolved.status_code == 200, resolved.content

        changed = await get_my_case_progress.asyncio_detailed(
            ticket.id, client=customer, if_none_match=tag, wait=5
        )
        assert changed.status_code == 200
        assert changed.parsed.case.status.value == "resolved"
        assert [e.text for e in changed.parsed.entries if e.kind == "progress"] == ["已找到包裹"]


def test_fastapis_own_422_is_declared_as_the_problem_json_we_send(gateway_settings) -> None:
    """A route that declares no 422 still answers validation errors with ProblemDetail (the
    handler in problems.py), so the spec must not advertise FastAPI's HTTPValidationError."""
    from fastapi import APIRouter

    app = create_app(gateway_settings, configure_logs=False)
    router = APIRouter()

    @router.get("/v1/probe/{number}", operation_id="probeNumber", tags=["health"])
    async def probe(number: int) -> dict[str, int]:
        return {"number": number}

    app.include_router(router)
    response = app.openapi()["paths"]["/v1/probe/{number}"]["get"]["responses"]["422"]
    assert response["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}
    }
