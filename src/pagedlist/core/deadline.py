"""The deadline of the list operation in progress, for adapters that can bound their calls.

The driver sets it around each operation (``pagedlist.core.driver``); an adapter reads it
to cap its own waits (a socket timeout, PostgreSQL's ``statement_timeout``, the loop that
re-asks DynamoDB for unprocessed keys) so that no store call outlives the operation that
made it. It is a :class:`contextvars.ContextVar`, so threads and asyncio tasks each see
their own operation's deadline.
"""

from __future__ import annotations

import contextvars
import time

__all__ = ["active", "deadline", "remaining"]

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pagedlist_deadline", default=None
)


def deadline() -> float | None:
    """The current operation's deadline on the ``time.monotonic()`` clock, or ``None``."""
    return _DEADLINE.get()


def remaining() -> float | None:
    """Seconds left before the current operation's deadline (never negative), or ``None``
    when no operation deadline is set (a store used directly, outside ``PagedList``)."""
    at = _DEADLINE.get()
    return None if at is None else max(0.0, at - time.monotonic())


class active:
    """Make ``at`` (a ``time.monotonic()`` instant) the deadline inside a ``with`` block.

    An inner deadline never extends an outer one: the earlier of the two applies. A class
    rather than a generator context manager: it runs around every list operation.
    """

    __slots__ = ("_at", "_token")

    def __init__(self, at: float | None) -> None:
        outer = _DEADLINE.get()
        if at is not None and outer is not None:
            at = min(at, outer)
        self._at = at if at is not None else outer

    def __enter__(self) -> None:
        self._token = _DEADLINE.set(self._at)

    def __exit__(self, *exc: object) -> None:
        _DEADLINE.reset(self._token)
