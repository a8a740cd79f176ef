"""In-memory store: one process, thread-safe, nothing persisted.

The reference implementation of the store contract, row and entry operations alike: every
primitive runs under one lock, which is exactly the atomicity the contract asks of a real
backend. Used by the tests, the simulation scheduler and the core overhead benchmark.

``memory://`` offers ``push`` (the store resolves a list's tail, like SQLite or Redis);
``memory://?push=false`` offers only ``claim`` (callers name positions, like DynamoDB), so
both append paths of layout 2 run against the reference store. Entry rows are returned
as stored, without copies: they are immutable once written (an edit writes a new dict),
and callers must not mutate what a read returns.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pagedlist.adapters._toolkit import not_a_list, not_an_integer, tallied
from pagedlist.core.astore import InlineAsyncStore
from pagedlist.core.capabilities import Capabilities
from pagedlist.core.ops import (
    Appended,
    AppendOutcome,
    Claimed,
    ClaimOutcome,
    Duplicate,
    Features,
    Full,
    JSONDoc,
    Limits,
    Pushed,
    Row,
    Slot,
    Taken,
)
from pagedlist.core.store import Store, compact_json, too_large
from pagedlist.errors import ConfigError

__all__ = ["AsyncMemoryStore", "MemorySnapshot", "MemoryStore"]

# Matches DynamoDB's item limit, so a list sized here gets the capacity it would get there.
MEMORY_ROW_BYTES = 400 * 1024


_SCALARS = frozenset({str, int, bool, float, type(None)})
_LIMITS = Limits(row_bytes=MEMORY_ROW_BYTES, key_bytes=1024, value_expansion=6)


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


@dataclass
class _Entries:
    """One list's entry rows: position -> (entry, version), positions kept sorted."""

    rows: dict[int, tuple[JSONDoc, int]] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    tail: int = 0
    """Push stores: the next position a push takes."""
    ids: dict[str, int] = field(default_factory=dict)
    """Push stores: entry id -> position."""

    def copy(self) -> _Entries:
        return _Entries(dict(self.rows), list(self.order), self.tail, dict(self.ids))


@dataclass(frozen=True)
class MemorySnapshot:
    """Everything a :class:`MemoryStore` holds, for the simulation (``snapshot``/``restore``).

    ``rows`` maps key -> (doc, version); ``entries`` maps list id -> {position: (entry,
    version)}; ``tails`` and ``ids`` are the push stores' tail counters and id indexes.
    Documents are shared with the store, never mutated by it, so a snapshot is cheap.
    """

    rows: dict[str, tuple[JSONDoc, int, int]]
    entries: dict[str, _Entries]
    next_version: int


