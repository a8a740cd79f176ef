"""Native design on PostgreSQL: a table of entries, ``(list, seq)`` as primary key.

The textbook feed table::

    list    text,  seq bigint GENERATED ALWAYS AS IDENTITY,  item_id text,  ts bigint,
    v       text,  PRIMARY KEY (list, seq),  UNIQUE (list, item_id)

Append is one ``INSERT ... ON CONFLICT (list, item_id) DO NOTHING`` (idempotent per id, as
pagedlist's appends are); ``latest(n)`` is ``ORDER BY seq DESC LIMIT n`` on the primary
key; paging back is keyset paging, ``seq < cursor``. ``seq`` comes from one identity
sequence, so it orders entries by the time their ``INSERT`` started, not by commit: a
reader can see ``seq`` 10 before 9 commits, and a keyset page taken then skips 9 for good
(pagedlist's positions are dense and never fill in behind a reader).

It connects like the pagedlist store (same host, user, password sources, TLS) through a
pool of its own, and keeps its rows in ``<pagedlist table>_bench_native`` in the same
schema, created on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import psycopg_pool
from psycopg import sql

from pagedlist.adapters.postgres import parse_url
from pagedlist.bench.subjects import Cursor, Entry, NativeSubject
from pagedlist.core.store import Store

__all__ = ["PostgresTableSubject", "subjects"]

_DDL = """
CREATE TABLE IF NOT EXISTS {t} (
    list    text COLLATE "C" NOT NULL,
    seq     bigint GENERATED ALWAYS AS IDENTITY,
    item_id text COLLATE "C" NOT NULL,
    ts      bigint NOT NULL,
    v       text NOT NULL,
    PRIMARY KEY (list, seq),
    UNIQUE (list, item_id)
)
"""


class PostgresTableSubject(NativeSubject):
    """``INSERT`` one row per entry; ``SELECT ... ORDER BY seq DESC LIMIT n``."""

    name = "native:postgres-table"

    def __init__(self, url: str) -> None:
        super().__init__()
        target = parse_url(url)
        name = f"{target.table}_bench_native"
        self._table = sql.Identifier(target.schema, name) if target.schema else sql.Identifier(name)
        self._pool = psycopg_pool.ConnectionPool(
            target.conninfo(),
            kwargs={"autocommit": True},
            min_size=1,
            max_size=max(target.pool, 16),
            num_workers=1,
            open=False,
            name="pagedlist-bench-native",
        )
        self._pool.open(wait=True, timeout=target.connect_timeout + 5)
        with self._pool.connection() as conn, conn.transaction():
            # Racing CREATE TABLE IF NOT EXISTS can fail: serialize the first creators.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"pagedlist {name}"])
            conn.execute(self._sql(_DDL))
        self._insert = self._sql(
            "INSERT INTO {t} (list, item_id, ts, v) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (list, item_id) DO NOTHING"
        )
        self._latest = self._sql(
            "SELECT seq, item_id, ts, v FROM {t} WHERE list = %s ORDER BY seq DESC LIMIT %s"
        )
        self._before = self._sql(
            "SELECT seq, item_id, ts, v FROM {t} WHERE list = %s AND seq < %s "
            "ORDER BY seq DESC LIMIT %s"
        )

        self._many = self._sql(
            "SELECT e.seq, e.item_id, e.ts, e.v FROM unnest(%s::text[]) AS l(id) "
            "CROSS JOIN LATERAL (SELECT seq, item_id, ts, v FROM {t} WHERE list = l.id "
            "ORDER BY seq DESC LIMIT %s) AS e ORDER BY e.ts DESC LIMIT %s"
        )

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(t=self._table)

    def _rows(self, query: sql.Composed, params: Sequence[Any]) -> list[tuple]:
        with self._pool.connection() as conn:
            return conn.execute(query, params).fetchall()

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """One transaction of inserts (untimed)."""
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(self._insert, [(list_id, e.id, e.ts, e.value) for e in entries])

    def append(self, list_id: str, entry: Entry) -> None:
        """One autocommit ``INSERT``."""

        def insert() -> None:
            with self._pool.connection() as conn:
                conn.execute(self._insert, (list_id, entry.id, entry.ts, entry.value))

        self.call(insert)

    def latest(self, list_id: str, n: int) -> int:
        """``ORDER BY seq DESC LIMIT n``."""
        return len(self.call(lambda: self._rows(self._latest, (list_id, n))))

    def latest_many(self, list_ids: Sequence[str], n: int) -> int:
        """One statement: each list's ``ORDER BY seq DESC LIMIT n`` (a ``LATERAL`` index
        range per list id of the array), newest ``n`` by timestamp."""
        return len(self.call(lambda: self._rows(self._many, (list(list_ids), n, n))))

    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """Keyset paging on ``seq``."""
        top = (1 << 62) if cursor is None else cursor
        rows = self.call(lambda: self._rows(self._before, (list_id, top, n)))
        return len(rows), (rows[-1][0] if len(rows) == n else None)

    def read_ids(self, list_id: str) -> list[str]:
        """Every id in ``seq`` order."""
        rows = self._rows(
            self._sql("SELECT item_id FROM {t} WHERE list = %s ORDER BY seq"), [list_id]
        )
        return [r[0] for r in rows]

    def versions(self) -> dict[str, str]:
        """psycopg, libpq and server versions."""
        with self._pool.connection() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        server = "?" if row is None else row[0]
        return {
            "psycopg": psycopg.__version__,
            "libpq": str(psycopg.pq.version()),
            "postgresql": str(server),
        }

    def close(self) -> None:
        """Close the pool."""
        self._pool.close(timeout=5)


def subjects(url: str, store: Store) -> list[NativeSubject]:
    """The table design in the same database as ``url``."""
    return [PostgresTableSubject(url)]
