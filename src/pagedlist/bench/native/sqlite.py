"""Native design on SQLite: one row per entry, autoincrement key, ``ORDER BY seq DESC``."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from pagedlist.bench.subjects import Cursor, Entry, NativeSubject
from pagedlist.core.store import Store

__all__ = ["SQLiteTableSubject", "subjects"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_native_feed (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    feed    TEXT NOT NULL,
    item_id TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    v       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bench_native_feed_by_feed ON bench_native_feed (feed, seq);
"""


class SQLiteTableSubject(NativeSubject):
    """``INSERT`` one row per entry; ``SELECT ... WHERE feed = ? ORDER BY seq DESC LIMIT ?``.

    Same file as the pagedlist store (its own table), same WAL mode and busy timeout, a
    connection per thread, so the comparison is like for like.
    """

    name = "native:sqlite-table"

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        super().__init__()
        self._path = path or ":memory:"
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._shared_lock = threading.Lock()
        self._memory = self._path == ":memory:"
        self._shared = self._connect() if self._memory else None
        self._conn().executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        if not self._memory:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        self._all.append(conn)
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._shared is not None:
            return self._shared
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _run(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        if self._shared is not None:
            with self._shared_lock:
                return self._shared.execute(sql, params).fetchall()
        return self._conn().execute(sql, params).fetchall()

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """One transaction of inserts."""
        conn = self._conn()
        with self._shared_lock if self._shared is not None else contextlib.nullcontext():
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO bench_native_feed (feed, item_id, ts, v) VALUES (?, ?, ?, ?)",
                [(list_id, e.id, e.ts, e.value) for e in entries],
            )
            conn.execute("COMMIT")

    def append(self, list_id: str, entry: Entry) -> None:
        """One autocommit ``INSERT``."""
        self.call(
            lambda: self._run(
                "INSERT INTO bench_native_feed (feed, item_id, ts, v) VALUES (?, ?, ?, ?)",
                (list_id, entry.id, entry.ts, entry.value),
            )
        )

    def latest(self, list_id: str, n: int) -> int:
        """``ORDER BY seq DESC LIMIT n``."""
        rows = self.call(
            lambda: self._run(
                "SELECT seq, item_id, ts, v FROM bench_native_feed WHERE feed = ? "
                "ORDER BY seq DESC LIMIT ?",
                (list_id, n),
            )
        )
        return len(rows)

    def latest_many(self, list_ids: Sequence[str], n: int) -> int:
        """One statement: a ``UNION ALL`` of each list's ``ORDER BY seq DESC LIMIT n``
        (each an index range), newest ``n`` by timestamp."""
        branch = (
            "SELECT * FROM (SELECT seq, item_id, ts, v FROM bench_native_feed WHERE feed = ? "
            "ORDER BY seq DESC LIMIT ?)"
        )
        query = " UNION ALL ".join([branch] * len(list_ids)) + " ORDER BY ts DESC LIMIT ?"
        params: list[object] = []
        for list_id in list_ids:
            params += [list_id, n]
        params.append(n)
        return len(self.call(lambda: self._run(query, params)))

    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """Keyset paging on ``seq``."""
        top = (1 << 62) if cursor is None else cursor
        rows = self.call(
            lambda: self._run(
                "SELECT seq, item_id, ts, v FROM bench_native_feed WHERE feed = ? AND seq < ? "
                "ORDER BY seq DESC LIMIT ?",
                (list_id, top, n),
            )
        )
        return len(rows), (rows[-1][0] if len(rows) == n else None)

    def read_ids(self, list_id: str) -> list[str]:
        """Every id in commit order."""
        rows = self._run(
            "SELECT item_id FROM bench_native_feed WHERE feed = ? ORDER BY seq", (list_id,)
        )
        return [r[0] for r in rows]

    def versions(self) -> dict[str, str]:
        """The SQLite library version."""
        return {"sqlite": sqlite3.sqlite_version}

    def close(self) -> None:
        """Close every connection."""
        for conn in self._all:
            conn.close()
        self._all.clear()


def subjects(url: str, store: Store) -> list[NativeSubject]:
    """The table design on the same file as ``url``."""
    parts = urlsplit(url)
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
    return [SQLiteTableSubject(path)]
