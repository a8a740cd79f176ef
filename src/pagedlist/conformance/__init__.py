"""The conformance suite: one set of tests every store must pass, shipped in the package.

Three ways to run it:

* the project's tests compose it per adapter (``tests/adapters/test_<backend>.py``);
* ``pagedlist conformance URL`` runs it against any store and prints a clause table;
* an adapter author subclasses it, or runs
  ``pytest --pagedlist-store URL --pyargs pagedlist.conformance.url_suite``.

Mixins have no ``Test`` prefix, so pytest collects them only when composed::

    class TestMyStore(ConformanceSuite, MyFixtures):
        pass
"""

from pagedlist.conformance.capabilities import Capabilities, clause, requires
from pagedlist.conformance.entry_clauses import AbstractEntryTests
from pagedlist.conformance.fidelity_clauses import AbstractFidelityTests
from pagedlist.conformance.fixtures import StoreFixtures
from pagedlist.conformance.history_clauses import AbstractHistoryTests
from pagedlist.conformance.list_clauses import AbstractListTests
from pagedlist.conformance.store_clauses import AbstractStoreTests

__all__ = [
    "AbstractEntryTests",
    "AbstractFidelityTests",
    "AbstractHistoryTests",
    "AbstractListTests",
    "AbstractStoreTests",
    "Capabilities",
    "ConformanceSuite",
    "StoreFixtures",
    "clause",
    "requires",
]


class ConformanceSuite(
    AbstractStoreTests,
    AbstractEntryTests,
    AbstractListTests,
    AbstractHistoryTests,
    AbstractFidelityTests,
):
    """Every clause of ``docs/contract.md``: compose with a ``StoreFixtures`` subclass."""
