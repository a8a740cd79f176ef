"""The store protocol: the only thing a backend adapter implements.

Rows are ``key -> JSON document``. Keys are strings the core builds (letters, digits,
``. _ - : |``); documents are JSON objects whose values are ``str``, ``int``, ``bool``,
``None``, lists and objects (the core never stores floats: item values travel as JSON text).

Every method is atomic on its own row and linearizable: once a call returns, every later
call on any client sees its effect. Each adapter uses its backend's native atomic
operation (a conditional write, a server-side script, a transaction), never a client-side
read-modify-write. ``docs/contract.md`` numbers each clause; the conformance suite checks
them one by one.

Adapters raise :mod:`pagedlist.errors` classes (``StoreUnavailable``, ``Throttled``,
``DeadlineExceeded`` for transient failures, ``ItemTooLarge`` for a row over the limit),
chained to the SDK's exception.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from pagedlist.core.entries import merge_answer
from pagedlist.core.ops import (
    Append,
    AppendOutcome,
    Claim,
    ClaimOutcome,
    Delete,
    DropEntries,
    Features,
    FindId,
    Get,
    GetEntry,
    GetMany,
    Increment,
    Insert,
    JSONDoc,
    Limits,
    Merged,
    MergeScan,
    Operation,
    Purge,
    Push,
    Pushed,
    PutIfAbsent,
    Replace,
    ReplaceEntry,
    Row,
    Scan,
    ScanMany,
    Slot,
)
from pagedlist.errors import ItemTooLarge, Unsupported

__all__ = ["NO_FEATURES", "Store", "compact_json", "perform", "too_large"]

#: What a store that implements only the row operations offers.
NO_FEATURES = Features()


def compact_json(doc: Any) -> str:
    """JSON text without spaces, non-ASCII kept as is: how the embedded stores keep rows."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def too_large(key: str, size: int, limit: int) -> ItemTooLarge:
    """The error for a write that would make row ``key`` ``size`` bytes, over ``limit``."""
    return ItemTooLarge(
        f"row {key!r} would be {size} bytes, over the store's {limit}-byte row limit; "
        "nothing was written: use smaller items, or a list with a smaller capacity"
    )


