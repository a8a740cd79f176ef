"""The conformance suite against the in-memory store."""

import pytest

from pagedlist.conformance import (
    AbstractHistoryTests,
    AbstractLifecycleTests,
    AbstractListTests,
    ConformanceSuite,
    StoreFixtures,
)
from pagedlist.conformance.blocking import AsyncAdapterFixtures
from pagedlist.conformance.fixtures import LayoutOneFixtures


class MemoryFixtures(StoreFixtures):
    """``memory://``: every client of one test shares one MemoryStore."""

    @pytest.fixture
    def store_url(self) -> str:
        return "memory://"


class TestMemory(ConformanceSuite, MemoryFixtures):
    """Every clause on MemoryStore."""


class ClaimFixtures(StoreFixtures):
    """``memory://?push=false``: layout 2 through claims, as on DynamoDB or Cosmos DB."""

    @pytest.fixture
    def store_url(self) -> str:
        return "memory://?push=false"


class TestMemoryClaims(ConformanceSuite, ClaimFixtures):
    """Every clause on MemoryStore without push (layout 2 by claims)."""


class TestMemoryLayoutOne(
    AbstractListTests,
    AbstractLifecycleTests,
    AbstractHistoryTests,
    LayoutOneFixtures,
    MemoryFixtures,
):
    """The list and history clauses on MemoryStore in layout 1 (page rows)."""


class TestMemoryAsyncAdapter(ConformanceSuite, AsyncAdapterFixtures, MemoryFixtures):
    """Every clause on the asyncio memory adapter, through a blocking bridge."""
