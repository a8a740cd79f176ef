"""The workloads, each run against every subject in turn on the same store.

* ``append``: one writer appending to one list.
* ``concurrent``: N writers appending to one list (N from ``--concurrency``, up to 100: the
  talk's "100 concurrent users in the same 25 ms per list"), then the list is read back:
  every acknowledged id must be there exactly once.
* ``latest``: ``latest(n)`` on a list a few pages long.
* ``before``: paging back through that list ``n`` at a time with ``before``.
* ``feed``: a mix over many lists, ``read_fraction`` of ``latest(n)`` and the rest appends,
  on a few threads.
* ``timeline``: a home timeline, the newest ``n`` items merged from ``timeline_lists``
  lists (``PagedList.latest_many``; each native design's own way to read several feeds).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pagedlist.bench.runner import Phase, PhaseResult, merge_phases, run_phase, summarize_phase
from pagedlist.bench.subjects import Entry, PagedListSubject, Subject, make_entry

__all__ = ["WORKLOADS", "BenchConfig", "run_workloads", "verify"]

WORKLOADS = ("append", "concurrent", "latest", "before", "feed", "timeline")

#: Rounds in which the timeline workload fills its lists (see :meth:`_Run.timeline`).
TIMELINE_ROUNDS = 6

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
    timeline_lists: int = 20
    """Lists one ``timeline`` read merges (each filled with ``max(n, feed_fill)`` items)."""
    layout: int | None = None
    """Layout of the pagedlist lists; ``None``: the store's default (what a user gets)."""
    populate: int | None = None
    """Items in the ``latest``/``before`` list; default about 2.5 pages (at least 3 n)."""
    workloads: tuple[str, ...] = WORKLOADS
    rounds: int = 3
    """Alternating rounds per phase (subjects take turns), except for many writers."""
    warmup: int = 20
    """Untimed appends and reads per subject before measuring."""
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


@dataclass(slots=True)
class _Job:
    """One subject's part of a workload: its operation, lists, threads and what to check
    once all its rounds are done."""

    subject: Subject
    op: Callable[[int, int], str | None]
    list_ids: Sequence[str]
    concurrency: int
    finish: Callable[[PhaseResult], None] | None


def _note_n(n: int) -> Callable[[PhaseResult], None]:
    def finish(result: PhaseResult) -> None:
        result.extra["n"] = n

    return finish


