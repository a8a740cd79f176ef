"""The merged scan (``MergeScan``, ``features.merge``, ``merge_latest(merge=True)``,
``top_up``): a home timeline read through a store that merges on its side gives exactly
the pages, cursors and round trips included, that the core's own merge of a ``ScanMany``
gives (random page-by-page walks with appends, deletes, new lists, tombstone runs, clock
skew and gaps between pages), a store whose merge is wrong is caught, and the round trips
``top_up`` makes."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest

from pagedlist import PagedList
from pagedlist.adapters.memory import AsyncMemoryStore, MemoryStore
from pagedlist.core import entries as ent
from pagedlist.core.counting import CountingStore
from pagedlist.core.entries import Cursor, merge_answer, merge_latest
from pagedlist.core.ops import Features, Merged, MergeScan, Scan, ScanMany
from pagedlist.core.wrapper import StoreWrapper
from pagedlist.errors import ContractViolation

BASE_TS = 1_700_000_000_000


class Merging(StoreWrapper):
    """The memory store, declaring ``merge``: its merge_scan is the reference's."""

    @property
    def features(self) -> Features:
        return dataclasses.replace(self.inner.features, merge=True)


class Holding(Merging):
    """A broken merge: it holds one row back and says so, with nothing in its place."""

    def merge_scan(self, scans, n, fresh=(), last=None):
        parts = list(self.inner.merge_scan(scans, n, fresh, last))
        for i, m in enumerate(parts):
            if m.slots:
                parts[i] = Merged(m.slots[:-1], m.live, m.more)
                break
        return tuple(parts)


class Undead(Merging):
    """A broken merge: tombstones come back."""

    def merge_scan(self, scans, n, fresh=(), last=None):
        rows = self.inner.scan_many(scans)
        return tuple(Merged(r[:n], len(r), None) for r in rows)


def _write(store: MemoryStore, list_id: str, pos: int, rng: random.Random, clock: int) -> None:
    # Claimed directly, so timestamps can go back in time within a list (clock skew
    # between writers) and repeat across lists, and some entries are tombstones.
    entry: dict[str, Any] = {"id": f"{list_id}-{pos}", "ts": clock + rng.randrange(-3, 2),
                             "v": f'"{pos}"'}  # fmt: skip
    if rng.random() < 0.2:
        entry["d"] = 1
    store.claim(list_id, pos, [entry])


def _same_page(plain: Any, merging: Any, ids: list[str], n: int, cursor: str | None) -> Any:
    want = PagedList.latest_many(plain, ids, n, cursor=cursor)
    got = PagedList.latest_many(merging, ids, n, cursor=cursor)
    assert [(i.list_id, i.position, i.id) for i in got.items] == [
        (i.list_id, i.position, i.id) for i in want.items
    ]
    assert got.cursor == want.cursor
    return want


@pytest.mark.parametrize("seed", range(12))
def test_merged_pages_are_the_core_merges_pages(seed) -> None:
    rng = random.Random(seed)
    store = MemoryStore()
    merging = Merging(store)
    ids = [f"l{i}" for i in range(rng.randrange(1, 7))]
    sizes: dict[str, int] = {}
    clock = BASE_TS

    def grow(list_id: str, k: int) -> None:
        nonlocal clock
        if list_id not in sizes:
            PagedList.create(store, list_id)
            sizes[list_id] = 0
        for _ in range(k):
            clock += rng.randrange(0, 2)
            _write(store, list_id, sizes[list_id], rng, clock)
            sizes[list_id] += 1

    for list_id in ids:
        grow(list_id, rng.randrange(0, 40))
    n = rng.choice([1, 2, 5, 13, 50])
    cursor = None
    for pages in range(2000):
        page = _same_page(store, merging, ids, n, cursor)
        cursor = page.cursor
        if cursor is None:
            break
        if pages > 20:
            continue
        # Between pages: new entries (newer than the page, or skewed older), and now and
        # then a list joins the set (read from its tail, only below the cursor's mark).
        for list_id in rng.sample(ids, min(len(ids), 2)):
            grow(list_id, rng.randrange(0, 4))
        if rng.random() < 0.2:
            ids.append(f"l{len(ids)}")
            grow(ids[-1], rng.randrange(1, 15))
    else:
        raise AssertionError("the cursor never ended")


