"""What a workload runs against: pagedlist, the raw store primitive, or a native design.

Every subject offers the same five operations on a named list (``append``, ``latest``,
``before``, ``populate`` and ``read_ids``), and reports its thread's store calls and the
CPU spent inside them (:meth:`Subject.mark`) plus the backend's running unit totals
(:meth:`Subject.units`), so the runner measures all three kinds the same way.
"""

from __future__ import annotations

import abc
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pagedlist.bench.counting import Tally, TimedStore
from pagedlist.core.algorithms import ITEMS
from pagedlist.core.ops import Full
from pagedlist.core.pagedlist import PagedList
from pagedlist.core.store import Store
from pagedlist.core.values import page_key, summary_key

__all__ = [
    "Entry",
    "NativeSubject",
    "PagedListSubject",
    "RawPageSubject",
    "RawSubject",
    "Subject",
    "make_entry",
]

T = TypeVar("T")

#: Cursor for ``before``: opaque to the workload; ``None`` starts at the newest item.
Cursor = Any


@dataclass(frozen=True, slots=True)
class Entry:
    """One item as every subject stores it: an id, a millisecond timestamp and the value's
    JSON text (what pagedlist keeps as ``v``)."""

    id: str
    ts: int
    value: str

    def doc(self) -> dict[str, Any]:
        """The envelope pagedlist and the raw subject store."""
        return {"id": self.id, "ts": self.ts, "v": self.value}


def make_entry(value_bytes: int, item_id: str | None = None) -> Entry:
    """A fresh entry whose value is a JSON string of ``value_bytes`` bytes of text."""
    payload = "x" * max(0, value_bytes - 2)
    return Entry(item_id or uuid.uuid4().hex, int(time.time() * 1000), json.dumps(payload))


class Subject(abc.ABC):
    """One way of keeping a feed. Subclasses implement the operations."""

    #: Short name in reports: ``pagedlist``, ``raw``, ``native:redis-list``...
    name: str = ""
    #: ``pagedlist``, ``raw`` or ``native``.
    kind: str = ""
    #: Whether ``read_ids`` can prove nothing was lost or duplicated.
    verifiable: bool = True

    @abc.abstractmethod
    def mark(self) -> tuple[int, float]:
        """This thread's running ``(store calls, thread CPU seconds inside them)``."""

    def units(self) -> Mapping[str, Any]:
        """Running totals of billing units (capacity units, RU) the backend reported."""
        return {}

    def create(self, list_id: str) -> None:  # noqa: B027 - most subjects need no set-up
        """Make ``list_id`` ready (untimed)."""

    def prepare_thread(self, list_ids: Sequence[str]) -> None:  # noqa: B027 - optional
        """Per-thread set-up before timing starts (e.g. a list handle per thread)."""

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """Fill a list before reads are timed (untimed; subjects may batch)."""
        for entry in entries:
            self.append(list_id, entry)

    @abc.abstractmethod
    def append(self, list_id: str, entry: Entry) -> None:
        """Append one entry."""

    @abc.abstractmethod
    def latest(self, list_id: str, n: int) -> int:
        """Read the newest ``n`` entries; return how many came back."""

    @abc.abstractmethod
    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """Read up to ``n`` entries older than ``cursor`` (``None``: from the newest).

        Return ``(count, next_cursor)``; ``next_cursor`` is ``None`` at the start of the list.
        """

    def latest_many(self, list_ids: Sequence[str], n: int) -> int:
        """The newest ``n`` entries merged from ``list_ids`` (a home timeline); return how
        many came back. The default reads each list's newest ``n`` one after the other and
        merges them: what a hand-written feed does where the store has no batch read."""
        return min(n, sum(self.latest(list_id, n) for list_id in list_ids))

    def read_ids(self, list_id: str) -> list[str] | None:
        """Every entry id in the list, oldest first (``None`` if the subject cannot)."""
        return None

    def versions(self) -> dict[str, str]:
        """Client and server versions worth printing in the report header."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections the subject opened itself."""


