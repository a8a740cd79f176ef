"""The conformance suite: one set of tests every store must pass, shipped in the package.

Three ways to run it:

* the project's tests compose it per adapter (``tests/adapters/test_<backend>.py``);
* ``pagedlist conformance URL`` runs it against any store and prints a clause table;
* an adapter author subclasses it, or runs
  ``pytest --pagedlist-store URL --pyargs pagedlist.conformance.url_suite``.

Mixins have no ``Test`` prefix, so pytest collects them only when composed::

    class TestMyStore(ConformanceSuite, MyFixtures):
        pass

The suite needs pytest and hypothesis: ``pip install 'pagedlist[conformance]'``. This
package imports them only when one of its names is used, because pytest loads the package's
plugin (:mod:`pagedlist.conformance.plugin`) in every project where pagedlist is
installed, with or without that extra.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__all__ = [
    "EXTRA_HINT",
    "AbstractAsyncListTests",
    "AbstractEntryTests",
    "AbstractFidelityTests",
    "AbstractHistoryTests",
    "AbstractLifecycleTests",
    "AbstractListTests",
    "AbstractStoreTests",
    "Capabilities",
    "ConformanceSuite",
    "LayoutOneFixtures",
    "StoreFixtures",
    "clause",
    "missing_requirement",
    "requires",
]

#: The pip line that installs what the suite needs.
EXTRA_HINT = "pip install 'pagedlist[conformance]'"
#: Third-party packages the suite imports.
REQUIREMENTS = ("pytest", "hypothesis")

#: Public name -> the module defining it, imported on first use.
_LAZY = {
    "Capabilities": "pagedlist.conformance.capabilities",
    "clause": "pagedlist.conformance.capabilities",
    "requires": "pagedlist.conformance.capabilities",
    "AbstractAsyncListTests": "pagedlist.conformance.async_clauses",
    "AbstractEntryTests": "pagedlist.conformance.entry_clauses",
    "AbstractFidelityTests": "pagedlist.conformance.fidelity_clauses",
    "StoreFixtures": "pagedlist.conformance.fixtures",
    "LayoutOneFixtures": "pagedlist.conformance.fixtures",
    "AbstractHistoryTests": "pagedlist.conformance.history_clauses",
    "AbstractListTests": "pagedlist.conformance.list_clauses",
    "AbstractLifecycleTests": "pagedlist.conformance.lifecycle_clauses",
    "AbstractStoreTests": "pagedlist.conformance.store_clauses",
    "ConformanceSuite": "pagedlist.conformance.suite",
}


def missing_requirement() -> str | None:
    """``None`` when pytest and hypothesis are installed, else a one-line message naming
    the pip line. Nothing is imported (pytest would warn that it cannot rewrite the
    assertions of a plugin package imported before it started)."""
    for name in REQUIREMENTS:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # ValueError: blocked with sys.modules[name] = None
            found = False
        if not found:
            return _needs(name)
    return None


def _needs(name: str) -> str:
    return f"the pagedlist conformance suite needs {name!r}, which is not installed: {EXTRA_HINT}"


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = (err.name or "").partition(".")[0]
        if top not in REQUIREMENTS:
            raise
        raise ModuleNotFoundError(_needs(top), name=top) from None


def __getattr__(name: str) -> Any:
    # PEP 562: names resolve on first use, so importing the plugin imports no requirement.
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # pragma: no cover - what type checkers and IDEs see
    from pagedlist.conformance.async_clauses import AbstractAsyncListTests
    from pagedlist.conformance.capabilities import Capabilities, clause, requires
    from pagedlist.conformance.entry_clauses import AbstractEntryTests
    from pagedlist.conformance.fidelity_clauses import AbstractFidelityTests
    from pagedlist.conformance.fixtures import LayoutOneFixtures, StoreFixtures
    from pagedlist.conformance.history_clauses import AbstractHistoryTests
    from pagedlist.conformance.lifecycle_clauses import AbstractLifecycleTests
    from pagedlist.conformance.list_clauses import AbstractListTests
    from pagedlist.conformance.store_clauses import AbstractStoreTests
    from pagedlist.conformance.suite import ConformanceSuite
