"""Layout 2, sans-IO: one row per position, read by ordered range ("entry rows").

Each function here is a generator like those of :mod:`pagedlist.core.algorithms`: it
yields operations from :mod:`pagedlist.core.ops`, receives the store's answers and returns
its result, with no I/O of its own.

A list of layout 2 keeps its summary row (``"{id}|s"``, format 2: settings and the retained
start) and one *entry row* per position in a collection of its own. There is no head
pointer and no page row: positions are dense because a position is only ever written when
every position below it is already taken.

Two ways to append, chosen by the store's :class:`~pagedlist.core.ops.Features`:

* **push** (``features.push``: memory, SQLite, PostgreSQL, Redis): the store resolves the
  tail itself, in the same atomic call that writes the entries (a transaction, a script),
  and keeps an index of the list's ids. One call per append, whatever the contention; a
  repeated push finds its ids and answers their first positions, so every id (given or
  generated) commits at most once for as long as its item is retained.
* **claim** (DynamoDB, Cosmos DB, OCI NoSQL): the caller names the positions. A caller's
  *hint* is a position such that every position below it is known to be taken; it claims
  ``hint .. hint+k-1`` with an all-or-nothing conditional create. ``Taken`` means another
  writer got there first: the caller reads the newest position (one range read) and claims
  the next one. A repeated claim whose first attempt committed finds its own first entry.

Exactly-once by a caller's id on claim stores (``append(v, id=X)``) adds a per-id record
``"{id}|i|<digest>"`` = ``{"id": X, "p": target}``, created *before* the entry with a
conditional create. The record names the only position where ``X`` may ever be claimed;
it moves (compare-and-swap) only after that position was seen taken by another id, which
is permanent. A caller that died anywhere leaves either no record (nothing was written)
or a record whose target either holds ``X`` (committed) or is free or taken by another (not
committed): the next call with ``X`` finishes the job from there.

Why the invariants hold (``docs/architecture.md`` has the long form):

1. *dense positions*: a position is created only when all below it are taken (hints only
   grow over taken positions; a push takes the store's tail), and rows are never removed
   except below the retained start;
2. *exactly once at the told position*: a claim is a conditional create, a push checks the
   id index in its own atomic call; every repetition of the same operation recognises its
   own commit; ids with a record can only land on the record's target;
3. *real-time order*: an append that starts after another returned either holds a hint
   past it or reads the newest position, which includes it (strongly consistent reads);
4. *reads*: entry rows are immutable once taken except for edits and deletes in place, so
   a descending range read is always gap-free below its first row; an ascending one keeps
   only the run that starts where it was asked to and stops at its first gap.
"""

from __future__ import annotations

import heapq
import itertools
import operator
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pagedlist.core.ops import (
    Claim,
    Claimed,
    Get,
    GetEntry,
    Insert,
    JSONDoc,
    Merged,
    MergeScan,
    Operation,
    Push,
    Pushed,
    Replace,
    Scan,
    ScanMany,
    Slot,
    Taken,
)
from pagedlist.core.values import id_record_key
from pagedlist.errors import ContractViolation, PartialWrite, StoreError

__all__ = [
    "FORMAT",
    "Cursor",
    "append_claim",
    "append_once",
    "append_push",
    "count",
    "get",
    "is_live",
    "latest",
    "merge_answer",
    "merge_latest",
    "newest_position",
    "read_after",
    "read_before",
]

#: The summary format number of layout 2.
FORMAT = 2

Step = Generator[Operation, Any, Any]
T = TypeVar("T")
Plan = Generator[Operation, Any, T]


def is_live(entry: JSONDoc) -> bool:
    """Whether an entry row holds an item (not a tombstone)."""
    return "d" not in entry


# C-level per-row accessors: reads map them over 50 to 1,000 rows per call.
_position = operator.itemgetter(0)
_row = operator.itemgetter(1)


def _any_tombstone(slots: Sequence[Slot]) -> bool:
    """Whether any of ``slots`` is a tombstone (``"d"`` in its row), tested in C."""
    return any(map(operator.contains, map(_row, slots), itertools.repeat("d")))


def _contract(list_id: str, what: str, clause: str) -> ContractViolation:
    return ContractViolation(f"list {list_id!r}: {what}: the adapter broke clause {clause}")


