"""Every error pagedlist raises, split by whose fault it is.

::

    PagedListError                  base of everything below
    ├── UsageError                  the caller asked for something invalid; retrying won't help
    │   ├── ConfigError             bad store URL, unknown scheme, missing SDK, impossible sizing
    │   ├── ListNotFound            no list with that id
    │   ├── ListExists              a list with that id exists with other settings
    │   ├── InvalidListId           list id has forbidden characters or is too long
    │   ├── ItemTooLarge            an item's JSON text is over max_item_bytes / the row limit
    │   ├── InvalidValue            value is not JSON (set, bytes, NaN, non-str key, too deep)
    │   ├── InvalidArgument         an argument is out of range or of the wrong type (n=-1)
    │   ├── ItemNotFound            no live item at that position (deleted, trimmed, beyond)
    │   └── Unsupported             this list's layout or this store lacks the operation
    ├── StoreError                  the store failed; ``retryable`` says whether a retry may help
    │   ├── StoreUnavailable        cannot reach the store (refused, reset, node down)   retryable
    │   ├── Throttled               the store refused for rate or capacity               retryable
    │   ├── DeadlineExceeded        a call or the whole operation ran out of time        retryable
    │   └── PartialWrite            extend() committed some items, then failed (``committed``)
    └── ContractViolation           the store answered something the contract forbids (adapter bug)

Every message says what failed, the offending value, and what to do next.
Adapters raise these, chained (``raise ... from err``) to the SDK's own exception.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ContractViolation",
    "DeadlineExceeded",
    "InvalidArgument",
    "InvalidListId",
    "InvalidValue",
    "ItemNotFound",
    "ItemTooLarge",
    "ListExists",
    "ListNotFound",
    "PagedListError",
    "PartialWrite",
    "StoreError",
    "StoreUnavailable",
    "Throttled",
    "Unsupported",
    "UsageError",
]


class PagedListError(Exception):
    """Base class of every pagedlist error."""


class UsageError(PagedListError):
    """The caller asked for something invalid; fix the call, retrying will not help."""


class ConfigError(UsageError, ValueError):
    """A store URL, an option or a sizing choice is invalid, or an optional SDK is missing."""


class ListNotFound(UsageError, LookupError):
    """No list exists with the given id in this store."""


class ListExists(UsageError):
    """A list with this id already exists with different settings."""


class InvalidListId(UsageError, ValueError):
    """A list id is empty, too long for the store's keys, or has a forbidden character."""


class ItemTooLarge(UsageError, ValueError):
    """An item (or a row it would produce) is larger than the limit allows."""


class InvalidValue(UsageError, TypeError):
    """A value cannot be stored as exact JSON (set, bytes, NaN, Infinity, non-string keys...)."""


class InvalidArgument(UsageError, ValueError):
    """An argument of a list call is out of range or of the wrong type (``latest(-1)``,
    ``get(True)``, ``deadline="x"``)."""


class ItemNotFound(UsageError, LookupError):
    """No live item at that position: never written, deleted, or below the retained start."""


class Unsupported(UsageError):
    """The operation needs something this list's layout or this store does not offer."""


class StoreError(PagedListError):
    """The store failed to carry out a call.

    ``retryable`` is true when the same call may succeed later; the driver retries those
    with backoff until the operation's deadline. ``may_have_run`` is true when the call may
    have taken effect although it failed (a lost answer): the driver repeats only calls
    whose repetition is harmless (it never repeats an ``Increment`` without ``expect``).
    """

    retryable: bool = False
    may_have_run: bool = True


class StoreUnavailable(StoreError):
    """The store could not be reached or dropped the connection; the call may not have run."""

    retryable = True


class Throttled(StoreError):
    """The store refused the call for rate or capacity reasons; back off and retry.

    ``retry_after`` is the wait in seconds the store asked for, when it said one.
    """

    retryable = True
    may_have_run = False

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeadlineExceeded(StoreError, TimeoutError):
    """A store call timed out (its answer may be lost) or an operation ran past its deadline."""

    retryable = True


class PartialWrite(StoreError):
    """``extend()`` committed some of its items, then failed.

    ``committed`` holds the positions that did commit (ascending). Call ``extend()`` again
    with the same ``ids`` to write the rest without duplicating the committed ones.
    """

    def __init__(self, message: str, committed: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.committed = committed


class ContractViolation(PagedListError):
    """The store answered something the store contract forbids: an adapter bug, report it."""
