"""Fixtures of the gateway test modules that run their own gateway app.

Such a module defines a module-scoped `running` fixture (usually `support.running_gateway`
with its own settings or clock); `app` and `client` here unpack it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest


@pytest.fixture(scope="module")
def app(running: tuple[Any, httpx.AsyncClient]) -> Any:
    return running[0]


@pytest.fixture(scope="module")
def client(running: tuple[Any, httpx.AsyncClient]) -> httpx.AsyncClient:
    return running[1]
