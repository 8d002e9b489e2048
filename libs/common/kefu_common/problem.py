"""Gateway-side error rendering: gRPC status -> HTTP, as RFC 9457 problem+json.

The mapping follows google/rpc/code.proto. The body always carries a stable `code` (from the
service's `kefu-error-code` trailer when it sent one) and the request's correlation id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc

from kefu_common.errors import ERROR_CODE_METADATA_KEY

PROBLEM_CONTENT_TYPE = "application/problem+json"

GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

_DEFAULT_CODES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.CANCELLED: "cancelled",
    grpc.StatusCode.INVALID_ARGUMENT: "invalid_argument",
    grpc.StatusCode.DEADLINE_EXCEEDED: "upstream_timeout",
    grpc.StatusCode.NOT_FOUND: "not_found",
    grpc.StatusCode.ALREADY_EXISTS: "already_exists",
    grpc.StatusCode.PERMISSION_DENIED: "permission_denied",
    grpc.StatusCode.UNAUTHENTICATED: "unauthenticated",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "rate_limited",
    grpc.StatusCode.FAILED_PRECONDITION: "failed_precondition",
    grpc.StatusCode.ABORTED: "conflict",
    grpc.StatusCode.OUT_OF_RANGE: "out_of_range",
    grpc.StatusCode.UNIMPLEMENTED: "not_implemented",
    grpc.StatusCode.UNAVAILABLE: "service_unavailable",
}

_TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    499: "Client Closed Request",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# A few stable codes have a more precise HTTP status than their gRPC status gives.
CODE_STATUS_OVERRIDES: dict[str, int] = {
    # Same Idempotency-Key, different body: the request is well-formed but cannot be processed.
    "idempotency_key_reused": 422,
}

# Messages from these statuses may describe our internals; callers get a generic text.
_HIDDEN_DETAIL = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}


@dataclass
class Problem:
    status: int
    code: str
    detail: str
    title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.title:
            self.title = _TITLES.get(self.status, "Error")

    def body(self, *, instance: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://kefu.dev/problems/{self.code.replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if request_id:
            body["request_id"] = request_id
        body.update(self.extra)
        return body


def problem_from_grpc(
    status: grpc.StatusCode, details: str | None, trailing: Any = None
) -> Problem:
    code = None
    for key, value in trailing or ():
        if key == ERROR_CODE_METADATA_KEY:
            code = value if isinstance(value, str) else value.decode()
    code = code or _DEFAULT_CODES.get(status, "internal_error")
    http_status = CODE_STATUS_OVERRIDES.get(code) or GRPC_TO_HTTP.get(status, 500)
    if status in _HIDDEN_DETAIL:
        detail = "The server failed to handle the request."
        code = "internal_error"
    elif status is grpc.StatusCode.RESOURCE_EXHAUSTED and not _has_code(trailing):
        # gRPC's own RESOURCE_EXHAUSTED (no service sent a code): its text is internal; a
        # message over the size limit is no quota and retrying will not help
        if "larger than max" in (details or ""):
            http_status, code = 502, "reply_too_large"
            detail = "The reply is too large to deliver; ask for less (a smaller page_size)."
        else:
            detail = "A downstream service is out of resources; retry shortly."
    elif status is grpc.StatusCode.UNAVAILABLE:
        detail = "A downstream service is unavailable; retry shortly."
    elif status is grpc.StatusCode.DEADLINE_EXCEEDED:
        detail = "A downstream service did not answer in time; retry shortly."
    else:
        detail = details or status.name.lower()
    headers = {"Retry-After": "1"} if http_status in (429, 503, 504) else {}
    return Problem(status=http_status, code=code, detail=detail, headers=headers)


def _has_code(trailing: Any) -> bool:
    return any(key == ERROR_CODE_METADATA_KEY for key, _ in trailing or ())


def problem_from_rpc_error(err: grpc.aio.AioRpcError) -> Problem:
    return problem_from_grpc(err.code(), err.details(), err.trailing_metadata())
