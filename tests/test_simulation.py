"""The simulation scheduler: every interleaving of small scenarios, faults, random walks,
and deliberately broken appends that the checker must catch (so it cannot silently stop
working)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable

import pytest

from pagedlist.adapters.memory import MemoryStore
from pagedlist.core import algorithms as alg
from pagedlist.core import entries as ent
from pagedlist.core import lifecycle as life
from pagedlist.core.algorithms import HEAD, ITEMS, Step
from pagedlist.core.ops import (
    Append,
    Appended,
    Claim,
    Duplicate,
    Full,
    Get,
    GetEntry,
    Increment,
    JSONDoc,
    PutIfAbsent,
    ReplaceEntry,
    Taken,
)
from pagedlist.core.values import id_record_key, page_key, summary_key
from pagedlist.simulation import (
    Call,
    Scenario,
    SimulationError,
    appender,
    explore,
    minimize,
    reader,
    replay,
    retrier,
    talk_append,
    verify,
    walk,
    walks,
)

THREE_APPENDERS = Scenario(
    programs=(appender("a", 2), appender("b", 2), appender("c", 2)), capacity=2
)


def test_every_interleaving_of_three_appenders_keeps_the_invariants():
    """3 clients create the list concurrently then append 2 items each, capacity 2."""
    result = verify(THREE_APPENDERS)
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
    from pagedlist.simulation import Choice

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


# --- layout 2: entry rows, by claim and by push ------------------------------------------------

CLAIMS = Scenario(
    programs=(appender("a", 2), appender("b", 2), appender("c", 2)), capacity=2, layout=2
)


@pytest.mark.parametrize("push", [False, True], ids=["claim", "push"])
def test_layout_two_every_interleaving(push):
    """Layout 2: 3 clients create the list concurrently and append 2 items each."""
    result = explore(dataclasses.replace(CLAIMS, push=push))
    print(result)
    assert result.counterexample is None, result.counterexample.report()
    assert result.interleavings > (10**4 if push else 10**5)


@pytest.mark.parametrize("push", [False, True], ids=["claim", "push"])
def test_layout_two_every_placement_of_one_fault(push):
    """Layout 2 with one lost answer, give-up or crash at every possible step."""
    scenario = Scenario(
        programs=(appender("a", 2), appender("b", 2), appender("c", 1)),
        capacity=2,
        faults=1,
        layout=2,
        push=push,
    )
    result = explore(scenario)
    print(result)
    assert result.counterexample is None, result.counterexample.report()


@pytest.mark.parametrize("push", [False, True], ids=["claim", "push"])
def test_layout_two_reads_split_per_row_with_one_fault(push):
    """Readers (latest, scan, count) whose range reads move a cursor one row per step while
    two clients append, one fault anywhere."""
    scenario = Scenario(
        programs=(
            appender("a", 2, create=False),
            appender("b", 1, create=False),
            (Call("latest", n=2), Call("scan"), Call("count")),
        ),
        capacity=2,
        faults=1,
        split_reads=True,
        layout=2,
        push=push,
    )
    result = explore(scenario)
    print(result)
    assert result.counterexample is None, result.counterexample.report()


@pytest.mark.parametrize(
    "layout,push", [(1, False), (2, False), (2, True)], ids=["layout1", "claim", "push"]
)
def test_caller_retries_of_one_id_commit_once(layout, push):
    """A caller appends with its own id and repeats the call (after an answer, a lost
    answer, a give-up or a crash), while another client fills pages: the id is in the list
    once, and every acknowledged call was told that one position. Two faults anywhere."""
    scenario = Scenario(
        programs=(retrier("x", 2), appender("b", 2, create=False)),
        capacity=1,
        faults=2,
        layout=layout,
        push=push,
    )
    result = explore(scenario)
    print(result)
    assert result.counterexample is None, result.counterexample.report()


@pytest.mark.parametrize(
    "layout,push", [(1, False), (2, False), (2, True)], ids=["layout1", "claim", "push"]
)
def test_a_crashed_callers_id_is_finished_by_another(layout, push):
    """The caller dies mid-append; a redelivery (another client) appends the same id later,
    after the list moved on: once in the list."""
    scenario = Scenario(
        programs=(retrier("x", 1), appender("b", 1, create=False), retrier("x", 1)),
        capacity=1,
        faults=1,
        fault_kinds=frozenset({"crash", "lost"}),
        layout=layout,
        push=push,
    )
    result = explore(scenario)
    print(result)
    assert result.counterexample is None, result.counterexample.report()


# --- broken variants of the exactly-once design: each must be caught ---------------------------


def _record_after_claim(list_id, hint, start, entry, summary) -> Step:
    """Exactly-once by id done wrong: look the record up, claim, and only then write the
    record. A caller that dies between the claim and the record leaves no trace of its
    commit, so the next call with the same id appends it again."""
    key = id_record_key(list_id, entry["id"])
    found = yield Get(key)
    if found is not None:
        return found.doc["p"], hint
    positions, hint = yield from ent.append_claim(list_id, hint, [entry], 1)
    yield PutIfAbsent(key, {"id": entry["id"], "p": positions[0]})
    return positions[0], hint


def _no_record(list_id, hint, start, entry, summary) -> Step:
    """Exactly-once by id with no record at all: a plain claim with the caller's id."""
    positions, hint = yield from ent.append_claim(list_id, hint, [entry], 1)
    return positions[0], hint


