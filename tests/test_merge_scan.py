"""The merged scan (``MergeScan``, ``features.merge``): a home timeline read through a
store that merges on its side gives exactly the pages, cursors included, that the core's
own merge of a ``ScanMany`` gives, and a store whose merge is wrong is caught."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest

from pagedlist import PagedList
from pagedlist.adapters.memory import AsyncMemoryStore, MemoryStore
from pagedlist.core.counting import CountingStore
from pagedlist.core.entries import merge_answer
from pagedlist.core.ops import Features, Merged, MergeScan, Scan
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
