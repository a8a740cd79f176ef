"""The store protocol for asyncio: ``AsyncStore``, the same calls as coroutines.

An async adapter implements exactly the semantics of :class:`pagedlist.core.store.Store`
(``docs/contract.md``), each call a coroutine, with the backend's native async client
(``redis.asyncio``, ``azure.cosmos.aio``, ``aiobotocore``, psycopg's async pool). A store
whose SDK has no async client is served by :class:`ThreadedAsyncStore`, which runs the sync
adapter's calls in a bounded pool of threads so the event loop never blocks.

The same list algorithms run on both: :func:`pagedlist.core.adriver.run_async` drives the
very generators :func:`pagedlist.core.driver.run` drives, through :func:`perform_async`.
"""

from __future__ import annotations

import abc
import asyncio
import contextvars
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

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
from pagedlist.core.store import NO_FEATURES, Store, compact_json
from pagedlist.errors import Unsupported

__all__ = ["AsyncStore", "InlineAsyncStore", "ThreadedAsyncStore", "perform_async"]

T = TypeVar("T")

#: Threads a ThreadedAsyncStore uses when none is asked for: enough to keep a network
#: store busy, few enough that a stalled store cannot exhaust the process.
DEFAULT_THREADS = 16


class AsyncStore(abc.ABC):
    """Base class of every asyncio adapter: :class:`~pagedlist.core.store.Store`'s calls
    as coroutines, with the same meaning (see that class for each call's contract)."""

    scheme: str = ""

    @classmethod
    async def from_url(cls, url: str) -> AsyncStore:
        """Open a store from its URL (``open_async_store`` calls this)."""
        raise NotImplementedError(f"{cls.__name__} cannot be opened from a URL")

    @property
    @abc.abstractmethod
    def limits(self) -> Limits:
        """The backend's size limits."""

    @property
    def features(self) -> Features:
        """What the store offers beyond the row operations (default: none)."""
        return NO_FEATURES

    # --- row operations ------------------------------------------------------------------

    @abc.abstractmethod
    async def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """See :meth:`Store.put_if_absent`."""

    @abc.abstractmethod
    async def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """See :meth:`Store.replace`."""

    @abc.abstractmethod
    async def get(self, key: str) -> Row | None:
        """See :meth:`Store.get`."""

    @abc.abstractmethod
    async def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """See :meth:`Store.get_many`."""

    @abc.abstractmethod
    async def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """See :meth:`Store.append`."""

    @abc.abstractmethod
    async def increment(
        self, key: str, field: str, by: int = 1, expect: int | None = None
    ) -> int | None:
        """See :meth:`Store.increment`."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """See :meth:`Store.delete`."""

    async def insert(self, key: str, doc: JSONDoc) -> Row | None:
        """See :meth:`Store.insert` (default: a refused create, then a read)."""
        while True:
            if await self.put_if_absent(key, doc):
                return None
            row = await self.get(key)
            if row is not None:
                return row

    # --- entry operations ----------------------------------------------------------------

    def _unsupported(self, what: str) -> Unsupported:
        return Unsupported(
            f"{type(self).__name__} does not implement {what} (its features are "
            f"{self.features}); lists on it use layout 1"
        )

    async def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """See :meth:`Store.claim`."""
        raise self._unsupported("claim")

    async def push(self, list_id: str, entries: Sequence[JSONDoc], floor: int = 0) -> Pushed:
        """See :meth:`Store.push`."""
        raise self._unsupported("push")

    async def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """See :meth:`Store.scan`."""
        raise self._unsupported("scan")

    async def scan_many(self, scans: Sequence[Scan]) -> tuple[tuple[Slot, ...], ...]:
        """See :meth:`Store.scan_many` (default: the scans concurrently)."""
        return tuple(
            await asyncio.gather(
                *(self.scan(s.list_id, s.lo, s.hi, s.limit, s.newest_first) for s in scans)
            )
        )

    async def merge_scan(
        self,
        scans: Sequence[Scan],
        n: int,
        fresh: Sequence[str] = (),
        last: tuple[int, str, int] | None = None,
    ) -> tuple[Merged, ...]:
        """See :meth:`Store.merge_scan` (default: :meth:`scan_many`, merged in Python)."""
        return merge_answer(scans, await self.scan_many(scans), n, fresh, last)

    async def get_entry(self, list_id: str, position: int) -> Row | None:
        """See :meth:`Store.get_entry`."""
        raise self._unsupported("get_entry")

    async def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """See :meth:`Store.replace_entry`."""
        raise self._unsupported("replace_entry")

    async def purge(self, list_id: str, below: int) -> None:
        """See :meth:`Store.purge`."""
        raise self._unsupported("purge")

    async def drop_entries(self, list_id: str) -> None:
        """See :meth:`Store.drop_entries`."""
        raise self._unsupported("drop_entries")

    async def find_id(self, list_id: str, item_id: str) -> int | None:
        """See :meth:`Store.find_id`."""
        raise self._unsupported("find_id")

    # --- the rest ------------------------------------------------------------------------

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """See :meth:`Store.row_size`."""
        return len(key.encode("utf-8")) + len(compact_json(doc).encode("utf-8"))

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store is unusable afterwards."""

    def stats(self) -> Mapping[str, Any]:
        """Running totals the backend reports."""
        return {}

    def describe(self) -> str:
        """A one-line description safe to print."""
        return type(self).__name__

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class ThreadedAsyncStore(AsyncStore):
    """An :class:`AsyncStore` over a sync :class:`Store`, each call run in a bounded pool
    of threads (``threads``, default 16) so the event loop never waits on the store.

    How SQLite and OCI NoSQL (whose SDK has no async client) are served. The call's
    context (the operation's deadline, :mod:`pagedlist.core.deadline`) is carried into the
    thread. A call whose task is cancelled still runs to its end in its thread: its
    outcome is then unknown to the caller, exactly like a lost answer.
    """

    def __init__(self, store: Store, *, threads: int = DEFAULT_THREADS) -> None:
        self.sync = store
        self.scheme = store.scheme
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pagedlist")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args)
        return await loop.run_in_executor(self._pool, call)

    @property
    def limits(self) -> Limits:
        """The sync store's limits."""
        return self.sync.limits

    @property
    def features(self) -> Features:
        """The sync store's features."""
        return self.sync.features

    async def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """In a thread."""
        return await self._run(self.sync.put_if_absent, key, doc)

    async def insert(self, key: str, doc: JSONDoc) -> Row | None:
        """In a thread."""
        return await self._run(self.sync.insert, key, doc)

    async def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """In a thread."""
        return await self._run(self.sync.replace, key, doc, version)

    async def get(self, key: str) -> Row | None:
        """In a thread."""
        return await self._run(self.sync.get, key)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """In a thread."""
        return await self._run(self.sync.get_many, list(keys))

    async def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """In a thread."""
        return await self._run(self.sync.append, key, field, list(entries), max_len)

    async def increment(
        self, key: str, field: str, by: int = 1, expect: int | None = None
    ) -> int | None:
        """In a thread."""
        return await self._run(self.sync.increment, key, field, by, expect)

    async def delete(self, key: str) -> None:
        """In a thread."""
        return await self._run(self.sync.delete, key)

    async def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """In a thread."""
        return await self._run(self.sync.claim, list_id, first, entries)

    async def push(self, list_id: str, entries: Sequence[JSONDoc], floor: int = 0) -> Pushed:
        """In a thread."""
        return await self._run(self.sync.push, list_id, entries, floor)

    async def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """In a thread."""
        return await self._run(self.sync.scan, list_id, lo, hi, limit, newest_first)

    async def scan_many(self, scans: Sequence[Scan]) -> tuple[tuple[Slot, ...], ...]:
        """In a thread (the sync store's own batching)."""
        return await self._run(self.sync.scan_many, scans)

    async def merge_scan(
        self,
        scans: Sequence[Scan],
        n: int,
        fresh: Sequence[str] = (),
        last: tuple[int, str, int] | None = None,
    ) -> tuple[Merged, ...]:
        """In a thread (the sync store's own merge)."""
        return await self._run(self.sync.merge_scan, scans, n, fresh, last)

    async def get_entry(self, list_id: str, position: int) -> Row | None:
        """In a thread."""
        return await self._run(self.sync.get_entry, list_id, position)

    async def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """In a thread."""
        return await self._run(self.sync.replace_entry, list_id, position, entry, version)

    async def purge(self, list_id: str, below: int) -> None:
        """In a thread."""
        return await self._run(self.sync.purge, list_id, below)

    async def drop_entries(self, list_id: str) -> None:
        """In a thread."""
        return await self._run(self.sync.drop_entries, list_id)

    async def find_id(self, list_id: str, item_id: str) -> int | None:
        """In a thread."""
        return await self._run(self.sync.find_id, list_id, item_id)

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The sync store's size rule."""
        return self.sync.row_size(key, doc)

    async def aclose(self) -> None:
        """Close the sync store (in a thread) and the pool."""
        await self._run(self.sync.close)
        self._pool.shutdown(wait=False)

    def stats(self) -> Mapping[str, Any]:
        """The sync store's totals."""
        return self.sync.stats()

    def describe(self) -> str:
        """The sync store's description, with the thread pool."""
        return f"{self.sync.describe()} (async through {self._pool._max_workers} threads)"


