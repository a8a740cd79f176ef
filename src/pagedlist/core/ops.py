"""The store protocol's vocabulary: operations, their outcomes, rows, limits and features.

Operations are plain frozen data that check their own fields when built (an invalid
operation fails where it is made, not inside an adapter). The list algorithms
(``core.algorithms`` for layout 1, ``core.entries`` for layout 2) *yield* them and receive
the store's answer; a driver (``core.driver``) performs them. Nothing here does I/O.

Two families:

* **row operations** (every store): ``PutIfAbsent``, ``Insert``, ``Replace``, ``Get``,
  ``GetMany``, ``Append``, ``Increment``, ``Delete`` on rows ``key -> JSON document``;
* **entry operations** (stores whose :class:`Features` say ``entries``): one row per list
  position, in the list's own collection, read by ordered range: ``Claim``, ``Scan``,
  ``ScanMany``, ``GetEntry``, ``ReplaceEntry``, ``Purge``, ``DropEntries``; and, where the
  store can resolve a list's tail itself in one atomic call (``Features.push``), ``Push``
  and ``FindId``; where it can merge newest-first scans itself (``Features.merge``),
  ``MergeScan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSONDoc = dict[str, Any]

__all__ = [
    "ENTRY_OPERATIONS",
    "Append",
    "AppendOutcome",
    "Appended",
    "Claim",
    "ClaimOutcome",
    "Claimed",
    "Delete",
    "DropEntries",
    "Duplicate",
    "Features",
    "FindId",
    "Full",
    "Get",
    "GetEntry",
    "GetMany",
    "Increment",
    "Insert",
    "JSONDoc",
    "Limits",
    "MergeScan",
    "Merged",
    "Operation",
    "Purge",
    "Push",
    "Pushed",
    "PutIfAbsent",
    "Replace",
    "ReplaceEntry",
    "Row",
    "Scan",
    "ScanMany",
    "Slot",
    "Taken",
]


@dataclass(frozen=True, slots=True)
class Row:
    """A stored row: its JSON document and an opaque version for :meth:`Store.replace`."""

    doc: JSONDoc
    version: str


# --- outcomes of Store.append, checked by every store in this order -----------------------


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An entry's id is already in the list: nothing was written.

    ``entry`` is the offset, in the request, of the first entry found present and ``index``
    is where that entry's id sits in the stored list. Checked before fullness, so a retried
    append finds its own earlier commit even when the list has since filled up.
    """

    index: int
    entry: int = 0


@dataclass(frozen=True, slots=True)
class Full:
    """``length + len(entries) > max_len``: nothing was written.

    ``length`` is the list's current length, so a caller can fill the remaining room.
    """

    length: int


@dataclass(frozen=True, slots=True)
class Appended:
    """All entries were appended; ``length`` is the list's new length."""

    length: int


