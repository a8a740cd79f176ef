"""In-memory store: one process, thread-safe, nothing persisted.

The reference implementation of the store contract: every primitive runs under one lock,
which is exactly the atomicity the contract asks of a real backend. Used by the tests, the
simulation scheduler and the core overhead benchmark.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from typing import Any

from pagedlist.adapters._toolkit import not_a_list, not_an_integer
from pagedlist.core.capabilities import Capabilities
from pagedlist.core.ops import Appended, AppendOutcome, Duplicate, Full, JSONDoc, Limits, Row
from pagedlist.core.store import Store, compact_json, too_large

__all__ = ["MemoryStore"]

# Matches DynamoDB's item limit, so a list sized here gets the capacity it would get there.
MEMORY_ROW_BYTES = 400 * 1024


_SCALARS = frozenset({str, int, bool, float, type(None)})


def _clone(value: Any) -> Any:
    # Rows must not share mutable state with callers; entries are small JSON trees, so
    # scalars are copied inline and only containers recurse.
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else _clone(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else _clone(v) for v in value]
    return value


class MemoryCapabilities(Capabilities):
    """What the conformance suite cannot do with ``memory://``."""

    shared_across_processes = False
    independent_clients = False
    network = False
    reason = {
        "shared_across_processes": "memory:// lives inside one process",
        "independent_clients": "each memory:// open is a new, empty store",
        "network": "memory:// makes no network connection for the fault proxy to cut",
    }


class MemoryStore(Store):
    """A dict behind a lock. ``memory://`` URLs each open a new, empty store."""

    scheme = "memory"
    capabilities = MemoryCapabilities

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        """``memory://``: a new empty store (nothing after the scheme is used)."""
        return cls()

    def __init__(self) -> None:
        self._rows: dict[str, tuple[JSONDoc, int, int]] = {}
        # key -> field -> {entry id: index}, so a de-duplicating append is O(entries).
        self._ids: dict[str, dict[str, dict[str, int]]] = {}
        self._lock = threading.Lock()
        self._versions = itertools.count(1)

    @property
    def limits(self) -> Limits:
        """No real limits; rows are capped like DynamoDB's for portable sizing."""
        return Limits(row_bytes=MEMORY_ROW_BYTES, key_bytes=1024)

    def _set(self, key: str, doc: JSONDoc, size: int | None = None) -> str:
        if size is None:
            size = self.row_size(key, doc)
        if size > MEMORY_ROW_BYTES:
            raise too_large(key, size, MEMORY_ROW_BYTES)
        version = next(self._versions)
        self._rows[key] = (doc, version, size)
        return str(version)

    def _forget_ids(self, key: str) -> None:
        self._ids.pop(key, None)

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """Create ``key`` unless present."""
        with self._lock:
            if key in self._rows:
                return False
            self._set(key, _clone(doc))
            return True

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """Compare-and-swap on the row version."""
        with self._lock:
            current = self._rows.get(key)
            if current is None or str(current[1]) != version:
                return None
            new_version = self._set(key, _clone(doc))
            self._forget_ids(key)
            return new_version

    def get(self, key: str) -> Row | None:
        """Read one row."""
        with self._lock:
            current = self._rows.get(key)
            if current is None:
                return None
            return Row(_clone(current[0]), str(current[1]))

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """Read many rows under one lock acquisition."""
        with self._lock:
            out = {}
            for key in keys:
                current = self._rows.get(key)
                if current is not None and key not in out:
                    out[key] = Row(_clone(current[0]), str(current[1]))
            return out

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """Bounded, de-duplicating, all-or-nothing append."""
        batch = [_clone(e) for e in entries]
        with self._lock:
            current = self._rows.get(key)
            doc = current[0] if current else {}
            items: list = doc.get(field, [])
            if not isinstance(items, list):
                raise not_a_list(key, field, items)
            where = self._ids.get(key, {}).get(field)
            if where is None:
                where = {e["id"]: i for i, e in enumerate(items)}
            for offset, entry in enumerate(batch):
                if entry["id"] in where:
                    return Duplicate(where[entry["id"]], offset)
            if len(items) + len(batch) > max_len:
                return Full(len(items))
            size = None
            if current is not None and items:
                # A compact JSON list grows by the entry's text plus one comma.
                size = current[2] + sum(len(compact_json(e).encode("utf-8")) + 1 for e in batch)
            new_doc = dict(doc)
            new_doc[field] = items + batch
            self._set(key, new_doc, size)
            for i, entry in enumerate(batch, start=len(items)):
                where[entry["id"]] = i
            self._ids.setdefault(key, {})[field] = where
            return Appended(len(items) + len(batch))

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """Atomic (compare-and-)increment."""
        with self._lock:
            current = self._rows.get(key)
            doc = current[0] if current else {}
            value = doc.get(field, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise not_an_integer(key, field, value)
            if expect is not None and value != expect:
                return None
            new_doc = dict(doc)
            new_doc[field] = value + by
            self._set(key, new_doc)
            return value + by

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        with self._lock:
            self._rows.pop(key, None)
            self._forget_ids(key)

    def keys(self) -> list[str]:
        """Every key, sorted (for tests and debugging)."""
        with self._lock:
            return sorted(self._rows)

    def describe(self) -> str:
        """``memory://`` and the row count."""
        return f"memory:// ({len(self._rows)} rows)"
