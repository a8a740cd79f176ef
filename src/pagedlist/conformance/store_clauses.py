"""Store clauses (S*, A*, I*, G*, L*): each primitive's semantics, edge cases and races."""

from __future__ import annotations

from pagedlist.conformance.capabilities import clause

__all__ = ["AbstractStoreTests"]


class AbstractStoreTests:
    """The store layer of ``docs/contract.md``."""

    @clause("S1")
    def test_put_if_absent_creates_missing_row(self, store, key):
        """S1: put_if_absent on a missing key creates it and returns True."""
        assert store.put_if_absent(key("a"), {"x": 1}) is True
        row = store.get(key("a"))
        assert row is not None and row.doc == {"x": 1}
