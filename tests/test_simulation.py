"""The simulation scheduler: every interleaving of small scenarios, faults, random walks,
and deliberately broken appends that the checker must catch (so it cannot silently stop
working)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pytest

from pagedlist.conformance.simulation import (
    Call,
    Scenario,
    appender,
    explore,
    minimize,
    reader,
    replay,
    talk_append,
    walk,
    walks,
)
from pagedlist.core import algorithms as alg
from pagedlist.core.algorithms import HEAD, ITEMS, Step
from pagedlist.core.ops import Append, Appended, Duplicate, Full, Get, Increment, JSONDoc
from pagedlist.core.values import page_key, summary_key

THREE_APPENDERS = Scenario(
    programs=(appender("a", 2), appender("b", 2), appender("c", 2)), capacity=2
)


def test_every_interleaving_of_three_appenders_keeps_the_invariants():
    """3 clients create the list concurrently then append 2 items each, capacity 2."""
    result = explore(THREE_APPENDERS)
    print(result)
    assert result.counterexample is None, result.counterexample.report()
    assert result.states > 1000
    assert result.interleavings > 10**6


def test_every_placement_of_one_fault_keeps_the_invariants():
    """Same, with one lost answer, give-up or crash placed at every possible step."""
    scenario = Scenario(
        programs=(appender("a", 2), appender("b", 2), appender("c", 1)), capacity=2, faults=1
    )
    result = explore(scenario)
    print(result)
    assert result.counterexample is None, result.counterexample.report()


def test_reads_split_per_key_see_prefixes_with_one_fault():
    """A reader alternating latest(3)/scan while two clients append, with batch reads
    performed one key per step (non-snapshot batch reads) and one fault."""
    scenario = Scenario(
        programs=(appender("a", 2), appender("b", 1), reader(2, n=3, create=False)),
        capacity=2,
        faults=1,
        split_reads=True,
    )
    result = explore(scenario)
    print(result)
    assert result.counterexample is None, result.counterexample.report()


def test_talks_unbounded_append_is_caught_with_a_counterexample():
    """The talk's append (unbounded, then bump the pointer) overfills a page."""
    broken = dataclasses.replace(THREE_APPENDERS, append=talk_append)
    result = explore(broken)
    assert result.counterexample is not None
    small = minimize(broken)
    cx = explore(small).counterexample
    assert cx is not None
    report = cx.report()
    print(report)
    assert cx.violation.code == "I1"
    assert "> capacity 2" in report
    # Minimal: three appends in all, and the shortest schedule.
    assert sum(len(p) for p in small.programs) == 3
    assert len(cx.schedule) <= 8
    # The counterexample replays exactly.
    assert replay(small, cx.schedule).history() == cx.history


def _blind_increment_append(
    list_id: str, capacity: int, head: int, entries: Iterable[JSONDoc], chunk: int
) -> Step:
    """alg.append with the compare removed from compare-and-increment: two writers that
    both see page n full move the head twice, leaving a blank page (the talk's bug)."""
    skey = summary_key(list_id)
    pending, positions, page = list(entries), [], head
    while pending:
        outcome = yield Append(page_key(list_id, page), ITEMS, (pending[0],), capacity)
        match outcome:
            case Appended(length):
                positions.append(page * capacity + length - 1)
                pending.pop(0)
            case Duplicate(index, _):
                positions.append(page * capacity + index)
                pending.pop(0)
            case Full():
                row = yield Get(skey)
                current = int(row.doc[HEAD])
                if current > page:
                    page = current
                    continue
                yield Increment(skey, HEAD, 1)  # BUG: no expect=page
                page += 1
    return positions, page


def test_blind_head_increment_is_caught():
    """Without the compare in compare-and-increment, a page is skipped (invariant 2)."""
    scenario = Scenario(
        programs=(appender("a", 2, create=False), appender("b", 2, create=False)), capacity=1
    )
    assert explore(scenario).counterexample is None
    cx = explore(dataclasses.replace(scenario, append=_blind_increment_append)).counterexample
    assert cx is not None
    print(cx.report())
    assert cx.violation.code in ("I2", "I3")


