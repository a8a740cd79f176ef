"""PostgreSQL store: ``postgresql://[user@]host[:port]/database[?table=NAME&sslmode=MODE]``.

One table (``pagedlist`` unless ``?table=`` names another, optionally ``schema.table``)
with a row per store row::

    key     text COLLATE "C" PRIMARY KEY
    doc     jsonb            the document
    size    integer          the row's size as ``row_size`` counts it (key + compact JSON)
    version bigint           the id of the transaction that last wrote the row

Every primitive is one SQL statement in its own (autocommit) transaction, every value a
bind parameter: ``INSERT ... ON CONFLICT DO NOTHING`` (put_if_absent), ``UPDATE ... WHERE
version = $v RETURNING`` (replace), ``SELECT ... WHERE key = ANY($keys)`` (get_many), and
for append and increment one statement that locks the row (``SELECT ... FOR UPDATE``),
decides the outcome in SQL (id already present, length bound, row size bound; the
``expect`` value) and writes only when the outcome is a write. A row that does not exist
yet is created by ``INSERT ... ON CONFLICT DO NOTHING`` in the same statement; when a
racing client created it first, nothing was written and the statement runs once more, now
on the locked row.

Versions are transaction ids (``pg_current_xact_id()``): 64-bit, never reused by the
cluster, so a row deleted and created again never gets an old version back (no ABA), and
no sequence needs granting.

The password never comes from the URL: libpq reads it from ``PGPASSWORD``, the password
file (``~/.pgpass`` or ``$PGPASSFILE``) or a service file entry (``?service=NAME``); a URL
with a password is refused, so no password ends up in shell history, process lists or
``$PAGEDLIST_STORE``. Connections come from a ``psycopg_pool.ConnectionPool``.

Deadlines: each call sets ``statement_timeout`` from the operation's deadline
(:func:`pagedlist.core.deadline.remaining`), so the server cancels a statement that would
outlive it (``DeadlineExceeded``; nothing was written). A server that stops answering
altogether cannot cancel anything: a watchdog then cuts the connection shortly after the
deadline, and the call raises ``DeadlineExceeded`` (the outcome is unknown; the core's
retry finds a committed append as ``Duplicate``). No statement is ever re-sent by the SDK.

PostgreSQL's ``jsonb`` cannot hold the character U+0000. Strings holding it (or U+10FFFF,
the escape character, a Unicode noncharacter) are stored escaped (U+0000 as U+10FFFF
``0``, U+10FFFF as U+10FFFF U+10FFFF) and unescaped on read; ``size`` counts the
document as given, never its escaped form.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
import psycopg_pool
from psycopg import sql

from pagedlist.core.ops import Appended, AppendOutcome, Duplicate, Full, JSONDoc, Limits, Row
from pagedlist.core.store import Store, compact_json, too_large
from pagedlist.errors import (
    ConfigError,
    ContractViolation,
    DeadlineExceeded,
    InvalidValue,
    ItemTooLarge,
    PagedListError,
    StoreError,
    StoreUnavailable,
    Throttled,
)

try:
    from pagedlist.core.deadline import remaining
except ImportError:  # pragma: no cover - older cores without operation deadlines

    def remaining() -> float | None:
        """No operation deadline is known."""
        return None


__all__ = [
    "POSTGRES_KEY_BYTES",
    "POSTGRES_ROW_BYTES",
    "PostgresStore",
    "Target",
    "parse_url",
]

T = TypeVar("T")

#: Rows are capped like DynamoDB's (and the memory, SQLite and Redis stores'), so a list
#: gets the same capacity everywhere, and an append never rewrites a huge ``jsonb`` value.
POSTGRES_ROW_BYTES = 400 * 1024
#: Far below the ~2700-byte limit of a B-tree index entry.
POSTGRES_KEY_BYTES = 1024
#: Keys per ``= ANY($1)`` read: at most ~100 MB of rows in one answer.
BATCH_KEYS = 256
DEFAULT_TABLE = "pagedlist"
FORM = "postgresql://[user@]host[:port]/database[?table=NAME&sslmode=MODE]"
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_OPTIONS = ("table", "sslmode", "sslrootcert", "service", "connect_timeout", "timeout", "pool")
_PASSWORD_SOURCES = (
    "PGPASSWORD, a password file (~/.pgpass, or the file $PGPASSFILE names) or a service "
    "file entry (?service=NAME, from ~/.pg_service.conf or $PGSERVICEFILE)"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: Extra time a silent server gets past the deadline before the watchdog cuts it off; the
#: server's own statement_timeout normally answers first, with a known outcome.
_GRACE = 1.0
_COLUMNS = {"key": "text", "doc": "jsonb", "size": "integer", "version": "bigint"}


# --- URLs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to connect, parsed from a URL. Holds no password, ever."""

    host: str | None
    port: int | None
    dbname: str | None
    user: str | None
    schema: str | None = None
    table: str = DEFAULT_TABLE
    sslmode: str | None = None
    sslrootcert: str | None = None
    service: str | None = None
    connect_timeout: int = 5
    timeout: float = 30.0
    pool: int = 10

    def conninfo(self) -> str:
        """The libpq connection string (no password: libpq finds it itself)."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "sslmode": self.sslmode,
            "sslrootcert": self.sslrootcert,
            "service": self.service,
            "connect_timeout": self.connect_timeout,
            "application_name": "pagedlist",
            # Idle pooled connections to a vanished server are noticed within a minute.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        return psycopg.conninfo.make_conninfo(
            "", **{k: v for k, v in params.items() if v is not None}
        )

    def identifier(self) -> sql.Identifier:
        """The table as a quoted SQL identifier."""
        return (
            sql.Identifier(self.schema, self.table) if self.schema else sql.Identifier(self.table)
        )

    def table_name(self) -> str:
        """``schema.table`` or ``table``, for messages."""
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def describe(self) -> str:
        """The URL as given, minus nothing secret (it never holds a password)."""
        where = self.host or ""
        if where and ":" in where:
            where = f"[{where}]"
        if self.port is not None:
            where += f":{self.port}"
        user = f"{self.user}@" if self.user else ""
        query = f"table={self.table_name()}"
        if self.service:
            query += f"&service={self.service}"
        if self.sslmode:
            query += f"&sslmode={self.sslmode}"
        return f"postgresql://{user}{where}/{self.dbname or ''}?{query}"


def _bad(url: str, why: str) -> ConfigError:
    return ConfigError(f"PostgreSQL URL {_shown(url)!r}: {why}. Accepted form: {FORM}")


def _shown(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    return f"{scheme}://{netloc}{slash}{tail}"


def parse_url(url: str) -> Target:
    """Parse a ``postgresql://`` or ``postgres://`` URL; ``ConfigError`` names the fix.

    A password in the URL is refused (see the module docstring). Options: ``table``
    (``NAME`` or ``SCHEMA.NAME``, default ``pagedlist``), ``sslmode`` (libpq's modes),
    ``sslrootcert`` (a CA file), ``service`` (a service file entry), ``connect_timeout``
    (seconds, default 5), ``timeout`` (seconds a call may take when no operation deadline
    is set, default 30) and ``pool`` (most connections, default 10).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
        password = parts.password
        username = parts.username
        hostname = parts.hostname
    except ValueError as err:
        raise _bad(url, f"malformed ({err})") from None
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise _bad(url, "the scheme must be postgresql:// or postgres://")
    if password is not None:
        raise ConfigError(
            f"PostgreSQL URL {_shown(url)!r} holds a password: pagedlist refuses passwords in "
            f"store URLs (they end up in shell history, process lists and logs). Remove it "
            f"and give it through {_PASSWORD_SOURCES}."
        )
    if "," in parts.netloc:
        raise _bad(url, "several hosts are not supported; name one host")
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
    if "/" in path:
        raise _bad(url, f"the path must be one database name, not {path!r}")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - set(_OPTIONS))
    if unknown:
        raise _bad(url, f"unknown option {unknown[0]!r} (known: {', '.join(_OPTIONS)})")
    repeated = sorted(k for k, v in query.items() if len(v) > 1)
    if repeated:
        raise _bad(url, f"option {repeated[0]!r} is given more than once")
    opt = {k: v[0] for k, v in query.items()}
    service = opt.get("service") or None
    if not hostname and not service:
        raise _bad(url, "no host (name one, or a service file entry with ?service=NAME)")
    schema, table = None, opt.get("table", DEFAULT_TABLE)
    if "." in table:
        schema, _, table = table.partition(".")
    for part in (schema, table):
        if part is not None and not _IDENT.fullmatch(part):
            raise _bad(
                url,
                f"table {opt['table']!r} must be NAME or SCHEMA.NAME, each a letter or _ then "
                "letters, digits or _ (at most 63)",
            )
    sslmode = opt.get("sslmode")
    if sslmode is not None and sslmode not in _SSLMODES:
        raise _bad(url, f"sslmode must be one of {', '.join(_SSLMODES)}, not {sslmode!r}")

    def number(name: str, default: float, kind: type, low: float, high: float) -> Any:
        if name not in opt:
            return default
        try:
            value = kind(opt[name])
        except ValueError:
            raise _bad(url, f"{name} must be a {kind.__name__}, not {opt[name]!r}") from None
        if not low <= value <= high:
            raise _bad(url, f"{name} must be between {low:g} and {high:g}")
        return value

    return Target(
        host=hostname or None,
        port=port,
        dbname=path or None,
        user=unquote(username) if username else None,
        schema=schema,
        table=table,
        sslmode=sslmode,
        sslrootcert=opt.get("sslrootcert") or None,
        service=service,
        connect_timeout=number("connect_timeout", 5, int, 1, 600),
        timeout=number("timeout", 30.0, float, 0.001, 86400),
        pool=number("pool", 10, int, 1, 1000),
    )


