"""``TimedStore``: counts store calls per thread and the thread CPU spent inside them.

The core's :class:`~pagedlist.core.counting.CountingStore` counts calls globally, which is
enough for round-trip budgets; a benchmark with many threads needs each operation's own
calls and the CPU its thread spent inside the adapter, so that "core overhead" (client CPU
beyond the store call) can be told apart from the SDK's own work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pagedlist.core.ops import AppendOutcome, JSONDoc, Limits, Row
from pagedlist.core.store import Store

__all__ = ["Tally", "TimedStore"]

T = TypeVar("T")


class Tally(threading.local):
    """Per-thread running totals: store (or SDK) calls made and thread CPU spent in them."""

    calls: int = 0
    cpu: float = 0.0

    def mark(self) -> tuple[int, float]:
        """This thread's ``(calls, cpu seconds)`` so far."""
        return self.calls, self.cpu

    def time(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` as one call, adding its thread CPU time to this thread's totals."""
        start = time.thread_time()
        try:
            return fn()
        finally:
            self.cpu += time.thread_time() - start
            self.calls += 1


class TimedStore(Store):
    """Delegates every call to ``inner``; :meth:`mark` reads this thread's running totals."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self._tally = Tally()
        self._lock = threading.Lock()
        self.total_calls = 0

    def mark(self) -> tuple[int, float]:
        """This thread's ``(calls, cpu seconds inside the store)`` so far."""
        return self._tally.mark()

    def _timed(self, fn: Callable[[], T]) -> T:
        try:
            return self._tally.time(fn)
        finally:
            with self._lock:
                self.total_calls += 1

    @property
    def limits(self) -> Limits:
        """The inner store's limits (no round trip)."""
        return self.inner.limits

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """Timed ``put_if_absent``."""
        return self._timed(lambda: self.inner.put_if_absent(key, doc))

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """Timed ``replace``."""
        return self._timed(lambda: self.inner.replace(key, doc, version))

    def get(self, key: str) -> Row | None:
        """Timed ``get``."""
        return self._timed(lambda: self.inner.get(key))

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """Timed ``get_many`` (one call however the adapter splits it)."""
        return self._timed(lambda: self.inner.get_many(keys))

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """Timed ``append``."""
        return self._timed(lambda: self.inner.append(key, field, entries, max_len))

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """Timed ``increment``."""
        return self._timed(lambda: self.inner.increment(key, field, by, expect))

    def delete(self, key: str) -> None:
        """Timed ``delete``."""
        self._timed(lambda: self.inner.delete(key))

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The inner store's size rule."""
        return self.inner.row_size(key, doc)

    def close(self) -> None:
        """Close the inner store."""
        self.inner.close()

    def stats(self) -> Mapping[str, Any]:
        """The inner store's running totals."""
        return self.inner.stats()

    def describe(self) -> str:
        """The inner store's description."""
        return self.inner.describe()