def _fresh_id_on_duplicate_append(
    list_id: str, capacity: int, head: int, entries: Iterable[JSONDoc], chunk: int
) -> Step:
    """alg.append that treats Duplicate as "someone else's item" and appends again under a
    new id: harmless without faults, a duplicate as soon as an answer is lost."""
    entries = list(entries)
    positions: list[int] = []
    page = head
    for entry in entries:
        while True:
            outcome = yield Append(page_key(list_id, page), ITEMS, (entry,), capacity)
            if isinstance(outcome, Duplicate):
                entry = {**entry, "id": entry["id"] + "'"}
                continue
            if isinstance(outcome, Full):
                page += 1
                yield Increment(summary_key(list_id), HEAD, 1, expect=page - 1)
                continue
            positions.append(page * capacity + outcome.length - 1)
            break
    return positions, page


def test_lost_answer_fault_exposes_a_non_idempotent_retry():
    """The lost-answer fault models the driver's retry of the same operation: an append that
    does not accept its own earlier commit duplicates the item (invariant 3)."""
    scenario = Scenario(
        programs=(appender("a", 1, create=False), appender("b", 1, create=False)),
        capacity=2,
        append=_fresh_id_on_duplicate_append,
    )
    assert explore(scenario).counterexample is None  # no faults, no bug visible
    cx = explore(dataclasses.replace(scenario, faults=1)).counterexample
    assert cx is not None
    print(cx.report())
    assert any(c.action == "lost" for c in cx.schedule)


BIG = Scenario(
    programs=(
        *(appender(f"w{i}", 4) for i in range(5)),
        reader(4),
        (Call("create"), Call("count"), Call("extend", ("x0", "x1", "x2", "x3")), Call("scan")),
    ),
    capacity=3,
    faults=4,
    split_reads=True,
)


def test_random_walks_with_faults_and_slow_calls_keep_the_invariants():
    """60 seeded random schedules of 7 clients with faults and held (slow) calls."""
    failing = walks(BIG, range(60), fault_rate=0.1)
    assert failing is None, failing.counterexample.report()


def test_a_walk_replays_exactly_from_its_seed():
    first, again = walk(BIG, 12345, fault_rate=0.2), walk(BIG, 12345, fault_rate=0.2)
    assert first.schedule == again.schedule
    assert first.history == again.history
    assert any(c.action != "step" for c in first.schedule)


def test_random_walk_catches_the_talks_append_and_its_seed_replays():
    broken = dataclasses.replace(BIG, append=talk_append)
    failing = walks(broken, range(50))
    assert failing is not None and failing.counterexample is not None
    print(failing.counterexample.report())
    assert f"seed {failing.seed}" in failing.counterexample.report()
    again = walk(broken, failing.seed)
    assert again.schedule == failing.schedule
    assert again.counterexample is not None
    assert again.counterexample.violation == failing.counterexample.violation


@pytest.mark.parametrize("kind", ["fail", "crash"])
def test_abandoned_calls_are_unacknowledged_and_at_most_once(kind):
    """A client that gives up (or dies) after its append committed with a lost answer:
    the item is in the list once, and its call is recorded as failed."""
    scenario = Scenario(
        programs=(appender("a", 2, create=False),),
        capacity=2,
        faults=2,
        fault_kinds=frozenset({"lost", kind}),
    )
    state = replay(scenario, [_c("lost", 0), _c(kind, 0)])
    history = state.history()
    assert history.final.pages[0] == ("a0",)
    assert history.events[0].positions is None
    assert explore(scenario).counterexample is None


def _c(action: str, actor: int):
    from pagedlist.conformance.simulation import Choice

    return Choice(action, actor)


def test_the_real_append_is_what_runs():
    """Guard: the default scenario runs core.algorithms.append, not a copy."""
    assert THREE_APPENDERS.append is alg.append


def test_extend_split_across_pages_with_a_fault():
    """An extend of 4 with capacity 3 and at most 2 entries per store append (an adapter
    with a small ``append_entries``) racing an appender, one fault anywhere."""
    scenario = Scenario(
        programs=(appender("a", 2, create=False), (Call("extend", ("x0", "x1", "x2", "x3")),)),
        capacity=3,
        chunk=2,
        faults=1,
    )
    result = explore(scenario)
    print(result)
    assert result.counterexample is None, result.counterexample.report()
