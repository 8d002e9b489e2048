"""The platform as real processes on loopback, one stack per test module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kefu_common.devstack import GRPC_SERVICES, Stack
from support import free_port


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        database_url=database_url,
        ports={name: free_port() for name in ("gateway", *GRPC_SERVICES)},
        extra_env={"KEFU_LOG_FORMAT": "json", "KEFU_ENV": "test"},
        log_dir=tmp_path_factory.mktemp("stack-logs"),
    )
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    """An agent's HTTP client to the gateway process."""
    token = stack.token("agent", "e2e-agent")
    with httpx.Client(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client
