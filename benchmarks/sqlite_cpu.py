"""Where the client's CPU goes in ``SQLiteStore``'s hot calls, on a WAL file as the bench
opens it: ``push`` of one entry (what an append sends), ``scan`` of the newest 50 (what
``latest(50)`` sends), ``scan_many`` of two ranges, and the whole ``PagedList`` append and
``latest(50)`` next to the native table's ``INSERT`` and ``SELECT``.

    .venv/bin/python benchmarks/sqlite_cpu.py [DIRECTORY] [--ops N] [--top K] [--only NAME]

Each call is timed on the thread's CPU clock (``time.thread_time``) over ``--ops`` calls,
unprofiled (the mean µs printed), then once more under ``cProfile`` for the functions with
the most own time (profiling inflates every Python call, so read its shares, not its
totals). The database files go to DIRECTORY (a fresh temporary one by default).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
import uuid
from collections.abc import Callable

from pagedlist import PagedList, open_store
from pagedlist.bench.native.sqlite import SQLiteTableSubject
from pagedlist.bench.subjects import make_entry
from pagedlist.core.ops import Scan

VALUE = "x" * 198  # the bench's 200-byte value as JSON text


def _cpu(call: Callable[[], object], ops: int) -> float:
    started = time.thread_time()
    for _ in range(ops):
        call()
    return (time.thread_time() - started) / ops * 1e6


def _profile(call: Callable[[], object], ops: int, top: int) -> str:
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    for _ in range(ops):
        call()
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(lines[start : start + top + 1])


def main() -> None:
    """Fill one list per subject, then time and profile each call."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?")
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--only", action="append", help="run only the calls named so")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    directory = args.directory or tempfile.mkdtemp(prefix="pagedlist-sqlite-cpu-")
    path = os.path.join(directory, "cpu.db")
    store = open_store(f"sqlite:///{path}")
    feed = PagedList.create(store, f"cpu-{uuid.uuid4().hex[:6]}")
    feed.extend([VALUE] * 300)
    raw_list = f"raw-{uuid.uuid4().hex[:6]}"
    for _ in range(300):
        store.push(raw_list, [{"id": uuid.uuid4().hex, "ts": time.time_ns() // 10**6, "v": VALUE}])
    native = SQLiteTableSubject(path)
    native_id = f"native-{uuid.uuid4().hex[:6]}"
    native.populate(native_id, [make_entry(200) for _ in range(300)])
    two = [
        Scan(raw_list, 0, None, 50, True),
        Scan(raw_list, 0, 100, 50, False),
    ]

    def push() -> object:
        entry = {"id": uuid.uuid4().hex, "ts": time.time_ns() // 10**6, "v": VALUE}
        return store.push(raw_list, [entry])

    def entry_only() -> object:  # what push() spends outside the store, to subtract
        return {"id": uuid.uuid4().hex, "ts": time.time_ns() // 10**6, "v": VALUE}

    calls: dict[str, Callable[[], object]] = {
        "entry building (push's argument)": entry_only,
        "store.push(1 entry)": push,
        "store.scan(newest 50)": lambda: store.scan(raw_list, 0, None, 50, True),
        "store.scan_many(2 scans)": lambda: store.scan_many(two),
        "PagedList.append": lambda: feed.append(VALUE),
        "PagedList.latest(50)": lambda: feed.latest(50),
        "native append": lambda: native.append(native_id, make_entry(200)),
        "native latest(50)": lambda: native.latest(native_id, 50),
    }
    try:
        for name, call in calls.items():
            if args.only and not any(o in name for o in args.only):
                continue
            for _ in range(100):
                call()
            print(f"{name:36} {_cpu(call, args.ops):7.1f} us CPU per call")
            if not args.no_profile and "entry building" not in name:
                print(_profile(call, args.ops, args.top))
                print()
    finally:
        native.close()
        store.close()


if __name__ == "__main__":
    main()
