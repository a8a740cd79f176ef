"""``AsyncPagedList``: :class:`~pagedlist.core.pagedlist.PagedList` for asyncio.

The same methods, each a coroutine, running the very same sans-IO plans through the
asyncio driver (:func:`pagedlist.core.driver.run_async`) on an
:class:`~pagedlist.core.astore.AsyncStore` (``await open_async_store(url)``). Concurrent
``append`` calls on one list in one event loop coalesce into one store call, as with
threads; the group's store call runs as a task of its own, so a caller whose task is
cancelled never cancels the others' appends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, TypeVar

from pagedlist.core import algorithms as alg
from pagedlist.core import lifecycle as life
from pagedlist.core import observe
from pagedlist.core.astore import AsyncStore
from pagedlist.core.driver import RetryPolicy, run_async
from pagedlist.core.ops import JSONDoc
from pagedlist.core.pagedlist import (
    CATALOG,
    DROP_TIMEOUT,
    ITER_BATCH_PAGES,
    Item,
    Timeline,
    _after_args,
    _count,
    _deadline,
    _fail_group,
    _forget,
    _group_policy,
    _hand_out,
    _ManyPlan,
    _not_reserved,
    _Plans,
    _take_group,
    _waited_too_long,
)
from pagedlist.core.values import decode_value, validate_item_id, validate_list_id
from pagedlist.errors import DeadlineExceeded

__all__ = ["AsyncPagedList"]

T = TypeVar("T")


class _AsyncRequest:
    """One caller's entries waiting for a group leader, with a future to wake it."""

    __slots__ = ("deadline", "entries", "error", "future", "lead", "result", "taken")

    def __init__(self, entries: list[JSONDoc], deadline: float) -> None:
        self.entries = entries
        self.deadline = deadline
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.result: list[int] | None = None
        self.error: BaseException | None = None
        self.lead = False
        self.taken = False

    def wake(self) -> None:
        """Tell the waiting task its outcome (or its lead) is ready."""
        if not self.future.done():
            self.future.set_result(None)


