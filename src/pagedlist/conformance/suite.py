"""``ConformanceSuite``: every clause family composed into one mixin.

Import it as ``from pagedlist.conformance import ConformanceSuite``; it needs pytest and
hypothesis (``pip install 'pagedlist[conformance]'``).
"""

from __future__ import annotations

from pagedlist.conformance.async_clauses import AbstractAsyncListTests
from pagedlist.conformance.entry_clauses import AbstractEntryTests
from pagedlist.conformance.fidelity_clauses import AbstractFidelityTests
from pagedlist.conformance.history_clauses import AbstractHistoryTests
from pagedlist.conformance.lifecycle_clauses import AbstractLifecycleTests
from pagedlist.conformance.list_clauses import AbstractListTests
from pagedlist.conformance.store_clauses import AbstractStoreTests

__all__ = ["ConformanceSuite"]


class ConformanceSuite(
    AbstractStoreTests,
    AbstractEntryTests,
    AbstractListTests,
    AbstractLifecycleTests,
    AbstractHistoryTests,
    AbstractFidelityTests,
    AbstractAsyncListTests,
):
    """Every clause of ``docs/contract.md``: compose with a ``StoreFixtures`` subclass."""
