"""The driver: retries of transient errors with backoff, deadline, lost answers."""

from __future__ import annotations

import random

import pytest

from pagedlist import PagedList
from pagedlist.adapters.memory import MemoryStore
from pagedlist.core.counting import CountingStore
from pagedlist.core.driver import RetryPolicy, run
from pagedlist.core.ops import Get
from pagedlist.errors import (
    ContractViolation,
    DeadlineExceeded,
    ItemTooLarge,
    StoreUnavailable,
    Throttled,
)


class Flaky(CountingStore):
    """Fails the next ``fail`` calls of ``method``; with ``commit`` the call runs first (its
    answer is lost), without it the call fails before reaching the store."""

    def __init__(self, inner, method: str, error: Exception, fail: int, commit: bool) -> None:
        super().__init__(inner)
        self.method, self.error, self.fail, self.commit = method, error, fail, commit

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name != super().__getattribute__("method") or not callable(attr):
            return attr

        def wrapped(*args, **kwargs):
            if self.fail > 0:
                self.fail -= 1
                if self.commit:
                    attr(*args, **kwargs)
                raise self.error
            return attr(*args, **kwargs)

        return wrapped


class FakeClock:
    """A clock the driver's sleeps advance, so deadline tests take no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_lost_answer_append_commits_once():
    """An append whose answer is lost is retried on the same page and found as Duplicate."""
    inner = MemoryStore()
    plist = PagedList.create(inner, "l", capacity=3, layout=1)
    plist.extend(["a", "b"])
    flaky = Flaky(inner, "append", DeadlineExceeded("answer lost"), fail=2, commit=True)
    again = PagedList.open(flaky, "l")
    assert again.append("c") == 2
    assert [i.value for i in plist.iter()] == ["a", "b", "c"]
    assert flaky.calls["append"] == 3


def test_failed_before_commit_is_retried():
    """A call that failed before reaching the store is simply retried."""
    inner = MemoryStore()
    PagedList.create(inner, "l", capacity=3, layout=1)
    flaky = Flaky(inner, "append", StoreUnavailable("refused"), fail=3, commit=False)
    assert PagedList.open(flaky, "l").append("x") == 0
    assert PagedList.open(inner, "l").count() == 1


def test_lost_answer_across_page_roll_still_once():
    """A lost answer on the increment that rolls the head is harmless: it is a
    compare-and-increment, so the retry sees the moved head and goes on."""
    inner = MemoryStore()
    plist = PagedList.create(inner, "l", capacity=2, layout=1)
    plist.extend(["a", "b"])
    flaky = Flaky(inner, "increment", DeadlineExceeded("answer lost"), fail=1, commit=True)
    assert PagedList.open(flaky, "l").append("c") == 2
    assert inner.get("l|s").doc["head"] == 1
    assert [i.value for i in plist.iter()] == ["a", "b", "c"]


def test_backoff_grows_with_jitter_and_deadline_raises_last_error():
    """Retries back off exponentially (full jitter) and stop at the deadline with the last
    transient error, annotated."""
    clock = FakeClock()
    store = Flaky(MemoryStore(), "get", Throttled("slow down"), fail=10**6, commit=False)
    policy = RetryPolicy(deadline=2.0, base_delay=0.01, max_delay=0.5)

    def step():
        return (yield Get("k"))

    with pytest.raises(Throttled, match=r"gave up after \d+ attempt"):
        run(step(), store, policy, clock=clock, sleep=clock.sleep, rng=random.Random(1))
    assert clock.now <= 2.0 and len(clock.sleeps) > 5
    assert max(clock.sleeps) <= 0.5
    ceilings = [min(0.5, 0.01 * 2**i) for i in range(len(clock.sleeps))]
    assert all(0 <= s <= c for s, c in zip(clock.sleeps, ceilings, strict=True))


def test_retry_after_is_honoured():
    """A Throttled error's retry_after is the least the driver waits."""
    clock = FakeClock()
    store = Flaky(MemoryStore(), "get", Throttled("429", retry_after=0.3), fail=2, commit=False)

    def step():
        return (yield Get("k"))

    assert run(step(), store, RetryPolicy(deadline=5), clock=clock, sleep=clock.sleep) is None
    assert clock.sleeps and all(s >= 0.3 for s in clock.sleeps)


def test_unavailable_store_fails_within_deadline():
    """An unreachable store surfaces as StoreUnavailable once the deadline passes."""
    clock = FakeClock()
    store = Flaky(MemoryStore(), "get", StoreUnavailable("down"), fail=10**6, commit=False)
    plist = PagedList(store, "l", deadline=1.0)

    def step():
        return (yield Get("l|s"))

    with pytest.raises(StoreUnavailable):
        run(step(), store, plist._policy, clock=clock, sleep=clock.sleep)
    assert clock.now <= 1.0


def test_non_retryable_errors_are_not_retried():
    """ItemTooLarge from the store is raised at once."""
    store = Flaky(MemoryStore(), "append", ItemTooLarge("row too big"), fail=5, commit=False)
    plist = PagedList.create(store, "l", capacity=3, layout=1)
    with pytest.raises(ItemTooLarge):
        plist.append("x")
    assert store.fail == 4  # one attempt, no retry


