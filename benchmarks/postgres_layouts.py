"""PostgreSQL: layout 2 (entry rows), layout 1 (JSONB pages) and the native table, side by
side in one run on one server.

    .venv/bin/python benchmarks/postgres_layouts.py [URL] [--ops N] [--concurrency 1,10,100]

Without a URL it starts a throw-away server (``pagedlist.emulators.postgres``) and stops
it afterwards. Subjects, each on lists of its own: ``pagedlist`` (the store's default
layout, 2), ``pagedlist:layout1`` (page rows in the ``jsonb`` table, pagedlist 0.1's
layout) and ``native:postgres-table`` (``bench/native/postgres.py``). Workloads: one
writer appending, N writers appending to one list (threads of one process, so
pagedlist's group commit applies), ``latest(50)`` and ``before(pos, 50)``. Then, on a quiet
server, the single-writer operations once more with the subjects taking turns call by
call (robust to a shared machine's load bursts, which the block-wise workloads are not),
and the write-ahead log each design writes per append (one writer, 200-byte values):
PostgreSQL bills no request units, and WAL is what replication, backups and Aurora's
I/O bill grow with.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

import psycopg
from pg_server import server

from pagedlist.adapters import open_store
from pagedlist.bench.counting import TimedStore
from pagedlist.bench.native.postgres import PostgresTableSubject
from pagedlist.bench.subjects import PagedListSubject, make_entry
from pagedlist.bench.workloads import BenchConfig, run_workloads


class LayoutOneSubject(PagedListSubject):
    """pagedlist on page rows (layout 1), named apart so its lists are its own."""

    name = "pagedlist:layout1"
    kind = "pagedlist-layout1"


def _wal_per_append(url: str, subjects: dict[str, object], count: int) -> dict[str, float]:
    """Mean WAL bytes per append of each subject, appends interleaved."""
    lists = {name: f"wal-{uuid.uuid4().hex[:6]}-{k}" for k, name in enumerate(subjects)}
    for name, subject in subjects.items():
        subject.create(lists[name])
        subject.prepare_thread([lists[name]])
        for _ in range(10):  # connections, statements and caches warm
            subject.append(lists[name], make_entry(200))
    total = dict.fromkeys(subjects, 0.0)
    with psycopg.connect(url, autocommit=True) as conn:

        def lsn() -> str:
            return conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]

        for _ in range(count):
            for name, subject in subjects.items():
                before = lsn()
                subject.append(lists[name], make_entry(200))
                total[name] += float(
                    conn.execute(
                        "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [before]
                    ).fetchone()[0]
                )
    return {name: total[name] / count for name in subjects}


def _interleaved(subjects: list, ops: int, n: int = 50) -> None:
    """The single-writer operations again, the subjects taking turns op by op: on a
    machine shared with other load, a burst of it then falls on every subject alike (the
    workloads above run each subject's share as a block)."""
    lists = {}
    for k, subject in enumerate(subjects):
        list_id = f"turns-{uuid.uuid4().hex[:6]}-{k}"
        subject.create(list_id)
        subject.prepare_thread([list_id])
        subject.populate(list_id, [make_entry(200) for _ in range(300)])
        lists[subject.name] = list_id
    cursors: dict[str, object] = dict.fromkeys(lists)

    pages: dict[str, int] = dict.fromkeys(lists, 0)

    def before(subject: object, list_id: str) -> None:
        got, cursors[subject.name] = subject.before(list_id, cursors[subject.name], n)
        if got != n:
            raise AssertionError(f"{subject.name}: before() read {got} items, not {n}")
        pages[subject.name] += 1
        if pages[subject.name] == 300 // n - 1:  # near the start: from the newest again
            cursors[subject.name], pages[subject.name] = None, 0

    ops_by_name = {
        "append": lambda s, lid: s.append(lid, make_entry(200)),
        f"latest({n})": lambda s, lid: s.latest(lid, n),
        f"before(pos, {n})": before,
    }
    print(f"\ninterleaved: median of {ops} calls each, the subjects taking turns call by call")
    for label, op in ops_by_name.items():
        times: dict[str, list[float]] = {s.name: [] for s in subjects}
        for _ in range(ops):
            for subject in subjects:
                started = time.perf_counter()
                op(subject, lists[subject.name])
                times[subject.name].append(time.perf_counter() - started)
        medians = {k: sorted(v)[len(v) // 2] * 1e3 for k, v in times.items()}
        native = medians[subjects[-1].name]
        for name, median in medians.items():
            print(f"  {label:16} {name:22} p50 {median:7.3f} ms  ({median / native:.2f}x native)")


def _report(results: list) -> None:
    base = {(r.workload, r.concurrency): r.summary for r in results if r.kind == "native"}
    print(f"{'workload':12} {'writers':>7} {'subject':22} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'ops/s':>8} {'calls/op':>8} {'p50/native':>10} {'lost':>4} {'dup':>4}")  # fmt: skip
    for r in results:
        s = r.summary
        ref = base.get((r.workload, r.concurrency))
        ratio = f"{s.p50_ms / ref.p50_ms:10.2f}" if ref and ref.p50_ms else f"{'':10}"
        print(
            f"{r.workload:12} {r.concurrency:7d} {r.subject:22} {s.p50_ms:8.3f} {s.p99_ms:8.3f} "
            f"{s.throughput:8.0f} {s.calls_per_op:8.2f} {ratio} "
            f"{_blank(r.lost):>4} {_blank(r.duplicated):>4}"
        )  # fmt: skip
        if r.summary.errors:
            print(f"    {r.summary.errors} errors, first: {r.first_error}")


def _blank(n: int | None) -> str:
    return "" if n is None else str(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--concurrency", default="1,10,100")
    parser.add_argument("--wal-appends", type=int, default=200)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    with server(args.url) as url:
        store = TimedStore(open_store(url))
        layout2 = PagedListSubject(store, capacity=None, max_item_bytes=1024, layout=None)
        layout1 = LayoutOneSubject(store, capacity=None, max_item_bytes=1024, layout=1)
        native = PostgresTableSubject(url)
        cfg = BenchConfig(
            ops=args.ops,
            concurrency=tuple(int(c) for c in args.concurrency.split(",")),
            workloads=("append", "concurrent", "latest", "before"),
        )
        try:
            results = run_workloads(cfg, [layout2, layout1, native])
            _report(results)
            _interleaved([layout2, layout1, native], args.ops // 3)
            wal = _wal_per_append(
                url, {s.name: s for s in (layout2, layout1, native)}, args.wal_appends
            )
        finally:
            native.close()
            store.close()
    print("\nWAL per append (one writer, 200-byte values):")
    for name, size in wal.items():
        print(f"  {name:22} {size:7.0f} B  ({size / wal[native.name]:.2f}x native)")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"results": [r.to_dict() for r in results], "wal": wal}, out, indent=1)


if __name__ == "__main__":
    sys.exit(main())
