"""Optional capabilities an adapter may lack, and the ``requires`` marker tests use.

The five list invariants and every store clause of ``docs/contract.md`` are *not*
capabilities: no adapter can opt out of them. Capabilities cover how a backend may be
tested, e.g. whether several OS processes can share one store. The base class,
:class:`~pagedlist.core.capabilities.Capabilities`, lives in the dependency-free core so
that each adapter module declares its subclass without importing pytest; it is
re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from pagedlist.core.capabilities import Capabilities

__all__ = ["CLAUSE_FAMILIES", "Capabilities", "clause", "clause_order", "requires"]

#: Clause families in contract order: id prefix -> title.
CLAUSE_FAMILIES = {
    "S": "Rows",
    "A": "Append",
    "I": "Increment",
    "G": "Batch get",
    "L": "Limits",
    "E": "Entry rows (layout 2)",
    "P": "Positions and invariants",
    "C": "Cursors and reads",
    "R": "Round trips",
    "V": "Validation",
    "D": "Item lifecycle",
    "W": "Writes sent once",
    "H": "Histories under faults",
    "F": "Value fidelity",
    "Y": "Asyncio API",
}


def clause_order(cid: str) -> tuple[int, int]:
    """Sort key putting clause ids in contract order (S1, S2, ..., A1, ...)."""
    letters = cid.rstrip("0123456789")
    family = list(CLAUSE_FAMILIES).index(letters) if letters in CLAUSE_FAMILIES else 99
    return family, int(cid[len(letters) :] or 0)

F = TypeVar("F", bound=Callable)


def requires(*names: str) -> Callable[[F], F]:
    """Mark a test as needing capabilities; the suite skips it, with the reason, when off."""
    return pytest.mark.pagedlist_requires(*names)


def clause(cid: str) -> Callable[[F], F]:
    """Mark a test with the contract clause it checks (``docs/contract.md``)."""
    return pytest.mark.pagedlist_clause(cid)