def _check_scan(list_id: str, scan: Scan, slots: Any) -> tuple[Slot, ...]:
    """The answer to ``scan`` after the checks every adapter must pass (clause E4)."""
    if not isinstance(slots, tuple):
        raise _contract(list_id, f"scan answered {type(slots).__name__}, not a tuple", "E4")
    if not slots:
        return slots
    if len(slots) > scan.limit:
        raise _contract(list_id, f"scan returned {len(slots)} rows, limit {scan.limit}", "E4")
    first, last = slots[0][0], slots[-1][0]
    lo, hi = (last, first) if scan.newest_first else (first, last)
    if lo < scan.lo or (scan.hi is not None and hi >= scan.hi):
        raise _contract(
            list_id, f"scan of [{scan.lo}, {scan.hi}) returned positions {first}..{last}", "E4"
        )
    # In order, no repeats: the common answer is a consecutive run (one C-speed list
    # comparison); anything else is checked pair by pair.
    step = -1 if scan.newest_first else 1
    if list(map(_position, slots)) != list(range(first, last + step, step)):
        for (a, _), (b, _) in itertools.pairwise(slots):
            if (b - a) * step <= 0:
                raise _contract(list_id, "scan returned positions out of order", "E4")
    return slots


def _run(slots: tuple[Slot, ...], newest_first: bool) -> tuple[Slot, ...]:
    """The leading gap-free run of ``slots`` (consecutive positions)."""
    n = len(slots)
    if n < 2:
        return slots
    first = slots[0][0]
    step = -1 if newest_first else 1
    if slots[-1][0] == first + (n - 1) * step:
        return slots  # checked in order (_check_scan), consecutive end to end: no gap
    for i in range(1, n):
        if slots[i][0] != first + i * step:
            return slots[:i]
    return slots


def newest_position(list_id: str, lo: int = 0) -> Plan[int | None]:
    """The newest taken position at or above ``lo``, or ``None``: one range read."""
    scan = Scan(list_id, lo, None, 1, True)
    slots = _check_scan(list_id, scan, (yield scan))
    return slots[0][0] if slots else None


# --- appends -------------------------------------------------------------------------------


def append_push(
    list_id: str, entries: Sequence[JSONDoc], chunk: int, floor: int = 0
) -> Plan[list[int]]:
    """Append through ``Push``: the store resolves the tail. Returns the positions.

    At most ``chunk`` entries go in one push; each push is atomic, so a batch of up to
    ``chunk`` entries commits all or nothing. A failure after an earlier chunk committed
    raises ``PartialWrite`` naming the committed positions.
    """
    positions: list[int] = []
    for start in range(0, len(entries), chunk):
        batch = tuple(entries[start : start + chunk])
        try:
            answer = yield Push(list_id, batch, floor)
        except StoreError as err:
            if positions:
                raise _partial(list_id, positions, len(entries), err) from err
            raise
        if not isinstance(answer, Pushed) or len(answer.positions) != len(batch):
            raise _contract(list_id, f"push of {len(batch)} answered {answer!r}", "E12")
        if len(batch) == 1:  # every append: one id, one position, nothing to compare
            if answer.positions[0] < 0:
                raise _contract(list_id, f"push answered positions {answer.positions}", "E12")
            positions.extend(answer.positions)
            continue
        where: dict[str, int] = {}
        for entry, pos in zip(batch, answer.positions, strict=True):
            # One id, one position (a group may carry one id twice); distinct ids, distinct.
            if where.setdefault(entry["id"], pos) != pos or pos < 0:
                raise _contract(list_id, f"push answered positions {answer.positions}", "E12")
        if len(set(where.values())) != len(where):
            raise _contract(list_id, f"push answered positions {answer.positions}", "E12")
        positions.extend(answer.positions)
    return positions


def _partial(list_id: str, positions: list[int], total: int, err: Exception) -> PartialWrite:
    return PartialWrite(
        f"extend of {list_id!r} committed {len(positions)} of {total} items (positions "
        f"{positions[0]}..{positions[-1]}) and then failed: {err}. Call extend() again with "
        "the same ids to write the rest without duplicating these",
        tuple(positions),
    )


