"""Fixtures every conformance test uses. Subclass :class:`StoreFixtures` and override
``store_url`` to run the suite; what the store can be tested for comes from its adapter's
declared ``capabilities`` class, never from the URL's scheme.

::

    class RedisFixtures(StoreFixtures):
        @pytest.fixture
        def store_url(self, redis_server):
            return redis_server.url

    class TestRedis(ConformanceSuite, RedisFixtures):
        pass
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from pagedlist.adapters import adapter_for, open_store
from pagedlist.core.capabilities import Capabilities, capabilities_of
from pagedlist.core.store import Store

__all__ = ["StoreFixtures"]


class StoreFixtures:
    """Abstract fixtures: ``store_url`` must be overridden."""

    @pytest.fixture
    def store_url(self) -> str:
        """The URL of the store under test."""
        raise NotImplementedError("override the store_url fixture to name the store under test")

    @pytest.fixture
    def capabilities(self, store_url: str) -> Capabilities:
        """What the store declares it can be tested for: its adapter's ``capabilities``
        class (``pagedlist.core.capabilities``). Override to switch one off, with a
        reason."""
        return capabilities_of(adapter_for(store_url))()

    @pytest.fixture
    def make_store(
        self, store_url: str, capabilities: Capabilities
    ) -> Iterator[Callable[[], Store]]:
        """A factory of extra clients of the same store (each its own connections).

        When the adapter declares ``independent_clients`` off (every open is a new, empty
        store, as with ``memory://``), every client is one shared opened store.
        """
        opened: list[Store] = []
        shared = None if capabilities.independent_clients else open_store(store_url)

        def make() -> Store:
            store = shared or open_store(store_url)
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()

    @pytest.fixture
    def store(self, make_store: Callable[[], Store]) -> Store:
        """A client of the store under test."""
        return make_store()

    @pytest.fixture
    def list_id(self) -> str:
        """A list id no other test uses, so tests can share one server."""
        return f"t-{uuid.uuid4().hex[:16]}"

    @pytest.fixture
    def key(self, list_id: str) -> Callable[[str], str]:
        """``key("a")``: a row key unique to this test."""
        return lambda suffix="": f"{list_id}|{suffix}"

    @pytest.fixture(autouse=True)
    def _check_requirements(self, request: pytest.FixtureRequest) -> None:
        marker = request.node.get_closest_marker("pagedlist_requires")
        if marker is None:
            return
        caps = request.getfixturevalue("capabilities")
        for name in marker.args:
            if not getattr(caps, name):
                pytest.skip(f"needs capability {name!r}: {caps.why_not(name)}")