def test_a_timeline_page_on_a_merging_store_is_one_merge_scan() -> None:
    store = MemoryStore()
    ids = [f"l{i}" for i in range(20)]
    for list_id in ids:
        PagedList.create(store, list_id).extend([{"k": k} for k in range(60)])
    counted = CountingStore(Merging(store))
    PagedList.latest_many(counted, ids, 50)  # learns the lists' settings
    counted.reset()
    page = PagedList.latest_many(counted, ids, 50)
    assert len(page.items) == 50 and page.cursor is not None
    assert dict(counted.calls) == {"merge_scan": 1}
    counted.reset()
    PagedList.latest_many(counted, ids, 50, cursor=page.cursor)
    assert dict(counted.calls) == {"merge_scan": 1}


def test_the_asyncio_api_merges_through_the_store_too() -> None:
    store = MemoryStore()
    ids = ["a", "b", "c"]
    for k, list_id in enumerate(ids):
        PagedList.create(store, list_id).extend([{"k": k, "i": i} for i in range(30)])

    async def page(s: Any) -> Any:
        from pagedlist.core.apagedlist import AsyncPagedList

        return await AsyncPagedList.latest_many(s, ids, 40)

    counted = CountingStore(Merging(store))
    merged = asyncio.run(page(AsyncMemoryStore(counted)))
    plain = asyncio.run(page(AsyncMemoryStore(store)))
    assert [(i.list_id, i.position) for i in merged.items] == [
        (i.list_id, i.position) for i in plain.items
    ]
    assert merged.cursor == plain.cursor
    assert counted.calls["merge_scan"] == 1 and "scan_many" not in counted.calls


def test_a_list_whose_live_rows_run_out_is_read_further() -> None:
    # Tombstones fill the newest n rows of "a": the merge ships none of them, says the
    # list goes on below, and the core reads it further as it would without the merge.
    store = MemoryStore()
    PagedList.create(store, "a")
    PagedList.create(store, "b")
    for pos in range(30):
        doc = {"id": f"a{pos}", "ts": BASE_TS + pos, "v": "1"}
        store.claim("a", pos, [{**doc, "d": 1} if pos >= 10 else doc])
    store.claim("b", 0, [{"id": "b0", "ts": BASE_TS - 5, "v": "1"}])
    scans = (Scan("a", 0, None, 20, True), Scan("b", 0, None, 20, True))
    assert store.merge_scan(scans, 20) == (
        Merged((), 0, 10),
        Merged(((0, {"id": "b0", "ts": BASE_TS - 5, "v": "1"}),), 1, None),
    )
    counted = CountingStore(Merging(store))
    PagedList.latest_many(counted, ["a", "b"], 20)
    counted.reset()
    page = _same_page(store, counted, ["a", "b"], 20, None)
    assert [i.id for i in page.items] == [f"a{p}" for p in range(9, -1, -1)] + ["b0"]
    assert dict(counted.calls) == {"merge_scan": 1, "scan_many": 1}


@pytest.mark.parametrize("broken", [Holding, Undead])
def test_a_wrong_merge_is_a_contract_violation(broken) -> None:
    store = MemoryStore()
    for list_id in ("a", "b"):
        lst = PagedList.create(store, list_id)
        lst.extend([{"k": k} for k in range(10)])
        lst.delete(3)
    with pytest.raises(ContractViolation, match="E17"):
        PagedList.latest_many(broken(store), ["a", "b"], 5)


def test_merge_scan_checks_its_fields() -> None:
    with pytest.raises(TypeError, match="newest-first"):
        MergeScan((Scan("a", 0, None, 5, False),), 5)
    with pytest.raises(TypeError, match="n must be"):
        MergeScan((Scan("a", 0, None, 5, True),), 0)
    with pytest.raises(TypeError, match="fresh"):
        MergeScan((), 5, ["a"])  # type: ignore[arg-type]


def test_the_reference_is_a_k_way_merge_not_a_sort() -> None:
    # "a"'s newest row is older (ts 1) than the row below it (ts 9, clock skew). A sort by
    # ts would pick a's 9 first; the merge takes each list in position order, so a's 9
    # waits behind a's 1, which is older than b's 5: b5, a1, a9.
    def e(lid: str, ts: int) -> dict[str, Any]:
        return {"id": f"{lid}{ts}", "ts": ts, "v": "1"}

    scans = (Scan("a", 0, None, 5, True), Scan("b", 0, None, 5, True))
    answers = (((1, e("a", 1)), (0, e("a", 9))), ((0, e("b", 5)),))
    assert merge_answer(scans, answers, 1) == (Merged((), 2, None), Merged(answers[1], 1, None))
    assert merge_answer(scans, answers, 2) == (
        Merged(answers[0][:1], 2, None),
        Merged(answers[1], 1, None),
    )