def _no_record_layout1(list_id, capacity, head, entry) -> Step:
    """Layout 1 as pagedlist 0.1 did it: the id is only checked against the page it lands
    on, so a retry after the page rolled over appends it again."""
    positions, head = yield from alg.append(list_id, capacity, head, [entry], capacity)
    return positions[0], head


def _claim_forgetting_own_commit(list_id, hint, entries, chunk) -> Step:
    """A claim append that takes every Taken for another writer's item, its own earlier
    commit (whose answer was lost) included."""
    pos, out = hint, []
    for entry in entries:
        while True:
            answer = yield Claim(list_id, pos, (entry,))
            if isinstance(answer, Taken):
                pos += 1
                continue
            out.append(pos)
            pos += 1
            break
    return out, pos


def _claim_skipping_ahead(list_id, hint, entries, chunk) -> Step:
    """A claim append that, on Taken, jumps two past the newest position: a hole."""
    pos, out = hint, []
    for entry in entries:
        while True:
            answer = yield Claim(list_id, pos, (entry,))
            if isinstance(answer, Taken):
                newest = yield from ent.newest_position(list_id, pos)
                pos = newest + 2
                continue
            out.append(pos)
            pos += 1
            break
    return out, pos


class _ForgetfulStore(MemoryStore):
    """A store whose push forgets which ids the list holds (an adapter bug)."""

    def push(self, list_id, entries, floor=0):
        fresh = [{**e, "id": f"{e['id']}#{uuid.uuid4().hex[:6]}"} for e in entries]
        answer = super().push(list_id, fresh, floor)
        with self._lock:
            lst = self._entries[list_id]
            for e, pos in zip(entries, answer.positions, strict=True):
                lst.rows[pos] = ({**lst.rows[pos][0], "id": e["id"]}, lst.rows[pos][1])
        return answer


RETRY = Scenario(
    programs=(retrier("x", 1), appender("b", 1, create=False), retrier("x", 1)),
    capacity=1,
    faults=1,
    fault_kinds=frozenset({"crash", "lost"}),
    layout=2,
)


@pytest.mark.parametrize(
    "broken,code",
    [
        (dict(once=_record_after_claim), "I3"),
        (dict(once=_no_record), "I3"),
        (dict(once=_no_record_layout1, layout=1), "I3"),
        (dict(claim=_claim_forgetting_own_commit), "I3"),
        (dict(claim=_claim_skipping_ahead), "I2"),
        (dict(push=True, store=_ForgetfulStore), "I3"),
    ],
    ids=[
        "record-after-claim",
        "no-record",
        "layout1-page-dedupe-only",
        "claim-forgets-own-commit",
        "claim-skips-ahead",
        "push-forgets-ids",
    ],
)
def test_broken_exactly_once_variants_are_caught(broken, code):
    """Each deliberately broken variant of layout 2 or of exactly-once by id is caught,
    with a counterexample; the real algorithms pass the same scenario (above)."""
    scenario = dataclasses.replace(RETRY, **broken)
    if broken.get("layout") == 1:
        # The 0.1 bug: the same client retries after its own handle moved to a later page.
        again = (Call("append_id", ("x",)), Call("append", ("y",)), Call("append_id", ("x",)))
        scenario = dataclasses.replace(scenario, programs=(again,))
    if "claim" in broken:
        scenario = dataclasses.replace(
            scenario, programs=(appender("a", 2, create=False), appender("b", 2, create=False))
        )
    cx = explore(scenario).counterexample
    assert cx is not None, f"{broken} was not caught"
    print(cx.report())
    assert cx.violation.code == code
    clean = dataclasses.replace(scenario, once=None, claim=ent.append_claim, store=MemoryStore)
    assert explore(clean).counterexample is None


