"""The workloads, each run against every subject in turn on the same store.

* ``append``: one writer appending to one list.
* ``concurrent``: N writers appending to one list (N from ``--concurrency``, up to 100: the
  talk's "100 concurrent users in the same 25 ms per list"), then the list is read back:
  every acknowledged id must be there exactly once.
* ``latest``: ``latest(n)`` on a list a few pages long.
* ``before``: paging back through that list ``n`` at a time with ``before``.
* ``feed``: a mix over many lists, ``read_fraction`` of ``latest(n)`` and the rest appends,
  on a few threads.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pagedlist.bench.runner import PhaseResult, run_phase, summarize_phase
from pagedlist.bench.subjects import Entry, PagedListSubject, Subject, make_entry

__all__ = ["WORKLOADS", "BenchConfig", "run_workloads", "verify"]

WORKLOADS = ("append", "concurrent", "latest", "before", "feed")

Progress = Callable[[str, int], Callable[[int], None]]
"""``progress(description, total) -> advance``: how the command shows progress bars."""


@dataclass(slots=True)
class BenchConfig:
    """Sizes of a run. Defaults keep a full run per backend to a minute or two."""

    ops: int = 300
    concurrency: tuple[int, ...] = (1, 10, 100)
    n: int = 50
    value_bytes: int = 200
    capacity: int | None = None
    max_item_bytes: int = 1024
    feed_lists: int = 20
    feed_fill: int = 60
    feed_threads: int = 4
    read_fraction: float = 0.9
    populate: int | None = None
    """Items in the ``latest``/``before`` list; default about 2.5 pages (at least 3 n)."""
    workloads: tuple[str, ...] = WORKLOADS
    seed: int = 1
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def populate_count(self, capacity: int) -> int:
        """Items to put in the read workloads' list."""
        if self.populate is not None:
            return self.populate
        return min(5000, max(3 * self.n, 2 * capacity + capacity // 2))


def verify(expected: Iterable[str], found: Sequence[str] | None) -> tuple[int | None, int | None]:
    """``(lost, duplicated)``: acknowledged ids missing from the read-back, and ids read
    back more than once (counted once per extra copy); ``(None, None)`` if unverifiable."""
    if found is None:
        return None, None
    counts = Counter(found)
    lost = sum(1 for i in set(expected) if counts[i] == 0)
    duplicated = sum(c - 1 for c in counts.values() if c > 1)
    return lost, duplicated


def _noop(_: int) -> None:
    return None


class _Run:
    def __init__(self, cfg: BenchConfig, subjects: Sequence[Subject], progress: Progress | None):
        self.cfg = cfg
        self.subjects = subjects
        self.progress = progress
        self.results: list[PhaseResult] = []
        self.pagedlist = next(s for s in subjects if isinstance(s, PagedListSubject))

    def lid(self, workload: str, subject: Subject, extra: str = "") -> str:
        # Raw reads pagedlist's own lists, so both share list ids.
        owner = "pl" if subject.kind in ("pagedlist", "raw") else subject.name.split(":")[-1]
        return f"bench-{self.cfg.run_id}-{workload}{extra}-{owner}"

    def bar(self, text: str, total: int) -> Callable[[int], None]:
        return self.progress(text, total) if self.progress else _noop

    def phase(
        self,
        workload: str,
        subject: Subject,
        op: Callable[[int, int], str | None],
        *,
        ops: int,
        concurrency: int,
        list_ids: Sequence[str],
    ) -> PhaseResult:
        label = f"{workload} - {subject.name}" + (f" - x{concurrency}" if concurrency > 1 else "")
        phase = run_phase(
            subject,
            op,
            ops=ops,
            concurrency=concurrency,
            list_ids=list_ids,
            advance=self.bar(label, ops),
        )
        result = summarize_phase(phase, workload, subject, concurrency)
        self.results.append(result)
        return result

    # --- workloads ---------------------------------------------------------------------

    def appends(self, workload: str, concurrency: int) -> None:
        for subject in self.subjects:
            list_id = self.lid(workload, subject, f"{concurrency}")
            subject.create(list_id)
            acked: list[list[str]] = [[] for _ in range(concurrency)]

            def op(
                t: int,
                i: int,
                subject: Subject = subject,
                list_id: str = list_id,
                acked: list[list[str]] = acked,
            ) -> str:
                entry = make_entry(self.cfg.value_bytes)
                subject.append(list_id, entry)
                acked[t].append(entry.id)
                return "append"

            result = self.phase(
                workload,
                subject,
                op,
                ops=self.cfg.ops,
                concurrency=concurrency,
                list_ids=[list_id],
            )
            if subject.verifiable:
                expected = [i for chunk in acked for i in chunk]
                result.lost, result.duplicated = verify(expected, subject.read_ids(list_id))
                result.extra["acknowledged"] = len(expected)

    def read_list(self, subject: Subject) -> str:
        """The list the read workloads use, filled once (pagedlist and raw share one)."""
        pl_id = self.lid("read", self.pagedlist)
        if pl_id not in self._filled:
            self.pagedlist.create(pl_id)
            count = self.cfg.populate_count(self.pagedlist.capacity(pl_id))
            self.pagedlist.populate(pl_id, self.entries(count))
            self._filled.add(pl_id)
        if subject.kind in ("pagedlist", "raw"):
            return pl_id
        list_id = self.lid("read", subject)
        if list_id not in self._filled:
            subject.create(list_id)
            count = self.cfg.populate_count(self.pagedlist.capacity(pl_id))
            subject.populate(list_id, self.entries(count))
            self._filled.add(list_id)
        return list_id

    def entries(self, count: int) -> list[Entry]:
        return [make_entry(self.cfg.value_bytes) for _ in range(count)]

    def latest(self) -> None:
        n = self.cfg.n
        for subject in self.subjects:
            list_id = self.read_list(subject)

            def op(t: int, i: int, subject: Subject = subject, list_id: str = list_id) -> str:
                got = subject.latest(list_id, n)
                if got != n:
                    raise AssertionError(f"latest({n}) returned {got} items")
                return "read"

            result = self.phase(
                "latest", subject, op, ops=self.cfg.ops, concurrency=1, list_ids=[list_id]
            )
            result.extra["n"] = n

    def before(self) -> None:
        n = self.cfg.n
        for subject in self.subjects:
            list_id = self.read_list(subject)
            cursor: list[object] = [None]

            def op(
                t: int,
                i: int,
                subject: Subject = subject,
                list_id: str = list_id,
                cursor: list[object] = cursor,
            ) -> str:
                got, cursor[0] = subject.before(list_id, cursor[0], n)
                if got == 0:
                    # The walk reached the oldest item exactly at a page boundary: start
                    # over from the newest (one extra round trip, once per walk).
                    got, cursor[0] = subject.before(list_id, None, n)
                if got == 0:
                    raise AssertionError("before() returned nothing on a full list")
                return "read"

            result = self.phase(
                "before", subject, op, ops=self.cfg.ops, concurrency=1, list_ids=[list_id]
            )
            result.extra["n"] = n

    def feed(self) -> None:
        cfg = self.cfg
        for subject in self.subjects:
            ids = [self.lid("feed", subject, f"{k}") for k in range(cfg.feed_lists)]
            for list_id in ids:
                subject.create(list_id)
                if subject.kind == "raw":
                    continue  # reads pagedlist's lists, filled by the pagedlist subject
                subject.populate(list_id, self.entries(cfg.feed_fill))
            rngs = [random.Random(cfg.seed * 1000 + t) for t in range(cfg.feed_threads)]

            def op(
                t: int,
                i: int,
                subject: Subject = subject,
                ids: list[str] = ids,
                rngs: list[random.Random] = rngs,
            ) -> str:
                rng = rngs[t]
                list_id = ids[rng.randrange(len(ids))]
                if rng.random() < cfg.read_fraction:
                    subject.latest(list_id, cfg.n)
                    return "read"
                subject.append(list_id, make_entry(cfg.value_bytes))
                return "append"

            self.phase("feed", subject, op, ops=cfg.ops, concurrency=cfg.feed_threads, list_ids=ids)

    def run(self) -> list[PhaseResult]:
        self._filled: set[str] = set()
        for workload in self.cfg.workloads:
            if workload == "append":
                self.appends("append", 1)
            elif workload == "concurrent":
                for c in self.cfg.concurrency:
                    self.appends("concurrent", c)
            elif workload == "latest":
                self.latest()
            elif workload == "before":
                self.before()
            elif workload == "feed":
                self.feed()
            else:
                raise ValueError(f"unknown workload {workload!r}; known: {', '.join(WORKLOADS)}")
        return self.results


def run_workloads(
    cfg: BenchConfig, subjects: Sequence[Subject], progress: Progress | None = None
) -> list[PhaseResult]:
    """Run every workload of ``cfg`` against every subject; return the report rows.

    ``subjects`` must include the :class:`PagedListSubject` (the raw subject reads its
    lists) and list it before the raw one.
    """
    return _Run(cfg, subjects, progress).run()