class AsyncPagedList(_Plans):
    """An ever-growing ordered list on an asyncio store: ``PagedList``'s methods as
    coroutines (``async for item in lst.iter()`` to iterate).

    Get one with ``await AsyncPagedList.create(...)`` or ``await AsyncPagedList.open(...)``;
    their settings are then loaded, so the properties (``capacity``, ``layout``...) need no
    store call. ``deadline`` bounds each operation, retries included (seconds, default 10).
    """

    def __init__(self, store: AsyncStore, list_id: str, *, deadline: float | None = None) -> None:
        self._init(store, list_id, deadline)

    async def _run(self, step: alg.Plan[T], what: str, policy: RetryPolicy | None = None) -> T:
        if not observe.active():
            return await run_async(step, self._store, policy or self._policy, what=what)
        with observe.operation(what, self._id):
            return await run_async(step, self._store, policy or self._policy, what=what)

    async def _cfg(self) -> alg.Settings:
        settings = self._state.settings
        if settings is not None:
            return settings
        return await self._run(self._p_settings(), f"open({self._id!r})")

    # --- construction ---------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        store: AsyncStore,
        list_id: str,
        *,
        capacity: int | None = None,
        max_item_bytes: int = 1024,
        metadata: Any = None,
        max_items: int | None = None,
        max_age: float | None = None,
        deadline: float | None = None,
        layout: int | None = None,
    ) -> AsyncPagedList:
        """Create a list, or return it if it already exists with the same settings (see
        :meth:`PagedList.create`)."""
        _not_reserved(validate_list_id(list_id, store.limits.key_bytes))
        wanted, fixed = cls._wanted(
            store,
            capacity=capacity,
            max_item_bytes=max_item_bytes,
            metadata=metadata,
            max_items=max_items,
            max_age=max_age,
            layout=layout,
        )
        handle = cls(store, list_id, deadline=deadline)
        await handle._run(handle._p_create(wanted, fixed), f"create({list_id!r})")
        return handle

    @classmethod
    async def open(
        cls, store: AsyncStore, list_id: str, *, deadline: float | None = None
    ) -> AsyncPagedList:
        """Open an existing list (one store call). Raises ``ListNotFound``."""
        handle = cls(store, list_id, deadline=deadline)
        await handle._run(handle._p_load(), f"open({list_id!r})")
        return handle

    # --- properties (loaded by create/open) -----------------------------------------------

    @property
    def capacity(self) -> int:
        """Items per page."""
        return self._loaded().capacity

    @property
    def layout(self) -> int:
        """1: page rows; 2: one row per item."""
        return self._loaded().layout

    @property
    def max_item_bytes(self) -> int:
        """Largest item, as UTF-8 bytes of its JSON text."""
        return self._loaded().max_item_bytes

    @property
    def metadata(self) -> Any:
        """The metadata given at creation, or ``None``."""
        text = self._loaded().metadata
        return None if text is None else decode_value(text)

    @property
    def created(self) -> float:
        """Creation time, seconds since the epoch."""
        return self._loaded().created_ms / 1000

    # --- writes ---------------------------------------------------------------------

    async def append(self, value: Any, *, id: str | None = None, ts: float | None = None) -> int:
        """Append ``value``; see :meth:`PagedList.append`."""
        cfg = await self._cfg()
        entries = self._entries(cfg, [value], None if id is None else [id], [ts])
        return (await self._write(cfg, entries, id is not None, f"append to {self._id!r}"))[0]

    async def extend(
        self,
        values: Iterable[Any],
        *,
        ids: Sequence[str] | None = None,
        ts: Sequence[float] | None = None,
    ) -> list[int]:
        """Append several values in order; see :meth:`PagedList.extend`."""
        items, ids_, ts_ = self._extend_args(values, ids, ts)
        cfg = await self._cfg()
        entries = self._entries(cfg, items, ids_, ts_)
        if not entries:
            return []
        return await self._write(cfg, entries, ids_ is not None, f"extend {self._id!r}")

    async def _write(
        self, cfg: alg.Settings, entries: list[JSONDoc], given_ids: bool, what: str
    ) -> list[int]:
        if self._once_path(cfg, given_ids):
            return await self._run(self._p_write_once(cfg, entries), what)
        return await self._group(cfg, entries, what)

    async def _group(self, cfg: alg.Settings, entries: list[JSONDoc], what: str) -> list[int]:
        """Coalesce with concurrent appends to this list (see ``PagedList._group``)."""
        st = self._state
        req = _AsyncRequest(entries, time.monotonic() + self._policy.deadline)
        with st.lock:
            lead = not st.busy
            if lead:
                st.busy = True
            else:
                st.queue.append(req)
        if not lead:
            await self._wait(req)
            if not req.lead:
                if req.error is not None:
                    raise req.error
                assert req.result is not None
                return req.result
        group = _take_group(st, req, self._chunk(cfg))
        # The group's store call runs as its own task: cancelling this caller's task must not
        # cancel the appends of the others in its group, nor leave the lead unreturned.
        task = asyncio.ensure_future(self._lead(cfg, group, req, what))
        try:
            await asyncio.shield(task)
        finally:
            if task.done():
                self._pass_lead()
            else:
                task.add_done_callback(lambda _: self._pass_lead())
        if req.error is not None:
            raise req.error
        assert req.result is not None
        return req.result

    async def _wait(self, req: _AsyncRequest) -> None:
        st = self._state
        try:
            await asyncio.wait_for(
                asyncio.shield(req.future), max(0.0, req.deadline - time.monotonic())
            )
            return
        except asyncio.CancelledError:
            with st.lock:
                if not req.taken and not req.lead and req in st.queue:
                    st.queue.remove(req)
                    raise  # never sent: nothing written
            if req.lead:
                self._pass_lead()  # handed the lead while being cancelled: pass it on
            raise
        except TimeoutError:
            with st.lock:
                if not req.taken and not req.lead and req in st.queue:
                    st.queue.remove(req)
                    raise _waited_too_long(self._id, self._policy) from None
        await req.future

    async def _lead(
        self, cfg: alg.Settings, group: list[Any], mine: _AsyncRequest, what: str
    ) -> None:
        entries = [e for req in group for e in req.entries]
        try:
            positions = await self._run(
                self._p_append(cfg, entries), what, _group_policy(group, self)
            )
        except BaseException as err:
            _fail_group(group, mine, err)
            return
        _hand_out(group, mine, positions)

    # --- reads ----------------------------------------------------------------------

    async def latest(self, n: int = 20) -> list[Item]:
        """The newest ``n`` items, newest first."""
        if _count(n) == 0:
            return []
        return await self._run(self._p_latest(n), f"latest({n})")

    async def before(self, position: int, n: int = 20) -> list[Item]:
        """Up to ``n`` items older than ``position``, newest first."""
        position, n = _count(position, "position"), _count(n)
        if n == 0:
            return []
        return await self._run(self._p_before(position, n), f"before({position})")

    async def after(self, position: int, n: int = 20) -> list[Item]:
        """Up to ``n`` items newer than ``position``, oldest first."""
        position, n = _after_args(position, n)
        if n == 0:
            return []
        return await self._run(self._p_after(position, n), f"after({position})")

    async def get(self, position: int) -> Item | None:
        """The item at ``position``, or ``None``."""
        position = _count(position, "position")
        return await self._run(self._p_get(position), f"get({position})")

    async def count(self) -> int:
        """The number of positions used so far."""
        return await self._run(self._p_count(), "count()")

    # --- lifecycle --------------------------------------------------------------------

    async def delete(self, position: int) -> bool:
        """Delete the item at ``position`` (a tombstone); see :meth:`PagedList.delete`."""
        position = _count(position, "position")
        return await self._run(self._p_delete(position), f"delete({position})")

    async def replace(self, position: int, value: Any) -> Item:
        """A new value at ``position``; see :meth:`PagedList.replace`."""
        position = _count(position, "position")
        return await self._run(self._p_replace(position, value), f"replace({position})")

    async def find(self, id: str) -> Item | None:
        """The live item with that id, or ``None``; see :meth:`PagedList.find`."""
        item_id = validate_item_id(id)
        return await self._run(self._p_find(item_id), f"find({item_id!r})")

    async def trim(self, *, before: int) -> int:
        """Drop every item below ``before``; see :meth:`PagedList.trim`."""
        before = _count(before, "before")
        return await self._run(self._p_trim(before), f"trim(before={before})")

    async def first(self) -> int:
        """The lowest retained position; see :meth:`PagedList.first`."""
        return await self._run(self._p_first(), "first()")

    @classmethod
    async def drop(
        cls,
        store: AsyncStore,
        list_id: str,
        *,
        deadline: float | None = None,
        timeout: float = DROP_TIMEOUT,
    ) -> bool:
        """Remove a whole list, all its rows; see :meth:`PagedList.drop`."""
        handle = cls(store, list_id, deadline=deadline)
        give_up = time.monotonic() + timeout
        while True:
            try:
                step = life.drop(handle._id, entries=store.features.entries)
                existed = await handle._run(step, f"drop({list_id!r})")
                break
            except DeadlineExceeded:
                if time.monotonic() > give_up:
                    raise
        _forget(store, handle._id)
        await handle._run(handle._p_unregister(), f"drop({list_id!r})")
        return bool(existed)

    @classmethod
    async def register(
        cls, store: AsyncStore, list_id: str, *, deadline: float | None = None
    ) -> None:
        """List ``list_id`` in the store's catalogue; see :meth:`PagedList.register`."""
        handle = cls(store, _not_reserved(validate_list_id(list_id, store.limits.key_bytes)))
        handle._policy = _deadline(deadline)
        await handle._run(handle._p_register(), f"register({list_id!r})")

    @classmethod
    async def lists(cls, store: AsyncStore, *, deadline: float | None = None) -> list[str]:
        """The ids of the lists created in ``store``; see :meth:`PagedList.lists`."""
        cat = cls(store, CATALOG, deadline=deadline)
        return await cat._run(cat._p_lists(), "lists()")

    async def iter(self, start: int = 0) -> AsyncIterator[Item]:
        """``async for item in lst.iter()``: forward from ``start`` to the end as seen while
        iterating, one store call per ``ITER_BATCH_PAGES`` pages."""
        position = _count(start, "start") - 1
        batch = (await self._cfg()).capacity * ITER_BATCH_PAGES
        while True:
            items, more = await self._run(self._p_batch(position, batch), f"iter({position + 1})")
            for item in items:
                yield item
            if more is None:
                return
            position = more

    def __aiter__(self) -> AsyncIterator[Item]:
        return self.iter()

    # --- many lists -----------------------------------------------------------------

    @classmethod
    async def latest_many(
        cls,
        store: AsyncStore,
        list_ids: Sequence[str],
        n: int = 20,
        *,
        cursor: str | None = None,
        deadline: float | None = None,
    ) -> Timeline:
        """The newest ``n`` items across ``list_ids``; see :meth:`PagedList.latest_many`."""
        plan = _ManyPlan(store, list_ids, n, cursor, deadline, cls)
        return await run_async(plan.step(), store, plan.policy, what="latest_many")
