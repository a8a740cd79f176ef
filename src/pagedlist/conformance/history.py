"""Record what concurrent clients did to one list, then check the five invariants.

A *history* is the list of calls clients made (each with its monotonic start and end time,
the item ids it wrote, the positions it was told or the error it got, and what a read
returned) plus a *snapshot* of the list's pages taken once every client has stopped.
:func:`check` verifies, against ``docs/guarantees.md``:

* **I1** no page holds more than ``capacity`` items (layout 1);
* **I2** positions are dense: every page below the head is exactly full and no page above
  the head has items (layout 1); every position from the retained start up to the newest
  one holds an entry row (layout 2);
* **I3** every acknowledged append appears exactly once, at the position it was told; an
  append that failed (the caller got an error or died) appears at most once; nothing
  appears that no call wrote ("phantom");
* **I4** if append A was acknowledged before append B started, A's positions are below B's;
* **I5** every read returns a gap-free run of positions whose items are the ones the final
  list holds there (nothing a reader saw later disappears or moves), includes every append
  acknowledged before the read started, and nothing whose append started after it ended;
  with deletes and trims, a read leaves out exactly the positions deleted or trimmed by
  calls that started before it ended, and never shows one deleted before it began;
* **I6** a delete that returned stays: no tombstone comes back to life.

:func:`shrink` drops every call the violation does not need, so a report shows the
smallest failing history found. :class:`Recorder` wraps ``PagedList`` calls from many
threads; :func:`snapshot` reads the pages (or entry rows) straight from the store;
:func:`check_list` does both for a test that only needs the verdict.

Monotonic clocks are per machine (``CLOCK_MONOTONIC`` on Linux is system-wide), so events
recorded by several processes of one host can be merged into one history.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pagedlist.core.algorithms import FORMAT, HEAD, ITEMS
from pagedlist.core.ops import Get, GetMany, Scan
from pagedlist.core.store import Store
from pagedlist.core.values import page_key, summary_key
from pagedlist.errors import ContractViolation, PagedListError

__all__ = [
    "Event",
    "History",
    "HistoryViolation",
    "Recorder",
    "Snapshot",
    "Violation",
    "check",
    "check_list",
    "format_history",
    "shrink",
    "snapshot",
    "snapshot_async",
    "snapshot_step",
    "verify",
]

WRITES = ("append", "extend", "append_id")
READS = ("latest", "scan", "count")
#: Calls that change items in place (layout 2): ``n`` is the position (delete, edit) or the
#: ``before`` of a trim.
CHANGES = ("delete", "edit", "trim")


@dataclass(frozen=True, slots=True)
class Event:
    """One list call by one client.

    ``positions`` is what the caller was told (``None`` when the call failed or the caller
    died: unacknowledged). For reads, ``result`` holds ``(position, id)`` pairs in the order
    returned (``latest``: newest first; ``scan``: oldest first) and ``n`` the count asked;
    for ``count`` the answer is ``result == ((count, ""),)``.
    """

    client: str
    kind: str
    start: float
    end: float
    ids: tuple[str, ...] = ()
    positions: tuple[int, ...] | None = None
    result: tuple[tuple[int, str], ...] | None = None
    n: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the call returned normally (acknowledged)."""
        return self.error is None and (self.positions is not None or self.result is not None)

    def describe(self, t0: float = 0.0) -> str:
        """One line for reports; times relative to ``t0``."""
        when = f"[{self.start - t0:.6g} .. {self.end - t0:.6g}]"
        if self.error == "in flight":
            return f"{self.client} {self.kind}{list(self.ids)} [{self.start - t0:.6g} ..] in flight"
        if self.kind in WRITES:
            told = self.positions if self.ok else f"FAILED ({self.error})"
            return f"{self.client} {self.kind}{list(self.ids)} {when} -> {told}"
        if not self.ok:
            return f"{self.client} {self.kind}({self.n}) {when} -> FAILED ({self.error})"
        return f"{self.client} {self.kind}({self.n}) {when} -> {list(self.result or ())}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The list as stored once every client stopped.

    Layout 1: ``pages[n]`` is page n's ids and ``head`` the head page. Layout 2:
    ``entries`` maps each position that has an entry row to its id (tombstones included),
    ``start`` is the retained start; ``pages`` is empty.
    """

    capacity: int
    head: int
    pages: dict[int, tuple[str, ...]]
    entries: dict[int, str] | None = None
    start: int = 0
    deleted: frozenset[int] = frozenset()
    """Layout 2: the positions whose entry row is a tombstone."""

    def positions(self) -> dict[str, list[int]]:
        """Every id with all the positions it occupies (more than one is a duplicate)."""
        out: dict[str, list[int]] = {}
        if self.entries is not None:
            for pos, item_id in sorted(self.entries.items()):
                out.setdefault(item_id, []).append(pos)
            return out
        for page, ids in sorted(self.pages.items()):
            for i, item_id in enumerate(ids):
                out.setdefault(item_id, []).append(page * self.capacity + i)
        return out

    def at(self, position: int) -> str | None:
        """The id at ``position``, or ``None``."""
        if self.entries is not None:
            return self.entries.get(position)
        page, index = divmod(position, self.capacity)
        ids = self.pages.get(page, ())
        return ids[index] if index < len(ids) else None

    def length(self) -> int:
        """Positions up to the first gap (the dense prefix)."""
        if self.entries is not None:
            n = self.start
            while n in self.entries:
                n += 1
            return n
        n = 0
        for page in range(0, max(self.pages, default=-1) + 1):
            ids = self.pages.get(page, ())
            n += len(ids)
            if len(ids) < self.capacity:
                break
        return n


@dataclass(frozen=True, slots=True)
class History:
    """Calls plus the final snapshot."""

    events: tuple[Event, ...]
    final: Snapshot


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken invariant: ``code`` (I1..I5 or ``phantom``), what is wrong, which calls."""

    code: str
    message: str
    events: tuple[Event, ...] = ()


