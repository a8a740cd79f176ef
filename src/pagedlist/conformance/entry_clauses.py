"""Entry clauses (E*): the entry operations of layout 2, for stores whose ``features`` say
``entries`` (and ``push``), one test per clause (``docs/contract.md``).

An *entry* is a flat JSON object the core writes: ``id`` (str), ``ts`` (int), and some of
``v`` (str, the value's JSON text), ``d`` (1: deleted), ``e`` (int: edit time), ``x`` (1:
the id has a record). A store keeps entries exactly as written, one row per position in
the list's own collection, and never lets one list's rows be read as another's.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from pagedlist.conformance.capabilities import clause, requires
from pagedlist.conformance.store_clauses import THREADS, race
from pagedlist.core.entries import merge_answer
from pagedlist.core.ops import Claimed, Merged, Pushed, Scan, Taken
from pagedlist.errors import ItemTooLarge

__all__ = ["AbstractEntryTests", "slot"]


def slot(item_id: str, v: str = '"x"', **extra: Any) -> dict[str, Any]:
    """An entry shaped like the core's."""
    return {"id": item_id, "ts": 1_700_000_000_000, "v": v, **extra}


def _ids(store: Any, list_id: str, **kw: Any) -> list[tuple[int, str]]:
    return [(p, e["id"]) for p, e in store.scan(list_id, kw.pop("lo", 0), None, 10**6, **kw)]


