"""Optional capabilities an adapter may lack, and the ``requires`` marker tests use.

The five list invariants and every store clause of ``docs/contract.md`` are *not*
capabilities: no adapter can opt out of them. Capabilities cover how a backend may be
tested, e.g. whether several OS processes can share one store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

__all__ = ["Capabilities", "requires"]

F = TypeVar("F", bound=Callable)


class Capabilities:
    """Defaults for every capability; an adapter's test fixtures override with a subclass.

    Each attribute is a bool plus, when false, the reason printed in the skip.
    """

    shared_across_processes: bool = True
    """Several OS processes can open the same store by URL (false for ``memory://``)."""

    reason: dict[str, str] = {}
    """Why a capability is off, keyed by its name: printed with every skip."""


def requires(*names: str) -> Callable[[F], F]:
    """Mark a test as needing capabilities; the suite skips it, with the reason, when off."""
    return pytest.mark.pagedlist_requires(*names)


def clause(cid: str) -> Callable[[F], F]:
    """Mark a test with the contract clause it checks (``docs/contract.md``)."""
    return pytest.mark.pagedlist_clause(cid)
