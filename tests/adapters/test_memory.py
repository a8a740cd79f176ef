"""The conformance suite against the in-memory store."""

import pytest

from pagedlist.conformance import ConformanceSuite, StoreFixtures


class MemoryFixtures(StoreFixtures):
    """``memory://``: every client of one test shares one MemoryStore."""

    @pytest.fixture
    def store_url(self) -> str:
        return "memory://"


class TestMemory(ConformanceSuite, MemoryFixtures):
    """Every clause on MemoryStore."""
