"""The platform as real processes on loopback, one stack per test module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kefu_common.devstack import Stack
from support import running_stack


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("stack-logs")) as stack:
        yield stack


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    """An agent's HTTP client to the gateway process."""
    token = stack.token("agent", "e2e-agent")
    with httpx.Client(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client
