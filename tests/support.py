"""Helpers the test modules share (import them: `from support import ...`).

Kept out of conftest.py on purpose: there are several conftest modules, so
`from conftest import ...` would be ambiguous.
"""

from __future__ import annotations

import socket
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


def free_port() -> int:
    """A TCP port free on loopback right now (for processes that cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
