"""Fixtures of the scoring service's integration tests (a real stub, its schema)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from kefu.scoring.v1 import scoring_pb2_grpc
from kefu_common.db import Database


@pytest.fixture
async def scoring_stub(scoring_addr: str) -> AsyncIterator[scoring_pb2_grpc.ScoringServiceStub]:
    async with grpc.aio.insecure_channel(scoring_addr) as channel:
        yield scoring_pb2_grpc.ScoringServiceStub(channel)


@pytest.fixture(scope="module")
async def scoring_db(database_url: str) -> AsyncIterator[Database]:
    from kefu_scoring.models import SCHEMA

    database = Database(database_url, schema=SCHEMA, pool_size=2)
    yield database
    await database.dispose()