# --- a plan driver over a memory store, so merge_latest can be run directly -----------------


def _drive(plan: Any, store: Any, log: list[Any] | None = None) -> Any:
    """Run a core plan against ``store``, answering each op (logged in ``log``)."""
    try:
        op = next(plan)
        while True:
            if log is not None:
                log.append(op)
            match op:
                case Scan(lid, lo, hi, limit, newest):
                    answer = store.scan(lid, lo, hi, limit, newest)
                case ScanMany(scans):
                    answer = store.scan_many(scans)
                case MergeScan(scans, n, fresh, last):
                    answer = store.merge_scan(scans, n, fresh, last)
                case _:
                    raise AssertionError(op)
            op = plan.send(answer)
    except StopIteration as stop:
        return stop.value


class _World:
    """Lists written by claim (so timestamps can go back in time and repeat), with
    tombstones, long tombstone runs, deletes of written rows and now and then a gap."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.store = MemoryStore()
        self.sizes: dict[str, int] = {}
        self.clock = BASE_TS

    def grow(self, list_id: str, k: int, *, dead: float = 0.2, skew: int = 3) -> None:
        rng = self.rng
        if list_id not in self.sizes:
            PagedList.create(self.store, list_id)
            self.sizes[list_id] = 0
        run_dead = rng.random() < 0.15  # a long run of tombstones (a deleted burst)
        for _ in range(k):
            self.clock += rng.randrange(0, 3)
            pos = self.sizes[list_id]
            entry: dict[str, Any] = {
                "id": f"{list_id}-{pos}",
                "ts": self.clock + rng.randrange(-skew, skew + 1),
                "v": f'"{pos}"',
            }
            if run_dead or rng.random() < dead:
                entry["d"] = 1
            assert self.store.claim(list_id, pos, [entry])
            self.sizes[list_id] += 1

    def delete_some(self, list_id: str, k: int) -> None:
        size = self.sizes.get(list_id, 0)
        for pos in self.rng.sample(range(size), min(k, size)):
            row = self.store.get_entry(list_id, pos)
            if row is not None and "d" not in row.doc:
                self.store.replace_entry(list_id, pos, {**row.doc, "d": 1}, row.version)


def _page(store: Any, ids: list[str], n: int, cursor: str | None) -> Any:
    return PagedList.latest_many(store, ids, n, cursor=cursor)


def _items(page: Any) -> list[tuple[str, int, str]]:
    return [(i.list_id, i.position, i.id) for i in page.items]


@pytest.mark.parametrize("seed", range(150))
def test_random_walks_merge_equals_plain_items_cursors_and_round_trips(seed) -> None:
    rng = random.Random(seed)
    w = _World(rng)
    plain = CountingStore(w.store)
    merging = CountingStore(Merging(w.store))
    ids = [f"l{i}" for i in range(rng.randrange(1, 8))]
    for list_id in ids:
        if rng.random() < 0.9:  # some lists never exist
            w.grow(list_id, rng.randrange(0, 60), dead=rng.choice([0.0, 0.2, 0.6, 0.95]))
    if rng.random() < 0.3:
        ids.append(ids[0])  # a duplicate id
    n = rng.choice([1, 2, 3, 5, 8, 13, 50, 500])
    cursor = None
    for pages in range(3000):
        plain.reset()
        merging.reset()
        want = _page(plain, ids, n, cursor)
        got = _page(merging, ids, n, cursor)
        assert _items(got) == _items(want), (seed, pages)
        assert got.cursor == want.cursor, (seed, pages)
        # The same round trips: the merge_scan takes the place of the first scan_many.
        p, m = dict(plain.calls), dict(merging.calls)
        if "merge_scan" in m:
            m["scan_many"] = m.get("scan_many", 0) + m.pop("merge_scan")
        assert m == p, (seed, pages, dict(plain.calls), dict(merging.calls))
        cursor = want.cursor
        if cursor is None:
            break
        if pages > 30:
            continue
        for list_id in rng.sample(ids, min(len(ids), 2)):
            r = rng.random()
            if r < 0.5:
                w.grow(list_id, rng.randrange(0, 3 * n + 2), dead=rng.choice([0.0, 0.5, 1.0]))
            elif r < 0.8:
                w.delete_some(list_id, rng.randrange(1, 2 * n + 2))
        if rng.random() < 0.2:
            ids.append(f"l{len(ids)}x")
            w.grow(ids[-1], rng.randrange(0, 3 * n + 5), dead=rng.choice([0.0, 0.5]))
        if rng.random() < 0.1 and len(ids) > 1:
            ids.remove(rng.choice(ids))  # a list leaves the set
    else:
        raise AssertionError("the cursor never ended")


def _random_lists(rng: random.Random) -> tuple[MemoryStore, dict[str, int]]:
    store = MemoryStore()
    starts: dict[str, int] = {}
    clock = BASE_TS
    for k in range(rng.randrange(1, 6)):
        lid = f"m{k}"
        size = rng.randrange(0, 40)
        dead = rng.choice([0.0, 0.3, 0.9])
        for pos in range(size):
            if rng.random() < 0.03:
                continue  # a gap
            clock += rng.randrange(0, 2)
            e: dict[str, Any] = {"id": f"{lid}{pos}", "ts": clock + rng.randrange(-20, 20)}
            if rng.random() < dead:
                e["d"] = 1
            store.claim(lid, pos, [e])
        starts[lid] = rng.choice([0, 0, 0, rng.randrange(0, size + 1)])
    return store, starts


@pytest.mark.parametrize("seed", range(300))
def test_merge_latest_with_random_cursors_and_heavy_skew(seed) -> None:
    """merge_latest directly, with hand-made cursors (lists below None, at 0, in the
    middle, absent; a mark anywhere), starts above 0, gaps and ts skew of +-20 ms: the
    merged read returns what the plain one does, and never reads a cut list again."""
    rng = random.Random(seed)
    store, starts = _random_lists(rng)
    cursor = None
    if rng.random() < 0.7:
        below = {}
        for lid in starts:
            r = rng.random()
            if r < 0.25:
                continue  # added since
            below[lid] = None if r < 0.5 else rng.randrange(0, 45)
        mark = rng.choice([*starts, "m", "zz"])
        last = (BASE_TS + rng.randrange(-20, 60), mark, rng.randrange(-1, 45))
        cursor = Cursor(below, rng.choice([None, last, last]))
    n = rng.choice([1, 2, 4, 7, 30, 100])
    plain_log: list[Any] = []
    merged_log: list[Any] = []
    want = _drive(merge_latest(starts, n, cursor), store, plain_log)
    got = _drive(merge_latest(starts, n, cursor, merge=True), store, merged_log)
    assert got == want
    assert len(merged_log) == len(plain_log)
    first = merged_log[0] if merged_log else None
    if isinstance(first, MergeScan):
        answer = store.merge_scan(first.scans, first.n, first.fresh, first.last)
        cut = {s.list_id for s, m in zip(first.scans, answer, strict=True) if m.live > len(m.slots)}
        for op in merged_log[1:]:
            assert not cut & {s.list_id for s in op.scans}, "a cut list was read further"


def test_asyncio_random_walk_matches() -> None:
    from pagedlist.core.apagedlist import AsyncPagedList

    rng = random.Random(99)
    w = _World(rng)
    ids = ["a", "b", "c", "d"]
    for lid in ids:
        w.grow(lid, 40, dead=0.5)

    async def walk(store: Any) -> list[Any]:
        out, cursor = [], None
        while True:
            page = await AsyncPagedList.latest_many(store, ids, 3, cursor=cursor)
            out.append((_items(page), page.cursor))
            cursor = page.cursor
            if cursor is None:
                return out

    assert asyncio.run(walk(AsyncMemoryStore(Merging(w.store)))) == asyncio.run(
        walk(AsyncMemoryStore(w.store))
    )


# --- wrong store answers ---------------------------------------------------------------------


class MoreAboveHi(Merging):
    """A wrong merge: a list with no live rows shipped says it goes on *above* the scan's
    hi (say, the newest position of its run plus the rows it read, not its oldest)."""

    def merge_scan(self, scans, n, fresh=(), last=None):
        parts = list(self.inner.merge_scan(scans, n, fresh, last))
        for i, (s, m) in enumerate(zip(scans, parts, strict=True)):
            if not m.slots and m.live == 0 and m.more is not None and s.hi is not None:
                parts[i] = Merged((), 0, s.hi + s.limit)
        return tuple(parts)


def _tombstoned_pair(store: MemoryStore) -> None:
    # "b": one old item. "a": 40 newer items, positions 10..19 deleted (a burst).
    PagedList.create(store, "b").append("b0", ts=1000.0)
    a = PagedList.create(store, "a")
    a.extend([{"k": k} for k in range(40)], ts=[1001.0 + k for k in range(40)])
    for p in range(10, 20):
        a.delete(p)


def test_a_merge_answering_more_above_hi_is_caught() -> None:
    # A ``more`` at or above hi, with no slot shipped, used to pass _check_merged: top_up
    # read the list again above its cursor, and page 2 repeated items of page 1 (a20..a24
    # here). The check: more + limit <= hi (a run that filled its limit lies in
    # [more, more + limit), below hi).
    store = MemoryStore()
    _tombstoned_pair(store)
    first = PagedList.latest_many(store, ["a", "b"], 20)  # a39..a20
    assert [i.position for i in first.items] == list(range(39, 19, -1))
    broken = MoreAboveHi(store)
    with pytest.raises(ContractViolation, match="E17"):
        second = PagedList.latest_many(broken, ["a", "b"], 5, cursor=first.cursor)
        shown = {i.id for i in first.items}
        repeated = [i.id for i in second.items if i.id in shown]
        assert not repeated, f"page 2 repeats {repeated}"


class IgnoresMark(Merging):
    """A wrong merge: it forgets ``fresh``/``last`` (every list read as if not fresh)."""

    def merge_scan(self, scans, n, fresh=(), last=None):
        return self.inner.merge_scan(scans, n, (), None)


def test_a_merge_that_ignores_the_cursor_mark_is_caught() -> None:
    # Rows of a fresh list whose key is not below the cursor's mark (items appended after
    # page 1 to a list that showed nothing yet) used to be accepted: page 2 showed an item
    # newer than page 1's last, out of order, where the plain merge never does. The check:
    # a key compare per shipped row of a list in ``fresh``.
    store = MemoryStore()
    b = PagedList.create(store, "b")
    b.append("old", id="b0", ts=1000.0)
    a = PagedList.create(store, "a")
    for k in range(4):
        a.append(k, id=f"a{k}", ts=1001.0 + k)
    first = PagedList.latest_many(store, ["a", "b"], 2)
    assert [i.id for i in first.items] == ["a3", "a2"]
    b.append("new", id="b1", ts=2000.0)
    plain = PagedList.latest_many(store, ["a", "b"], 2, cursor=first.cursor)
    assert [i.id for i in plain.items] == ["a1", "a0"]
    with pytest.raises(ContractViolation, match="E17"):
        got = PagedList.latest_many(IgnoresMark(store), ["a", "b"], 2, cursor=first.cursor)
        assert [i.id for i in got.items] == ["a1", "a0"], [i.id for i in got.items]


class LiveTooMany(Merging):
    """A wrong merge: a ``live`` count larger than the scan's limit (impossible)."""

    def merge_scan(self, scans, n, fresh=(), last=None):
        return tuple(
            Merged(m.slots, m.live + s.limit + 1, m.more)
            for s, m in zip(scans, self.inner.merge_scan(scans, n, fresh, last), strict=True)
        )


