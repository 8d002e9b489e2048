"""Quotas and authentication throttles hold across gateway replicas (issue #14, items 14 and
21): two gateway app instances share one PostgreSQL, as the 3-10 pods of the prod overlay do."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from support import assert_problem, new_partner_key, staff_headers
from kefu_common.clock import ManualClock
from kefu_common.db import Database


@pytest.fixture
async def gateway_db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, schema="gateway", pool_size=2)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    # a minute of its own (windows are shared through the database by every test)
    return ManualClock(datetime(2026, 11, 25, 9, 0, 10, tzinfo=UTC) + timedelta(minutes=uuid.uuid4().int % 1000))


async def _apps(settings: Any, clock: ManualClock, stack: AsyncExitStack) -> list[Any]:
    """Two gateway replicas (app instances, each in its lifespan) on the one database."""
    from kefu_gateway.app import create_app

    apps = []
    for _ in range(2):
        app = create_app(settings, configure_logs=False, clock=clock)
        await stack.enter_async_context(app.router.lifespan_context(app))
        apps.append(app)
    return apps


async def _client(app: Any, stack: AsyncExitStack, address: tuple[str, int]) -> httpx.AsyncClient:
    """A client of `app` calling from `address`."""
    transport = httpx.ASGITransport(app=app, client=address)
    return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://gw"))


async def _replicas(settings: Any, clock: ManualClock, stack: AsyncExitStack, *, client: tuple[str, int]) -> list[httpx.AsyncClient]:
    return [await _client(app, stack, client) for app in await _apps(settings, clock, stack)]


async def test_a_partner_quota_holds_across_two_gateway_replicas(gateway_settings, gateway_db, clock) -> None:
    settings = gateway_settings.model_copy(update={"rate_limit_requests": 6, "rate_limit_window_seconds": 60})
    _, key = await new_partner_key(gateway_db)
    async with AsyncExitStack() as stack:
        a, b = await _replicas(settings, clock, stack, client=("10.0.0.1", 1234))
        statuses = [(await (a if i % 2 else b).get("/v1/tickets", headers={"X-API-Key": key})).status_code
                    for i in range(10)]
        assert statuses == [200] * 6 + [429] * 4  # 6 in all, not 6 per replica
        refused = await a.get("/v1/tickets", headers={"X-API-Key": key})
        assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1
        clock.advance(timedelta(seconds=int(refused.headers["retry-after"])))
        assert (await b.get("/v1/tickets", headers={"X-API-Key": key})).status_code == 200


async def test_failed_authentications_from_one_address_are_throttled_across_replicas(
    gateway_settings, gateway_db, clock
) -> None:
    settings = gateway_settings.model_copy(
        update={"auth_failures_per_address": 5, "auth_failures_per_key_prefix": 1000, "auth_failure_window_seconds": 60}
    )
    _, good_key = await new_partner_key(gateway_db)
    async with AsyncExitStack() as stack:
        a, b = await _replicas(settings, clock, stack, client=(f"10.1.{uuid.uuid4().int % 250}.7", 1))
        statuses = []
        for i in range(12):
            wrong = f"kefu_{uuid.uuid4().hex[:12]}_{'A' * 43}"
            statuses.append((await (a if i % 2 else b).get("/v1/tickets", headers={"X-API-Key": wrong})).status_code)
        assert statuses[:5] == [401] * 5
        assert set(statuses[6:]) == {429}  # five failures in all, counted in the shared database
        refused = await a.get("/v1/tickets", headers={"X-API-Key": good_key})  # even a good key: address throttled
        assert_problem(refused, 429, "too_many_failed_authentications")
        assert int(refused.headers["retry-after"]) >= 1
        bad_token = await b.get("/v1/tickets", headers={"Authorization": "Bearer not-a-token"})
        assert_problem(bad_token, 429, "too_many_failed_authentications")
        clock.advance(timedelta(seconds=int(refused.headers["retry-after"])))
        assert (await a.get("/v1/tickets", headers={"X-API-Key": good_key})).status_code == 200


async def test_failed_authentications_on_one_key_prefix_are_throttled_from_any_address(
    gateway_settings, gateway_db, clock
) -> None:
    settings = gateway_settings.model_copy(
        update={"auth_failures_per_address": 1000, "auth_failures_per_key_prefix": 3, "auth_failure_window_seconds": 60}
    )
    _, key = await new_partner_key(gateway_db)
    prefix = key.rsplit("_", 1)[0]
    async with AsyncExitStack() as stack:
        apps = await _apps(settings, clock, stack)
        statuses = []
        for i in range(8):  # a guesser of one key's secret, from a new address each time
            client = await _client(apps[i % 2], stack, (f"10.2.{i}.{uuid.uuid4().int % 250}", 1))
            statuses.append((await client.get("/v1/tickets", headers={"X-API-Key": f"{prefix}_{'B' * 43}"})).status_code)
        assert statuses[:3] == [401] * 3
        assert set(statuses[4:]) == {429}  # the other replica learns it at its next failure


async def test_staff_tokens_from_a_throttled_address_are_throttled_too_but_good_ones_never_count(
    gateway_settings, clock
) -> None:
    settings = gateway_settings.model_copy(update={"auth_failures_per_address": 3, "auth_failure_window_seconds": 60})
    auth = staff_headers(gateway_settings, subject=f"agent-{uuid.uuid4().hex[:6]}")
    async with AsyncExitStack() as stack:
        a, _ = await _replicas(settings, clock, stack, client=(f"10.3.{uuid.uuid4().int % 250}.9", 1))
        for _ in range(10):  # successful authentications are never counted
            assert (await a.get("/v1/tickets", headers=auth)).status_code == 200
        for _ in range(4):
            await a.get("/v1/tickets", headers={"Authorization": "Bearer nope"})
        assert_problem(await a.get("/v1/tickets", headers=auth), 429, "too_many_failed_authentications")
