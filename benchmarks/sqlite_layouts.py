"""SQLite: layout 2 (entry rows), layout 1 (page rows) and the native table, side by side.

    .venv/bin/python benchmarks/sqlite_layouts.py [DIRECTORY] [--ops N] [--rounds R]

Three subjects, each in a database file of its own in DIRECTORY (a fresh temporary one by
default): ``layout2`` (``SQLiteStore``'s default for new lists), ``layout1`` (the same store
behind ``LayoutOneStore``: page rows of capacity 70, the bench's default) and ``native``
(one autocommit ``INSERT`` per entry into an ``AUTOINCREMENT`` table with an index on
``(feed, seq)``, ``SELECT ... ORDER BY seq DESC LIMIT 50``: ``bench/native/sqlite.py``'s
design). The subjects take turns call by call, so a shared machine's load bursts hit
them alike; each call is timed in wall-clock and in this process's CPU time
(``time.process_time``), which a busy machine disturbs far less. Then the write-ahead
log each design writes per append: the ``-wal`` file's growth over ``--ops`` appends
(4 KiB pages plus a 24-byte frame header each), checkpoints off.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from pagedlist import PagedList, open_store
from pagedlist.conformance.fixtures import LayoutOneStore

VALUE = "x" * 200
N = 50


class Native:
    """The hand-written design: one row per entry."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS feed (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "feed TEXT NOT NULL, item_id TEXT NOT NULL, ts INTEGER NOT NULL, v TEXT NOT NULL)"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS feed_by_feed ON feed (feed, seq)")

    def append(self) -> None:
        self.db.execute(
            "INSERT INTO feed (feed, item_id, ts, v) VALUES (?, ?, ?, ?)",
            ("f", uuid.uuid4().hex, time.time_ns() // 1_000_000, f'"{VALUE}"'),
        )

    def latest(self) -> None:
        self.db.execute(
            "SELECT seq, item_id, ts, v FROM feed WHERE feed = ? ORDER BY seq DESC LIMIT ?",
            ("f", N),
        ).fetchall()


def _subjects(directory: str) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    out: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {}
    for name, wrap in (("layout2", lambda s: s), ("layout1", LayoutOneStore)):
        store = open_store(f"sqlite:///{os.path.join(directory, name + '.db')}")
        plist = PagedList.create(wrap(store), "f", capacity=70)
        out[name] = (lambda p=plist: p.append(VALUE), lambda p=plist: p.latest(N))
    native = Native(os.path.join(directory, "native.db"))
    out["native"] = (native.append, native.latest)
    return out


def _turns(calls: dict[str, Callable[[], object]], ops: int) -> dict[str, tuple[float, float]]:
    """Median wall-clock and CPU microseconds per call, the subjects taking turns."""
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ops):
        for name, call in calls.items():
            w, c = time.perf_counter(), time.process_time()
            call()
            cpu[name].append((time.process_time() - c) * 1e6)
            wall[name].append((time.perf_counter() - w) * 1e6)
    return {n: (statistics.median(wall[n]), statistics.median(cpu[n])) for n in calls}


def _wal_per_append(directory: str, name: str, append: Callable[[], object], ops: int) -> float:
    path = os.path.join(directory, name + ".db-wal")
    before = os.path.getsize(path)
    for _ in range(ops):
        append()
    return (os.path.getsize(path) - before) / ops


def main() -> None:
    """Run every measurement and print one table per workload."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?")
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    directory = args.directory or tempfile.mkdtemp(prefix="pagedlist-sqlite-")
    subjects = _subjects(directory)
    for append, _ in subjects.values():
        for _ in range(3 * N):  # a few pages' worth: latest(50) reads full pages
            append()
    for workload, index in (("append", 0), ("latest(50)", 1)):
        for r in range(args.rounds):
            got = _turns({n: s[index] for n, s in subjects.items()}, args.ops)
            wall, cpu = got["native"]
            print(f"{workload} round {r + 1}: median us (wall / cpu), ratio to native")
            for name, (w, c) in got.items():
                print(f"  {name:8} {w:8.1f} / {c:8.1f}   {w / wall:5.2f}x / {c / cpu:5.2f}x")
    # Checkpoints off from here: every commit's pages stay in the -wal file.
    for name in subjects:
        db = sqlite3.connect(os.path.join(directory, name + ".db"), isolation_level=None)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    for name, (append, _) in subjects.items():
        # Each connection checkpoints on its own at 1000 pages: stay well under that.
        per = _wal_per_append(directory, name, append, min(args.ops, 200))
        print(f"WAL per append  {name:8} {per:8.0f} B  ({per / 4120:.2f} pages)")
    print(f"files in {directory}")


if __name__ == "__main__":
    main()
