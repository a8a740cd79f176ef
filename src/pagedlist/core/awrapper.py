"""``AsyncStoreWrapper``: :class:`~pagedlist.core.wrapper.StoreWrapper` for asyncio stores.

Every store call of an :class:`~pagedlist.core.astore.AsyncStore` goes through the one hook
``await self._call(name, bound_inner_coroutine_function, *args)``; ``limits``, ``features``,
``row_size``, ``describe``, ``stats`` pass straight through, ``aclose`` closes the inner
store. Counting, fault injection and telemetry wrap async stores this way, the same
subclasses overriding ``_call`` as for sync stores.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

from pagedlist.core.astore import AsyncStore
from pagedlist.core.ops import Features, JSONDoc, Limits
from pagedlist.core.wrapper import CALLS

__all__ = ["AsyncStoreWrapper"]

T = TypeVar("T")


def _delegate(name: str) -> Callable[..., Any]:
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._call(name, getattr(self.inner, name), *args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{name}``, delegated through :meth:`AsyncStoreWrapper._call`."
    return call


class AsyncStoreWrapper(AsyncStore):
    """An ``AsyncStore`` delegating every call to ``inner`` through :meth:`_call`."""

    def __init__(self, inner: AsyncStore) -> None:
        self.inner = inner
        self.scheme = inner.scheme

    # The protocol's abstract calls, named here so type checkers see a concrete class; the
    # loop below the class delegates every other call the same way.
    put_if_absent = _delegate("put_if_absent")
    replace = _delegate("replace")
    append = _delegate("append")
    increment = _delegate("increment")
    get = _delegate("get")
    get_many = _delegate("get_many")
    delete = _delegate("delete")

    async def _call(
        self, name: str, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> T:
        """The hook every store call goes through; the default awaits ``fn(*args)``."""
        return await fn(*args, **kwargs)

    @property
    def limits(self) -> Limits:
        """The inner store's limits."""
        return self.inner.limits

    @property
    def features(self) -> Features:
        """The inner store's features."""
        return self.inner.features

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The inner store's size rule."""
        return self.inner.row_size(key, doc)

    async def aclose(self) -> None:
        """Close the inner store."""
        await self.inner.aclose()

    def stats(self) -> Mapping[str, Any]:
        """The inner store's totals."""
        return self.inner.stats()

    def describe(self) -> str:
        """The inner store's description."""
        return self.inner.describe()

    def __getattr__(self, name: str) -> Any:
        if name == "inner" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)


# The async protocol has the same store calls as the sync one (checked here, so the two
# cannot drift apart silently).
_ASYNC_CALLS = frozenset(
    name
    for name, attr in vars(AsyncStore).items()
    if not name.startswith("_") and inspect.iscoroutinefunction(attr) and name != "aclose"
) - {"from_url"}
if _ASYNC_CALLS != CALLS:
    raise AssertionError(
        f"AsyncStore and Store disagree on the store calls: {sorted(_ASYNC_CALLS ^ CALLS)}"
    )
for _name in CALLS:
    setattr(AsyncStoreWrapper, _name, _delegate(_name))
abc.update_abstractmethods(cast(type, AsyncStoreWrapper))
