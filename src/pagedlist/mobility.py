"""Moving lists between stores: copy, export, import and verify (``pagedlist copy`` & co).

A copy keeps everything that makes a list the same list: every position (trimmed ones stay
trimmed: the destination starts at the same retained start), every id, append time, edit
time and value text, every tombstone, the metadata, the creation time and the settings
(capacity, max_item_bytes, max_items, max_age). It writes entry rows through the store's
own entry operations (the core's ``Push`` and ``Claim``), not through ``append``: the
public API gives new items new positions and cannot write a tombstone.

* **Stores with push** (memory, Redis, PostgreSQL, SQLite once it has entry rows): entries
  go in position order through ``Push`` with ``floor`` set to the retained start, so the
  store's tail is exactly the source position of each entry; every answer is checked.
* **Claim stores** (DynamoDB, Cosmos DB, OCI NoSQL): ``Claim`` at the exact positions, in
  batches of the store's ``claim_entries``.
* **Layout-1 destinations** (adapters without entry rows): page appends with the entries'
  own ids and timestamps (the core's bounded append). Layout 1 has no tombstones, no
  retained start and no retention: such a source is refused before anything is written.

A layout-1 source (written by pagedlist 0.1) copied to a store with entry rows becomes a
layout-2 list with the same positions: this is the migration path.

Resumable: the destination is written in position order, one batch at a time, so a copy
that was killed leaves a dense prefix. A rerun reads what is there, checks it item by item
against the source (refusing a destination that holds a different list) and writes only
what is missing. Each write is idempotent on its own: a claim at a position already holding
the same entry is recognised, a repeated push answers the positions of its first commit,
and a page append de-duplicates by id. Writers must be stopped meanwhile, on both sides.

Exactly-once by a caller's id survives the move: on stores without ``push``, items that had
an id record (entries marked ``"x"``) get one at the destination, written before the entry
as the core does. A source on a ``push`` store indexes every id without telling which ones
callers chose, so by default (``id_records="auto"``) every item copied from it to a store
without ``push`` gets a record.

Everything here runs on the core's driver (retries, deadlines) and takes a ``progress``
callback ``(done, total)`` counted in positions, so the command line stays thin.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass
from typing import IO, Any, Literal

from pagedlist.core import algorithms as alg
from pagedlist.core import entries as ent
from pagedlist.core.driver import RetryPolicy, run
from pagedlist.core.ops import (
    Append,
    Appended,
    Claim,
    Claimed,
    Delete,
    DropEntries,
    Duplicate,
    Get,
    GetEntry,
    GetMany,
    Insert,
    JSONDoc,
    Operation,
    PutIfAbsent,
    Scan,
    Slot,
    Taken,
)
from pagedlist.core.pagedlist import CATALOG, PagedList
from pagedlist.core.pagedlist import _deadline as _policy  # checked as list operations do
from pagedlist.core.sizing import check_capacity, check_entry_size, derive_capacity
from pagedlist.core.store import Store
from pagedlist.core.values import (
    encode_value,
    id_record_key,
    summary_key,
    validate_item_id,
    validate_list_id,
)
from pagedlist.errors import (
    ConfigError,
    ContractViolation,
    InvalidArgument,
    InvalidListId,
    InvalidValue,
    ItemTooLarge,
    ListExists,
    ListNotFound,
    PagedListError,
    Unsupported,
)

__all__ = [
    "EXPORT_FORMAT",
    "IdRecords",
    "Progress",
    "Transfer",
    "Verification",
    "copy_list",
    "drop_leftovers",
    "export_list",
    "import_list",
    "verify_list",
]

#: ``(done, total)``, in positions of the list being moved.
Progress = Callable[[int, int], None]
#: Which copied items get an id record on a destination without ``push``: ``"auto"``
#: (the items the source marks as appended with a caller id; every item when the source
#: cannot tell, i.e. a list on a store with ``push``), ``"marked"`` or ``"all"``.
IdRecords = Literal["auto", "marked", "all"]

#: The version of the export format (the header's ``"pagedlist"`` field).
EXPORT_FORMAT = 1
#: Positions read per store call (one range read, or one batch read of whole pages).
READ_BATCH = 1000
#: Entries per push on stores with ``push`` (their pushes take any number atomically).
PUSH_BATCH = 500
#: Writes at named positions (claims, page rows) and id records are independent: this
#: many are in flight at once while a new list is built.
WORKERS = 8
#: Mismatches a verification describes (it counts them all).
MAX_PROBLEMS = 20
#: Lines an import checks or writes per batch.
IMPORT_BATCH = 500

_ENTRY_FIELDS = ("id", "ts", "v", "d", "e")
_HEADER_KEYS = {
    "pagedlist", "list", "layout", "capacity", "max_item_bytes", "created", "metadata",
    "start", "count", "max_items", "max_age", "caller_ids",
}
_LINE_KEYS = {"position", "id", "ts", "edited", "value", "deleted", "caller_id"}


@dataclass(frozen=True, slots=True)
class Transfer:
    """What one copy or import did to its destination list."""

    list_id: str
    layout: int
    """The destination list's layout (2: entry rows, 1: page rows)."""
    start: int
    """The retained start, the same on both sides."""
    end: int
    """Positions used (``count()``), the same on both sides."""
    written: int
    """Positions written by this call."""
    checked: int
    """Positions found at the destination already (a rerun) and checked equal."""
    records: int
    """Id records written or found for items with a caller id."""
    capacity: int
    """The destination's capacity (the source's, unless a layout-1 row cannot hold it)."""


@dataclass(frozen=True, slots=True)
class Verification:
    """The item-by-item comparison of a list on two stores."""

    list_id: str
    start: int
    end: int
    items: int
    """Live items compared."""
    tombstones: int
    """Deleted items compared."""
    problems: tuple[str, ...]
    """The first ``MAX_PROBLEMS`` differences, described."""
    problem_count: int
    """Every difference found."""

    @property
    def ok(self) -> bool:
        """Whether both sides hold the same list."""
        return self.problem_count == 0


