"""Fixtures every conformance test uses. Subclass :class:`StoreFixtures` and override
``store_url`` (and ``capabilities`` if the backend lacks one) to run the suite.

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

from pagedlist.adapters import open_store
from pagedlist.conformance.capabilities import Capabilities
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
        """What the store can do; override to switch capabilities off."""
        caps = Capabilities()
        caps.reason = {}
        if store_url.startswith("memory:"):
            caps.shared_across_processes = False
            caps.reason["shared_across_processes"] = "memory:// lives inside one process"
        if store_url.startswith(("memory:", "sqlite:")):
            caps.network = False
            caps.reason["network"] = (
                f"{store_url.partition(':')[0]}:// is embedded: it makes no network "
                "connection for the fault proxy to cut, so it has no lost answers"
            )
        return caps

    @pytest.fixture
    def make_store(self, store_url: str) -> Iterator[Callable[[], Store]]:
        """A factory of extra clients of the same store (each its own connections).

        ``memory://`` opens a new empty store each time, so its clients share one.
        """
        opened: list[Store] = []
        shared = open_store(store_url) if store_url.startswith("memory:") else None

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
                why = caps.reason.get(name, "the adapter declares it unsupported")
                pytest.skip(f"needs capability {name!r}: {why}")
