"""What a store declares about how it can be tested: the ``Capabilities`` base class.

Dependency-free (no pytest), so every adapter module can declare its subclass; the
conformance suite (:mod:`pagedlist.conformance`) reads it through the adapter class's
``capabilities`` attribute and skips, printing the reason, what a store cannot do.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pagedlist.errors import ContractViolation

__all__ = ["Capabilities", "capabilities_of"]


class Capabilities:
    """How the conformance suite may test an adapter: each adapter declares a subclass.

    Every capability is a bool, on by default; an adapter switches one off in its
    subclass and says why in ``reason``, which every skip prints. The five list
    invariants and the store clauses of ``docs/contract.md`` are *not* capabilities: no
    adapter can opt out of them. ::

        class MemoryCapabilities(Capabilities):
            shared_across_processes = False
            independent_clients = False
            reason = {"shared_across_processes": "memory:// lives inside one process",
                      "independent_clients": "each memory:// open is a new, empty store"}

        class MemoryStore(Store):
            capabilities = MemoryCapabilities
    """

    #: The names of every capability, in the order the guide lists them.
    NAMES: ClassVar[tuple[str, ...]] = (
        "shared_across_processes",
        "independent_clients",
        "network",
    )

    shared_across_processes: bool = True
    """Several OS processes can open the same store by URL (false for ``memory://``)."""

    independent_clients: bool = True
    """Each ``open_store(url)`` is a new client of the same rows. When false (``memory://``:
    every open is a new, empty store) the suite's extra clients share one opened store."""

    network: bool = True
    """The store is a server reached over TCP, so the suite can cut its connections with
    the fault proxy (``conformance/proxy.py``) through the adapter's ``through(url,
    route)`` classmethod (false for ``memory://`` and ``sqlite:``, which have none)."""

    reason: ClassVar[dict[str, str]] = {}
    """Why a capability is off, keyed by its name: printed with every skip."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.NAMES:
            if not getattr(cls, name) and not cls.reason.get(name):
                raise ContractViolation(
                    f"{cls.__name__} switches {name} off without saying why: add "
                    f"reason = {{{name!r}: '...'}}, which every skipped test prints"
                )

    def why_not(self, name: str) -> str:
        """The reason capability ``name`` is off (printed by the skip)."""
        return self.reason.get(name, f"{type(self).__name__} declares it unsupported")


def capabilities_of(store_class: type) -> type[Capabilities]:
    """The ``Capabilities`` subclass ``store_class`` declares (its ``capabilities``
    attribute), or the defaults (everything on) when it declares none."""
    declared = getattr(store_class, "capabilities", None)
    if declared is None:
        return Capabilities
    if not (isinstance(declared, type) and issubclass(declared, Capabilities)):
        raise ContractViolation(
            f"{store_class.__name__}.capabilities is {declared!r}: it must be a Capabilities "
            "subclass (from pagedlist.core.capabilities)"
        )
    return declared
