"""Store clauses: each primitive's semantics, edge cases and races (``docs/contract.md``).

S = rows (put_if_absent, replace, get, delete), A = append, I = increment,
G = get_many, L = limits. Every test cites its clause in its marker and docstring.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from pagedlist.conformance.capabilities import clause, requires
from pagedlist.conformance.proxy import FaultProxies
from pagedlist.core.ops import Appended, Duplicate, Full
from pagedlist.core.store import Store
from pagedlist.errors import (
    ConfigError,
    DeadlineExceeded,
    InvalidValue,
    ItemTooLarge,
    StoreUnavailable,
    UsageError,
)

__all__ = ["AbstractStoreTests", "race"]

THREADS = 8


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` in ``n`` threads released together; return results in thread order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as err:  # re-raised in the caller's thread
            errors.append(err)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def entry(item_id: str, v: str = "x") -> dict[str, Any]:
    """An append entry shaped like the core's envelopes."""
    return {"id": item_id, "ts": 1_700_000_000_000, "v": v}


def _ids(store: Store, key: str, field: str = "items") -> list[str]:
    row = store.get(key)
    return [] if row is None else [e["id"] for e in row.doc.get(field, [])]


SAMPLE_DOC = {
    "s": "plain",
    "empty": "",
    "unicode": "héllo wörld ✓ 漢字 🚀 \u0000\x7f",
    "quotes": "it's \"quoted\" \\ back\\slash\n\ttab",
    "int": 42,
    "neg": -7,
    "zero": 0,
    "big": 2**53 - 1,  # the largest integer every backend keeps exactly
    "t": True,
    "f": False,
    "none": None,
    "list": [1, "two", [3], {"four": 4}, [], {}],
    "nested": {"a": {"b": {"c": ["d"]}}, "empty_map": {}, "empty_list": []},
}