class _Run:
    def __init__(self, cfg: BenchConfig, subjects: Sequence[Subject], progress: Progress | None):
        self.cfg = cfg
        self.subjects = subjects
        self.progress = progress
        self.results: list[PhaseResult] = []
        self.pagedlist = next(s for s in subjects if isinstance(s, PagedListSubject))

    def lid(self, workload: str, subject: Subject, extra: str = "") -> str:
        # Raw reads pagedlist's own lists when they are layout 1, so both share list ids;
        # otherwise the raw subjects share a layout-1 list of their own.
        owner = subject.name.split(":")[-1]
        if subject.kind == "pagedlist":
            owner = "pl"
        elif subject.kind in ("raw", "raw-page"):
            owner = "pl" if self._shares(subject) else "pl1"
        return f"bench-{self.cfg.run_id}-{workload}{extra}-{owner}"

    def _shares(self, subject: Subject) -> bool:
        """Whether a raw subject reads the measured pagedlist subject's own lists."""
        return getattr(subject, "lists", None) is self.pagedlist

    def bar(self, text: str, total: int) -> Callable[[int], None]:
        return self.progress(text, total) if self.progress else _noop

    def run_jobs(self, workload: str, jobs: Sequence[_Job], *, ops: int, rounds: int) -> None:
        """Run every job for ``ops`` operations, in ``rounds`` alternating rounds.

        Alternating subjects round by round (instead of one subject after the other) spreads
        a noisy neighbour's load, a warming JIT or a filling cache evenly over the subjects
        being compared. Samples, wall time and units of a job's rounds are merged.
        """
        rounds = max(1, min(rounds, ops))
        base, extra = divmod(ops, rounds)
        shares = [base + (1 if r < extra else 0) for r in range(rounds)]
        merged: list[Phase | None] = [None] * len(jobs)
        labels = []
        for job in jobs:
            label = f"{workload} - {job.subject.name}"
            if job.concurrency > 1:
                label += f" - x{job.concurrency}"
            labels.append(label)
        for r, share in enumerate(shares):
            for k, job in enumerate(jobs):
                advance = self.bar(f"{labels[k]} ({r + 1}/{rounds})", share)
                phase = run_phase(
                    job.subject,
                    job.op,
                    ops=share,
                    concurrency=job.concurrency,
                    list_ids=job.list_ids,
                    advance=advance,
                )
                done = merged[k]
                merged[k] = phase if done is None else merge_phases(done, phase)
        for job, got in zip(jobs, merged, strict=True):
            assert got is not None
            result = summarize_phase(got, workload, job.subject, job.concurrency)
            if job.finish is not None:
                job.finish(result)
            self.results.append(result)

    def warm_up(self) -> None:
        """Untimed appends and reads on a scratch list per subject: connections, JITs and
        caches warm before anything is measured."""
        count = self.cfg.warmup
        if count < 1:
            return
        for subject in self.subjects:
            list_id = self.lid("warm", subject)
            subject.create(list_id)
            subject.prepare_thread([list_id])
            for _ in range(count):
                subject.append(list_id, make_entry(self.cfg.value_bytes))
            for _ in range(count):
                subject.latest(list_id, self.cfg.n)

    # --- workloads ---------------------------------------------------------------------

    def appends(self, workload: str, concurrency: int) -> None:
        jobs = []
        ops = self.cfg.ops if concurrency == 1 else max(self.cfg.ops, 5 * concurrency)
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

            def finish(
                result: PhaseResult,
                subject: Subject = subject,
                list_id: str = list_id,
                acked: list[list[str]] = acked,
            ) -> None:
                if subject.verifiable:
                    expected = [i for chunk in acked for i in chunk]
                    found = subject.read_ids(list_id)
                    result.lost, result.duplicated = verify(expected, found)
                    result.extra["acknowledged"] = len(expected)
                    # An append that raised (e.g. its deadline passed) may still have
                    # committed: present once, never acknowledged. Not a loss; counted.
                    result.extra["committed_unacknowledged"] = len(set(found or ()) - set(expected))

            jobs.append(_Job(subject, op, [list_id], concurrency, finish))
        # Many writers each do several appends in one round, so contention lasts.
        rounds = self.cfg.rounds if concurrency == 1 else 1
        self.run_jobs(workload, jobs, ops=ops, rounds=rounds)

    def read_list(self, subject: Subject) -> str:
        """The list the read workloads use, filled once (pagedlist and raw share one)."""
        pl_id = self.lid("read", self.pagedlist)
        if pl_id not in self._filled:
            self.pagedlist.create(pl_id)
            count = self.cfg.populate_count(self.pagedlist.capacity(pl_id))
            self.pagedlist.populate(pl_id, self.entries(count))
            self._filled.add(pl_id)
        if subject.kind == "pagedlist" or (
            subject.kind in ("raw", "raw-page") and self._shares(subject)
        ):
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
        jobs = []
        for subject in self.subjects:
            if subject.kind == "raw-page":
                continue  # reads exactly like "raw"
            list_id = self.read_list(subject)

            def op(t: int, i: int, subject: Subject = subject, list_id: str = list_id) -> str:
                got = subject.latest(list_id, n)
                if got != n:
                    raise AssertionError(f"latest({n}) returned {got} items")
                return "read"

            jobs.append(_Job(subject, op, [list_id], 1, _note_n(n)))
        self.run_jobs("latest", jobs, ops=self.cfg.ops, rounds=self.cfg.rounds)

    def before(self) -> None:
        n = self.cfg.n
        jobs = []
        for subject in self.subjects:
            if subject.kind == "raw-page":
                continue  # reads exactly like "raw"
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

            jobs.append(_Job(subject, op, [list_id], 1, _note_n(n)))
        self.run_jobs("before", jobs, ops=self.cfg.ops, rounds=self.cfg.rounds)

    def feed(self) -> None:
        cfg = self.cfg
        jobs = []
        for subject in self.subjects:
            ids = [self.lid("feed", subject, f"{k}") for k in range(cfg.feed_lists)]
            for list_id in ids:
                subject.create(list_id)
                if subject.kind in ("raw", "raw-page") and list_id in self._filled:
                    continue  # reads lists another subject filled
                subject.populate(list_id, self.entries(cfg.feed_fill))
                self._filled.add(list_id)
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

            jobs.append(_Job(subject, op, ids, cfg.feed_threads, None))
        self.run_jobs("feed", jobs, ops=cfg.ops, rounds=cfg.rounds)

    def timeline(self) -> None:
        cfg = self.cfg
        n = cfg.n
        jobs = []
        for subject in self.subjects:
            if subject.kind == "raw-page":
                continue  # reads exactly like "raw"
            ids = [self.lid("timeline", subject, f"{k}") for k in range(cfg.timeline_lists)]
            fill = [list_id for list_id in ids if list_id not in self._filled]
            for list_id in ids:
                subject.create(list_id)
            # Lists are filled in rounds of a few items each, so their timestamps interleave
            # as followed accounts' posts do: the newest n come from several lists (filling
            # one list after the other would put all of them in the last list).
            total, rounds = max(n, cfg.feed_fill), TIMELINE_ROUNDS
            for r in range(rounds):
                share = total // rounds + (1 if r < total % rounds else 0)
                for list_id in fill:
                    subject.populate(list_id, self.entries(share))
            self._filled.update(fill)
            # The handles a process keeps anyway (and latest_many's first summary read, done
            # once per process): opened before timing, as for every other workload.
            subject.prepare_thread(ids)
            subject.latest_many(ids, n)

            def op(t: int, i: int, subject: Subject = subject, ids: list[str] = ids) -> str:
                got = subject.latest_many(ids, n)
                if got != n:
                    raise AssertionError(f"latest_many({len(ids)} lists, {n}) returned {got}")
                return "read"

            def finish(result: PhaseResult, lists: int = len(ids)) -> None:
                result.extra["n"] = n
                result.extra["lists"] = lists

            jobs.append(_Job(subject, op, ids, 1, finish))
        self.run_jobs("timeline", jobs, ops=cfg.ops, rounds=cfg.rounds)

    def run(self) -> list[PhaseResult]:
        self._filled: set[str] = set()
        self.warm_up()
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
            elif workload == "timeline":
                self.timeline()
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
