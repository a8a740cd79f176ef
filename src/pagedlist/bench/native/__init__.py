"""Native feed designs: what a user would write on each backend without pagedlist.

One module per backend. Each defines subjects (see :class:`~pagedlist.bench.subjects.
NativeSubject`) that keep one row, document or list element per entry, the way that
backend's own documentation suggests for a feed:

* memory: a Python list per feed, under a lock;
* SQLite: a table with an autoincrement key, ``ORDER BY seq DESC LIMIT n``;
* Redis: ``LPUSH``/``LRANGE``, and Streams ``XADD``/``XREVRANGE``;
* DynamoDB: one item per entry under the feed's partition key with a sort key,
  ``Query(ScanIndexForward=False, Limit=n)``;
* Cosmos DB: one document per entry in the feed's partition, ``ORDER BY`` queries;
* PostgreSQL: a table of entries with ``(list, seq)`` as primary key,
  ``ORDER BY seq DESC LIMIT n``;
* OCI NoSQL: a row per entry, primary key ``(SHARD(feed), seq)`` with ``seq`` an identity
  column, ``ORDER BY seq DESC LIMIT n`` (the local endpoint runs exactly these statements).

:func:`native_subjects` picks the module by the store URL's scheme and imports it lazily.
"""

from __future__ import annotations

import importlib

from pagedlist.bench.subjects import NativeSubject
from pagedlist.core.store import Store

__all__ = ["NATIVE_MODULES", "native_subjects"]

#: URL scheme -> module defining ``subjects(url, store) -> list[NativeSubject]``.
NATIVE_MODULES: dict[str, str] = {
    "memory": "pagedlist.bench.native.memory",
    "sqlite": "pagedlist.bench.native.sqlite",
    "redis": "pagedlist.bench.native.redis",
    "rediss": "pagedlist.bench.native.redis",
    "redis+cluster": "pagedlist.bench.native.redis",
    "dynamodb": "pagedlist.bench.native.dynamodb",
    "cosmos": "pagedlist.bench.native.cosmos",
    "postgresql": "pagedlist.bench.native.postgres",
    "postgres": "pagedlist.bench.native.postgres",
    "oci-nosql": "pagedlist.bench.native.oci",
    "oci-nosql+http": "pagedlist.bench.native.oci",
}


def native_subjects(url: str, store: Store) -> list[NativeSubject]:
    """The native designs for the backend ``url`` names (empty for an unknown scheme).

    ``store`` is the already-open pagedlist store: a native module may reuse its SDK client
    (same connection settings) but keeps its data in its own keys or table.
    """
    scheme = url.split("://", 1)[0].lower()
    target = NATIVE_MODULES.get(scheme)
    if target is None:
        return []
    return importlib.import_module(target).subjects(url, store)
