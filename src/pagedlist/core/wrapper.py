"""``StoreWrapper``: a store that passes every call to another store, for wrappers to extend.

Counting calls, timing them, injecting faults, telemetry: each is a wrapper around a
:class:`~pagedlist.core.store.Store` that changes one thing and passes the rest through.
``StoreWrapper`` implements the whole protocol by delegating to ``inner``; a wrapper
subclasses it and overrides only what it changes::

    class LoggingStore(StoreWrapper):
        def _call(self, name, fn, *args, **kwargs):
            log.debug("store call %s", name)
            return fn(*args, **kwargs)

Every store call (each round trip: the row operations, the entry operations of layout 2,
and any call added to the protocol later) goes
through the one hook :meth:`StoreWrapper._call` as ``_call(name, bound_inner_method,
*args, **kwargs)``, so a wrapper that treats every call alike need not list the
methods. ``limits``, ``features``, ``row_size``, ``stats``, ``describe`` and ``close`` are not round
trips and pass straight through (override them to add to them). Attributes of the
inner store outside the protocol (an adapter's own ``ping``, ``client``...) are reached
through the wrapper unchanged. Wrappers stack: a counting wrapper around a fault injector
around a Redis store. ``from_url`` and ``provision`` are class methods of adapters and are
not wrapped.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pagedlist.core.ops import AppendOutcome, Features, JSONDoc, Limits, Row
from pagedlist.core.store import Store

__all__ = ["CALLS", "PASSTHROUGH", "StoreWrapper"]

T = TypeVar("T")

#: Store methods that are not round trips: passed straight to the inner store, no hook.
PASSTHROUGH = frozenset({"row_size", "close", "stats", "describe"})


def _protocol_calls() -> frozenset[str]:
    """Every public instance method of ``Store`` that is a store call (not a property, a
    class method or a pass-through)."""
    names = set()
    for name, attr in vars(Store).items():
        if name.startswith("_") or name in PASSTHROUGH:
            continue
        if isinstance(attr, property | classmethod | staticmethod):
            continue
        if inspect.isfunction(attr):
            names.add(name)
    return frozenset(names)


#: The store calls that go through :meth:`StoreWrapper._call`, derived from ``Store``
#: itself so a call added to the protocol is wrapped (and hooked) without listing it here.
CALLS = _protocol_calls()


class StoreWrapper(Store):
    """A ``Store`` delegating every call to ``inner``; subclasses override what they change.

    Override :meth:`_call` to act on every store call at once, or one method to act on
    that call alone (call ``super()`` for the delegation).
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def _call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """The hook every store call goes through: ``fn`` is the inner store's bound method
        ``name``; the default just calls it."""
        return fn(*args, **kwargs)

    # --- not round trips ---------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """The inner store's limits (no round trip)."""
        return self.inner.limits

    @property
    def features(self) -> Features:
        """The inner store's features (no round trip)."""
        return self.inner.features

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The inner store's size rule."""
        return self.inner.row_size(key, doc)

    def close(self) -> None:
        """Close the inner store."""
        self.inner.close()

    def stats(self) -> Mapping[str, Any]:
        """The inner store's running totals."""
        return self.inner.stats()

    def describe(self) -> str:
        """The inner store's description."""
        return self.inner.describe()

    # --- the store calls, each through the hook ----------------------------------------

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """Delegated through :meth:`_call`."""
        return self._call("put_if_absent", self.inner.put_if_absent, key, doc)

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """Delegated through :meth:`_call`."""
        return self._call("replace", self.inner.replace, key, doc, version)

    def get(self, key: str) -> Row | None:
        """Delegated through :meth:`_call`."""
        return self._call("get", self.inner.get, key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """Delegated through :meth:`_call` (one call, however the adapter splits it)."""
        return self._call("get_many", self.inner.get_many, keys)

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """Delegated through :meth:`_call`."""
        return self._call("append", self.inner.append, key, field, entries, max_len)

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """Delegated through :meth:`_call`."""
        return self._call("increment", self.inner.increment, key, field, by, expect)

    def delete(self, key: str) -> None:
        """Delegated through :meth:`_call`."""
        return self._call("delete", self.inner.delete, key)

    # --- anything else ----------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the wrapper lacks: an adapter's own extras. Guard against
        # recursion while ``inner`` is not set yet (copy, pickle, a failing __init__).
        if name == "inner" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def _delegate(name: str) -> Callable[..., Any]:
    def call(self: StoreWrapper, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, getattr(self.inner, name), *args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{name}``, delegated through :meth:`StoreWrapper._call`."
    return call


# A store call added to the protocol (abstract or with a default) and not written out
# above is still delegated, through the hook, so no wrapper silently runs the base
# class's default against itself instead of the inner store's own implementation.
for _name in CALLS - set(vars(StoreWrapper)):
    setattr(StoreWrapper, _name, _delegate(_name))
abc.update_abstractmethods(StoreWrapper)