@tallied
class MemoryStore(Store):
    """A dict behind a lock. ``memory://`` URLs each open a new, empty store."""

    scheme = "memory"
    capabilities = MemoryCapabilities

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        """``memory://`` (a new empty store with ``push``) or ``memory://?push=false``."""
        query = parse_qs(urlsplit(url).query)
        unknown = sorted(set(query) - {"push"})
        if unknown:
            raise ConfigError(
                f"memory store URL {url!r} has unknown option(s) {', '.join(unknown)}; "
                "accepted: push=true|false (memory:// or memory://?push=false)"
            )
        value = query.get("push", ["true"])[-1].lower()
        if value not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"push in {url!r} must be true or false, got {value!r}")
        return cls(push=value in ("true", "1", "yes"))

    def __init__(self, *, push: bool = True, claim_entries: int = 100) -> None:
        self._rows: dict[str, tuple[JSONDoc, int, int]] = {}
        # key -> field -> {entry id: index}, so a de-duplicating append is O(entries).
        self._ids: dict[str, dict[str, dict[str, int]]] = {}
        self._entries: dict[str, _Entries] = {}
        self._lock = threading.Lock()
        self._versions = itertools.count(1)
        self._features = Features(entries=True, push=push, claim_entries=claim_entries)

    @property
    def limits(self) -> Limits:
        """No real limits; rows are capped like DynamoDB's for portable sizing. Rows are
        counted as compact JSON text, in which an id's control characters are escaped."""
        return _LIMITS

    @property
    def features(self) -> Features:
        """Entry rows, with ``push`` unless opened with ``push=false``."""
        return self._features

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

    def insert(self, key: str, doc: JSONDoc) -> Row | None:
        """Create ``key`` unless present; else return the existing row (one lock hold)."""
        with self._lock:
            current = self._rows.get(key)
            if current is not None:
                return Row(_clone(current[0]), str(current[1]))
            self._set(key, _clone(doc))
            return None

    # --- entry operations ----------------------------------------------------------------

    def _list(self, list_id: str) -> _Entries:
        found = self._entries.get(list_id)
        if found is None:
            found = self._entries[list_id] = _Entries()
        return found

    def _entry_row(self, list_id: str, position: int, entry: JSONDoc) -> JSONDoc:
        """The entry as the store keeps it, refused with ``ItemTooLarge`` over the row limit.

        Entries are flat objects of short fields plus the value text: a bound of their JSON
        text's size is cheap (every character escaped, 6 bytes of UTF-8 at most), and only
        an entry that might cross the limit is measured exactly.
        """
        rough = len(list_id) + 64 + sum(6 * len(str(k)) + 6 * len(str(v)) for k, v in entry.items())
        if rough > MEMORY_ROW_BYTES:
            size = self.row_size(f"{list_id}|e", entry)
            if size > MEMORY_ROW_BYTES:
                raise too_large(f"{list_id}|e{position}", size, MEMORY_ROW_BYTES)
        # Entries are flat (str and int fields): a shallow copy keeps them unshared.
        return dict(entry)

    def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """All-or-nothing create of the entry rows ``first ..``."""
        batch = [self._entry_row(list_id, first + i, e) for i, e in enumerate(entries)]
        with self._lock:
            lst = self._list(list_id)
            for pos in range(first, first + len(batch)):
                taken = lst.rows.get(pos)
                if taken is not None:
                    return Taken(pos, taken[0])
            for i, entry in enumerate(batch):
                self._put_entry(lst, first + i, entry)
            # A later push must step over claimed rows, never answer a position it did not
            # write (that would acknowledge an item the store does not hold).
            lst.tail = max(lst.tail, first + len(batch))
            return Claimed()

    def _put_entry(self, lst: _Entries, pos: int, entry: JSONDoc) -> None:
        if pos not in lst.rows:
            if not lst.order or pos > lst.order[-1]:
                lst.order.append(pos)
            else:
                bisect.insort(lst.order, pos)
        lst.rows[pos] = (entry, next(self._versions))

    def push(self, list_id: str, entries: Sequence[JSONDoc], floor: int = 0) -> Pushed:
        """Append at the tail under the lock; known ids answer their position."""
        if not self._features.push:
            raise self._unsupported("push")
        batch = [self._entry_row(list_id, 0, e) for e in entries]
        with self._lock:
            lst = self._list(list_id)
            tail = max(lst.tail, floor, lst.order[-1] + 1 if lst.order else 0)
            positions: list[int] = []
            fresh: dict[str, int] = {}
            for entry in batch:
                known = lst.ids.get(entry["id"], fresh.get(entry["id"]))
                if known is None:
                    known = fresh[entry["id"]] = tail
                    tail += 1
                positions.append(known)
            for entry, pos in zip(batch, positions, strict=True):
                if fresh.get(entry["id"]) == pos and pos not in lst.rows:
                    self._put_entry(lst, pos, entry)
                    lst.ids[entry["id"]] = pos
            lst.tail = tail
            return Pushed(tuple(positions))

    def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """Entry rows in ``[lo, hi)`` in position order, at most ``limit``."""
        with self._lock:
            lst = self._entries.get(list_id)
            if lst is None:
                return ()
            order = lst.order
            a = bisect.bisect_left(order, lo)
            b = len(order) if hi is None else bisect.bisect_left(order, hi)
            rows = lst.rows
            if newest_first:
                picked = order[max(a, b - limit) : b][::-1]
            else:
                picked = order[a : min(b, a + limit)]
            return tuple([(pos, rows[pos][0]) for pos in picked])

    def get_entry(self, list_id: str, position: int) -> Row | None:
        """The entry row at ``position`` and its version."""
        with self._lock:
            lst = self._entries.get(list_id)
            found = None if lst is None else lst.rows.get(position)
            return None if found is None else Row(found[0], str(found[1]))

    def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """Compare-and-swap on the entry row's version; never creates one."""
        new = self._entry_row(list_id, position, entry)
        with self._lock:
            lst = self._entries.get(list_id)
            found = None if lst is None else lst.rows.get(position)
            if found is None or str(found[1]) != version:
                return None
            assert lst is not None
            stamp = next(self._versions)
            lst.rows[position] = (new, stamp)
            return str(stamp)

    def purge(self, list_id: str, below: int) -> None:
        """Drop the entry rows below ``below`` and their ids."""
        with self._lock:
            lst = self._entries.get(list_id)
            if lst is None:
                return
            cut = bisect.bisect_left(lst.order, below)
            for pos in lst.order[:cut]:
                entry = lst.rows.pop(pos)[0]
                if lst.ids.get(entry["id"]) == pos:
                    del lst.ids[entry["id"]]
            del lst.order[:cut]

    def drop_entries(self, list_id: str) -> None:
        """Forget every entry row, id and the tail of ``list_id``."""
        with self._lock:
            self._entries.pop(list_id, None)

    def find_id(self, list_id: str, item_id: str) -> int | None:
        """The position of ``item_id`` in the list's id index."""
        if not self._features.push:
            raise self._unsupported("find_id")
        with self._lock:
            lst = self._entries.get(list_id)
            return None if lst is None else lst.ids.get(item_id)

    # --- inspection (tests, the simulation) ------------------------------------------------

    def snapshot(self) -> MemorySnapshot:
        """Everything the store holds, sharing its (immutable) documents."""
        with self._lock:
            entries = {lid: lst.copy() for lid, lst in self._entries.items()}
            mark = next(self._versions)
            return MemorySnapshot(dict(self._rows), entries, mark)

    def restore(self, snap: MemorySnapshot) -> None:
        """Make the store hold exactly ``snap`` (row versions continue past its own)."""
        with self._lock:
            self._rows = dict(snap.rows)
            self._ids = {}
            self._entries = {lid: lst.copy() for lid, lst in snap.entries.items()}
            self._versions = itertools.count(snap.next_version + 1)

    def keys(self) -> list[str]:
        """Every key, sorted (for tests and debugging)."""
        with self._lock:
            return sorted(self._rows)

    def describe(self) -> str:
        """``memory://`` and the row count."""
        return f"memory:// ({len(self._rows)} rows)"


class AsyncMemoryStore(InlineAsyncStore):
    """``memory://`` for asyncio: the same store, each call run inline (it never waits)."""

    scheme = "memory"

    @classmethod
    async def from_url(cls, url: str) -> AsyncMemoryStore:
        """``memory://`` or ``memory://?push=false``: a new empty store."""
        return cls(MemoryStore.from_url(url))
