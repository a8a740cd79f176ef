"""FaultyStore: each fault does what it says, reproducibly, and the driver's retries turn
refused calls and lost answers into exactly-once appends on real stores."""

from __future__ import annotations

import pytest

from pagedlist import PagedList
from pagedlist.adapters import open_store
from pagedlist.adapters.memory import MemoryStore
from pagedlist.conformance.faults import WRITES, FaultyStore
from pagedlist.conformance.history import snapshot
from pagedlist.errors import DeadlineExceeded, StoreUnavailable


@pytest.fixture(params=["memory", "sqlite"])
def inner(request, tmp_path):
    if request.param == "memory":
        yield MemoryStore()
    else:
        store = open_store(f"sqlite:///{tmp_path / 'faults.db'}")
        yield store
        store.close()


def test_unavailable_refuses_before_the_call(inner):
    faulty = FaultyStore(inner, unavailable=1.0)
    with pytest.raises(StoreUnavailable, match="refused before it ran"):
        faulty.put_if_absent("k", {"x": 1})
    assert inner.get("k") is None
    assert faulty.injected["unavailable"] == 1


def test_lost_answer_commits_then_times_out(inner):
    faulty = FaultyStore(inner, lost=1.0)
    with pytest.raises(DeadlineExceeded, match="answer was lost"):
        faulty.put_if_absent("k", {"x": 1})
    row = inner.get("k")
    assert row is not None and row.doc == {"x": 1}


def test_ops_limits_which_calls_fail(inner):
    faulty = FaultyStore(inner, unavailable=1.0, ops=WRITES)
    assert faulty.get("k") is None  # reads untouched
    with pytest.raises(StoreUnavailable):
        faulty.increment("k", "n")


def test_delay_sleeps_before_the_call(inner):
    slept: list[float] = []
    faulty = FaultyStore(inner, delay=1.0, max_delay=0.5, sleep=slept.append)
    faulty.get("k")
    assert len(slept) == 1 and 0 <= slept[0] <= 0.5


def test_same_seed_same_faults():
    def outcomes(seed: int) -> list[str]:
        faulty = FaultyStore(MemoryStore(), seed=seed, unavailable=0.3, lost=0.3)
        out = []
        for _ in range(50):
            try:
                faulty.increment("k", "n")
                out.append("ok")
            except (StoreUnavailable, DeadlineExceeded) as err:
                out.append(type(err).__name__)
        return out

    assert outcomes(7) == outcomes(7)
    assert outcomes(7) != outcomes(8)
    assert {"ok", "StoreUnavailable", "DeadlineExceeded"} <= set(outcomes(7))


def test_bad_probabilities_are_refused():
    with pytest.raises(ValueError, match="probability"):
        FaultyStore(MemoryStore(), lost=1.5)
    with pytest.raises(ValueError, match="must not exceed 1"):
        FaultyStore(MemoryStore(), lost=0.6, unavailable=0.6)
    with pytest.raises(ValueError, match="unknown operations"):
        FaultyStore(MemoryStore(), ops={"frobnicate"})  # "scan" is an operation now


def test_driver_turns_faults_into_exactly_once_appends(inner):
    """Half of all calls refused or answered-then-lost: every append still lands once,
    at the position it returned, across several page roll-overs."""
    faulty = FaultyStore(inner, seed=3, unavailable=0.25, lost=0.25)
    plist = PagedList.create(faulty, "faulty-list", capacity=3)
    told = {f"i{k}": plist.append(k, id=f"i{k}") for k in range(25)}
    assert faulty.injected["lost"] > 5 and faulty.injected["unavailable"] > 5
    snap = snapshot(inner, "faulty-list")
    assert {i: p for i, ps in snap.positions().items() for p in ps} == told
    assert sorted(told.values()) == list(range(25))
    faulty.enabled = False
    assert plist.count() == 25
    assert "with faults (seed 3" in faulty.describe()


@pytest.mark.parametrize("layout,push", [(1, True), (2, True), (2, False)])
def test_a_late_retry_of_an_id_after_page_rolls_returns_the_first_commit(layout, push):
    """Exactly-once by caller id for the list's life (docs/guarantees.md), which pagedlist
    0.1 did only within a page: a caller retrying the same id after pages filled and the
    head moved gets the first commit's position, and the list holds the id once."""
    plist = PagedList.create(MemoryStore(push=push), "per-page", capacity=2, layout=layout)
    assert plist.append("x", id="same") == 0
    assert plist.append("x", id="same") == 0  # same page: idempotent
    plist.append("y")  # page 0 is full
    plist.append("z")  # page 1
    for i in range(10):
        plist.append(i)
    assert plist.append("x", id="same") == 0  # pages later: still the first commit
    assert [i.id for i in plist.iter()].count("same") == 1
