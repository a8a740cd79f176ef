"""What the local OCI NoSQL endpoint's request handlers and statement semantics share: its
error, the row-size rule and limit, and the SQLite storage rows live in.

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
from typing import Any

from borneo.serdeutil import SerdeUtil

__all__ = ["ERR", "ROW_LIMIT", "NoSQLError", "Tables", "check_row", "compact", "row_bytes"]

ERR = SerdeUtil.USER_ERROR
ROW_LIMIT = 512 * 1024


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
        # Random versions: a row deleted and re-created never reuses one (no ABA).
        version = b"PLv1" + secrets.token_bytes(20)
        modified = int(time.time() * 1000)
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
