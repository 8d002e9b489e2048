"""What standard tools make of the gateway's OpenAPI (issue #13): openapi-typescript types the
`ETag` and `Location` response headers (checked by compiling code that reads them, with tsc
--strict), so does openapi-python-client with Kefu's templates (checked with mypy --strict), and
Redocly's recommended ruleset reports no error. The document comes from the app itself (no server needed); the node
tools are the pinned ones `make openapi-tools` installs into .kefu/tools/openapi."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from openapi_python_client.strings import snake_case

from kefu_gateway.app import create_app
from kefu_gateway.settings import GatewaySettings

REPO = Path(__file__).resolve().parents[2]
NODE_TOOLS = REPO / ".kefu" / "tools" / "openapi" / "node_modules" / ".bin"
REDOCLY_CONFIG = REPO / "tools" / "openapi" / "redocly.yaml"
# Redocly's CLI would otherwise phone home (telemetry, update check): this machine has no network.
QUIET = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}


def node_tool(name: str) -> str:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm absent: openapi-typescript and Redocly CLI cannot run here")
    tool = NODE_TOOLS / name
    if not tool.exists():
        pytest.fail(f"{tool} missing: run `make openapi-tools` (make test runs it)")
    return str(tool)


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env={**os.environ, **QUIET}, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(GatewaySettings(), configure_logs=False).openapi()


@pytest.fixture(scope="module")
def spec_file(spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_text(json.dumps(spec, ensure_ascii=False))
    return path


def operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(op["operationId"], op) for ops in spec["paths"].values() for op in ops.values()]


def test_redocly_recommended_rules_report_no_error(spec_file: Path) -> None:
    redocly = node_tool("redocly")
    linted = run(redocly, "lint", str(spec_file), "--config", str(REDOCLY_CONFIG), "--format", "json",
                 cwd=spec_file.parent)
    report = json.loads(linted.stdout[linted.stdout.index("{"):])
    errors = [f"{p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
              for p in report["problems"] if p["severity"] == "error"]
    assert not errors, "\n".join(errors)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    # The warnings left are the public documents' lack of a 4XX answer (they have none): the
    # probes and the real-time message schema (docs/gateway.md).
    warnings = {(p["ruleId"], p["location"][0]["pointer"]) for p in report["problems"]}
    assert warnings <= {("operation-4xx-response", f"#/paths/{path}/get/responses")
                        for path in ("~1healthz", "~1readyz", "~1v1~1realtime~1schema")}, warnings


def test_openapi_typescript_types_etag_and_location_as_required_strings(
    spec: dict[str, Any], spec_file: Path
) -> None:
    """Code reading `Location` from every 201 and `ETag` from every response that declares it
    compiles under `tsc --strict` only if both are typed `string` (an optional header would be
    `string | undefined`, an undeclared one `unknown` from the index signature)."""
    generated = run(node_tool("openapi-typescript"), str(spec_file), "-o", "schema.d.ts", cwd=spec_file.parent)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    reads = ['import type { operations } from "./schema";']
    etags = locations = 0
    for operation_id, op in operations(spec):
        for status, response in op["responses"].items():
            names = [name for name in ("ETag", "Location") if name in response.get("headers", {})]
            for name in names:
                var = f"{operation_id}_{status}_{name}"
                reads.append(f'export const {var}: string = ({{}} as operations["{operation_id}"]'
                             f'["responses"][{status}]["headers"]).{name};')
            etags += "ETag" in names
            locations += "Location" in names
            assert status != "201" or "Location" in names, (operation_id, status)
    assert etags >= 10 and locations >= 10, (etags, locations)  # tickets, customer cases, QA...
    (spec_file.parent / "reads.ts").write_text("\n".join(reads) + "\n")
    compiled = run(node_tool("tsc"), "--strict", "--noEmit", "--skipLibCheck", "--target", "es2022",
                   "--module", "es2022", "--moduleResolution", "bundler", "reads.ts", cwd=spec_file.parent)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    schema = (spec_file.parent / "schema.d.ts").read_text()
    create = schema[schema.index("    createTicket: {"):]
    assert re.search(r"201: \{\s+headers: \{[^}]*\bLocation: string;[^}]*\bETag: string;", create)


def test_openapi_python_client_with_our_templates_types_etag_and_location_response_headers(
    spec: dict[str, Any], spec_file: Path
) -> None:
    """With Kefu's templates (tools/openapi/python-client-templates) every generated operation
    returns `TypedResponse.typed_headers`, its own `ResponseHeaders`. Code reading `Location`
    from every 201 operation and `ETag` from every operation declaring it into `str` variables
    passes `mypy --strict` (with the whole generated package); reading `location` where no
    response declares it, or an optional header (`Retry-After`) into a `str`, must fail it."""
    out = spec_file.parent / "typed"
    generated = run(sys.executable, str(REPO / "tools" / "openapi" / "generate_python_client.py"),
                    "--spec", str(spec_file), "--output", str(out / "kefu_client"), cwd=spec_file.parent)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    resolve = (out / "kefu_client" / "api" / "tickets" / "resolve_ticket.py").read_text()
    header_params = [(name, kind) for name, kind in re.findall(r"^\s+(\w+): (.+?) = UNSET,$", resolve, re.M)
                     if name != "body"]  # header parameters: plain `str`, never `None`
    assert ("if_match", "str | Unset") in header_params and ("idempotency_key", "str | Unset") in header_params
    assert all(kind == "str | Unset" for _, kind in header_params), header_params

    imports, reads = set(), []
    etags = locations = 0
    for operation_id, op in operations(spec):
        module = f"kefu_client.api.{snake_case(op['tags'][0])}.{snake_case(operation_id)}"
        alias = snake_case(operation_id)
        imports.add(f"import {module} as {alias}")
        declared = {name for response in op["responses"].values() for name in response.get("headers", {})}
        for name in sorted({"ETag", "Location"} & declared):
            reads.append(f"    {alias}_{name.lower()}: str = {alias}._build_response(client=client, "
                         f"response=response).typed_headers.{name.lower()}")
        etags += "ETag" in declared
        locations += "Location" in declared
        assert "201" not in op["responses"] or "Location" in declared, operation_id
        if operation_id == "getTicket":  # the one read below where no response has a Location
            assert "ETag" in declared and "Location" not in declared
    assert etags >= 10 and locations >= 10, (etags, locations)
    (out / "reads.py").write_text("\n".join([
        "from http import HTTPStatus", "from collections.abc import MutableMapping", "import httpx",
        "from kefu_client.client import AuthenticatedClient, Client",
        "from kefu_client.models.ticket_create import TicketCreate", *sorted(imports), "", "",
        "def reads(client: Client, response: httpx.Response) -> None:", *reads, "", "",
        "def create(client: AuthenticatedClient, body: TicketCreate) -> tuple[str, str, str, str | None]:",
        "    created = create_ticket.sync_detailed(client=client, body=body)",
        "    status: HTTPStatus = created.status_code  # the standard Response fields are still there",
        "    raw: MutableMapping[str, str] = created.headers",
        "    typed = created.typed_headers",
        "    return typed.etag, typed.location, typed.x_request_id, typed.retry_after",
        "",
    ]))
    bad = {  # line -> the error mypy must report there
        6: '"ResponseHeaders" has no attribute "location"',
        7: 'Incompatible types in assignment (expression has type "str | None", variable has type "str")',
    }
    (out / "wrong.py").write_text("\n".join([
        "import httpx", "from kefu_client.client import Client",
        "from kefu_client.api.tickets import create_ticket, get_ticket", "",
        "def wrong(client: Client, response: httpx.Response) -> tuple[str, str]:",
        "    location: str = get_ticket._build_response(client=client, response=response).typed_headers.location",
        "    retry_after: str = create_ticket._build_response(client=client, response=response).typed_headers.retry_after",
        "    return location, retry_after", "",
    ]))
    checked = run(sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", str(out / ".mypy"),
                  "reads.py", "wrong.py", "kefu_client", cwd=out)
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert [line for line in errors if not line.startswith("wrong.py:")] == [], checked.stdout + checked.stderr
    assert len(errors) == len(bad) and all(
        f"wrong.py:{line}: error: {message}" in checked.stdout for line, message in bad.items()
    ), checked.stdout + checked.stderr
