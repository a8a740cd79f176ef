"""``FaultyStore``: inject the simulation's faults into a real backend.

Wraps any :class:`~pagedlist.core.store.Store` and, per call, with the given
probabilities (drawn from ``random.Random(seed)``):

* ``unavailable``: raise ``StoreUnavailable`` *before* the call: nothing was done;
* ``lost``: perform the call, then raise ``DeadlineExceeded`` ("answer lost"): the
  effect committed but the caller does not know (the hardest case for idempotence);
* ``delay``: sleep up to ``max_delay`` seconds before the call, so other clients overtake
  it (a slow call).

The driver retries the first two with the same operation, exactly as it would after a
real timeout. Faults apply to the operations named in ``ops`` (default: every primitive;
``close``, ``limits``, ``describe``, ``row_size`` and ``stats`` pass through untouched).
One seed gives one sequence of decisions; calls from several threads take decisions in
the order they arrive, so only a single-threaded run replays call for call.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pagedlist.core.astore import AsyncStore
from pagedlist.core.awrapper import AsyncStoreWrapper
from pagedlist.core.store import Store
from pagedlist.core.wrapper import CALLS, StoreWrapper
from pagedlist.errors import DeadlineExceeded, StoreUnavailable

__all__ = ["PRIMITIVES", "AsyncFaultyStore", "FaultyStore"]

#: Every store call (``pagedlist.core.wrapper.CALLS``): the default ``ops``.
PRIMITIVES = CALLS
WRITES = frozenset(
    {
        "put_if_absent",
        "insert",
        "replace",
        "append",
        "increment",
        "delete",
        "claim",
        "push",
        "replace_entry",
        "purge",
        "drop_entries",
    }
)

T = TypeVar("T")


class FaultyStore(StoreWrapper):
    """A store wrapper that fails, loses answers and delays calls at random, reproducibly."""

    scheme = "faulty"

    def __init__(
        self,
        store: Store,
        *,
        seed: int = 0,
        unavailable: float = 0.0,
        lost: float = 0.0,
        delay: float = 0.0,
        max_delay: float = 0.02,
        ops: Iterable[str] = PRIMITIVES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for name, p in (("unavailable", unavailable), ("lost", lost), ("delay", delay)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
        if unavailable + lost > 1.0:
            raise ValueError("unavailable + lost must not exceed 1")
        unknown = set(ops) - PRIMITIVES
        if unknown:
            raise ValueError(f"unknown operations {sorted(unknown)}; use {sorted(PRIMITIVES)}")
        super().__init__(store)
        self.seed = seed
        self.unavailable, self.lost, self.delay = unavailable, lost, delay
        self.max_delay = max_delay
        self.ops = frozenset(ops)
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        """How many faults of each kind were injected (``unavailable``, ``lost``, ``delay``)."""
        self.enabled = True
        """Switch faults off (e.g. to take a clean snapshot) without unwrapping."""

    def _decide(self, op: str) -> tuple[str | None, float]:
        if not self.enabled or op not in self.ops:
            return None, 0.0
        with self._lock:
            roll, wait_roll, wait = self._rng.random(), self._rng.random(), self._rng.random()
        pause = wait * self.max_delay if wait_roll < self.delay else 0.0
        if roll < self.unavailable:
            return "unavailable", pause
        if roll < self.unavailable + self.lost:
            return "lost", pause
        return None, pause

    def _call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Every store call: maybe delayed, refused before it runs, or answered and lost."""
        fault, pause = self._decide(name)
        if pause:
            self._count("delay")
            self._sleep(pause)
        if fault == "unavailable":
            self._count(fault)
            raise StoreUnavailable(
                f"injected fault (seed {self.seed}): {name} refused before it ran"
            )
        answer = fn(*args, **kwargs)
        if fault == "lost":
            self._count(fault)
            raise DeadlineExceeded(
                f"injected fault (seed {self.seed}): {name} ran but its answer was lost"
            )
        return answer

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def stats(self) -> Mapping[str, Any]:
        """The wrapped store's totals plus the injected fault counts."""
        return {**self.inner.stats(), **{f"injected_{k}": v for k, v in self.injected.items()}}

    def describe(self) -> str:
        """The wrapped store's description and the fault settings."""
        return (
            f"{self.inner.describe()} with faults (seed {self.seed}, unavailable "
            f"{self.unavailable:g}, lost {self.lost:g}, delay {self.delay:g})"
        )


class AsyncFaultyStore(AsyncStoreWrapper):
    """:class:`FaultyStore` for asyncio stores: the same faults, decided the same way (one
    seeded sequence), with ``asyncio.sleep`` for delays."""

    def __init__(self, store: AsyncStore, **settings: Any) -> None:
        super().__init__(store)
        # The decisions, counters and messages are FaultyStore's own, kept in one place: a
        # FaultyStore whose inner store is never called (this wrapper calls its own).
        self._faults = FaultyStore(_UNUSED, **settings)

    @property
    def injected(self) -> Counter[str]:
        """How many faults of each kind were injected."""
        return self._faults.injected

    @property
    def enabled(self) -> bool:
        """Whether faults are injected."""
        return self._faults.enabled

    @enabled.setter
    def enabled(self, on: bool) -> None:
        self._faults.enabled = on

    async def _call(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        faults = self._faults
        fault, pause = faults._decide(name)
        if pause:
            faults._count("delay")
            await asyncio.sleep(pause)
        if fault == "unavailable":
            faults._count(fault)
            raise StoreUnavailable(
                f"injected fault (seed {faults.seed}): {name} refused before it ran"
            )
        answer = await fn(*args, **kwargs)
        if fault == "lost":
            faults._count(fault)
            raise DeadlineExceeded(
                f"injected fault (seed {faults.seed}): {name} ran but its answer was lost"
            )
        return answer

    def describe(self) -> str:
        """The wrapped store's description and the fault settings."""
        f = self._faults
        return (
            f"{self.inner.describe()} with faults (seed {f.seed}, unavailable "
            f"{f.unavailable:g}, lost {f.lost:g}, delay {f.delay:g})"
        )


class _Unused(StoreWrapper):
    """Stands in for the store behind :class:`AsyncFaultyStore`'s fault plan."""

    def __init__(self) -> None:
        super().__init__(None)  # type: ignore[arg-type]

    def _call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        raise AssertionError("the fault plan of an async store makes no store call")


_UNUSED = _Unused()