def append_claim(
    list_id: str, hint: int, entries: Sequence[JSONDoc], chunk: int
) -> Plan[tuple[list[int], int]]:
    """Append by claiming positions from ``hint`` on. Returns ``(positions, hint)``.

    Steady state is one call per ``chunk`` entries. A position taken by another writer
    costs a range read of the newest position and a new claim past it.
    """
    positions: list[int] = []
    pos = hint
    done = 0
    while done < len(entries):
        batch = tuple(entries[done : done + chunk])
        try:
            answer = yield Claim(list_id, pos, batch)
            if isinstance(answer, Taken):
                if answer.position != pos:
                    raise _contract(
                        list_id,
                        f"claim from {pos} reported position {answer.position} taken while "
                        f"{pos} was free (positions below a taken one are always taken)",
                        "E1",
                    )
                if answer.entry.get("id") != batch[0]["id"]:
                    # Another writer's item: find the newest position and go past it.
                    newest = yield from newest_position(list_id, pos)
                    pos = (pos if newest is None else newest) + 1
                    continue
                # Our own claim, committed by an attempt whose answer was lost.
            elif not isinstance(answer, Claimed):
                raise _contract(list_id, f"claim answered {answer!r}", "E1")
        except StoreError as err:
            if positions:
                raise _partial(list_id, positions, len(entries), err) from err
            raise
        positions.extend(range(pos, pos + len(batch)))
        pos += len(batch)
        done += len(batch)
    return positions, pos


def append_once(
    list_id: str, hint: int, start: int, entry: JSONDoc, summary: str
) -> Plan[tuple[int, int]]:
    """Append ``entry`` whose id is the caller's, at most once for the list's lifetime
    (claim stores). Returns ``(position, hint)``.

    ``start`` is the retained start the caller knows, ``summary`` the summary row's key
    (re-read when an old record's target might lie below a newer start).
    """
    item_id = entry["id"]
    rkey = id_record_key(list_id, item_id)
    found = yield Insert(rkey, {"id": item_id, "p": hint})
    if found is None:
        target = hint
    else:
        # A record from an earlier call with this id (committed, half done, or a caller
        # still at work). Its target may be old: positions below the retained start are
        # never claimed again and the records of items trimmed there are removed, so a
        # target below the current start was never this id's. Read the start afresh.
        _own_record(list_id, rkey, found.doc, item_id)
        target = int(found.doc["p"])
        row = yield Get(summary)
        current = max(start, int(row.doc.get("start", 0)) if row is not None else 0)
        if target < current:
            target = yield from _move(list_id, rkey, item_id, target, current)
    while True:
        answer = yield Claim(list_id, target, (entry,))
        if isinstance(answer, Claimed):
            return target, max(hint, target + 1)
        if not isinstance(answer, Taken) or answer.position != target:
            raise _contract(list_id, f"claim of {target} answered {answer!r}", "E1")
        if answer.entry.get("id") == item_id:
            return target, max(hint, target + 1)
        target = yield from _move(list_id, rkey, item_id, target, target + 1)


def _own_record(list_id: str, key: str, doc: JSONDoc, item_id: str) -> None:
    if doc.get("id") != item_id or not isinstance(doc.get("p"), int):
        raise ContractViolation(
            f"id record {key!r} of list {list_id!r} holds {doc!r:.120}, not the record of "
            f"id {item_id!r}: a digest collision or a row written by something else"
        )


def _move(list_id: str, rkey: str, item_id: str, target: int, floor: int) -> Plan[int]:
    """Point the record of ``item_id`` past ``target`` (seen taken by another id, or below
    the retained start). Returns the new target, or the one a concurrent mover set."""
    while True:
        row = yield Get(rkey)
        if row is None:
            raise ContractViolation(
                f"id record {rkey!r} of list {list_id!r} vanished while its item was being "
                "appended: was the list dropped meanwhile?"
            )
        _own_record(list_id, rkey, row.doc, item_id)
        if int(row.doc["p"]) != target:
            # Someone else (a retry of the same id) moved it already: follow.
            return int(row.doc["p"])
        newest = yield from newest_position(list_id, floor)
        new = max(floor, (newest + 1) if newest is not None else floor)
        done = yield Replace(rkey, {"id": item_id, "p": new}, row.version)
        if done is not None:
            return new
        # Changed under us, or our own earlier attempt committed and lost its answer:
        # either way the re-read at the top says what the record names now.


# --- reads ---------------------------------------------------------------------------------