# --- U+0000 in jsonb ---------------------------------------------------------------------

_ESC = "\U0010ffff"
_ESCAPED = re.compile(_ESC + "(.)", re.DOTALL)


def _escape_str(text: str) -> str:
    return text.replace(_ESC, _ESC + _ESC).replace("\x00", _ESC + "0")


def _unescape_str(text: str) -> str:
    return _ESCAPED.sub(lambda m: _ESC if m.group(1) == _ESC else "\x00", text)


def _walk(value: Any, fix: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, dict):
        return {fix(k): _walk(v, fix) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fix) for v in value]
    return value


def _needs_escape(text: str) -> bool:
    # json.dumps always writes U+0000 as \u0000; a false alarm only costs a walk.
    return "\\u0000" in text or _ESC in text


def _to_jsonb(value: Any, text: str | None = None) -> str:
    """The JSON text to bind as ``jsonb``: ``text`` (the compact JSON of ``value``) unless
    the value holds a character jsonb refuses."""
    text = compact_json(value) if text is None else text
    return compact_json(_walk(value, _escape_str)) if _needs_escape(text) else text


def _from_jsonb(text: str) -> Any:
    value = json.loads(text)
    return _walk(value, _unescape_str) if _ESC in text else value


def _utf8_len(text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as err:
        raise InvalidValue(
            f"a string holds text that is not valid Unicode (a lone surrogate?): {err}"
        ) from None


# --- the statements ------------------------------------------------------------------------

_VERSION = "pg_current_xact_id()::text::bigint"

_DDL = """
CREATE TABLE IF NOT EXISTS {t} (
    key     text COLLATE "C" PRIMARY KEY,
    doc     jsonb   NOT NULL,
    size    integer NOT NULL,
    version bigint  NOT NULL
) WITH (fillfactor = 80)
"""

_GET = "SELECT doc::text, version FROM {t} WHERE key = %(key)s"
_GET_MANY = "SELECT key, doc::text, version FROM {t} WHERE key = ANY(%(keys)s::text[])"
_DELETE = "DELETE FROM {t} WHERE key = %(key)s"
_PUT = f"""
INSERT INTO {{t}} (key, doc, size, version)
VALUES (%(key)s, %(doc)s::jsonb, %(size)s, {_VERSION})
ON CONFLICT (key) DO NOTHING
RETURNING version
"""
_REPLACE = f"""
UPDATE {{t}} SET doc = %(doc)s::jsonb, size = %(size)s, version = {_VERSION}
WHERE key = %(key)s AND version = %(version)s
RETURNING version
"""

# The row (locked) or, when absent, one row of NULLs: every later step sees exactly one row.
_LOCKED = """
cur AS (
    SELECT doc, size FROM {t} WHERE key = %(key)s FOR UPDATE
),
r AS (
    SELECT c.doc, c.size, c.doc IS NOT NULL AS present, c.doc -> %(field)s::text AS val
    FROM (SELECT 1) AS one LEFT JOIN cur AS c ON true
)"""

# append: Duplicate (first entry of the request, in request order, whose id is stored;
# the last stored index of that id), then Full, then the row size bound.
_APPEND = f"""
WITH {_LOCKED},
s AS (
    SELECT r.*,
        jsonb_typeof(r.val) AS kind,
        CASE WHEN jsonb_typeof(r.val) = 'array' THEN jsonb_array_length(r.val) ELSE 0 END
            AS len,
        (SELECT ARRAY[q.ord - 1, max(e.i) - 1]
           FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS q(id, ord)
           JOIN jsonb_array_elements(
                    CASE WHEN jsonb_typeof(r.val) = 'array' THEN r.val ELSE '[]'::jsonb END
                ) WITH ORDINALITY AS e(entry, i)
             ON e.entry -> 'id' = to_jsonb(q.id)
          GROUP BY q.ord ORDER BY q.ord LIMIT 1) AS dup
    FROM r
),
v AS (
    SELECT s.*,
        CASE
            WHEN NOT s.present THEN %(row_bytes)s
            WHEN s.val IS NULL AND s.doc = jsonb_build_object() THEN s.size + %(field_bytes)s
            WHEN s.val IS NULL THEN s.size + %(field_bytes)s + 1
            WHEN s.len = 0 THEN s.size + %(to_empty)s
            ELSE s.size + %(to_rest)s
        END AS new_size
    FROM s
),
verdict AS (
    SELECT v.*,
        CASE
            WHEN v.kind IS NOT NULL AND v.kind <> 'array' THEN 'not-a-list'
            WHEN v.dup IS NOT NULL THEN 'duplicate'
            WHEN v.len + %(k)s > %(max_len)s THEN 'full'
            WHEN v.new_size > %(limit)s THEN 'too-large'
            ELSE 'write'
        END AS outcome
    FROM v
),
upd AS (
    UPDATE {{t}} AS t SET
        doc = jsonb_set(t.doc, ARRAY[%(field)s::text],
                        COALESCE(t.doc -> %(field)s::text, '[]'::jsonb) || %(entries)s::jsonb),
        size = verdict.new_size,
        version = {_VERSION}
    FROM verdict
    WHERE t.key = %(key)s AND verdict.outcome = 'write' AND verdict.present
    RETURNING 1
),
ins AS (
    INSERT INTO {{t}} (key, doc, size, version)
    SELECT %(key)s, jsonb_build_object(%(field)s::text, %(entries)s::jsonb),
           verdict.new_size, {_VERSION}
    FROM verdict WHERE verdict.outcome = 'write' AND NOT verdict.present
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
)
SELECT outcome, len, dup, new_size,
       (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins) AS written
FROM verdict
"""

# increment: numeric arithmetic, so integers of any size stay exact.
_INCREMENT = f"""
WITH {_LOCKED},
s AS (
    SELECT r.*, jsonb_typeof(r.val) AS kind,
        CASE WHEN jsonb_typeof(r.val) = 'number' THEN (r.val)::numeric ELSE 0 END AS old
    FROM r
),
n AS (
    SELECT s.*, s.old + %(by)s::numeric AS new FROM s
),
v AS (
    SELECT n.*,
        CASE
            WHEN NOT n.present THEN %(row_bytes)s + length(n.new::text)
            WHEN n.val IS NULL AND n.doc = jsonb_build_object()
                THEN n.size + %(field_bytes)s + length(n.new::text)
            WHEN n.val IS NULL THEN n.size + %(field_bytes)s + 1 + length(n.new::text)
            ELSE n.size + length(n.new::text) - length(n.old::text)
        END AS new_size
    FROM n
),
verdict AS (
    SELECT v.*,
        CASE
            WHEN v.kind IS NOT NULL AND (v.kind <> 'number' OR v.old <> trunc(v.old))
                THEN 'not-a-number'
            WHEN %(expect)s::numeric IS NOT NULL AND v.old <> %(expect)s::numeric THEN 'stale'
            WHEN v.new_size > %(limit)s THEN 'too-large'
            ELSE 'write'
        END AS outcome
    FROM v
),
upd AS (
    UPDATE {{t}} AS t SET
        doc = jsonb_set(t.doc, ARRAY[%(field)s::text], to_jsonb(verdict.new)),
        size = verdict.new_size,
        version = {_VERSION}
    FROM verdict
    WHERE t.key = %(key)s AND verdict.outcome = 'write' AND verdict.present
    RETURNING 1
),
ins AS (
    INSERT INTO {{t}} (key, doc, size, version)
    SELECT %(key)s, jsonb_build_object(%(field)s::text, verdict.new), verdict.new_size,
           {_VERSION}
    FROM verdict WHERE verdict.outcome = 'write' AND NOT verdict.present
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
)
SELECT outcome, new::text, new_size,
       (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins) AS written
FROM verdict
"""


# --- errors --------------------------------------------------------------------------------

#: SQLSTATEs of a contended or overloaded server: back off and retry.
_THROTTLED = {"40001", "40P01", "55P03"}
#: SQLSTATEs of a server going away, starting, recovering or read-only (a failover).
_UNAVAILABLE = {"57P01", "57P02", "57P03", "57P04", "57P05", "25006", "58030"}


def _state(err: psycopg.Error) -> str | None:
    return getattr(err, "sqlstate", None)


def _primary(err: psycopg.Error) -> str:
    """The server's one-line message (no CONTEXT, which may quote bound values)."""
    diag = getattr(err, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return primary or (str(err).strip().splitlines() or [type(err).__name__])[0]


def _connection_broken(err: psycopg.Error) -> bool:
    state = _state(err)
    return state is None or state.startswith("08") or state in _UNAVAILABLE


# --- the watchdog --------------------------------------------------------------------------


class _Watchdog:
    """One daemon thread per process that cuts off connections whose call outlived its
    deadline (plus a grace), so a server that stopped answering cannot hold a caller."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, psycopg.Connection, list[bool]]] = {}
        self._next = 0
        self._pid = 0
        self._wake_at = float("inf")  # when the thread wakes next, if nothing notifies it

    def arm(self, conn: psycopg.Connection, at: float) -> tuple[int, list[bool]]:
        """Watch ``conn`` until :meth:`disarm`; cut it off at ``at`` (monotonic)."""
        fired = [False]
        with self._cond:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(
                    target=self._run, name="pagedlist-pg-watchdog", daemon=True
                ).start()
            self._next += 1
            token = self._next
            self._armed[token] = (at, conn, fired)
            if at < self._wake_at:
                # Only a deadline earlier than the thread's next wake-up needs it now: in
                # steady state no call wakes it (a context switch per call, otherwise).
                self._cond.notify()
        return token, fired

    def disarm(self, token: int) -> None:
        """Stop watching; after this returns the connection is never cut."""
        with self._cond:
            self._armed.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._armed:
                    self._wake_at = float("inf")
                    self._cond.wait()
                    continue
                now = time.monotonic()
                due = [t for t, (at, _, _) in self._armed.items() if at <= now]
                for token in due:
                    _, conn, fired = self._armed.pop(token)
                    fired[0] = True
                    _cut(conn)
                soonest = min((at for at, _, _ in self._armed.values()), default=None)
                self._wake_at = float("inf") if soonest is None else soonest
                self._cond.wait(None if soonest is None else max(0.01, soonest - now))


def _cut(conn: psycopg.Connection) -> None:
    """Shut the connection's socket down: a call blocked on it fails at once."""
    with contextlib.suppress(Exception):
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


_WATCHDOG = _Watchdog()


def _readable(conn: psycopg.Connection) -> bool:
    """Whether an idle connection's socket has something to read (end of file, an error
    the server sent before closing it): it is dead or dying."""
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, psycopg.Error):
        return True


def _nice_floor(ms: int) -> int:
    """The largest 2**k or 3 * 2**(k-1) not above ``ms``: successive deadlines of one size
    map to the same few values, so ``statement_timeout`` is seldom set again."""
    if ms < 2:
        return 1
    power = 1 << (ms.bit_length() - 1)
    return power + power // 2 if power + power // 2 <= ms else power


# --- the store -----------------------------------------------------------------------------


class PostgresStore(Store):
    """Rows in one PostgreSQL table, through a psycopg connection pool."""

    scheme = "postgresql"

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """Open ``postgresql://[user@]host[:port]/database[?table=...]``: connect once (a
        failure raises at once, naming the fix), create the table if missing, start the
        pool."""
        return cls(parse_url(url))

    @classmethod
    def through(cls, url: str, route: Callable[[str, int], tuple[str, int]]) -> PostgresStore:
        """Open ``url`` with its connections made to ``route(host, port)`` instead (the
        conformance suite's fault proxy, clause W1). ``ConfigError`` for a service URL (its
        host is in a file) and for ``sslmode=verify-ca|verify-full`` (a certificate names
        the server, not a loopback proxy)."""
        target = parse_url(url)
        if target.host is None:
            raise ConfigError(f"{target.describe()} names no host to route: give one")
        if target.sslmode in ("verify-ca", "verify-full"):
            raise ConfigError(
                f"{target.describe()} checks the server's certificate, which a loopback "
                "proxy cannot pass: route a URL with another sslmode"
            )
        host, port = route(target.host, target.port or 5432)
        return cls(dataclasses.replace(target, host=host, port=port))

    @classmethod
    def provision(cls, url: str) -> str:
        """Create the table if missing (``pagedlist init URL``); say what was done."""
        target = parse_url(url)
        with _probe(target) as conn:
            created = _ensure_table(conn, target)
        name = target.table_name()
        return f"created table {name}" if created else f"table {name} already exists"

    def __init__(self, target: Target) -> None:
        self._target = target
        with _probe(target) as conn:
            _ensure_table(conn, target)
            self._server = conn.info.server_version
            # Composed once into plain text: psycopg caches the parsing of a query string,
            # and a Composed would be quoted again on every call.
            t = target.identifier().as_string(conn)
        self._sql = {
            name: text.replace("{t}", t)
            for name, text in {
                "get": _GET,
                "get_many": _GET_MANY,
                "delete": _DELETE,
                "put": _PUT,
                "replace": _REPLACE,
                "append": _APPEND,
                "increment": _INCREMENT,
            }.items()
        }
        self._pool = psycopg_pool.ConnectionPool(
            target.conninfo(),
            kwargs={"autocommit": True},
            min_size=1,
            max_size=target.pool,
            num_workers=1,
            open=False,
            name=f"pagedlist-{target.table_name()}",
        )
        self._pool.open(wait=False)

    # --- plumbing --------------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """400 KiB rows, 1 KiB keys, 256 keys per batch read."""
        return Limits(
            row_bytes=POSTGRES_ROW_BYTES,
            key_bytes=POSTGRES_KEY_BYTES,
            batch_keys=BATCH_KEYS,
            # An entry's value text is a JSON string inside the stored entry.
            value_expansion=6,
        )

    def _run(self, what: str, work: Callable[[psycopg.Connection], T]) -> T:
        """Run ``work`` on a pooled connection within the operation's deadline, mapping
        every psycopg error onto pagedlist's."""
        left = remaining()
        budget = self._target.timeout if left is None else left
        if budget <= 0:
            raise DeadlineExceeded(f"{what}: the operation's deadline passed before the call")
        start = time.monotonic()
        try:
            with self._connection(budget) as conn:
                budget -= time.monotonic() - start
                # Armed before the first byte is sent: setting statement_timeout is a
                # round trip too, and a silent server would hold it as long as any other.
                token, fired = _WATCHDOG.arm(conn, time.monotonic() + budget + _GRACE)
                try:
                    self._statement_timeout(conn, budget)
                    result = work(conn)
                except psycopg.Error as err:
                    _WATCHDOG.disarm(token)
                    if fired[0]:
                        raise DeadlineExceeded(
                            f"{what}: PostgreSQL at {self._where()} did not answer within the "
                            f"operation's deadline ({budget + _GRACE:.2f}s); the connection "
                            "was cut off and the outcome is unknown"
                        ) from err
                    raise
                _WATCHDOG.disarm(token)
                if fired[0]:
                    conn.close()  # the answer came, but the socket is cut: discard it
                return result
        except psycopg_pool.PoolTimeout as err:
            raise StoreUnavailable(
                f"{what}: no connection to PostgreSQL at {self._where()} within {budget:.2f}s "
                f"(the server is unreachable, or all {self._target.pool} pooled connections "
                "are busy: raise ?pool=)"
            ) from err
        except psycopg_pool.PoolClosed as err:
            raise StoreUnavailable(f"{what}: the store was closed") from err
        except psycopg.Error as err:
            if _connection_broken(err):
                # The other idle connections are likely dead too (a restart, a failover):
                # replace them all now rather than hand each to a retry. (pool.check()
                # would test each with a round trip, which a silent server never answers.)
                with contextlib.suppress(Exception):
                    self._pool.drain()
            raise self._translate(what, err) from err

    @contextlib.contextmanager
    def _connection(self, budget: float) -> Iterator[psycopg.Connection]:
        """A pooled connection that is not known dead. An idle connection whose socket is
        readable was closed by the server (a restart, an idle timeout, a terminated
        session: nothing else is sent to an idle client that never LISTENs), so it is
        dropped before anything is sent on it, and another one taken."""
        end = time.monotonic() + budget
        for _ in range(self._target.pool + 1):
            conn = self._pool.getconn(timeout=max(0.001, end - time.monotonic()))
            try:
                if _readable(conn):
                    conn.close()
                    continue
                yield conn
                return
            finally:
                self._pool.putconn(conn)
        raise StoreUnavailable(
            f"every pooled connection to PostgreSQL at {self._where()} was closed by the server"
        )

    def _statement_timeout(self, conn: psycopg.Connection, seconds: float) -> None:
        want = max(1, int(seconds * 1000))
        have = getattr(conn, "_pagedlist_timeout_ms", None)
        if have is not None and have <= want < 2 * have:
            return
        ms = _nice_floor(want)
        conn.execute("SELECT set_config('statement_timeout', %s, false)", [f"{ms}ms"])
        conn._pagedlist_timeout_ms = ms  # type: ignore[attr-defined]

    def _where(self) -> str:
        t = self._target
        return f"{t.host or t.service}:{t.port or 5432}"

    def _translate(self, what: str, err: psycopg.Error) -> PagedListError:
        state = _state(err)
        message = f"{what}: PostgreSQL at {self._where()}: {_primary(err)}"
        if state:
            message += f" (SQLSTATE {state})"
        table = self._target.table_name()
        if state is None or state.startswith("08") or state in _UNAVAILABLE:
            return StoreUnavailable(message + "; the call may or may not have run")
        if state == "57014":
            return DeadlineExceeded(
                message + "; statement_timeout cancelled it at the operation's deadline, so "
                "nothing was written"
            )
        if state in _THROTTLED or state.startswith("53"):
            return Throttled(message + "; contention or load: retried with backoff")
        if state == "42501":
            return ConfigError(
                message + f"; grant the role SELECT, INSERT, UPDATE, DELETE on {table}"
            )
        if state in ("42P01", "42703"):
            return ConfigError(
                message + f"; table {table} is missing or not a pagedlist table: run "
                "`pagedlist init URL`, or name another table with ?table="
            )
        if state.startswith("28") or state == "3D000":
            return ConfigError(message)
        if state == "54000":
            return ItemTooLarge(message)
        if state.startswith("22"):
            return InvalidValue(message)
        return StoreError(message)

    # --- rows ------------------------------------------------------------------------------

    def _sized(self, key: str, doc: JSONDoc) -> tuple[str, int]:
        text = compact_json(doc)
        size = _utf8_len(key) + _utf8_len(text)
        if size > POSTGRES_ROW_BYTES:
            raise too_large(key, size, POSTGRES_ROW_BYTES)
        return _to_jsonb(doc, text), size

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING version``."""
        text, size = self._sized(key, doc)
        params = {"key": key, "doc": text, "size": size}
        return self._run(
            "put_if_absent",
            lambda c: c.execute(self._sql["put"], params).fetchone() is not None,
        )

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """``UPDATE ... WHERE key = $k AND version = $v RETURNING version``."""
        text, size = self._sized(key, doc)
        try:
            expected = int(version)
        except (TypeError, ValueError):
            return None  # not a version this store ever gave out: it cannot match
        params = {"key": key, "doc": text, "size": size, "version": expected}
        row = self._run("replace", lambda c: c.execute(self._sql["replace"], params).fetchone())
        return None if row is None else str(row[0])

    def get(self, key: str) -> Row | None:
        """``SELECT doc, version ... WHERE key = $k``."""
        row = self._run("get", lambda c: c.execute(self._sql["get"], {"key": key}).fetchone())
        return None if row is None else Row(_from_jsonb(row[0]), str(row[1]))

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """``SELECT ... WHERE key = ANY($keys)``, ``BATCH_KEYS`` keys per statement."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Row] = {}
        for start in range(0, len(wanted), BATCH_KEYS):
            chunk = wanted[start : start + BATCH_KEYS]
            rows = self._run(
                "get_many",
                lambda c, chunk=chunk: c.execute(self._sql["get_many"], {"keys": chunk}).fetchall(),
            )
            for key, text, version in rows:
                out[key] = Row(_from_jsonb(text), str(version))
        return out

    def delete(self, key: str) -> None:
        """``DELETE ... WHERE key = $k``."""
        self._run("delete", lambda c: c.execute(self._sql["delete"], {"key": key}))

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """One statement: lock the row, check ids, length and size in SQL, then append."""
        batch = list(entries)
        texts = [compact_json(e) for e in batch]
        k = len(batch)
        total = sum(_utf8_len(text) for text in texts)
        list_bytes = 2 + total + max(k - 1, 0)  # "[e1,e2,...]"
        field_bytes = _utf8_len(compact_json(field)) + 1 + list_bytes  # "field":[...]
        if any(_needs_escape(text) for text in texts):
            encoded = [_walk(e, _escape_str) for e in batch]
            listed = compact_json(encoded)
        else:
            encoded, listed = batch, "[" + ",".join(texts) + "]"
        params = {
            "key": key,
            "field": _escape_str(field),
            "ids": [str(e.get("id")) for e in encoded],
            "entries": listed,
            "k": k,
            "max_len": max_len,
            "limit": POSTGRES_ROW_BYTES,
            "row_bytes": _utf8_len(key) + 2 + field_bytes,  # {"field":[...]}
            "field_bytes": field_bytes,
            "to_empty": total + max(k - 1, 0),
            "to_rest": total + k,
        }
        outcome, length, dup, new_size = self._write("append", key, params)
        if outcome == "duplicate":
            return Duplicate(int(dup[1]), int(dup[0]))
        if outcome == "full":
            return Full(int(length))
        if outcome == "too-large":
            raise too_large(key, int(new_size), POSTGRES_ROW_BYTES)
        if outcome == "not-a-list":
            raise InvalidValue(f"field {field!r} of row {key!r} holds something else than a list")
        return Appended(int(length) + k)

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """One statement: lock the row, compare with ``expect`` and size in SQL, then add."""
        field_bytes = _utf8_len(compact_json(field)) + 1  # "field":
        params = {
            "key": key,
            "field": _escape_str(field),
            "by": int(by),
            "expect": None if expect is None else int(expect),
            "limit": POSTGRES_ROW_BYTES,
            "row_bytes": _utf8_len(key) + 2 + field_bytes,  # {"field":N}
            "field_bytes": field_bytes,
        }
        outcome, new, new_size = self._write("increment", key, params)
        if outcome == "stale":
            return None
        if outcome == "too-large":
            raise too_large(key, int(new_size), POSTGRES_ROW_BYTES)
        if outcome == "not-a-number":
            raise InvalidValue(
                f"field {field!r} of row {key!r} holds something else than an integer"
            )
        return int(new)

    def _write(self, what: str, key: str, params: Mapping[str, Any]) -> tuple:
        """Run the append or increment statement. When it decided to write but wrote
        nothing, a racing client created the row first: run it again, on that row."""
        for _ in range(5):
            row = self._run(what, lambda c: c.execute(self._sql[what], params).fetchone())
            if row is None:
                raise ContractViolation(f"{what} on {key!r}: the statement returned no row")
            *answer, written = row
            if answer[0] != "write" or written == 1:
                return tuple(answer)
        raise Throttled(f"{what} on {key!r}: the row kept being created and deleted under it")

    # --- the rest --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pool and its connections."""
        self._pool.close(timeout=5)

    def describe(self) -> str:
        """The target (never a password) and the server's version."""
        major, minor = divmod(self._server, 10000)
        return f"{self._target.describe()} (PostgreSQL {major}.{minor})"


# --- opening -------------------------------------------------------------------------------


@contextlib.contextmanager
def _probe(target: Target):
    """One direct connection, whose failure names the fix (the pool would only time out)."""
    try:
        conn = psycopg.connect(target.conninfo(), autocommit=True)
    except psycopg.Error as err:
        raise _open_error(target, err) from err
    try:
        yield conn
    except psycopg.Error as err:
        state = _state(err)
        if state in ("42501", "3F000"):
            raise ConfigError(
                f"cannot create table {target.table_name()}: {_primary(err)} (SQLSTATE "
                f"{state}); run `pagedlist init URL` as a role that may create it, then grant "
                "this role SELECT, INSERT, UPDATE, DELETE on it"
            ) from err
        raise StoreUnavailable(
            f"PostgreSQL at {target.host}:{target.port or 5432}: {_primary(err)}"
        ) from err
    finally:
        conn.close()


def _open_error(target: Target, err: psycopg.Error) -> PagedListError:
    """Why the first connection failed, told by libpq's own ping (the server answered,
    refused for now, or never answered), not by the text of the message."""
    where = f"{target.host or target.service}:{target.port or 5432}"
    detail = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    pgconn = getattr(err, "pgconn", None)
    if pgconn is not None and pgconn.needs_password:
        return ConfigError(
            f"PostgreSQL at {where} asks a password for user {target.user or '(default)'} "
            f"and none was found: set {_PASSWORD_SOURCES}"
        )
    ping = psycopg.pq.PGconn.ping(target.conninfo().encode())
    if ping == psycopg.pq.Ping.OK:
        return ConfigError(
            f"PostgreSQL at {where} refused the connection: {detail}. Check the user and "
            f"database in the URL, the password in {_PASSWORD_SOURCES}, and the server's "
            "pg_hba.conf"
        )
    if ping == psycopg.pq.Ping.REJECT:
        return StoreUnavailable(
            f"PostgreSQL at {where} is starting, shutting down or recovering: {detail}; "
            "try again shortly"
        )
    if ping == psycopg.pq.Ping.NO_ATTEMPT:
        return ConfigError(f"cannot connect to PostgreSQL at {where}: {detail}")
    return StoreUnavailable(
        f"cannot reach PostgreSQL at {where}: {detail}. Check the host and port in the URL, "
        "that the server runs and listens on that address (listen_addresses), and that no "
        "firewall is in the way"
    )


def _ensure_table(conn: psycopg.Connection, target: Target) -> bool:
    """Create the table if missing (serialized by an advisory lock, since racing
    ``CREATE TABLE IF NOT EXISTS`` can fail); check a present one is pagedlist's."""
    name = target.identifier().as_string(conn)
    if conn.execute("SELECT to_regclass(%s)", [name]).fetchone()[0] is None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"pagedlist {name}"])
            created = conn.execute("SELECT to_regclass(%s)", [name]).fetchone()[0] is None
            if created:
                conn.execute(sql.SQL(_DDL).format(t=target.identifier()))
    else:
        created = False
    columns = dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            [name],
        ).fetchall()
    )
    if any(columns.get(col) != kind for col, kind in _COLUMNS.items()):
        raise ConfigError(
            f"table {target.table_name()} exists but is not a pagedlist table (columns "
            f"{', '.join(f'{c} {k}' for c, k in columns.items())}); name another with ?table="
        )
    return created