class InlineAsyncStore(ThreadedAsyncStore):
    """An :class:`AsyncStore` over a sync store whose calls never wait on I/O (the
    in-memory store): each call runs inline on the event loop, no thread.

    Each call still lets the loop run other tasks just before and just after it, as a
    network call would, so tasks interleave (and can be cancelled) between the calls of an
    operation, and after a call took effect but before its caller saw the answer.
    """

    def __init__(self, store: Store) -> None:
        self.sync = store
        self.scheme = store.scheme

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        await asyncio.sleep(0)
        answer = fn(*args)
        await asyncio.sleep(0)
        return answer

    async def aclose(self) -> None:
        """Close the sync store."""
        self.sync.close()

    def describe(self) -> str:
        """The sync store's description."""
        return self.sync.describe()


async def perform_async(store: AsyncStore, op: Operation) -> Any:
    """Carry out one protocol operation on ``store`` and return its answer."""
    match op:
        case Append(key, field, entries, max_len):
            return await store.append(key, field, entries, max_len)
        case Get(key):
            return await store.get(key)
        case GetMany(keys):
            return await store.get_many(keys)
        case Increment(key, field, by, expect):
            return await store.increment(key, field, by, expect)
        case PutIfAbsent(key, doc):
            return await store.put_if_absent(key, doc)
        case Replace(key, doc, version):
            return await store.replace(key, doc, version)
        case Delete(key):
            return await store.delete(key)
        case Insert(key, doc):
            return await store.insert(key, doc)
        case Claim(list_id, first, entries):
            return await store.claim(list_id, first, entries)
        case Push(list_id, entries, floor):
            return await store.push(list_id, entries, floor)
        case Scan(list_id, lo, hi, limit, newest_first):
            return await store.scan(list_id, lo, hi, limit, newest_first)
        case ScanMany(scans):
            return await store.scan_many(scans)
        case MergeScan(scans, n, fresh, last):
            return await store.merge_scan(scans, n, fresh, last)
        case GetEntry(list_id, position):
            return await store.get_entry(list_id, position)
        case ReplaceEntry(list_id, position, entry, version):
            return await store.replace_entry(list_id, position, entry, version)
        case Purge(list_id, below):
            return await store.purge(list_id, below)
        case DropEntries(list_id):
            return await store.drop_entries(list_id)
        case FindId(list_id, item_id):
            return await store.find_id(list_id, item_id)
    raise TypeError(f"not a store operation: {op!r}")
