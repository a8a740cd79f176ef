"""Profile the core's client CPU per ``append`` and per ``latest(50)`` on the memory store.

    .venv/bin/python benchmarks/profile_core.py [--ops 3000] [--layout 1|2] [--top 25]
    .venv/bin/python benchmarks/profile_core.py --breakdown


The memory store does no I/O, so what a profile of it shows is the core's own work plus
the memory adapter's copying: what the issue's "core CPU <= 30 µs per append and per
latest(50)" target measures. Prints the mean µs per operation (``time.process_time``) and
the ``cProfile`` functions with the most own time (tottime) for each operation.

``--breakdown`` splits ``latest(n)`` instead (thread CPU, best of 20 repeats): the whole
call; the same call with the store's scan answered from a prepared tuple (no store
work); and that again with ``Item`` building replaced by nothing, which leaves the core's
own machinery (driver, plan generators, operation and answer checks). The differences are
the store's share and the items' share (one ``json.loads`` of the values, one tuple each).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
import timeit

import pagedlist.core.pagedlist as core_list
from pagedlist.adapters.memory import MemoryStore
from pagedlist.core.pagedlist import PagedList


def breakdown(handle: PagedList, store: MemoryStore, n: int, ops: int) -> None:
    """Print where the CPU of ``latest(n)`` goes: store, items, the core's machinery."""

    def per_call() -> float:
        best = min(
            timeit.repeat(lambda: handle.latest(n), number=ops, repeat=20, timer=time.thread_time)
        )
        return best / ops * 1e6

    whole = per_call()
    answer = store.scan(handle.id, 0, None, n, True)
    real_scan, real_items = store.scan, core_list._items
    try:
        store.scan = lambda *args, **kwargs: answer  # type: ignore[method-assign]
        no_store = per_call()
        core_list._items = lambda entries, list_id: []
        machinery = per_call()
    finally:
        store.scan, core_list._items = real_scan, real_items  # type: ignore[method-assign]
    print(f"latest({n}), µs of thread CPU per call (best of 20 x {ops}):")
    print(f"  whole call           {whole:7.1f}")
    print(f"  store scan           {whole - no_store:7.1f}")
    print(f"  items (json + Item)  {no_store - machinery:7.1f}")
    print(f"  core machinery       {machinery:7.1f}")
    print(f"  core (items + rest)  {no_store:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--layout", type=int, choices=(1, 2), default=None)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--breakdown", action="store_true", help="split latest(n)'s CPU")
    args = parser.parse_args()
    store = MemoryStore()
    value = json.loads(json.dumps("x" * 198))  # the bench's 200-byte value
    handle = PagedList.create(store, "profile", layout=args.layout)
    print(f"layout {handle.layout}, capacity {handle.capacity}, {args.ops} ops each")
    for _ in range(200):  # warm: pages exist, caches filled
        handle.append(value)
        handle.latest(args.n)
    if args.breakdown:
        breakdown(handle, store, args.n, min(args.ops, 1000))
        return

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
