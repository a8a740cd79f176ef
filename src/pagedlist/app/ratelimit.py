"""Writes per account in a fixed window, counted in the store so every server agrees.

One row per account, ``|app.rate|{name}``, holds one counter field per window
(``w{window number}``), raised with the store's atomic ``increment``: one store call per
write. The first write of a window also drops the fields of earlier windows (a
compare-and-swap that a concurrent write simply makes skip), so the row stays small.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from pagedlist import AsyncStore
from pagedlist.errors import StoreError

__all__ = ["RateLimited", "RateLimiter"]

_RATE_KEY = "|app.rate|{}"


class RateLimited(Exception):
    """An account wrote more than its window allows; ``retry_after`` says how long to wait."""

    def __init__(self, limit: int, window: float, retry_after: float) -> None:
        self.limit = limit
        self.window = window
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(
            f"You are writing too fast: at most {limit} posts, replies and follows per "
            f"{window:g} seconds (edits and deletes count too). Try again in "
            f"{self.retry_after} seconds."
        )


@dataclass(frozen=True, slots=True)
class RateLimiter:
    """At most ``limit`` writes per account in each ``window`` seconds (fixed windows)."""

    store: AsyncStore
    limit: int
    window: float

    async def hit(self, account: str, now: float | None = None) -> None:
        """Count one write by ``account``; raise :class:`RateLimited` if over the limit.

        ``account`` is a checked username (it becomes part of a row key).
        """
        now = time.time() if now is None else now
        number = int(now // self.window)
        key = _RATE_KEY.format(account)
        field = f"w{number}"
        count = await self.store.increment(key, field, 1)
        assert count is not None  # no ``expect``: always applied
        if count == 1:
            await self._forget_earlier(key, field)
        if count > self.limit:
            raise RateLimited(self.limit, self.window, (number + 1) * self.window - now)

    async def _forget_earlier(self, key: str, field: str) -> None:
        with contextlib.suppress(StoreError):  # best effort: the next window tries again
            row = await self.store.get(key)
            if row is not None and set(row.doc) - {field}:
                kept = {f: v for f, v in row.doc.items() if f == field}
                await self.store.replace(key, kept, row.version)