AppendOutcome = Duplicate | Full | Appended


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What a backend can hold, so the core can size pages and validate ids.

    ``None`` means the backend sets no practical bound.
    """

    row_bytes: int | None
    """Largest row the backend stores, counted the way the backend counts it."""
    key_bytes: int = 255
    """Longest key, in UTF-8 bytes."""
    batch_keys: int | None = None
    """Most keys one backend batch read takes (the adapter splits larger requests)."""
    batch_bytes: int | None = None
    """Most bytes one backend batch read returns (the adapter splits or pages)."""
    append_entries: int | None = None
    """Most entries one atomic append takes (the core splits larger batches)."""
    value_expansion: int = 1
    """Worst-case growth of a raw string (an item id) once stored: 1 when the backend keeps
    it as is, 6 when it is stored inside JSON text (a control character becomes
    ``\\u0001``). A value is already JSON text, which has no control characters left, so
    its own worst growth is ``min(2, value_expansion)`` (every ``"`` and ``\\`` doubled)."""
    entry_overhead: int = 96
    """Bytes an entry adds besides its id and value text: attribute names, the timestamp."""
    row_overhead: int = 1024
    """Bytes a page row adds besides its entries: key, attribute names, bookkeeping (the
    talk's "each page contains 1KB of metadata")."""


# --- checks made when an operation is built --------------------------------------------------


def _key(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty str, got {value!r:.80}")


def _int(name: str, value: object, low: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise TypeError(f"{name} must be an int >= {low}, got {value!r:.80}")


def _doc(name: str, value: object) -> None:
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict (a JSON object), got {type(value).__name__}")


def _entries(value: object) -> None:
    if not isinstance(value, tuple) or not value:
        raise TypeError(f"entries must be a non-empty tuple of dicts, got {value!r:.80}")
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise TypeError(f"every entry must be a dict with a str 'id', got {entry!r:.80}")


# --- row operations ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PutIfAbsent:
    """Create ``key`` with ``doc`` unless it exists. Answer: ``bool`` (created)."""

    key: str
    doc: JSONDoc

    def __post_init__(self) -> None:
        _key("key", self.key)
        _doc("doc", self.doc)


@dataclass(frozen=True, slots=True)
class Insert:
    """Create ``key`` with ``doc`` unless it exists. Answer: ``None`` when created, else
    the existing :class:`Row` (read atomically with the refused create where the backend
    can, e.g. DynamoDB's ``ReturnValuesOnConditionCheckFailure``)."""

    key: str
    doc: JSONDoc

    def __post_init__(self) -> None:
        _key("key", self.key)
        _doc("doc", self.doc)


@dataclass(frozen=True, slots=True)
class Replace:
    """Overwrite ``key`` if its version is still ``version``. Answer: new version or ``None``.

    Not idempotent: repeated after its answer was lost, it answers ``None`` for a write
    that did commit. Every algorithm that yields it re-reads the row on ``None``.
    """

    key: str
    doc: JSONDoc
    version: str

    def __post_init__(self) -> None:
        _key("key", self.key)
        _doc("doc", self.doc)
        _key("version", self.version)


@dataclass(frozen=True, slots=True)
class Get:
    """Read one row. Answer: :class:`Row` or ``None``."""

    key: str

    def __post_init__(self) -> None:
        _key("key", self.key)


@dataclass(frozen=True, slots=True)
class GetMany:
    """Read many rows in one batch. Answer: ``{key: Row}`` with missing rows absent."""

    keys: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.keys, tuple):
            raise TypeError(f"keys must be a tuple of str, got {type(self.keys).__name__}")
        for key in self.keys:
            _key("every key", key)


@dataclass(frozen=True, slots=True)
class Append:
    """Atomically append ``entries`` to list ``field`` of ``key`` (created if absent), all or
    nothing, bounded by ``max_len`` and de-duplicated by entry ``id``.
    Answer: :data:`AppendOutcome`."""

    key: str
    field: str
    entries: tuple[JSONDoc, ...]
    max_len: int

    def __post_init__(self) -> None:
        _key("key", self.key)
        _key("field", self.field)
        _entries(self.entries)
        _int("max_len", self.max_len, 1)


@dataclass(frozen=True, slots=True)
class Increment:
    """Atomically add ``by`` to integer ``field`` of ``key`` (missing counts as 0); with
    ``expect``, only if the current value equals it. Answer: new value, or ``None`` when
    ``expect`` did not match.

    Without ``expect`` it is not idempotent: the driver never repeats it after a failure
    that may have run (it raises ``DeadlineExceeded``, outcome unknown).
    """

    key: str
    field: str
    by: int = 1
    expect: int | None = None

    def __post_init__(self) -> None:
        _key("key", self.key)
        _key("field", self.field)
        if isinstance(self.by, bool) or not isinstance(self.by, int):
            raise TypeError(f"by must be an int, got {self.by!r:.80}")
        if self.expect is not None and (
            isinstance(self.expect, bool) or not isinstance(self.expect, int)
        ):
            raise TypeError(f"expect must be an int or None, got {self.expect!r:.80}")


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove ``key`` if present. Answer: ``None``."""

    key: str

    def __post_init__(self) -> None:
        _key("key", self.key)


# --- entry operations (layout 2) ---------------------------------------------------------------
#
# A list of layout 2 keeps one row per position in a collection of its own (a DynamoDB
# partition, a Cosmos DB logical partition, an OCI shard, a key range in SQL, a hash-tagged
# key set in Redis). An entry is the core's envelope ``{"id", "ts", "v"}``; a deleted item
# keeps ``{"id", "ts", "d": 1}`` (no value); an edited one carries ``"e"`` (edit time, ms).

Slot = tuple[int, JSONDoc]
"""An entry row as read: ``(position, entry)``."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """Every position of the claim was free; all of them now hold the entries."""


@dataclass(frozen=True, slots=True)
class Taken:
    """Position ``position`` (the lowest taken one of the claim) already holds ``entry``:
    nothing was written."""

    position: int
    entry: JSONDoc


ClaimOutcome = Claimed | Taken


@dataclass(frozen=True, slots=True)
class Claim:
    """Create the entry rows of positions ``first .. first + len(entries) - 1`` of list
    ``list_id``, all or nothing, only if none of them exists. Answer: :data:`ClaimOutcome`.

    Repeated after its answer was lost, it finds its own first entry at ``first``: the
    caller recognises the entry's id. The store never overwrites an existing entry row.
    """

    list_id: str
    first: int
    entries: tuple[JSONDoc, ...]

    def __post_init__(self) -> None:
        _key("list_id", self.list_id)
        _int("first", self.first)
        _entries(self.entries)


@dataclass(frozen=True, slots=True)
class Pushed:
    """Where each entry of a :class:`Push` is, in request order: a new entry at the
    list's tail, or the position the list already held its id at."""

    positions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Push:
    """Append ``entries`` at the tail of list ``list_id``, the store resolving the tail in
    the same atomic call (``Features.push``). An entry whose id the list already holds
    anywhere is not written again; the others take the next positions, in order, all or
    nothing. Answer: :class:`Pushed`.

    The store keeps the list's next position itself (never below ``floor``) and an index
    of its ids, so a repeated push is answered with the positions of its first commit.
    """

    list_id: str
    entries: tuple[JSONDoc, ...]
    floor: int = 0

    def __post_init__(self) -> None:
        _key("list_id", self.list_id)
        _entries(self.entries)
        _int("floor", self.floor)


@dataclass(frozen=True, slots=True)
class Scan:
    """Entry rows of ``list_id`` with ``lo <= position < hi`` (``hi`` ``None``: no upper
    bound), ascending, or descending with ``newest_first``, at most ``limit`` of them.
    Answer: ``tuple[Slot, ...]``.

    One ordered range read. Stores whose range reads are not snapshots may miss a row
    written while they read; the core only ever uses the gap-free run that a read proves.
    """

    list_id: str
    lo: int = 0
    hi: int | None = None
    limit: int = 1
    newest_first: bool = False

    def __post_init__(self) -> None:
        _key("list_id", self.list_id)
        _int("lo", self.lo)
        if self.hi is not None:
            _int("hi", self.hi)
        _int("limit", self.limit, 1)


@dataclass(frozen=True, slots=True)
class ScanMany:
    """Several :class:`Scan` s in one batch (one round trip where the backend allows).
    Answer: a tuple with one ``tuple[Slot, ...]`` per scan, in order."""

    scans: tuple[Scan, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.scans, tuple) or not all(isinstance(s, Scan) for s in self.scans):
            raise TypeError("scans must be a tuple of Scan")


@dataclass(frozen=True, slots=True)
class Merged:
    """One list's part of a :class:`MergeScan` answer.

    ``slots``: its live rows among the merge's first ``n``, newest first (the newest
    ``len(slots)`` of its live rows); ``live``: how many live rows its scan's gap-free run
    held in all (at most the scan's limit);
    ``more``: where the list goes on below (its run's oldest position) when the scan
    filled its limit above ``lo``, ``None`` when the scan reached the list's end."""

    slots: tuple[Slot, ...]
    live: int
    more: int | None


@dataclass(frozen=True, slots=True)
class MergeScan:
    """Newest-first :class:`Scan` s merged by the store, which ships only the rows the
    merge's first ``n`` picks (``Features.merge``; a home timeline's one read).

    Each scan is read as :class:`ScanMany` would, cut to its leading gap-free run, its
    tombstones (entries with ``d``) dropped, and, for the lists named in ``fresh``, its
    rows whose key is not below ``last`` dropped. The key of a row is ``(ts, list_id,
    position)``. The lists are merged by the key of their next row (a k-way merge, each
    list in position order), and the first ``n`` rows picked are the answer: a tuple with
    one :class:`Merged` per scan, in order. ``core.entries.merge_answer`` is the reference
    that every adapter must agree with (clause E17).
    """

    scans: tuple[Scan, ...]
    n: int
    fresh: tuple[str, ...] = ()
    last: tuple[int, str, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.scans, tuple) or not all(
            isinstance(s, Scan) and s.newest_first for s in self.scans
        ):
            raise TypeError("scans must be a tuple of newest-first Scan")
        _int("n", self.n, 1)
        if not isinstance(self.fresh, tuple):
            raise TypeError("fresh must be a tuple of list ids")


@dataclass(frozen=True, slots=True)
class GetEntry:
    """Read the entry row at ``position``. Answer: :class:`Row` (the entry and its
    version) or ``None``."""

    list_id: str
    position: int

    def __post_init__(self) -> None:
        _key("list_id", self.list_id)
        _int("position", self.position)


@dataclass(frozen=True, slots=True)
class ReplaceEntry:
    """Overwrite the entry row at ``position`` if its version is still ``version``.
    Answer: the new version, or ``None`` (changed, or missing). Never creates a row."""

    list_id: str
    position: int
    entry: JSONDoc
    version: str

    def __post_init__(self) -> None:
        _key("list_id", self.list_id)
        _int("position", self.position)
        _doc("entry", self.entry)
        _key("version", self.version)


@dataclass(frozen=True, slots=True)
class Purge:
    """Remove every entry row of ``list_id`` below ``below`` (and, on ``push`` stores, their
    ids from the index). Idempotent. Answer: ``None``."""

    list_id: str
    below: int

    def __post_init__(self) -> None:
        _key("list_id", self.list_id)
        _int("below", self.below)


@dataclass(frozen=True, slots=True)
class DropEntries:
    """Remove every entry row of ``list_id``, its id index and its tail counter.
    Idempotent. Answer: ``None``."""

    list_id: str

    def __post_init__(self) -> None:
        _key("list_id", self.list_id)


@dataclass(frozen=True, slots=True)
class FindId:
    """The position of the entry of ``list_id`` whose id is ``item_id``, from the store's id
    index (``Features.push``). Answer: ``int`` or ``None``."""

    list_id: str
    item_id: str

    def __post_init__(self) -> None:
        _key("list_id", self.list_id)
        _key("item_id", self.item_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Features:
    """What a store offers beyond the row operations every store has."""

    entries: bool = False
    """Entry operations (layout 2): ``Claim``, ``Scan``, ``ScanMany``, ``GetEntry``,
    ``ReplaceEntry``, ``Purge``, ``DropEntries``."""
    push: bool = False
    """``Push`` and ``FindId``: the store resolves a list's tail and de-duplicates ids
    list-wide in one atomic call (a transaction, a server-side script)."""
    claim_entries: int = 1
    """Most entries one ``Claim`` writes atomically."""
    merge: bool = False
    """``MergeScan``: the store merges newest-first scans itself and ships only the merge's
    first ``n`` rows (a SQL query does; elsewhere the core merges a ``ScanMany``)."""


Operation = (
    PutIfAbsent
    | Insert
    | Replace
    | Get
    | GetMany
    | Append
    | Increment
    | Delete
    | Claim
    | Push
    | Scan
    | ScanMany
    | MergeScan
    | GetEntry
    | ReplaceEntry
    | Purge
    | DropEntries
    | FindId
)

ENTRY_OPERATIONS = (Claim, Scan, ScanMany, GetEntry, ReplaceEntry, Purge, DropEntries)
"""Operations a store offers when ``Features.entries`` is set (``Push``/``FindId``:
``push``; ``MergeScan``: ``merge``)."""
