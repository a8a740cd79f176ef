"""Where the client's CPU goes per append and per ``latest(50)`` on PostgreSQL: pagedlist
(layout 2) next to the native table, by layer, from a ``cProfile`` on the thread's CPU
clock (``time.thread_time``), so a loaded machine's waits do not count.

    .venv/bin/python benchmarks/postgres_cpu.py [URL] [--ops N]

Without a URL it starts a throw-away server. Layers: ``core`` (``pagedlist/core``: the list
algorithms, the driver, group commit, items), ``adapter`` (``adapters/postgres.py``),
``psycopg`` (psycopg and its pool), ``other`` (what is left: the interpreter, the bench's
own code); time in the standard library counts for the layer that called it. The totals
come from a second, unprofiled run of the same loop (profiling inflates every Python
call).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
import uuid
from collections.abc import Callable

from pg_server import server

from pagedlist import PagedList
from pagedlist.adapters import open_store
from pagedlist.bench.native.postgres import PostgresTableSubject
from pagedlist.bench.subjects import make_entry


def _layer(filename: str) -> str:
    if "pagedlist/core" in filename:
        return "core"
    if "adapters/postgres" in filename:
        return "adapter"
    if "psycopg" in filename:
        return "psycopg"
    return "other"


def _spread(stats: dict, func: tuple, own: float, layers: dict[str, float], depth: int) -> None:
    callers = stats[func][4]
    calls = sum(c[1] for c in callers.values()) or 1
    for caller, counts in callers.items():
        share = own * counts[1] / calls
        layer = _layer(caller[0])
        if layer == "other" and depth < 8 and caller in stats and stats[caller][4]:
            _spread(stats, caller, share, layers, depth + 1)
        else:
            layers[layer] = layers.get(layer, 0.0) + share


def _profile(call: Callable[[], object], ops: int) -> tuple[float, dict[str, float]]:
    for _ in range(50):
        call()
    started = time.thread_time()
    for _ in range(ops):
        call()
    total = (time.thread_time() - started) / ops * 1e6
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    for _ in range(ops):
        call()
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    layers: dict[str, float] = {}
    for func, (_, _, own, _, callers) in stats.items():
        layer = _layer(func[0])
        if layer == "other" and callers:
            # The standard library's time is its callers': split by their call counts,
            # callers that are library code themselves passing it to theirs.
            _spread(stats, func, own, layers, depth=0)
        else:
            layers[layer] = layers.get(layer, 0.0) + own
    spent = sum(layers.values()) or 1.0
    return total, {k: v / spent * 100 for k, v in sorted(layers.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--ops", type=int, default=2000)
    args = parser.parse_args()
    with server(args.url) as url, open_store(url) as store:
        native = PostgresTableSubject(url)
        list_id, native_id = f"cpu-{uuid.uuid4().hex[:6]}", f"cpu-n-{uuid.uuid4().hex[:6]}"
        feed = PagedList.create(store, list_id)
        filled = [make_entry(200) for _ in range(300)]
        feed.extend([e.value for e in filled])
        native.populate(native_id, filled)
        calls = {
            "append: pagedlist": lambda: feed.append("x" * 198),
            "append: native": lambda: native.append(native_id, make_entry(200)),
            "latest(50): pagedlist": lambda: feed.latest(50),
            "latest(50): native": lambda: native.latest(native_id, 50),
        }
        try:
            for name, call in calls.items():
                total, layers = _profile(call, args.ops)
                shares = ", ".join(f"{k} {v:.0f}%" for k, v in layers.items())
                print(f"{name:24} {total:6.0f} us CPU per call ({shares})")
        finally:
            native.close()


if __name__ == "__main__":
    main()
