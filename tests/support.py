"""Helpers the test modules share (import them: `from support import ...`).

Kept out of conftest.py on purpose: there are several conftest modules, so
`from conftest import ...` would be ambiguous.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROBLEM_JSON = "application/problem+json"


def staff_headers(settings: Any, role: str = "agent", subject: str = "test-agent") -> dict[str, str]:
    from kefu_gateway.auth import issue_token

    token = issue_token(settings.jwt_secret, subject=subject, role=role, issuer=settings.jwt_issuer)
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with this status and stable code, carrying the request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def error_code(err: Any) -> str | None:
    """The stable `kefu-error-code` a gRPC error carries in its trailing metadata."""
    from kefu_common.errors import ERROR_CODE_METADATA_KEY

    return dict(err.trailing_metadata() or ()).get(ERROR_CODE_METADATA_KEY)


@contextmanager
def running_stack(database_url: str, log_dir: Path) -> Iterator[Any]:
    """The four services as processes on free loopback ports (devstack.Stack), stopped on
    the way out. The e2e modules' `stack` fixtures."""
    from kefu_common.devstack import GRPC_SERVICES, Stack, free_port

    stack = Stack(
        database_url=database_url,
        ports={name: free_port() for name in ("gateway", *GRPC_SERVICES)},
        extra_env={"KEFU_LOG_FORMAT": "json", "KEFU_ENV": "test"},
        log_dir=log_dir,
    )
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()