def test_a_live_count_above_the_scan_limit_is_caught() -> None:
    # live > limit used to be accepted (the run a scan reads holds at most limit rows). It
    # marked the empty list "e" cut: the page was right, but "e" looked unfinished, so the
    # last page came with a cursor (the plain read's is None).
    store = MemoryStore()
    PagedList.create(store, "a").extend([{"k": k} for k in range(3)])
    PagedList.create(store, "e")
    assert PagedList.latest_many(store, ["a", "e"], 3).cursor is None
    with pytest.raises(ContractViolation, match="E17"):
        page = PagedList.latest_many(LiveTooMany(store), ["a", "e"], 3)
        assert page.cursor is None, "an exhausted list came back with a cursor"


def test_a_cut_list_that_runs_out_is_caught_not_skipped() -> None:
    # Held up: a store that ships too few rows of a cut list makes the merge run dry
    # before n picks: a ContractViolation, not a short page.
    class Short(Merging):
        def merge_scan(self, scans, n, fresh=(), last=None):
            return tuple(
                Merged((), m.live, m.more) for m in self.inner.merge_scan(scans, n, fresh, last)
            )

    store = MemoryStore()
    PagedList.create(store, "a").extend([{"k": k} for k in range(10)])
    with pytest.raises(ContractViolation, match="E17"):
        PagedList.latest_many(Short(store), ["a"], 5)


