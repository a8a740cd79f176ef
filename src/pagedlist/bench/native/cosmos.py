"""Native design on Cosmos DB: one document per entry in the feed's logical partition.

Container ``<pagedlist container>_bench_native`` with partition key ``/feed``; each entry is
``{id, feed, sk, ts, v}`` with ``sk = "{ts:013d}#{item id}"``. Append is one
``create_item`` (a duplicate id fails: idempotent per id); ``latest(n)`` is one
single-partition query ``SELECT TOP @n ... WHERE c.feed = @f ORDER BY c.sk DESC``; paging
back adds ``c.sk < @cursor``. The request charge of every call is summed from the
``x-ms-request-charge`` header (the local server reports 1 RU for everything).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pagedlist.bench.subjects import Cursor, Entry, NativeSubject
from pagedlist.core.store import Store

__all__ = ["CosmosDocumentsSubject", "subjects"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class CosmosDocumentsSubject(NativeSubject):
    """One document per entry; ``ORDER BY`` queries inside the feed's partition."""

    name = "native:cosmos-documents"

    def __init__(self, container: Any) -> None:
        super().__init__()
        self.container = container

    def _hook(self, headers: Any, _result: Any) -> None:
        with contextlib.suppress(TypeError, ValueError):
            self.add_units("request_charge_ru", float(headers.get("x-ms-request-charge", 0)))

    @staticmethod
    def _doc(list_id: str, entry: Entry) -> dict[str, Any]:
        return {
            "id": entry.id,
            "feed": list_id,
            "sk": f"{entry.ts:013d}#{entry.id}",
            "ts": entry.ts,
            "v": entry.value,
        }

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """One ``create_item`` per entry (untimed; Cosmos has no batch insert across ids
        outside transactional batches, which the local server lacks)."""
        for e in entries:
            self.container.create_item(self._doc(list_id, e))

    def append(self, list_id: str, entry: Entry) -> None:
        """``create_item``."""
        self.call(
            lambda: self.container.create_item(self._doc(list_id, entry), response_hook=self._hook)
        )

    def _query(self, list_id: str, n: int, below: str | None) -> list[dict[str, Any]]:
        where = "c.feed = @f" + (" AND c.sk < @c" if below else "")
        params: list[dict[str, Any]] = [
            {"name": "@n", "value": n},
            {"name": "@f", "value": list_id},
        ]
        if below:
            params.append({"name": "@c", "value": below})
        query = f"SELECT TOP @n c.id, c.sk, c.ts, c.v FROM c WHERE {where} ORDER BY c.sk DESC"
        return self.call(
            lambda: list(
                self.container.query_items(
                    query,
                    parameters=params,
                    partition_key=list_id,
                    response_hook=self._hook,
                )
            )
        )

    def latest(self, list_id: str, n: int) -> int:
        """``SELECT TOP @n ... ORDER BY c.sk DESC``."""
        return len(self._query(list_id, n, None))

    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """Keyset paging on ``sk``."""
        docs = self._query(list_id, n, cursor)
        return len(docs), (docs[-1]["sk"] if len(docs) == n else None)

    def read_ids(self, list_id: str) -> list[str]:
        """Every id, oldest first."""
        docs = self.container.query_items(
            "SELECT c.id FROM c WHERE c.feed = @f ORDER BY c.sk",
            parameters=[{"name": "@f", "value": list_id}],
            partition_key=list_id,
        )
        return [d["id"] for d in docs]

    def versions(self) -> dict[str, str]:
        """azure-cosmos version."""
        import azure.cosmos

        return {"azure-cosmos": azure.cosmos.__version__}


def subjects(url: str, store: Store) -> list[NativeSubject]:
    """The documents design in a sibling container of the pagedlist one."""
    from azure.cosmos import CosmosClient, PartitionKey

    from pagedlist.adapters.cosmos import EMULATOR_KEY, KEY_ENV

    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    tls = query.get("tls", "true").lower() not in ("false", "0", "no")
    host = parts.hostname or "localhost"
    database, container = [p for p in parts.path.split("/") if p][:2]
    credential: Any = os.environ.get(KEY_ENV)
    if not credential:
        if host in _LOOPBACK:
            credential = EMULATOR_KEY
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
    bracketed = f"[{host}]" if ":" in host else host
    endpoint = f"{'https' if tls else 'http'}://{bracketed}:{parts.port or 443}/"
    client = CosmosClient(
        endpoint,
        credential,
        enable_endpoint_discovery=False,
        connection_verify=query.get("verify", "true").lower() not in ("false", "0", "no"),
    )
    db = client.create_database_if_not_exists(database)
    native = db.create_container_if_not_exists(
        f"{container}_bench_native", partition_key=PartitionKey(path="/feed")
    )
    return [CosmosDocumentsSubject(native)]
