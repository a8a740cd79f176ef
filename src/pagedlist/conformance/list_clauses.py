"""List clauses: the five invariants under concurrency, a worked example, cursors, input
validation and round-trip budgets, all through the real core (``docs/contract.md``).

P = positions and invariants, C = cursors and reads, R = round trips, V = validation.
"""

from __future__ import annotations

import importlib
import multiprocessing
import threading
import uuid

import pytest

from pagedlist.adapters import adapter_for, open_store
from pagedlist.conformance.capabilities import clause, requires
from pagedlist.conformance.history import Recorder, check_list
from pagedlist.conformance.store_clauses import race
from pagedlist.core.counting import CountingStore
from pagedlist.core.pagedlist import PagedList
from pagedlist.core.values import list_id_max_len
from pagedlist.errors import (
    InvalidListId,
    InvalidValue,
    ItemTooLarge,
    ListExists,
    ListNotFound,
)

__all__ = ["AbstractListTests", "hammer"]

#: The deadline of each append in the contention clauses (P2, P8), in seconds.
STRESS_DEADLINE = 60.0


def hammer(
    make_store, list_id: str, *, threads: int, per_thread: int, readers: int = 2
) -> Recorder:
    """``threads`` appenders (own client each) plus readers on one list; returns the record.

    Appenders use caller ids (the costliest path on claim stores: a record per item, and
    every lost race a record move) and a deadline of ``STRESS_DEADLINE`` seconds: these
    clauses check what lands where, not how fast, and a shared machine can be slow.
    """
    recorder = Recorder()
    stop = threading.Event()

    def appender(i: int) -> None:
        plist = PagedList.open(make_store(), list_id, deadline=STRESS_DEADLINE)
        for j in range(per_thread):
            recorder.append(plist, f"a{i}", {"t": i, "j": j}, f"a{i}-{j}")

    def reader(i: int) -> None:
        plist = PagedList.open(make_store(), list_id)
        while not stop.is_set():
            recorder.latest(plist, f"r{i}", 5)

    read_threads = [threading.Thread(target=reader, args=(i,)) for i in range(readers)]
    for t in read_threads:
        t.start()
    try:
        race(threads, appender)
    finally:
        stop.set()
        for t in read_threads:
            t.join()
    return recorder


def _process_appender(
    url: str, list_id: str, worker: int, n: int, out, adapter: str | None = None
) -> None:
    """Body of one appender process (module level so 'spawn' can import it).

    ``adapter`` (``module:Class``) is the adapter class the parent opened the URL with, so
    an adapter registered at run time (an outside author's, in its test module) opens in
    the child too: 'spawn' starts a fresh interpreter, with the parent's ``sys.path``.
    """
    if adapter is None:
        store = open_store(url)
    else:
        module, _, name = adapter.partition(":")
        store = getattr(importlib.import_module(module), name).from_url(url)
    plist = PagedList.open(store, list_id)
    acks = []
    for j in range(n):
        item_id = f"p{worker}-{j}"
        acks.append((item_id, plist.append({"w": worker, "j": j}, id=item_id)))
    out.put(acks)
    store.close()


