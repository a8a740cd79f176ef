"""SQLite store: the embedded default. ``sqlite:///path/to/file.db`` (``sqlite://`` alone is a
private in-memory database).

One table ``pagedlist_rows(key, doc, version)``. Every primitive is one ``BEGIN IMMEDIATE``
transaction, so it is atomic across the threads and processes sharing the file; WAL mode
lets readers run beside the single writer. Each thread gets its own connection.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

from pagedlist.adapters._toolkit import UrlOptions, not_a_list, not_an_integer
from pagedlist.core.capabilities import Capabilities
from pagedlist.core.ops import Appended, AppendOutcome, Duplicate, Full, JSONDoc, Limits, Row
from pagedlist.core.store import Store, compact_json, too_large
from pagedlist.errors import ConfigError, StoreUnavailable, Throttled

__all__ = ["SQLiteStore"]

# SQLite itself takes rows up to 1 GB; rows are capped like DynamoDB's so a list created
# here gets the capacity it would get there, and an append never rewrites a huge row.
SQLITE_ROW_BYTES = 400 * 1024
# Well under SQLITE_MAX_VARIABLE_NUMBER on every build.
_IN_CHUNK = 500
_FORM = "sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite:// [?timeout=SECONDS]"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS pagedlist_rows (
    key     TEXT PRIMARY KEY,
    doc     TEXT NOT NULL,
    version TEXT NOT NULL
) WITHOUT ROWID
"""


def _new_version() -> str:
    # Random, not a counter: a deleted and re-created row must not reuse a version (ABA).
    return secrets.token_hex(8)


class SQLiteCapabilities(Capabilities):
    """What the conformance suite cannot do with ``sqlite:``."""

    network = False
    reason = {"network": "sqlite: is embedded: no network connection for the fault proxy to cut"}


class SQLiteStore(Store):
    """A SQLite file shared safely by threads and processes on one machine."""

    scheme = "sqlite"
    capabilities = SQLiteCapabilities

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` or ``sqlite://``
        (private in-memory database); ``?timeout=SECONDS`` sets the busy timeout."""
        options = UrlOptions(url, accepted=("timeout",), form=_FORM, what="SQLite URL")
        parts = urlsplit(url)
        if parts.netloc:
            raise options.error(
                "it names a host: use three slashes, "
                "sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
        timeout = options.number("timeout", 5.0, positive=False)
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
        return cls(path, timeout=timeout)

    def __init__(self, path: str, *, timeout: float = 5.0) -> None:
        self._path = path
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._memory = path in ("", ":memory:")
        if self._memory:
            # One shared connection: separate connections would each see their own database.
            self._path = ":memory:"
            self._shared = self._connect()
            self._shared_lock = threading.RLock()
        else:
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise ConfigError(
                    f"directory {parent!r} for SQLite file {path!r} does not exist: create it "
                    "or use another path in sqlite:///path/to/file.db"
                )
            with self._tx() as db:
                db.execute("SELECT 1")

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            if not self._memory:
                db.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL survives process crashes; only a power loss may drop the
                # latest commits, which is SQLite's documented trade-off for WAL.
                db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"cannot open SQLite database {self._path!r}: {err}") from err
        with self._all_lock:
            self._all.append(db)
        return db

    def _conn(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if self._memory:
            with self._shared_lock:
                yield from self._run_tx(self._shared, write)
        else:
            yield from self._run_tx(self._conn(), write)

    @staticmethod
    def _run_tx(db: sqlite3.Connection, write: bool) -> Iterator[sqlite3.Connection]:
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise Throttled(f"SQLite database is busy: {err}") from err
            raise StoreUnavailable(f"SQLite error: {err}") from err

    @property
    def limits(self) -> Limits:
        """Rows capped at 400 KiB for portable sizing; keys up to 1 KiB."""
        return Limits(row_bytes=SQLITE_ROW_BYTES, key_bytes=1024, value_expansion=6)

    def _write(self, db: sqlite3.Connection, key: str, doc: JSONDoc, insert: bool) -> str:
        text = compact_json(doc)
        size = len(key.encode("utf-8")) + len(text.encode("utf-8"))
        if size > SQLITE_ROW_BYTES:
            raise too_large(key, size, SQLITE_ROW_BYTES)
        version = _new_version()
        if insert:
            db.execute(
                "INSERT INTO pagedlist_rows (key, doc, version) VALUES (?, ?, ?)",
                (key, text, version),
            )
        else:
            db.execute(
                "UPDATE pagedlist_rows SET doc = ?, version = ? WHERE key = ?",
                (text, version, key),
            )
        return version

    @staticmethod
    def _read(db: sqlite3.Connection, key: str) -> tuple[JSONDoc, str] | None:
        found = db.execute(
            "SELECT doc, version FROM pagedlist_rows WHERE key = ?", (key,)
        ).fetchone()
        return None if found is None else (json.loads(found[0]), found[1])

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """``INSERT`` unless the key exists, in one transaction."""
        with self._tx(write=True) as db:
            if self._read(db, key) is not None:
                return False
            self._write(db, key, doc, insert=True)
            return True

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """Compare-and-swap on the version column."""
        with self._tx(write=True) as db:
            current = self._read(db, key)
            if current is None or current[1] != version:
                return None
            return self._write(db, key, doc, insert=False)

    def get(self, key: str) -> Row | None:
        """One ``SELECT``."""
        with self._tx() as db:
            current = self._read(db, key)
        return None if current is None else Row(*current)

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """``SELECT ... WHERE key IN (...)`` in one read transaction (a consistent snapshot)."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Row] = {}
        with self._tx() as db:
            for i in range(0, len(wanted), _IN_CHUNK):
                part = wanted[i : i + _IN_CHUNK]
                marks = ",".join("?" * len(part))
                for key, doc, version in db.execute(
                    f"SELECT key, doc, version FROM pagedlist_rows WHERE key IN ({marks})",
                    part,
                ):
                    out[key] = Row(json.loads(doc), version)
        return out

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """Bounded, de-duplicating append in one write transaction."""
        batch = list(entries)
        with self._tx(write=True) as db:
            current = self._read(db, key)
            doc = current[0] if current else {}
            items = doc.get(field, [])
            if not isinstance(items, list):
                raise not_a_list(key, field, items)
            where = {e["id"]: i for i, e in enumerate(items)}
            for offset, entry in enumerate(batch):
                if entry["id"] in where:
                    return Duplicate(where[entry["id"]], offset)
            if len(items) + len(batch) > max_len:
                return Full(len(items))
            doc[field] = items + batch
            self._write(db, key, doc, insert=current is None)
            return Appended(len(items) + len(batch))

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """(Compare-and-)increment in one write transaction."""
        with self._tx(write=True) as db:
            current = self._read(db, key)
            doc = current[0] if current else {}
            value = doc.get(field, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise not_an_integer(key, field, value)
            if expect is not None and value != expect:
                return None
            doc[field] = value + by
            self._write(db, key, doc, insert=current is None)
            return value + by

    def delete(self, key: str) -> None:
        """``DELETE`` the row."""
        with self._tx(write=True) as db:
            db.execute("DELETE FROM pagedlist_rows WHERE key = ?", (key,))

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._all_lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()

    def describe(self) -> str:
        """``sqlite:///path``."""
        return f"sqlite:///{self._path}" if not self._memory else "sqlite:// (in memory)"