def latest(list_id: str, start: int, n: int, *, below: int | None = None) -> Plan[list[Slot]]:
    """Up to ``n`` live entries, newest first, below ``below`` (``None``: from the tail).
    Returns ``list[Slot]``. Reads further past tombstones until ``n`` are found."""
    out: list[Slot] = []
    hi = below
    while len(out) < n and (hi is None or hi > start):
        scan = Scan(list_id, start, hi, n - len(out), True)
        slots = _run(_check_scan(list_id, scan, (yield scan)), True)
        if _any_tombstone(slots):
            out.extend([s for s in slots if "d" not in s[1]])
        else:  # the usual read: no tombstone among them, so no per-row filter in Python
            out.extend(slots)
        if len(slots) < scan.limit:
            break
        hi = slots[-1][0]
    return out


def read_before(list_id: str, start: int, position: int, n: int) -> Plan[list[Slot]]:
    """Up to ``n`` live entries older than ``position``, newest first."""
    return (yield from latest(list_id, start, n, below=position))


def read_after(
    list_id: str, start: int, position: int, n: int
) -> Plan[tuple[list[Slot], int | None]]:
    """Up to ``n`` live entries newer than ``position``, oldest first, as a gap-free run.

    Returns ``(slots, more)``: ``more`` is the position to continue from when ``n`` rows
    were read and more may follow, ``None`` once the run ended (the tail, or a position not
    yet written).
    """
    out: list[Slot] = []
    lo = max(position + 1, start)
    while True:
        scan = Scan(list_id, lo, None, n, False)
        slots = _check_scan(list_id, scan, (yield scan))
        if slots and slots[0][0] != lo:
            # A later row without row lo: lo was trimmed away (below a newer start), or this
            # read overtook writers (lo written after the read passed it). A taken position
            # stays taken, so a point read of lo tells which.
            row = yield GetEntry(list_id, lo)
            if row is not None:
                continue
        run = _run(slots, False)
        out.extend([s for s in run if "d" not in s[1]])
        if len(run) < len(slots) or len(slots) < scan.limit:
            return out, None
        lo = run[-1][0] + 1
        if len(out) >= n:
            return out, lo


def get(list_id: str, position: int) -> Plan[Slot | None]:
    """The live entry at ``position`` as a slot, or ``None``: one read."""
    row = yield GetEntry(list_id, position)
    if row is None or not is_live(row.doc):
        return None
    return position, row.doc


def count(list_id: str, start: int) -> Plan[int]:
    """Positions used so far (tombstones and trimmed items included): one range read."""
    newest = yield from newest_position(list_id, 0)
    return start if newest is None else max(newest + 1, start)