class HistoryViolation(AssertionError):
    """Raised by :func:`verify`; the message holds the shrunk counterexample."""

    def __init__(self, message: str, violations: list[Violation], history: History) -> None:
        super().__init__(message)
        self.violations = violations
        self.history = history


def snapshot(store: Store, list_id: str, *, max_pages: int = 1_000_000) -> Snapshot:
    """Read a list's summary and its pages (layout 1, batches of 64 pages) or entry rows
    (layout 2, ascending range reads) directly from ``store``.

    Layout-1 pages are read until a batch holds an absent page past the head, so a page
    written above the head (an I2 violation) is still seen if it is adjacent.
    """
    from pagedlist.core.store import perform

    step = snapshot_step(list_id, max_pages=max_pages)
    try:
        op = next(step)
        while True:
            op = step.send(perform(store, op))
    except StopIteration as done:
        return done.value


async def snapshot_async(store: Any, list_id: str, *, max_pages: int = 1_000_000) -> Snapshot:
    """:func:`snapshot` of a list in an asyncio store."""
    from pagedlist.core.astore import perform_async

    step = snapshot_step(list_id, max_pages=max_pages)
    try:
        op = next(step)
        while True:
            op = step.send(await perform_async(store, op))
    except StopIteration as done:
        return done.value


def snapshot_step(list_id: str, *, max_pages: int = 1_000_000) -> Any:
    """The reads of :func:`snapshot` as a sans-IO step (one store call at a time, no
    retries: a snapshot must see the store as it is)."""
    row = yield Get(summary_key(list_id))
    if row is None:
        raise AssertionError(f"list {list_id!r} has no summary row: was it created?")
    capacity, head = int(row.doc["capacity"]), int(row.doc.get(HEAD, 0))
    if int(row.doc.get("format", FORMAT)) != FORMAT:
        entries: dict[int, str] = {}
        deleted: set[int] = set()
        lo = 0
        while True:
            slots = yield Scan(list_id, lo, None, 1000, False)
            entries.update((pos, e["id"]) for pos, e in slots)
            deleted.update(pos for pos, e in slots if "d" in e)
            if len(slots) < 1000:
                break
            lo = slots[-1][0] + 1
        start = int(row.doc.get("start") or 0)
        return Snapshot(capacity, 0, {}, entries, start, frozenset(deleted))
    pages: dict[int, tuple[str, ...]] = {}
    start = 0
    while start < max_pages:
        keys = tuple(page_key(list_id, p) for p in range(start, start + 64))
        rows = yield GetMany(keys)
        stop = False
        for p in range(start, start + 64):
            got = rows.get(page_key(list_id, p))
            if got is None:
                if p > head:
                    stop = True
                    break
                continue
            pages[p] = tuple(e["id"] for e in got.doc.get(ITEMS, []))
        if stop:
            break
        start += 64
    return Snapshot(capacity, head, pages)


