"""``CountingStore``: a store wrapper that counts protocol calls (round trips).

Tests assert round-trip budgets with it and benchmarks report calls per operation.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from pagedlist.core.ops import AppendOutcome, JSONDoc, Limits, Row
from pagedlist.core.store import Store

__all__ = ["CountingStore"]


class CountingStore(Store):
    """Delegates every call to ``inner`` and counts them by method name."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self._lock:
            self.calls[name] += 1

    @property
    def total(self) -> int:
        """All calls counted so far."""
        return sum(self.calls.values())

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.calls.clear()

    @property
    def limits(self) -> Limits:
        """The inner store's limits (not counted: no round trip)."""
        return self.inner.limits

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """Counted ``put_if_absent``."""
        self._count("put_if_absent")
        return self.inner.put_if_absent(key, doc)

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """Counted ``replace``."""
        self._count("replace")
        return self.inner.replace(key, doc, version)

    def get(self, key: str) -> Row | None:
        """Counted ``get``."""
        self._count("get")
        return self.inner.get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """Counted ``get_many`` (one call, however the adapter splits it)."""
        self._count("get_many")
        return self.inner.get_many(keys)

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """Counted ``append``."""
        self._count("append")
        return self.inner.append(key, field, entries, max_len)

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """Counted ``increment``."""
        self._count("increment")
        return self.inner.increment(key, field, by, expect)

    def delete(self, key: str) -> None:
        """Counted ``delete``."""
        self._count("delete")
        self.inner.delete(key)

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The inner store's size rule."""
        return self.inner.row_size(key, doc)

    def close(self) -> None:
        """Close the inner store."""
        self.inner.close()

    def stats(self) -> Mapping[str, Any]:
        """The inner store's totals plus the call counts."""
        return {**self.inner.stats(), "calls": dict(self.calls)}

    def describe(self) -> str:
        """The inner store's description."""
        return self.inner.describe()
