"""Item lifecycle, sans-IO: delete, replace, find, trim and drop.

Generators like those of :mod:`pagedlist.core.entries`. Deletes and edits rewrite one
entry row in place with the store's compare-and-swap on the row version
(``ReplaceEntry``): appends only ever create rows, so edits, deletes and appends on one list
never lose each other's work, and a failed swap is re-read and tried again.

* A deleted item becomes a *tombstone* ``{"id", "ts", "d": 1}``: its value is gone from the
  store, its position and id stay (positions never move; an append repeating its id still
  finds it). Reads skip tombstones.
* An edit keeps the id and the append time and adds ``"e"``: the edit time.
* ``trim(before=p)`` moves the summary's retained ``start`` up to ``p`` (a compare-and-swap,
  never down) and removes the rows below it. On stores that resolve the tail themselves
  (``push``) the rows go at once. On claim stores a writer's hint (every position below it
  taken) may be up to ``HINT_TTL`` seconds old, so rows are removed only once the trim is
  ``PURGE_GRACE`` old: the summary keeps the pending purge (``purge: [below, due_ms]``) and
  the next trim or retention check past its due time carries it out. Readers hide items
  below the start they know right away.
* Items that were appended with a caller id on claim stores (marked ``"x": 1``) have a
  record; trimming or dropping them removes the record too.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

from pagedlist.core import entries as ent
from pagedlist.core.algorithms import Settings
from pagedlist.core.ops import (
    Delete,
    DropEntries,
    FindId,
    Get,
    GetEntry,
    JSONDoc,
    Operation,
    Purge,
    Replace,
    ReplaceEntry,
    Row,
    Scan,
)
from pagedlist.core.values import id_record_key, summary_key
from pagedlist.errors import ContractViolation, ItemNotFound, ListNotFound

__all__ = ["PURGE_GRACE_MS", "delete", "drop", "find", "find_layout1", "replace", "trim"]

Step = Generator[Operation, Any, Any]
T = TypeVar("T")
Plan = Generator[Operation, Any, T]

#: Claim stores: how long trimmed rows stay before they are removed (milliseconds). Far
#: longer than a writer's hint may be old (``HINT_TTL``) plus an operation's deadline, so no
#: writer can claim a position that a purge already emptied.
PURGE_GRACE_MS = 10 * 60 * 1000
#: Rows read per call while a trim or drop looks for the records of caller ids.
_BATCH = 500


def _missing(list_id: str, position: int, why: str) -> ItemNotFound:
    return ItemNotFound(f"list {list_id!r} has no item at position {position}: {why}")


def _live_row(list_id: str, start: int, position: int) -> Plan[Row]:
    """The entry row at ``position``, or ``ItemNotFound`` naming why there is none."""
    if position < start:
        raise _missing(list_id, position, f"it is below the retained start {start} (trimmed)")
    row: Row | None = yield GetEntry(list_id, position)
    if row is None:
        newest = yield from ent.newest_position(list_id, 0)
        if newest is None or position > newest:
            raise _missing(
                list_id, position, f"the list holds {0 if newest is None else newest + 1} positions"
            )
        raise _missing(list_id, position, "it was trimmed")
    return row


def delete(list_id: str, start: int, position: int) -> Plan[bool]:
    """Make the item at ``position`` a tombstone (idempotent). Returns ``True`` if this
    call deleted it, ``False`` if it was deleted already."""
    while True:
        row = yield from _live_row(list_id, start, position)
        if not ent.is_live(row.doc):
            return False
        tomb = {"id": row.doc["id"], "ts": row.doc["ts"], "d": 1}
        if "x" in row.doc:
            tomb["x"] = 1
        if (yield ReplaceEntry(list_id, position, tomb, row.version)) is not None:
            return True
        # Changed meanwhile (an edit, another delete, or our own write whose answer was
        # lost): read it again; a tombstone then means done.


def replace(
    list_id: str, start: int, position: int, text: str, now_ms: int
) -> Plan[JSONDoc]:
    """Give the live item at ``position`` the value text ``text``; same id and append time,
    edit time ``now_ms``. Returns the new entry. ``ItemNotFound`` if there is no live item."""
    while True:
        row = yield from _live_row(list_id, start, position)
        if not ent.is_live(row.doc):
            raise _missing(list_id, position, "it was deleted")
        new: JSONDoc = {"id": row.doc["id"], "ts": row.doc["ts"], "v": text, "e": now_ms}
        if "x" in row.doc:
            new["x"] = 1
        if row.doc == new:
            return new
        if (yield ReplaceEntry(list_id, position, new, row.version)) is not None:
            return new
        # Changed meanwhile: read again. If our own swap committed and its answer was
        # lost, the row now equals ``new`` and the loop ends above.


def find_layout1(list_id: str, capacity: int, item_id: str) -> Plan[tuple[int, JSONDoc] | None]:
    """Layout 1: the slot of the item appended with caller id ``item_id``, or ``None``:
    the id's record names its page, one more read finds it there."""
    from pagedlist.core import algorithms as alg

    rec = yield Get(id_record_key(list_id, item_id))
    if rec is None or rec.doc.get("id") != item_id or not isinstance(rec.doc.get("p"), int):
        return None
    page = rec.doc["p"]
    row = yield Get(alg.page_key(list_id, page))
    for index, entry in enumerate([] if row is None else row.doc.get(alg.ITEMS, [])):
        if entry.get("id") == item_id:
            return (page * capacity + index, entry) if ent.is_live(entry) else None
    return None


