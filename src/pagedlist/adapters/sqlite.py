"""SQLite store: the embedded default. ``sqlite:///path/to/file.db`` (``sqlite://`` alone is a
private in-memory database).

Three tables::

    pagedlist_rows       the row protocol: summaries, id records, layout 1's pages
        key TEXT PRIMARY KEY, doc TEXT (compact JSON), version TEXT   WITHOUT ROWID
    pagedlist_entries    layout 2: one row per list position
        list TEXT, pos INTEGER, id TEXT, ts INTEGER, v TEXT, rest TEXT, version TEXT,
        pushed_id TEXT, PRIMARY KEY (list, pos)   WITHOUT ROWID
        UNIQUE INDEX pagedlist_entries_ids (list, pushed_id) WHERE pushed_id IS NOT NULL
    pagedlist_tails      layout 2: the tail a purge leaves behind, one row per purged list
        list TEXT PRIMARY KEY, next INTEGER   WITHOUT ROWID

Every write is one ``BEGIN IMMEDIATE`` transaction, so it is atomic across the threads and
processes sharing the file; WAL mode lets readers run beside the single writer. Each
thread gets its own connection.

**Layout 2** (``Features(entries=True, push=True)``, the default for new lists; a list
keeps the layout it was created in, so lists of layout 1 go on as they are). A push is one
write transaction of two statements: one ``SELECT`` (the position the id already holds in
the list's id index, the tail a purge recorded, and the newest position, read backwards on
the primary key) and one ``INSERT`` of the new entries at the next positions. The push of
one new entry (every append) is a single autocommit ``INSERT ... RETURNING`` that reads
the same three in its subqueries and writes nothing when the id index has the id (SQLite
3.35 or later; earlier ones run the transaction). The newest
row *is* the tail, so a push writes no counter; a purge, which may remove the newest rows,
first records the tail past them in ``pagedlist_tails`` (a position is never reused), and
``drop_entries`` forgets it. Rows a claim wrote at the tail (a client that sees no push
feature) are passed over the same way. ``scan`` is one ``ORDER BY pos [DESC] LIMIT`` range
read on the primary key, run as a single autocommit ``SELECT`` (its own snapshot);
``scan_many`` runs every scan in one read transaction. An entry is stored in typed
columns, ``id``, ``ts``, ``v`` as they are and any other field as compact JSON in
``rest``, so reading the common entry parses no JSON. ``pushed_id`` (the id the push
indexed, fixed for the row's life) keeps the id index apart from claimed rows and from
edits. Every value is a bind parameter.

A read-only file written before layout 2 (no entry tables, none can be created) is served
in layout 1 only (``features`` is empty); a writable one gains the tables on open.
``?entries=false`` asks for layout 1 only: new lists get page rows, which pagedlist 0.1
clients sharing the file can read.

**Transactions.** A transaction that fails at any step (``BEGIN`` busy, a statement error,
``COMMIT`` busy) is rolled back before the error is raised, so a connection never stays
inside a transaction holding the write lock. ``Throttled`` (busy) always means the call
did not commit. A connection whose ``ROLLBACK`` fails too is closed and replaced.

**Journal mode.** Each connection asks for WAL with ``synchronous=NORMAL``: a committed
transaction survives the death of the process; a power loss may drop the last few. Where
the VFS cannot do WAL, SQLite keeps its rollback journal and ``PRAGMA journal_mode=WAL``
answers the mode it kept (``delete``; ``memory`` for an in-memory database). The store then
*falls back* to that journal with ``synchronous=FULL``, which keeps the same durability
promise, logs one warning and reports the mode as :attr:`SQLiteStore.journal_mode`.
Readers and the writer then exclude each other: expect more ``Throttled`` (the driver
retries them) under load. VFSes without WAL include macOS's locking styles for AFP and SMB
shares, ``unix-dotfile``, ``memdb`` and builds with ``SQLITE_OMIT_WAL``. A file system that
takes WAL but cannot share its ``-shm`` memory fails with a ``ConfigError`` that says so.
WAL is never safe on a network file system: keep the file on a local disk.

**Paths.** A path starting with ``file:`` is an SQLite URI (https://sqlite.org/uri.html) on
every build: ``sqlite:///file:/feed%3Fvfs=memdb`` (a ``?`` inside the path is written
``%3F``) is an in-memory database shared by the threads of one process, each on its own
connection. A path the OS or SQLite refuses (a NUL character, a directory, a name too
long, no such directory) is a ``ConfigError`` naming it.

**Errors.** Every ``sqlite3`` error is mapped by its result code (the extended
``sqlite_errorcode`` first, then its primary code), never by its message text:

- ``SQLITE_BUSY``, ``SQLITE_LOCKED``, ``SQLITE_PROTOCOL``: ``Throttled`` (nothing committed;
  raise the busy timeout with ``?timeout=SECONDS``);
- ``SQLITE_CANTOPEN``, ``SQLITE_NOTADB``, ``SQLITE_READONLY``, ``SQLITE_PERM``,
  ``SQLITE_AUTH``, WAL's shared memory (``SQLITE_IOERR_SHM*``): ``ConfigError`` (fix the path,
  the file or its permissions);
- ``SQLITE_CORRUPT`` (restore or ``.recover`` the file), ``SQLITE_FULL`` (free disk space),
  ``SQLITE_IOERR`` (a write's outcome is unknown), ``SQLITE_NOMEM`` and every other code:
  ``StoreError``, which is not retryable: the driver raises it at once instead of spending
  the deadline on a disk that stays full;
- the ``sqlite3`` module's own ``ProgrammingError`` (no result code: a connection already
  closed): ``UsageError``.

**Fork.** Connections are never shared across ``fork``: each is tagged with the id of the
process that opened it, and a child opens its own on its first call. The parent's
connections stay open and untouched in the child (SQLite forbids using, even closing, a
connection inherited across ``fork``); ``close()`` in the child closes only the child's.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import sqlite3
import threading
import weakref
from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from urllib.parse import unquote, urlsplit

from pagedlist.adapters._toolkit import (
    ErrorTable,
    Rule,
    UrlOptions,
    class_keys,
    not_a_list,
    not_an_integer,
    tallied,
)
from pagedlist.core import deadline
from pagedlist.core.capabilities import Capabilities
from pagedlist.core.ops import (
    Appended,
    AppendOutcome,
    Claimed,
    ClaimOutcome,
    Duplicate,
    Features,
    Full,
    JSONDoc,
    Limits,
    Pushed,
    Row,
    Scan,
    Slot,
    Taken,
)
from pagedlist.core.store import NO_FEATURES, Store, compact_json, too_large
from pagedlist.errors import (
    ConfigError,
    DeadlineExceeded,
    InvalidValue,
    PagedListError,
    StoreError,
    Throttled,
    UsageError,
)

__all__ = ["SQLiteStore"]

log = logging.getLogger(__name__)

# SQLite itself takes rows up to 1 GB; rows are capped like DynamoDB's so a list created
# here gets the capacity it would get there, and an append never rewrites a huge row.
SQLITE_ROW_BYTES = 400 * 1024
# Well under SQLITE_MAX_VARIABLE_NUMBER on every build.
_IN_CHUNK = 500
_FORM = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite:// "
    "[?timeout=SECONDS&entries=false]"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS pagedlist_rows (
    key     TEXT PRIMARY KEY,
    doc     TEXT NOT NULL,
    version TEXT NOT NULL
) WITHOUT ROWID
"""
# Layout 2. An entry is kept in typed columns: ``id``, ``ts`` and ``v`` as they are, any
# other field (``d``, ``e``, ``x``, or a ``ts``/``v`` of another type) as compact JSON in
# ``rest``, so a read builds each entry with no JSON parsing in the common case.
# ``pushed_id`` is the id a push indexed the row under (NULL for claimed rows): it never
# changes, so an edit cannot move a row out of, or into, the list's id index.
_ENTRY_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS pagedlist_entries (
    list      TEXT NOT NULL,
    pos       INTEGER NOT NULL,
    id        TEXT NOT NULL,
    ts        INTEGER,
    v         TEXT,
    rest      TEXT,
    version   TEXT NOT NULL,
    pushed_id TEXT,
    PRIMARY KEY (list, pos)
) WITHOUT ROWID
""",
    """
