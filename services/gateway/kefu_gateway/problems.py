"""Every error leaves the gateway as application/problem+json with a stable `code`."""

from __future__ import annotations

import dataclasses
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kefu_common.context import get_request_id
from kefu_common.errors import ServiceError
from kefu_common.logging import get_logger
from kefu_common.problem import (
    CODE_STATUS_OVERRIDES,
    GRPC_TO_HTTP,
    PROBLEM_CONTENT_TYPE,
    Problem,
    problem_from_rpc_error,
)

log = get_logger("kefu.gateway")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


class ProblemDetail(BaseModel):
    """RFC 9457 problem details, as every error response of this API carries them."""

    type: str = Field(examples=["https://kefu.dev/problems/ticket-not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    code: str = Field(description="Stable machine-readable error code", examples=["ticket_not_found"])
    detail: str = Field(examples=["ticket 3f1c… not found"])
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Field errors, for validation_error"
    )


def problem_response(request: Request | None, problem: Problem) -> JSONResponse:
    body = problem.body(
        instance=request.url.path if request is not None else None, request_id=get_request_id()
    )
    return JSONResponse(
        body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_CONTENT_TYPE
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring the problem+json schema for these statuses."""
    return {
        status: {"model": ProblemDetail, "content": {PROBLEM_CONTENT_TYPE: {}}}
        for status in statuses
    }


_PROBLEM_REF = "#/components/schemas/ProblemDetail"
_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


def problems_as_problem_json(spec: dict[str, Any]) -> dict[str, Any]:
    """FastAPI files a response `model` under application/json, and adds its own 422 schema
    to routes that do not declare one; error responses here are application/problem+json
    ProblemDetail only (see _validation_error), so say so (in place; returns `spec`)."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "401" in responses and "429" not in responses:  # failed authentications are throttled
                responses["429"] = {
                    "description": "Too Many Requests (`rate_limited`, `too_many_failed_authentications`)",
                    "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
                }
            for status, response in responses.items():
                content = response.get("content", {})
                if status[:1] in ("4", "5") and "application/json" in content:
                    content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
                schema = content.get(PROBLEM_CONTENT_TYPE, {}).get("schema", {})
                if schema.get("$ref") == _FASTAPI_VALIDATION_REF:
                    schema["$ref"] = _PROBLEM_REF
    schemas = spec.get("components", {}).get("schemas", {})
    if _FASTAPI_VALIDATION_REF.rsplit("/", 1)[1] in schemas:
        schemas.setdefault("ProblemDetail", ProblemDetail.model_json_schema())
    return spec


# Stable codes that mean "the resource is no longer at the version you stated". Such a conflict
# is 409 by its gRPC status (ABORTED), but 412 when the client stated the version in If-Match.
PRECONDITION_CODES = frozenset({"version_conflict"})


def mark_conditional(request: Request) -> None:
    """Record that this request carries an If-Match precondition (request-scoped: the state
    lives in the ASGI scope, which the exception handlers see too)."""
    request.state.conditional = True


def is_conditional(request: Request) -> bool:
    return bool(getattr(request.state, "conditional", False))


def precondition_aware(request: Request, problem: Problem) -> Problem:
    if problem.code in PRECONDITION_CODES and is_conditional(request):
        return dataclasses.replace(problem, status=412, title="")  # title follows the status
    return problem


async def _rpc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.aio.AioRpcError)
    problem = precondition_aware(request, problem_from_rpc_error(exc))
    log_fn = log.warning if problem.status >= 500 else log.info
    log_fn("downstream_error", status=exc.code().name, http_status=problem.status, code=problem.code)
    return problem_response(request, problem)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    status = CODE_STATUS_OVERRIDES.get(exc.code) or GRPC_TO_HTTP.get(exc.status, 500)
    problem = Problem(status=status, code=exc.code, detail=exc.message)
    problem.headers.update(exc.details.get("headers") or {})  # e.g. Retry-After on 429
    problem.extra.update(exc.details.get("extra") or {})  # members beside code/detail
    if problem.status == 401:
        problem.headers["WWW-Authenticate"] = "Bearer"
    return problem_response(request, problem)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo the offending input back: it may be huge or hold personal data.
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
    problem = Problem(
        status=422,
        code="validation_error",
        detail=f"{where}: {first['msg']}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
        extra={"errors": errors},
    )
    return problem_response(request, problem)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    problem = Problem(
        status=exc.status_code,
        code=_HTTP_CODES.get(exc.status_code, "http_error"),
        detail=str(exc.detail),
        headers=dict(exc.headers or {}),
    )
    return problem_response(request, problem)


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    """The gateway's own database (API keys, webhooks) unreachable: like a downstream service
    being down, 503 with Retry-After rather than 500."""
    log.warning("gateway_database_unavailable", error=type(exc).__name__)
    return problem_response(
        request,
        Problem(
            status=503, code="service_unavailable",
            detail="A downstream service is unavailable; retry shortly.",
            headers={"Retry-After": "1"},
        ),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path)
    return problem_response(
        request,
        Problem(status=500, code="internal_error", detail="The server failed to handle the request."),
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(grpc.aio.AioRpcError, _rpc_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for connection_error in (OperationalError, InterfaceError, ConnectionError, TimeoutError):
        app.add_exception_handler(connection_error, _database_down)
    app.add_exception_handler(Exception, _unexpected)