class AbstractEntryTests:
    """The entry layer of the contract."""

    # --- E1: claims ----------------------------------------------------------------------

    @requires("entries")
    @clause("E1")
    def test_claim_creates_free_positions_all_or_nothing(self, store, list_id):
        """E1: claim of free positions writes them all (Claimed); a claim reaching a taken
        position writes nothing and answers Taken with the lowest taken position and its
        entry, exactly as stored."""
        assert store.claim(list_id, 0, [slot("a"), slot("b")]) == Claimed()
        assert store.claim(list_id, 2, [slot("c")]) == Claimed()
        taken = store.claim(list_id, 1, [slot("x"), slot("y"), slot("z")])
        assert taken == Taken(1, slot("b"))
        assert _ids(store, list_id) == [(0, "a"), (1, "b"), (2, "c")]
        assert store.claim(list_id, 2, [slot("c")]) == Taken(2, slot("c"))  # a repeat

    @requires("entries")
    @clause("E2")
    def test_claim_batch_of_claim_entries(self, store, list_id):
        """E2: one claim takes up to ``features.claim_entries`` entries atomically, in
        order, and a racing claim of an overlapping range either wins whole or loses whole."""
        k = min(store.features.claim_entries, 25)
        assert store.claim(list_id, 0, [slot(f"a{i}") for i in range(k)]) == Claimed()
        assert _ids(store, list_id) == [(i, f"a{i}") for i in range(k)]
        results = race(
            THREADS, lambda t: store.claim(list_id, k, [slot(f"t{t}-{i}") for i in range(k)])
        )
        winners = [t for t, r in enumerate(results) if r == Claimed()]
        assert len(winners) == 1
        assert all(isinstance(r, Taken) and r.position == k for r in results if r != Claimed())
        assert _ids(store, list_id, lo=k) == [(k + i, f"t{winners[0]}-{i}") for i in range(k)]

    @requires("entries")
    @clause("E3")
    def test_racing_claims_of_one_position(self, make_store, list_id):
        """E3: N clients claiming the same position: exactly one Claimed, the others Taken
        with the winner's entry."""
        clients = [make_store() for _ in range(THREADS)]
        results = race(THREADS, lambda i: clients[i].claim(list_id, 0, [slot(f"w{i}")]))
        winners = [i for i, r in enumerate(results) if r == Claimed()]
        assert len(winners) == 1
        for r in results:
            if r != Claimed():
                assert r == Taken(0, slot(f"w{winners[0]}"))

    # --- E4: scans -------------------------------------------------------------------------

    @requires("entries")
    @clause("E4")
    def test_scan_ranges_order_and_limits(self, store, list_id):
        """E4: scan returns rows with lo <= position < hi in position order (descending
        with newest_first), at most limit; a huge limit returns only what exists."""
        for i in range(10):
            assert store.claim(list_id, i, [slot(f"i{i}")]) == Claimed()
        scan = store.scan
        assert [p for p, _ in scan(list_id, 0, None, 100)] == list(range(10))
        assert [p for p, _ in scan(list_id, 0, None, 3, True)] == [9, 8, 7]
        assert [p for p, _ in scan(list_id, 2, 6, 100)] == [2, 3, 4, 5]
        assert [p for p, _ in scan(list_id, 2, 6, 2, True)] == [5, 4]
        assert [p for p, _ in scan(list_id, 4, 5, 10**9)] == [4]
        assert scan(list_id, 10, None, 5) == () and scan(list_id, 3, 3, 5) == ()
        assert scan(list_id, 0, None, 10**9, True)[0] == (9, slot("i9"))
        assert scan(list_id + "-none", 0, None, 5) == ()

    @requires("entries")
    @clause("E5")
    def test_lists_never_see_each_other(self, store, list_id):
        """E5: entry rows belong to one list: lists whose ids share a prefix ("L", "L.a",
        "L:a", "L-a", "La") never see each other's rows, nor rows of other row keys."""
        names = [list_id, f"{list_id}.a", f"{list_id}:a", f"{list_id}-a", f"{list_id}a"]
        for n, name in enumerate(names):
            assert store.claim(name, 0, [slot(f"{n}-{i}") for i in range(1)]) == Claimed()
            assert store.claim(name, 1, [slot(f"{n}-1")]) == Claimed()
        store.put_if_absent(f"{list_id}|0", {"items": []})
        for n, name in enumerate(names):
            assert _ids(store, name) == [(0, f"{n}-0"), (1, f"{n}-1")]
            assert [p for p, _ in store.scan(name, 0, None, 9, True)] == [1, 0]

    @requires("entries")
    @clause("E6")
    def test_scan_many_in_order(self, store, list_id):
        """E6: scan_many answers one tuple per scan, in request order, each as scan would."""
        a, b = f"{list_id}-a", f"{list_id}-b"
        for i in range(3):
            store.claim(a, i, [slot(f"a{i}")])
            store.claim(b, i, [slot(f"b{i}")])
        scans = (Scan(b, 0, None, 2, True), Scan(a, 1, None, 5), Scan(f"{list_id}-c", 0, None, 5))
        got = store.scan_many(scans)
        assert isinstance(got, tuple) and len(got) == 3
        assert [[e["id"] for _, e in rows] for rows in got] == [["b2", "b1"], ["a1", "a2"], []]

    # --- E7: entry rows by position ----------------------------------------------------------

    @requires("entries")
    @clause("E7")
    def test_get_and_replace_entry(self, store, list_id):
        """E7: get_entry returns the entry and a version; replace_entry with that version
        writes and returns a new one; a stale version or a missing row answers None and
        writes nothing (replace_entry never creates a row)."""
        assert store.get_entry(list_id, 0) is None
        store.claim(list_id, 0, [slot("a", '"one"')])
        row = store.get_entry(list_id, 0)
        assert row is not None and row.doc == slot("a", '"one"')
        edited = {"id": "a", "ts": 1_700_000_000_000, "v": '"two"', "e": 1_700_000_000_500}
        new = store.replace_entry(list_id, 0, edited, row.version)
        assert isinstance(new, str) and new != row.version
        assert store.get_entry(list_id, 0).doc == edited
        assert store.replace_entry(list_id, 0, slot("a", '"three"'), row.version) is None
        tomb = {"id": "a", "ts": 1_700_000_000_000, "d": 1}
        assert store.replace_entry(list_id, 0, tomb, new) is not None
        assert store.scan(list_id, 0, None, 5) == ((0, tomb),)
        assert store.replace_entry(list_id, 1, slot("b"), new) is None
        assert store.get_entry(list_id, 1) is None

    @requires("entries")
    @clause("E8")
    def test_racing_replace_entry_has_one_winner(self, make_store, list_id):
        """E8: N clients replacing one entry row with the same version: exactly one wins."""
        clients = [make_store() for _ in range(THREADS)]
        clients[0].claim(list_id, 0, [slot("a")])
        version = clients[0].get_entry(list_id, 0).version
        results = race(
            THREADS,
            lambda i: clients[i].replace_entry(list_id, 0, slot("a", f'"{i}"'), version),
        )
        winners = [i for i, r in enumerate(results) if r is not None]
        assert len(winners) == 1
        assert clients[0].get_entry(list_id, 0).doc == slot("a", f'"{winners[0]}"')

    @requires("entries")
    @clause("E9")
    def test_purge_and_drop(self, store, list_id):
        """E9: purge removes every row below a position (idempotent, others untouched);
        drop_entries removes every row of the list and nothing of other lists."""
        for i in range(6):
            store.claim(list_id, i, [slot(f"i{i}")])
        store.claim(f"{list_id}-other", 0, [slot("o")])
        store.purge(list_id, 4)
        store.purge(list_id, 4)
        assert _ids(store, list_id) == [(4, "i4"), (5, "i5")]
        assert store.get_entry(list_id, 1) is None
        store.drop_entries(list_id)
        store.drop_entries(list_id)
        assert store.scan(list_id, 0, None, 10) == ()
        assert _ids(store, f"{list_id}-other") == [(0, "o")]

    @requires("entries")
    @clause("E10")
    def test_entry_over_the_row_limit(self, store, list_id):
        """E10: an entry row over the store's row limit raises ItemTooLarge and writes
        nothing; one well inside it is stored exactly."""
        limit = store.limits.row_bytes
        if limit is None:
            pytest.skip("the store declares no row limit")
        big = '"' + "x" * (limit + 10) + '"'
        with pytest.raises(ItemTooLarge):
            store.claim(list_id, 0, [slot("big", big)])
        assert store.scan(list_id, 0, None, 5) == ()
        fits = '"' + "é" * ((limit - store.limits.row_overhead - 400) // 4) + '"'
        assert store.claim(list_id, 0, [slot("fits", fits)]) == Claimed()
        assert store.get_entry(list_id, 0).doc == slot("fits", fits)

    @requires("entries")
    @clause("E11")
    def test_insert_returns_the_existing_row(self, store, key):
        """E11: insert creates a missing row (None) or returns the existing one unchanged."""
        assert store.insert(key("r"), {"id": "x", "p": 3}) is None
        found = store.insert(key("r"), {"id": "y", "p": 4})
        assert found is not None and found.doc == {"id": "x", "p": 3}
        assert found.version == store.get(key("r")).version

    # --- E12: pushes ---------------------------------------------------------------------

    @requires("push")
    @clause("E12")
    def test_push_takes_the_tail_and_finds_known_ids(self, store, list_id):
        """E12: push appends at the tail (0, 1, 2, ...) in one atomic call; an entry whose id
        the list holds answers its first position and is not written again, in the same
        batch too; floor moves the tail up, never down."""
        assert store.push(list_id, [slot("a"), slot("b")]) == Pushed((0, 1))
        assert store.push(list_id, [slot("b", '"again"'), slot("c")]) == Pushed((1, 2))
        assert store.push(list_id, [slot("d"), slot("d")]) == Pushed((3, 3))
        assert store.push(list_id, [slot("e")], 10) == Pushed((10,))
        assert store.push(list_id, [slot("f")], 2) == Pushed((11,))
        got = _ids(store, list_id)
        assert got == [(0, "a"), (1, "b"), (2, "c"), (3, "d"), (10, "e"), (11, "f")]
        assert store.get_entry(list_id, 1).doc == slot("b")
        assert store.find_id(list_id, "c") == 2 and store.find_id(list_id, "zz") is None

    @requires("push")
    @clause("E13")
    def test_racing_pushes_stay_dense(self, make_store, list_id):
        """E13: N clients pushing to one list at once: positions dense from 0, each entry
        once, each client's batch contiguous and in order."""
        clients = [make_store() for _ in range(THREADS)]
        results = race(
            THREADS,
            lambda i: clients[i].push(list_id, [slot(f"c{i}-{j}") for j in range(3)]),
        )
        positions = sorted(p for r in results for p in r.positions)
        assert positions == list(range(3 * THREADS))
        for r in results:
            first = r.positions[0]
            assert r.positions == (first, first + 1, first + 2)
        assert len({e for _, e in _ids(clients[0], list_id)}) == 3 * THREADS

    @requires("push")
    @clause("E14")
    def test_push_after_purge_and_drop(self, store, list_id):
        """E14: purge never lets a push reuse a position; after drop_entries the list starts
        again at 0 and its old ids are forgotten; purged ids are forgotten too."""
        store.push(list_id, [slot(f"i{i}") for i in range(4)])
        store.purge(list_id, 2)
        assert store.push(list_id, [slot("n")]) == Pushed((4,))
        assert store.find_id(list_id, "i0") is None and store.find_id(list_id, "i3") == 3
        assert store.push(list_id, [slot("i0")]) == Pushed((5,))
        store.drop_entries(list_id)
        assert store.push(list_id, [slot("i3")]) == Pushed((0,))

    @requires("push")
    @clause("E15")
    def test_racing_pushes_of_one_id(self, make_store, list_id):
        """E15: N clients pushing the same id at once: it is written once and every client
        is answered its one position."""
        clients = [make_store() for _ in range(THREADS)]
        results = race(THREADS, lambda i: clients[i].push(list_id, [slot("same", f'"{i}"')]))
        assert {r.positions for r in results} == {(0,)}
        assert _ids(clients[0], list_id) == [(0, "same")]

    @requires("push")
    @clause("E16")
    def test_push_steps_over_claimed_positions(self, store, list_id):
        """E16: a push after claims never answers a position another entry occupies (that
        would acknowledge an item the store does not hold): the pushed entry is read back
        at the position answered, and every claimed entry is still there."""
        assert store.push(list_id, [slot("a")]) == Pushed((0,))
        assert store.claim(list_id, 1, [slot("b"), slot("c")]) == Claimed()
        assert store.push(list_id, [slot("d")]) == Pushed((3,))
        assert store.claim(list_id, 7, [slot("e")]) == Claimed()
        (pos,) = store.push(list_id, [slot("f")]).positions
        assert pos not in (0, 1, 2, 3, 7)
        assert store.get_entry(list_id, pos).doc == slot("f")
        got = dict(_ids(store, list_id))
        assert got == {0: "a", 1: "b", 2: "c", 3: "d", 7: "e", pos: "f"}

    # --- E17: merged scans -------------------------------------------------------------------

    # Only where the store merges on its side: elsewhere merge_scan is merge_answer of the
    # store's own scan_many, the comparison below with itself, and the core never calls it.
    @requires("merge")
    @clause("E17")
    def test_merge_scan_is_the_reference_merge(self, store, list_id):
        """E17: merge_scan answers what the reference merge (``merge_answer``) makes of
        scan_many's rows: each list's gap-free run, tombstones dropped, rows of lists in
        ``fresh`` only below ``last``, merged by (ts, list id, position) with each list in
        position order, and only the first n picks shipped, with every list's live count
        and where it goes on below. Timestamps repeat across lists and go back in time
        within one; one list has a gap, one only tombstones, one no rows at all."""
        rng = random.Random(17)
        names = [f"{list_id}-{c}" for c in "abcdef"]
        shapes = {names[0]: 30, names[1]: 12, names[2]: 25, names[3]: 6, names[4]: 40}
        for name, size in shapes.items():
            for pos in range(size):
                if name == names[2] and pos == 20:
                    continue  # a gap: rows 21.. stand above a position nobody wrote
                dead = name == names[3] or rng.random() < 0.15
                ts = 1_700_000_000_000 + rng.randrange(0, 8) + pos // 3
                extra: dict[str, Any] = {"d": 1} if dead else {}
                assert store.claim(name, pos, [{**slot(f"{name}{pos}"), "ts": ts, **extra}])
        for n, lo, hi, limit in (
            (1, 0, None, 1),
            (7, 0, None, 7),
            (20, 3, None, 20),
            (50, 0, None, 50),
            (10, 0, 18, 10),
            (60, 0, None, 8),
        ):
            scans = tuple(Scan(name, lo, hi, limit, True) for name in names)
            for fresh, last in (
                ((), None),
                ((names[1], names[4]), (1_700_000_000_005, names[2], 9)),
                (tuple(names), (1_700_000_000_003, names[0], 5)),
            ):
                got = store.merge_scan(scans, n, fresh, last)
                want = merge_answer(scans, store.scan_many(scans), n, fresh, last)
                assert isinstance(got, tuple) and all(isinstance(m, Merged) for m in got)
                assert got == want, (n, lo, hi, limit, fresh, last)
        one = (Scan(names[0], 0, None, 5, True),)
        assert store.merge_scan(one, 3) == merge_answer(one, store.scan_many(one), 3)
        assert store.merge_scan((), 5) == ()