def test_contention_past_deadline_raises_deadline_exceeded():
    """An operation still looping when its deadline passes raises DeadlineExceeded."""
    clock = FakeClock()

    def endless():
        while True:
            clock.now += 1
            yield Get("k")

    with pytest.raises(DeadlineExceeded, match="deadline"):
        run(endless(), MemoryStore(), RetryPolicy(deadline=3), clock=clock, sleep=clock.sleep)


class Lying(MemoryStore):
    """An adapter that breaks the bound: reports a length over max_len."""

    def append(self, key, field, entries, max_len):
        from pagedlist.core.ops import Appended

        super().append(key, field, entries, 10**6)
        return Appended(max_len + 1)


def test_broken_adapter_is_reported_as_contract_violation():
    """A store answer the contract forbids raises ContractViolation naming the clause."""
    plist = PagedList.create(Lying(), "l", capacity=2, layout=1)
    with pytest.raises(ContractViolation, match="A1"):
        plist.append("x")


def test_a_late_answer_is_still_delivered():
    """An operation whose last call answers after the deadline returns that answer: a
    committed write is not reported as failed for being slow."""
    clock = FakeClock()

    class Slow(MemoryStore):
        def append(self, *args, **kwargs):
            clock.now += 60  # far past the deadline
            return super().append(*args, **kwargs)

    store = Slow()
    PagedList.create(store, "l", capacity=3, layout=1)

    def step():
        from pagedlist.core import algorithms as alg

        return (yield from alg.append("l", 3, 0, [{"id": "x", "ts": 1, "v": "1"}], 3))

    positions, _ = run(step(), store, RetryPolicy(deadline=5), clock=clock, sleep=clock.sleep)
    assert positions == [0]


# --- layout 2 and the calls that are not safe to repeat ------------------------------------


@pytest.mark.parametrize("push", [True, False], ids=["push", "claim"])
def test_layout_two_lost_answers_commit_once(push):
    """Layout 2: a push or claim whose answer is lost twice is repeated and finds its own
    commit; the item is in the list once."""
    inner = MemoryStore(push=push)
    plist = PagedList.create(inner, "l")
    plist.extend(["a", "b"])
    method = "push" if push else "claim"
    flaky = Flaky(inner, method, DeadlineExceeded("answer lost"), fail=2, commit=True)
    assert PagedList.open(flaky, "l").append("c") == 2
    assert [i.value for i in plist.iter()] == ["a", "b", "c"]
    assert flaky.calls[method] == 3


@pytest.mark.parametrize("push", [True, False], ids=["push", "claim"])
def test_layout_two_refused_calls_are_retried(push):
    inner = MemoryStore(push=push)
    PagedList.create(inner, "l")
    method = "push" if push else "claim"
    flaky = Flaky(inner, method, StoreUnavailable("refused"), fail=3, commit=False)
    assert PagedList.open(flaky, "l").append("x") == 0
    assert flaky.fail == 0 and flaky.calls[method] == 1  # three refusals, then one real call
    assert PagedList.open(inner, "l").count() == 1


def test_unconditional_increment_is_never_repeated_after_an_ambiguous_failure():
    """An Increment without expect whose answer was lost is not sent again (it would count
    twice): the driver raises DeadlineExceeded, outcome unknown, after one attempt; one
    refused before it ran is retried."""
    from pagedlist.core.ops import Increment

    inner = MemoryStore()

    def bump():
        return (yield Increment("k", "n", 1))

    lost = Flaky(inner, "increment", DeadlineExceeded("answer lost"), fail=1, commit=True)
    with pytest.raises(DeadlineExceeded, match="outcome is unknown"):
        run(bump(), lost)
    assert inner.get("k").doc["n"] == 1 and lost.calls["increment"] == 1
    refused = Flaky(inner, "increment", Throttled("slow down"), fail=2, commit=False)
    assert run(bump(), refused) == 2
    assert inner.get("k").doc["n"] == 2


def test_an_outer_deadline_bounds_the_operation():
    """A deadline already active around an operation (a web request's) is honoured when it
    is the earlier one: retries stop there."""
    import time

    from pagedlist.core import deadline

    store = Flaky(MemoryStore(), "get", StoreUnavailable("down"), fail=10**6, commit=False)

    def step():
        return (yield Get("k"))

    began = time.monotonic()
    with deadline.active(began + 0.3), pytest.raises(StoreUnavailable, match="gave up"):
        run(step(), store, RetryPolicy(deadline=30))
    assert time.monotonic() - began < 1.5


def test_retry_after_as_an_int_is_honoured():
    clock = FakeClock()
    store = Flaky(MemoryStore(), "get", Throttled("429", retry_after=1), fail=1, commit=False)

    def step():
        return (yield Get("k"))

    assert run(step(), store, RetryPolicy(deadline=5), clock=clock, sleep=clock.sleep) is None
    assert clock.sleeps == [1.0]