def _structure(snap: Snapshot) -> list[Violation]:
    """I1 and I2: what the stored rows themselves must look like."""
    out: list[Violation] = []
    if snap.entries is not None:
        newest = max(snap.entries, default=snap.start - 1)
        missing = [p for p in range(snap.start, newest) if p not in snap.entries]
        if missing:
            out.append(
                Violation(
                    "I2",
                    f"positions {missing[:10]} below the newest ({newest}) hold no entry row",
                )
            )
        return out
    cap = snap.capacity
    for page, ids in sorted(snap.pages.items()):
        if len(ids) > cap:
            out.append(Violation("I1", f"page {page} holds {len(ids)} items > capacity {cap}"))
        if page < snap.head and len(ids) != cap:
            out.append(
                Violation("I2", f"page {page} below head {snap.head} holds {len(ids)}/{cap}")
            )
        if page > snap.head and ids:
            out.append(Violation("I2", f"page {page} above head {snap.head} holds items"))
    for page in range(snap.head):
        if page not in snap.pages:
            out.append(Violation("I2", f"page {page} below head {snap.head} is missing"))
    return out


def check(history: History) -> list[Violation]:
    """Every violation of the invariants in ``history`` (empty when it is correct)."""
    snap = history.final
    out = _structure(snap)
    where = snap.positions()
    writers: dict[str, list[Event]] = {}
    for e in history.events:
        if e.kind in WRITES:
            for item_id in e.ids:
                writers.setdefault(item_id, []).append(e)
    # I3: exactly once where told; failed calls at most once; no phantoms.
    for item_id, found in where.items():
        if item_id not in writers:
            out.append(Violation("phantom", f"id {item_id!r} at {found} was never appended"))
        elif len(found) > 1:
            out.append(
                Violation(
                    "I3",
                    f"id {item_id!r} appears {len(found)} times, at {found}",
                    tuple(writers[item_id]),
                )
            )
    for e in history.events:
        if e.kind not in WRITES or not e.ok:
            continue
        assert e.positions is not None
        if len(e.positions) != len(e.ids):
            out.append(
                Violation("I3", f"told {len(e.positions)} positions for {len(e.ids)} ids", (e,))
            )
            continue
        for item_id, pos in zip(e.ids, e.positions, strict=True):
            if pos < snap.start and snap.at(pos) in (None, item_id):
                continue  # trimmed away (or still awaiting its purge)
            if snap.at(pos) != item_id or where.get(item_id) != [pos]:
                out.append(
                    Violation(
                        "I3",
                        f"acknowledged id {item_id!r} was told position {pos}, but the list "
                        f"holds it at {where.get(item_id, [])} and {snap.at(pos)!r} at {pos}",
                        (e,),
                    )
                )
    # I4: real-time order of acknowledged appends. A call repeating a caller id that an
    # earlier call already wrote is told the first commit's position, which may be older.
    acked = _Acked(history.events)
    for b in acked.events:
        assert b.positions is not None
        if any(w is not b and w.start < b.start for i in b.ids for w in writers.get(i, ())):
            continue
        bound, a = acked.before(b.start)
        if a is not None and bound >= min(b.positions):
            out.append(
                Violation(
                    "I4",
                    f"{a.client}'s append was acknowledged at {bound} before "
                    f"{b.client}'s started, which was told {min(b.positions)}",
                    (a, b),
                )
            )
    # I6: a delete that returned stays: no tombstone comes back to life.
    for e in history.events:
        if e.kind == "delete" and e.ok and e.n >= snap.start and e.n not in snap.deleted:
            out.append(
                Violation("I6", f"position {e.n} was deleted, yet the list holds it live", (e,))
            )
    # I5: reads.
    changes = _Changes(history.events)
    for r in history.events:
        if r.kind in READS and r.ok:
            out.extend(_check_read(r, history, acked, writers, changes))
    return out


class _Changes:
    """Deletes and trims, to tell which positions a read may leave out."""

    def __init__(self, events: Iterable[Event]) -> None:
        self.deletes: dict[int, float] = {}
        """Position -> the earliest start of a call that deleted it (a read may skip it)."""
        self.done: dict[int, float] = {}
        """Position -> the earliest end of a delete of it that returned (no read starting
        later may show it)."""
        self.trims: list[tuple[float, int]] = []
        for e in events:
            if e.kind == "delete":
                self.deletes[e.n] = min(self.deletes.get(e.n, e.start), e.start)
                if e.ok:
                    self.done[e.n] = min(self.done.get(e.n, e.end), e.end)
            elif e.kind == "trim":
                self.trims.append((e.start, e.n))
        self.any = bool(self.deletes or self.trims)

    def gone(self, position: int, by: float, snap: Snapshot) -> bool:
        """Whether a read that ended at ``by`` may leave ``position`` out: deleted (for
        good) by a call that started before, or below a trim that started before."""
        if position in snap.deleted and self.deletes.get(position, float("inf")) < by:
            return True
        return any(start < by and position < before for start, before in self.trims)