CREATE UNIQUE INDEX IF NOT EXISTS pagedlist_entries_ids
    ON pagedlist_entries (list, pushed_id) WHERE pushed_id IS NOT NULL
""",
    """
CREATE TABLE IF NOT EXISTS pagedlist_tails (
    list TEXT PRIMARY KEY,
    next INTEGER NOT NULL
) WITHOUT ROWID
""",
)
_ENTRY_TABLES = ("pagedlist_entries", "pagedlist_tails")

#: Most entries one claim writes (one transaction: any number would do; this bounds it).
CLAIM_ENTRIES = 500
#: Rows a purge or drop deletes per transaction, so no call holds the write lock long.
PURGE_ROWS = 5000
# SQLite integers are signed 64-bit: positions and limits are clamped into them.
_NO_END = (1 << 63) - 1
_INT64 = range(-(1 << 63), 1 << 63)
# An entry row's bytes besides its list id, id, value and rest: the key's separator, the
# position, the timestamp, the version.
ENTRY_ROW_FIXED = 48

_ENTRY_COLUMNS = "id, ts, v, rest"
_INSERT_ENTRY = (
    "INSERT INTO pagedlist_entries (list, pos, id, ts, v, rest, version, pushed_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# A push's one read: the position its id already holds (single-entry pushes), the tail a
# purge recorded, and the newest row (read backwards on the primary key: one seek).
_PUSH_READ = (
    "SELECT (SELECT pos FROM pagedlist_entries WHERE list = ?1 AND pushed_id = ?2), "
    "(SELECT next FROM pagedlist_tails WHERE list = ?1), "
    "(SELECT pos FROM pagedlist_entries WHERE list = ?1 ORDER BY pos DESC LIMIT 1)"
)
# A push of one entry as one autocommit statement (its own write transaction: SQLite takes
# the write lock when the statement starts, as BEGIN IMMEDIATE does, and waits out the busy
# timeout for it): the position past the newest row, the tail a purge kept and the floor,
# unless the id index already holds the id (then nothing is written and no row returned,
# and the push runs as a transaction that reads the id's position). VALUES, not
# INSERT ... SELECT: a SELECT reading the table it inserts into goes through a temporary
# table. ?1 list, ?2 id, ?3 ts, ?4 v, ?5 rest, ?6 version, ?7 floor.
_PUSH_ONE = (
    "INSERT INTO pagedlist_entries (list, pos, id, ts, v, rest, version, pushed_id) "
    "VALUES (?1, max(?7, coalesce((SELECT next FROM pagedlist_tails WHERE list = ?1), 0), "
    "coalesce((SELECT pos FROM pagedlist_entries WHERE list = ?1 ORDER BY pos DESC LIMIT 1)"
    " + 1, 0)), ?2, ?3, ?4, ?5, ?6, ?2) "
    "ON CONFLICT (list, pushed_id) WHERE pushed_id IS NOT NULL DO NOTHING RETURNING pos"
)
# RETURNING came in SQLite 3.35; older libraries push one entry as a transaction too.
_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
# Before a purge deletes rows: the tail past the newest row, so a push never reuses a
# position the purge freed (pushes themselves write no tail row: the newest row is it).
_KEEP_TAIL = (
    "INSERT INTO pagedlist_tails (list, next) "
    "SELECT list, pos + 1 FROM pagedlist_entries WHERE list = ?1 ORDER BY pos DESC LIMIT 1 "
    "ON CONFLICT (list) DO UPDATE SET next = max(next, excluded.next)"
)
_SCAN_RANGE = "FROM pagedlist_entries WHERE list = ? AND pos >= ? AND pos < ?"
_SCAN_DESC = f"SELECT pos, {_ENTRY_COLUMNS} {_SCAN_RANGE} ORDER BY pos DESC LIMIT ?"
_SCAN_ASC = f"SELECT pos, {_ENTRY_COLUMNS} {_SCAN_RANGE} ORDER BY pos LIMIT ?"
_PURGE = (
    "DELETE FROM pagedlist_entries WHERE list = ?1 AND pos IN ("
    "SELECT pos FROM pagedlist_entries WHERE list = ?1 AND pos < ?2 ORDER BY pos LIMIT ?3)"
)

#: An entry as its columns: (id, ts, v, rest).
Columns = tuple[str, int | None, str | None, str | None]


def _columns(list_id: str, entry: JSONDoc) -> Columns:
    """The columns of one entry row; ``ItemTooLarge`` for a row over the limit.

    ``ts`` (a 64-bit integer) and ``v`` (a string) get columns of their own; every other
    key, and a ``ts``/``v`` of another type, goes to ``rest`` as compact JSON, so any flat
    entry comes back exactly.
    """
    item_id = entry.get("id")
    if type(item_id) is not str:
        raise InvalidValue(f"an entry's id must be a str, got {item_id!r:.80}")
    ts = entry.get("ts")
    v = entry.get("v")
    ts_ok = type(ts) is int and ts in _INT64
    v_ok = type(v) is str
    rest = None
    if len(entry) != 1 + ts_ok + v_ok:
        extra = {k: x for k, x in entry.items() if k != "id"}
        if ts_ok:
            del extra["ts"]
        if v_ok:
            del extra["v"]
        rest = compact_json(extra)
    if not ts_ok:
        ts = None
    if not v_ok:
        v = None
    try:
        size = ENTRY_ROW_FIXED + len(list_id.encode()) + len(item_id.encode())
        if v is not None:
            size += len(v.encode())
        if rest is not None:
            size += len(rest.encode())
    except UnicodeEncodeError as err:
        raise InvalidValue(
            f"an entry holds text that is not valid Unicode (a lone surrogate?): {err}"
        ) from None
    if size > SQLITE_ROW_BYTES:
        raise too_large(f"{list_id}|e", size, SQLITE_ROW_BYTES)
    return item_id, ts, v, rest


def _entry(item_id: str, ts: int | None, v: str | None, rest: str | None) -> JSONDoc:
    """The entry a row's columns hold."""
    entry: JSONDoc = {"id": item_id}
    if ts is not None:
        entry["ts"] = ts
    if v is not None:
        entry["v"] = v
    if rest is not None:
        entry.update(json.loads(rest))
    return entry


