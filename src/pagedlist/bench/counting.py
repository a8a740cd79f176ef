"""``TimedStore``: counts store calls per thread and the thread CPU spent inside them.

The core's :class:`~pagedlist.core.counting.CountingStore` counts calls globally, which is
enough for round-trip budgets; a benchmark with many threads needs each operation's own
calls and the CPU its thread spent inside the adapter, so that "core overhead" (client CPU
beyond the store call) can be told apart from the SDK's own work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pagedlist.core.store import Store
from pagedlist.core.wrapper import StoreWrapper

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


class TimedStore(StoreWrapper):
    """Delegates every call to ``inner``; :meth:`mark` reads this thread's running totals."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self._tally = Tally()
        self._lock = threading.Lock()
        self.total_calls = 0

    def mark(self) -> tuple[int, float]:
        """This thread's ``(calls, cpu seconds inside the store)`` so far."""
        return self._tally.mark()

    def _call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Every store call, timed as one (``get_many`` once however the adapter splits it)."""
        try:
            return self._tally.time(lambda: fn(*args, **kwargs))
        finally:
            with self._lock:
                self.total_calls += 1
