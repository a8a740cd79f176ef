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
from pagedlist.core.ops import Features
from pagedlist.core.store import NO_FEATURES, Store
from pagedlist.core.wrapper import StoreWrapper

__all__ = ["LayoutOneFixtures", "LayoutOneStore", "StoreFixtures"]


class LayoutOneStore(StoreWrapper):
    """A store that hides its entry rows, so every list created through it uses layout 1
    (page rows): how the suite runs the layout of pagedlist 0.1 on stores that also offer
    layout 2."""

    @property
    def features(self) -> Features:
        """No entry rows."""
        return NO_FEATURES


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
    def bridged(self) -> bool:
        """Whether the suite's sync clients are an asyncio adapter behind a bridge
        (:class:`~pagedlist.conformance.blocking.AsyncAdapterFixtures`)."""
        return False

    @pytest.fixture
    def layout(self) -> int | None:
        """The layout lists are created in: ``None`` for the store's own default (2 where
        it has entry rows); :class:`LayoutOneFixtures` forces 1."""
        return None

    @pytest.fixture
    def make_store(
        self, store_url: str, capabilities: Capabilities, layout: int | None
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
            return LayoutOneStore(store) if layout == 1 else store

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

        def key(suffix: str = "") -> str:
            return f"{list_id}|{suffix}"

        return key

    @pytest.fixture(autouse=True)
    def _check_requirements(self, request: pytest.FixtureRequest) -> None:
        marker = request.node.get_closest_marker("pagedlist_requires")
        if marker is None:
            return
        caps = request.getfixturevalue("capabilities")
        for name in marker.args:
            if name in ("layout1", "layout2"):
                store = request.getfixturevalue("store")
                have = 2 if store.features.entries else 1
                if int(name[-1]) != have:
                    pytest.skip(
                        f"a layout-{name[-1]} clause; lists of this run use layout {have}"
                    )
            elif name in Features.__dataclass_fields__:
                store = request.getfixturevalue("store")
                if not getattr(store.features, name):
                    pytest.skip(
                        f"needs store feature {name!r}: {store.describe()} does not offer it "
                        f"({store.features})"
                    )
            elif not getattr(caps, name):
                pytest.skip(f"needs capability {name!r}: {caps.why_not(name)}")


class LayoutOneFixtures:
    """Mix in before a ``StoreFixtures`` subclass to run the list clauses in layout 1."""

    @pytest.fixture
    def layout(self) -> int | None:
        """Layout 1: page rows."""
        return 1

    @pytest.fixture(autouse=True)
    def _only_where_layout_two_is_default(self, request: pytest.FixtureRequest) -> None:
        store = open_store(request.getfixturevalue("store_url"))
        try:
            if not store.features.entries:
                pytest.skip("this store has no entry rows: its main suite runs layout 1 already")
        finally:
            store.close()
