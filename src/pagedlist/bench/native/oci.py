"""Native design on OCI NoSQL: one row per entry, the feed as shard key, an identity ``seq``.

The textbook Oracle NoSQL feed table::

    CREATE TABLE IF NOT EXISTS <t> (feed STRING, seq LONG GENERATED ALWAYS AS IDENTITY,
        id STRING, ts LONG, v STRING, PRIMARY KEY(SHARD(feed), seq))

Append is one put without ``seq`` (the service draws it from the table's identity
sequence); ``latest(n)`` is one single-shard ``SELECT ... WHERE feed = $f ORDER BY seq
DESC LIMIT $n``; paging back is keyset paging, ``seq < $c``. Reads use absolute
consistency, as pagedlist's do, so their units compare like for like.

What it does not give, and pagedlist does: a put is not idempotent (a retry after a lost
answer writes the entry twice, under a new ``seq``), ``seq`` values are not dense, and
they follow the order in which writers drew them from the sequence (drawn in cached
blocks per client on the real service), not the order the rows were written.

It uses the pagedlist store's borneo handle (same endpoint, credentials and settings,
SDK retries off) and a table of its own, ``<pagedlist table>_bench_native``, created on
demand (on-demand capacity on the cloud, as the adapter creates its tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from borneo import (
    Consistency,
    GetTableRequest,
    PrepareRequest,
    PutRequest,
    QueryRequest,
    TableLimits,
    TableRequest,
)
from borneo import exception as nosql_errors

from pagedlist.bench.subjects import Cursor, Entry, NativeSubject
from pagedlist.core.store import Store

__all__ = ["NATIVE_BEFORE", "NATIVE_DDL", "NATIVE_LATEST", "OCIRowsSubject", "subjects"]

NATIVE_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} (feed STRING, seq LONG GENERATED ALWAYS AS IDENTITY, "
    "id STRING, ts LONG, v STRING, PRIMARY KEY(SHARD(feed), seq))"
)

# pagedlist.emulators.oci_statements repeats these texts: change both together.
NATIVE_LATEST = """
DECLARE $f STRING; $n LONG;
SELECT t.seq, t.id, t.ts, t.v FROM {table} t
WHERE t.feed = $f
ORDER BY t.seq DESC LIMIT $n
"""

NATIVE_BEFORE = """
DECLARE $f STRING; $c LONG; $n LONG;
SELECT t.seq, t.id, t.ts, t.v FROM {table} t
WHERE t.feed = $f AND t.seq < $c
ORDER BY t.seq DESC LIMIT $n
"""

NATIVE_IDS = """
DECLARE $f STRING;
SELECT t.id FROM {table} t
WHERE t.feed = $f
ORDER BY t.seq
"""


class OCIRowsSubject(NativeSubject):
    """One row per entry; single-shard ``ORDER BY seq DESC LIMIT n`` queries."""

    name = "native:oci-rows"

    def __init__(self, handle: Any, table: str, *, cloud: bool = False) -> None:
        super().__init__()
        self.handle = handle
        self.table = table
        self._ensure_table(cloud)
        self._prepared = {
            name: self._prepare(text)
            for name, text in (
                ("latest", NATIVE_LATEST),
                ("before", NATIVE_BEFORE),
                ("ids", NATIVE_IDS),
            )
        }

    def _ensure_table(self, cloud: bool) -> None:
        try:
            self.handle.get_table(GetTableRequest().set_table_name(self.table))
            return
        except nosql_errors.TableNotFoundException:
            pass
        request = TableRequest().set_statement(NATIVE_DDL.format(table=self.table))
        if cloud:
            request.set_table_limits(TableLimits(0, 0, 25, TableLimits.CAPACITY_MODE.ON_DEMAND))
        self.handle.do_table_request(request, 120_000, 1_000)

    def _prepare(self, text: str) -> Any:
        result = self.handle.prepare(PrepareRequest().set_statement(text.format(table=self.table)))
        return result.get_prepared_statement()

    def _record(self, result: Any) -> Any:
        self.add_units("read_units", result.get_read_units() or 0)
        self.add_units("write_units", result.get_write_units() or 0)
        return result

    def _put(self, list_id: str, entry: Entry) -> Any:
        value = {"feed": list_id, "id": entry.id, "ts": entry.ts, "v": entry.value}
        return self._record(
            self.handle.put(PutRequest().set_table_name(self.table).set_value(value))
        )

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """One put per entry (untimed)."""
        for entry in entries:
            self._put(list_id, entry)

    def append(self, list_id: str, entry: Entry) -> None:
        """One put; the service draws ``seq``."""
        self.call(lambda: self._put(list_id, entry))

    def _query(self, name: str, variables: dict[str, Any], *, timed: bool = True) -> list[dict]:
        statement = self._prepared[name].copy_statement()
        for var, value in variables.items():
            statement.set_variable(var, value)
        request = (
            QueryRequest().set_prepared_statement(statement).set_consistency(Consistency.ABSOLUTE)
        )
        rows: list[dict] = []
        while True:
            if timed:
                result = self.call(lambda: self._record(self.handle.query(request)))
            else:
                result = self.handle.query(request)
            rows.extend(result.get_results())
            if request.is_done():
                return rows

    def latest(self, list_id: str, n: int) -> int:
        """``ORDER BY seq DESC LIMIT n``."""
        return len(self._query("latest", {"$f": list_id, "$n": n}))

    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """Keyset paging on ``seq``."""
        if cursor is None:
            rows = self._query("latest", {"$f": list_id, "$n": n})
        else:
            rows = self._query("before", {"$f": list_id, "$c": cursor, "$n": n})
        return len(rows), (int(rows[-1]["seq"]) if len(rows) == n else None)

    def read_ids(self, list_id: str) -> list[str]:
        """Every id in ``seq`` order."""
        return [str(r["id"]) for r in self._query("ids", {"$f": list_id}, timed=False)]

    def versions(self) -> dict[str, str]:
        """The borneo version."""
        import borneo

        return {"borneo": getattr(borneo, "__version__", "?")}


def subjects(url: str, store: Store) -> list[NativeSubject]:
    """The rows design, on the store's own borneo handle, in a sibling table."""
    inner: Any = getattr(store, "inner", store)  # the OCINoSQLStore under any wrapper
    return [
        OCIRowsSubject(
            inner.handle, f"{inner.table}_bench_native", cloud=url.lower().startswith("oci-nosql:")
        )
    ]
