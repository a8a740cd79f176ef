"""``BlockingStore``: a sync :class:`~pagedlist.core.store.Store` over an asyncio adapter,
so every store clause of the suite runs against async adapters too.

Each ``BlockingStore`` owns an event loop on a thread of its own; a sync call submits the
adapter's coroutine there and waits for it. The async adapter is opened on that loop, so
its client (``redis.asyncio``, ``aiobotocore``...) lives on the loop it was made for.
Compose :class:`AsyncAdapterFixtures` before a fixtures class to run the suite this way::

    class TestRedisAsync(ConformanceSuite, AsyncAdapterFixtures, RedisFixtures):
        pass
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import Any, TypeVar

import pytest

from pagedlist.adapters import ADAPTERS, adapter_for, open_async_store, scheme_of
from pagedlist.core.astore import AsyncStore, ThreadedAsyncStore
from pagedlist.core.capabilities import Capabilities
from pagedlist.core.ops import Features, JSONDoc, Limits
from pagedlist.core.store import Store
from pagedlist.core.wrapper import CALLS
from pagedlist.errors import ContractViolation

__all__ = ["AsyncAdapterFixtures", "BlockingStore"]

T = TypeVar("T")


def _blocking(name: str) -> Callable[..., Any]:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self._wait(getattr(self.inner, name)(*args, **kwargs))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{name}`` of the async store, awaited on its loop."
    return call


class BlockingStore(Store):
    """The async store ``open()`` makes, served synchronously from a private loop."""

    # The protocol's abstract calls, named so type checkers see a concrete class; the loop
    # below the class routes every other call the same way.
    put_if_absent = _blocking("put_if_absent")
    replace = _blocking("replace")
    append = _blocking("append")
    increment = _blocking("increment")
    get = _blocking("get")
    get_many = _blocking("get_many")
    delete = _blocking("delete")

    def __init__(self, open_: Callable[[], Awaitable[AsyncStore]]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def opened() -> AsyncStore:
            return await open_()

        self.inner: AsyncStore = self._wait(opened())
        self.scheme = self.inner.scheme

    @classmethod
    def through(cls, url: str, route: Callable[[str, int], tuple[str, int]]) -> BlockingStore:
        """The scheme's asyncio adapter opened through the fault proxy (clause W1): its own
        ``through(url, route)`` coroutine, or, for a scheme served by threads, the sync
        adapter's ``through`` in a :class:`ThreadedAsyncStore`."""
        info = ADAPTERS[scheme_of(url)]
        if info.async_target is None:
            hook = getattr(adapter_for(url), "through", None)
            if hook is None:
                raise ContractViolation(f"{adapter_for(url).__name__} has no through(url, route)")

            async def threaded() -> AsyncStore:
                return ThreadedAsyncStore(await asyncio.to_thread(hook, url, route))

            return cls(threaded)
        module, _, name = info.async_target.partition(":")
        target = getattr(importlib.import_module(module), name)
        ahook = getattr(target, "through", None)
        if ahook is None:
            raise ContractViolation(
                f"{target.__name__} has no through(url, route) coroutine, so the fault proxy "
                "cannot reach its connections"
            )
        return cls(lambda: ahook(url, route))

    def _wait(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def limits(self) -> Limits:
        """The async store's limits."""
        return self.inner.limits

    @property
    def features(self) -> Features:
        """The async store's features."""
        return self.inner.features

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The async store's size rule."""
        return self.inner.row_size(key, doc)

    def stats(self) -> Mapping[str, Any]:
        """The async store's totals."""
        return self.inner.stats()

    def describe(self) -> str:
        """The async store's description."""
        return f"{self.inner.describe()} (async adapter)"

    def close(self) -> None:
        """Close the async store, then stop the loop."""
        if self._loop.is_closed():
            return
        try:
            self._wait(self.inner.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()


# Every store call of the protocol, abstract or not, goes to the async adapter's own.
for _name in CALLS:
    setattr(BlockingStore, _name, _blocking(_name))
BlockingStore.__abstractmethods__ = frozenset()


class AsyncAdapterFixtures:
    """Mix in before a ``StoreFixtures`` subclass: every client the suite opens is the
    scheme's asyncio adapter (``open_async_store``) behind a :class:`BlockingStore`."""

    @pytest.fixture
    def bridged(self) -> bool:
        """Yes: every client is the asyncio adapter behind a blocking bridge."""
        return True

    @pytest.fixture
    def make_store(
        self, store_url: str, capabilities: Capabilities, layout: int | None
    ) -> Iterator[Callable[[], Store]]:
        """Clients of the async adapter; they share one when ``independent_clients`` is off."""
        from pagedlist.conformance.fixtures import LayoutOneStore

        opened: list[Store] = []
        shared = None
        if not capabilities.independent_clients:
            shared = BlockingStore(lambda: open_async_store(store_url))
            opened.append(shared)

        def make() -> Store:
            store = shared
            if store is None:
                store = BlockingStore(lambda: open_async_store(store_url))
                opened.append(store)
            return LayoutOneStore(store) if layout == 1 else store

        yield make
        for store in opened:
            store.close()
