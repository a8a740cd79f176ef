"""What the local OCI NoSQL endpoint's request handlers and statement semantics share: its
error, the row-size rules and limits, the table schemas it knows, and the SQLite storage
rows live in.

Two kinds of storage: pagedlist's rows table (``k STRING`` primary key, kept in
``nosql_rows``) and tables whose primary key is a shard key string plus one ``LONG``
column (``PRIMARY KEY(SHARD(a), b)``: the entry rows of layout 2 and the bench's native
feed table, kept in ``nosql_keyed``, ordered by that ``LONG`` within the shard key, as
the service's primary index orders them).

:mod:`pagedlist.emulators.oci_server` (requests) and
:mod:`pagedlist.emulators.oci_statements` (the statements it runs) both import this module
and not each other's, so neither depends on the other's private names.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from borneo.serdeutil import SerdeUtil

__all__ = [
    "ERR",
    "KEYED",
    "LONG_BYTES",
    "MIN_READ",
    "ROW_LIMIT",
    "Column",
    "NoSQLError",
    "Schema",
    "Tables",
    "check_row",
    "compact",
    "kb",
    "keyed_row_bytes",
    "row_bytes",
]

ERR = SerdeUtil.USER_ERROR
ROW_LIMIT = 512 * 1024
#: What the engine charges at least for touching a record (InternalOperationHandler.MIN_READ).
MIN_READ = 1024
#: What a LONG primary key column adds to a key and a row, as this endpoint counts it.
LONG_BYTES = 8


class NoSQLError(Exception):
    """A request the proxy refuses: encoded as ``{error_code, exception}``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def compact(doc: Any) -> str:
    """How rows are kept and sized: compact JSON text, non-ASCII kept as is."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def row_bytes(key: str, doc: Any) -> int:
    """A row's size as this endpoint counts it: key bytes plus the doc's JSON text bytes
    (the service counts its own binary format, which is close to that)."""
    return len(key.encode("utf-8")) + len(compact(doc).encode("utf-8"))


def kb(size: int) -> int:
    """Bytes rounded up to whole KB, at least 1: the engine's unit of throughput."""
    return max(1, -(-size // 1024))


def keyed_row_bytes(shard: str, cols: dict[str, Any]) -> int:
    """A keyed table's row as this endpoint counts it: the shard key's bytes, 8 for the
    ``LONG`` key column, and each other column's name and value: a string's UTF-8 bytes,
    8 for an integer, the compact JSON text of anything else."""
    size = len(shard.encode("utf-8")) + LONG_BYTES
    for name, value in cols.items():
        size += len(name.encode("utf-8"))
        if isinstance(value, str):
            size += len(value.encode("utf-8"))
        elif isinstance(value, int) and not isinstance(value, bool):
            size += LONG_BYTES
        else:
            size += len(compact(value).encode("utf-8"))
    return size


@dataclass(frozen=True)
class Column:
    """A non-key column of a keyed table and its declared type."""

    name: str
    kind: str
    """``STRING``, ``LONG`` or ``JSON``."""


@dataclass(frozen=True)
class Schema:
    """A table whose primary key is ``(SHARD(shard), position)``, ``position`` a ``LONG``."""

    shard: str
    position: str
    columns: tuple[Column, ...]
    identity: bool = False
    """``position`` is ``GENERATED ALWAYS AS IDENTITY``: a put without it draws the next."""

    @property
    def names(self) -> frozenset[str]:
        """Every column of the table."""
        return frozenset({self.shard, self.position, *(c.name for c in self.columns)})


#: The keyed tables the endpoint creates, by kind (oci_statements maps DDL to a kind).
KEYED: dict[str, Schema] = {
    "entries": Schema("l", "p", (Column("e", "STRING"),)),
    "native": Schema(
        "feed",
        "seq",
        (Column("id", "STRING"), Column("ts", "LONG"), Column("v", "STRING")),
        identity=True,
    ),
}


def check_row(key: str, doc: Any) -> int:
    """The row's size, or ``ROW_SIZE_LIMIT_EXCEEDED`` if it is over the cloud's limit."""
    size = row_bytes(key, doc)
    if size > ROW_LIMIT:
        raise NoSQLError(
            ERR.ROW_SIZE_LIMIT_EXCEEDED,
            f"Row size of {size} exceeded the limit of {ROW_LIMIT}",
        )
    return size


class Tables:
    """SQLite storage: one connection, one lock, so each request is atomic. Each request
    is also one ``BEGIN IMMEDIATE`` transaction (waiting up to 30 s for the file), so
    several endpoint processes may share one ``--db`` file."""

    def __init__(self, path: str = ":memory:") -> None:
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self.db.executescript(
            """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=NORMAL;
            CREATE TABLE IF NOT EXISTS nosql_tables (name TEXT PRIMARY KEY, ddl TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS nosql_rows (
                tbl TEXT NOT NULL, k TEXT NOT NULL, doc TEXT NOT NULL, sz INTEGER NOT NULL,
                version BLOB NOT NULL, modified INTEGER NOT NULL, PRIMARY KEY (tbl, k)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS nosql_keyed (
                tbl TEXT NOT NULL, shard TEXT NOT NULL, pos INTEGER NOT NULL,
                cols TEXT NOT NULL, sz INTEGER NOT NULL, version BLOB NOT NULL,
                modified INTEGER NOT NULL, PRIMARY KEY (tbl, shard, pos)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS nosql_identity (
                tbl TEXT PRIMARY KEY, next INTEGER NOT NULL
            ) WITHOUT ROWID;
            """
        )

    def ddl(self, table: str) -> str | None:
        found = self.db.execute(
            "SELECT ddl FROM nosql_tables WHERE name = ? COLLATE NOCASE", (table,)
        ).fetchone()
        return None if found is None else found[0]

    def require(self, table: str) -> None:
        if self.ddl(table) is None:
            raise NoSQLError(ERR.TABLE_NOT_FOUND, f"Table not found: {table}")

    def create(self, table: str, ddl: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO nosql_tables VALUES (?, ?)", (table, ddl))

    def read(self, table: str, key: str) -> tuple[dict[str, Any], int, bytes, int] | None:
        found = self.db.execute(
            "SELECT doc, sz, version, modified FROM nosql_rows WHERE tbl = ? AND k = ?",
            (table.lower(), key),
        ).fetchone()
        return None if found is None else (json.loads(found[0]), found[1], found[2], found[3])

    def write(self, table: str, key: str, doc: Any, sz: int) -> tuple[bytes, int]:
        version, modified = _stamp()
        self.db.execute(
            "INSERT OR REPLACE INTO nosql_rows VALUES (?, ?, ?, ?, ?, ?)",
            (table.lower(), key, compact(doc), sz, version, modified),
        )
        return version, modified

    def delete(self, table: str, key: str) -> bool:
        cur = self.db.execute(
            "DELETE FROM nosql_rows WHERE tbl = ? AND k = ?", (table.lower(), key)
        )
        return cur.rowcount > 0

    # --- keyed tables: PRIMARY KEY(SHARD(a), b) ---------------------------------------------

    def read_keyed(
        self, table: str, shard: str, pos: int
    ) -> tuple[dict[str, Any], int, bytes, int] | None:
        """``(columns, size, version, modified)`` of one row, or ``None``."""
        found = self.db.execute(
            "SELECT cols, sz, version, modified FROM nosql_keyed "
            "WHERE tbl = ? AND shard = ? AND pos = ?",
            (table.lower(), shard, pos),
        ).fetchone()
        return None if found is None else (json.loads(found[0]), found[1], found[2], found[3])

    def write_keyed(
        self, table: str, shard: str, pos: int, cols: dict[str, Any], sz: int
    ) -> tuple[bytes, int]:
        """Create or overwrite one row; its new ``(version, modified)``."""
        version, modified = _stamp()
        self.db.execute(
            "INSERT OR REPLACE INTO nosql_keyed VALUES (?, ?, ?, ?, ?, ?, ?)",
            (table.lower(), shard, pos, compact(cols), sz, version, modified),
        )
        return version, modified

    def delete_keyed(self, table: str, shard: str, pos: int) -> None:
        """Remove one row (present or not)."""
        self.db.execute(
            "DELETE FROM nosql_keyed WHERE tbl = ? AND shard = ? AND pos = ?",
            (table.lower(), shard, pos),
        )

    def range_keyed(
        self,
        table: str,
        shard: str,
        lo: int | None,
        hi: int | None,
        *,
        descending: bool = False,
    ) -> Iterator[tuple[int, dict[str, Any], int]]:
        """``(position, columns, size)`` of the rows with ``lo <= position <= hi`` (either
        bound ``None``: open) of one shard key, in position order, read lazily."""
        where = "tbl = ? AND shard = ?"
        args: list[object] = [table.lower(), shard]
        if lo is not None:
            where, args = where + " AND pos >= ?", [*args, lo]
        if hi is not None:
            where, args = where + " AND pos <= ?", [*args, hi]
        order = "DESC" if descending else "ASC"
        cursor = self.db.execute(
            f"SELECT pos, cols, sz FROM nosql_keyed WHERE {where} ORDER BY pos {order}", args
        )
        for pos, cols, sz in cursor:
            yield pos, json.loads(cols), sz

    def next_identity(self, table: str) -> int:
        """The next value of a table's identity sequence (START WITH 1 INCREMENT BY 1)."""
        self.db.execute(
            "INSERT INTO nosql_identity VALUES (?, 2) "
            "ON CONFLICT (tbl) DO UPDATE SET next = next + 1",
            (table.lower(),),
        )
        return self.db.execute(
            "SELECT next - 1 FROM nosql_identity WHERE tbl = ?", (table.lower(),)
        ).fetchone()[0]


def _stamp() -> tuple[bytes, int]:
    # Random versions: a row deleted and re-created never reuses one (no ABA).
    return b"PLv1" + secrets.token_bytes(20), int(time.time() * 1000)
