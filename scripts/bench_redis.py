"""pagedlist on Redis next to the native designs (LPUSH/LRANGE, XADD/XREVRANGE), one run.

The numbers of docs/backends/redis.md come from this script. It runs the bench's own
workloads (``pagedlist.bench``: append, N writers on one list, latest(n), before(pos, n))
with the pagedlist subject in the store's default layout (``--layout 2``, entry rows) or
in layout 1 (page rows, pagedlist 0.1), side by side with the native subjects of
``pagedlist.bench.native.redis``, alternating round by round on the same server, and
prints one line per workload and subject with its ratio to ``LPUSH``/``LRANGE``::

    .venv/bin/pagedlist emulator start redis            # prints redis://127.0.0.1:PORT/0
    .venv/bin/python scripts/bench_redis.py redis://127.0.0.1:PORT/0 --ops 2000
    .venv/bin/python scripts/bench_redis.py redis+cluster://127.0.0.1:PORT --layout 1
"""

from __future__ import annotations

import argparse
import json
import sys

from pagedlist.adapters import open_store
from pagedlist.bench.counting import TimedStore
from pagedlist.bench.native import native_subjects
from pagedlist.bench.subjects import PagedListSubject
from pagedlist.bench.workloads import BenchConfig, run_workloads

NATIVE = "native:redis-list"


def main(argv: list[str] | None = None) -> int:
    """Run the workloads and print the table (``--json`` also writes every row)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--ops", type=int, default=1000, help="operations per phase")
    parser.add_argument("--concurrency", default="1,10,100", help="writer counts")
    parser.add_argument("--layout", type=int, choices=(1, 2), default=2)
    parser.add_argument("--value-bytes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per phase")
    parser.add_argument("--workloads", default="append,concurrent,latest,before")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)

    store = TimedStore(open_store(args.url))
    lists = PagedListSubject(
        store, capacity=None, max_item_bytes=1024, layout=None if args.layout == 2 else 1
    )
    natives = native_subjects(args.url, store)
    cfg = BenchConfig(
        ops=args.ops,
        concurrency=tuple(int(c) for c in args.concurrency.split(",")),
        value_bytes=args.value_bytes,
        workloads=tuple(args.workloads.split(",")),
        rounds=args.rounds,
    )
    try:
        results = run_workloads(cfg, [lists, *natives])
    finally:
        for subject in natives:
            subject.close()
        store.close()

    native = {(r.workload, r.concurrency): r.summary for r in results if r.subject == NATIVE}
    print(f"{store.describe()}, layout {args.layout}, {args.value_bytes}-byte values")
    print(
        f"{'workload':<11}{'subject':<22}{'N':>4}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'ops/s':>9}{'calls':>7}{'cpu us':>8}{'p50/list':>10}{'p99/list':>10}"
        f"{'ops/list':>10}{'lost':>6}{'dup':>5}"
    )
    for r in results:
        s, base = r.summary, native.get((r.workload, r.concurrency))
        ratios = ""
        if base is not None:
            ratios = (
                f"{s.p50_ms / base.p50_ms:>10.2f}{s.p99_ms / base.p99_ms:>10.2f}"
                f"{s.throughput / base.throughput:>10.2f}"
            )
        lost = "" if r.lost is None else r.lost
        dup = "" if r.duplicated is None else r.duplicated
        print(
            f"{r.workload:<11}{r.subject:<22}{r.concurrency:>4}{s.p50_ms:>9.3f}{s.p90_ms:>9.3f}"
            f"{s.p99_ms:>9.3f}{s.throughput:>9.0f}{s.calls_per_op:>7.2f}"
            f"{s.cpu_us_per_op:>8.0f}{ratios:<30}"
            f"{lost:>6}{dup:>5}"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump([r.to_dict() for r in results], out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
