"""``pagedlist bench --async``: the workloads through the asyncio API, next to the sync one.

The same workloads as :mod:`pagedlist.bench.workloads` (same sizes, same list shapes) run
through :class:`~pagedlist.core.apagedlist.AsyncPagedList` on ``await
open_async_store(url)`` in one event loop: ``concurrent`` with N *tasks* on one list where
the sync run has N threads, so the report can set 100 tasks against 100 threads.

What is measured differs from the threaded runner in one way: CPU and store calls of
tasks that overlap cannot be told apart per operation, so with several tasks both are the
phase's totals divided by its operations (``time.process_time``: every thread of the
process, the event loop's and a threaded store's pool), and "beyond store" CPU is not
reported (``nan``). One task gives per-operation figures, as the sync runner does.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pagedlist.bench.runner import PhaseResult
from pagedlist.bench.stats import Sample, summarize, unit_deltas
from pagedlist.bench.subjects import make_entry
from pagedlist.bench.workloads import TIMELINE_ROUNDS, BenchConfig, verify
from pagedlist.core.apagedlist import AsyncPagedList
from pagedlist.core.astore import AsyncStore
from pagedlist.core.counting import AsyncCountingStore

__all__ = ["ASYNC_KIND", "compare_async", "run_async_workloads"]

#: Subject name and kind of the asyncio API's rows.
ASYNC_KIND = "pagedlist-async"

#: ``op(task_index, op_index) -> tag``.
AsyncOp = Callable[[int, int], Awaitable[str | None]]


def _value(cfg: BenchConfig) -> Any:
    return json.loads(make_entry(cfg.value_bytes).value)


class _AsyncRun:
    def __init__(self, cfg: BenchConfig, store: AsyncCountingStore) -> None:
        self.cfg = cfg
        self.store = store
        self.run_id = f"{cfg.run_id}a"
        self.results: list[PhaseResult] = []

    def lid(self, workload: str, extra: str = "") -> str:
        return f"bench-{self.run_id}-{workload}{extra}-async"

    async def create(self, list_id: str) -> AsyncPagedList:
        return await AsyncPagedList.create(
            self.store,
            list_id,
            capacity=self.cfg.capacity,
            max_item_bytes=self.cfg.max_item_bytes,
            layout=self.cfg.layout,
        )

    async def fill(self, handle: AsyncPagedList, count: int) -> None:
        values = [_value(self.cfg) for _ in range(count)]
        for start in range(0, count, handle.capacity):
            await handle.extend(values[start : start + handle.capacity])

    async def phase(
        self, workload: str, op: AsyncOp, *, ops: int, tasks: int
    ) -> tuple[PhaseResult, list[str | None]]:
        """Run ``ops`` operations split over ``tasks`` tasks started together."""
        tasks = max(1, min(tasks, ops))
        base, extra = divmod(ops, tasks)
        shares = [base + (1 if t < extra else 0) for t in range(tasks)]
        lat: list[float] = []
        cpus: list[float] = []
        calls: list[int] = []
        tags: list[str | None] = []
        errors: list[str] = []
        start = asyncio.Event()

        async def worker(t: int) -> None:
            await start.wait()
            for i in range(shares[t]):
                c0, n0 = time.process_time(), self.store.total
                t0 = time.perf_counter()
                tag = None
                try:
                    tag = await op(t, i)
                except Exception as err:
                    errors.append(f"{type(err).__name__}: {err}")
                lat.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
                calls.append(self.store.total - n0)
                tags.append(tag)

        before = dict(self.store.stats())
        calls0, cpu0 = self.store.total, time.process_time()
        running = [asyncio.create_task(worker(t)) for t in range(tasks)]
        await asyncio.sleep(0)  # every task is waiting on the event before any starts
        wall0 = time.perf_counter()
        start.set()
        await asyncio.gather(*running)
        wall = time.perf_counter() - wall0
        cpu, total_calls = time.process_time() - cpu0, self.store.total - calls0
        units = unit_deltas(before, self.store.stats())
        n = len(lat)
        if tasks == 1:
            samples = [Sample(a, b, c, 0.0) for a, b, c in zip(lat, cpus, calls, strict=True)]
        else:
            # Overlapping tasks: each operation gets the phase's mean CPU and calls.
            samples = [Sample(a, cpu / n, 0, 0.0) for a in lat]
        summary = summarize(samples, wall, errors=len(errors), units=units)
        if tasks > 1:
            summary.calls_per_op = total_calls / n if n else math.nan
        summary.overhead_us_per_op = math.nan
        result = PhaseResult(
            workload,
            ASYNC_KIND,
            ASYNC_KIND,
            tasks,
            summary,
            first_error=errors[0] if errors else None,
        )
        return result, tags

    async def appends(self, workload: str, tasks: int) -> None:
        ops = self.cfg.ops if tasks == 1 else max(self.cfg.ops, 5 * tasks)
        list_id = self.lid(workload, str(tasks))
        await self.create(list_id)
        handles = [await AsyncPagedList.open(self.store, list_id) for _ in range(tasks)]
        acked: dict[int, str] = {}

        async def op(t: int, i: int) -> str:
            name = uuid.uuid4().hex
            acked[await handles[t].append(_value(self.cfg))] = name
            return "append"

        result, _ = await self.phase(workload, op, ops=ops, tasks=tasks)
        items = [i async for i in (await AsyncPagedList.open(self.store, list_id)).iter()]
        # As in the sync subject: a second copy of one append keeps pagedlist's id, so it
        # maps to the same harness name and counts as a duplicate.
        names = {i.id: acked[i.position] for i in items if i.position in acked}
        found = [names.get(i.id, i.id) for i in items]
        result.lost, result.duplicated = verify(acked.values(), found)
        result.extra["acknowledged"] = len(acked)
        self.results.append(result)

    async def read_list(self) -> tuple[AsyncPagedList, int]:
        list_id = self.lid("read")
        handle = await self.create(list_id)
        count = self.cfg.populate_count(handle.capacity)
        await self.fill(handle, count)
        return handle, count

    async def reads(self, workloads: Sequence[str]) -> None:
        n = self.cfg.n
        handle, size = await self.read_list()
        cursor: list[int | None] = [None]

        async def latest(t: int, i: int) -> str:
            got = len(await handle.latest(n))
            if got != n:
                raise AssertionError(f"latest({n}) returned {got} items")
            return "read"

        async def before(t: int, i: int) -> str:
            items = await handle.before(size if cursor[0] is None else cursor[0], n)
            if not items:
                items = await handle.before(size, n)
            if not items:
                raise AssertionError("before() returned nothing on a full list")
            cursor[0] = items[-1].position if items[-1].position > 0 else None
            return "read"

        for workload, op in (("latest", latest), ("before", before)):
            if workload in workloads:
                result, _ = await self.phase(workload, op, ops=self.cfg.ops, tasks=1)
                result.extra["n"] = n
                self.results.append(result)

    async def feed(self) -> None:
        cfg = self.cfg
        ids = [self.lid("feed", str(k)) for k in range(cfg.feed_lists)]
        for list_id in ids:
            await self.fill(await self.create(list_id), cfg.feed_fill)
        handles = [
            [await AsyncPagedList.open(self.store, i) for i in ids] for _ in range(cfg.feed_threads)
        ]
        rngs = [random.Random(cfg.seed * 1000 + t) for t in range(cfg.feed_threads)]

        async def op(t: int, i: int) -> str:
            rng = rngs[t]
            handle = handles[t][rng.randrange(len(ids))]
            if rng.random() < cfg.read_fraction:
                await handle.latest(cfg.n)
                return "read"
            await handle.append(_value(cfg))
            return "append"

        result, _ = await self.phase("feed", op, ops=cfg.ops, tasks=cfg.feed_threads)
        self.results.append(result)

    async def timeline(self) -> None:
        cfg = self.cfg
        ids = [self.lid("timeline", str(k)) for k in range(cfg.timeline_lists)]
        handles = [await self.create(list_id) for list_id in ids]
        total = max(cfg.n, cfg.feed_fill)
        for r in range(TIMELINE_ROUNDS):  # interleaved timestamps, as in the sync workload
            share = total // TIMELINE_ROUNDS + (1 if r < total % TIMELINE_ROUNDS else 0)
            for handle in handles:
                await self.fill(handle, share)
        await AsyncPagedList.latest_many(self.store, ids, cfg.n)  # once per process

        async def op(t: int, i: int) -> str:
            got = len((await AsyncPagedList.latest_many(self.store, ids, cfg.n)).items)
            if got != cfg.n:
                raise AssertionError(f"latest_many({len(ids)} lists, {cfg.n}) returned {got}")
            return "read"

        result, _ = await self.phase("timeline", op, ops=cfg.ops, tasks=1)
        result.extra.update(n=cfg.n, lists=len(ids))
        self.results.append(result)

    async def run(self) -> list[PhaseResult]:
        warm = await self.create(self.lid("warm"))
        for _ in range(self.cfg.warmup):
            await warm.append(_value(self.cfg))
            await warm.latest(self.cfg.n)
        for workload in self.cfg.workloads:
            if workload == "append":
                await self.appends("append", 1)
            elif workload == "concurrent":
                for c in self.cfg.concurrency:
                    await self.appends("concurrent", c)
            elif workload in ("latest", "before"):
                await self.reads([workload])
            elif workload == "feed":
                await self.feed()
            elif workload == "timeline":
                await self.timeline()
        return self.results


def run_async_workloads(cfg: BenchConfig, open_store: Callable[[], Awaitable[AsyncStore]]):
    """Run ``cfg``'s workloads through ``AsyncPagedList`` in a fresh event loop; return the
    rows as plain dicts (subject and kind :data:`ASYNC_KIND`)."""

    async def main() -> list[dict[str, Any]]:
        inner = await open_store()
        store = AsyncCountingStore(inner)
        try:
            return [r.to_dict() for r in await _AsyncRun(cfg, store).run()]
        finally:
            await inner.aclose()

    return asyncio.run(main())


def compare_async(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each asyncio row next to the sync API's row of the same workload and concurrency
    (tasks against threads): p50, p99 and ops/s of both, and async over sync."""
    out = []
    for a in results:
        if a["kind"] != ASYNC_KIND:
            continue
        s = next(
            (
                r
                for r in results
                if r["kind"] == "pagedlist"
                and r["workload"] == a["workload"]
                and r["concurrency"] == a["concurrency"]
            ),
            None,
        )
        if s is None:
            continue
        row: dict[str, Any] = {"workload": a["workload"], "concurrency": a["concurrency"]}
        for key in ("p50_ms", "p99_ms", "throughput_ops_s", "calls_per_op"):
            row[f"{key}_async"], row[f"{key}_sync"] = a[key], s[key]
            row[f"{key}_ratio"] = a[key] / s[key] if s[key] else None
        row["lost_async"], row["duplicated_async"] = a["lost"], a["duplicated"]
        out.append(row)
    return out
