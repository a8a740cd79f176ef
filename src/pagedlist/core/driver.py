"""The drivers: run an algorithm generator against a store, sync (:func:`run`) or asyncio
(:func:`run_async`), with one retry policy.

Retry policy lives here and only here (:class:`Attempts`). A transient store error
(``StoreError`` with ``retryable``) makes the driver repeat *the same operation* after an
exponential backoff with full jitter, until the operation's overall deadline (the earlier
of its own and any deadline already active around it, :mod:`pagedlist.core.deadline`);
then the last error is raised, annotated with the attempt count. Repeating the same
operation is what makes retries safe: an append goes back to the page or position it first
tried, where the store's de-duplication finds an earlier commit whose answer was lost; a
conditional create or replace repeated after it committed answers "exists" / "changed",
and every algorithm re-reads on those answers. The one call that is never repeated after a
failure that may have run is an ``Increment`` without ``expect`` (it would count twice):
that raises ``DeadlineExceeded`` ("outcome unknown") at once.

Non-retryable errors, and the last transient one, are thrown into the generator so its
frames show in the traceback; the algorithms do not catch them (except to report a partly
committed ``extend`` as ``PartialWrite``).

The core must stay dependency-free, which is why this is a dozen lines of backoff rather
than a retry library.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

from pagedlist.core import deadline as _deadline
from pagedlist.core import observe
from pagedlist.core.algorithms import Plan
from pagedlist.core.ops import Increment, Operation
from pagedlist.core.store import Store, perform
from pagedlist.errors import DeadlineExceeded, StoreError, Throttled

if TYPE_CHECKING:
    from pagedlist.core.astore import AsyncStore

__all__ = ["DEFAULT_POLICY", "Attempts", "RetryPolicy", "run", "run_async"]

T = TypeVar("T")


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


def _repeatable(op: Operation) -> bool:
    """Whether repeating ``op`` after it may have run gives a correct answer (see the
    module docstring): everything but an unconditional increment."""
    return not (isinstance(op, Increment) and op.expect is None)


class Attempts:
    """The retry decisions of one operation, shared by the sync and async drivers."""

    def __init__(
        self,
        policy: RetryPolicy,
        what: str,
        clock: Callable[[], float],
        rng: random.Random | None,
    ) -> None:
        self.policy, self.what, self.clock, self.rng = policy, what, clock, rng
        self.deadline = clock() + policy.deadline
        outer = _deadline.deadline() if clock is time.monotonic else None
        if outer is not None and outer < self.deadline:
            self.deadline = outer
        self.sent = 0
        self.attempt = 0

    def before(self) -> DeadlineExceeded | None:
        """Before sending an operation: the error to throw if the deadline has passed.

        Checked before sending, never after an answer: an answer that arrives late is
        still delivered, so a committed write is not reported as failed for being slow.
        """
        self.sent += 1
        self.attempt = 0
        if self.sent > 1 and self.clock() > self.deadline:
            observe.deadline_exceeded(self.what)
            return DeadlineExceeded(
                f"{self.what} did not finish within its {self.policy.deadline:g}s deadline "
                "(heavy contention on one list, or a slow store): retry later, or raise the "
                "deadline with deadline=..."
            )
        return None

    def after(self, err: StoreError, op: Operation) -> float | StoreError:
        """After ``op`` failed with ``err``: the delay before repeating it, or the error to
        throw into the algorithm."""
        if not err.retryable:
            return err
        if err.may_have_run and not _repeatable(op):
            unknown = DeadlineExceeded(
                f"{self.what}: {op.__class__.__name__} on {getattr(op, 'key', '?')!r} failed "
                f"in a way that may have left it applied ({err}); it is not safe to repeat, "
                "so its outcome is unknown: read the row to find out"
            )
            unknown.__cause__ = err
            return unknown
        self.attempt += 1
        delay = self.policy.backoff(self.attempt, self.rng)
        if isinstance(err, Throttled) and err.retry_after:
            delay = max(delay, float(err.retry_after))
        if self.clock() + delay > self.deadline:
            observe.gave_up(self.what, op, err, self.attempt)
            return _gave_up(err, self.attempt, self.policy, self.what)
        observe.retried(self.what, op, err, self.attempt, delay)
        return delay

    def watching(self) -> bool:
        """Whether answers are to be reported (DEBUG logging or an observer wants them)."""
        return bool(observe._answers) or observe.log.isEnabledFor(logging.DEBUG)


def run(
    step: Plan[T],
    store: Store,
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    what: str = "operation",
) -> T:
    """Drive ``step`` to completion against ``store`` and return its result."""
    tries = Attempts(policy, what, clock, rng)
    watch = tries.watching()
    with _deadline.active(tries.deadline if clock is time.monotonic else None):
        try:
            op = next(step)
            while True:
                late = tries.before()
                if late is not None:
                    op = step.throw(late)
                    continue
                while True:
                    try:
                        answer = perform(store, op)
                        break
                    except StoreError as err:
                        decision = tries.after(err, op)
                        if not isinstance(decision, float):
                            step.throw(decision)
                            raise AssertionError("algorithms do not handle store errors") from err
                        sleep(decision)
                if watch:
                    observe.answered(what, op, answer)
                op = step.send(answer)
        except StopIteration as stop:
            return cast(T, stop.value)


async def run_async(
    step: Plan[T],
    store: AsyncStore,
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    what: str = "operation",
) -> T:
    """Drive ``step`` to completion against the asyncio ``store``: :func:`run`'s twin, the
    same generators and the same :class:`Attempts`, with ``await`` for every store call
    and every backoff.

    Cancellation-safe: a task cancelled while a call is in flight stops there; the call
    either ran or not, exactly like a lost answer, and the algorithms' de-duplication
    makes a later call with the same id find it.
    """
    from pagedlist.core.astore import perform_async

    tries = Attempts(policy, what, clock, rng)
    watch = tries.watching()
    with _deadline.active(tries.deadline if clock is time.monotonic else None):
        try:
            op = next(step)
            while True:
                late = tries.before()
                if late is not None:
                    op = step.throw(late)
                    continue
                while True:
                    try:
                        answer = await perform_async(store, op)
                        break
                    except StoreError as err:
                        decision = tries.after(err, op)
                        if not isinstance(decision, float):
                            step.throw(decision)
                            raise AssertionError("algorithms do not handle store errors") from err
                        await sleep(decision)
                if watch:
                    observe.answered(what, op, answer)
                op = step.send(answer)
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            step.close()


def _gave_up(err: StoreError, attempts: int, policy: RetryPolicy, what: str) -> StoreError:
    """The last transient error, re-raised with what the driver tried."""
    annotated = type(err)(
        f"{err} — {what} gave up after {attempts} attempt(s) within its "
        f"{policy.deadline:g}s deadline; the store may be down or overloaded: check it, or "
        "raise the deadline with deadline=..."
    )
    annotated.__cause__ = err
    return annotated