class Store(abc.ABC):
    """Base class of every backend adapter. Subclasses implement the abstract methods."""

    #: URL scheme(s) this adapter serves, for messages and ``pagedlist info``.
    scheme: str = ""

    @classmethod
    def from_url(cls, url: str) -> Store:
        """Open a store from its URL; raise ``ConfigError`` naming the accepted form if the
        URL is malformed. ``open_store`` calls this after picking the adapter by scheme."""
        raise NotImplementedError(f"{cls.__name__} cannot be opened from a URL")

    @classmethod
    def provision(cls, url: str) -> str:
        """Create what the store needs (a table, a container) if absent; return what was done.

        Called by ``pagedlist init URL``. Adapters whose backend needs no schema keep this.
        """
        return "nothing to provision for this store"

    @property
    @abc.abstractmethod
    def limits(self) -> Limits:
        """The backend's size limits, used to size pages and validate list ids."""

    @property
    def features(self) -> Features:
        """What this store offers beyond the row operations (entry rows, tail pushes).

        The default is none: a store that implements only the row operations still runs
        every list, in layout 1 (page rows).
        """
        return NO_FEATURES

    @abc.abstractmethod
    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """Create ``key`` with ``doc`` if no row has that key. Return whether it was created."""

    @abc.abstractmethod
    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """Overwrite ``key`` only if its current version is ``version``.

        Return the new version, or ``None`` if the row changed or is missing.
        """

    @abc.abstractmethod
    def get(self, key: str) -> Row | None:
        """Read one row (strongly consistent), or ``None`` if absent."""

    @abc.abstractmethod
    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """Read many rows; missing keys are absent from the result, duplicates read once.

        The adapter splits the request by its backend's batch limits and retries keys the
        backend left unprocessed, so callers may pass any number of keys.
        """

    @abc.abstractmethod
    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """Append ``entries`` (each a dict with a string ``id``) to list ``field`` of ``key``.

        All or nothing, creating the row (and field) if absent. Checked in this order:
        ``Duplicate(index, entry)`` if an entry's id is already in the list; ``Full(length)``
        if ``length + len(entries) > max_len``; else ``Appended(new_length)``.
        """

    @abc.abstractmethod
    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """Add ``by`` to integer ``field`` (a missing row or field counts as 0 and is created).

        With ``expect``, only when the current value equals it; return ``None`` if not.
        Return the new value otherwise.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; deleting a missing row is not an error."""

    def insert(self, key: str, doc: JSONDoc) -> Row | None:
        """Create ``key`` with ``doc`` unless it exists; return ``None`` if created, else
        the existing row.

        The default makes two calls when the row exists (a refused create, then a read);
        adapters whose backend returns the existing row with the refusal override it.
        """
        while True:
            if self.put_if_absent(key, doc):
                return None
            row = self.get(key)
            if row is not None:
                return row
            # Deleted between the two calls: try the create again.

    # --- entry operations (layout 2): only where ``features.entries`` -------------------

    def _unsupported(self, what: str) -> Unsupported:
        return Unsupported(
            f"{type(self).__name__} does not implement {what} (its features are "
            f"{self.features}); lists on it use layout 1"
        )

    def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """Create the entry rows ``first .. first + len(entries) - 1`` of ``list_id``, all or
        nothing, only if none exists: ``Claimed()``, or ``Taken(position, entry)`` naming
        the lowest position that already holds an entry (nothing written)."""
        raise self._unsupported("claim")

    def push(self, list_id: str, entries: Sequence[JSONDoc], floor: int = 0) -> Pushed:
        """Append at the list's tail in one atomic call; entries whose id the list holds are
        answered with their position and not written again (``features.push``)."""
        raise self._unsupported("push")

    def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """Entry rows with ``lo <= position < hi``, in position order (descending with
        ``newest_first``), at most ``limit``."""
        raise self._unsupported("scan")

    def scan_many(self, scans: Sequence[Scan]) -> tuple[tuple[Slot, ...], ...]:
        """Several scans in one batch; the default runs them one after the other."""
        return tuple(self.scan(s.list_id, s.lo, s.hi, s.limit, s.newest_first) for s in scans)

    def merge_scan(
        self,
        scans: Sequence[Scan],
        n: int,
        fresh: Sequence[str] = (),
        last: tuple[int, str, int] | None = None,
    ) -> tuple[Merged, ...]:
        """Newest-first scans merged, the first ``n`` picks shipped (see ``MergeScan``).

        The default merges :meth:`scan_many`'s answer in Python (the reference,
        ``core.entries.merge_answer``); a store declares ``features.merge`` only when it
        merges on the server, so the core asks it instead of merging 20 lists' rows itself.
        """
        return merge_answer(scans, self.scan_many(scans), n, fresh, last)

    def get_entry(self, list_id: str, position: int) -> Row | None:
        """The entry row at ``position`` with its version, or ``None``."""
        raise self._unsupported("get_entry")

    def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """Overwrite the entry row at ``position`` if its version is still ``version``;
        return the new version, or ``None``. Never creates a row."""
        raise self._unsupported("replace_entry")

    def purge(self, list_id: str, below: int) -> None:
        """Remove every entry row below position ``below`` (and their ids from the index)."""
        raise self._unsupported("purge")

    def drop_entries(self, list_id: str) -> None:
        """Remove every entry row of ``list_id``, its id index and tail counter."""
        raise self._unsupported("drop_entries")

    def find_id(self, list_id: str, item_id: str) -> int | None:
        """The position of the entry whose id is ``item_id`` (``features.push``), or ``None``."""
        raise self._unsupported("find_id")

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The size of a row the way this backend counts it against ``limits.row_bytes``.

        The default counts the key plus the document's compact UTF-8 JSON text; adapters
        whose backend counts otherwise (DynamoDB: attribute names plus values) override it.
        """
        return len(key.encode("utf-8")) + len(compact_json(doc).encode("utf-8"))

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters need it
        """Release connections. The store is unusable afterwards."""

    def stats(self) -> Mapping[str, Any]:
        """Running totals the backend reports (capacity units, request charge...)."""
        return {}

    def describe(self) -> str:
        """A one-line description safe to print: no passwords, keys or tokens."""
        return f"{type(self).__name__}"

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: Operation class -> the Store method that carries it out; each operation's fields are
#: that method's arguments, in order.
CALLS: dict[type, str] = {
    Append: "append",
    Get: "get",
    GetMany: "get_many",
    Increment: "increment",
    PutIfAbsent: "put_if_absent",
    Replace: "replace",
    Delete: "delete",
    Insert: "insert",
    Claim: "claim",
    Push: "push",
    Scan: "scan",
    ScanMany: "scan_many",
    MergeScan: "merge_scan",
    GetEntry: "get_entry",
    ReplaceEntry: "replace_entry",
    Purge: "purge",
    DropEntries: "drop_entries",
    FindId: "find_id",
}
_FIELDS: dict[type, tuple[str, ...]] = {
    kind: tuple(f.name for f in dataclasses.fields(kind)) for kind in CALLS
}


def _arguments(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A C-level getter of an operation's fields as a tuple (``attrgetter`` of one name
    answers the bare value, so that case is wrapped)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    one = operator.attrgetter(names[0])
    return lambda op: (one(op),)


#: Per operation kind: the store method's name and the getter of the call's arguments.
_CALLING: dict[type, tuple[str, Callable[[Any], tuple[Any, ...]]]] = {
    kind: (CALLS[kind], _arguments(names)) for kind, names in _FIELDS.items()
}


def perform(store: Store, op: Operation) -> Any:
    """Carry out one protocol operation on ``store`` and return its answer."""
    calling = _CALLING.get(type(op))
    if calling is None:
        raise TypeError(f"not a store operation: {op!r}")
    method, arguments = calling
    return getattr(store, method)(*arguments(op))