class _Acked:
    """Acknowledged writes by end time, with the running maximum position, so "the highest
    position acknowledged before time t" is one binary search."""

    def __init__(self, events: Iterable[Event]) -> None:
        self.events = sorted(
            (e for e in events if e.kind in WRITES and e.ok and e.positions), key=lambda e: e.end
        )
        self.ends = [e.end for e in self.events]
        self.best: list[tuple[int, Event]] = []
        for e in self.events:
            top = max(e.positions or (-1,))
            if not self.best or top > self.best[-1][0]:
                self.best.append((top, e))
            else:
                self.best.append(self.best[-1])

    def before(self, t: float) -> tuple[int, Event | None]:
        """The highest position acknowledged strictly before ``t``, and by which call."""
        n = bisect.bisect_left(self.ends, t)
        return self.best[n - 1] if n else (-1, None)


def _check_read(
    r: Event,
    history: History,
    acked: _Acked,
    writers: dict[str, list[Event]],
    changes: _Changes | None = None,
) -> list[Violation]:
    snap = history.final
    changes = changes or _Changes(())
    out: list[Violation] = []
    bound, by = acked.before(r.start)
    witness = () if by is None else (by,)
    result = r.result or ()
    if r.kind == "count":
        ((n, _),) = result
        if n < bound + 1:
            out.append(
                Violation(
                    "I5", f"count() said {n} after position {bound} was acknowledged", (*witness, r)
                )
            )
        if n > snap.length():
            out.append(
                Violation("I5", f"count() said {n}, the list only ever held {snap.length()}", (r,))
            )
        return out
    positions = [p for p, _ in result]
    want = sorted(positions, reverse=r.kind == "latest")
    step = -1 if r.kind == "latest" else 1
    holes = [
        q
        for a, b in itertools.pairwise(positions)
        for q in range(a + step, b, step)
        if not changes.gone(q, r.end, snap)
    ]
    if positions != want or len(set(positions)) != len(positions) or holes:
        out.append(Violation("I5", f"{r.kind} returned positions {positions}: not gap-free", (r,)))
    for pos, item_id in result:
        if snap.at(pos) != item_id and not (pos < snap.start and snap.at(pos) is None):
            out.append(
                Violation(
                    "I5",
                    f"{r.kind} saw {item_id!r} at {pos}; the list holds {snap.at(pos)!r} there",
                    (r,),
                )
            )
        if pos in snap.deleted and changes.done.get(pos, float("inf")) < r.start:
            out.append(
                Violation("I5", f"{r.kind} saw {item_id!r} at {pos}, deleted before it began", (r,))
            )
        # Several calls may write one caller id (retries): the earliest could be the one
        # whose commit the read saw.
        first = min(writers.get(item_id, ()), key=lambda w: w.start, default=None)
        if first is not None and first.start > r.end:
            out.append(
                Violation("I5", f"{r.kind} saw {item_id!r}, appended after it ended", (r, first))
            )
    top = max(positions, default=-1)
    if r.kind == "scan" and positions:
        missing = [q for q in range(0, positions[0]) if not changes.gone(q, r.end, snap)]
        if missing:
            out.append(Violation("I5", f"scan from 0 began at {positions[0]}", (r,)))
    must = bound
    while must >= 0 and changes.gone(must, r.end, snap):
        must -= 1  # the newest acknowledged item the read had to see is deleted: one below
    if top < must:
        out.append(
            Violation(
                "I5",
                f"{r.kind} started after position {bound} was acknowledged but saw only up "
                f"to {top}",
                (*witness, r),
            )
        )
    if r.kind == "latest" and not changes.any and len(result) != min(r.n, top + 1):
        out.append(Violation("I5", f"latest({r.n}) returned {len(result)} items up to {top}", (r,)))
    if r.kind == "latest" and len(result) > r.n:
        out.append(Violation("I5", f"latest({r.n}) returned {len(result)} items", (r,)))
    return out


def shrink(history: History, code: str) -> History:
    """The smallest history (by greedy deletion of calls) that still violates ``code``."""

    def fails(events: tuple[Event, ...]) -> bool:
        return any(v.code == code for v in check(History(events, history.final)))

    events = history.events
    if not fails(events):
        return history
    changed = True
    while changed:
        changed, i = False, 0
        while i < len(events):
            trial = events[:i] + events[i + 1 :]
            if fails(trial):
                events, changed = trial, True
            else:
                i += 1
    return History(events, history.final)


