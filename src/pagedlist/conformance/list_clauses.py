"""List clauses (P*, C*, R*): the five invariants, the talk's scenario, cursors, round trips."""

from __future__ import annotations

from pagedlist import PagedList
from pagedlist.conformance.capabilities import clause

__all__ = ["AbstractListTests"]


class AbstractListTests:
    """The list layer of ``docs/contract.md``, run through the real core."""

    @clause("P1")
    def test_talk_scenario_capacity_two(self, store, list_id):
        """P1: the talk's scenario with capacity 2."""
        plist = PagedList.create(store, list_id, capacity=2)
        for i in range(5):
            assert plist.append(f"Hello{i}") == i
        assert [i.value for i in plist.latest(1)] == ["Hello4"]
