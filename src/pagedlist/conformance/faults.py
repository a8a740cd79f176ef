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

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pagedlist.core.ops import AppendOutcome, JSONDoc, Limits, Row
from pagedlist.core.store import Store
from pagedlist.errors import DeadlineExceeded, StoreUnavailable

__all__ = ["PRIMITIVES", "FaultyStore"]

PRIMITIVES = frozenset(
    {"put_if_absent", "replace", "get", "get_many", "append", "increment", "delete"}
)
WRITES = frozenset({"put_if_absent", "replace", "append", "increment", "delete"})


class FaultyStore(Store):
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
        self.inner = store
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

    def _call(self, op: str, fn: Callable[[], Any]) -> Any:
        fault, pause = self._decide(op)
        if pause:
            self._count("delay")
            self._sleep(pause)
        if fault == "unavailable":
            self._count(fault)
            raise StoreUnavailable(f"injected fault (seed {self.seed}): {op} refused before it ran")
        answer = fn()
        if fault == "lost":
            self._count(fault)
            raise DeadlineExceeded(
                f"injected fault (seed {self.seed}): {op} ran but its answer was lost"
            )
        return answer

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    # --- the protocol, delegated ---------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """The wrapped store's limits."""
        return self.inner.limits

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """Delegated, with faults."""
        return self._call("put_if_absent", lambda: self.inner.put_if_absent(key, doc))

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """Delegated, with faults."""
        return self._call("replace", lambda: self.inner.replace(key, doc, version))

    def get(self, key: str) -> Row | None:
        """Delegated, with faults."""
        return self._call("get", lambda: self.inner.get(key))

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """Delegated, with faults."""
        keys = list(keys)
        return self._call("get_many", lambda: self.inner.get_many(keys))

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """Delegated, with faults."""
        entries = list(entries)
        return self._call("append", lambda: self.inner.append(key, field, entries, max_len))

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """Delegated, with faults."""
        return self._call("increment", lambda: self.inner.increment(key, field, by, expect))

    def delete(self, key: str) -> None:
        """Delegated, with faults."""
        return self._call("delete", lambda: self.inner.delete(key))

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The wrapped store's row size."""
        return self.inner.row_size(key, doc)

    def close(self) -> None:
        """Close the wrapped store."""
        self.inner.close()

    def stats(self) -> Mapping[str, Any]:
        """The wrapped store's totals plus the injected fault counts."""
        return {**self.inner.stats(), **{f"injected_{k}": v for k, v in self.injected.items()}}

    def describe(self) -> str:
        """The wrapped store's description and the fault settings."""
        return (
            f"{self.inner.describe()} with faults (seed {self.seed}, unavailable "
            f"{self.unavailable:g}, lost {self.lost:g}, delay {self.delay:g})"
        )
