"""The synchronous driver: runs an algorithm generator against a store.

Retry policy lives here and only here. A transient store error (``StoreError`` with
``retryable``) makes the driver repeat *the same operation* after an exponential backoff
with full jitter, until the operation's overall deadline; then the last error is raised,
annotated with the attempt count. Repeating the same operation is what makes retries
safe: an append goes back to the page it first tried, where the store's de-duplication
finds an earlier commit whose answer was lost.

Non-retryable errors, and the last transient one, are thrown into the generator so its
frames show in the traceback; the algorithms do not catch them.

The core must stay dependency-free, which is why this is a dozen lines of backoff rather
than a retry library.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pagedlist.core import deadline as _deadline
from pagedlist.core.algorithms import Step
from pagedlist.core.store import Store, perform
from pagedlist.errors import DeadlineExceeded, StoreError, Throttled

__all__ = ["DEFAULT_POLICY", "RetryPolicy", "run"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long an operation may take and how retries are spaced."""

    deadline: float = 10.0
    """Seconds one list operation (e.g. one ``append()``) may take, retries included."""
    base_delay: float = 0.005
    """First backoff ceiling, in seconds; doubles with every attempt."""
    max_delay: float = 1.0
    """Largest backoff ceiling, in seconds."""

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter delay before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** min(attempt - 1, 30))
        return (rng or random).uniform(0, ceiling)


DEFAULT_POLICY = RetryPolicy()


def run(
    step: Step,
    store: Store,
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    what: str = "operation",
) -> Any:
    """Drive ``step`` to completion against ``store`` and return its result."""
    deadline = clock() + policy.deadline
    with _deadline.active(deadline if clock is time.monotonic else None):
        return _drive(step, store, policy, deadline, clock, sleep, rng, what)


def _drive(
    step: Step,
    store: Store,
    policy: RetryPolicy,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    rng: random.Random | None,
    what: str,
) -> Any:
    try:
        op = next(step)
        first = True
        while True:
            # Checked before sending a new operation, never after one has answered: an
            # answer that arrives late is still delivered, so a committed write is not
            # reported as failed just for being slow.
            if not first and clock() > deadline:
                step.throw(
                    DeadlineExceeded(
                        f"{what} did not finish within its {policy.deadline:g}s deadline "
                        "(heavy contention on one list, or a slow store): retry later, or "
                        "raise the deadline with deadline=..."
                    )
                )
            first = False
            attempt = 0
            while True:
                try:
                    answer = perform(store, op)
                    break
                except StoreError as err:
                    if not err.retryable:
                        step.throw(err)
                        raise AssertionError("algorithms do not handle store errors") from err
                    attempt += 1
                    delay = policy.backoff(attempt, rng)
                    if isinstance(err, Throttled) and err.retry_after:
                        delay = max(delay, err.retry_after)
                    if clock() + delay > deadline:
                        step.throw(_gave_up(err, attempt, policy, what))
                        raise AssertionError("algorithms do not handle store errors") from err
                    sleep(delay)
            op = step.send(answer)
    except StopIteration as stop:
        return stop.value


def _gave_up(err: StoreError, attempts: int, policy: RetryPolicy, what: str) -> StoreError:
    """The last transient error, re-raised with what the driver tried."""
    annotated = type(err)(
        f"{err} — {what} gave up after {attempts} attempt(s) within its "
        f"{policy.deadline:g}s deadline; the store may be down or overloaded: check it, or "
        "raise the deadline with deadline=..."
    )
    annotated.__cause__ = err
    return annotated
