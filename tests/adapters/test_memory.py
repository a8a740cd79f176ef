"""The conformance suite against the in-memory store."""

import pytest

from pagedlist.conformance import Capabilities, ConformanceSuite, StoreFixtures
from pagedlist.core.store import Store


class MemoryFixtures(StoreFixtures):
    """One shared MemoryStore: ``memory://`` URLs each open a new empty store."""

    @pytest.fixture
    def store_url(self) -> str:
        return "memory://"

    @pytest.fixture
    def shared(self) -> Store:
        from pagedlist.adapters.memory import MemoryStore

        return MemoryStore()

    @pytest.fixture
    def make_store(self, shared):
        # Every "client" is the same object: a memory store lives in one process.
        return lambda: shared

    @pytest.fixture
    def capabilities(self) -> Capabilities:
        caps = Capabilities()
        caps.shared_across_processes = False
        caps.reason = {"shared_across_processes": "memory:// lives inside one process"}
        return caps


class TestMemory(ConformanceSuite, MemoryFixtures):
    """Every clause on MemoryStore."""
