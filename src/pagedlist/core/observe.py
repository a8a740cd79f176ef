"""What the core tells the outside while it works: logs and hooks, without a dependency.

The core logs through the standard :mod:`logging` module under the ``pagedlist`` logger:

* ``INFO`` a retry (the attempt, the delay, the error) or a throttled call;
* ``WARNING`` an operation that gave up or ran out of its deadline;
* ``ERROR`` a broken contract (an adapter bug);
* ``DEBUG`` page rolls (layout 1) and corrections of a stale cached head or hint.

Messages carry the list id and the operation, never a value, an item id, a password or a
key's user part. Observers get the same events as calls, plus the start and end of every
list operation: ``pagedlist.telemetry`` (the ``pagedlist[otel]`` extra) registers one that
makes OpenTelemetry spans and metrics of them. With no observer registered each hook is
one truth test.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Observer", "active", "add", "log", "operation", "remove"]

log = logging.getLogger("pagedlist")

_NAME = re.compile(r"[a-z_]+")
#: Operations whose answers tell the log something (names of ``core.ops`` classes).
_ROLL = "Full"
_CORRECTION = "Taken"


class Observer:
    """Base class of observers: every hook is a no-op; override what you need."""

    def operation_started(self, name: str, list_id: str | None) -> Any:
        """A list operation (``append``, ``latest``...) begins; the return value is handed
        back to :meth:`operation_ended`."""
        return None

    def operation_ended(
        self,
        token: Any,
        name: str,
        list_id: str | None,
        error: BaseException | None,
        seconds: float,
    ) -> None:
        """It ended, with ``error`` if it raised."""

    def retried(
        self, what: str, op: object, error: BaseException, attempt: int, delay: float
    ) -> None:
        """A store call failed transiently and will be repeated after ``delay`` seconds."""

    def gave_up(self, what: str, op: object, error: BaseException, attempts: int) -> None:
        """An operation gave up: its deadline leaves no room for another attempt."""

    def deadline_exceeded(self, what: str) -> None:
        """An operation ran out of its deadline before sending its next call."""

    def answered(self, what: str, op: object, answer: object) -> None:
        """A store call answered (only reported while some observer wants it: see
        :attr:`wants_answers`)."""

    wants_answers: bool = False
    """Whether :meth:`answered` should be called (it is on the hot path)."""


_observers: tuple[Observer, ...] = ()
_answers: tuple[Observer, ...] = ()


def add(observer: Observer) -> None:
    """Register ``observer`` for every operation of this process."""
    global _observers, _answers
    _observers = (*_observers, observer)
    _answers = tuple(o for o in _observers if o.wants_answers)


def remove(observer: Observer) -> None:
    """Unregister ``observer``."""
    global _observers, _answers
    _observers = tuple(o for o in _observers if o is not observer)
    _answers = tuple(o for o in _observers if o.wants_answers)


def active() -> bool:
    """Whether any observer is registered (the callers' fast path)."""
    return bool(_observers)


@contextmanager
def operation(what: str, list_id: str | None) -> Iterator[None]:
    """Report one list operation to every observer (a span per operation). ``what`` is the
    driver's description (``"append to 'feed'"``); observers get its leading name
    (``append``)."""
    observers = _observers
    if not observers:
        yield
        return
    found = _NAME.match(what)
    name = found.group(0) if found else what
    tokens = [o.operation_started(name, list_id) for o in observers]
    began = time.monotonic()
    error: BaseException | None = None
    try:
        yield
    except BaseException as err:
        error = err
        raise
    finally:
        took = time.monotonic() - began
        for o, token in zip(observers, tokens, strict=True):
            o.operation_ended(token, name, list_id, error, took)


def retried(what: str, op: object, error: BaseException, attempt: int, delay: float) -> None:
    """A retry: logged at INFO, then told to every observer."""
    if log.isEnabledFor(logging.INFO):
        log.info(
            "%s: %s failed (%s: %s); attempt %d, retrying in %.3fs",
            what, type(op).__name__, type(error).__name__, error, attempt, delay,
        )  # fmt: skip
    for o in _observers:
        o.retried(what, op, error, attempt, delay)


def gave_up(what: str, op: object, error: BaseException, attempts: int) -> None:
    """An operation giving up: WARNING, then every observer."""
    log.warning(
        "%s: gave up after %d attempt(s): %s: %s", what, attempts, type(error).__name__, error
    )
    for o in _observers:
        o.gave_up(what, op, error, attempts)


def deadline_exceeded(what: str) -> None:
    """An operation out of time: WARNING, then every observer."""
    log.warning("%s: deadline exceeded", what)
    for o in _observers:
        o.deadline_exceeded(what)


def contract(what: str, error: BaseException) -> None:
    """A broken contract: ERROR (it is an adapter bug)."""
    log.error("%s: %s", what, error)


def answered(what: str, op: object, answer: object) -> None:
    """A store call's answer: page rolls and corrections at DEBUG, then the observers
    that asked for answers. Cheap when neither wants it."""
    kind = type(answer).__name__
    if kind in (_ROLL, _CORRECTION) and log.isEnabledFor(logging.DEBUG):
        if kind == _ROLL and getattr(answer, "length", -1) == getattr(op, "max_len", -2):
            log.debug("%s: page %s is full: the head moves on", what, getattr(op, "key", "?"))
        elif kind == _CORRECTION:
            log.debug(
                "%s: position %s was taken by another writer: the cached hint was stale",
                what, getattr(answer, "position", "?"),
            )  # fmt: skip
    for o in _answers:
        o.answered(what, op, answer)
