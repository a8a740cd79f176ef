"""Asyncio clauses (Y*): the list layer through ``AsyncPagedList`` on the scheme's asyncio
adapter (``open_async_store``), checked like the sync list clauses (``docs/contract.md``).

Each test runs its own event loop (``asyncio.run``) and opens its own async store, so a
backend's asyncio client is exercised exactly as an application would use it: tasks, not
threads.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from pagedlist.adapters import open_async_store
from pagedlist.conformance.capabilities import clause
from pagedlist.conformance.faults import AsyncFaultyStore
from pagedlist.conformance.history import Event, History, check, format_history, snapshot_async
from pagedlist.core.apagedlist import AsyncPagedList
from pagedlist.core.astore import AsyncStore
from pagedlist.core.counting import AsyncCountingStore
from pagedlist.errors import ContractViolation, PagedListError

__all__ = ["AbstractAsyncListTests", "AsyncRecorder", "loop_stall"]

TASKS = 100


class AsyncRecorder:
    """Records ``AsyncPagedList`` calls of many tasks as history events (see
    :class:`pagedlist.conformance.history.Recorder`)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def _call(self, base: Event, fn: Callable[[], Awaitable[Any]], read: Any) -> Any:
        start = time.monotonic()
        try:
            answer = await fn()
        except ContractViolation:
            raise
        except PagedListError as err:
            self.events.append(replace(base, start=start, end=time.monotonic(), error=repr(err)))
            return None
        except asyncio.CancelledError:
            # A cancelled call is unacknowledged: its append may or may not have committed.
            self.events.append(replace(base, start=start, end=time.monotonic(), error="cancelled"))
            raise
        self.events.append(replace(read(answer), start=start, end=time.monotonic()))
        return answer

    async def append(self, plist: AsyncPagedList, client: str, value: Any, item_id: str) -> Any:
        """``await plist.append(value, id=item_id)``, recorded."""
        base = Event(client, "append", 0, 0, ids=(item_id,))
        return await self._call(
            base, lambda: plist.append(value, id=item_id), lambda p: replace(base, positions=(p,))
        )

    async def latest(self, plist: AsyncPagedList, client: str, n: int) -> Any:
        """``await plist.latest(n)``, recorded."""
        base = Event(client, "latest", 0, 0, n=n)
        return await self._call(
            base,
            lambda: plist.latest(n),
            lambda items: replace(base, result=tuple((i.position, i.id) for i in items)),
        )

    async def scan(self, plist: AsyncPagedList, client: str) -> Any:
        """``[i async for i in plist.iter()]``, recorded."""
        base = Event(client, "scan", 0, 0)

        async def everything() -> list[Any]:
            return [i async for i in plist.iter()]

        return await self._call(
            base,
            everything,
            lambda items: replace(base, result=tuple((i.position, i.id) for i in items)),
        )

    async def count(self, plist: AsyncPagedList, client: str) -> Any:
        """``await plist.count()``, recorded."""
        base = Event(client, "count", 0, 0)
        return await self._call(base, plist.count, lambda n: replace(base, result=((n, ""),)))

    async def verify(self, store: AsyncStore, list_id: str) -> History:
        """Check the invariants against the list as stored now; raise with the history."""
        history = History(tuple(self.events), await snapshot_async(store, list_id))
        found = check(history)
        if found:
            raise AssertionError(format_history(history, found[0]))
        return history


def _waiting_for_a_cpu() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat), or
    0.0 where the kernel does not say."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


async def loop_stall(busy: Callable[[], Awaitable[Any]], *, tick: float = 0.001) -> float:
    """The longest time, in seconds, the event loop failed to wake a 1 ms heartbeat while
    ``busy()`` ran, less the time the loop's thread only waited for a CPU (other processes
    of a busy machine): what remains is the loop running a callback or blocked in one."""
    worst = 0.0
    done = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal worst
        while not done.is_set():
            before, queued = time.perf_counter(), _waiting_for_a_cpu()
            await asyncio.sleep(tick)
            late = time.perf_counter() - before - tick
            worst = max(worst, late - (_waiting_for_a_cpu() - queued))

    beat = asyncio.ensure_future(heartbeat())
    try:
        await busy()
    finally:
        done.set()
        await beat
    return worst