# --- round trips of top_up ---------------------------------------------------------------------


def test_common_case_pages_are_one_round_trip_each() -> None:
    # Held up: no tombstones, the same lists on every page: each page after the settings
    # are learnt is one merge_scan, to the end. (A list that joins between pages is not
    # this case: it is read on n rows a round trip below its rows newer than the mark;
    # see the next test.)
    store = MemoryStore()
    ids = [f"l{i}" for i in range(8)]
    lists = [PagedList.create(store, lid) for lid in ids]
    for r in range(30):
        for h in lists[: 1 + r % 8]:
            h.append({"r": r}, ts=1000.0 + r)
    counted = CountingStore(Merging(store))
    cursor = PagedList.latest_many(counted, ids, 7).cursor
    pages = 0
    while cursor is not None:
        counted.reset()
        cursor = PagedList.latest_many(counted, ids, 7, cursor=cursor).cursor
        assert dict(counted.calls) == {"merge_scan": 1}
        pages += 1
    assert pages > 10


def test_a_fresh_list_with_many_newer_rows_costs_a_round_trip_per_n_of_them() -> None:
    # "b" showed nothing on page 1, then got 400 items newer than page 1's mark. On page
    # 2, top_up reads b on below them; it read n = 10 rows per round trip (41 round trips
    # for one page) until each round read twice as far as the last (7 now). As long as b
    # still shows nothing its cursor entry stays None, so the next page reads those rows
    # again (in as few round trips).
    store = MemoryStore()
    b = PagedList.create(store, "b")
    b.extend([{"old": k} for k in range(3)], ts=[1000.0] * 3)
    a = PagedList.create(store, "a")
    a.extend([{"a": k} for k in range(100)], ts=[1001.0] * 100)
    counted = CountingStore(Merging(store))
    first = PagedList.latest_many(counted, ["a", "b"], 10)
    b.extend([{"new": k} for k in range(400)], ts=[2000.0] * 400)
    counted.reset()
    page2 = PagedList.latest_many(counted, ["a", "b"], 10, cursor=first.cursor)
    assert not [i for i in page2.items if i.list_id == "b"]
    trips = counted.total
    counted.reset()
    PagedList.latest_many(counted, ["a", "b"], 10, cursor=page2.cursor)
    assert (trips, counted.total) <= (12, 12), (trips, counted.total)


