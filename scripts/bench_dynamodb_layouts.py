"""pagedlist on DynamoDB next to the native feed design, in one run on one server.

    python scripts/bench_dynamodb_layouts.py URL [--layout 2|1] [--ops N] [--json FILE]

Runs the bench's append, 100-writer, latest(50) and before(pos, 50) workloads
(``pagedlist.bench.workloads``) for pagedlist in the chosen layout (2: the store's default,
entry rows) and for ``native:dynamodb-items`` (an item per entry, ``Query(Limit=n)``), the
subjects taking turns round by round, and prints one Markdown table: p50/p99, throughput,
store calls and billed units (``ReturnConsumedCapacity``) per operation, and the ratio of
pagedlist to native. ``docs/backends/dynamodb.md`` has the numbers of a run.
"""

from __future__ import annotations

import argparse
import json
import sys

from pagedlist.adapters import open_store
from pagedlist.bench.counting import TimedStore
from pagedlist.bench.native.dynamodb import subjects as native_subjects
from pagedlist.bench.subjects import PagedListSubject
from pagedlist.bench.workloads import BenchConfig, run_workloads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--layout", type=int, choices=(1, 2), default=2)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--writers", default="1,100")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    store = open_store(args.url)
    timed = TimedStore(store)
    lists = PagedListSubject(
        timed, capacity=None, max_item_bytes=1024, layout=None if args.layout == 2 else 1
    )
    cfg = BenchConfig(
        ops=args.ops,
        concurrency=tuple(int(c) for c in args.writers.split(",")),
        workloads=("append", "concurrent", "latest", "before"),
    )
    results = run_workloads(cfg, [lists, *native_subjects(args.url, store)])
    rows = [r.to_dict() for r in results]
    by = {(r.workload, r.kind, r.concurrency): r.summary for r in results}
    print(f"layout {args.layout} on {timed.describe()}, {cfg.ops} ops per phase")
    print("| workload | writers | subject | p50 ms | p99 ms | ops/s | calls/op | WCU/op | RCU/op "
          "| p50 vs native | units vs native |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s = r.summary
        native = by.get((r.workload, "native", r.concurrency))
        wcu = s.units_per_op.get("write_units", 0.0)
        rcu = s.units_per_op.get("read_units", 0.0)
        ratio = units = ""
        if native is not None and r.kind != "native":
            ratio = f"{s.p50_ms / native.p50_ms:.2f}x" if native.p50_ms else ""
            theirs = sum(native.units_per_op.values())
            units = f"{(wcu + rcu) / theirs:.2f}x" if theirs else ""
        print(
            f"| {r.workload} | {r.concurrency} | {r.subject} | {s.p50_ms:.2f} | {s.p99_ms:.2f} "
            f"| {s.throughput:.0f} | {s.calls_per_op:.2f} | {wcu:.2f} | {rcu:.2f} | {ratio} "
            f"| {units} |"
        )
        if r.lost or r.duplicated or r.first_error:
            print(f"|  | | lost {r.lost}, duplicated {r.duplicated}, error {r.first_error} |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
