"""Every error pagedlist raises, split by whose fault it is.

::

    PagedListError                  base of everything below
    ├── UsageError                  the caller asked for something invalid; retrying won't help
    │   ├── ConfigError             bad store URL, unknown scheme, missing SDK, impossible sizing
    │   ├── ListNotFound            no list with that id
    │   ├── ListExists              a list with that id exists with other settings
    │   ├── InvalidListId           list id has forbidden characters or is too long
    │   ├── ItemTooLarge            an item's JSON text is over max_item_bytes / the row limit
    │   └── InvalidValue            value is not JSON (set, bytes, NaN, non-str key, ...)
    ├── StoreError                  the store failed; ``retryable`` says whether a retry may help
    │   ├── StoreUnavailable        cannot reach the store (refused, reset, node down)   retryable
    │   ├── Throttled               the store refused for rate or capacity               retryable
    │   └── DeadlineExceeded        a call or the whole operation ran out of time        retryable
    └── ContractViolation           the store answered something the contract forbids (adapter bug)

Every message says what failed, the offending value, and what to do next.
Adapters raise these, chained (``raise ... from err``) to the SDK's own exception.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ContractViolation",
    "DeadlineExceeded",
    "InvalidListId",
    "InvalidValue",
    "ItemTooLarge",
    "ListExists",
    "ListNotFound",
    "PagedListError",
    "StoreError",
    "StoreUnavailable",
    "Throttled",
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


class StoreError(PagedListError):
    """The store failed to carry out a call.

    ``retryable`` is true when the same call may succeed later; the driver retries those
    with backoff until the operation's deadline.
    """

    retryable: bool = False


class StoreUnavailable(StoreError):
    """The store could not be reached or dropped the connection; the call may not have run."""

    retryable = True


class Throttled(StoreError):
    """The store refused the call for rate or capacity reasons; back off and retry.

    ``retry_after`` is the wait in seconds the store asked for, when it said one.
    """

    retryable = True

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeadlineExceeded(StoreError, TimeoutError):
    """A store call timed out (its answer may be lost) or an operation ran past its deadline."""

    retryable = True


class ContractViolation(PagedListError):
    """The store answered something the store contract forbids: an adapter bug, report it."""
