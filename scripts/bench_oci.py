"""Layout 2 on OCI NoSQL next to the native design, on the same server in the same run.

    python -m pagedlist.emulators.oci_server --port 8181 --latency-ms 5 &
    .venv/bin/python scripts/bench_oci.py oci-nosql+http://127.0.0.1:8181/bench?create=true

Runs the bench's own workloads (``pagedlist.bench.workloads``): append with one writer,
``latest(50)``, ``before(pos, 50)`` and appends by 100 writer threads on one list, for
pagedlist in the store's default layout (``--layout 1`` for page rows) and for the native
design (``pagedlist.bench.native.oci``), then prints per operation: p50 and p99 latency,
throughput, store calls, the read and write units the server reported, and the ratio of
pagedlist to native. ``--json PATH`` also writes the rows.
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


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--writers", type=int, default=100)
    parser.add_argument("--layout", type=int, choices=(1, 2), default=None)
    parser.add_argument("--value-bytes", type=int, default=200)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    cfg = BenchConfig(
        ops=args.ops,
        concurrency=(args.writers,),
        value_bytes=args.value_bytes,
        workloads=("append", "latest", "before", "concurrent"),
    )
    store = open_store(args.url)
    timed = TimedStore(store)
    lists = PagedListSubject(
        timed, capacity=None, max_item_bytes=cfg.max_item_bytes, layout=args.layout
    )
    natives = native_subjects(args.url, store)
    try:
        results = run_workloads(cfg, [lists, *natives])
    finally:
        for subject in natives:
            subject.close()
        timed.close()
    rows = [r.to_dict() for r in results]
    by_key = {(r["workload"], r["kind"]): r for r in rows}
    print(f"{'workload':<11} {'subject':<20} {'p50 ms':>7} {'p99 ms':>7} {'ops/s':>7} "
          f"{'calls':>6} {'RU/op':>7} {'WU/op':>7} {'lost':>5} {'dup':>4}")  # fmt: skip
    for r in rows:
        units = r["units_per_op"]
        print(
            f"{r['workload']:<11} {r['subject']:<20} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
            f"{r['throughput_ops_s']:>7.0f} {r['calls_per_op']:>6.2f} "
            f"{units.get('read_units', 0):>7.2f} {units.get('write_units', 0):>7.2f} "
            f"{r['lost'] if r['lost'] is not None else '-':>5} "
            f"{r['duplicated'] if r['duplicated'] is not None else '-':>4}"
        )
    print("\npagedlist / native:")
    for workload in ("append", "latest", "before", "concurrent"):
        ours, theirs = by_key.get((workload, "pagedlist")), by_key.get((workload, "native"))
        if not ours or not theirs:
            continue
        parts = [f"p50 {ours['p50_ms'] / max(theirs['p50_ms'], 1e-9):.2f}x"]
        parts.append(
            f"throughput {ours['throughput_ops_s'] / max(theirs['throughput_ops_s'], 1e-9):.2f}x"
        )
        for unit in ("read_units", "write_units"):
            a = ours["units_per_op"].get(unit, 0.0)
            b = theirs["units_per_op"].get(unit, 0.0)
            parts.append(f"{unit} {a:.2f} vs {b:.2f}")
        print(f"  {workload:<11} " + ", ".join(parts))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"url": store.describe(), "layout": args.layout, "rows": rows}, out, indent=1)


if __name__ == "__main__":
    sys.exit(main())
