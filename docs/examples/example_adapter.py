"""A complete pagedlist adapter: rows in one table of a SQLite file, through the stdlib.

The worked example of ``docs/adapters.md``, kept short on purpose; the guide's clause
numbers (``§2.3``...) are cited where the code follows them. It is tested:
``docs/examples/test_example_adapter.py`` runs the whole conformance suite against it
(``make test`` collects ``docs/examples``), so the guide cannot drift from working code.

URL: ``example:///path/to/file.db[?timeout=SECONDS]``. Only the SQL is SQLite's: a new
backend keeps the shape (the URL read with the toolkit, errors mapped through one table,
one native atomic call per primitive) and swaps the calls.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from pagedlist.adapters._toolkit import (
    ErrorTable,
    Rule,
    UrlOptions,
    class_keys,
    new_version,
    not_a_list,
    not_an_integer,
    too_many_entries,
)
from pagedlist.core.capabilities import Capabilities
from pagedlist.core.ops import Appended, AppendOutcome, Duplicate, Full, JSONDoc, Limits, Row
from pagedlist.core.store import Store, compact_json, too_large
from pagedlist.errors import ConfigError, StoreUnavailable, Throttled

__all__ = ["ERRORS", "FORM", "ExampleCapabilities", "ExampleStore"]

FORM = "example:///path/to/file.db[?timeout=SECONDS]"
#: SQLite takes rows up to 1 GB; the cap is DynamoDB's, so a list sized here gets the
#: capacity it would get there. A real backend states its own limit (§4).
ROW_BYTES = 400 * 1024
#: Entries per append. SQLite has no such limit: it is declared to show clause A11 at work.
APPEND_ENTRIES = 25
_SCHEMA = "CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, doc TEXT, version TEXT)"


# --- errors (§2): one table, keyed on SQLite's result codes ---------------------------------


def _codes(err: BaseException) -> Iterator[object]:
    """SQLite's extended result code, then its primary code, then the exception's classes."""
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        yield code
        yield code & 0xFF
    yield from class_keys(err)


_BUSY = Rule(Throttled, "{where} is busy (another writer holds it) during {what}: {detail}")

ERRORS = ErrorTable(
    {
        sqlite3.SQLITE_BUSY: _BUSY,
        sqlite3.SQLITE_LOCKED: _BUSY,
        sqlite3.SQLITE_CANTOPEN: Rule(
            ConfigError, "cannot open {where} ({detail}): check the path in the URL, {form}"
        ),
        sqlite3.SQLITE_READONLY: Rule(
            ConfigError, "{where} is read-only ({detail}): give this process write access"
        ),
        sqlite3.SQLITE_NOTADB: Rule(ConfigError, "{where} is not a SQLite database: {detail}"),
        sqlite3.Error: Rule(StoreUnavailable, "{where} failed {what}: {detail}"),
    },
    keys=_codes,
)


# --- capabilities (§5) ------------------------------------------------------------------------


class ExampleCapabilities(Capabilities):
    """Threads and processes share one SQLite file; there is no network connection, so
    the clauses that cut one (W1) do not apply."""

    network = False
    reason = {"network": "the example keeps its rows in a local SQLite file: no connection"}


# --- the store ---------------------------------------------------------------------------------


class ExampleStore(Store):
    """Rows in one SQLite table; each primitive one statement or one write transaction."""

    scheme = "example"
    capabilities = ExampleCapabilities

    @classmethod
    def from_url(cls, url: str) -> ExampleStore:
        """``example:///path/to/file.db[?timeout=SECONDS]`` (§1: unknown options refused)."""
        options = UrlOptions(url, accepted=("timeout",), form=FORM, what="example URL")
        parts = urlsplit(url)
        path = unquote(parts.path[1:])
        if parts.netloc or not path:
            raise options.error("name a file after three slashes")
        return cls(path, timeout=options.number("timeout", 5.0, positive=False))

    def __init__(self, path: str, *, timeout: float = 5.0) -> None:
        self._path = path
        self._timeout = timeout
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._mapped("opening"):
            self._db().execute(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not shared between threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            # Autocommit, so a transaction is exactly the BEGIN ... COMMIT written here; each
            # connection serves one thread, but close() may run in another.
            db = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
            with self._lock:
                self._opened.append(db)
        return db

    @contextmanager
    def _mapped(self, what: str) -> Iterator[None]:
        """Every SQLite error as a pagedlist error (§2), chained to it."""
        try:
            yield
        except sqlite3.Error as err:
            where = f"SQLite file {self._path!r}"
            raise ERRORS.error(err, what=what, where=where, form=FORM) from err

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` takes the file's write lock first, so
        the reads inside it and the write are one atomic step (§3.1)."""
        with self._mapped(what):
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _read(db: sqlite3.Connection, key: str) -> Row | None:
        found = db.execute("SELECT doc, version FROM rows WHERE key = ?", (key,)).fetchone()
        return None if found is None else Row(json.loads(found[0]), found[1])

    def _text(self, key: str, doc: JSONDoc) -> str:
        """The row's stored text, refused before anything is written when over the limit."""
        size = self.row_size(key, doc)
        if size > ROW_BYTES:
            raise too_large(key, size, ROW_BYTES)
        return compact_json(doc)

    # --- the protocol (§3) -------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """400 KiB rows, 1 KiB keys, 25 entries per append (§4)."""
        return Limits(
            row_bytes=ROW_BYTES, key_bytes=1024, append_entries=APPEND_ENTRIES, value_expansion=6
        )

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """One ``INSERT ... ON CONFLICT DO NOTHING``: created iff it inserted a row."""
        text = self._text(key, doc)
        with self._mapped("put_if_absent"):
            done = self._db().execute(
                "INSERT INTO rows VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (key, text, new_version()),
            )
        return done.rowcount == 1

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """One ``UPDATE ... WHERE version = ?``: a compare-and-swap on the version."""
        text, new = self._text(key, doc), new_version()
        with self._mapped("replace"):
            done = self._db().execute(
                "UPDATE rows SET doc = ?, version = ? WHERE key = ? AND version = ?",
                (text, new, key, version),
            )
        return new if done.rowcount == 1 else None

    def get(self, key: str) -> Row | None:
        """One ``SELECT``."""
        with self._mapped("get"):
            return self._read(self._db(), key)

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """``SELECT ... WHERE key IN (...)``, 500 keys a statement, in one read transaction."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Row] = {}
        with self._mapped("get_many"):
            db = self._db()
            db.execute("BEGIN")
            try:
                for i in range(0, len(wanted), 500):
                    part = wanted[i : i + 500]
                    marks = ",".join("?" * len(part))
                    query = f"SELECT key, doc, version FROM rows WHERE key IN ({marks})"
                    for key, doc, version in db.execute(query, part):
                        out[key] = Row(json.loads(doc), version)
            finally:
                db.execute("COMMIT")
        return out

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """One write transaction, deciding in the contract's order (§3.3)."""
        batch = list(entries)
        if len(batch) > APPEND_ENTRIES:
            raise too_many_entries(key, len(batch), APPEND_ENTRIES)
        with self._write("append") as db:
            row = self._read(db, key)
            doc: dict[str, Any] = row.doc if row else {}
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
            self._put(db, key, doc, exists=row is not None)
            return Appended(len(doc[field]))

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """One write transaction: read, compare with ``expect``, write."""
        with self._write("increment") as db:
            row = self._read(db, key)
            doc: dict[str, Any] = row.doc if row else {}
            value = doc.get(field, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise not_an_integer(key, field, value)
            if expect is not None and value != expect:
                return None
            doc[field] = value + by
            self._put(db, key, doc, exists=row is not None)
            return value + by

    def _put(self, db: sqlite3.Connection, key: str, doc: JSONDoc, *, exists: bool) -> None:
        """Write ``doc`` inside the open transaction (ItemTooLarge rolls it back)."""
        text = self._text(key, doc)
        if exists:
            db.execute(
                "UPDATE rows SET doc = ?, version = ? WHERE key = ?", (text, new_version(), key)
            )
        else:
            db.execute("INSERT INTO rows VALUES (?, ?, ?)", (key, text, new_version()))

    def delete(self, key: str) -> None:
        """One ``DELETE``; a missing row is fine."""
        with self._mapped("delete"):
            self._db().execute("DELETE FROM rows WHERE key = ?", (key,))

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            for db in self._opened:
                db.close()
            self._opened.clear()
        self._local = threading.local()

    def describe(self) -> str:
        """The URL (it holds no secret)."""
        return f"example:///{self._path}"
