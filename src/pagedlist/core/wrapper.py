"""``StoreWrapper``: a store that passes every call to another store.

Everything that wraps a store (call counting, timing, fault injection, telemetry) is a
subclass that changes only what it needs, in the manner of py-key-value's ``BaseWrapper``::

    class Logged(StoreWrapper):
        def _call(self, name, fn, *args):
            print("->", name)
            return fn(*args)

Every protocol operation, row and entry operations alike, goes through one hook,
:meth:`StoreWrapper._call`, so a wrapper that treats all calls alike overrides that alone;
one that treats a call specially overrides that call and uses ``super()`` for the rest.
Properties and helpers that are not store calls (``limits``, ``features``, ``row_size``,
``describe``, ``close``, ``stats``) go straight to the wrapped store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pagedlist.core.ops import (
    AppendOutcome,
    ClaimOutcome,
    Features,
    JSONDoc,
    Limits,
    Pushed,
    Row,
    Scan,
    Slot,
)
from pagedlist.core.store import Store

__all__ = ["StoreWrapper"]


class StoreWrapper(Store):
    """Delegates the whole store protocol to ``inner`` through :meth:`_call`."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def _call(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one store call: ``fn(*args)`` is the wrapped store's method ``name``.
        Override to observe or change every call."""
        return fn(*args)

    # --- not store calls -------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """The wrapped store's limits."""
        return self.inner.limits

    @property
    def features(self) -> Features:
        """The wrapped store's features."""
        return self.inner.features

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The wrapped store's size rule."""
        return self.inner.row_size(key, doc)

    def close(self) -> None:
        """Close the wrapped store."""
        self.inner.close()

    def stats(self) -> Mapping[str, Any]:
        """The wrapped store's running totals."""
        return self.inner.stats()

    def describe(self) -> str:
        """The wrapped store's description."""
        return self.inner.describe()

    # --- row operations ----------------------------------------------------------------

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """Delegated."""
        return self._call("put_if_absent", self.inner.put_if_absent, key, doc)

    def insert(self, key: str, doc: JSONDoc) -> Row | None:
        """Delegated."""
        return self._call("insert", self.inner.insert, key, doc)

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """Delegated."""
        return self._call("replace", self.inner.replace, key, doc, version)

    def get(self, key: str) -> Row | None:
        """Delegated."""
        return self._call("get", self.inner.get, key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """Delegated (the keys are made a list first, so a wrapper may read them)."""
        return self._call("get_many", self.inner.get_many, list(keys))

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """Delegated (the entries are made a list first)."""
        return self._call("append", self.inner.append, key, field, list(entries), max_len)

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """Delegated."""
        return self._call("increment", self.inner.increment, key, field, by, expect)

    def delete(self, key: str) -> None:
        """Delegated."""
        return self._call("delete", self.inner.delete, key)

    # --- entry operations ----------------------------------------------------------------

    def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """Delegated."""
        return self._call("claim", self.inner.claim, list_id, first, entries)

    def push(self, list_id: str, entries: Sequence[JSONDoc], floor: int = 0) -> Pushed:
        """Delegated."""
        return self._call("push", self.inner.push, list_id, entries, floor)

    def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """Delegated."""
        return self._call("scan", self.inner.scan, list_id, lo, hi, limit, newest_first)

    def scan_many(self, scans: Sequence[Scan]) -> tuple[tuple[Slot, ...], ...]:
        """Delegated (one call, however the wrapped store batches it)."""
        return self._call("scan_many", self.inner.scan_many, scans)

    def get_entry(self, list_id: str, position: int) -> Row | None:
        """Delegated."""
        return self._call("get_entry", self.inner.get_entry, list_id, position)

    def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """Delegated."""
        return self._call(
            "replace_entry", self.inner.replace_entry, list_id, position, entry, version
        )

    def purge(self, list_id: str, below: int) -> None:
        """Delegated."""
        return self._call("purge", self.inner.purge, list_id, below)

    def drop_entries(self, list_id: str) -> None:
        """Delegated."""
        return self._call("drop_entries", self.inner.drop_entries, list_id)

    def find_id(self, list_id: str, item_id: str) -> int | None:
        """Delegated."""
        return self._call("find_id", self.inner.find_id, list_id, item_id)
