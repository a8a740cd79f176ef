"""PostgreSQL: layout 2 (entry rows), layout 1 (JSONB pages) and the native table, side by
side in one run on one server.

    .venv/bin/python benchmarks/postgres_layouts.py [URL] [--ops N] [--concurrency 1,10,100]

Without a URL it starts a throw-away server (``pagedlist.emulators.postgres``) and stops
it afterwards. Subjects, each on lists of its own: ``pagedlist`` (the store's default
layout, 2), ``pagedlist:layout1`` (page rows in the ``jsonb`` table, pagedlist 0.1's
layout) and ``native:postgres-table`` (``bench/native/postgres.py``). Workloads: one
writer appending, N writers appending to one list (threads of one process, so
pagedlist's group commit applies), ``latest(50)`` and ``before(pos, 50)``. Then, on a quiet
server, the write-ahead log each design writes per append (one writer, 200-byte values):
PostgreSQL bills no request units, and WAL is what replication, backups and Aurora's
I/O bill grow with.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import uuid
from collections.abc import Iterator

import psycopg

from pagedlist.adapters import open_store
from pagedlist.bench.counting import TimedStore
from pagedlist.bench.native.postgres import PostgresTableSubject
from pagedlist.bench.subjects import PagedListSubject, make_entry
from pagedlist.bench.workloads import BenchConfig, run_workloads


class LayoutOneSubject(PagedListSubject):
    """pagedlist on page rows (layout 1), named apart so its lists are its own."""

    name = "pagedlist:layout1"
    kind = "pagedlist-layout1"


@contextlib.contextmanager
def _server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from pagedlist.emulators.postgres import PostgresEmulator

    with PostgresEmulator().start() as running:
        yield running.url


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
    with _server(args.url) as url:
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
