"""The history checker: it accepts correct histories, catches each kind of violation
(so it cannot silently stop checking) and shrinks counterexamples. The H* and F* clauses
themselves run on every backend through ConformanceSuite (tests/adapters/)."""

from __future__ import annotations

import pytest

from pagedlist.conformance.history import (
    Event,
    History,
    HistoryViolation,
    Snapshot,
    check,
    shrink,
    verify,
)

# --- the checker itself -------------------------------------------------------------------


def _w(client, start, end, item_id, pos=None, error=None):
    return Event(
        client,
        "append",
        start,
        end,
        ids=(item_id,),
        positions=None if pos is None else (pos,),
        error=error,
    )


def _r(client, start, end, kind, result, n=0):
    return Event(client, kind, start, end, result=tuple(result), n=n)


SNAP = Snapshot(2, 1, {0: ("a", "b"), 1: ("c",)})
GOOD = [
    _w("x", 0, 1, "a", 0),
    _w("y", 0.5, 2, "b", 1),
    _w("x", 3, 4, "c", 2),
    _r("z", 5, 6, "latest", [(2, "c"), (1, "b")], n=2),
    _r("z", 1.5, 6, "scan", [(0, "a")]),
    _r("z", 7, 8, "count", [(3, "")]),
]


def codes(events, snap=SNAP):
    return {v.code for v in check(History(tuple(events), snap))}


def test_a_correct_history_passes():
    assert check(History(tuple(GOOD), SNAP)) == []
    verify(History(tuple(GOOD), SNAP))


def test_overfull_page_is_i1():
    assert "I1" in codes(GOOD, Snapshot(2, 1, {0: ("a", "b", "x"), 1: ("c",)}))


def test_page_below_head_not_full_is_i2():
    assert "I2" in codes(GOOD, Snapshot(2, 2, {0: ("a", "b"), 1: ("c",)}))


def test_items_above_head_is_i2():
    assert "I2" in codes(GOOD, Snapshot(2, 0, {0: ("a", "b"), 1: ("c",)}))


def test_acknowledged_item_missing_or_moved_is_i3():
    assert "I3" in codes(GOOD, Snapshot(2, 1, {0: ("a", "b"), 1: ()}))
    assert "I3" in codes([*GOOD[:2], _w("x", 3, 4, "c", 3)])


def test_duplicate_is_i3_even_for_a_failed_call():
    events = [*GOOD, _w("q", 9, 10, "d", error="gave up")]
    assert codes(events, Snapshot(2, 2, {0: ("a", "b"), 1: ("c", "d"), 2: ("d",)})) >= {"I3"}
    assert codes(events, Snapshot(2, 2, {0: ("a", "b"), 1: ("c", "d"), 2: ()})) == set()


def test_item_nobody_wrote_is_phantom():
    assert "phantom" in codes(GOOD, Snapshot(2, 2, {0: ("a", "b"), 1: ("c", "zz")}))


def test_out_of_real_time_order_is_i4():
    events = [_w("x", 0, 1, "a", 1), _w("y", 2, 3, "b", 0)]
    assert codes(events, Snapshot(2, 0, {0: ("b", "a")})) == {"I4"}
    # Overlapping calls may commit in either order.
    events = [_w("x", 0, 3, "a", 1), _w("y", 2, 4, "b", 0)]
    assert codes(events, Snapshot(2, 0, {0: ("b", "a")})) == set()


@pytest.mark.parametrize(
    "read",
    [
        _r("z", 5, 6, "latest", [(2, "c"), (0, "a")], n=2),  # gap
        _r("z", 5, 6, "latest", [(1, "b")], n=1),  # stale: misses c acknowledged at 4
        _r("z", 5, 6, "latest", [(2, "c"), (1, "x")], n=2),  # item that is not there
        _r("z", 5, 6, "scan", [(1, "b"), (2, "c")]),  # scan not from 0
        _r("z", -2, -1, "scan", [(0, "a")]),  # saw an append that started after it ended
        _r("z", 5, 6, "count", [(2, "")]),  # count below an acknowledged position
        _r("z", 5, 6, "count", [(4, "")]),  # count above what the list ever held
    ],
)
def test_bad_reads_are_i5(read):
    assert codes([*GOOD[:3], read]) == {"I5"}


def test_shrink_keeps_only_the_calls_the_violation_needs():
    noise = [_w(f"n{i}", 10 + i, 11 + i, f"n{i}", error="gave up") for i in range(20)]
    events = [*noise[:10], _w("x", 0, 1, "a", 1), *noise[10:], _w("y", 2, 3, "b", 0)]
    small = shrink(History(tuple(events), Snapshot(2, 0, {0: ("b", "a")})), "I4")
    assert [e.client for e in small.events] == ["x", "y"]
    with pytest.raises(HistoryViolation) as info:
        verify(History(tuple(events), Snapshot(2, 0, {0: ("b", "a")})))
    assert "calls (2," in str(info.value)
    print(info.value)
