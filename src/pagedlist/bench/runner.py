"""Run one measured phase: ``ops`` operations of one subject on ``concurrency`` threads.

Every operation is timed three ways on its own thread: wall latency (``perf_counter``),
client CPU (``thread_time``), and the store calls it made with the CPU spent inside them
(the subject's :meth:`~pagedlist.bench.subjects.Subject.mark`). Units are the difference of
the subject's running totals before and after the phase. Threads start together behind a
barrier, after their untimed per-thread set-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pagedlist.bench.stats import Sample, Summary, summarize, unit_deltas
from pagedlist.bench.subjects import Subject

__all__ = ["Phase", "PhaseResult", "merge_phases", "run_phase", "summarize_phase"]

#: ``op(thread_index, op_index) -> tag``: one operation; the tag (or ``None``) splits
#: a mixed phase's report (``"read"``, ``"append"``).
Op = Callable[[int, int], str | None]


@dataclass(slots=True)
class PhaseResult:
    """One row of the report."""

    workload: str
    subject: str
    kind: str
    concurrency: int
    summary: Summary
    lost: int | None = None
    duplicated: int | None = None
    first_error: str | None = None
    by_tag: dict[str, Summary] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            "workload": self.workload,
            "subject": self.subject,
            "kind": self.kind,
            "concurrency": self.concurrency,
            **self.summary.to_dict(),
            "lost": self.lost,
            "duplicated": self.duplicated,
            "first_error": self.first_error,
            "by_tag": {k: v.to_dict() for k, v in self.by_tag.items()},
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass(slots=True)
class Phase:
    """What :func:`run_phase` collected, before summarising."""

    samples: list[Sample]
    tags: list[str | None]
    wall: float
    errors: int
    first_error: str | None
    units: dict[str, float]


def _split(ops: int, threads: int) -> list[int]:
    base, extra = divmod(ops, threads)
    return [base + (1 if t < extra else 0) for t in range(threads)]


def run_phase(
    subject: Subject,
    op: Op,
    *,
    ops: int,
    concurrency: int = 1,
    list_ids: Sequence[str] = (),
    advance: Callable[[int], None] | None = None,
) -> Phase:
    """Run ``ops`` operations split over ``concurrency`` threads; collect every sample."""
    if ops < 1 or concurrency < 1:
        raise ValueError(f"ops and concurrency must be >= 1, got {ops} and {concurrency}")
    threads = min(concurrency, ops)
    shares = _split(ops, threads)
    samples: list[list[Sample]] = [[] for _ in range(threads)]
    tags: list[list[str | None]] = [[] for _ in range(threads)]
    errors = [0] * threads
    first_error: list[str] = []
    starts: list[float] = []
    ends = [0.0] * threads
    barrier = threading.Barrier(threads, action=lambda: starts.append(time.perf_counter()))
    lock = threading.Lock()

    def worker(t: int) -> None:
        try:
            subject.prepare_thread(list_ids)
        finally:
            barrier.wait()
        mark = subject.mark
        mine, my_tags = samples[t], tags[t]
        for i in range(shares[t]):
            calls0, store0 = mark()
            c0 = time.thread_time()
            t0 = time.perf_counter()
            tag = None
            try:
                tag = op(t, i)
            except Exception as err:
                errors[t] += 1
                with lock:
                    if not first_error:
                        first_error.append(f"{type(err).__name__}: {err}")
            t1 = time.perf_counter()
            c1 = time.thread_time()
            calls1, store1 = mark()
            mine.append(Sample(t1 - t0, c1 - c0, calls1 - calls0, store1 - store0))
            my_tags.append(tag)
            if advance is not None:
                with lock:
                    advance(1)
        ends[t] = time.perf_counter()

    before = dict(subject.units())
    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    after = dict(subject.units())
    wall = max(ends) - (starts[0] if starts else min(ends))
    return Phase(
        [s for chunk in samples for s in chunk],
        [g for chunk in tags for g in chunk],
        wall,
        sum(errors),
        first_error[0] if first_error else None,
        unit_deltas(before, after),
    )


def merge_phases(a: Phase, b: Phase) -> Phase:
    """Two rounds of the same job as one phase: samples joined, wall times and units added."""
    units = dict(a.units)
    for key, value in b.units.items():
        units[key] = units.get(key, 0.0) + value
    return Phase(
        a.samples + b.samples,
        a.tags + b.tags,
        a.wall + b.wall,
        a.errors + b.errors,
        a.first_error or b.first_error,
        units,
    )


def summarize_phase(phase: Phase, workload: str, subject: Subject, concurrency: int) -> PhaseResult:
    """Turn a phase into a report row, split by tag when the phase mixed operations."""
    result = PhaseResult(
        workload,
        subject.name,
        subject.kind,
        concurrency,
        summarize(phase.samples, phase.wall, errors=phase.errors, units=phase.units),
        first_error=phase.first_error,
    )
    names = sorted({t for t in phase.tags if t is not None})
    if len(names) > 1:
        for name in names:
            picked = [s for s, t in zip(phase.samples, phase.tags, strict=True) if t == name]
            # Units cannot be split by operation after the fact: they stay on the whole phase.
            result.by_tag[name] = summarize(picked, phase.wall)
    return result
