"""Issue-level proof of the invariants: 16 threads x 200 appends (memory, SQLite) and
4 processes x 200 appends (SQLite), capacity 7."""

from __future__ import annotations

import multiprocessing

import pytest

from pagedlist import PagedList, open_store
from pagedlist.adapters.memory import MemoryStore
from pagedlist.conformance.history import check_list
from pagedlist.conformance.list_clauses import _process_appender, hammer


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request, tmp_path):
    if request.param == "memory":
        shared = MemoryStore()
        return lambda: shared
    url = f"sqlite:///{tmp_path / 'load.db'}"
    return lambda: open_store(url)


def test_sixteen_threads_two_hundred_appends(make_store):
    """No item lost or duplicated, every page below the head exactly full, positions
    dense, and real-time order kept (I1-I5)."""
    PagedList.create(make_store(), "load", capacity=7)
    recorder = hammer(make_store, "load", threads=16, per_thread=200, readers=2)
    assert check_list(make_store(), "load", recorder) == []
    assert sorted(pos for _, pos in recorder.acked) == list(range(16 * 200))
    assert PagedList.open(make_store(), "load").count() == 3200


@pytest.mark.parametrize("layout", [1, 2])
def test_four_processes_two_hundred_appends_sqlite(tmp_path, layout):
    """Four OS processes share one SQLite file: 800 appends, dense, none lost."""
    url = f"sqlite:///{tmp_path / 'procs.db'}"
    PagedList.create(open_store(url), "procs", capacity=7, layout=layout)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_process_appender, args=(url, "procs", w, 200, out)) for w in range(4)
    ]
    for p in procs:
        p.start()
    acks = [a for _ in procs for a in out.get(timeout=240)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(pos for _, pos in acks) == list(range(800))
    stored = {i.id: i.position for i in PagedList.open(open_store(url), "procs").iter()}
    assert stored == dict(acks)
    if layout == 1:
        rows = open_store(url).get_many([f"procs|{p}" for p in range(800 // 7)])
        assert all(len(r.doc["items"]) == 7 for r in rows.values()) and len(rows) == 800 // 7
    else:
        slots = open_store(url).scan("procs", limit=1000)
        assert [pos for pos, _ in slots] == list(range(800))
