"""The list algorithms of layout 1 (page rows), sans-IO: generators that yield store operations.

Layout 1 is the layout of pagedlist 0.1 and of stores without entry rows
(``Features.entries``); layout 2 (one row per position) is in :mod:`pagedlist.core.entries`.
The list's summary row and its :class:`Settings` are shared by both.

Each function here is a generator. It yields an operation from :mod:`pagedlist.core.ops`,
receives the store's answer through ``send()``, and finally returns its result. It never
touches a store, a clock or a socket, so the same code runs under the synchronous driver,
an async driver, or a test scheduler that interleaves many of them step by step.

Layout: a summary row ``"{id}|s"`` holds the settings and ``head``, the number of the page
new items go to; page rows ``"{id}|{n}"`` hold ``items``. The position of item ``i`` of
page ``n`` is ``n * capacity + i``, which is dense because of how ``head`` moves:

* an append is *bounded*: it commits only while ``len(page) < capacity``;
* ``head`` moves from ``n`` to ``n + 1`` only by compare-and-increment, and only after page
  ``n`` was observed exactly full; so every page below the head is full, and full pages
  never change again.

Retries of a failed call repeat the very same operation (the driver does that), so an
append re-targets the page it first tried and finds its own earlier commit there as a
``Duplicate``: one ``append()`` call commits at most once.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pagedlist.core.ops import (
    Append,
    Appended,
    Duplicate,
    Full,
    Get,
    GetMany,
    Increment,
    Insert,
    JSONDoc,
    Operation,
    PutIfAbsent,
    Replace,
    Row,
)
from pagedlist.core.values import id_record_key, page_key, summary_key
from pagedlist.errors import ContractViolation, ListExists, ListNotFound

__all__ = [
    "ITEMS",
    "Plan",
    "Positioned",
    "Settings",
    "Step",
    "append",
    "append_once",
    "count",
    "create",
    "get",
    "latest",
    "open_list",
    "page_key",
    "read_range",
]

#: The list field of a page row.
ITEMS = "items"
#: The counter field of the summary row.
HEAD = "head"
FORMAT = 1
#: The newest summary format this version reads (2: layout 2, ``core.entries``).
NEWEST_FORMAT = 2

T = TypeVar("T")
Plan = Generator[Operation, Any, T]
"""A list operation as a sans-IO generator returning ``T``: what the drivers run."""
Step = Plan[Any]
Positioned = tuple[int, JSONDoc]
"""An entry with its position: ``(position, {"id", "ts", "v"})``."""


@dataclass(frozen=True, slots=True)
class Settings:
    """A list's settings, as stored in its summary row."""

    capacity: int
    max_item_bytes: int
    created_ms: int
    metadata: str | None
    """The metadata's JSON text, or ``None``."""
    layout: int = FORMAT
    """1: page rows (``core.algorithms``); 2: entry rows (``core.entries``)."""
    start: int = 0
    """Layout 2: the lowest retained position (``trim`` moves it up)."""
    max_items: int | None = None
    """Layout 2: retention by count, applied by appends (``None``: keep everything)."""
    max_age_ms: int | None = None
    """Layout 2: retention by age in milliseconds, applied by appends."""

    def to_doc(self) -> JSONDoc:
        """The summary row document for a new list (head at page 0)."""
        doc: JSONDoc = {
            "format": self.layout,
            "capacity": self.capacity,
            "max_item_bytes": self.max_item_bytes,
            "created": self.created_ms,
            "meta": self.metadata,
        }
        if self.layout == FORMAT:
            doc[HEAD] = 0
        else:
            doc.update(start=self.start, max_items=self.max_items, max_age=self.max_age_ms)
        return doc

    def same_retention(self, other: Settings) -> bool:
        """Whether both ask for the same retention."""
        return (self.max_items, self.max_age_ms) == (other.max_items, other.max_age_ms)

    @classmethod
    def from_doc(cls, list_id: str, doc: Mapping[str, Any]) -> Settings:
        """Parse a summary row, refusing one this version cannot read."""
        try:
            layout = int(doc.get("format", FORMAT))
            if layout > NEWEST_FORMAT:
                raise ContractViolation(
                    f"list {list_id!r} was written by a newer pagedlist (format "
                    f"{doc['format']}); upgrade pagedlist to read it"
                )
            return cls(
                capacity=int(doc["capacity"]),
                max_item_bytes=int(doc["max_item_bytes"]),
                created_ms=int(doc["created"]),
                metadata=doc.get("meta"),
                layout=layout,
                start=int(doc.get("start") or 0),
                max_items=None if doc.get("max_items") is None else int(doc["max_items"]),
                max_age_ms=None if doc.get("max_age") is None else int(doc["max_age"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ContractViolation(
                f"summary row of list {list_id!r} is malformed ({err!r}): it was not written "
                "by pagedlist, or the adapter does not return documents intact"
            ) from err


def _head(list_id: str, row: Row | None) -> int:
    if row is None:
        raise ListNotFound(
            f"list {list_id!r} does not exist in this store: create it with "
            f"PagedList.create(store, {list_id!r})"
        )
    return int(row.doc.get(HEAD, 0))


def create(list_id: str, wanted: Settings, *, fixed_capacity: bool) -> Plan[tuple[Settings, int]]:
    """Create the list, or return the existing one's settings if they match ``wanted``.

    With ``fixed_capacity`` false (no capacity was asked for), any stored capacity matches.
    A list that exists in the other layout is accepted as it is (its layout is not a
    setting the caller chose). Returns ``(settings, head)``; ``settings`` is ``wanted``
    itself exactly when this call created the list.
    """
    key = summary_key(list_id)
    created = yield PutIfAbsent(key, wanted.to_doc())
    if created:
        return wanted, 0
    row = yield Get(key)
    head = _head(list_id, row)
    assert row is not None
    have = Settings.from_doc(list_id, row.doc)
    diffs = []
    if fixed_capacity and have.capacity != wanted.capacity:
        diffs.append(f"capacity {have.capacity} (asked {wanted.capacity})")
    if have.max_item_bytes != wanted.max_item_bytes:
        diffs.append(f"max_item_bytes {have.max_item_bytes} (asked {wanted.max_item_bytes})")
    if have.metadata != wanted.metadata:
        diffs.append("different metadata")
    if have.layout == wanted.layout and not have.same_retention(wanted):
        diffs.append(
            f"max_items={have.max_items}, max_age={have.max_age_ms} ms (asked "
            f"{wanted.max_items}, {wanted.max_age_ms} ms)"
        )
    if diffs:
        raise ListExists(
            f"list {list_id!r} already exists with {', '.join(diffs)}: open it with "
            "PagedList.open(), or create a list with another id"
        )
    return have, head


def open_list(list_id: str) -> Plan[tuple[Settings, int]]:
    """Read a list's summary. Returns ``(settings, head)``."""
    row = yield Get(summary_key(list_id))
    head = _head(list_id, row)
    assert row is not None
    return Settings.from_doc(list_id, row.doc), head


def append(
    list_id: str, capacity: int, head: int, entries: Iterable[JSONDoc], chunk: int
) -> Plan[tuple[list[int], int]]:
    """Append ``entries`` in order, starting at page ``head`` (a cached hint).

    At most ``chunk`` entries go in one store append; a run that fits the page's free room
    commits atomically, a longer one is split at the page boundary. Returns
    ``(positions, head)`` where ``head`` is the page the last entry went to.

    Steady state is one store call. A full page costs a summary read, then either the
    append at the real head (stale hint: two more calls) or a compare-and-increment of
    the head and the append on the next page (page roll: three more calls).
    """
    skey = summary_key(list_id)
    pending = list(entries)
    positions: list[int] = []
    page = head
    limit = chunk
    while pending:
        batch = tuple(pending[:limit])
        outcome = yield Append(page_key(list_id, page), ITEMS, batch, capacity)
        match outcome:
            case Appended(length):
                if not len(batch) <= length <= capacity:
                    raise ContractViolation(
                        f"append of {len(batch)} entries reported length {length} "
                        f"(capacity {capacity}): the adapter broke clause A1"
                    )
                first = page * capacity + length - len(batch)
            case Duplicate(index, entry):
                if not (index - entry >= 0 and index - entry + len(batch) <= capacity):
                    raise ContractViolation(
                        f"duplicate reported at index {index} for entry {entry}: "
                        "the adapter broke clause A3"
                    )
                first = page * capacity + index - entry
            case Full(length):
                if not 0 <= length <= capacity:
                    raise ContractViolation(
                        f"page {page} of {list_id!r} reports length {length} over capacity "
                        f"{capacity}: the adapter broke clause A2"
                    )
                room = capacity - length
                if room > 0:
                    # Not full, just too little room for the whole batch: fill the room
                    # first so the page ends exactly full.
                    limit = room
                    continue
                row = yield Get(skey)
                current = _head(list_id, row)
                if current > page:
                    page, limit = current, chunk
                    continue
                # Page `page` is full and still the head: move the head past it. Losing
                # this race is fine: someone else moved it, to page + 1 at least.
                yield Increment(skey, HEAD, 1, expect=page)
                page, limit = page + 1, chunk
                continue
            case _:
                raise ContractViolation(f"append answered {outcome!r}, not an AppendOutcome")
        positions.extend(range(first, first + len(batch)))
        del pending[: len(batch)]
        limit = chunk
    return positions, page


def append_once(
    list_id: str, capacity: int, head: int, entry: JSONDoc
) -> Plan[tuple[int, int]]:
    """Append ``entry``, whose id is the caller's, at most once for the list's lifetime.
    Returns ``(position, head)``.

    A per-id record ``"{id}|i|<digest>"`` = ``{"id", "p": page}`` is created first; it names
    the only page the id may be appended to, and moves (compare-and-swap) to a later page
    only after that page answered ``Full``, which is permanent. A later call with the same
    id, after any failure or crash, reads the record and goes back to that page, where the
    store's per-page de-duplication finds the earlier commit or lets this one commit.
    """
    item_id = entry["id"]
    rkey = id_record_key(list_id, item_id)
    skey = summary_key(list_id)
    found = yield Insert(rkey, {"id": item_id, "p": head})
    page = head if found is None else _record_page(list_id, rkey, found.doc, item_id)
    while True:
        outcome = yield Append(page_key(list_id, page), ITEMS, (entry,), capacity)
        match outcome:
            case Appended(length) if 1 <= length <= capacity:
                return page * capacity + length - 1, page
            case Duplicate(index, 0) if 0 <= index < capacity:
                return page * capacity + index, page
            case Full(length) if length == capacity:
                pass
            case _:
                raise ContractViolation(
                    f"append of one entry to page {page} of {list_id!r} (capacity {capacity}) "
                    f"answered {outcome!r}: the adapter broke clause A1-A3"
                )
        # The page is full for good: find the head, then move the record there first.
        row = yield Get(skey)
        current = _head(list_id, row)
        if current <= page:
            yield Increment(skey, HEAD, 1, expect=page)
            current = page + 1
        while True:
            rec = yield Get(rkey)
            if rec is None:
                raise ContractViolation(
                    f"id record {rkey!r} of list {list_id!r} vanished during an append"
                )
            at = _record_page(list_id, rkey, rec.doc, item_id)
            if at != page:
                page = at  # a concurrent call with the same id moved it: follow
                break
            done = yield Replace(rkey, {"id": item_id, "p": current}, rec.version)
            if done is not None:
                page = current
                break
            # Changed meanwhile (or our own write's answer was lost): read it again.


def _record_page(list_id: str, key: str, doc: Mapping[str, Any], item_id: str) -> int:
    if doc.get("id") != item_id or not isinstance(doc.get("p"), int):
        raise ContractViolation(
            f"id record {key!r} of list {list_id!r} holds {dict(doc)!r:.120}, not the record "
            f"of id {item_id!r}: a digest collision or a row written by something else"
        )
    return int(doc["p"])


def _page_entries(
    list_id: str, capacity: int, rows: Mapping[str, Row], page: int
) -> list[JSONDoc]:
    row = rows.get(page_key(list_id, page))
    items = row.doc.get(ITEMS, []) if row is not None else []
    if len(items) > capacity:
        raise ContractViolation(
            f"page {page} of {list_id!r} holds {len(items)} items, over capacity {capacity}: "
            "the adapter broke clause A2"
        )
    return items


def assemble(
    list_id: str, capacity: int, rows: Mapping[str, Row], pages: Iterable[int]
) -> list[Positioned]:
    """Entries of ``pages`` (ascending) with their positions, as a prefix of the list.

    Pages read in one batch are not read at one instant. Full pages never change, and a
    page only gains items after the one below it is full, so stopping after the first
    page that is not full yields a prefix of the list: never a gap that could later fill.
    """
    out: list[Positioned] = []
    for page in pages:
        items = _page_entries(list_id, capacity, rows, page)
        base = page * capacity
        out.extend((base + i, entry) for i, entry in enumerate(items))
        if len(items) < capacity:
            break
    return out


def latest(list_id: str, capacity: int, head: int, n: int) -> Plan[tuple[list[Positioned], int]]:
    """The newest ``n`` entries, newest first. Returns ``(entries, head)``.

    One batch read of the summary and the pages the cached ``head`` implies; a second
    batch read only if the head has moved since.
    """
    back = -(-n // capacity)  # the head page may be empty, so n items may need this many more

    def span(h: int) -> range:
        return range(max(0, h - back), h + 1)

    skey = summary_key(list_id)
    rows: dict[str, Row] = dict(
        (yield GetMany((skey, *(page_key(list_id, p) for p in span(head)))))
    )
    current = _head(list_id, rows.get(skey))
    if current != head:
        # Re-read pages at or above the old head too: they may have filled since.
        again = tuple(
            page_key(list_id, p)
            for p in span(current)
            if p >= head or page_key(list_id, p) not in rows
        )
        rows.update((yield GetMany(again)))
    entries = assemble(list_id, capacity, rows, span(current))
    return entries[: -n - 1 : -1], current


def read_range(list_id: str, capacity: int, lo: int, hi: int) -> Plan[list[Positioned]]:
    """Entries with positions in ``[lo, hi)``, ascending: one batch read, no summary."""
    if hi <= lo:
        return []
    pages = range(lo // capacity, (hi - 1) // capacity + 1)
    rows = yield GetMany(tuple(page_key(list_id, p) for p in pages))
    return [(pos, e) for pos, e in assemble(list_id, capacity, rows, pages) if lo <= pos < hi]


def get(list_id: str, capacity: int, position: int) -> Plan[Positioned | None]:
    """The entry at ``position``, or ``None``: one read."""
    page, index = divmod(position, capacity)
    row = yield Get(page_key(list_id, page))
    items = _page_entries(list_id, capacity, {page_key(list_id, page): row} if row else {}, page)
    return (position, items[index]) if index < len(items) else None


def count(list_id: str, capacity: int, head: int) -> Plan[tuple[int, int]]:
    """The number of items. Returns ``(count, head)``: one batch read, two if the head moved."""
    skey = summary_key(list_id)
    hkey = page_key(list_id, head)
    rows = yield GetMany((skey, hkey))
    current = _head(list_id, rows.get(skey))
    if current != head:
        hkey = page_key(list_id, current)
        row = yield Get(hkey)
        rows = {hkey: row} if row is not None else {}
    items = _page_entries(list_id, capacity, rows, current)
    return current * capacity + len(items), current