def format_history(history: History, violation: Violation | None = None) -> str:
    """A readable report: the violation, the calls in start order, the pages."""
    lines = []
    if violation is not None:
        lines.append(f"{violation.code}: {violation.message}")
    events = sorted(history.events, key=lambda e: e.start)
    t0 = events[0].start if events else 0.0
    lines.append(f"calls ({len(events)}, times relative to the first start):")
    lines += [f"  {e.describe(t0)}" for e in events]
    snap = history.final
    if snap.entries is not None:
        lines.append(f"entry rows (start {snap.start}):")
        lines += [f"  {p}: {item_id!r}" for p, item_id in sorted(snap.entries.items())]
        return "\n".join(lines)
    lines.append(f"pages (capacity {snap.capacity}, head {snap.head}):")
    lines += [f"  page {p}: {list(ids)}" for p, ids in sorted(snap.pages.items())]
    return "\n".join(lines)


def verify(history: History) -> None:
    """Raise :class:`HistoryViolation` with the shrunk counterexample if any invariant fails."""
    found = check(history)
    if not found:
        return
    first = found[0]
    small = shrink(history, first.code)
    again = next(v for v in check(small) if v.code == first.code)
    codes = sorted({v.code for v in found})
    raise HistoryViolation(
        f"{len(found)} violation(s) ({', '.join(codes)}) in a history of "
        f"{len(history.events)} calls; smallest failing history:\n" + format_history(small, again),
        found,
        small,
    )


@dataclass
class Recorder:
    """Thread-safe recorder of ``PagedList`` calls. Every wrapper records the call; one
    that fails with a ``PagedListError`` is recorded with its error and returns ``None``.
    ``ContractViolation`` and non-pagedlist exceptions (bugs) propagate."""

    clock: Callable[[], float] = time.monotonic
    events: list[Event] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _add(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def _call(self, base: Event, fn: Callable[[], Any], read: Callable[[Any], Event]) -> Any:
        start = self.clock()
        try:
            answer = fn()
        except ContractViolation:
            raise  # an adapter bug must fail the test, not pass as a failed call
        except PagedListError as err:  # a store or usage error: an unacknowledged call
            self._add(replace(base, start=start, end=self.clock(), error=repr(err)[:200]))
            return None
        self._add(replace(read(answer), start=start, end=self.clock()))
        return answer

    def append(self, plist: Any, client: str, value: Any, item_id: str) -> int | None:
        """``plist.append(value, id=item_id)``, recorded."""
        base = Event(client, "append", 0, 0, ids=(item_id,))
        return self._call(
            base,
            lambda: plist.append(value, id=item_id),
            lambda pos: replace(base, positions=(pos,)),
        )

    def latest(self, plist: Any, client: str, n: int) -> list | None:
        """``plist.latest(n)``, recorded."""
        base = Event(client, "latest", 0, 0, n=n)
        return self._call(
            base,
            lambda: plist.latest(n),
            lambda items: replace(base, result=tuple((i.position, i.id) for i in items)),
        )

    def scan(self, plist: Any, client: str) -> list | None:
        """``list(plist.iter())`` from position 0, recorded."""
        base = Event(client, "scan", 0, 0)
        return self._call(
            base,
            lambda: list(plist.iter()),
            lambda items: replace(base, result=tuple((i.position, i.id) for i in items)),
        )

    def count(self, plist: Any, client: str) -> int | None:
        """``plist.count()``, recorded."""
        base = Event(client, "count", 0, 0)
        return self._call(base, plist.count, lambda n: replace(base, result=((n, ""),)))

    def history(self, store: Store, list_id: str) -> History:
        """The recorded calls plus a fresh snapshot of the list, read from ``store``."""
        with self._lock:
            events = tuple(self.events)
        return History(events, snapshot(store, list_id))

    @property
    def acked(self) -> list[tuple[str, int]]:
        """Every acknowledged append as ``(id, position)``, in the order recorded."""
        with self._lock:
            return [
                (item_id, pos)
                for e in self.events
                if e.kind in WRITES and e.ok and e.positions is not None
                for item_id, pos in zip(e.ids, e.positions, strict=True)
            ]


def check_list(store: Store, list_id: str, recorder: Recorder) -> list[str]:
    """Snapshot the list, check the recorded history against it, return the violations
    as readable lines (empty when every invariant holds)."""
    return [f"{v.code}: {v.message}" for v in check(recorder.history(store, list_id))]