@pytest.mark.parametrize("push", [False, True], ids=["claim", "push"])
def test_layout_two_random_walks_with_retries_and_faults(push):
    """60 seeded random schedules of layout 2: appenders, caller-id retriers, readers with
    per-row scans, an extend, up to 4 faults and held (slow) calls."""
    scenario = dataclasses.replace(
        BIG,
        programs=(*BIG.programs, retrier("r", 3), retrier("r", 2)),
        layout=2,
        push=push,
        chunk=2,
    )
    failing = walks(scenario, range(60), fault_rate=0.1)
    assert failing is None, failing.counterexample.report()


@pytest.mark.parametrize("push", [False, True], ids=["claim", "push"])
def test_layout_two_deletes_edits_and_trims_with_appends_and_a_fault(push):
    """Deletes, edits and a trim racing appends and readers (per-row scans), one fault
    anywhere: tombstones are never resurrected, positions never move, reads skip only what
    was deleted or trimmed, every acknowledged append is where it was told."""
    scenario = Scenario(
        programs=(
            appender("a", 2, create=False),
            (Call("delete", n=0), Call("edit", n=1)),
            (Call("trim", n=1), Call("latest", n=2), Call("scan")),
        ),
        capacity=2,
        faults=1,
        split_reads=True,
        layout=2,
        push=push,
    )
    result = explore(scenario)
    print(result)
    assert result.counterexample is None, result.counterexample.report()
    assert result.states > 100


def test_an_edit_that_ignores_a_racing_delete_is_caught(monkeypatch):
    """The checker catches a lifecycle bug: an edit that, when its compare-and-swap fails,
    writes again over whatever is there now, a racing delete's tombstone included (a
    resurrection, I6); the real edit re-reads and refuses a deleted item."""

    def blind_replace(list_id, start, position, text, now_ms):
        row = yield from life._live_row(list_id, start, position)
        new = {"id": row.doc["id"], "ts": row.doc["ts"], "v": text}
        if (yield ReplaceEntry(list_id, position, new, row.version)) is None:
            again = yield GetEntry(list_id, position)  # BUG: no check for a tombstone
            yield ReplaceEntry(list_id, position, new, again.version)
        return new

    scenario = Scenario(
        programs=((Call("delete", n=0), Call("latest", n=2)), (Call("edit", n=0),)),
        capacity=2,
        layout=2,
        push=True,
        prefill=("p0", "p1"),
    )
    assert explore(scenario).counterexample is None
    monkeypatch.setattr(life, "replace", blind_replace)
    cx = explore(scenario).counterexample
    assert cx is not None
    print(cx.report())
    assert cx.violation.code in ("I5", "I6")


class _OldestFirstMerge(MemoryStore):
    """A store whose merged scan ships a list's oldest live rows instead of its newest (an
    ORDER BY the wrong way round): each answer is still a valid-looking, descending run."""

    def merge_scan(self, scans, n, fresh=(), last=None):
        rows = [self.scan(s.list_id, s.lo, s.hi, s.limit)[::-1] for s in scans]
        return ent.merge_answer(scans, rows, n, fresh, last)


TIMELINE = Scenario(
    programs=(
        appender("a", 2, create=False),
        (Call("delete", n=0),),
        (Call("timeline", n=1), Call("timeline", n=2)),
    ),
    capacity=2,
    faults=1,
    layout=2,
    push=True,
    prefill=("p0",),
)


@pytest.mark.parametrize("push", [False, True], ids=["claim", "push"])
def test_timeline_reads_through_the_merged_scan_keep_the_invariants(push):
    """latest_many of the one list through the store's merged scan (MergeScan), racing
    appends and a delete, one fault anywhere: checked as a latest read, every page is the
    newest live run at some moment of the call."""
    result = explore(dataclasses.replace(TIMELINE, push=push))
    print(result)
    assert result.counterexample is None, result.counterexample.report()
    assert result.states > 50


def test_a_merged_scan_shipping_the_oldest_rows_is_caught():
    cx = explore(dataclasses.replace(TIMELINE, store=_OldestFirstMerge)).counterexample
    assert cx is not None, "a merge that ships the oldest rows was not caught"
    print(cx.report())
    assert cx.violation.code == "I5"


def test_verify_raises_with_the_counterexample():
    """verify() raises SimulationError carrying the counterexample and its report."""
    with pytest.raises(SimulationError, match=r"I1 broken") as caught:
        verify(dataclasses.replace(THREE_APPENDERS, append=talk_append))
    assert caught.value.counterexample.violation.code == "I1"
