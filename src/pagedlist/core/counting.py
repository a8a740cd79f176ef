"""``CountingStore``: a store wrapper that counts protocol calls (round trips).

Tests assert round-trip budgets with it and benchmarks report calls per operation.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pagedlist.core.astore import AsyncStore
from pagedlist.core.awrapper import AsyncStoreWrapper
from pagedlist.core.store import Store
from pagedlist.core.wrapper import StoreWrapper

__all__ = ["AsyncCountingStore", "CountingStore"]

T = TypeVar("T")


class CountingStore(StoreWrapper):
    """Delegates every call to ``inner`` and counts them by method name (``get_many``
    counts once, however the adapter splits it)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._lock:
            self.calls[name] += 1
        return fn(*args, **kwargs)

    @property
    def total(self) -> int:
        """All calls counted so far."""
        return sum(self.calls.values())

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.calls.clear()

    def stats(self) -> Mapping[str, Any]:
        """The inner store's totals plus the call counts."""
        return {**self.inner.stats(), "calls": dict(self.calls)}


class AsyncCountingStore(AsyncStoreWrapper):
    """:class:`CountingStore` for asyncio stores."""

    def __init__(self, inner: AsyncStore) -> None:
        super().__init__(inner)
        self.calls: Counter[str] = Counter()

    async def _call(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.calls[name] += 1
        return await fn(*args, **kwargs)

    @property
    def total(self) -> int:
        """All calls counted so far."""
        return sum(self.calls.values())

    def reset(self) -> None:
        """Start counting from zero."""
        self.calls.clear()

    def stats(self) -> Mapping[str, Any]:
        """The inner store's totals plus the call counts."""
        return {**self.inner.stats(), "calls": dict(self.calls)}
