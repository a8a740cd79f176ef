"""The store protocol's vocabulary: operations, their outcomes, rows and limits.

Operations are plain frozen data. The list algorithms (``core.algorithms``) *yield* them
and receive the store's answer; a driver (``core.driver``) performs them. Nothing in this
module does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSONDoc = dict[str, Any]

__all__ = [
    "Append",
    "AppendOutcome",
    "Appended",
    "Delete",
    "Duplicate",
    "Full",
    "Get",
    "GetMany",
    "Increment",
    "JSONDoc",
    "Limits",
    "Operation",
    "PutIfAbsent",
    "Replace",
    "Row",
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
    """Worst-case growth of a value's text once stored: 1 when stored as a raw string,
    6 when stored inside escaped JSON text (a control character becomes ``\\u0000``)."""
    entry_overhead: int = 96
    """Bytes an entry adds besides its id and value text: attribute names, the timestamp."""
    row_overhead: int = 1024
    """Bytes a page row adds besides its entries: key, attribute names, bookkeeping (the
    talk's "each page contains 1KB of metadata")."""


# --- operations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PutIfAbsent:
    """Create ``key`` with ``doc`` unless it exists. Answer: ``bool`` (created)."""

    key: str
    doc: JSONDoc


@dataclass(frozen=True, slots=True)
class Replace:
    """Overwrite ``key`` if its version is still ``version``. Answer: new version or ``None``."""

    key: str
    doc: JSONDoc
    version: str


@dataclass(frozen=True, slots=True)
class Get:
    """Read one row. Answer: :class:`Row` or ``None``."""

    key: str


@dataclass(frozen=True, slots=True)
class GetMany:
    """Read many rows in one batch. Answer: ``{key: Row}`` with missing rows absent."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Append:
    """Atomically append ``entries`` to list ``field`` of ``key`` (created if absent), all or
    nothing, bounded by ``max_len`` and de-duplicated by entry ``id``.
    Answer: :data:`AppendOutcome`."""

    key: str
    field: str
    entries: tuple[JSONDoc, ...]
    max_len: int


@dataclass(frozen=True, slots=True)
class Increment:
    """Atomically add ``by`` to integer ``field`` of ``key`` (missing counts as 0); with
    ``expect``, only if the current value equals it. Answer: new value, or ``None`` when
    ``expect`` did not match."""

    key: str
    field: str
    by: int = 1
    expect: int | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove ``key`` if present. Answer: ``None``."""

    key: str


Operation = PutIfAbsent | Replace | Get | GetMany | Append | Increment | Delete
