"""Lifecycle clauses (D*): delete, replace, find, trim, retention, drop and imports with
ids and times, through ``PagedList`` on the store under test (``docs/contract.md``).

Layout-2 clauses (delete, replace, trim) run where the store has entry rows; on layout 1
they check that the operation is refused with ``Unsupported`` naming the fix.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from pagedlist.conformance.capabilities import clause, requires
from pagedlist.conformance.history import snapshot
from pagedlist.conformance.store_clauses import THREADS, race
from pagedlist.core.counting import CountingStore
from pagedlist.core.pagedlist import PagedList
from pagedlist.errors import (
    InvalidArgument,
    InvalidValue,
    ItemNotFound,
    ItemTooLarge,
    Unsupported,
)

__all__ = ["AbstractLifecycleTests"]


def _values(plist: PagedList) -> list:
    return [i.value for i in plist.iter()]


class AbstractLifecycleTests:
    """Item lifecycle and data mobility."""

    @requires("layout2")
    @clause("D1")
    def test_delete_leaves_a_tombstone(self, store, list_id):
        """D1: a deleted item is skipped by every read, get returns None, count and every
        other position stay; its value is gone from the row; deleting again is a no-op."""
        plist = PagedList.create(store, list_id, capacity=3)
        plist.extend([f"v{i}" for i in range(8)])
        assert plist.delete(6) is True and plist.delete(6) is False
        assert plist.get(6) is None and plist.count() == 8
        assert [i.value for i in plist.latest(3)] == ["v7", "v5", "v4"]
        assert [i.position for i in plist.before(8, 3)] == [7, 5, 4]
        assert [i.position for i in plist.after(4, 3)] == [5, 7]
        assert _values(plist) == [f"v{i}" for i in range(8) if i != 6]
        row = store.get_entry(list_id, 6)
        assert "v6" not in str(row.doc) and "v" not in row.doc
        with pytest.raises(ItemNotFound):
            plist.delete(8)

    @requires("layout2")
    @clause("D2")
    def test_replace_keeps_position_and_id(self, store, list_id):
        """D2: replace gives a new value at the same position with the same id and marks
        the item edited; a deleted or missing position raises ItemNotFound; a value over
        max_item_bytes raises ItemTooLarge and a non-JSON one InvalidValue, writing
        nothing."""
        plist = PagedList.create(store, list_id, max_item_bytes=50)
        plist.extend(["a", "b", "c"])
        before = plist.get(1)
        after = plist.replace(1, {"fixed": "B"})
        assert (after.position, after.id, after.value) == (1, before.id, {"fixed": "B"})
        assert after.edited is not None and after.edited >= before.ts
        assert plist.get(1) == after and plist.get(0).edited is None
        plist.delete(2)
        with pytest.raises(ItemNotFound):
            plist.replace(2, "x")
        with pytest.raises(ItemNotFound):
            plist.replace(3, "x")
        with pytest.raises(ItemTooLarge):
            plist.replace(0, "x" * 60)
        with pytest.raises(InvalidValue):
            plist.replace(0, {1, 2})
        assert plist.get(0).value == "a"

    @clause("D3")
    def test_find_after_page_rolls(self, store, list_id):
        """D3: find(id) returns the live item appended with that id, pages later, in at most
        two store calls; None for an unknown id (and for a deleted one, layout 2)."""
        counting = CountingStore(store)
        plist = PagedList.create(counting, list_id, capacity=2)
        plist.append("mine", id="req-1")
        plist.extend(range(9))
        counting.reset()
        found = plist.find("req-1")
        assert (found.position, found.value) == (0, "mine")
        assert counting.total <= 2, dict(counting.calls)
        assert plist.find("nobody") is None
        if plist.layout == 2:
            plist.delete(0)
            assert plist.find("req-1") is None

    @requires("layout2")
    @clause("D4")
    def test_trim_drops_items_below(self, store, list_id):
        """D4: trim(before=p) drops every item below p: reads below return nothing, first()
        is p, positions and count stay, appends go on; trimming lower is a no-op and past
        the end an InvalidArgument."""
        plist = PagedList.create(store, list_id, capacity=4)
        plist.extend(range(10))
        assert plist.trim(before=6) == 6 and plist.first() == 6
        assert _values(plist) == [6, 7, 8, 9]
        assert plist.get(3) is None and plist.count() == 10
        assert [i.value for i in plist.before(8, 10)] == [7, 6]
        assert [i.value for i in plist.after(-1, 3)] == [6, 7, 8]
        assert plist.append("next") == 10
        assert plist.trim(before=2) == 6
        with pytest.raises(InvalidArgument):
            plist.trim(before=12)
        with pytest.raises(ItemNotFound):
            plist.delete(3)

    @requires("layout2")
    @clause("D5")
    def test_retention_by_count_and_age(self, store, list_id):
        """D5: max_items and max_age are applied by appends (at most once per page), never
        by readers: the oldest items go, the newest stay."""
        plist = PagedList.create(store, list_id, capacity=5, max_items=10)
        for i in range(31):
            plist.append(i)
        first = plist.first()
        assert 31 - 10 - 5 <= first <= 31 - 10
        assert _values(plist)[-10:] == list(range(21, 31))
        aged = PagedList.create(store, f"{list_id}-age", capacity=5, max_age=3600)
        old = time.time() - 7200
        aged.extend(range(12), ts=[old] * 12)
        aged.extend(range(100, 106))
        assert aged.first() >= 10
        assert [v for v in _values(aged) if v >= 100] == list(range(100, 106))

    @clause("D6")
    def test_drop_removes_every_row(self, store, list_id):
        """D6: drop removes the list and all its rows (summary, pages or entry rows, id
        records), idempotently; other lists keep theirs; the id can be created anew."""
        plist = PagedList.create(store, list_id, capacity=2)
        plist.extend(range(7))
        plist.append("mine", id="req")
        keep = PagedList.create(store, f"{list_id}-keep", capacity=2)
        keep.append("stays", id="req")
        assert PagedList.drop(store, list_id) is True
        assert PagedList.drop(store, list_id) is False
        assert store.get(f"{list_id}|s") is None
        assert all(store.get(f"{list_id}|{p}") is None for p in range(5))
        from pagedlist.core.values import id_record_key

        assert store.get(id_record_key(list_id, "req")) is None
        if store.features.entries:
            assert store.scan(list_id, 0, None, 100) == ()
        assert _values(keep) == ["stays"]
        again = PagedList.create(store, list_id, capacity=2)
        assert again.count() == 0 and again.append("new", id="req") == 0

    @requires("layout2")
    @clause("D7")
    def test_deletes_and_edits_racing_appends(self, make_store, list_id):
        """D7: 8 clients append, delete and edit on one list at once: nothing acknowledged
        is lost, no tombstone comes back to life, every edit that returned is there or
        overwritten by a later one, positions stay dense."""
        PagedList.create(make_store(), list_id, capacity=3).extend(range(24))
        deleted: set[int] = set()
        lock = threading.Lock()
        appended: list[tuple[int, str]] = []

        def client(c: int) -> None:
            plist = PagedList.open(make_store(), list_id)
            for k in range(6):
                pos = plist.append(f"a{c}-{k}", id=f"a{c}-{k}")
                with lock:
                    appended.append((pos, f"a{c}-{k}"))
                victim = (c * 3 + k) % 24
                if c % 2:
                    plist.delete(victim)
                    with lock:
                        deleted.add(victim)
                else:
                    # Deleted by another client first: never resurrected.
                    with contextlib.suppress(ItemNotFound):
                        plist.replace(victim, {"edit": c})

        race(THREADS, client)
        plist = PagedList.open(make_store(), list_id)
        items = {i.position: i for i in plist.iter()}
        for pos in deleted:
            assert pos not in items and plist.get(pos) is None
        for pos, item_id in appended:
            assert items[pos].id == item_id
        snap = snapshot(make_store(), list_id)
        assert sorted(snap.entries) == list(range(24 + 6 * THREADS))

    @requires("layout2")
    @clause("D8")
    def test_trim_racing_appends(self, make_store, list_id):
        """D8: trims racing 8 appending clients: every append acknowledged at or above the
        final start is there exactly once; none lands below the start."""
        PagedList.create(make_store(), list_id, capacity=4)
        told: list[tuple[int, str]] = []
        lock = threading.Lock()

        def client(c: int) -> None:
            plist = PagedList.open(make_store(), list_id)
            for k in range(8):
                pos = plist.append(k, id=f"c{c}-{k}")
                with lock:
                    told.append((pos, f"c{c}-{k}"))
                if c == 0 and k % 2:
                    plist.trim(before=max(0, pos - 4))

        race(THREADS, client)
        plist = PagedList.open(make_store(), list_id)
        start = plist.first()
        items = {i.position: i.id for i in plist.iter()}
        assert all(p >= start for p in items)
        for pos, item_id in told:
            if pos >= start:
                assert items.get(pos) == item_id
        assert len(set(items.values())) == len(items)

    @clause("D9")
    def test_imports_keep_ids_and_times(self, store, list_id):
        """D9: append(ts=) and extend(ids=, ts=) keep an imported item's id and time; a
        repeated import writes nothing new; mismatched lengths raise InvalidArgument."""
        plist = PagedList.create(store, list_id, capacity=3)
        ids = [f"imp-{i}" for i in range(5)]
        times = [1_600_000_000.0 + i for i in range(5)]
        assert plist.extend(range(5), ids=ids, ts=times) == [0, 1, 2, 3, 4]
        assert plist.append("late", id="imp-late", ts=1_500_000_000.5) == 5
        got = list(plist.iter())
        assert [(i.id, i.ts) for i in got[:5]] == list(zip(ids, times, strict=True))
        assert got[5].ts == 1_500_000_000.5
        assert plist.extend(range(5), ids=ids, ts=times) == [0, 1, 2, 3, 4]
        assert plist.count() == 6
        with pytest.raises(InvalidArgument):
            plist.extend([1, 2], ids=["only-one"])
        with pytest.raises(InvalidArgument):
            plist.append(1, ts=-5)

    @requires("layout1")
    @clause("D10")
    def test_layout_one_refuses_edits_with_the_fix(self, store, list_id):
        """D10: on a layout-1 list delete, replace and trim raise Unsupported naming the
        fix (copy to a store with entry rows); find and drop work."""
        plist = PagedList.create(store, list_id, capacity=2)
        plist.append("x", id="k")
        for call in (lambda: plist.delete(0), lambda: plist.replace(0, "y"),
                     lambda: plist.trim(before=1)):  # fmt: skip
            with pytest.raises(Unsupported, match="pagedlist copy"):
                call()
        assert plist.find("k").value == "x"
        assert PagedList.drop(store, list_id) is True