# --- many lists at once --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a merged read stands: ``below[list_id]`` is the position that list's next
    items must be older than (``None``: from its tail; 0: exhausted), and ``last`` the merge
    key ``(ts, list_id, position)`` of the last item handed out. A list absent from
    ``below`` (added to the set since) is read from its tail, its items after ``last``."""

    below: dict[str, int | None]
    last: tuple[int, str, int] | None = None


def _key(list_id: str, slot: Slot) -> tuple[int, str, int]:
    return (slot[1]["ts"], list_id, slot[0])


def _buffer(
    scan: Scan, slots: Any, last: tuple[int, str, int] | None
) -> tuple[list[Slot], int | None]:
    """What a merge takes from one newest-first scan: its gap-free run's live rows (only
    those whose key is below ``last``, unless ``last`` is ``None``), and where the list
    goes on below (``None``: the scan reached the list's end)."""
    lid = scan.list_id
    run = _run(_check_scan(lid, scan, slots), True)
    # is_live, inlined and skipped when no row is a tombstone: 1,000 rows a page.
    live = [s for s in run if "d" not in s[1]] if _any_tombstone(run) else list(run)
    if last is not None:
        live = [s for s in live if _key(lid, s) < last]
    ended = len(run) < scan.limit or run[-1][0] <= scan.lo
    return live, None if ended else run[-1][0]


def merge_answer(
    scans: Sequence[Scan],
    answers: Sequence[tuple[Slot, ...]],
    n: int,
    fresh: Sequence[str] = (),
    last: tuple[int, str, int] | None = None,
) -> tuple[Merged, ...]:
    """The answer to ``MergeScan(scans, n, fresh, last)``, from the answers ``scan_many``
    gave to ``scans``: the reference every adapter's ``merge_scan`` agrees with (E17), and
    what :meth:`Store.merge_scan` answers where a store has no merge of its own.

    An adapter that merges in SQL can order the rows by their *running minimum* key
    instead: a k-way merge of lists that are not sorted by key picks, at each step, the
    list whose rows so far have the greatest minimum key (each list in position order)."""
    if len(answers) != len(scans):
        raise ContractViolation(f"scan_many of {len(scans)} scans answered {len(answers)}")
    parts = []
    for scan, slots in zip(scans, answers, strict=True):
        live, more = _buffer(scan, slots, last if scan.list_id in fresh else None)
        parts.append((scan.list_id, live, more))
    streams = [[(_key(lid, s), i) for s in live] for i, (lid, live, _) in enumerate(parts)]
    picked = [0] * len(parts)
    picks = min(n, sum(map(len, streams)))  # islice's stop must fit a C ssize_t
    for _, i in itertools.islice(heapq.merge(*streams, reverse=True), picks):
        picked[i] += 1
    return tuple(
        Merged(tuple(live[:k]), len(live), more)
        for (_, live, more), k in zip(parts, picked, strict=True)
    )


def _check_merged(op: MergeScan, answers: Any) -> tuple[Merged, ...]:
    """A ``MergeScan`` answer after the checks it must pass (E17): each part as a scan of
    its own (E4) of live rows only, below the cursor's mark for a list in ``fresh``, at
    most ``n`` in all; ``live`` within the scan's limit and not below the rows shipped;
    ``more``, where given, the oldest position of a run that filled the scan's limit
    within ``[lo, hi)``, at or below every row shipped."""
    scans, last = op.scans, op.last
    marked = set(op.fresh)
    if not isinstance(answers, tuple) or len(answers) != len(scans):
        raise ContractViolation(
            f"merge_scan of {len(scans)} scans answered {answers!r:.80} (clause E17)"
        )
    total = 0
    for scan, part in zip(scans, answers, strict=True):
        lid = scan.list_id
        if not isinstance(part, Merged):
            raise _contract(lid, f"merge_scan answered {part!r:.60}, not Merged", "E17")
        slots = _check_scan(lid, scan, part.slots)
        total += len(slots)
        if _any_tombstone(slots) or not len(slots) <= part.live <= scan.limit:
            raise _contract(lid, f"merge_scan answered {part!r:.80} for {scan}", "E17")
        more = part.more
        if more is not None and (
            more < scan.lo
            or (scan.hi is not None and more + scan.limit > scan.hi)
            or (slots and more > slots[-1][0])
        ):
            raise _contract(lid, f"merge_scan answered more={more} for {scan}", "E17")
        if last is not None and lid in marked and any(_key(lid, s) >= last for s in slots):
            raise _contract(lid, f"merge_scan shipped rows not below {last}", "E17")
    if total > op.n:
        raise ContractViolation(f"merge_scan of {op.n} rows answered {total} (clause E17)")
    return answers


#: The most rows a merge's further read of one list asks for once it grows (see top_up).
_GROWN = 4096


def merge_latest(
    starts: dict[str, int], n: int, cursor: Cursor | None = None, *, merge: bool = False
) -> Plan[tuple[list[tuple[str, Slot]], Cursor | None]]:
    """The newest ``n`` live entries across lists, merged newest first by timestamp.

    Each list is read newest first in position order, and the lists are merged by the
    timestamp of their next entry (a k-way merge), so paging on with the returned cursor
    never repeats or skips an entry. One ``ScanMany`` reads every list's newest ``n`` below
    its cursor; with ``merge`` (the store's ``features.merge``), one ``MergeScan`` does,
    and only the rows the merge picks come back (a list some of whose rows were held back
    is never read further: the merge's ``n`` picks do not reach them). A list whose live
    rows run out (during the merge, or before it: rows all tombstones, or all not below
    the cursor's mark) is read further, twice as far each time. Returns ``(items,
    cursor)``: ``items`` is a list of ``(list_id, slot)``; ``cursor`` is ``None`` once
    every list is exhausted.
    """
    last = cursor.last if cursor is not None else None
    below: dict[str, int | None] = {}
    for lid in starts:
        known = cursor is not None and lid in cursor.below
        below[lid] = cursor.below[lid] if known else None  # type: ignore[union-attr]
    # Read from their tail on a later page: lists added since (absent from the cursor) and
    # lists that showed nothing yet (None). Only their items older than the last one
    # handed out belong to this page; newer ones appended meanwhile are for a fresh read.
    fresh = {lid for lid in starts if cursor is not None and below[lid] is None}
    buffers: dict[str, list[Slot]] = {lid: [] for lid in below}
    scanned = dict(below)
    exhausted = {lid for lid, hi in below.items() if hi is not None and hi <= starts[lid]}
    # Lists a MergeScan shipped only part of: the merge's n picks never reach the rest, so
    # they are never read further, and they hold more for the next page.
    cut: set[str] = set()

    def take(lid: str, live: list[Slot], more: int | None) -> None:
        buffers[lid].extend(live)
        if more is None:
            exhausted.add(lid)
        else:
            scanned[lid] = more

    def fill(lists: list[str], limit: int = n) -> Plan[None]:
        todo = [lid for lid in lists if lid not in exhausted]
        if not todo:
            return
        scans = tuple(Scan(lid, starts[lid], scanned[lid], limit, True) for lid in todo)
        answers = yield ScanMany(scans)
        if not isinstance(answers, tuple) or len(answers) != len(scans):
            raise ContractViolation(f"scan_many of {len(scans)} scans answered {answers!r:.80}")
        for scan, slots in zip(scans, answers, strict=True):
            lid = scan.list_id
            take(lid, *_buffer(scan, slots, last if lid in fresh else None))

    def first_fill() -> Plan[None]:
        todo = [lid for lid in below if lid not in exhausted]
        if not merge or not todo:
            return (yield from fill(todo))
        scans = tuple(Scan(lid, starts[lid], scanned[lid], n, True) for lid in todo)
        op = MergeScan(scans, n, tuple(sorted(fresh)), last)
        for scan, part in zip(scans, _check_merged(op, (yield op)), strict=True):
            take(scan.list_id, list(part.slots), part.more)
            if part.live > len(part.slots):
                cut.add(scan.list_id)

    def top_up(held: dict[str, int]) -> Plan[None]:
        # Read on below every list whose buffer holds no more than held[lid] rows, until it
        # holds more or ends: a list whose rows read so far were all tombstones (or all
        # newer than the cursor's mark) is not over, and the merge needs its next row.
        # Each round reads twice as far as the one before (up to _GROWN rows), so a list
        # with r such rows costs O(log r) round trips, not r / n.
        limit = n
        while True:
            todo = [
                lid
                for lid, k in held.items()
                if len(buffers[lid]) <= k and lid not in exhausted and lid not in cut
            ]
            if not todo:
                return
            yield from fill(todo, limit)
            limit = max(limit, min(2 * limit, _GROWN))

    yield from first_fill()
    yield from top_up(dict.fromkeys(below, 0))
    # A max-heap on the merge key (ts, list_id, position) through heapq's min-heap; the
    # list ids' rank among these lists orders them as their strings would.
    rank = {lid: r for r, lid in enumerate(sorted(below))}

    def order(lid: str, slot: Slot) -> tuple[int, int, int]:
        return (-slot[1]["ts"], -rank[lid], -slot[0])

    heap = [(order(lid, buf[0]), lid, 0) for lid, buf in buffers.items() if buf]
    heapq.heapify(heap)
    chosen: list[tuple[str, Slot]] = []
    taken: dict[str, int] = {}
    while heap and len(chosen) < n:
        _, lid, i = heapq.heappop(heap)
        chosen.append((lid, buffers[lid][i]))
        taken[lid] = i
        if i + 1 == len(buffers[lid]) and len(chosen) < n:
            # Its live rows ran out before the merge did: read further, then go on. (Not
            # after the n-th pick: that read would only fill a heap nobody pops.)
            yield from top_up({lid: i + 1})
        if i + 1 < len(buffers[lid]):
            heapq.heappush(heap, (order(lid, buffers[lid][i + 1]), lid, i + 1))
    if cut and len(chosen) < n:
        raise ContractViolation(
            f"merge_scan held back rows of {sorted(cut)} but its merge picked {len(chosen)} "
            f"of {n}: the store's merge is not the reference's (clause E17)"
        )
    following: dict[str, int | None] = {}
    done = 0
    for lid in below:
        buf = buffers[lid]
        if lid in taken:
            rest = taken[lid] + 1 < len(buf) or lid in cut or lid not in exhausted
            following[lid] = buf[taken[lid]][0] if rest else done
        elif buf or lid in cut or lid not in exhausted:
            following[lid] = below[lid]
        else:
            following[lid] = done
    if all(v == done for v in following.values()):
        return chosen, None
    mark = _key(*chosen[-1]) if chosen else last
    return chosen, Cursor(following, mark)