def _one(op: Operation) -> alg.Step:
    return (yield op)


def _canon(entry: JSONDoc) -> JSONDoc:
    """What a copy preserves of an entry: id, time, value text or tombstone, edit time
    (``"x"``, the mark of an id record, depends on the store and is handled apart)."""
    return {k: entry[k] for k in _ENTRY_FIELDS if k in entry}


def _describe(pos: int, entry: JSONDoc | None) -> str:
    if entry is None:
        return f"position {pos}: no row"
    what = "tombstone" if "d" in entry else f"value {entry.get('v', '')[:40]!r}"
    edited = f", edited {entry['e']}" if "e" in entry else ""
    return f"position {pos}: id {entry.get('id')!r}, ts {entry.get('ts')}{edited}, {what}"


class _Side:
    """One list on one store, read and written through the core's operations and driver."""

    def __init__(self, store: Store, list_id: str, policy: RetryPolicy) -> None:
        if list_id == CATALOG:
            raise InvalidListId(
                f"list id {CATALOG!r} is the store's catalogue of lists, not a list: name the "
                "lists to move (`pagedlist copy --all` copies every list it names)"
            )
        self.store = store
        self.id = validate_list_id(list_id, store.limits.key_bytes)
        self.policy = policy
        self.settings: alg.Settings | None = None
        self.head = 0

    def run(self, step: alg.Step, what: str) -> Any:
        return run(step, self.store, self.policy, what=f"{what} of {self.id!r}")

    def load(self) -> alg.Settings | None:
        """Read the summary: the list's settings, or ``None`` if there is no list."""
        row = self.run(_one(Get(summary_key(self.id))), "read the summary")
        if row is None:
            self.settings = None
            return None
        self.settings = alg.Settings.from_doc(self.id, row.doc)
        self.head = int(row.doc.get(alg.HEAD, 0))
        return self.settings

    def need(self) -> alg.Settings:
        """The settings, or ``ListNotFound`` naming the store."""
        found = self.load()
        if found is None:
            raise ListNotFound(
                f"list {self.id!r} does not exist in {self.store.describe()}: check the list "
                "id and the store URL"
            )
        return found

    def end(self) -> int:
        """Positions used so far (``count()``)."""
        cfg = self.settings
        assert cfg is not None
        if cfg.layout == ent.FORMAT:
            return int(self.run(ent.count(self.id, cfg.start), "count"))
        n, head = self.run(alg.count(self.id, cfg.capacity, self.head), "count")
        self.head = head
        return int(n)

    def read(self, lo: int, hi: int) -> list[Slot]:
        """Every entry row of ``[lo, hi)``, tombstones included, ascending; positions
        below the list's end are all taken, so a missing one is reported."""
        cfg = self.settings
        assert cfg is not None
        if hi <= lo:
            return []
        if cfg.layout == ent.FORMAT:
            return self.run(_read_entries(self.id, lo, hi), f"read [{lo}, {hi})")
        out: list[Slot] = self.run(alg.read_range(self.id, cfg.capacity, lo, hi), "read pages")
        if len(out) != hi - lo:
            raise ContractViolation(
                f"pages of list {self.id!r} in {self.store.describe()} hold {len(out)} of the "
                f"{hi - lo} items of positions [{lo}, {hi}) below its end: was it written "
                "meanwhile? stop its writers and run again"
            )
        return out

    def batches(self, lo: int, hi: int, pages: int | None = None) -> Iterator[list[Slot]]:
        """``read`` in batches of about ``READ_BATCH`` positions, cut at multiples of
        ``pages`` (the destination's page capacity), else of this list's pages."""
        cfg = self.settings
        assert cfg is not None
        unit = pages or (cfg.capacity if cfg.layout == alg.FORMAT else 1)
        size = max(1, READ_BATCH // unit) * unit
        pos = lo
        while pos < hi:
            upto = min(hi, (pos // size + 1) * size)
            yield self.read(pos, upto)
            pos = upto


def _read_entries(list_id: str, lo: int, hi: int) -> alg.Step:
    """Entry rows ``[lo, hi)`` through range reads; a position a read skipped (range
    reads need not be snapshots) is read on its own, and ``ContractViolation`` if absent."""
    out: list[Slot] = []
    pos = lo
    while pos < hi:
        slots = yield Scan(list_id, pos, hi, min(hi - pos, READ_BATCH), False)
        took = 0
        for at, entry in slots:
            if at != pos:
                break
            out.append((at, entry))
            pos += 1
            took += 1
        if pos >= hi:
            break
        if took and took == len(slots):
            continue  # a short read: read on from where it stopped
        row = yield GetEntry(list_id, pos)
        if row is None:
            raise ContractViolation(
                f"list {list_id!r} has no row at position {pos}, below its newest position: "
                "was it trimmed or dropped meanwhile? stop its writers and run again"
            )
        out.append((pos, row.doc))
        pos += 1
    return out


# --- the destination ------------------------------------------------------------------------


class _Writer:
    """Creates or checks the destination list and writes entries at their exact positions.

    A destination list that does not exist yet is built *summary last*: entry rows (or page
    rows) first, several batches at a time where the store takes writes at named positions
    (claims, page rows), then the summary, so no reader ever sees a half-copied list and a
    killed copy leaves rows but no list. A rerun finds those rows, checks each against the
    source and writes only the missing ones. A destination list that exists already (a
    finished copy, the source having grown since) is checked and extended in order, so it
    stays a valid list throughout.
    """

    def __init__(self, side: _Side, id_records: IdRecords, workers: int = WORKERS) -> None:
        if id_records not in ("auto", "marked", "all"):
            raise InvalidArgument(
                f"id_records must be 'auto', 'marked' or 'all', got {id_records!r:.40}"
            )
        self.side = side
        self.mode = id_records
        self.marks = True
        self.records = 0
        self.cfg: alg.Settings | None = None
        self.live = False
        """Whether the destination list exists (its summary is written)."""
        self.have = 0
        """Positions below this may be at the destination already: read and check them."""
        self.pool = ThreadPoolExecutor(workers, "pagedlist-copy") if workers > 1 else None
        self.lock = threading.Lock()
        self.origin = ""
        self.end = 0

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    # --- settings -------------------------------------------------------------------

    def layout(self, existing: alg.Settings | None) -> int:
        if existing is not None:
            return existing.layout
        return ent.FORMAT if self.side.store.features.entries else alg.FORMAT

    def _capacity(self, src: alg.Settings, layout: int) -> int:
        limits = self.side.store.limits
        if layout == ent.FORMAT:
            check_entry_size(limits, src.max_item_bytes)
            return src.capacity
        try:
            return check_capacity(limits, src.max_item_bytes, src.capacity)
        except ConfigError:
            # Positions of layout 1 are dense from 0 whatever the capacity: a row that
            # cannot hold the source's pages takes the largest pages it can.
            return derive_capacity(limits, src.max_item_bytes)

    def refusal(self, src: alg.Settings, origin: str, tombstones: int = 0) -> str | None:
        """Why a layout-1 destination cannot hold this list, or ``None``."""
        lacks = []
        if src.start > 0:
            lacks.append(f"a retained start of {src.start} (trimmed)")
        if src.max_items is not None or src.max_age_ms is not None:
            lacks.append("retention settings (max_items/max_age)")
        if tombstones:
            lacks.append(f"{tombstones} deleted item(s) (tombstones)")
        if not lacks:
            return None
        return (
            f"list {self.side.id!r} in {origin} has {', '.join(lacks)}, which layout 1 "
            f"cannot hold, and {self.side.store.describe()} offers layout 1 only (no entry "
            "rows): copy it to a store whose adapter has entry rows (layout 2), or keep it "
            "as a file with `pagedlist export`"
        )

    def prepare(self, src: alg.Settings, src_end: int, marks: bool, origin: str) -> None:
        """Check the destination against the source's settings before anything is written:
        an existing list must be a (partial) copy of this one; rows without a list (a
        killed copy) are checked as the copy goes."""
        side = self.side
        existing = side.load()
        layout = self.layout(existing)
        if layout == alg.FORMAT and src.layout == ent.FORMAT:
            why = self.refusal(src, origin)
            if why is not None:
                raise Unsupported(why)
        wanted = alg.Settings(
            self._capacity(src, layout),
            src.max_item_bytes,
            src.created_ms,
            src.metadata,
            layout=layout,
            start=src.start if layout == ent.FORMAT else 0,
            max_items=src.max_items,
            max_age_ms=src.max_age_ms,
        )
        self.origin, self.marks, self.end = origin, marks, src_end
        if existing is not None:
            differs = _differences(wanted, existing)
            if differs:
                raise ListExists(self._conflict("; ".join(differs)))
            self.cfg, self.live = existing, True
            have = side.end()
            if have > src_end:
                raise ListExists(self._conflict(f"it holds {have} positions, the source {src_end}"))
            self.have = max(have, existing.start)
            return
        self.cfg, self.live = wanted, False
        side.settings = wanted
        if layout == alg.FORMAT:
            # Page rows have no range read: every batch reads its pages (one call).
            self.have = src_end
            return
        newest = side.run(ent.newest_position(side.id, 0), "find rows")
        if newest is None:
            self.have = wanted.start
            return
        if newest >= src_end:
            raise ListExists(
                self._conflict(f"it has rows up to position {newest}, the source {src_end}")
            )
        stray = _rows_below(side, wanted.start)
        if stray:
            raise ListExists(
                self._conflict(f"it has rows at {stray}, below the source's start {wanted.start}")
            )
        self.have = newest + 1

    def finish(self) -> None:
        """Write the summary of a list built here (the list appears now, complete) and list
        it in the destination's catalogue."""
        side, cfg = self.side, self.cfg
        assert cfg is not None
        if not self.live:
            doc = cfg.to_doc()
            if cfg.layout == alg.FORMAT:
                doc[alg.HEAD] = self.end // cfg.capacity
            if not side.run(_one(PutIfAbsent(summary_key(side.id), doc)), "write the summary"):
                found = side.load()
                differs = ["it appeared meanwhile"] if found is None else _differences(cfg, found)
                if differs:
                    raise ListExists(self._conflict("; ".join(differs)))
            self.live = True
        # Idempotent, so a rerun lists it if an earlier run died right before.
        PagedList.register(side.store, side.id, deadline=side.policy.deadline)

    def _conflict(self, why: str) -> str:
        return (
            f"{self.side.store.describe()} already holds a list {self.side.id!r} that is not "
            f"a copy of list {self.side.id!r} in {self.origin} ({why}); nothing was written: "
            f"drop it first (`pagedlist drop URL {self.side.id}`) or use another destination"
        )

    def _mismatch(self, pos: int, there: JSONDoc | None, want: JSONDoc | None) -> ListExists:
        return ListExists(
            self._conflict(f"at {_describe(pos, there)}, the source has {_describe(pos, want)}")
        )

    # --- entries --------------------------------------------------------------------

    def _wants_record(self, entry: JSONDoc) -> bool:
        if self.mode == "all" or "x" in entry:
            return True
        return self.mode == "auto" and not self.marks

    def _rows(self, slots: Sequence[Slot]) -> list[Slot]:
        """The entries as the destination keeps them: ``"x"`` where an id record is
        written (stores without ``push``), never on ``push`` stores (their index serves)."""
        cfg, store = self.cfg, self.side.store
        assert cfg is not None
        push = cfg.layout == ent.FORMAT and store.features.push
        out = []
        for pos, entry in slots:
            row = _canon(entry)
            if not push and self._wants_record(entry):
                row["x"] = 1
            out.append((pos, row))
        return out

    def handle(self, batch: Sequence[Slot], progress: Callable[[int], None]) -> tuple[int, int]:
        """Check the positions of ``batch`` (consecutive, ascending) that the destination
        may hold already, write the others. Returns ``(written, checked)``."""
        if not batch:
            return 0, 0
        cfg = self.cfg
        assert cfg is not None
        rows = self._rows(batch)
        if cfg.layout == alg.FORMAT and not self.live:
            return self._pages(rows, progress)
        lo, hi = rows[0][0], rows[-1][0] + 1
        there: dict[int, JSONDoc] = {}
        if lo < self.have:
            upto = min(hi, self.have)
            if self.live:
                there = dict(self.side.read(lo, upto))
            else:
                there = dict(self.side.run(_read_some(self.side.id, lo, upto), "read rows"))
        # Positions below ``have`` are all taken on an existing list and on a push store
        # (it writes in order); a list being built on a claim store may have gaps.
        dense = self.live or self._pushes
        missing: list[Slot] = []
        for pos, row in rows:
            found = there.get(pos)
            if found is None:
                if pos < self.have and dense:
                    raise self._mismatch(pos, None, row)
                missing.append((pos, row))
            elif _canon(found) != _canon(row):
                raise self._mismatch(pos, found, row)
        checked = len(rows) - len(missing)
        if checked:
            progress(checked)
        if missing:
            self._write(missing, progress)
        return len(missing), checked

    @property
    def _pushes(self) -> bool:
        return self.side.store.features.push

    def _write(self, rows: list[Slot], progress: Callable[[int], None]) -> None:
        cfg = self.cfg
        assert cfg is not None
        if cfg.layout == alg.FORMAT:
            self._append(rows, cfg, progress)
        elif self._pushes:
            self._push(rows, cfg.start, progress)
        else:
            self._claim(rows, progress)

    def _push(self, rows: list[Slot], floor: int, progress: Callable[[int], None]) -> None:
        side = self.side
        chunk = min(PUSH_BATCH, side.store.limits.append_entries or PUSH_BATCH)
        for at in range(0, len(rows), chunk):
            part = rows[at : at + chunk]
            entries = [e for _, e in part]
            got = side.run(ent.append_push(side.id, entries, len(entries), floor), "push")
            self._placed(part, got)
            progress(len(part))

    def _claim(self, rows: list[Slot], progress: Callable[[int], None]) -> None:
        chunk = max(1, self.side.store.features.claim_entries)
        parts: list[list[Slot]] = []
        for run_ in _runs(rows):
            parts.extend(run_[at : at + chunk] for at in range(0, len(run_), chunk))

        def one(part: list[Slot]) -> int:
            self._records(part)
            self.side.run(
                _claim_exact(self.side.id, part, self._mismatch),
                f"claim {part[0][0]}..{part[-1][0]}",
            )
            return len(part)

        # Claims name their positions, so a list being built (no summary yet) takes them
        # in any order; an existing list takes them in order, keeping it dense throughout.
        self._each(one, parts, progress, parallel=not self.live)

    def _pages(self, rows: list[Slot], progress: Callable[[int], None]) -> tuple[int, int]:
        """Layout 1, a list being built: each page of ``rows`` is one row, written whole
        with a conditional create when absent, else completed by appends."""
        side, cfg = self.side, self.cfg
        assert cfg is not None
        cap = cfg.capacity
        pages: dict[int, list[Slot]] = {}
        for pos, row in rows:
            pages.setdefault(pos // cap, []).append((pos, row))
        keys = {n: alg.page_key(side.id, n) for n in pages}
        have = side.run(_one(GetMany(tuple(keys.values()))), "read pages")
        todo: list[tuple[int, int, list[Slot]]] = []
        checked = 0
        for n, part in pages.items():
            row = have.get(keys[n])
            items = [] if row is None else list(row.doc.get(alg.ITEMS, []))
            wanted = dict(part)
            for i, entry in enumerate(items):
                pos = n * cap + i
                want = wanted.get(pos)
                if want is None or _canon(entry) != _canon(want):
                    # Pages are read whole, so a row at a position the source does not
                    # have here is past the source's end: another list's.
                    raise self._mismatch(pos, entry, want)
                checked += 1
            rest = [(p, e) for p, e in part if p >= n * cap + len(items)]
            if len(items) > cap or (rest and rest[0][0] != n * cap + len(items)):
                raise self._mismatch(rest[0][0] if rest else n * cap, None, part[0][1])
            if rest:
                todo.append((n, len(items), rest))
        if checked:
            progress(checked)

        def one(job: tuple[int, int, list[Slot]]) -> int:
            n, length, part = job
            self._records(part)
            entries = [e for _, e in part]
            key = keys[n]
            whole = length == 0 and len(part) == cap
            if whole and side.run(_one(PutIfAbsent(key, {alg.ITEMS: entries})), "write a page"):
                return len(part)
            side.run(
                _fill_page(side.id, key, cap, part, self._limit(cap), self._mismatch),
                f"append to page {n}",
            )
            return len(part)

        self._each(one, todo, progress, parallel=True)
        return sum(len(p) for _, _, p in todo), checked

    def _limit(self, cap: int) -> int:
        return min(cap, self.side.store.limits.append_entries or cap)

    def _append(self, rows: list[Slot], cfg: alg.Settings, progress: Callable[[int], None]) -> None:
        """Layout 1, an existing list: the core's bounded append, in order."""
        side = self.side
        for at in range(0, len(rows), cfg.capacity):
            part = rows[at : at + cfg.capacity]
            self._records(part)
            entries = [e for _, e in part]
            limit = self._limit(cfg.capacity)
            got, head = side.run(
                alg.append(side.id, cfg.capacity, side.head, entries, limit), "append"
            )
            side.head = head
            self._placed(part, got)
            progress(len(part))

    def _each(
        self,
        fn: Callable[[Any], int],
        jobs: Sequence[Any],
        progress: Callable[[int], None],
        *,
        parallel: bool,
    ) -> None:
        if self.pool is None or not parallel or len(jobs) < 2:
            for job in jobs:
                progress(fn(job))
            return
        futures = [self.pool.submit(fn, job) for job in jobs]
        try:
            for future in as_completed(futures):
                progress(future.result())
        finally:
            for future in futures:
                future.cancel()
            wait(futures)

    def _placed(self, part: Sequence[Slot], got: Sequence[int]) -> None:
        want = [p for p, _ in part]
        if list(got) != want:
            raise ListExists(
                f"list {self.side.id!r} in {self.side.store.describe()} took the entries of "
                f"positions {want[0]}..{want[-1]} at positions {got[0]}..{got[-1]}: something "
                "else writes to it; stop its writers, drop it and copy again"
            )

    def _records(self, rows: Sequence[Slot]) -> None:
        """The id records of the entries marked ``"x"``, written before the entries (as
        the core does), naming the position (layout 2) or page (layout 1) they take."""
        cfg, side = self.cfg, self.side
        assert cfg is not None
        for pos, entry in rows:
            if "x" not in entry:
                continue
            target = pos if cfg.layout == ent.FORMAT else pos // cfg.capacity
            key = id_record_key(side.id, entry["id"])
            found = side.run(_one(Insert(key, {"id": entry["id"], "p": target})), "id record")
            if found is not None and (
                found.doc.get("id") != entry["id"] or found.doc.get("p") != target
            ):
                raise ListExists(
                    self._conflict(
                        f"its id record for {entry['id']!r} names {found.doc.get('p')!r}, "
                        f"the copy puts the item at {target}"
                    )
                )
            with self.lock:
                self.records += 1


def _runs(rows: list[Slot]) -> list[list[Slot]]:
    """``rows`` cut into runs of consecutive positions."""
    out: list[list[Slot]] = []
    for slot in rows:
        if out and out[-1][-1][0] + 1 == slot[0]:
            out[-1].append(slot)
        else:
            out.append([slot])
    return out


def _read_some(list_id: str, lo: int, hi: int) -> alg.Step:
    """The entry rows of ``[lo, hi)`` that exist (a list being built may have gaps)."""
    out: list[Slot] = []
    while lo < hi:
        slots = yield Scan(list_id, lo, hi, min(hi - lo, READ_BATCH), False)
        out.extend(slots)
        if len(slots) < min(hi - lo, READ_BATCH):
            break
        lo = slots[-1][0] + 1
    return out


Mismatch = Callable[[int, "JSONDoc | None", "JSONDoc | None"], ListExists]


def _claim_exact(list_id: str, rows: Sequence[Slot], mismatch: Mismatch) -> alg.Step:
    """Claim ``rows`` (consecutive positions) where they are. A position holding the same
    entry already (a rerun, or a claim whose answer was lost) is skipped; one holding
    another entry is a conflict."""
    i = 0
    limit = len(rows)
    while i < len(rows):
        pos = rows[i][0]
        batch = rows[i : i + limit]
        answer = yield Claim(list_id, pos, tuple(e for _, e in batch))
        if isinstance(answer, Claimed):
            i += len(batch)
            limit = len(rows)
            continue
        if not isinstance(answer, Taken) or not pos <= answer.position < pos + len(batch):
            raise ContractViolation(
                f"claim of {len(batch)} entries at {pos} of {list_id!r} answered {answer!r}: "
                "the adapter broke clause E1"
            )
        if answer.position > pos:
            limit = answer.position - pos  # the free run below the taken position
            continue
        if _canon(answer.entry) != _canon(batch[0][1]):
            raise mismatch(pos, answer.entry, batch[0][1])
        i += 1
        limit = len(rows)


def _fill_page(
    list_id: str, key: str, cap: int, part: Sequence[Slot], chunk: int, mismatch: Mismatch
) -> alg.Step:
    """Append ``part`` to page row ``key`` so each entry lands at its position's index: an
    append is bounded to end exactly there, so it never lands lower or higher; a repeated
    append finds its own entries (``Duplicate``)."""
    done = 0
    while done < len(part):
        batch = part[done : done + chunk]
        index = batch[0][0] % cap
        answer = yield Append(key, alg.ITEMS, tuple(e for _, e in batch), index + len(batch))
        if isinstance(answer, Appended) and answer.length == index + len(batch):
            done += len(batch)
            continue
        if isinstance(answer, Duplicate) and answer.index - answer.entry == index:
            done += len(batch)
            continue
        row = yield Get(key)
        items = [] if row is None else row.doc.get(alg.ITEMS, [])
        if len(items) > index:
            raise mismatch(batch[0][0], items[index], batch[0][1])
        raise ListExists(
            f"page {key!r} of {list_id!r} holds {len(items)} entries where the copy expected "
            f"{index}: something else writes to it; stop its writers, drop it and copy again"
        )


def _differences(wanted: alg.Settings, have: alg.Settings) -> list[str]:
    out = []
    if have.created_ms != wanted.created_ms:
        out.append(f"created at {have.created_ms} ms, the source at {wanted.created_ms} ms")
    if have.max_item_bytes != wanted.max_item_bytes:
        out.append(f"max_item_bytes {have.max_item_bytes}, the source {wanted.max_item_bytes}")
    if have.metadata != wanted.metadata:
        out.append("other metadata")
    if (have.layout == ent.FORMAT or wanted.layout == ent.FORMAT) and have.capacity != (
        wanted.capacity
    ):
        out.append(f"capacity {have.capacity}, the source {wanted.capacity}")
    if have.layout == ent.FORMAT and have.start != wanted.start:
        out.append(f"retained start {have.start}, the source {wanted.start}")
    if not have.same_retention(wanted):
        out.append(
            f"max_items={have.max_items}, max_age={have.max_age_ms} ms (the source "
            f"{wanted.max_items}, {wanted.max_age_ms} ms)"
        )
    return out


def _marks(store: Store, cfg: alg.Settings) -> bool:
    """Whether a list marks the items appended with a caller id (``"x"``): everywhere but
    layout 2 on a store with ``push``, whose id index serves every id alike."""
    return not (cfg.layout == ent.FORMAT and store.features.push)


def _transfer(
    writer: _Writer, batches: Iterable[Sequence[Slot]], progress: Callable[[int], None]
) -> tuple[int, int]:
    """Hand the source's ``batches`` to ``writer``, then write the summary where the list
    is new. Returns ``(written, checked)``."""
    written = checked = 0
    for batch in batches:
        w, c = writer.handle(batch, progress)
        written += w
        checked += c
    writer.finish()
    return written, checked


# --- copy and verify ------------------------------------------------------------------------


def copy_list(
    source: Store,
    destination: Store,
    list_id: str,
    *,
    progress: Progress | None = None,
    id_records: IdRecords = "auto",
    deadline: float | None = None,
) -> Transfer:
    """Copy list ``list_id`` from ``source`` to ``destination`` with its positions, ids,
    timestamps, edit times, values, tombstones, metadata and settings; resumable.

    A destination list that does not exist is created; one that is a partial copy (an
    earlier run was killed) is checked item by item and completed. Raises ``ListNotFound``
    (no such source list), ``ListExists`` (the destination holds a different list of that
    id), ``Unsupported`` (a destination in layout 1 cannot hold tombstones, a retained
    start or retention), ``ConfigError`` (its rows cannot hold the list's items). Writers
    of either list must be stopped while it runs. Check the result with
    :func:`verify_list`.
    """
    policy = _policy(deadline)
    src = _Side(source, list_id, policy)
    cfg = src.need()
    end = src.end()
    writer = _Writer(_Side(destination, list_id, policy), id_records)
    try:
        origin = source.describe()
        if writer.layout(writer.side.load()) == alg.FORMAT and cfg.layout == ent.FORMAT:
            # Layout 1 has no tombstones: refuse before writing anything, not half way.
            why = writer.refusal(cfg, origin)
            if why is None:
                tombstones = sum(
                    1 for batch in src.batches(cfg.start, end) for _, e in batch if "d" in e
                )
                why = writer.refusal(cfg, origin, tombstones)
            if why is not None:
                raise Unsupported(why)
        writer.prepare(cfg, end, _marks(source, cfg), origin)
        dest = writer.cfg
        assert dest is not None
        step = _counter(progress, end - cfg.start)
        pages = dest.capacity if dest.layout == alg.FORMAT else None
        written, checked = _transfer(writer, src.batches(cfg.start, end, pages), step)
    finally:
        writer.close()
    return Transfer(
        list_id, dest.layout, cfg.start, end, written, checked, writer.records, dest.capacity
    )


def _counter(progress: Progress | None, total: int) -> Callable[[int], None]:
    """A ``step(n)`` callback adding up to ``progress(done, total)``."""
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    return step


def verify_list(
    source: Store,
    destination: Store,
    list_id: str,
    *,
    progress: Progress | None = None,
    deadline: float | None = None,
) -> Verification:
    """Compare list ``list_id`` on both stores item by item: settings, retained start,
    count, and at every position the id, time, edit time, value text or tombstone; on the
    destination, the id record of every entry marked as having one."""
    policy = _policy(deadline)
    src, dst = _Side(source, list_id, policy), _Side(destination, list_id, policy)
    a = src.need()
    b = dst.need()
    problems: list[str] = []
    count = 0

    def problem(text: str) -> None:
        nonlocal count
        count += 1
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)

    layout = b.layout
    expected = alg.Settings(
        b.capacity if layout == alg.FORMAT else a.capacity,
        a.max_item_bytes,
        a.created_ms,
        a.metadata,
        layout=layout,
        start=a.start if layout == ent.FORMAT else 0,
        max_items=a.max_items,
        max_age_ms=a.max_age_ms,
    )
    for diff in _differences(expected, b):
        problem(f"settings: the destination has {diff}")
    if layout == alg.FORMAT and a.start:
        problem(f"settings: the source's retained start is {a.start}, layout 1 has none")
    end_a, end_b = src.end(), dst.end()
    if end_a != end_b:
        problem(f"count: the source holds {end_a} positions, the destination {end_b}")
    lo = a.start
    below = [] if layout == alg.FORMAT else _rows_below(dst, b.start)
    if below:
        problem(f"the destination holds rows below the retained start {lo}: {below}")
    items = tombstones = 0
    total = max(end_a, end_b) - lo
    if progress is not None:
        progress(0, total)
    for batch in src.batches(lo, end_a):
        first, last = batch[0][0], batch[-1][0] + 1
        try:
            theirs = dict(dst.read(first, min(last, end_b))) if first < end_b else {}
        except ContractViolation as err:
            problem(str(err))
            theirs = {}
        marked = []
        for pos, entry in batch:
            other = theirs.get(pos)
            if other is None or _canon(other) != _canon(entry):
                problem(f"source {_describe(pos, entry)}; destination {_describe(pos, other)}")
            elif "d" in entry:
                tombstones += 1
            else:
                items += 1
            if other is not None and "x" in other:
                marked.append((pos, other))
        for text in _check_records(dst, b, marked):
            problem(text)
        if progress is not None:
            progress(last - lo, total)
    if end_b > end_a:
        for pos, entry in dst.read(end_a, end_b):
            problem(f"destination {_describe(pos, entry)} is past the source's end {end_a}")
    return Verification(list_id, lo, end_a, items, tombstones, tuple(problems), count)


def _rows_below(side: _Side, start: int) -> list[int]:
    if start == 0:
        return []
    slots = side.run(_one(Scan(side.id, 0, start, 3, False)), "read below the start")
    return [pos for pos, _ in slots]


def _check_records(side: _Side, cfg: alg.Settings, marked: list[Slot]) -> list[str]:
    if not marked:
        return []
    keys = tuple(id_record_key(side.id, e["id"]) for _, e in marked)
    rows = side.run(_one(GetMany(keys)), "read id records")
    out = []
    for (pos, entry), key in zip(marked, keys, strict=True):
        target = pos if cfg.layout == ent.FORMAT else pos // cfg.capacity
        row = rows.get(key)
        if row is None or row.doc.get("id") != entry["id"] or row.doc.get("p") != target:
            found = None if row is None else row.doc
            out.append(
                f"position {pos}: the id record of {entry['id']!r} is {found!r}, expected "
                f"{{'id': {entry['id']!r}, 'p': {target}}}"
            )
    return out


# --- export and import ----------------------------------------------------------------------


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _header(list_id: str, cfg: alg.Settings, end: int, marks: bool) -> str:
    head = {
        "pagedlist": EXPORT_FORMAT,
        "list": list_id,
        "layout": cfg.layout,
        "capacity": cfg.capacity,
        "max_item_bytes": cfg.max_item_bytes,
        "created": cfg.created_ms / 1000,
        "start": cfg.start,
        "count": end,
        "max_items": cfg.max_items,
        "max_age": _seconds(cfg.max_age_ms),
        "caller_ids": marks,
    }
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    # The metadata's JSON text goes in as it is stored, so it comes back byte for byte.
    return text[:-1] + ',"metadata":' + (cfg.metadata or "null") + "}"


def _line(pos: int, entry: JSONDoc) -> str:
    doc: JSONDoc = {"position": pos, "id": entry["id"], "ts": entry["ts"] / 1000}
    if "d" in entry:
        doc["deleted"] = True
    else:
        doc["edited"] = _seconds(entry.get("e"))
    if "x" in entry:
        doc["caller_id"] = True
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    if "d" in entry:
        return text
    return text[:-1] + ',"value":' + entry["v"] + "}"


def export_list(
    store: Store,
    list_id: str,
    out: IO[str],
    *,
    progress: Progress | None = None,
    deadline: float | None = None,
) -> int:
    """Write list ``list_id`` to ``out`` as JSON lines: a header with its settings, then one
    object per position from the retained start, tombstones included. Returns the number
    of item lines. Values are written as their stored JSON text, so they come back exactly.
    """
    side = _Side(store, list_id, _policy(deadline))
    cfg = side.need()
    end = side.end()
    out.write(_header(side.id, cfg, end, _marks(store, cfg)) + "\n")
    total, n = end - cfg.start, 0
    if progress is not None:
        progress(0, total)
    for batch in side.batches(cfg.start, end):
        out.write("".join(_line(pos, entry) + "\n" for pos, entry in batch))
        n += len(batch)
        if progress is not None:
            progress(n, total)
    return n


def _bad(lineno: int, why: str) -> InvalidArgument:
    return InvalidArgument(f"line {lineno}: {why}")


def _int_field(doc: dict, key: str, lineno: int, *, low: int = 0, none: bool = False) -> Any:
    value = doc.get(key)
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "an int" + (f" >= {low}" if low else "") + (" or null" if none else "")
        raise _bad(lineno, f"{key!r} must be {kind}, got {value!r:.60}")
    return value


def _ms_field(doc: dict, key: str, lineno: int, *, none: bool = False) -> int | None:
    value = doc.get(key)
    if value is None and none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value < 2**43 / 1000
    ):
        kind = "seconds since the epoch" + (" or null" if none else "")
        raise _bad(lineno, f"{key!r} must be {kind}, got {value!r:.60}")
    return round(value * 1000)


def _json_line(text: str, lineno: int) -> dict:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise _bad(lineno, f"not JSON: {err.msg} at column {err.colno}") from None
    if not isinstance(doc, dict):
        raise _bad(lineno, f"a JSON {type(doc).__name__}, not an object")
    return doc


def _parse_header(text: str) -> tuple[alg.Settings, int, bool]:
    doc = _json_line(text, 1)
    if doc.get("pagedlist") != EXPORT_FORMAT:
        raise _bad(
            1,
            "not a pagedlist export header: the first line must be the header that "
            f"`pagedlist export` writes ({{\"pagedlist\": {EXPORT_FORMAT}, ...}})",
        )
    unknown = sorted(set(doc) - _HEADER_KEYS)
    if unknown:
        raise _bad(1, f"unknown header field(s) {', '.join(map(repr, unknown))}")
    layout = _int_field(doc, "layout", 1, low=1)
    if layout not in (alg.FORMAT, ent.FORMAT):
        raise _bad(1, f"layout {layout} is not 1 or 2: written by a newer pagedlist?")
    capacity = _int_field(doc, "capacity", 1, low=1)
    max_item_bytes = _int_field(doc, "max_item_bytes", 1, low=1)
    created = _ms_field(doc, "created", 1)
    start = _int_field(doc, "start", 1)
    count = _int_field(doc, "count", 1)
    if count < start:
        raise _bad(1, f"count {count} is below start {start}")
    max_items = _int_field(doc, "max_items", 1, low=1, none=True)
    max_age = _ms_field(doc, "max_age", 1, none=True)
    marks = doc.get("caller_ids", True)
    if not isinstance(marks, bool):
        raise _bad(1, f"'caller_ids' must be true or false, got {marks!r:.40}")
    try:
        meta = None if doc.get("metadata") is None else encode_value(doc["metadata"], 2**20)
    except PagedListError as err:
        raise _bad(1, f"metadata: {err}") from None
    assert created is not None
    cfg = alg.Settings(
        capacity,
        max_item_bytes,
        created,
        meta,
        layout=layout,
        start=start,
        max_items=max_items,
        max_age_ms=max_age,
    )
    return cfg, count, marks


def _parse_item(text: str, lineno: int, position: int, cfg: alg.Settings) -> JSONDoc:
    doc = _json_line(text, lineno)
    unknown = sorted(set(doc) - _LINE_KEYS)
    if unknown:
        raise _bad(lineno, f"unknown field(s) {', '.join(map(repr, unknown))}")
    got = _int_field(doc, "position", lineno)
    if got != position:
        raise _bad(
            lineno,
            f"position {got}, expected {position}: an export holds every position in order, "
            "from the header's start",
        )
    try:
        item_id = validate_item_id(doc.get("id"))
    except PagedListError as err:
        raise _bad(lineno, str(err)) from None
    entry: JSONDoc = {"id": item_id, "ts": _ms_field(doc, "ts", lineno)}
    deleted = doc.get("deleted", False)
    if not isinstance(deleted, bool):
        raise _bad(lineno, f"'deleted' must be true or false, got {deleted!r:.40}")
    if deleted:
        if "value" in doc or doc.get("edited") is not None:
            raise _bad(lineno, "a deleted item has no value and no edit time")
        entry["d"] = 1
    else:
        if "value" not in doc:
            raise _bad(lineno, "no 'value' (and not 'deleted')")
        try:
            entry["v"] = encode_value(doc["value"], cfg.max_item_bytes)
        except (ItemTooLarge, InvalidValue) as err:
            raise type(err)(f"line {lineno}: {err}") from None
        edited = _ms_field(doc, "edited", lineno, none=True)
        if edited is not None:
            entry["e"] = edited
    caller = doc.get("caller_id", False)
    if not isinstance(caller, bool):
        raise _bad(lineno, f"'caller_id' must be true or false, got {caller!r:.40}")
    if caller:
        entry["x"] = 1
    return entry


def _file_batches(
    lines: Iterator[tuple[int, str]],
    cfg: alg.Settings,
    end: int,
    layout: int,
    where: str,
    size: int,
) -> Iterator[list[Slot]]:
    position = cfg.start
    batch: list[Slot] = []
    last = 1
    for lineno, text in lines:
        last = lineno
        if not text.strip():
            continue
        try:
            if position >= end:
                raise _bad(lineno, f"past the header's count {end}: the file holds more lines")
            entry = _parse_item(text, lineno, position, cfg)
            if layout == alg.FORMAT and "d" in entry:
                raise Unsupported(
                    f"line {lineno}: a deleted item (tombstone), which layout 1 cannot hold, "
                    f"and {where} offers layout 1 only (no entry rows); the lines before it "
                    "were imported: import the file into a store whose adapter has entry rows"
                )
        except PagedListError as err:
            failed = err
        else:
            batch.append((position, entry))
            position += 1
            # Batches end at multiples of ``size`` (whole destination pages in layout 1).
            if position % size == 0:
                yield batch
                batch = []
            continue
        # The lines before a bad one are imported (a rerun with a fixed file goes on).
        if batch:
            yield batch
        raise failed
    if batch:
        yield batch
    if position != end:
        raise _bad(
            last,
            f"the file ends at position {position}, but its header says the list holds {end} "
            "positions: it is truncated; what it holds was imported, import the whole file "
            "again to finish",
        )


def import_list(
    store: Store,
    list_id: str,
    lines: Iterable[str],
    *,
    progress: Progress | None = None,
    id_records: IdRecords = "auto",
    deadline: float | None = None,
) -> Transfer:
    """Import a ``pagedlist export`` file (an iterable of its lines) as list ``list_id``;
    resumable and idempotent like :func:`copy_list`: a rerun checks what is there against
    the file and writes only the rest. A malformed line raises ``InvalidArgument`` naming
    its line number; the lines before it stay imported."""
    numbered = enumerate(lines, start=1)
    first = next(numbered, None)
    if first is None:
        raise _bad(1, "the input is empty: expected the output of `pagedlist export`")
    cfg, end, marks = _parse_header(first[1])
    writer = _Writer(_Side(store, list_id, _policy(deadline)), id_records)
    try:
        writer.prepare(cfg, end, marks, "the export file")
        dest = writer.cfg
        assert dest is not None
        step = _counter(progress, end - cfg.start)
        size = IMPORT_BATCH
        if dest.layout == alg.FORMAT:
            size = max(1, IMPORT_BATCH // dest.capacity) * dest.capacity
        batches = _file_batches(numbered, cfg, end, dest.layout, store.describe(), size)
        written, checked = _transfer(writer, batches, step)
    finally:
        writer.close()
    return Transfer(
        writer.side.id, dest.layout, cfg.start, end, written, checked, writer.records,
        dest.capacity,
    )


# --- what an unfinished copy leaves ---------------------------------------------------------

#: Page rows read per batch while looking for the pages of an unfinished layout-1 copy.
_PAGE_PROBE = 256


def drop_leftovers(store: Store, list_id: str, *, deadline: float | None = None) -> int:
    """Remove the rows an unfinished copy or import of ``list_id`` left in ``store`` (entry
    rows or page rows, and their id records) where no list of that id exists: a copy writes
    the summary last, so a killed one leaves rows but no list. Returns how many entries were
    removed. Raises ``ListExists`` if the list exists (drop it with ``PagedList.drop``)."""
    side = _Side(store, list_id, _policy(deadline))
    if side.load() is not None:
        raise ListExists(
            f"list {side.id!r} exists in {store.describe()}: drop it with PagedList.drop "
            f"(`pagedlist drop URL {side.id}`)"
        )
    removed = 0
    if store.features.entries:
        lo = 0
        while True:
            slots = side.run(_one(Scan(side.id, lo, None, READ_BATCH, False)), "read rows")
            for _, entry in slots:
                if "x" in entry:
                    side.run(_one(Delete(id_record_key(side.id, entry["id"]))), "drop a record")
            removed += len(slots)
            if len(slots) < READ_BATCH:
                break
            lo = slots[-1][0] + 1
        side.run(_one(DropEntries(side.id)), "drop rows")
    # Page rows (layout 1) have no range read: probe them in batches; pages written in
    # parallel leave gaps of a few pages at most, far less than a probe batch.
    first = 0
    while True:
        keys = tuple(alg.page_key(side.id, n) for n in range(first, first + _PAGE_PROBE))
        rows = side.run(_one(GetMany(keys)), "read pages")
        if not rows:
            return removed
        for key, row in rows.items():
            for entry in row.doc.get(alg.ITEMS, []):
                if "x" in entry:
                    side.run(_one(Delete(id_record_key(side.id, entry["id"]))), "drop a record")
                removed += 1
            side.run(_one(Delete(key)), "drop a page")
        first += _PAGE_PROBE
