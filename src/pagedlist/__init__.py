"""pagedlist: a distributed, paged linked list on any key-value store.

>>> from pagedlist import PagedList, open_store
>>> feed = PagedList.create(open_store("memory://"), "feed")
>>> feed.append({"text": "hello"})
0
>>> [item.value for item in feed.latest(10)]
[{'text': 'hello'}]

Importing pagedlist loads no backend SDK; ``open_store`` imports the adapter a URL names.
"""

from pagedlist.adapters import open_async_store, open_store
from pagedlist.core.apagedlist import AsyncPagedList
from pagedlist.core.astore import AsyncStore
from pagedlist.core.ops import Limits, Row
from pagedlist.core.pagedlist import Item, PagedList, Timeline
from pagedlist.core.store import Store
from pagedlist.errors import (
    ConfigError,
    ContractViolation,
    DeadlineExceeded,
    InvalidArgument,
    InvalidListId,
    InvalidValue,
    ItemNotFound,
    ItemTooLarge,
    ListExists,
    ListNotFound,
    PagedListError,
    PartialWrite,
    StoreError,
    StoreUnavailable,
    Throttled,
    Unsupported,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncPagedList",
    "AsyncStore",
    "ConfigError",
    "ContractViolation",
    "DeadlineExceeded",
    "InvalidArgument",
    "InvalidListId",
    "InvalidValue",
    "Item",
    "ItemNotFound",
    "ItemTooLarge",
    "Limits",
    "ListExists",
    "ListNotFound",
    "PagedList",
    "PagedListError",
    "PartialWrite",
    "Row",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Throttled",
    "Timeline",
    "Unsupported",
    "UsageError",
    "__version__",
    "open_async_store",
    "open_store",
]