def _slots(rows: Iterable[tuple]) -> tuple[Slot, ...]:
    # Inline for the common row (an item with its time and value, nothing else): a scan
    # builds one entry per row, and latest(n) reads n of them.
    return tuple(
        [
            (pos, {"id": i, "ts": ts, "v": v})
            if rest is None and ts is not None and v is not None
            else (pos, _entry(i, ts, v, rest))
            for pos, i, ts, v, rest in rows
        ]
    )


def _bound(n: int) -> int:
    """``n`` clamped into SQLite's 64-bit integers (callers pass huge limits and ends)."""
    return min(n, _NO_END)


def _scan_statement(
    list_id: str, lo: int, hi: int | None, limit: int, newest_first: bool
) -> tuple[str, tuple[object, ...]]:
    """One scan's range read: its statement and parameters."""
    end = _NO_END if hi is None else _bound(hi)
    return (_SCAN_DESC if newest_first else _SCAN_ASC), (list_id, _bound(lo), end, _bound(limit))


_BUSY = (
    "{where} is busy ({code}: {detail}): another connection held its lock past the "
    "{timeout:g}s busy timeout, and nothing was committed; retry later, or raise the busy "
    "timeout with ?timeout=SECONDS in the store URL"
)
_READ_ONLY = (
    "{where} is read-only ({code}: {detail}), nothing was written: give this process write "
    "access to the file and to its directory (SQLite creates -wal and -shm files beside "
    "it), or point the URL at a writable path"
)
_NO_SHM = (
    "{where}: the file system cannot share the memory WAL mode needs ({code}: {detail}); "
    "keep the database on a local disk (WAL never works on a network file system)"
)
_IO = (
    "{where}: disk I/O error ({code}: {detail}); a write in progress may or may not have "
    "committed, so it is not retried: check the disk and the file system, then read the "
    "list to see what committed"
)


