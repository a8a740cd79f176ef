"""Profile the core's client CPU per ``append`` and per ``latest(50)`` on the memory store.

    .venv/bin/python benchmarks/profile_core.py [--ops 3000] [--layout 1|2] [--top 25]

The memory store does no I/O, so what a profile of it shows is the core's own work plus
the memory adapter's copying: what the issue's "core CPU <= 30 µs per append and per
latest(50)" target measures. Prints the mean µs per operation (``time.process_time``) and
the ``cProfile`` functions with the most own time (tottime) for each operation.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time

from pagedlist.adapters.memory import MemoryStore
from pagedlist.core.pagedlist import PagedList


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--layout", type=int, choices=(1, 2), default=None)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    store = MemoryStore()
    value = json.loads(json.dumps("x" * 198))  # the bench's 200-byte value
    handle = PagedList.create(store, "profile", layout=args.layout)
    print(f"layout {handle.layout}, capacity {handle.capacity}, {args.ops} ops each")
    for _ in range(200):  # warm: pages exist, caches filled
        handle.append(value)
        handle.latest(args.n)

    def appends() -> None:
        for _ in range(args.ops):
            handle.append(value)

    def latests() -> None:
        for _ in range(args.ops):
            handle.latest(args.n)

    for name, fn in (("append", appends), (f"latest({args.n})", latests)):
        c0 = time.process_time()
        fn()
        per = (time.process_time() - c0) / args.ops * 1e6
        prof = cProfile.Profile()
        prof.enable()
        fn()
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.top)
        print(f"\n== {name}: {per:.1f} µs CPU per operation (unprofiled)\n")
        print("\n".join(out.getvalue().splitlines()[:args.top + 12]))


if __name__ == "__main__":
    main()