class AbstractListTests:
    """The list layer of the contract, run through ``PagedList`` on the store under test."""

    # --- P: positions and invariants -------------------------------------------------

    @clause("P1")
    def test_five_appends_capacity_two(self, store, list_id):
        """P1: the worked example: capacity 2, five appends "Hello0".."Hello4" fill pages 0
        and 1; the head is page 2, holding "Hello4"."""
        plist = PagedList.create(store, list_id, capacity=2)
        assert [plist.append(f"Hello{i}") for i in range(5)] == [0, 1, 2, 3, 4]
        if plist.layout == 1:
            assert store.get(f"{list_id}|s").doc["head"] == 2
        assert [(i.position, i.value) for i in plist.latest(1)] == [(4, "Hello4")]
        assert [i.value for i in plist.latest(3)] == ["Hello4", "Hello3", "Hello2"]
        assert [i.value for i in plist.latest(300)] == [f"Hello{i}" for i in range(4, -1, -1)]
        assert [i.value for i in plist.before(4, 300)] == [f"Hello{i}" for i in range(3, -1, -1)]
        assert plist.count() == 5

    @clause("P2")
    def test_invariants_under_concurrent_threads(self, make_store, list_id):
        """P2: 8 threads x 40 appends (capacity 7) with readers: invariants I1-I5 hold."""
        PagedList.create(make_store(), list_id, capacity=7)
        recorder = hammer(make_store, list_id, threads=8, per_thread=40)
        assert check_list(make_store(), list_id, recorder) == []
        assert sorted(pos for _, pos in recorder.acked) == list(range(8 * 40))

    @clause("P8")
    # 1,600 appends with caller ids by racing clients: on a claim store every lost race
    # costs a refused create, a read and a range read (the local Cosmos server scans its
    # container for each query), so this stress clause gets more than the default limit.
    @pytest.mark.timeout(900)
    def test_eight_clients_two_hundred_appends_capacity_fifty(self, make_store, list_id, bridged):
        """P8: 8 clients x 200 appends on one list of capacity 50: nothing lost or doubled,
        every page below the head exactly 50, each client's appends in its own order."""
        if bridged:
            # The longest clause of the suite, once per backend: the async adapter's own
            # contention is Y1's (100 tasks on one list) and P2's, through this bridge.
            pytest.skip("a stress clause: it runs once per backend, through the sync adapter")
        PagedList.create(make_store(), list_id, capacity=50)
        recorder = hammer(make_store, list_id, threads=8, per_thread=200, readers=1)
        assert check_list(make_store(), list_id, recorder) == []
        assert sorted(pos for _, pos in recorder.acked) == list(range(1600))
        items = list(PagedList.open(make_store(), list_id).iter())
        for t in range(8):
            mine = [i.value["j"] for i in items if i.value["t"] == t]
            assert mine == list(range(200))

    @requires("shared_across_processes")
    @clause("P3")
    def test_invariants_across_processes(self, make_store, store_url, list_id):
        """P3: 4 processes x 50 appends on one list: none lost or duplicated, dense."""
        PagedList.create(make_store(), list_id, capacity=7)
        cls = adapter_for(store_url)
        adapter = f"{cls.__module__}:{cls.__qualname__}"
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_process_appender, args=(store_url, list_id, w, 50, out, adapter))
            for w in range(4)
        ]
        for p in procs:
            p.start()
        acks = [a for _ in procs for a in out.get(timeout=120)]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        positions = sorted(pos for _, pos in acks)
        assert positions == list(range(200))
        stored = {i.id: i.position for i in PagedList.open(make_store(), list_id).iter()}
        assert stored == dict(acks)

    @clause("P4")
    def test_idempotent_append_with_id(self, store, list_id):
        """P4: appending an id already on the head page returns its position, writes nothing."""
        plist = PagedList.create(store, list_id, capacity=10)
        first = plist.append("a", id="req-1")
        plist.append("b")
        assert plist.append("a again", id="req-1") == first
        assert plist.count() == 2 and plist.get(first).value == "a"

    @requires("layout1")
    @clause("P5")
    def test_extend_atomic_and_split(self, store, list_id):
        """P5: extend keeps order; a batch that fits the head page commits in one call; a
        longer one is split at page boundaries and leaves every page below the head full."""
        counting = CountingStore(store)
        plist = PagedList.create(counting, list_id, capacity=5)
        counting.reset()
        assert plist.extend(["a", "b", "c"]) == [0, 1, 2]
        assert counting.calls["append"] == 1
        assert plist.extend([f"x{i}" for i in range(12)]) == list(range(3, 15))
        assert [i.value for i in plist.iter()] == ["a", "b", "c", *(f"x{i}" for i in range(12))]
        head = store.get(f"{list_id}|s").doc["head"]
        pages = store.get_many([f"{list_id}|{p}" for p in range(head)])
        assert all(len(r.doc["items"]) == 5 for r in pages.values()) and len(pages) == head

    @requires("layout2")
    @clause("P9")
    def test_extend_in_one_atomic_call(self, store, list_id):
        """P9: layout 2: extend keeps order and a batch the store takes at once (any size
        with push, up to claim_entries without) costs one store call; a longer one is
        written in parts, each at the next positions, the list staying dense."""
        counting = CountingStore(store)
        plist = PagedList.create(counting, list_id, capacity=5)
        plist.append("warm")
        batch = 1000 if store.features.push else store.features.claim_entries
        n = min(batch, 40)
        counting.reset()
        assert plist.extend([f"a{i}" for i in range(n)]) == list(range(1, n + 1))
        assert counting.total == 1, dict(counting.calls)
        more = plist.extend([f"b{i}" for i in range(2 * n + 1)])
        assert more == list(range(n + 1, 3 * n + 2))
        values = [i.value for i in plist.iter()]
        want = ["warm", *(f"a{i}" for i in range(n)), *(f"b{i}" for i in range(2 * n + 1))]
        assert values == want

    @clause("P6")
    def test_create_open_idempotent(self, store, list_id):
        """P6: create is idempotent with the same settings; other settings raise ListExists;
        opening a missing list raises ListNotFound."""
        a = PagedList.create(store, list_id, capacity=3, metadata={"k": "v"})
        a.append(1)
        b = PagedList.create(store, list_id, capacity=3, metadata={"k": "v"})
        assert b.count() == 1 and b.metadata == {"k": "v"}
        assert PagedList.create(store, list_id, metadata={"k": "v"}).capacity == 3
        with pytest.raises(ListExists):
            PagedList.create(store, list_id, capacity=4, metadata={"k": "v"})
        with pytest.raises(ListNotFound):
            PagedList.open(store, list_id + "-missing")

    @clause("P7")
    def test_derived_capacity_fits_row_limit(self, store, list_id):
        """P7: a derived capacity lets a page of maximum-size items be stored."""
        plist = PagedList.create(store, list_id, max_item_bytes=4096)
        assert plist.capacity >= 1
        big = "é" * 2047  # 4094 bytes of UTF-8, 4096 with JSON quotes
        n = min(plist.capacity, 60)
        assert plist.extend([big] * n) == list(range(n))
        assert plist.latest(1)[0].value == big

    # --- C: cursors and reads ------------------------------------------------------

    @clause("C1")
    def test_cursors_walk_the_whole_list(self, store, list_id):
        """C1: before/after/get/iter agree with each other across page boundaries."""
        plist = PagedList.create(store, list_id, capacity=4)
        plist.extend(range(23))
        newest_first, cursor = [], None
        while True:
            page = plist.latest(5) if cursor is None else plist.before(cursor, 5)
            if not page:
                break
            newest_first.extend(i.value for i in page)
            cursor = page[-1].position
        assert newest_first == list(range(22, -1, -1))
        assert [i.value for i in plist.after(-1, 7)] == list(range(7))
        assert [i.value for i in plist.after(19, 10)] == [20, 21, 22]
        assert [i.value for i in plist.iter(10)] == list(range(10, 23))
        assert plist.get(22).value == 22 and plist.get(23) is None
        assert plist.before(0, 5) == [] and plist.latest(0) == []

    @clause("C2")
    def test_items_carry_id_and_time(self, store, list_id):
        """C2: items carry their id, append time and exact value."""
        plist = PagedList.create(store, list_id)
        plist.append({"nested": [1, 2.5, None, "é"]}, id="my-id")
        item = plist.latest(1)[0]
        assert item.id == "my-id" and item.position == 0 and item.ts > 1.6e9
        assert item.value == {"nested": [1, 2.5, None, "é"]}

    @clause("C3")
    def test_empty_list(self, store, list_id):
        """C3: a new list has no items, count 0, and reads return empty."""
        plist = PagedList.create(store, list_id, capacity=3)
        assert plist.count() == 0 and plist.latest(10) == [] and list(plist.iter()) == []

    @clause("C4")
    def test_many_pages_one_read(self, store, list_id):
        """C4: latest(n) spanning more pages than one backend batch returns all n."""
        plist = PagedList.create(store, list_id, capacity=2)
        batch = store.limits.batch_keys or 100
        n = min(2 * (batch + 2), 400)
        plist.extend(range(n))
        assert [i.value for i in plist.latest(n)] == list(range(n - 1, -1, -1))

    # --- R: round trips -------------------------------------------------------------

    @clause("R1")
    def test_append_one_call_steady_state(self, store, list_id):
        """R1: append costs one store call once the head page is cached."""
        counting = CountingStore(store)
        plist = PagedList.create(counting, list_id, capacity=50)
        plist.append("warm")
        counting.reset()
        for i in range(10):
            plist.append(i)
        assert counting.total == 10

    @requires("layout1")
    @clause("R2")
    def test_latest_at_most_two_calls(self, store, list_id):
        """R2: latest(n) costs at most two calls, one when the cached head is current."""
        counting = CountingStore(store)
        plist = PagedList.create(counting, list_id, capacity=3)
        plist.extend(range(20))
        counting.reset()
        assert len(plist.latest(10)) == 10 and counting.total == 1
        other = PagedList.open(store, list_id)
        other.extend(range(20))
        counting.reset()
        assert plist.latest(10)[0].value == 19 and counting.total == 2

    @requires("layout2")
    @clause("R5")
    def test_latest_one_call(self, store, list_id):
        """R5: layout 2: latest(n), before, after and get cost one call each, whatever other
        clients appended meanwhile; count one call."""
        counting = CountingStore(store)
        plist = PagedList.create(counting, list_id, capacity=3)
        plist.extend(range(20))
        other = PagedList.open(store, list_id)
        other.extend(range(20, 40))
        reads = (
            lambda: plist.latest(10)[0].value == 39,
            lambda: [i.value for i in plist.before(30, 3)] == [29, 28, 27],
            lambda: [i.value for i in plist.after(2, 4)] == [3, 4, 5, 6],
            lambda: plist.get(7).value == 7,
            lambda: plist.count() == 40,
        )
        for read in reads:
            counting.reset()
            assert read()
            assert counting.total == 1, dict(counting.calls)

    @clause("R3")
    def test_stale_head_corrected_in_two_calls(self, store, list_id):
        """R3: an append with a stale cached head detects it (Full) and is corrected in at
        most two more calls."""
        counting = CountingStore(store)
        plist = PagedList.create(counting, list_id, capacity=2)
        plist.append("cached at head 0")
        PagedList.open(store, list_id).extend(range(6))  # head moves to page 3, not full
        counting.reset()
        assert plist.append("late") == 7
        assert counting.total <= 3, dict(counting.calls)

    @clause("R4")
    def test_reads_by_position_one_call(self, store, list_id):
        """R4: before, after and get cost one call; count at most two."""
        counting = CountingStore(store)
        plist = PagedList.create(counting, list_id, capacity=3)
        plist.extend(range(10))
        for read in (lambda: plist.before(9, 5), lambda: plist.after(2, 4), lambda: plist.get(7)):
            counting.reset()
            read()
            assert counting.total == 1
        counting.reset()
        assert plist.count() == 10 and counting.total <= 2

    # --- V: validation ---------------------------------------------------------------

    @clause("V1")
    def test_invalid_list_ids(self, store):
        """V1: list ids with | # / or space, empty, or longer than the keys allow raise
        InvalidListId and write nothing."""
        limit = list_id_max_len(store.limits.key_bytes)
        for bad in ["a|b", "a#b", "a/b", "a b", "", "x" * (limit + 1), "é"]:
            with pytest.raises(InvalidListId):
                PagedList.create(store, bad)
        longest = "L" + uuid.uuid4().hex + "x" * (limit - 33)
        assert PagedList.create(store, longest, capacity=2).append("ok") == 0

    @clause("V2")
    def test_invalid_values_write_nothing(self, store, list_id):
        """V2: a set, bytes, NaN, Infinity, a tuple or a non-string key raises InvalidValue
        and writes nothing; extend validates every value first."""
        plist = PagedList.create(store, list_id, capacity=4)
        for bad in [{1, 2}, b"bytes", float("nan"), float("inf"), (1, 2), {1: "a"}, object()]:
            with pytest.raises(InvalidValue):
                plist.append(bad)
        with pytest.raises(InvalidValue):
            plist.extend(["fine", {"x": float("nan")}])
        assert plist.count() == 0 and store.get(f"{list_id}|0") is None

    @clause("V3")
    def test_item_one_byte_over_max(self, store, list_id):
        """V3: an item at max_item_bytes is stored; one byte over raises ItemTooLarge."""
        plist = PagedList.create(store, list_id, max_item_bytes=100, capacity=4)
        assert plist.append("x" * 98) == 0  # 98 characters + 2 quotes = 100 bytes
        with pytest.raises(ItemTooLarge):
            plist.append("x" * 99)
        assert plist.count() == 1

    @requires("layout1")
    @clause("V4")
    def test_capacity_that_cannot_fit(self, store, list_id):
        """V4: a capacity whose full page cannot fit the row limit is refused at create."""
        from pagedlist.errors import ConfigError

        if store.limits.row_bytes is None:
            pytest.skip("the store declares no row limit")
        with pytest.raises(ConfigError):
            PagedList.create(store, list_id, capacity=store.limits.row_bytes, max_item_bytes=1024)
        assert store.get(f"{list_id}|s") is None

    @clause("V5")
    def test_bad_arguments_raise_from_the_error_tree(self, store, list_id):
        """V5: every argument a caller can get wrong raises a documented error (a
        UsageError: InvalidArgument, InvalidValue...), never a bare ValueError/TypeError,
        and writes nothing."""
        from pagedlist.errors import InvalidArgument, UsageError

        plist = PagedList.create(store, list_id, capacity=3)
        plist.append("keep")
        bad = [
            lambda: plist.latest(1.5),
            lambda: plist.latest(-1),
            lambda: plist.latest("5"),
            lambda: plist.get(True),
            lambda: plist.get(-1),
            lambda: list(plist.iter(-1)),
            lambda: plist.before(-3, 2),
            lambda: plist.after(-2, 2),
            lambda: plist.after(0, -1),
            lambda: plist.extend(None),
            lambda: plist.extend(5),
            lambda: plist.extend(bytearray(b"ab")),
            lambda: plist.extend(b"ab"),
            lambda: plist.extend("ab"),
            lambda: plist.extend({"a": 1}),
            lambda: plist.extend([1, 2], ids=["a"]),
            lambda: plist.append(1, ts=float("nan")),
            lambda: plist.append(1, id=""),
            lambda: plist.append(1, id=5),
        ]
        for call in bad:
            with pytest.raises(UsageError):
                call()
        for deadline in ("x", -1, 0, float("nan"), float("inf"), True):
            with pytest.raises(InvalidArgument):
                PagedList(store, list_id, deadline=deadline)
        assert [i.value for i in plist.iter()] == ["keep"]

    @clause("C5")
    def test_reads_are_bounded_by_what_the_list_holds(self, store, list_id):
        """C5: reads asking for far more than the list holds (after(-1, 10**9),
        latest(10**9), before(10**12, 10**9)) return what there is in a few store calls,
        with memory proportional to the answer."""
        counting = CountingStore(store)
        plist = PagedList.create(counting, list_id, capacity=10)
        plist.extend(range(25))
        for read, want in (
            (lambda: plist.after(-1, 10**9), list(range(25))),
            (lambda: plist.latest(10**9), list(range(24, -1, -1))),
            (lambda: plist.before(10**12, 10**9), list(range(24, -1, -1))),
            (lambda: plist.after(10**12, 10**9), []),
        ):
            counting.reset()
            assert [i.value for i in read()] == want
            assert counting.total <= 4, dict(counting.calls)

    @clause("V6")
    def test_a_page_of_worst_case_items_fits(self, store, list_id):
        """V6: a list filled to its (derived) capacity with the longest ids made of control
        characters and values of the largest size made of characters JSON escapes never
        hits the row limit: an item refused for size is refused at append, never
        discovered by the store, and the list never becomes unwritable."""
        limit = store.limits.row_bytes
        if limit is None:
            pytest.skip("the store declares no row limit")
        size = 512
        plist = PagedList.create(store, list_id, max_item_bytes=size)
        cap = plist.capacity
        n = min(cap, 60) if plist.layout == 1 else 5
        # Its JSON text is max_item_bytes of \" pairs, each byte escaped again where the
        # store keeps the text inside JSON.
        value = '"' * ((size - 2) // 2)
        for i in range(n):
            item_id = "\x01" * 120 + f"{i:08d}"
            assert plist.append(value, id=item_id) == i
        assert plist.append("after", id="\x02" * 128) == n
        assert plist.latest(1)[0].value == "after"

    @clause("P10")
    def test_partial_extend_reports_and_resumes(self, store, list_id):
        """P10: an extend written in parts that fails after a part committed raises
        PartialWrite naming the committed positions; the same call again (same ids) writes
        the rest, the committed ones once."""
        from pagedlist.conformance.faults import FaultyStore
        from pagedlist.errors import PartialWrite, StoreError

        plist = PagedList.create(store, list_id, capacity=4)
        faulty = FaultyStore(store, seed=1)
        flaky = PagedList.open(faulty, list_id)
        calls = 0
        original = faulty._call

        def fail_third_write(name, fn, *args, **kwargs):
            nonlocal calls
            if name in ("append", "claim", "push", "insert"):
                calls += 1
                if calls == 3:
                    raise StoreError("injected: a hopeless failure of the third write")
            return original(name, fn, *args, **kwargs)

        faulty._call = fail_third_write
        ids = [f"e{i}" for i in range(9)]
        store_batch = 1 if not store.features.push else 4
        try:
            flaky._state.chunk, flaky._state.chunk_for = store_batch, flaky._state.settings
            with pytest.raises(PartialWrite) as caught:
                flaky.extend(range(9), ids=ids)
            assert caught.value.committed and caught.value.committed == tuple(
                range(len(caught.value.committed))
            )
        finally:
            faulty._call = original
        assert flaky.extend(range(9), ids=ids) == list(range(9))
        assert [i.id for i in plist.iter()] == ids