# --- merge_answer details ----------------------------------------------------------------------


def test_merge_answer_with_duplicate_scans_gives_ties_to_the_last() -> None:
    # The reference with two identical scans: every key ties, and the tie goes to the
    # *last* scan (merge_answer's streams carry (key, scan index), merged in reverse).
    # PostgreSQL's SQL orders ties by (key, list rank, position) only: see
    # test_postgres.py::test_merge_scan_review_duplicate_scans_tie_like_the_reference.
    e = {"id": "x", "ts": 5, "v": "1"}
    scans = (Scan("a", 0, None, 3, True), Scan("a", 0, None, 3, True))
    answers = (((0, e),), ((0, e),))
    assert merge_answer(scans, answers, 1) == (Merged((), 1, None), Merged(((0, e),), 1, None))


def test_merge_answer_ts_types_mix_like_the_core_key() -> None:
    # Held up: _key compares ts as Python does (int and float), in the reference and in
    # merge_latest alike.
    scans = (Scan("a", 0, None, 3, True), Scan("b", 0, None, 3, True))
    answers = (((0, {"id": "x", "ts": 5.5}),), ((0, {"id": "y", "ts": 5}),))
    got = merge_answer(scans, answers, 1)
    assert got[0].slots and not got[1].slots


def test_entries_module_exports() -> None:
    assert "merge_answer" in ent.__all__


def test_a_huge_n_merges_like_any_other() -> None:
    # Failed before the one-line fix in merge_answer (islice's stop must fit a C ssize_t):
    # n = 2**70 raised ValueError from the reference, so from Store.merge_scan's default,
    # the PostgreSQL fallback (a ts kept in rest) and latest_many on a merging store,
    # where the plain read answers.
    scans = (Scan("a", 0, None, 1 << 70, True),)
    e = {"id": "x", "ts": 5, "v": "1"}
    assert merge_answer(scans, (((0, e),),), 1 << 70) == (Merged(((0, e),), 1, None),)
    store = MemoryStore()
    PagedList.create(store, "a").extend([{"k": k} for k in range(3)])
    want = PagedList.latest_many(store, ["a"], 1 << 70)
    assert PagedList.latest_many(Merging(store), ["a"], 1 << 70) == want