class PagedListSubject(Subject):
    """pagedlist itself: a :class:`PagedList` per list and per thread on a timed store."""

    name = kind = "pagedlist"

    def __init__(
        self,
        store: TimedStore,
        *,
        capacity: int | None,
        max_item_bytes: int,
        layout: int | None = 1,
    ) -> None:
        self.store = store
        # layout=None measures the store's default layout (what a new user gets); the raw
        # subjects mirror layout 1's rows and read a layout-1 subject of their own.
        self.layout = layout
        self.capacity_wanted = capacity
        self.max_item_bytes = max_item_bytes
        self._handles = threading.local()
        self._capacity: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._sizes_lock = threading.Lock()
        # position -> the harness's entry id of each acknowledged append, per list: pagedlist
        # draws its own ids (the cheap path), read_ids maps them back.
        self._acked: dict[str, dict[int, str]] = {}

    def _grow(self, list_id: str, by: int) -> None:
        with self._sizes_lock:
            self._sizes[list_id] = self._sizes.get(list_id, 0) + by

    def mark(self) -> tuple[int, float]:
        """Calls and CPU this thread spent in the store."""
        return self.store.mark()

    def units(self) -> Mapping[str, Any]:
        """The adapter's ``stats()``."""
        return self.store.stats()

    def create(self, list_id: str) -> None:
        """``PagedList.create``."""
        handle = PagedList.create(
            self.store,
            list_id,
            capacity=self.capacity_wanted,
            max_item_bytes=self.max_item_bytes,
            layout=self.layout,
        )
        self._capacity[list_id] = handle.capacity
        self._sizes.setdefault(list_id, 0)

    def capacity(self, list_id: str) -> int:
        """Items per page of a list this subject created."""
        return self._capacity[list_id]

    def size(self, list_id: str) -> int:
        """Items appended through this subject (exact once appends have finished)."""
        return self._sizes.get(list_id, 0)

    def handle(self, list_id: str) -> PagedList:
        """This thread's handle on ``list_id`` (each thread is a separate client)."""
        handles: dict[str, PagedList] | None = getattr(self._handles, "by_id", None)
        if handles is None:
            handles = self._handles.by_id = {}
        found = handles.get(list_id)
        if found is None:
            found = handles[list_id] = PagedList.open(self.store, list_id)
        return found

    def prepare_thread(self, list_ids: Sequence[str]) -> None:
        """Open a handle per list before timing (one summary read each)."""
        for list_id in list_ids:
            self.handle(list_id)

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """``extend`` in page-sized batches (ids are drawn by pagedlist: populated lists are
        only read, never checked item by item)."""
        handle = self.handle(list_id)
        step = handle.capacity
        for start in range(0, len(entries), step):
            handle.extend([json.loads(e.value) for e in entries[start : start + step]])
        self._grow(list_id, len(entries))

    def append(self, list_id: str, entry: Entry) -> None:
        """``PagedList.append`` with an id pagedlist draws (the default, cheap path); the
        position it returns is remembered so read-back can be checked."""
        position = self.handle(list_id).append(json.loads(entry.value))
        with self._sizes_lock:
            self._acked.setdefault(list_id, {})[position] = entry.id
        self._grow(list_id, 1)

    def latest(self, list_id: str, n: int) -> int:
        """``PagedList.latest(n)``."""
        return len(self.handle(list_id).latest(n))

    def latest_many(self, list_ids: Sequence[str], n: int) -> int:
        """``PagedList.latest_many(store, list_ids, n)``: one batch read for every list."""
        return len(PagedList.latest_many(self.store, list_ids, n).items)

    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """``PagedList.before(position, n)``; the first cursor is the list's length."""
        position = self.size(list_id) if cursor is None else cursor
        items = self.handle(list_id).before(position, n)
        nxt = items[-1].position if items and items[-1].position > 0 else None
        return len(items), nxt

    def read_ids(self, list_id: str) -> list[str]:
        """Iterate the whole list; items are named by the harness id of the append that was
        told their position, so a second copy of one append (same pagedlist id) shows up
        as a duplicate and a missing one as lost."""
        items = list(PagedList.open(self.store, list_id).iter())
        acked = self._acked.get(list_id, {})
        names = {i.id: acked[i.position] for i in items if i.position in acked}
        return [names.get(i.id, i.id) for i in items]

    def versions(self) -> dict[str, str]:
        """The pagedlist version."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            return {"pagedlist": version("pagedlist")}
        except PackageNotFoundError:
            return {}


class RawSubject(Subject):
    """The backend's bare round trip, through the adapter and nothing else.

    ``append`` is one conditional append (``store.append``) on a fresh key; ``latest`` and
    ``before`` are one ``store.get_many`` of exactly the rows pagedlist reads for the same
    request on the same list (summary and pages). It is the floor pagedlist's overhead is
    measured against; it keeps no list, so it cannot be checked for lost items.
    """

    name = kind = "raw"
    verifiable = False

    def __init__(self, store: TimedStore, lists: PagedListSubject) -> None:
        if lists.layout != 1:
            raise ValueError(f"the raw subjects mirror layout 1's rows, not layout {lists.layout}")
        self.store = store
        self.lists = lists
        self.prefix = f"bench-raw-{uuid.uuid4().hex[:8]}"

    def mark(self) -> tuple[int, float]:
        """Calls and CPU this thread spent in the store."""
        return self.store.mark()

    def units(self) -> Mapping[str, Any]:
        """The adapter's ``stats()``."""
        return self.store.stats()

    def create(self, list_id: str) -> None:
        """The raw reads need the pagedlist list of the same id."""
        if list_id not in self.lists._capacity:
            self.lists.create(list_id)

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """Fill the layout-1 list of the same id the reads go to (raw and raw-page share it;
        the workloads fill each list once, and not at all when it is the measured pagedlist
        subject's own list)."""
        self.lists.populate(list_id, entries)

    def latest_many(self, list_ids: Sequence[str], n: int) -> int:
        """One batch get of every list's newest rows (summaries included)."""
        keys: list[str] = []
        for list_id in list_ids:
            capacity, size = self._pages(list_id)
            head = size // capacity
            back = -(-n // capacity)
            keys.append(summary_key(list_id))
            keys += [page_key(list_id, p) for p in range(max(0, head - back), head + 1)]
        rows = self.store.get_many(keys)
        return min(n, sum(len(r.doc.get(ITEMS, [])) for r in rows.values()))

    def append(self, list_id: str, entry: Entry) -> None:
        """One conditional append on a fresh key."""
        key = f"{self.prefix}-{entry.id}|0"
        self.store.append(key, ITEMS, [entry.doc()], 1 << 30)

    def _pages(self, list_id: str) -> tuple[int, int]:
        return self.lists.capacity(list_id), self.lists.size(list_id)

    def latest(self, list_id: str, n: int) -> int:
        """One batch get of the summary and the pages ``latest(n)`` reads."""
        capacity, size = self._pages(list_id)
        head = size // capacity
        back = -(-n // capacity)
        keys = [summary_key(list_id)]
        keys += [page_key(list_id, p) for p in range(max(0, head - back), head + 1)]
        rows = self.store.get_many(keys)
        return min(n, sum(len(r.doc.get(ITEMS, [])) for k, r in rows.items() if k != keys[0]))

    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """One batch get of the pages holding positions ``[cursor - n, cursor)``."""
        capacity, size = self._pages(list_id)
        hi = size if cursor is None else cursor
        lo = max(0, hi - n)
        if hi <= lo:
            return 0, None
        pages = range(lo // capacity, (hi - 1) // capacity + 1)
        self.store.get_many([page_key(list_id, p) for p in pages])
        return hi - lo, (lo if lo > 0 else None)


class RawPageSubject(RawSubject):
    """The same conditional append pagedlist makes, on a row of the same size, and nothing
    else: entries go to raw "page" rows of the list's capacity, the next row once one
    answers ``Full`` (that refusal is a counted round trip, as in pagedlist). No summary
    row, no head pointer, no retries: what is left between this and pagedlist is the
    core's work and its page-roll protocol."""

    name = "raw-page"
    kind = "raw-page"

    def __init__(self, store: TimedStore, lists: PagedListSubject) -> None:
        super().__init__(store, lists)
        self.prefix = f"bench-rawpage-{uuid.uuid4().hex[:8]}"
        self._page: dict[str, int] = {}
        self._page_lock = threading.Lock()

    def append(self, list_id: str, entry: Entry) -> None:
        """Conditional append to the current raw page; on ``Full``, the next page."""
        capacity = self.lists.capacity(list_id)
        doc = entry.doc()
        while True:
            with self._page_lock:
                page = self._page.setdefault(list_id, 0)
            outcome = self.store.append(f"{self.prefix}-{list_id}|{page}", ITEMS, [doc], capacity)
            if not isinstance(outcome, Full):
                return
            with self._page_lock:
                if self._page[list_id] == page:
                    self._page[list_id] = page + 1


class NativeSubject(Subject):
    """Base of the native designs: times each SDK call like :class:`TimedStore` does."""

    kind = "native"

    def __init__(self) -> None:
        self._tally = Tally()
        self._units: dict[str, float] = {}
        self._units_lock = threading.Lock()

    def mark(self) -> tuple[int, float]:
        """Calls and CPU this thread spent in the SDK."""
        return self._tally.mark()

    def call(self, fn: Callable[[], T]) -> T:
        """Run one SDK round trip, counted and timed."""
        return self._tally.time(fn)

    def add_units(self, name: str, value: float) -> None:
        """Add to a running unit total (e.g. consumed capacity reported by a response)."""
        if value:
            with self._units_lock:
                self._units[name] = self._units.get(name, 0.0) + float(value)

    def units(self) -> Mapping[str, Any]:
        """Running unit totals."""
        with self._units_lock:
            return dict(self._units)


def open_subjects(
    store: Store, *, capacity: int | None, max_item_bytes: int, layout: int | None = None
) -> tuple[TimedStore, PagedListSubject, RawSubject, RawPageSubject]:
    """The pagedlist subject (``layout``; ``None``: the store's default) and the two raw
    subjects on one timed store. The raw ones read layout-1 rows: the pagedlist subject's
    own lists when it is layout 1, otherwise a layout-1 subject of their own (not
    reported, its lists filled by the raw subjects)."""
    timed = store if isinstance(store, TimedStore) else TimedStore(store)
    lists = PagedListSubject(timed, capacity=capacity, max_item_bytes=max_item_bytes, layout=layout)
    backing = lists
    if layout != 1:
        backing = PagedListSubject(timed, capacity=capacity, max_item_bytes=max_item_bytes)
    return timed, lists, RawSubject(timed, backing), RawPageSubject(timed, backing)