def _codes(err: BaseException) -> Iterator[Hashable]:
    """An error's keys in the tables below: its extended result code (e.g.
    SQLITE_IOERR_SHMMAP), then its primary one (SQLITE_IOERR). Codes, never message
    texts, which change between SQLite versions."""
    code = getattr(err, "sqlite_errorcode", None)
    if isinstance(code, int):
        yield code
        yield code & 0xFF
    else:
        # Raised by the sqlite3 module itself, not by SQLite (a closed connection).
        yield from class_keys(err)


_RULES: dict[Hashable, Rule] = {
    sqlite3.SQLITE_BUSY: Rule(Throttled, _BUSY),
    sqlite3.SQLITE_LOCKED: Rule(Throttled, _BUSY),
    # WAL's lock protocol lost a race a few times in a row; transient by definition.
    sqlite3.SQLITE_PROTOCOL: Rule(Throttled, _BUSY),
    sqlite3.SQLITE_CANTOPEN: Rule(
        ConfigError,
        "{where} cannot be opened ({code}: {detail}): the path must name a file, not a "
        "directory, with a name the file system accepts, in a directory this process may "
        "write; fix it in sqlite:///path/to/file.db",
    ),
    sqlite3.SQLITE_NOTADB: Rule(
        ConfigError,
        "{where} is not a SQLite database ({code}: {detail}): point the URL at a SQLite "
        "file, or at a new path to create one",
    ),
    sqlite3.SQLITE_READONLY: Rule(ConfigError, _READ_ONLY),
    sqlite3.SQLITE_READONLY_DBMOVED: Rule(
        ConfigError,
        "{where} was moved or deleted while open ({code}: {detail}): nothing was written; "
        "open the store again on the file's current path",
    ),
    sqlite3.SQLITE_PERM: Rule(ConfigError, _READ_ONLY),
    sqlite3.SQLITE_AUTH: Rule(ConfigError, _READ_ONLY),
    sqlite3.SQLITE_IOERR_SHMOPEN: Rule(ConfigError, _NO_SHM),
    sqlite3.SQLITE_IOERR_SHMSIZE: Rule(ConfigError, _NO_SHM),
    sqlite3.SQLITE_IOERR_SHMMAP: Rule(ConfigError, _NO_SHM),
    sqlite3.SQLITE_IOERR_SHMLOCK: Rule(ConfigError, _NO_SHM),
    sqlite3.SQLITE_CORRUPT: Rule(
        StoreError,
        "{where} is corrupt ({code}: {detail}): stop writing to it, check it with "
        "sqlite3 FILE 'PRAGMA integrity_check', then restore it from a backup or salvage "
        "it with sqlite3 FILE .recover",
    ),
    sqlite3.SQLITE_FULL: Rule(
        StoreError,
        "{where}: the disk that holds it is full ({code}: {detail}): free space on it, then retry",
    ),
    sqlite3.SQLITE_IOERR: Rule(StoreError, _IO),
    sqlite3.SQLITE_NOMEM: Rule(
        StoreError,
        "{where}: SQLite ran out of memory ({code}: {detail}): free memory, then retry",
    ),
}
# The adapter's statements are fixed, so the module's own ProgrammingError means one
# thing: a connection already closed (an in-memory store used after close(), or
# close() called while another thread was in a call).
_RULES[sqlite3.ProgrammingError] = Rule(
    UsageError,
    "{where} is closed ({code}: {detail}): open a new store with open_store(URL), and "
    "call close() only once no thread uses the store any more",
)
_OTHER = Rule(
    StoreError,
    "{where}: SQLite error {code}: {detail}; not a transient failure, so it is not "
    "retried: give pagedlist a database file of its own (its table is pagedlist_rows), "
    "else report this as a pagedlist bug",
)
ERRORS = ErrorTable(_RULES, keys=_codes, default=_OTHER)
# At open, a plain SQLITE_ERROR is about the path itself (an unknown vfs= or mode= in a
# file: URI, for instance).
OPEN_ERRORS = ErrorTable(
    {
        **_RULES,
        sqlite3.SQLITE_ERROR: Rule(
            ConfigError,
            "{where} cannot be opened ({code}: {detail}): fix the path or the parameters "
            "of its file: URI in sqlite:///path/to/file.db",
        ),
    },
    keys=_codes,
    default=_OTHER,
)