def find(
    list_id: str, start: int, item_id: str, *, push: bool
) -> Plan[tuple[int, JSONDoc] | None]:
    """The live slot whose id is ``item_id``, or ``None``: two reads at most.

    Push stores look the id up in their index; claim stores read the id's record (items
    appended with a caller id have one; ids pagedlist generated on claim stores do not).
    """
    if push:
        position = yield FindId(list_id, item_id)
    else:
        rec = yield Get(id_record_key(list_id, item_id))
        position = None if rec is None or rec.doc.get("id") != item_id else rec.doc.get("p")
    if not isinstance(position, int) or position < start:
        return None
    row = yield GetEntry(list_id, position)
    if row is None or row.doc.get("id") != item_id or not ent.is_live(row.doc):
        return None
    return position, row.doc


def trim(list_id: str, before: int, *, push: bool, now_ms: int) -> Plan[Settings]:
    """Drop every item below ``before``: the retained start moves up (never down) and the
    rows below it are removed (at once on push stores; after ``PURGE_GRACE_MS`` on claim
    stores). Returns the new ``Settings``."""
    skey = summary_key(list_id)
    while True:
        row = yield Get(skey)
        if row is None:
            raise ListNotFound(f"list {list_id!r} does not exist in this store")
        settings = Settings.from_doc(list_id, row.doc)
        doc = dict(row.doc)
        start = max(settings.start, before)
        pending: list[int] | None = doc.get("purge")
        due = pending is not None and pending[1] <= now_ms
        if start == settings.start and not due:
            return settings
        if push:
            doc["start"], doc["purge"] = start, None
        else:
            below = start if pending is None else max(pending[0], start)
            if due and pending is not None:
                # The old pending purge is due: carry it out now; a newer start waits.
                yield from _forget_records(list_id, 0, pending[0])
                yield Purge(list_id, pending[0])
                later = start > pending[0]
                doc["purge"] = [start, now_ms + PURGE_GRACE_MS] if later else None
            else:
                doc["purge"] = [below, now_ms + PURGE_GRACE_MS]
            doc["start"] = start
        if (yield Replace(skey, doc, row.version)) is None:
            continue  # another trim or a concurrent change: read again, merge, retry
        if push:
            yield Purge(list_id, start)
        return Settings.from_doc(list_id, doc)


def _forget_records(list_id: str, lo: int, hi: int) -> Plan[None]:
    """Delete the id records of the items in ``[lo, hi)`` that have one (``"x"``)."""
    while lo < hi:
        slots = yield Scan(list_id, lo, hi, _BATCH, False)
        for _, entry in slots:
            if "x" in entry:
                yield Delete(id_record_key(list_id, entry["id"]))
        if len(slots) < _BATCH:
            return
        lo = slots[-1][0] + 1


def drop(list_id: str, *, entries: bool) -> Plan[bool]:
    """Remove the whole list, every row of it; idempotent and resumable (the summary goes
    last, so a call that died half way is finished by the next one). Returns whether the
    list existed."""
    from pagedlist.core import algorithms as alg

    skey = summary_key(list_id)
    row = yield Get(skey)
    if row is None:
        if entries:
            yield DropEntries(list_id)
        return False
    settings = Settings.from_doc(list_id, row.doc)
    if settings.layout == ent.FORMAT:
        yield from _forget_records(list_id, 0, 2**62)
        yield DropEntries(list_id)
    else:
        head = int(row.doc.get(alg.HEAD, 0))
        for page in range(head + 1):
            key = alg.page_key(list_id, page)
            got = yield Get(key)
            for entry in [] if got is None else got.doc.get(alg.ITEMS, []):
                if "x" in entry:
                    yield Delete(id_record_key(list_id, entry["id"]))
            yield Delete(key)
    yield Delete(skey)
    return True


def check_summary(list_id: str, doc: Any) -> None:
    """Raise ``ContractViolation`` for a summary this module cannot trim."""
    purge = doc.get("purge")
    if purge is not None and not (
        isinstance(purge, list) and len(purge) == 2 and all(isinstance(v, int) for v in purge)
    ):
        raise ContractViolation(f"summary of {list_id!r} has a malformed purge {purge!r}")
