"""Native design on DynamoDB: one item per entry, the feed as partition key, a sort key.

The textbook feed table: partition key ``feed`` (S), sort key ``sk`` (S) =
``"{ts:013d}#{item id}"``, so items sort by time and ids break ties. Append is one
``PutItem`` with ``attribute_not_exists`` (idempotent per id); ``latest(n)`` is one
``Query(ScanIndexForward=False, Limit=n, ConsistentRead=True)``; paging back uses
``sk < cursor``. Every call asks for ``ReturnConsumedCapacity=TOTAL`` so the report shows
this design's units next to pagedlist's.

It uses the pagedlist store's boto3 client (same endpoint, region and credentials) and a
table of its own, ``<pagedlist table>_bench_native``, created on demand (on-demand billing).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from pagedlist.bench.subjects import Cursor, Entry, NativeSubject
from pagedlist.core.store import Store

__all__ = ["DynamoDBItemsSubject", "subjects"]


class DynamoDBItemsSubject(NativeSubject):
    """One item per entry; ``Query`` newest first."""

    name = "native:dynamodb-items"

    def __init__(self, client: Any, table: str) -> None:
        super().__init__()
        self.client = client
        self.table = table
        self._ensure_table()

    def _ensure_table(self) -> None:
        try:
            self.client.describe_table(TableName=self.table)
            return
        except self.client.exceptions.ResourceNotFoundException:
            pass
        with contextlib.suppress(self.client.exceptions.ResourceInUseException):
            self.client.create_table(
                TableName=self.table,
                AttributeDefinitions=[
                    {"AttributeName": "feed", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": "feed", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        self.client.get_waiter("table_exists").wait(
            TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )

    def _record(self, answer: dict[str, Any], kind: str) -> dict[str, Any]:
        consumed = answer.get("ConsumedCapacity") or {}
        if isinstance(consumed, list):
            units = sum(float(c.get("CapacityUnits", 0)) for c in consumed)
        else:
            units = float(consumed.get("CapacityUnits", 0))
        self.add_units(kind, units)
        return answer

    @staticmethod
    def _item(list_id: str, entry: Entry) -> dict[str, Any]:
        return {
            "feed": {"S": list_id},
            "sk": {"S": f"{entry.ts:013d}#{entry.id}"},
            "id": {"S": entry.id},
            "ts": {"N": str(entry.ts)},
            "v": {"S": entry.value},
        }

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """``BatchWriteItem`` 25 at a time (untimed)."""
        for start in range(0, len(entries), 25):
            requests = [
                {"PutRequest": {"Item": self._item(list_id, e)}}
                for e in entries[start : start + 25]
            ]
            while requests:
                answer = self.client.batch_write_item(RequestItems={self.table: requests})
                requests = answer.get("UnprocessedItems", {}).get(self.table, [])

    def append(self, list_id: str, entry: Entry) -> None:
        """``PutItem`` if no item has this key."""
        self.call(
            lambda: self._record(
                self.client.put_item(
                    TableName=self.table,
                    Item=self._item(list_id, entry),
                    ConditionExpression="attribute_not_exists(sk)",
                    ReturnConsumedCapacity="TOTAL",
                ),
                "write_units",
            )
        )

    def _query(self, list_id: str, n: int, below: str | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "feed = :f" + (" AND sk < :c" if below else ""),
            "ExpressionAttributeValues": {":f": {"S": list_id}},
            "ScanIndexForward": False,
            "Limit": n,
            "ConsistentRead": True,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if below:
            params["ExpressionAttributeValues"][":c"] = {"S": below}
        answer = self.call(lambda: self._record(self.client.query(**params), "read_units"))
        return answer.get("Items", [])

    def latest(self, list_id: str, n: int) -> int:
        """``Query(ScanIndexForward=False, Limit=n)``."""
        return len(self._query(list_id, n, None))

    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """Keyset paging on the sort key."""
        items = self._query(list_id, n, cursor)
        return len(items), (items[-1]["sk"]["S"] if len(items) == n else None)

    def read_ids(self, list_id: str) -> list[str]:
        """Every id, oldest first (paginated query)."""
        out: list[str] = []
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "feed = :f",
            "ExpressionAttributeValues": {":f": {"S": list_id}},
            "ConsistentRead": True,
        }
        while True:
            answer = self.client.query(**params)
            out += [item["id"]["S"] for item in answer.get("Items", [])]
            if "LastEvaluatedKey" not in answer:
                return out
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def versions(self) -> dict[str, str]:
        """boto3 and botocore versions."""
        import boto3
        import botocore

        return {"boto3": boto3.__version__, "botocore": botocore.__version__}


def subjects(url: str, store: Store) -> list[NativeSubject]:
    """The items design, on the store's own client, in a sibling table."""
    inner: Any = getattr(store, "inner", store)  # the DynamoDBStore under any wrapper
    client = inner.client  # the adapter's public boto3 client
    table = inner.describe().split("://", 1)[1].split("?", 1)[0]
    return [DynamoDBItemsSubject(client, f"{table}_bench_native")]
