"""Check the five list invariants of DESIGN.md against what a store holds.

Used by the list clauses after concurrent runs: appenders record each acknowledged append
(id, position, start and end times), readers record what they saw, then
:func:`check_list` reads every page back and asserts the invariants.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pagedlist.core.algorithms import ITEMS
from pagedlist.core.store import Store
from pagedlist.core.values import page_key, summary_key

__all__ = ["Ack", "Recorder", "check_list"]


@dataclass(frozen=True, slots=True)
class Ack:
    """One acknowledged append: its id, the position it was told, and when it ran."""

    id: str
    position: int
    start: float
    end: float


@dataclass
class Recorder:
    """Thread-safe enough record of acknowledged appends and reads (list.append is atomic)."""

    acks: list[Ack] = field(default_factory=list)
    reads: list[list[tuple[int, str]]] = field(default_factory=list)

    def append(self, plist, value, item_id: str) -> int:
        """Run ``plist.append`` and record it if acknowledged."""
        start = time.monotonic()
        position = plist.append(value, id=item_id)
        self.acks.append(Ack(item_id, position, start, time.monotonic()))
        return position

    def read_latest(self, plist, n: int) -> None:
        """Run ``plist.latest(n)`` and record the (position, id) pairs it returned."""
        self.reads.append([(i.position, i.id) for i in plist.latest(n)])


def check_list(store: Store, list_id: str, recorder: Recorder) -> list[str]:
    """Read the whole list back and return every invariant violation found (empty = ok)."""
    problems: list[str] = []
    summary = store.get(summary_key(list_id))
    if summary is None:
        return [f"list {list_id!r} has no summary row"]
    capacity, head = int(summary.doc["capacity"]), int(summary.doc["head"])
    rows = store.get_many([page_key(list_id, p) for p in range(head + 1)])
    stored: list[str] = []
    for p in range(head + 1):
        row = rows.get(page_key(list_id, p))
        items = row.doc.get(ITEMS, []) if row else []
        if len(items) > capacity:
            problems.append(f"I1: page {p} holds {len(items)} items > capacity {capacity}")
        if p < head and len(items) != capacity:
            problems.append(f"I2: page {p} below head {head} holds {len(items)} != {capacity}")
        stored.extend(e["id"] for e in items)
    where: dict[str, int] = {}
    for pos, item_id in enumerate(stored):
        if item_id in where:
            problems.append(f"I3: id {item_id!r} stored twice, at {where[item_id]} and {pos}")
        where.setdefault(item_id, pos)
    for ack in recorder.acks:
        if where.get(ack.id) != ack.position:
            problems.append(
                f"I3: append {ack.id!r} acknowledged at {ack.position}, stored at "
                f"{where.get(ack.id)}"
            )
    # I4: sweep appends by start time, tracking the largest position acknowledged before.
    by_end = sorted(recorder.acks, key=lambda a: a.end)
    done, best = 0, -1
    for ack in sorted(recorder.acks, key=lambda a: a.start):
        while done < len(by_end) and by_end[done].end < ack.start:
            best = max(best, by_end[done].position)
            done += 1
        if ack.position <= best:
            problems.append(
                f"I4: append {ack.id!r} started after one acknowledged at {best} ended, "
                f"but got position {ack.position}"
            )
    # I5: every read is a run of consecutive positions, each still holding what was seen.
    for read in recorder.reads:
        positions = [p for p, _ in read]
        if positions and positions != list(range(positions[0], positions[0] - len(positions), -1)):
            problems.append(f"I5: a read returned non-consecutive positions {positions[:10]}")
        for pos, item_id in read:
            if pos >= len(stored) or stored[pos] != item_id:
                problems.append(f"I5: a read saw {item_id!r} at {pos}, which later changed")
                break
    return problems[:20]