# Every live store, so that a forked child can replace locks another thread of the parent
# may have held at the moment of the fork.
_STORES: weakref.WeakSet[SQLiteStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _new_version() -> str:
    # Random, not a counter: a deleted and re-created row must not reuse a version (ABA).
    return secrets.token_hex(8)


class SQLiteCapabilities(Capabilities):
    """What the conformance suite cannot do with ``sqlite:``."""

    network = False
    reason = {"network": "sqlite: is embedded: no network connection for the fault proxy to cut"}


@tallied
class SQLiteStore(Store):
    """A SQLite file shared safely by threads and processes on one machine."""

    scheme = "sqlite"
    capabilities = SQLiteCapabilities

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` or ``sqlite://``
        (private in-memory database); ``?timeout=SECONDS`` sets the busy timeout;
        ``?entries=false`` offers no entry rows, so new lists use layout 1."""
        options = UrlOptions(url, accepted=("timeout", "entries"), form=_FORM, what="SQLite URL")
        parts = urlsplit(url)
        if parts.netloc:
            raise options.error(
                "it names a host: use three slashes, "
                "sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
        timeout = options.number("timeout", 5.0, positive=False)
        entries = options.flag("entries", True)
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
        return cls(path, timeout=timeout, entries=entries)

    def __init__(self, path: str, *, timeout: float = 5.0, entries: bool = True) -> None:
        """Open ``path`` (``""`` or ``":memory:"``: a private in-memory database).

        ``timeout`` is the busy timeout in seconds. ``entries=False`` declares no entry
        rows: new lists use layout 1 (page rows), which pagedlist 0.1 clients sharing the
        file can read; lists of layout 2 in the file are then refused (``Unsupported``).
        """
        if "\x00" in path:
            raise ConfigError(
                f"SQLite path {path!r} contains a NUL character (%00 in a URL), which no "
                "file system accepts: remove it from sqlite:///path/to/file.db"
            )
        if isinstance(timeout, bool) or not (
            isinstance(timeout, int | float) and math.isfinite(timeout) and timeout >= 0
        ):
            raise ConfigError(
                f"SQLite busy timeout {timeout!r} must be a finite number of seconds, at "
                "least 0: fix ?timeout=SECONDS"
            )
        self._path = path
        self._timeout = float(timeout)
        self._local = threading.local()
        # (pid, connection): a connection is used only by the process that opened it.
        self._all: list[tuple[int, sqlite3.Connection]] = []
        self._all_lock = threading.Lock()
        self._journal_mode: str | None = None
        self._memory = path in ("", ":memory:")
        self._entries = entries
        self._features = (
            Features(entries=True, push=True, claim_entries=CLAIM_ENTRIES)
            if entries
            else NO_FEATURES
        )
        _STORES.add(self)
        if self._memory:
            # One shared connection: separate connections would each see their own database.
            self._path = ":memory:"
            self._journal_mode = "memory"
            self._shared = self._connect()
            self._shared_lock = threading.RLock()
            return
        if not path.startswith("file:"):
            # A file: URI carries parameters after the path; SQLite checks those itself.
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise ConfigError(
                    f"directory {parent!r} for SQLite file {path!r} does not exist: create "
                    "it or use another path in sqlite:///path/to/file.db"
                )
        # A bad path fails here, at open_store(), not at the first call; a database busy
        # right now is no reason to refuse the store (the next call connects again).
        with suppress(Throttled):
            self._conn()

    @property
    def journal_mode(self) -> str | None:
        """``"wal"``, or the rollback journal SQLite kept where the VFS cannot do WAL
        (``"delete"``, ``"memory"``, ...); ``None`` until a connection opened."""
        return self._journal_mode

    def _fail(self, err: sqlite3.Error, *, opening: bool = False) -> PagedListError:
        """The pagedlist error for ``err``, chosen by its result code."""
        table = OPEN_ERRORS if opening else ERRORS
        return table.error(
            err,
            where=f"SQLite database {self._path!r}",
            code=getattr(err, "sqlite_errorname", None) or type(err).__name__,
            timeout=self._timeout,
        )

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self._path,
                timeout=self._timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=self._path.startswith("file:"),
            )
        except sqlite3.Error as err:
            raise self._fail(err, opening=True) from err
        try:
            if not self._memory:
                self._set_journal(db)
            db.execute(_SCHEMA)
            if self._entries:
                self._entry_schema(db)
        except BaseException as err:
            db.close()
            if isinstance(err, sqlite3.Error):
                raise self._fail(err, opening=True) from err
            raise
        with self._all_lock:
            self._all.append((os.getpid(), db))
        return db

    def _entry_schema(self, db: sqlite3.Connection) -> None:
        """Create layout 2's tables; a read-only file made by an older pagedlist, which
        has none, keeps serving its lists in layout 1."""
        try:
            for statement in _ENTRY_SCHEMA:
                db.execute(statement)
        except sqlite3.OperationalError as err:
            if getattr(err, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_READONLY:
                raise
            marks = ",".join("?" * len(_ENTRY_TABLES))
            have = db.execute(
                f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",
                _ENTRY_TABLES,
            ).fetchall()[0][0]
            if have != len(_ENTRY_TABLES):
                self._features = NO_FEATURES

    def _set_journal(self, db: sqlite3.Connection) -> None:
        # The pragma answers the mode the database is in after the request: a VFS without
        # WAL (shared memory) keeps its rollback journal and says which.
        mode = str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        if mode == "wal":
            # WAL + NORMAL survives process crashes; only a power loss may drop the
            # latest commits, which is SQLite's documented trade-off for WAL.
            db.execute("PRAGMA synchronous=NORMAL")
        else:
            # NORMAL in a rollback journal may corrupt the file on a power loss; FULL keeps
            # the durability WAL + NORMAL gives.
            db.execute("PRAGMA synchronous=FULL")
            # An in-memory database has nothing to lose to a power cut: no warning.
            if self._journal_mode != mode and mode != "memory":
                log.warning(
                    "SQLite database %r cannot use WAL here; using journal_mode=%s with "
                    "synchronous=FULL: readers and writers wait for each other",
                    self._path,
                    mode,
                )
        self._journal_mode = mode

    def _conn(self) -> sqlite3.Connection:
        pid = os.getpid()
        entry = getattr(self._local, "entry", None)
        if entry is None or entry[0] != pid:
            # None yet, or one inherited across fork: that one stays in _all, unused.
            entry = self._local.entry = (pid, self._connect())
        return entry[1]

    def _forked(self) -> None:
        """In a forked child: another thread of the parent may have held these locks."""
        self._all_lock = threading.Lock()
        if self._memory:
            self._shared_lock = threading.RLock()

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if self._memory:
            with self._shared_lock:
                yield from self._run_tx(self._shared, write)
        else:
            yield from self._run_tx(self._conn(), write)

    def _run_tx(self, db: sqlite3.Connection, write: bool) -> Iterator[sqlite3.Connection]:
        try:
            if db.in_transaction:
                # Left open by a rollback that was itself interrupted (KeyboardInterrupt):
                # never build a new call on top of it.
                self._rollback(db)
                if not self._memory:
                    db = self._conn()
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as err:
            # Nothing began; the connection is as it was.
            raise self._fail(err) from err
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as err:
            # A failed COMMIT (busy) leaves the transaction open with the write lock held:
            # roll it back, or every later call on this connection fails and every other
            # writer waits.
            self._rollback(db)
            if isinstance(err, sqlite3.Error):
                raise self._fail(err) from err
            raise

    def _rollback(self, db: sqlite3.Connection) -> None:
        if not db.in_transaction:
            return  # SQLite already rolled back (it does after SQLITE_FULL, IOERR, ...)
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        if db.in_transaction and not self._memory:
            # Closing rolls back and releases the locks; the next call opens a new one.
            entry = getattr(self._local, "entry", None)
            if entry is not None and entry[1] is db:
                self._local.entry = None
            with self._all_lock:
                self._all = [(p, d) for p, d in self._all if d is not db]
            db.close()

    def _select(self, sql: str, params: Sequence[object]) -> list[tuple]:
        """One statement in its own (autocommit) transaction, every row fetched: a single
        ``SELECT`` is a consistent snapshot by itself, a single write is atomic by itself
        (a failed one, busy at its commit included, is rolled back by SQLite), and
        ``BEGIN``/``COMMIT`` around it would only add two statements to the hottest calls
        (scans, the push of one entry)."""
        if self._memory:
            with self._shared_lock:
                return self._run_select(self._shared, sql, params)
        return self._run_select(self._conn(), sql, params)

    def _run_select(
        self, db: sqlite3.Connection, sql: str, params: Sequence[object]
    ) -> list[tuple]:
        try:
            if db.in_transaction:
                # As in _run_tx: never read inside a transaction an interrupt left open.
                self._rollback(db)
                if not self._memory:
                    db = self._conn()
            # fetchall(), never fetchone(): a statement stepped to its end is reset, so it
            # keeps no read snapshot (which would stall WAL checkpoints) after the call,
            # and a write's autocommit happens (its COMMIT is that last step).
            return db.execute(sql, params).fetchall()
        except sqlite3.Error as err:
            raise self._fail(err) from err

    @property
    def features(self) -> Features:
        """Entry rows with ``push`` (layout 2); none for a read-only file an older
        pagedlist made, which lacks their tables."""
        return self._features

    @property
    def limits(self) -> Limits:
        """Rows capped at 400 KiB for portable sizing (entry rows too); keys up to 1 KiB."""
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

    def _decode(self, key: str, text: str) -> JSONDoc:
        try:
            doc = json.loads(text)
        except ValueError as err:
            raise StoreError(
                f"row {key!r} of SQLite database {self._path!r} is not JSON ({err}): the "
                "file was written by something other than pagedlist; give pagedlist a "
                "database file of its own"
            ) from err
        return doc

    def _read(self, db: sqlite3.Connection, key: str) -> tuple[JSONDoc, str] | None:
        found = db.execute(
            "SELECT doc, version FROM pagedlist_rows WHERE key = ?", (key,)
        ).fetchone()
        return None if found is None else (self._decode(key, found[0]), found[1])

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
                    out[key] = Row(self._decode(key, doc), version)
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

    # --- entry rows (layout 2) -------------------------------------------------------------

    def _need_entries(self, what: str) -> None:
        if not self._features.entries:
            raise self._unsupported(what)

    def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """All-or-nothing ``INSERT`` of positions ``first ..`` in one write transaction,
        after one range read for the lowest one already taken."""
        self._need_entries("claim")
        cols = [_columns(list_id, e) for e in entries]
        with self._tx(write=True) as db:
            taken = db.execute(
                f"SELECT pos, {_ENTRY_COLUMNS} FROM pagedlist_entries "
                "WHERE list = ? AND pos >= ? AND pos < ? ORDER BY pos LIMIT 1",
                (list_id, _bound(first), _bound(first + len(cols))),
            ).fetchall()
            if taken:
                pos, *columns = taken[0]
                return Taken(pos, _entry(*columns))
            db.executemany(
                _INSERT_ENTRY,
                [(list_id, first + i, *c, _new_version(), None) for i, c in enumerate(cols)],
            )
            return Claimed()

    def push(self, list_id: str, entries: Sequence[JSONDoc], floor: int = 0) -> Pushed:
        """Append at the tail in one write transaction: one ``SELECT`` (the id index, the
        tail a purge kept, the newest position), one ``INSERT`` at the next positions;
        the new newest row is the advanced tail. One entry whose id the index lacks is
        one statement (an ``INSERT ... RETURNING`` that reads the same three things)."""
        self._need_entries("push")
        if len(entries) == 1 and _HAS_RETURNING:
            item_id, ts, v, rest = _columns(list_id, entries[0])
            rows = self._select(
                _PUSH_ONE, (list_id, item_id, ts, v, rest, _new_version(), _bound(floor))
            )
            if rows:
                return Pushed((rows[0][0],))
            # The id is in the index: the transaction below answers its position (or, if
            # a purge removed it since, pushes it anew).
        # An id repeated in the batch is written once, as its first entry, and answered
        # that one position.
        index: dict[str, int] = {}
        cols: list[Columns] = []
        where: list[int] = []
        for entry in entries:
            columns = _columns(list_id, entry)
            at = index.get(columns[0])
            if at is None:
                at = index[columns[0]] = len(cols)
                cols.append(columns)
            where.append(at)
        with self._tx(write=True) as db:
            known: dict[str, int] = {}
            if len(cols) > 1:
                for i in range(0, len(cols), _IN_CHUNK):
                    part = [c[0] for c in cols[i : i + _IN_CHUNK]]
                    marks = ",".join("?" * len(part))
                    known.update(
                        db.execute(
                            "SELECT pushed_id, pos FROM pagedlist_entries "
                            f"WHERE list = ? AND pushed_id IN ({marks})",
                            (list_id, *part),
                        ).fetchall()
                    )
            at, kept, top = db.execute(_PUSH_READ, (list_id, cols[0][0])).fetchall()[0]
            if at is not None:
                known[cols[0][0]] = at
            # Past the newest row, whoever wrote it (a client that sees no push feature
            # claims positions at the tail), and past what a purge removed.
            tail = max(floor, kept or 0, -1 if top is None else top + 1)
            positions: list[int] = []
            fresh = []
            for item_id, ts, v, rest in cols:
                pos = known.get(item_id)
                if pos is None:
                    pos = tail
                    tail += 1
                    fresh.append((list_id, pos, item_id, ts, v, rest, _new_version(), item_id))
                positions.append(pos)
            if len(fresh) == 1:
                db.execute(_INSERT_ENTRY, fresh[0])
            elif fresh:
                db.executemany(_INSERT_ENTRY, fresh)
        return Pushed(tuple(positions[i] for i in where))

    def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """One ``ORDER BY pos [DESC] LIMIT`` range read on the primary key."""
        self._need_entries("scan")
        return _slots(self._select(*_scan_statement(list_id, lo, hi, limit, newest_first)))

    def scan_many(self, scans: Sequence[Scan]) -> tuple[tuple[Slot, ...], ...]:
        """Every scan's range read in one read transaction (one snapshot); a single scan
        is one autocommit ``SELECT``, a snapshot by itself, as :meth:`scan` runs it."""
        self._need_entries("scan_many")
        if len(scans) <= 1:
            if not scans:
                return ()
            s = scans[0]
            return (self.scan(s.list_id, s.lo, s.hi, s.limit, s.newest_first),)
        out = []
        with self._tx() as db:
            for s in scans:
                statement = _scan_statement(s.list_id, s.lo, s.hi, s.limit, s.newest_first)
                out.append(_slots(db.execute(*statement).fetchall()))
        return tuple(out)

    def get_entry(self, list_id: str, position: int) -> Row | None:
        """One ``SELECT`` on the primary key."""
        self._need_entries("get_entry")
        rows = self._select(
            f"SELECT {_ENTRY_COLUMNS}, version FROM pagedlist_entries WHERE list = ? AND pos = ?",
            (list_id, _bound(position)),
        )
        if not rows:
            return None
        *columns, version = rows[0]
        return Row(_entry(*columns), version)

    def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """``UPDATE ... WHERE version = ?``: a compare-and-swap that never creates a row."""
        self._need_entries("replace_entry")
        item_id, ts, v, rest = _columns(list_id, entry)
        new = _new_version()
        with self._tx(write=True) as db:
            done = db.execute(
                "UPDATE pagedlist_entries SET id = ?, ts = ?, v = ?, rest = ?, version = ? "
                "WHERE list = ? AND pos = ? AND version = ?",
                (item_id, ts, v, rest, new, list_id, _bound(position), version),
            ).rowcount
        return new if done == 1 else None

    def _delete_below(self, what: str, list_id: str, below: int) -> None:
        # Bounded transactions, so a long list never holds the write lock for long, and
        # the operation's deadline is looked at between them. Idempotent: a purge cut
        # short by it has removed the oldest rows only, and runs again from there.
        while True:
            with self._tx(write=True) as db:
                db.execute(_KEEP_TAIL, (list_id,))
                gone = db.execute(_PURGE, (list_id, _bound(below), PURGE_ROWS)).rowcount
            if gone < PURGE_ROWS:
                return
            left = deadline.remaining()
            if left is not None and left <= 0:
                raise DeadlineExceeded(
                    f"{what} of list {list_id!r} in SQLite database {self._path!r} ran out "
                    "of time after removing its oldest rows; it is idempotent: run it again "
                    "to remove the rest"
                )

    def purge(self, list_id: str, below: int) -> None:
        """Delete the rows below ``below`` (their ids leave the index with them), oldest
        first, :data:`PURGE_ROWS` per transaction. The tail stays: a purge never lets a
        push reuse a position."""
        self._need_entries("purge")
        self._delete_below("purge", list_id, below)

    def drop_entries(self, list_id: str) -> None:
        """Every row as in :meth:`purge`, then the tail and anything pushed meanwhile in
        one transaction."""
        self._need_entries("drop_entries")
        self._delete_below("drop_entries", list_id, _NO_END)
        with self._tx(write=True) as db:
            db.execute("DELETE FROM pagedlist_entries WHERE list = ?", (list_id,))
            db.execute("DELETE FROM pagedlist_tails WHERE list = ?", (list_id,))

    def find_id(self, list_id: str, item_id: str) -> int | None:
        """One ``SELECT`` on the id index."""
        self._need_entries("find_id")
        rows = self._select(
            "SELECT pos FROM pagedlist_entries WHERE list = ? AND pushed_id = ?",
            (list_id, item_id),
        )
        return rows[0][0] if rows else None

    def close(self) -> None:
        """Close every connection this store opened in this process.

        A file store used again after ``close()`` opens new connections.
        """
        pid = os.getpid()
        with self._all_lock:
            mine = [db for p, db in self._all if p == pid]
            # Inherited across fork: the parent's to close, never the child's.
            self._all = [(p, db) for p, db in self._all if p != pid]
        for db in mine:
            db.close()
        self._local = threading.local()

    def describe(self) -> str:
        """``sqlite:///path``."""
        return f"sqlite:///{self._path}" if not self._memory else "sqlite:// (in memory)"