class AbstractAsyncListTests:
    """The list layer of the contract through the asyncio API."""

    @pytest.fixture(autouse=True)
    def _once_per_backend(self, request: pytest.FixtureRequest) -> None:
        # Autouse fixtures of a mixin apply to every test of the composed class: act on the
        # Y clauses only.
        mark = request.node.get_closest_marker("pagedlist_clause")
        if mark is None or not mark.args[0].startswith("Y"):
            return
        if request.getfixturevalue("bridged"):
            pytest.skip("an asyncio clause: it runs once per backend, in the main suite")

    def _run(self, store_url: str, body: Callable[[AsyncStore], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            store = await open_async_store(store_url)
            try:
                return await body(store)
            finally:
                await store.aclose()

        return asyncio.run(main())

    @clause("Y1")
    def test_async_hundred_tasks_keep_the_invariants(self, store_url, list_id):
        """Y1: 100 tasks append to one list at once (the common path: ids pagedlist draws)
        while readers read: every acknowledged append exactly once where told, positions
        dense, each reader's view a gap-free run of what the list holds."""

        async def body(store: AsyncStore) -> None:
            await AsyncPagedList.create(store, list_id, capacity=7)
            plist = AsyncPagedList(store, list_id)
            told: dict[int, tuple[int, int]] = {}
            seen: list[list[tuple[int, Any]]] = []

            async def writer(t: int) -> None:
                for k in range(3):
                    told[await plist.append({"t": t, "k": k})] = (t, k)

            async def reader() -> None:
                for _ in range(5):
                    seen.append([(i.position, i.value) for i in await plist.latest(5)])
                    await asyncio.sleep(0)

            await asyncio.gather(*(writer(t) for t in range(TASKS)), *(reader() for _ in range(3)))
            items = [i async for i in plist.iter()]
            assert [i.position for i in items] == list(range(3 * TASKS))
            assert len(told) == 3 * TASKS
            for item in items:
                assert told[item.position] == (item.value["t"], item.value["k"])
            final = {i.position: i.value for i in items}
            for view in filter(None, seen):
                positions = [p for p, _ in view]
                assert positions == list(range(positions[0], positions[0] - len(view), -1))
                assert all(final[p] == v for p, v in view)

        self._run(store_url, body)

    @clause("Y2")
    def test_async_round_trips(self, store_url, list_id):
        """Y2: an append is one store call once the list is known; latest(n) one call (two
        at most on layout 1); concurrent appends of 50 tasks take fewer calls than tasks."""

        async def body(store: AsyncStore) -> None:
            counting = AsyncCountingStore(store)
            plist = await AsyncPagedList.create(counting, list_id, capacity=50)
            await plist.append("warm")
            counting.reset()
            for i in range(10):
                await plist.append(i)
            assert counting.total == 10, dict(counting.calls)
            counting.reset()
            assert len(await plist.latest(5)) == 5
            assert counting.total <= (1 if plist.layout == 2 else 2)
            counting.reset()
            await asyncio.gather(*(plist.append(f"c{i}") for i in range(50)))
            assert counting.total < 50, dict(counting.calls)

        self._run(store_url, body)

    @clause("Y3")
    def test_async_cursors_walk_the_whole_list(self, store_url, list_id):
        """Y3: before/after/get/iter agree with each other, through the asyncio API."""

        async def body(store: AsyncStore) -> None:
            plist = await AsyncPagedList.create(store, list_id, capacity=4)
            await plist.extend(range(23))
            newest_first: list[int] = []
            cursor = None
            while True:
                page = await (plist.latest(5) if cursor is None else plist.before(cursor, 5))
                if not page:
                    break
                newest_first.extend(i.value for i in page)
                cursor = page[-1].position
            assert newest_first == list(range(22, -1, -1))
            assert [i.value for i in await plist.after(-1, 7)] == list(range(7))
            assert [i.value for i in await plist.after(19, 10)] == [20, 21, 22]
            assert [i.value async for i in plist.iter(10)] == list(range(10, 23))
            last = await plist.get(22)
            assert last is not None and last.value == 22 and await plist.get(23) is None
            assert await plist.count() == 23

        self._run(store_url, body)

    @clause("Y4")
    def test_async_values_round_trip_exactly(self, store_url, list_id):
        """Y4: values keep their exact JSON form through the asyncio API (-0.0, 5e-324,
        1 vs 1.0 vs True, integers past 2**64, odd keys, every Unicode plane)."""
        values = [-0.0, 0.0, 5e-324, 1, 1.0, True, 2**53 + 1, -(2**64) - 1, 10**40,
                  {"": [None, {"|": "\u0000🚀"}], "$": "\U0010ffff"}, "é" * 10]  # fmt: skip

        async def body(store: AsyncStore) -> None:
            plist = await AsyncPagedList.create(store, list_id)
            await plist.extend(values)
            got = [i.value async for i in plist.iter()]
            assert [repr(v) for v in got] == [repr(v) for v in values]
            assert [type(v) for v in got] == [type(v) for v in values]

        self._run(store_url, body)

    @clause("Y5")
    def test_async_faults_keep_the_invariants(self, store_url, list_id):
        """Y5: 20 tasks appending and reading through a store that refuses 15% of calls and
        loses 15% of answers: the invariants hold, every id at most once."""

        async def body(store: AsyncStore) -> None:
            await AsyncPagedList.create(store, list_id, capacity=3)
            faulty = AsyncFaultyStore(store, seed=7, unavailable=0.15, lost=0.15)
            plist = AsyncPagedList(faulty, list_id)
            rec = AsyncRecorder()
            rng = random.Random(7)

            async def client(c: int) -> None:
                for k in range(6):
                    if rng.random() < 0.7:
                        await rec.append(plist, f"c{c}", k, f"c{c}-{k}")
                    else:
                        await rec.latest(plist, f"c{c}", 4)

            await asyncio.gather(*(client(c) for c in range(20)))
            faulty.enabled = False
            history = await rec.verify(store, list_id)
            assert sum(faulty.injected.values()) > 0
            assert any(e.ok for e in history.events if e.kind == "append")

        self._run(store_url, body)

    @clause("Y6")
    def test_async_id_exactly_once_across_pages(self, store_url, list_id):
        """Y6: append(value, id=X) repeated after pages filled returns the first position,
        and concurrent tasks appending the same id get one position between them."""

        async def body(store: AsyncStore) -> None:
            plist = await AsyncPagedList.create(store, list_id, capacity=2)
            first = await plist.append("x", id="same")
            await plist.extend(range(9))
            assert await plist.append("again", id="same") == first
            told = await asyncio.gather(*(plist.append(t, id="race") for t in range(20)))
            assert len(set(told)) == 1
            ids = [i.id async for i in plist.iter()]
            assert ids.count("same") == 1 and ids.count("race") == 1

        self._run(store_url, body)

    @clause("Y7")
    def test_async_cancelled_appends_commit_once_or_not_at_all(self, store_url, list_id):
        """Y7: appends cancelled at random points either committed once or not at all; a
        later append with the same id finds the committed one; nothing acknowledged lost."""

        async def body(store: AsyncStore) -> None:
            plist = await AsyncPagedList.create(store, list_id, capacity=3)
            rec = AsyncRecorder()
            rng = random.Random(3)
            tasks = [
                asyncio.ensure_future(rec.append(plist, f"c{i}", i, f"id-{i}")) for i in range(60)
            ]
            # Cancel about half of them, a few at every turn of the loop: some still queued
            # behind a group, some in a group's store call, some done already.
            for _ in range(12):
                await asyncio.sleep(0)
                for task in tasks:
                    if not task.done() and rng.random() < 0.06:
                        task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for i in range(60):  # the callers retry every id once more
                await rec.append(plist, f"c{i}", i, f"id-{i}")
            history = await rec.verify(store, list_id)
            ids = [i.id async for i in plist.iter()]
            assert sorted(ids) == sorted(f"id-{i}" for i in range(60))
            assert any(e.error == "cancelled" for e in history.events)

        self._run(store_url, body)

    @clause("Y8")
    def test_async_event_loop_never_stalls(self, store_url, list_id):
        """Y8: while 100 tasks append, the event loop's longest stall stays under 10 ms: it
        never blocks on the store (time the machine gave other processes does not count;
        the best of five runs)."""

        async def body(store: AsyncStore) -> float:
            plist = await AsyncPagedList.create(store, list_id)

            async def appends() -> None:
                await asyncio.gather(*(plist.append(i) for i in range(TASKS)))

            await appends()  # warm: connections, scripts
            return min([await loop_stall(appends) for _ in range(5)])

        worst = self._run(store_url, body)
        assert worst < 0.010, f"the event loop stalled {worst * 1000:.1f} ms"