class AbstractStoreTests:
    """The store layer of the contract, one test per clause."""

    # --- S: rows --------------------------------------------------------------------

    @clause("S1")
    def test_put_if_absent_creates_missing_row(self, store, key):
        """S1: put_if_absent on a missing key creates it and returns True."""
        assert store.put_if_absent(key("a"), {"x": 1}) is True
        row = store.get(key("a"))
        assert row is not None and row.doc == {"x": 1}

    @clause("S2")
    def test_put_if_absent_keeps_existing_row(self, store, key):
        """S2: put_if_absent on an existing key returns False and changes nothing."""
        assert store.put_if_absent(key("a"), {"x": 1}) is True
        assert store.put_if_absent(key("a"), {"x": 2}) is False
        assert store.get(key("a")).doc == {"x": 1}

    @clause("S3")
    def test_get_missing_row(self, store, key):
        """S3: get of a missing key returns None."""
        assert store.get(key("nothing")) is None

    @clause("S4")
    def test_replace_with_current_version(self, store, key):
        """S4: replace with the current version writes and returns a new version."""
        store.put_if_absent(key("a"), {"x": 1})
        first = store.get(key("a"))
        new_version = store.replace(key("a"), {"x": 2}, first.version)
        assert isinstance(new_version, str) and new_version != first.version
        second = store.get(key("a"))
        assert second.doc == {"x": 2} and second.version == new_version

    @clause("S5")
    def test_replace_with_stale_version(self, store, key):
        """S5: replace with a stale version returns None and changes nothing."""
        store.put_if_absent(key("a"), {"x": 1})
        stale = store.get(key("a")).version
        assert store.replace(key("a"), {"x": 2}, stale) is not None
        assert store.replace(key("a"), {"x": 3}, stale) is None
        assert store.get(key("a")).doc == {"x": 2}

    @clause("S6")
    def test_replace_missing_row(self, store, key):
        """S6: replace of a missing row returns None and creates nothing."""
        store.put_if_absent(key("a"), {"x": 1})
        version = store.get(key("a")).version
        assert store.replace(key("b"), {"x": 2}, version) is None
        assert store.get(key("b")) is None

    @clause("S7")
    def test_delete(self, store, key):
        """S7: delete removes a row; deleting a missing row is not an error."""
        store.put_if_absent(key("a"), {"x": 1})
        store.delete(key("a"))
        assert store.get(key("a")) is None
        store.delete(key("a"))
        assert store.put_if_absent(key("a"), {"x": 2}) is True

    @clause("S8")
    def test_documents_round_trip_exactly(self, store, key):
        """S8: documents come back equal with the same types (int stays int, "" stays "")."""
        store.put_if_absent(key("doc"), SAMPLE_DOC)
        got = store.get(key("doc")).doc
        assert got == SAMPLE_DOC
        assert repr(got["big"]) == repr(SAMPLE_DOC["big"])
        assert type(got["int"]) is int and type(got["t"]) is bool and got["none"] is None

    @clause("S9")
    def test_unicode_and_punctuation_in_keys(self, store, key):
        """S9: keys use letters, digits and . _ - : | and values any Unicode."""
        k = key("Az09._-:|x")
        assert store.put_if_absent(k, {"v": "ü漢🚀"}) is True
        assert store.get(k).doc == {"v": "ü漢🚀"}
        assert store.get_many([k])[k].doc == {"v": "ü漢🚀"}

    @clause("S10")
    def test_racing_put_if_absent_has_one_winner(self, make_store, key):
        """S10: N clients racing put_if_absent on one key: exactly one wins."""
        clients = [make_store() for _ in range(THREADS)]
        results = race(THREADS, lambda i: clients[i].put_if_absent(key("race"), {"w": i}))
        assert results.count(True) == 1 and results.count(False) == THREADS - 1
        assert clients[0].get(key("race")).doc == {"w": results.index(True)}

    @clause("S11")
    def test_replace_race_has_one_winner(self, make_store, key):
        """S11: N clients replacing with the same version: exactly one wins."""
        clients = [make_store() for _ in range(THREADS)]
        clients[0].put_if_absent(key("cas"), {"w": -1})
        version = clients[0].get(key("cas")).version
        results = race(THREADS, lambda i: clients[i].replace(key("cas"), {"w": i}, version))
        winners = [i for i, r in enumerate(results) if r is not None]
        assert len(winners) == 1
        assert clients[0].get(key("cas")).doc == {"w": winners[0]}

    # --- A: append ------------------------------------------------------------------

    @clause("A1")
    def test_append_creates_row_and_keeps_order(self, store, key):
        """A1: append to a missing row creates it; entries are kept in order."""
        out = store.append(key("p"), "items", [entry("a"), entry("b")], 5)
        assert out == Appended(2)
        assert store.append(key("p"), "items", [entry("c")], 5) == Appended(3)
        assert _ids(store, key("p")) == ["a", "b", "c"]

    @clause("A2")
    def test_append_max_len_boundary(self, store, key):
        """A2: append commits up to exactly max_len; one more is Full(length), unwritten."""
        for i in range(3):
            assert store.append(key("p"), "items", [entry(f"e{i}")], 3) == Appended(i + 1)
        assert store.append(key("p"), "items", [entry("over")], 3) == Full(3)
        assert _ids(store, key("p")) == ["e0", "e1", "e2"]

    @clause("A3")
    def test_duplicate_checked_before_full(self, store, key):
        """A3: append with an id already in the list returns Duplicate with its index, even
        when the list is full; nothing is written."""
        store.append(key("p"), "items", [entry("a"), entry("b")], 2)
        assert store.append(key("p"), "items", [entry("b")], 2) == Duplicate(1, 0)
        assert store.append(key("p"), "items", [entry("a")], 5) == Duplicate(0, 0)
        assert _ids(store, key("p")) == ["a", "b"]

    @clause("A4")
    def test_multi_entry_append_all_or_nothing(self, store, key):
        """A4: a multi-entry append that does not fit is Full with the current length, and
        none of its entries is written."""
        store.append(key("p"), "items", [entry("a")], 3)
        assert store.append(key("p"), "items", [entry("b"), entry("c"), entry("d")], 3) == Full(1)
        assert _ids(store, key("p")) == ["a"]
        assert store.append(key("p"), "items", [entry("b"), entry("c")], 3) == Appended(3)

    @clause("A5")
    def test_duplicate_names_first_present_entry(self, store, key):
        """A5: a batch containing an id already present is Duplicate(index, offset of that
        entry in the request), and none of the batch is written."""
        store.append(key("p"), "items", [entry("a"), entry("b")], 10)
        assert store.append(key("p"), "items", [entry("new"), entry("b")], 10) == Duplicate(1, 1)
        assert _ids(store, key("p")) == ["a", "b"]

    @clause("A6")
    def test_append_keeps_other_fields(self, store, key):
        """A6: append leaves the row's other fields alone, and put-created rows take appends."""
        store.put_if_absent(key("p"), {"owner": "me", "n": 1})
        assert store.append(key("p"), "items", [entry("a")], 2) == Appended(1)
        doc = store.get(key("p")).doc
        assert doc["owner"] == "me" and doc["n"] == 1 and [e["id"] for e in doc["items"]] == ["a"]

    @clause("A7")
    def test_entries_round_trip_exactly(self, store, key):
        """A7: appended entries come back exactly (ids, integer timestamps, value text)."""
        tricky = [
            {"id": "x'\"\\", "ts": 1_700_000_000_123, "v": '{"k":"v\\"q"}'},
            {"id": "ü漢🚀", "ts": 0, "v": ""},
            {"id": "; DROP TABLE x; --", "ts": 2**40, "v": "line\nbreak\ttab \u2028"},
        ]
        assert store.append(key("p"), "items", tricky, 10) == Appended(3)
        assert store.get(key("p")).doc["items"] == tricky

    @clause("A8")
    def test_racing_appends_never_overfill(self, make_store, key):
        """A8: N clients appending to one row with max_len M: exactly M commits, each
        reported length distinct, and the row holds exactly those M entries."""
        clients = [make_store() for _ in range(THREADS)]
        per_thread, cap = 4, 10

        def body(i: int) -> list:
            return [
                clients[i].append(key("p"), "items", [entry(f"t{i}-{j}")], cap)
                for j in range(per_thread)
            ]

        outcomes = [o for batch in race(THREADS, body) for o in batch]
        appended = sorted(o.length for o in outcomes if isinstance(o, Appended))
        assert appended == list(range(1, cap + 1))
        assert all(isinstance(o, Full) and o.length == cap for o in outcomes
                   if not isinstance(o, Appended))
        assert len(set(_ids(clients[0], key("p")))) == cap

    @clause("A9")
    def test_append_retry_finds_own_commit(self, store, key):
        """A9: re-sending an append that committed (its answer lost) finds it as Duplicate."""
        batch = [entry("r1"), entry("r2")]
        assert store.append(key("p"), "items", batch, 4) == Appended(2)
        assert store.append(key("p"), "items", batch, 4) == Duplicate(0, 0)
        assert _ids(store, key("p")) == ["r1", "r2"]

    @clause("A10")
    def test_append_to_a_field_that_is_not_a_list(self, store, key):
        """A10: an append to a field holding text, a number or an object raises InvalidValue
        (the caller's mistake, the same class on every backend) and writes nothing."""
        store.put_if_absent(key("p"), {"text": "x", "n": 5, "obj": {"a": 1}})
        before = store.get(key("p"))
        for name in ("text", "n", "obj"):
            with pytest.raises(InvalidValue) as caught:
                store.append(key("p"), name, [entry("a")], 10)
            assert type(caught.value) is InvalidValue, repr(caught.value)
            assert repr(name) in str(caught.value)
        after = store.get(key("p"))
        assert after.doc == before.doc and after.version == before.version

    @clause("A11")
    def test_append_of_more_entries_than_the_store_takes(self, store, key):
        """A11: an append of more entries than ``limits.append_entries`` raises UsageError
        and writes nothing; a store without that limit takes the batch in one call."""
        limit = store.limits.append_entries
        batch = [entry(f"e{i}") for i in range((limit or 59) + 1)]
        if limit is None:
            assert store.append(key("p"), "items", batch, 1000) == Appended(len(batch))
            return
        with pytest.raises(UsageError) as caught:
            store.append(key("p"), "items", batch, 1000)
        assert type(caught.value) is UsageError, repr(caught.value)
        assert str(limit) in str(caught.value)
        assert store.get(key("p")) is None
        assert store.append(key("p"), "items", batch[:limit], 1000) == Appended(limit)

    # --- I: increment ---------------------------------------------------------------

    @clause("I1")
    def test_increment_missing_counts_as_zero(self, store, key):
        """I1: increment of a missing row or field starts from 0 and creates it."""
        assert store.increment(key("c"), "n", 3) == 3
        store.put_if_absent(key("d"), {"other": "x"})
        assert store.increment(key("d"), "n") == 1
        assert store.get(key("d")).doc == {"other": "x", "n": 1}

    @clause("I2")
    def test_increment_returns_new_value(self, store, key):
        """I2: increment returns the value after adding ``by``."""
        assert [store.increment(key("c"), "n") for _ in range(3)] == [1, 2, 3]
        assert store.increment(key("c"), "n", 10) == 13
        assert store.get(key("c")).doc["n"] == 13

    @clause("I3")
    def test_compare_and_increment(self, store, key):
        """I3: with ``expect`` equal to the value it increments; a stale ``expect`` returns
        None and changes nothing."""
        store.increment(key("c"), "n", 5)
        assert store.increment(key("c"), "n", 1, expect=5) == 6
        assert store.increment(key("c"), "n", 1, expect=5) is None
        assert store.get(key("c")).doc["n"] == 6

    @clause("I4")
    def test_compare_and_increment_from_missing(self, store, key):
        """I4: ``expect=0`` matches a missing field; ``expect=1`` does not."""
        store.put_if_absent(key("c"), {"head": 0, "x": "y"})
        assert store.increment(key("d"), "n", 1, expect=1) is None
        assert store.increment(key("d"), "n", 1, expect=0) == 1
        assert store.increment(key("c"), "head", 1, expect=0) == 1
        assert store.get(key("c")).doc == {"head": 1, "x": "y"}

    @clause("I5")
    def test_racing_compare_and_increment_has_one_winner(self, make_store, key):
        """I5: N clients compare-and-increment with the same ``expect``: exactly one wins."""
        clients = [make_store() for _ in range(THREADS)]
        clients[0].increment(key("c"), "head", 7)
        results = race(THREADS, lambda i: clients[i].increment(key("c"), "head", 1, expect=7))
        assert sorted(results, key=lambda r: r is None) == [8] + [None] * (THREADS - 1)
        assert clients[0].get(key("c")).doc["head"] == 8

    @clause("I6")
    def test_racing_increments_all_count(self, make_store, key):
        """I6: N clients incrementing without ``expect``: no increment is lost."""
        clients = [make_store() for _ in range(THREADS)]
        race(THREADS, lambda i: [clients[i].increment(key("c"), "n") for _ in range(5)])
        assert clients[0].get(key("c")).doc["n"] == THREADS * 5

    @clause("I7")
    def test_increment_of_a_field_that_is_not_an_integer(self, store, key):
        """I7: an increment of a field holding text, a boolean, null or a list raises
        InvalidValue (the same class on every backend), with or without ``expect``, and
        changes nothing."""
        store.put_if_absent(key("c"), {"text": "7", "flag": True, "none": None, "list": []})
        before = store.get(key("c"))
        for name in ("text", "flag", "none", "list"):
            for expect in (None, 0, 7):
                with pytest.raises(InvalidValue) as caught:
                    store.increment(key("c"), name, 1, expect)
                assert type(caught.value) is InvalidValue, (name, expect, repr(caught.value))
        after = store.get(key("c"))
        assert after.doc == before.doc and after.version == before.version

    # --- G: get_many ----------------------------------------------------------------

    @clause("G1")
    def test_get_many_omits_missing_keys(self, store, key):
        """G1: get_many returns present rows and omits missing ones."""
        store.put_if_absent(key("a"), {"v": 1})
        store.put_if_absent(key("b"), {"v": 2})
        got = store.get_many([key("a"), key("missing"), key("b")])
        assert {k: r.doc for k, r in got.items()} == {key("a"): {"v": 1}, key("b"): {"v": 2}}

    @clause("G2")
    def test_get_many_with_duplicate_keys(self, store, key):
        """G2: a key requested twice is read once and returned once."""
        store.put_if_absent(key("a"), {"v": 1})
        got = store.get_many([key("a"), key("a"), key("a")])
        assert list(got) == [key("a")] and got[key("a")].doc == {"v": 1}

    @clause("G3")
    def test_get_many_beyond_batch_limit(self, store, key):
        """G3: more keys than the backend's batch limit are all read (the adapter splits)."""
        n = max(2 * (store.limits.batch_keys or 100) + 3, 203)
        keys = [key(f"k{i}") for i in range(n)]
        for i, k in enumerate(keys[::2]):
            store.increment(k, "i", i + 1)
        got = store.get_many([*keys, key("absent")])
        assert sorted(got) == sorted(keys[::2])
        assert all(got[k].doc["i"] == i + 1 for i, k in enumerate(keys[::2]))

    @clause("G4")
    def test_get_many_empty(self, store):
        """G4: get_many of no keys is an empty dict."""
        assert store.get_many([]) == {}

    @clause("G5")
    def test_reads_see_acknowledged_writes(self, make_store, key):
        """G5: once a write returns, every client's get and get_many see it."""
        writer, reader = make_store(), make_store()
        for i in range(5):
            writer.append(key("p"), "items", [entry(f"e{i}")], 10)
            assert len(reader.get(key("p")).doc["items"]) == i + 1
            assert len(reader.get_many([key("p")])[key("p")].doc["items"]) == i + 1

    @clause("G6")
    def test_versions_match_between_get_and_get_many(self, store, key):
        """G6: get_many returns the same version as get, usable for replace."""
        store.put_if_absent(key("a"), {"v": 1})
        version = store.get_many([key("a")])[key("a")].version
        assert version == store.get(key("a")).version
        assert store.replace(key("a"), {"v": 2}, version) is not None

    # --- L: limits ------------------------------------------------------------------

    @staticmethod
    def _pad_to(store: Store, k: str, size: int) -> dict[str, Any] | None:
        """The largest ``{"pad": "x" * n}`` whose row size is ``size`` exactly, if any."""
        lo, hi = 0, size
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if store.row_size(k, {"pad": "x" * mid}) <= size:
                lo = mid
            else:
                hi = mid - 1
        doc = {"pad": "x" * lo}
        return doc if store.row_size(k, doc) == size else None

    @clause("L1")
    def test_row_at_limit_and_one_byte_over(self, store, key):
        """L1: a row exactly at the row limit is stored; one byte over raises ItemTooLarge
        and writes nothing."""
        limit = store.limits.row_bytes
        if limit is None:
            pytest.skip("the store declares no row limit")
        at = self._pad_to(store, key("at"), limit)
        over = self._pad_to(store, key("ov"), limit + 1)
        assert at is not None and over is not None, "row_size must count one byte per ASCII char"
        assert store.put_if_absent(key("at"), at) is True
        assert store.get(key("at")).doc == at
        with pytest.raises(ItemTooLarge):
            store.put_if_absent(key("ov"), over)
        assert store.get(key("ov")) is None

    @clause("L2")
    def test_append_over_row_limit_writes_nothing(self, store, key):
        """L2: an append that would push a row over the limit raises ItemTooLarge; the row
        is unchanged."""
        limit = store.limits.row_bytes
        if limit is None:
            pytest.skip("the store declares no row limit")
        chunk = 16 * 1024
        k = key("big")
        n = 0
        while True:
            big = entry(f"b{n}", "y" * chunk)
            doc = store.get(k).doc if n else {}
            grown = {**doc, "items": [*doc.get("items", []), big]}
            if store.row_size(k, grown) > limit:
                break
            assert store.append(k, "items", [big], 10_000) == Appended(n + 1)
            n += 1
        before = store.get(k)
        with pytest.raises(ItemTooLarge):
            store.append(k, "items", [entry("over", "y" * chunk)], 10_000)
        after = store.get(k)
        assert after.doc == before.doc and after.version == before.version

    @clause("L3")
    def test_longest_key(self, store, key):
        """L3: a key of exactly ``limits.key_bytes`` bytes works."""
        prefix = key("")
        k = prefix + "k" * (store.limits.key_bytes - len(prefix.encode()))
        assert len(k.encode()) == store.limits.key_bytes
        assert store.put_if_absent(k, {"v": 1}) is True
        assert store.get(k).doc == {"v": 1}

    # --- D: differential ----------------------------------------------------------------

    @clause("S12")
    def test_same_answers_as_the_reference_store(self, store, key):
        """S12: a seeded random mix of every primitive (ids repeating across batches, stale
        versions, compare-and-increment) gives the same answers and documents as the
        reference MemoryStore."""
        import random

        from pagedlist.adapters.memory import MemoryStore

        rng = random.Random(11)
        ref = MemoryStore()
        keys = [key(f"d{n}") for n in range(3)]

        def step(target: Store, k: str, op: int, arg: Any) -> Any:
            row = target.get(k)
            if op == 0:
                return target.put_if_absent(k, {"items": [], "n": 1, "meta": {"a": []}})
            if op == 1:
                if row is None:
                    return None
                doc = {"items": row.doc.get("items", [])[:2], "n": -5, "other": [[], {}]}
                return target.replace(k, doc, row.version if arg else "stale") is not None
            if op == 2:
                batch, max_len = arg
                return target.append(k, "items", batch, max_len)
            if op == 3:
                by, expect = arg
                return target.increment(k, "n" if row else "m", by, expect)
            target.delete(k)
            return None

        seen: set[str] = set()
        for _ in range(300):
            k = rng.choice(keys)
            op = rng.choice([0, 1, 2, 2, 2, 3, 3, 4])
            arg: Any = None
            if op == 1:
                arg = rng.random() < 0.8
            elif op == 2:
                ids = rng.sample(range(12), rng.randrange(1, 4))  # distinct within a batch
                batch = [
                    {"id": f"i{n}", "ts": rng.randrange(2**52), "v": "x" * i}
                    for i, n in enumerate(ids)
                ]
                arg = (batch, rng.randrange(0, 9))
            elif op == 3:
                arg = (rng.randrange(-2, 3), rng.choice([None, 0, 1, 2, -4]))
            expected, got = step(ref, k, op, arg), step(store, k, op, arg)
            assert got == expected, (op, arg)
            seen.add(type(got).__name__ if op != 3 else f"increment-{got is None}")
            for k2 in keys:
                mine, theirs = store.get(k2), ref.get(k2)
                assert (mine and mine.doc) == (theirs and theirs.doc), k2
        assert {"Appended", "Duplicate", "Full", "increment-True", "increment-False"} <= seen

    # --- W: writes sent once ------------------------------------------------------------

    @clause("W1")
    @requires("network")
    @pytest.mark.parametrize("write", ["increment", "append", "put_if_absent"])
    def test_write_sent_at_most_once(self, store, store_url, key, write):
        """W1: a write is sent at most once per store call: the adapter (and its SDK) never
        re-sends after an ambiguous failure; the core's driver is the only retry layer.
        Through a proxy that lets an increment without ``expect``, an append or a
        put_if_absent reach the server and then resets the connection instead of passing
        the answer on, the call raises StoreUnavailable or DeadlineExceeded (outcome
        unknown), and the write took effect exactly once."""
        through = getattr(type(store), "through", None)
        if through is None:
            pytest.fail(
                f"{type(store).__name__} has no through(url, route) classmethod, so the fault "
                "proxy cannot reach its connections: add one (see RedisStore.through), or "
                "switch capability 'network' off with a reason if it makes none",
                pytrace=False,
            )
        k = key("w1")
        # Every write below is then one request: a missing row or field would cost some
        # adapters a refused first request and a second one that creates it.
        if write == "increment":
            assert store.put_if_absent(k, {"n": 0}) is True
        elif write == "append":
            assert store.put_if_absent(k, {"items": []}) is True
        with FaultProxies() as proxies:
            try:
                proxied = through(store_url, proxies.route)
            except ConfigError as err:
                pytest.skip(f"{store.describe()} cannot be routed through the fault proxy: {err}")
            try:
                # Calls of each kind first, on this very key too (a Redis Cluster loads
                # scripts per node), so connections, loaded scripts, prepared statements
                # and caches exist and the cut falls on the write itself. Each leaves k
                # as it was.
                warm = key("w1-warm")
                proxied.put_if_absent(warm, {"n": 0, "items": []})
                proxied.increment(warm, "n", 1)
                proxied.append(warm, "items", [entry("warm")], 10)
                if write == "put_if_absent":
                    assert proxied.put_if_absent(k, {"warm": True}) is True
                    proxied.delete(k)
                else:
                    assert proxied.increment(k, "n", 0) == 0
                    assert proxied.append(k, "items", [entry("warm")], 0) == Full(0)
                assert proxied.get(k) == store.get(k)
                proxies.lose_answers(1)
                with pytest.raises((StoreUnavailable, DeadlineExceeded)):
                    if write == "increment":
                        proxied.increment(k, "n", 1)
                    elif write == "append":
                        proxied.append(k, "items", [entry("once")], 10)
                    else:
                        proxied.put_if_absent(k, {"once": True})
                assert proxies.lost == 1, "the proxy cut no exchange: the write never reached it"
            finally:
                proxied.close()
        row = store.get(k)
        assert row is not None, f"the {write} whose answer was lost did not commit"
        if write == "increment":
            assert row.doc["n"] == 1, f"one increment by 1 counted {row.doc['n']} times"
        elif write == "append":
            assert _ids(store, k) == ["once"]
        else:
            assert row.doc == {"once": True}
