"""Instructions per core operation on the memory store, counted by valgrind's callgrind.

    python benchmarks/count_instructions.py [append|latest|many ...] [--src DIR]

Timings on a shared 2-core machine move by a third between runs; an instruction count
does not. Each operation is run under ``valgrind --tool=callgrind`` twice, 100 and 600
times after the same set-up (20 lists of 60 items of 200-byte values), and the difference
divided by 500 is printed: the set-up and the interpreter's start cancel out. The hash
seed is fixed (``PYTHONHASHSEED=0``): with random seeds the counts move by up to 5 %.
``--src`` points at another checkout's ``src`` to compare two versions of the core.
Needs ``valgrind`` (Debian: ``apt-get install valgrind``); takes about a minute per
operation.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

OPERATIONS = ("append", "latest", "many")


def _workload(operation: str, reps: int) -> None:
    from pagedlist.adapters.memory import MemoryStore
    from pagedlist.core.pagedlist import PagedList

    store = MemoryStore()
    ids = [f"l{k}" for k in range(20)]
    handles = [PagedList.create(store, list_id) for list_id in ids]
    for _ in range(6):
        for handle in handles:
            handle.extend(["x" * 198] * 10)
    first = handles[0]
    PagedList.latest_many(store, ids, 50)
    value = json.loads(json.dumps("x" * 198))
    calls = {
        "append": lambda: first.append(value),
        "latest": lambda: first.latest(50),
        "many": lambda: PagedList.latest_many(store, ids, 50),
    }
    call = calls[operation]
    for _ in range(reps):
        call()


def _count(operation: str, reps: int, src: Path) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(src)}
    out = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, __file__, "--run", operation, str(reps),
        ],
        env=env, capture_output=True, text=True, check=True,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no total:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--run":
        _workload(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("operations", nargs="*", choices=OPERATIONS, default=list(OPERATIONS))
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src")
    args = parser.parse_args()
    for operation in args.operations:
        per = (_count(operation, 600, args.src) - _count(operation, 100, args.src)) // 500
        print(f"{operation}: {per:,} instructions per call ({args.src})", flush=True)


if __name__ == "__main__":
    main()
