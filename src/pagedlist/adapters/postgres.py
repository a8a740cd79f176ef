"""PostgreSQL store: ``postgresql://[user@]host[:port]/database[?table=NAME&sslmode=MODE]``.

Three tables, named after ``?table=`` (``pagedlist`` unless it names another, optionally
``schema.table``)::

    pagedlist            the row protocol: summaries, id records, layout 1's pages
        key     text COLLATE "C" PRIMARY KEY
        doc     jsonb            the document
        size    integer          the row's size as ``row_size`` counts it (key + compact JSON)
        version bigint           the id of the transaction that last wrote the row

    pagedlist_entries    layout 2: one row per list position, read by index range
        pos bigint, version bigint, ts bigint, pushed boolean,
        list text COLLATE "C", id text COLLATE "C", v text, rest text,
        PRIMARY KEY (list, pos), UNIQUE (list, id) WHERE pushed

    pagedlist_tails      layout 2: the next position a push takes, one row per list
        list text COLLATE "C" PRIMARY KEY, next bigint

Row protocol: every primitive is one SQL statement in its own (autocommit) transaction,
every value a bind parameter: ``INSERT ... ON CONFLICT DO NOTHING`` (put_if_absent),
``UPDATE ... WHERE version = $v RETURNING`` (replace), ``SELECT ... WHERE key = ANY($keys)``
(get_many), and for append and increment one statement that locks the row (``SELECT ...
FOR UPDATE``), decides the outcome in SQL (id already present, length bound, row size
bound; the ``expect`` value) and writes only when the outcome is a write. A row that does
not exist yet is created by ``INSERT ... ON CONFLICT DO NOTHING`` in the same statement;
when a racing client created it first, nothing was written and the statement runs once
more, now on the locked row.

Layout 2 (``Features(entries=True, push=True, merge=True)``): an entry is stored in typed columns —
``id``, ``ts`` and ``v`` as they are, anything else (``d``, ``e``, ``x``, or an ``id``/``v``
of another type) as compact JSON in ``rest`` — so a read builds each entry from its
columns with no JSON parsing. A push is one statement: it looks the ids up in the list's
id index (``UNIQUE (list, id) WHERE pushed``), bumps the list's tail counter (an upsert,
``INSERT ... ON CONFLICT DO UPDATE``, that creates the counter row or locks it until
commit, so pushes to one list are serialized by the server), and inserts the new entries
at the positions the counter handed out. A push whose snapshot predates a racing push of
the same id fails on the id index (SQLSTATE 23505, nothing written) and runs once more,
now seeing that id. ``claim`` inserts all positions or none (a concurrent claim of one of
them fails the statement, which runs again and finds it taken); claimed entries are not
in the id index (``pushed`` false), exactly as the reference store keeps ids only for
pushes. ``scan`` is ``ORDER BY pos [DESC] LIMIT`` on the
primary key; ``scan_many`` is one statement, a ``LATERAL`` subquery per requested list;
``merge_scan`` (``Features.merge``) is one statement too, the same subqueries merged on
the server (window functions, one top-n sort), so only the merge's first n rows come back.

Versions are transaction ids (``pg_current_xact_id()``): 64-bit, never reused by the
cluster, so a row deleted and created again never gets an old version back (no ABA), and
no sequence needs granting.

The password never comes from the URL: libpq reads it from ``PGPASSWORD``, the password
file (``~/.pgpass`` or ``$PGPASSFILE``) or a service file entry (``?service=NAME``); a URL
with a password is refused, so no password ends up in shell history, process lists or
``$PAGEDLIST_STORE``. Connections come from a ``psycopg_pool.ConnectionPool``
(:class:`PostgresStore`) or an ``AsyncConnectionPool`` (:class:`AsyncPostgresStore`, the
asyncio adapter); both run the same statements, parameters and answer parsers (the
``_Plans`` below: generators that yield :class:`Query` and receive the rows) and differ
only in how a query is sent.

Deadlines: each call sets ``statement_timeout`` from the operation's deadline
(:func:`pagedlist.core.deadline.remaining`), so the server cancels a statement that would
outlive it (``DeadlineExceeded``; nothing was written). A server that stops answering
altogether cannot cancel anything: a watchdog (a thread; a loop timer in the asyncio
adapter) then cuts the connection shortly after the deadline, and the call raises
``DeadlineExceeded`` (the outcome is unknown; the core's retry finds a committed append as
``Duplicate``, a committed push by its ids). No statement that may have written is ever
re-sent by the adapter or the SDK.

PostgreSQL's ``jsonb`` and ``text`` cannot hold the character U+0000. Strings holding it (or
U+10FFFF, the escape character, a Unicode noncharacter) are stored escaped (U+0000 as
U+10FFFF ``0``, U+10FFFF as U+10FFFF U+10FFFF) and unescaped on read; sizes count what was
given, never its escaped form.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import operator
import os
import re
import select
import socket
import threading
import time
from collections.abc import (
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from threading import TIMEOUT_MAX
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg
import psycopg_pool
from psycopg import sql

from pagedlist.adapters._toolkit import (
    ErrorTable,
    Rule,
    UrlOptions,
    class_keys,
    is_loopback,
    redact,
    tallied,
)
from pagedlist.core.astore import AsyncStore
from pagedlist.core.deadline import remaining
from pagedlist.core.entries import merge_answer
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
    Merged,
    Pushed,
    Row,
    Scan,
    Slot,
    Taken,
)
from pagedlist.core.store import NO_FEATURES, Store, compact_json, too_large
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

__all__ = [
    "CLAIM_ENTRIES",
    "POSTGRES_KEY_BYTES",
    "POSTGRES_ROW_BYTES",
    "PURGE_ROWS",
    "AsyncPostgresStore",
    "PostgresStore",
    "Query",
    "Target",
    "parse_url",
]

T = TypeVar("T")

#: Rows are capped like DynamoDB's (and the memory, SQLite and Redis stores'), so a list
#: gets the same capacity everywhere, and an append never rewrites a huge ``jsonb`` value.
#: Entry rows (layout 2) are held to the same bound.
POSTGRES_ROW_BYTES = 400 * 1024
#: Far below the ~2700-byte limit of a B-tree index entry.
POSTGRES_KEY_BYTES = 1024
#: Keys per ``= ANY($1)`` read: at most ~100 MB of rows in one answer.
BATCH_KEYS = 256
#: Most entries one claim writes (one statement, its rows passed as arrays).
CLAIM_ENTRIES = 500
#: Most entry rows one statement of a purge (or a drop) deletes.
PURGE_ROWS = 5000
DEFAULT_TABLE = "pagedlist"
FORM = "postgresql://[user@]host[:port]/database[?table=NAME&sslmode=MODE]"
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_OPTIONS = ("table", "sslmode", "sslrootcert", "service", "connect_timeout", "timeout", "pool")
_PASSWORD_SOURCES = (
    "PGPASSWORD, a password file (~/.pgpass, or the file $PGPASSFILE names) or a service "
    "file entry (?service=NAME, from ~/.pg_service.conf or $PGSERVICEFILE)"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: PostgreSQL cuts identifiers at 63 bytes: the entry tables' names and their index names
#: (``<table>_entries_pkey``) must fit.
_NAME_BYTES = 63
#: Extra time a silent server gets past the deadline before the watchdog cuts it off; the
#: server's own statement_timeout normally answers first, with a known outcome.
_GRACE = 1.0
#: Times a statement that provably wrote nothing (a racing creator, a unique index that
#: refused a row) is run again before the call gives up as contended.
_RERUNS = 8
#: ``hi`` of a scan without an upper bound, and the most rows one scan asks for.
_NO_END = (1 << 63) - 1
_MOST_ROWS = 1 << 62
#: Bytes an entry row takes besides its text columns: pos, version, ts, the flag, the
#: tuple header. Entry rows are counted as these plus the UTF-8 bytes of the list id, the
#: entry's id and ``v``, and ``rest`` (compact JSON).
ENTRY_ROW_FIXED = 48
#: Every pooled session plans its statements once: they are all key or key-range
#: lookups whose generic plan is the right one, and a custom plan per call (PostgreSQL's
#: default for statements it cannot cost generically, such as ``= ANY($ids)``) would make
#: the planner the most expensive part of a push.
_SESSION = "SET plan_cache_mode = force_generic_plan"

_COLUMNS = {"key": "text", "doc": "jsonb", "size": "integer", "version": "bigint"}
_ENTRY_COLUMNS = {
    "pos": "bigint",
    "version": "bigint",
    "ts": "bigint",
    "pushed": "boolean",
    "list": "text",
    "id": "text",
    "v": "text",
    "rest": "text",
}
_TAIL_COLUMNS = {"list": "text", "next": "bigint"}


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
        """The libpq connection string (no password: libpq finds it itself).

        Without ``sslmode`` a loopback host gets ``disable``: traffic that never leaves the
        machine gains nothing from TLS (libpq's default, ``prefer``, would encrypt every
        call to a local server that offers it, and verify nothing); other hosts keep
        libpq's default.
        """
        sslmode = self.sslmode
        if sslmode is None and self.host is not None and is_loopback(self.host):
            sslmode = "disable"
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "sslmode": sslmode,
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

    def identifier(self, suffix: str = "") -> sql.Identifier:
        """The table (or its ``_entries``/``_tails`` companion) as a quoted identifier."""
        name = self.table + suffix
        return sql.Identifier(self.schema, name) if self.schema else sql.Identifier(name)

    def table_name(self, suffix: str = "") -> str:
        """``schema.table`` or ``table`` (with ``suffix``), for messages."""
        name = self.table + suffix
        return f"{self.schema}.{name}" if self.schema else name

    def tables(self) -> str:
        """Every table the store uses, for messages."""
        return f"{self.table_name()}, {self.table_name('_entries')} and {self.table_name('_tails')}"

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


def parse_url(url: str) -> Target:
    """Parse a ``postgresql://`` or ``postgres://`` URL; ``ConfigError`` names the fix.

    A password in the URL is refused (see the module docstring). Options: ``table``
    (``NAME`` or ``SCHEMA.NAME``, default ``pagedlist``), ``sslmode`` (libpq's modes),
    ``sslrootcert`` (a CA file), ``service`` (a service file entry), ``connect_timeout``
    (seconds, default 5), ``timeout`` (seconds a call may take when no operation deadline
    is set, default 30) and ``pool`` (most connections, default 10).
    """
    options = UrlOptions(url, accepted=_OPTIONS, form=FORM, what="PostgreSQL URL")
    try:
        parts = urlsplit(url)
        port = parts.port
        password = parts.password
        username = parts.username
        hostname = parts.hostname
    except ValueError as err:
        raise options.error(f"it does not parse ({err})") from None
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise options.error("the scheme must be postgresql:// or postgres://")
    if password is not None:
        raise ConfigError(
            f"PostgreSQL URL {redact(url)!r} holds a password: pagedlist refuses passwords in "
            f"store URLs (they end up in shell history, process lists and logs). Remove it "
            f"and give it through {_PASSWORD_SOURCES}."
        )
    if "," in parts.netloc:
        raise options.error("several hosts are not supported; name one host")
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
    if "/" in path:
        raise options.error(f"the path must be one database name, not {path!r}")
    named = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    repeated = sorted({name for name in named if named.count(name) > 1})
    if repeated:
        # UrlOptions keeps the last of a repeated option; for a database URL a repeat is
        # more likely a mistake than an override.
        raise options.error(f"option {repeated[0]!r} is given more than once")
    service = options.text("service")
    if not hostname and not service:
        raise options.error("no host (name one, or a service file entry with ?service=NAME)")
    table_option = options.text("table", DEFAULT_TABLE) or DEFAULT_TABLE
    schema, table = None, table_option
    if "." in table:
        schema, _, table = table.partition(".")
    for part in (schema, table):
        if part is not None and not _IDENT.fullmatch(part):
            raise options.error(
                f"table {table_option!r} must be NAME or SCHEMA.NAME, each a letter or _ then "
                "letters, digits or _ (at most 63)"
            )
    sslmode = options.choice("sslmode", _SSLMODES, "") or None

    def bounded(name: str, value: float, high: float) -> Any:
        if value > high:
            raise options.error(f"{name} must be at most {high:g}")
        return value

    return Target(
        host=hostname or None,
        port=port,
        dbname=path or None,
        user=unquote(username) if username else None,
        schema=schema,
        table=table,
        sslmode=sslmode,
        sslrootcert=options.text("sslrootcert"),
        service=service,
        connect_timeout=bounded("connect_timeout", options.whole("connect_timeout", 5), 600),
        timeout=bounded("timeout", options.number("timeout", 30.0), 86400),
        pool=bounded("pool", options.whole("pool", 10), 1000),
    )


# --- U+0000 in jsonb and text --------------------------------------------------------------

_ESC = "\U0010ffff"
_ESCAPED = re.compile(_ESC + "(.)", re.DOTALL)


def _escape_str(text: str) -> str:
    return text.replace(_ESC, _ESC + _ESC).replace("\x00", _ESC + "0")


def _unescape_str(text: str) -> str:
    return _ESCAPED.sub(lambda m: _ESC if m.group(1) == _ESC else "\x00", text)


def _stored(text: str) -> str:
    """``text`` as a ``text`` column can hold it."""
    return _escape_str(text) if "\x00" in text or _ESC in text else text


def _given(text: str) -> str:
    """A ``text`` column's value as it was given."""
    return _unescape_str(text) if _ESC in text else text


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


# --- entries as columns --------------------------------------------------------------------

_INT64 = range(-(1 << 63), 1 << 63)

#: An entry as its columns: (id, ts, v, rest) — id and v escaped for ``text``.
Columns = tuple[str, int | None, str | None, str | None]


def _columns(list_id: str, entry: JSONDoc) -> Columns:
    """The columns of one entry row; ``ItemTooLarge`` for a row over the limit.

    ``ts`` (an integer) and ``v`` (a string) get columns of their own; every other key, and
    a ``ts``/``v`` of another type, goes to ``rest`` as compact JSON, so any flat entry
    comes back exactly.
    """
    item_id = entry.get("id")
    if type(item_id) is not str:
        raise InvalidValue(f"an entry's id must be a str, got {item_id!r:.80}")
    ts = entry.get("ts")
    v = entry.get("v")
    hot = 1 + (type(ts) is int and ts in _INT64) + (type(v) is str)
    rest = None
    if len(entry) != hot:
        extra = {k: x for k, x in entry.items() if k != "id"}
        if type(ts) is int and ts in _INT64:
            del extra["ts"]
        else:
            ts = None
        if type(v) is str:
            del extra["v"]
        else:
            v = None
        rest = compact_json(extra)
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
    if size > POSTGRES_ROW_BYTES:
        raise too_large(f"{list_id}|e", size, POSTGRES_ROW_BYTES)
    return _stored(item_id), ts, None if v is None else _stored(v), rest


def _entry(item_id: str, ts: int | None, v: str | None, rest: str | None) -> JSONDoc:
    """The entry a row's columns hold."""
    entry: JSONDoc = {"id": _given(item_id)}
    if ts is not None:
        entry["ts"] = ts
    if v is not None:
        entry["v"] = _given(v)
    if rest is not None:
        entry.update(json.loads(rest))
    return entry


# --- the statements ------------------------------------------------------------------------
#
# Placeholders: {t} the rows table, {e} the entries table, {tails} the tails table (quoted
# identifiers, composed once when a store opens). Every value is a bind parameter; arrays
# go in binary (``%(name)b``): psycopg builds a text array literal by escaping each element
# in Python (measured: two arrays of 40 values of 200 characters, ~450 us of client CPU
# per statement as text, ~80 us in binary).

_VERSION = "pg_current_xact_id()::text::bigint"

_DDL = """
CREATE TABLE IF NOT EXISTS {t} (
    key     text COLLATE "C" PRIMARY KEY,
    doc     jsonb   NOT NULL,
    size    integer NOT NULL,
    version bigint  NOT NULL
) WITH (fillfactor = 80)
"""

# Fixed-width columns first: no alignment padding between them and the texts.
_ENTRIES_DDL = """
CREATE TABLE IF NOT EXISTS {e} (
    pos     bigint  NOT NULL,
    version bigint  NOT NULL,
    ts      bigint,
    pushed  boolean NOT NULL,
    list    text COLLATE "C" NOT NULL,
    id      text COLLATE "C" NOT NULL,
    v       text,
    rest    text,
    CONSTRAINT {e_pkey} PRIMARY KEY (list, pos)
);
CREATE UNIQUE INDEX IF NOT EXISTS {e_ids} ON {e} (list, id) WHERE pushed;
CREATE TABLE IF NOT EXISTS {tails} (
    list text COLLATE "C" PRIMARY KEY,
    next bigint NOT NULL
) WITH (fillfactor = 50)
"""

_GET = "SELECT doc::text, version FROM {t} WHERE key = %(key)s"
_GET_MANY = "SELECT key, doc::text, version FROM {t} WHERE key = ANY(%(keys)b::text[])"
_DELETE = "DELETE FROM {t} WHERE key = %(key)s"
_PUT = f"""
INSERT INTO {{t}} (key, doc, size, version)
VALUES (%(key)s, %(doc)s::jsonb, %(size)s, {_VERSION})
ON CONFLICT (key) DO NOTHING
RETURNING version
"""
# insert: created (NULL doc), or the row that was there; no row when the conflicting row
# was committed after this statement's snapshot (it is run again).
_INSERT = f"""
WITH ins AS (
    INSERT INTO {{t}} (key, doc, size, version)
    VALUES (%(key)s, %(doc)s::jsonb, %(size)s, {_VERSION})
    ON CONFLICT (key) DO NOTHING
    RETURNING version
)
SELECT NULL::text, version FROM ins
UNION ALL
SELECT doc::text, version FROM {{t}} WHERE key = %(key)s AND NOT EXISTS (SELECT 1 FROM ins)
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
           FROM unnest(%(ids)b::text[]) WITH ORDINALITY AS q(id, ord)
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

# --- entry rows (layout 2) ---
#
# A push takes its positions from the list's counter row, bumped by one upsert: it locks
# the row until the push commits (ON CONFLICT DO UPDATE locks the row it updates, as an
# UPDATE does, and in READ COMMITTED it updates the newest committed version, waiting for
# a racing push first), so pushes to one list follow each other and the counter is never
# behind a committed entry. A list without a counter row (its first push, or after
# drop_entries) gets one from the same upsert; a racing first push that created it
# meanwhile turns it into the update. One data-modifying node on the counter table
# instead of an UPDATE and an INSERT ... DO NOTHING (measured with
# benchmarks/postgres_push_one.py: ~15-30 us less per push on the server).

# One entry, the common case (each append of one item, uncontended): no arrays, no window.
_PUSH_ONE = f"""
WITH known AS (
    SELECT pos FROM {{e}} WHERE list = %(list)s AND pushed AND id = %(id)s
),
bump AS (
    INSERT INTO {{tails}} AS t (list, next)
    SELECT %(list)s, %(floor)s::bigint + 1 WHERE NOT EXISTS (SELECT 1 FROM known)
    ON CONFLICT (list) DO UPDATE SET next = greatest(t.next, %(floor)s) + 1
    RETURNING t.next - 1 AS pos
),
ins AS (
    INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
    SELECT bump.pos, {_VERSION}, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s
    FROM bump
    RETURNING pos
)
SELECT (SELECT pos FROM known), (SELECT pos FROM ins)
"""

# Several entries (distinct ids, in order): known ids answer their positions, the others
# take first, first + 1, ... in request order.
_PUSH = f"""
WITH known AS (
    SELECT id, pos FROM {{e}}
    WHERE list = %(list)s AND pushed AND id = ANY(%(ids)b::text[])
),
fresh AS (
    SELECT r.id, r.ts, r.v, r.rest, row_number() OVER (ORDER BY r.ord) - 1 AS k
    FROM unnest(%(ids)b::text[], %(ts)b::bigint[], %(vs)b::text[], %(rests)b::text[])
         WITH ORDINALITY AS r(id, ts, v, rest, ord)
    WHERE NOT EXISTS (SELECT 1 FROM known WHERE known.id = r.id)
),
n AS (
    SELECT count(*) AS n FROM fresh
),
base AS (
    INSERT INTO {{tails}} AS t (list, next)
    SELECT %(list)s, %(floor)s::bigint + n.n FROM n WHERE n.n > 0
    ON CONFLICT (list) DO UPDATE SET next = greatest(t.next, %(floor)s) + (SELECT n FROM n)
    RETURNING t.next - (SELECT n FROM n) AS first
),
ins AS (
    INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
    SELECT base.first + fresh.k, {_VERSION}, fresh.ts, true, %(list)s, fresh.id, fresh.v,
           fresh.rest
    FROM base CROSS JOIN fresh
    RETURNING 1
)
SELECT (SELECT first FROM base), (SELECT count(*) FROM ins),
       ARRAY(SELECT id FROM known), ARRAY(SELECT pos FROM known)
"""

# A push refused by the primary key met rows a claim wrote at the positions the counter
# hands out (a client that appends by claim, e.g. one that sees no push feature, to the
# same list): the counter moves past the list's newest row, and the push runs again.
_CATCH_UP = """
INSERT INTO {tails} AS t (list, next)
SELECT %(list)s, max(pos) + 1 FROM {e} WHERE list = %(list)s HAVING count(*) > 0
ON CONFLICT (list) DO UPDATE SET next = greatest(t.next, EXCLUDED.next)
"""

# claim: the lowest taken position of the range (as this statement's snapshot sees it),
# and the entries inserted only when there is none. A position a concurrent claim took
# after the snapshot fails the INSERT on the primary key: nothing written, run again.
_CLAIM = f"""
WITH taken AS (
    SELECT pos, id, ts, v, rest FROM {{e}}
    WHERE list = %(list)s AND pos >= %(first)s AND pos < %(end)s
    ORDER BY pos LIMIT 1
),
ins AS (
    INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
    SELECT %(first)s + r.ord - 1, {_VERSION}, r.ts, false, %(list)s, r.id, r.v, r.rest
    FROM unnest(%(ids)b::text[], %(ts)b::bigint[], %(vs)b::text[], %(rests)b::text[])
         WITH ORDINALITY AS r(id, ts, v, rest, ord)
    WHERE NOT EXISTS (SELECT 1 FROM taken)
    RETURNING 1
)
SELECT pos, id, ts, v, rest FROM taken
"""

_SCAN_RANGE = "list = %(list)s AND pos >= %(lo)s AND pos < %(hi)s"
_SCAN_DESC = (
    f"SELECT pos, id, ts, v, rest FROM {{e}} WHERE {_SCAN_RANGE} ORDER BY pos DESC LIMIT %(limit)s"
)
_SCAN_ASC = (
    f"SELECT pos, id, ts, v, rest FROM {{e}} WHERE {_SCAN_RANGE} ORDER BY pos LIMIT %(limit)s"
)
# Every scan's range read on the primary key, in one statement whatever their number: a
# LATERAL subquery per scan, whose branch for the other direction is skipped.
_SCAN_MANY = """
SELECT s.ord, e.pos, e.id, e.ts, e.v, e.rest
FROM unnest(%(lists)b::text[], %(los)b::bigint[], %(his)b::bigint[], %(limits)b::bigint[],
            %(newest)b::boolean[]) WITH ORDINALITY AS s(list, lo, hi, lim, newest, ord)
CROSS JOIN LATERAL (
    (SELECT pos, id, ts, v, rest FROM {e}
      WHERE s.newest AND list = s.list AND pos >= s.lo AND pos < s.hi
      ORDER BY pos DESC LIMIT s.lim)
    UNION ALL
    (SELECT pos, id, ts, v, rest FROM {e}
      WHERE NOT s.newest AND list = s.list AND pos >= s.lo AND pos < s.hi
      ORDER BY pos LIMIT s.lim)
) AS e
ORDER BY s.ord, CASE WHEN s.newest THEN -e.pos ELSE e.pos END
"""
# A merged scan (MergeScan) in one statement. Each scan's range read is _SCAN_MANY's
# newest-first LATERAL subquery; one window over its rows, in the index's order (no sort),
# gives each row: whether it is in the gap-free run (its position plus its rank is the
# first position plus one), ``ok`` (live, and its key below the cursor: two bounds the
# plan computes per list, lts and lpos, that every row passes for a list not in
# ``fresh``), the running minimum ts of the ok rows so far (``key``), and the run's counts
# so far. Ordering the ok rows of all scans by that minimum (ties: the list id's rank,
# then the position, then the later scan, as the reference breaks a tie between two scans
# of one list) is the order a k-way merge picks them in. A run's last row carries
# its scan's counts: where the list goes on below (``more``; NULL: the scan reached its
# end) and its live rows (``live``; NULL when a live row's ts is not in the ts column: the
# plan then merges in Python). One top-(n + scans) sort keeps those last rows (first) and
# every row that can be among the merge's first n; a window over these few marks the n
# picks, and only the picks' entry columns are read, by primary key (the statement's one
# snapshot: the rows the scans saw). Rows come by scan, newest first: its picks, then its
# run's last row (entry columns NULL unless it is a pick too). The tombstone test parses
# ``rest`` as json, which refuses the escape \u0000: it is read as \u0001 (the
# backslashes before it stay, so the text stays JSON and no key becomes "d").
#
# Measured (server execution time, 20 scans of 50 rows, EXPLAIN ANALYZE without timing):
# 1.1 ms, and scan_many of the same scans 0.43 ms. Every column and window function a
# row carries costs: the picks and the counts UNION ALL'd from a CTE of the runs took
# 1.8 ms (every row copied once more), the same with the rows' entry columns carried
# through the sort instead of read for the picks 1.4 ms. The server's extra time buys
# shipping n rows instead of every scanned one, and a client that merges none.
_MERGE_SCAN = r"""
SELECT m.ord, m.pos, e.id, e.ts, e.v, e.rest, m.more, m.live
FROM (
    SELECT c.*, c.key IS NOT NULL AND row_number() OVER (
               ORDER BY c.key DESC NULLS LAST, c.rk DESC, c.pos DESC, c.ord DESC
           ) <= %(n)s AS pick
    FROM (
        SELECT s.ord, s.rk, e.pos, e.key, e.last, e.more, e.live
        FROM unnest(%(lists)b::text[], %(los)b::bigint[], %(his)b::bigint[],
                    %(limits)b::bigint[], %(ranks)b::bigint[], %(lts)b::bigint[],
                    %(lpos)b::bigint[])
             WITH ORDINALITY AS s(list, lo, hi, lim, rk, lts, lpos, ord)
        CROSS JOIN LATERAL (
            SELECT z.pos, CASE WHEN z.ok THEN z.ets END AS key,
                   z.after IS NULL OR z.after <> z.pos - 1 AS last,
                   CASE WHEN z.rn < s.lim OR z.pos <= s.lo THEN NULL ELSE z.pos END AS more,
                   CASE WHEN z.typed THEN z.live END AS live
            FROM (
                SELECT x.pos, x.ok,
                       row_number() OVER w AS rn, first_value(x.pos) OVER w AS top,
                       lead(x.pos) OVER w AS after,
                       min(x.ts) FILTER (WHERE x.ok) OVER w AS ets,
                       count(*) FILTER (WHERE x.ok) OVER w AS live,
                       bool_and(x.ok IS NOT NULL) OVER w AS typed
                FROM (
                    SELECT pos, ts,
                           (rest IS NULL
                            OR (replace(rest, '\u0000', '\u0001')::json -> 'd') IS NULL)
                           AND (ts < s.lts OR (ts = s.lts AND pos < s.lpos)) AS ok
                    FROM {e}
                    WHERE list = s.list AND pos >= s.lo AND pos < s.hi
                    ORDER BY pos DESC LIMIT s.lim
                ) AS x
                WINDOW w AS (ORDER BY x.pos DESC ROWS UNBOUNDED PRECEDING)
            ) AS z
            WHERE z.pos + z.rn = z.top + 1
        ) AS e
        WHERE e.key IS NOT NULL OR e.last
        ORDER BY e.last DESC, e.key DESC, s.rk DESC, e.pos DESC, s.ord DESC
        LIMIT %(cap)s
    ) AS c
) AS m
LEFT JOIN LATERAL (
    SELECT id, ts, v, rest FROM {e}
    WHERE m.pick AND list = (%(lists)b::text[])[m.ord] AND pos = m.pos
) AS e ON true
WHERE m.pick OR m.last
ORDER BY m.ord, m.pos DESC
"""
_GET_ENTRY = "SELECT id, ts, v, rest, version FROM {e} WHERE list = %(list)s AND pos = %(pos)s"
# The id a pushed row is indexed by never changes (as in the reference store, whose id
# index an edit leaves alone); an edit that gives it another id keeps that id in rest.
_REPLACE_ENTRY = f"""
UPDATE {{e}} SET version = {_VERSION}, ts = %(ts)s, v = %(v)s,
    rest = CASE WHEN pushed AND id <> %(id)s THEN %(rest_id)s ELSE %(rest)s END,
    id = CASE WHEN pushed THEN id ELSE %(id)s END
WHERE list = %(list)s AND pos = %(pos)s AND version = %(version)s
RETURNING version
"""
# The oldest rows below a position, at most ``chunk`` of them (a purge runs it until it
# deletes fewer: each statement's work is bounded, every one within the deadline). The
# counter stays: a purge never lets a push reuse a position.
_PURGE = """
WITH gone AS (
    DELETE FROM {e}
    WHERE list = %(list)s AND pos IN (
        SELECT pos FROM {e} WHERE list = %(list)s AND pos < %(below)s
        ORDER BY pos LIMIT %(chunk)s)
    RETURNING 1
)
SELECT count(*) FROM gone
"""
_DROP = """
WITH gone AS (DELETE FROM {e} WHERE list = %(list)s)
DELETE FROM {tails} WHERE list = %(list)s
"""
_FIND_ID = "SELECT pos FROM {e} WHERE list = %(list)s AND pushed AND id = %(id)s"
_SET_TIMEOUT = "SELECT set_config('statement_timeout', %s, false)"

_STATEMENTS = {
    "get": _GET,
    "get_many": _GET_MANY,
    "delete": _DELETE,
    "put": _PUT,
    "insert": _INSERT,
    "replace": _REPLACE,
    "append": _APPEND,
    "increment": _INCREMENT,
    "push_one": _PUSH_ONE,
    "push": _PUSH,
    "catch_up": _CATCH_UP,
    "claim": _CLAIM,
    "scan_desc": _SCAN_DESC,
    "scan_asc": _SCAN_ASC,
    "scan_many": _SCAN_MANY,
    "merge_scan": _MERGE_SCAN,
    "get_entry": _GET_ENTRY,
    "replace_entry": _REPLACE_ENTRY,
    "purge": _PURGE,
    "drop_entries": _DROP,
    "find_id": _FIND_ID,
}


# --- errors --------------------------------------------------------------------------------


class _Conflict(ContractViolation):
    """A unique index refused a row (SQLSTATE 23505): nothing was written. The plans that
    expect one (a racing claim or push) run their statement again; one that escapes them
    is an adapter bug."""


def _codes(err: BaseException) -> Iterator[Any]:
    """The SQLSTATE, then its class (its first two characters), then the classes."""
    state = getattr(err, "sqlstate", None)
    if state:
        yield state
        yield state[:2]
    yield from class_keys(err)


_AT = "{what}: PostgreSQL at {where}: {detail}{state}"
_MAYBE = Rule(StoreUnavailable, _AT + "; the call may or may not have run")
_BUSY = Rule(Throttled, _AT + "; contention or load: retried with backoff")
_REFUSED = Rule(ConfigError, _AT)

#: psycopg errors -> pagedlist errors, by SQLSTATE (PostgreSQL's own codes: never by text).
ERRORS = ErrorTable(
    {
        "40001": _BUSY,  # serialization_failure
        "40P01": _BUSY,  # deadlock_detected
        "55P03": _BUSY,  # lock_not_available
        "53": _BUSY,  # insufficient resources: connections, disk, memory
        "57014": Rule(
            DeadlineExceeded,
            _AT + "; statement_timeout cancelled it at the operation's deadline, so nothing "
            "was written",
        ),
        "08": _MAYBE,  # connection exceptions
        # Shutting down, crashed, starting up, recovering; a read-only standby (a failover).
        "57P01": _MAYBE,
        "57P02": _MAYBE,
        "57P03": _MAYBE,
        "57P04": _MAYBE,
        "57P05": _MAYBE,
        "25006": _MAYBE,
        "58030": _MAYBE,  # I/O error
        "42501": Rule(
            ConfigError, _AT + "; grant the role SELECT, INSERT, UPDATE, DELETE on {tables}"
        ),
        "42P01": Rule(
            ConfigError,
            _AT + "; table {table} is missing or not a pagedlist table: run `pagedlist init "
            "URL`, or name another table with ?table=",
        ),
        "42703": Rule(
            ConfigError,
            _AT + "; table {table} is not a pagedlist table: name another with ?table=",
        ),
        "28": _REFUSED,  # authentication
        "3D000": _REFUSED,  # no such database
        "54000": Rule(ItemTooLarge, _AT),  # program_limit_exceeded: an index entry too big
        "22": Rule(InvalidValue, _AT),  # data exceptions
        "23505": Rule(_Conflict, _AT),
        # No SQLSTATE: the connection broke (reset, closed) before an answer came.
        psycopg.OperationalError: _MAYBE,
        psycopg.InterfaceError: _MAYBE,
    },
    keys=_codes,
    default=Rule(StoreError, _AT),
)


def _state(err: BaseException) -> str | None:
    return getattr(err, "sqlstate", None)


def _primary(err: BaseException) -> str:
    """The server's one-line message (no CONTEXT or DETAIL, which may quote values)."""
    diag = getattr(err, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return primary or (str(err).strip().splitlines() or [type(err).__name__])[0]


def _constraint(err: BaseException) -> str | None:
    """The constraint a translated ``_Conflict`` names (from the psycopg error it wraps)."""
    diag = getattr(err.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def _connection_broken(err: BaseException) -> bool:
    state = _state(err)
    return state is None or state.startswith("08") or state in {
        "57P01", "57P02", "57P03", "57P04", "57P05", "25006", "58030"
    }  # fmt: skip


def _cut_off(what: str, where: str, seconds: float) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"{what}: PostgreSQL at {where} did not answer within the operation's deadline "
        f"({seconds:.2f}s); the connection was cut off and the outcome is unknown"
    )


def _no_connection(what: str, where: str, seconds: float, pool: int) -> StoreUnavailable:
    return StoreUnavailable(
        f"{what}: no connection to PostgreSQL at {where} within {seconds:.2f}s (the server "
        f"is unreachable, or all {pool} pooled connections are busy: raise ?pool=)"
    )


def _closed(what: str) -> StoreUnavailable:
    return StoreUnavailable(f"{what}: the store was closed")


def _all_closed(where: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"every pooled connection to PostgreSQL at {where} was closed by the server"
    )


# --- deadlines: statement_timeout and the watchdog -------------------------------------------


def _budget(what: str, default: float) -> float:
    """Seconds the call may take: the operation's deadline, else the URL's ``timeout``."""
    left = remaining()
    budget = default if left is None else left
    if budget <= 0:
        raise DeadlineExceeded(f"{what}: the operation's deadline passed before the call")
    return budget


def _nice_floor(ms: int) -> int:
    """The largest 2**k or 3 * 2**(k-1) not above ``ms``: successive deadlines of one size
    map to the same few values, so ``statement_timeout`` is seldom set again."""
    if ms < 2:
        return 1
    power = 1 << (ms.bit_length() - 1)
    return power + power // 2 if power + power // 2 <= ms else power


def _timeout_to_set(conn: Any, seconds: float) -> int | None:
    """The ``statement_timeout`` (ms) ``conn`` needs for a call of ``seconds``, or ``None``
    when its current one already lies between half that and all of it."""
    want = max(1, int(seconds * 1000))
    have = getattr(conn, "_pagedlist_timeout_ms", None)
    if have is not None and have <= want < 2 * have:
        return None
    return _nice_floor(want)


def _ahead(conn: Any, name: str, seconds: float) -> tuple[int | None, bool]:
    """What must go ahead of statement ``name`` on ``conn``: a new ``statement_timeout``
    (ms, or ``None``), and whether the statement is still to be prepared there.

    Either is sent in the same round trip as the statement (a pipeline), never as one of
    its own: a call is then one request and one answer, however it is cut (clause W1),
    and costs one round trip. (psycopg alone would send a statement's Parse and wait for
    it, on its fifth use, before sending the statement.)
    """
    ready = getattr(conn, "_pagedlist_ready", None)
    return _timeout_to_set(conn, seconds), ready is None or name not in ready


def _cursor(conn: Any) -> Any:
    """The cursor every statement on ``conn`` runs on: made once per connection, since a
    new cursor per call (``conn.execute``) costs more client CPU than binding the
    parameters (a cursor and its adapters map, ~25 us a call, measured). A pooled
    connection serves one call at a time, so one cursor is never shared."""
    cursor = getattr(conn, "_pagedlist_cursor", None)
    if cursor is None or cursor.closed:
        cursor = conn._pagedlist_cursor = conn.cursor()
    return cursor


def _ready(conn: Any, name: str, ms: int | None) -> None:
    """Note what a call that went through left set up on ``conn``."""
    ready = getattr(conn, "_pagedlist_ready", None)
    if ready is None:
        ready = conn._pagedlist_ready = set()
    ready.add(name)
    if ms is not None:
        conn._pagedlist_timeout_ms = ms


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
                # Capped: a deadline beyond what a lock can wait for (a caller's
                # deadline=1e12) raised OverflowError here and ended the thread.
                wait = None if soonest is None else min(TIMEOUT_MAX, max(0.01, soonest - now))
                self._cond.wait(wait)


def _cut(conn: Any) -> None:
    """Shut the connection's socket down: a call blocked on it fails at once."""
    with contextlib.suppress(Exception):
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


def _fire(conn: Any, fired: list[bool]) -> None:
    """The asyncio adapter's watchdog: a loop timer that cuts ``conn`` off."""
    fired[0] = True
    _cut(conn)


_WATCHDOG = _Watchdog()


def _readable(conn: Any) -> bool:
    """Whether an idle connection's socket has something to read (end of file, an error
    the server sent before closing it): it is dead or dying."""
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, psycopg.Error):
        return True


# --- plans: what both adapters send, and how they read the answers ---------------------------

ONE, ALL, NONE = "one", "all", "none"


@dataclass(frozen=True, slots=True)
class Query:
    """One statement for an adapter to send: the call it serves (for messages), the
    statement's name (a key of the statements composed at open), its parameters, and which
    rows the plan wants back (``ONE``: the first or ``None``; ``ALL``; ``NONE``)."""

    what: str
    name: str
    params: Mapping[str, Any]
    rows: str = ONE


Plan = Generator[Query, Any, T]
"""A store call, sans-IO: yields each :class:`Query`, receives its rows (or has the
translated error thrown in), returns the call's answer."""


class _Step:
    """A plan in progress: its next query, or (once ``query`` is ``None``) its result."""

    __slots__ = ("_plan", "query", "result")

    def __init__(self, plan: Plan[Any]) -> None:
        self._plan = plan
        self.query: Query | None = None
        self.result: Any = None
        self._go(plan.send, None)

    def take(self, answer: Any) -> None:
        """Hand the plan its query's rows, or throw the error the query raised into it."""
        if isinstance(answer, PagedListError):
            self._go(self._plan.throw, answer)
        else:
            self._go(self._plan.send, answer)

    def _go(self, resume: Callable[[Any], Query], value: Any) -> None:
        try:
            self.query = resume(value)
        except StopIteration as stop:
            self.query = None
            self.result = stop.value


def _sized(key: str, doc: JSONDoc) -> tuple[str, int]:
    text = compact_json(doc)
    size = _utf8_len(key) + _utf8_len(text)
    if size > POSTGRES_ROW_BYTES:
        raise too_large(key, size, POSTGRES_ROW_BYTES)
    return _to_jsonb(doc, text), size


def _version(version: str) -> int | None:
    try:
        return int(version)
    except (TypeError, ValueError):
        return None  # not a version this store ever gave out: it cannot match


def _arrays(cols: Sequence[Columns]) -> dict[str, list[Any]]:
    return {
        "ids": [c[0] for c in cols],
        "ts": [c[1] for c in cols],
        "vs": [c[2] for c in cols],
        "rests": [c[3] for c in cols],
    }


def _bound(n: int) -> int:
    """A position or count as a ``bigint`` parameter (the store never gets near 2**63)."""
    return min(n, _NO_END)


def _slots(rows: Iterable[tuple]) -> tuple[Slot, ...]:
    # The core's own entry {"id", "ts", "v"}, with nothing escaped, built inline in one
    # comprehension: a timeline's scan_many turns 1,000 rows into slots, and a call or a
    # loop statement per row cost more than the dict itself.
    return tuple(
        [
            (pos, {"id": item_id, "ts": ts, "v": v})
            if rest is None
            and ts is not None
            and v is not None
            and _ESC not in v
            and _ESC not in item_id
            else (pos, _entry(item_id, ts, v, rest))
            for pos, item_id, ts, v, rest in rows
        ]
    )


# A scan_many row is (ord, pos, id, ts, v, rest); these take it apart in C.
_SCAN_ORD = operator.itemgetter(0)
_SCAN_COLUMNS = operator.itemgetter(1, 2, 3, 4, 5)


def _ranges(scans: Sequence[Scan]) -> dict[str, Any]:
    """The scans' lists and ranges as the arrays _SCAN_MANY and _MERGE_SCAN unnest."""
    return {
        "lists": [s.list_id for s in scans],
        "los": [_bound(s.lo) for s in scans],
        "his": [_NO_END if s.hi is None else _bound(s.hi) for s in scans],
        "limits": [min(s.limit, _MOST_ROWS) for s in scans],
    }


#: The bounds (lts, lpos) every scanned row passes (a scan's hi is at most _NO_END, so
#: every position read is below it): those of a list that is not filtered by a cursor.
_ALL_BELOW = (_NO_END, _NO_END)
_NOTHING_MERGED = Merged((), 0, None)


def _below(list_id: str, last: tuple[int, str, int]) -> tuple[int, int]:
    """``(lts, lpos)``: a row of ``list_id`` has its key ``(ts, list_id, pos)`` below
    ``last`` exactly when ``ts < lts or (ts = lts and pos < lpos)``, both ``bigint``
    (a cursor's ts may lie outside them, and the comparison still holds)."""
    ts, last_list, pos = last
    if list_id != last_list:
        # Another list: its rows of ts equal to last's are all below it, or none are.
        pos = _NO_END if list_id < last_list else -1
    if ts > _NO_END:
        return _ALL_BELOW
    if ts < -_NO_END - 1:
        return -_NO_END - 1, -1  # positions are never negative: no row passes
    return ts, max(-1, min(pos, _NO_END))


def _contended(what: str, list_id: str) -> Throttled:
    return Throttled(
        f"{what} on list {list_id!r}: racing writers kept refusing this statement's rows "
        f"({_RERUNS} runs, none written); retried with backoff"
    )


class _Plans:
    """Everything :class:`PostgresStore` and :class:`AsyncPostgresStore` share: the
    statements, their parameters, the answer parsers, the error table. Each store call is
    a plan (a generator of :class:`Query`); the two classes differ only in how they send
    a query."""

    _target: Target
    _sql: dict[str, str]
    _server: int
    _entries_missing: str | None
    _features: Features
    _ids_index: str

    def _setup(self, target: Target, opened: _Opened) -> None:
        self._target = target
        self._sql = opened.statements
        self._server = opened.server
        self._entries_missing = opened.entries_missing
        self._ids_index = target.table + "_entries_ids"
        self._features = (
            NO_FEATURES
            if opened.entries_missing
            else Features(entries=True, push=True, claim_entries=CLAIM_ENTRIES, merge=True)
        )

    @property
    def limits(self) -> Limits:
        """400 KiB rows (entry rows too), 1 KiB keys, 256 keys per batch read."""
        return Limits(
            row_bytes=POSTGRES_ROW_BYTES,
            key_bytes=POSTGRES_KEY_BYTES,
            batch_keys=BATCH_KEYS,
            # An entry's value text is a JSON string inside the stored entry.
            value_expansion=6,
        )

    @property
    def features(self) -> Features:
        """Entry rows with ``push`` (layout 2) where the entry tables exist."""
        return self._features

    def _where(self) -> str:
        t = self._target
        return f"{t.host or t.service}:{t.port or 5432}"

    def _translate(self, what: str, err: BaseException) -> PagedListError:
        """The pagedlist error for a psycopg error, by SQLSTATE (``ERRORS``)."""
        state = _state(err)
        return ERRORS.error(
            err,
            what=what,
            where=self._where(),
            detail=_primary(err),
            state=f" (SQLSTATE {state})" if state else "",
            table=self._target.table_name(),
            tables=self._target.tables(),
        )

    def _failure(self, what: str, budget: float, err: Exception) -> tuple[PagedListError, bool]:
        """The error a failed call raises, and whether the pool's idle connections are
        likely dead too (a restart, a failover): then they are all replaced at once rather
        than each handed to a retry (``pool.check()`` would test each with a round trip,
        which a silent server never answers)."""
        if isinstance(err, psycopg_pool.PoolTimeout):
            return _no_connection(what, self._where(), budget, self._target.pool), False
        if isinstance(err, psycopg_pool.PoolClosed):
            return _closed(what), False
        return self._translate(what, err), _connection_broken(err)

    def describe(self) -> str:
        """The target (never a password), the server's version, and layout 2's tables."""
        major, minor = divmod(self._server, 10000)
        text = f"{self._target.describe()} (PostgreSQL {major}.{minor})"
        if self._entries_missing:
            text += f"; layout 1 only: {self._entries_missing}"
        return text

    def _need_entries(self, what: str) -> None:
        if self._entries_missing:
            raise self._unsupported(what)  # type: ignore[attr-defined]

    # --- rows ------------------------------------------------------------------------------

    def _p_put_if_absent(self, key: str, doc: JSONDoc) -> Plan[bool]:
        text, size = _sized(key, doc)
        row = yield Query("put_if_absent", "put", {"key": key, "doc": text, "size": size})
        return row is not None

    def _p_insert(self, key: str, doc: JSONDoc) -> Plan[Row | None]:
        text, size = _sized(key, doc)
        params = {"key": key, "doc": text, "size": size}
        for _ in range(_RERUNS):
            row = yield Query("insert", "insert", params)
            if row is not None:
                return None if row[0] is None else Row(_from_jsonb(row[0]), str(row[1]))
            # The row that refused the create was committed after this statement's
            # snapshot (or deleted since): nothing was written, ask again.
        raise Throttled(f"insert of {key!r}: the row kept being created and deleted under it")

    def _p_replace(self, key: str, doc: JSONDoc, version: str) -> Plan[str | None]:
        text, size = _sized(key, doc)
        expected = _version(version)
        if expected is None:
            return None
        params = {"key": key, "doc": text, "size": size, "version": expected}
        row = yield Query("replace", "replace", params)
        return None if row is None else str(row[0])

    def _p_get(self, key: str) -> Plan[Row | None]:
        row = yield Query("get", "get", {"key": key})
        return None if row is None else Row(_from_jsonb(row[0]), str(row[1]))

    def _p_get_many(self, keys: Iterable[str]) -> Plan[dict[str, Row]]:
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Row] = {}
        for start in range(0, len(wanted), BATCH_KEYS):
            chunk = wanted[start : start + BATCH_KEYS]
            rows = yield Query("get_many", "get_many", {"keys": chunk}, ALL)
            for key, text, version in rows:
                out[key] = Row(_from_jsonb(text), str(version))
        return out

    def _p_delete(self, key: str) -> Plan[None]:
        yield Query("delete", "delete", {"key": key}, NONE)

    def _p_append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> Plan[AppendOutcome]:
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
        outcome, length, dup, new_size = yield from self._p_write("append", key, params)
        if outcome == "duplicate":
            return Duplicate(int(dup[1]), int(dup[0]))
        if outcome == "full":
            return Full(int(length))
        if outcome == "too-large":
            raise too_large(key, int(new_size), POSTGRES_ROW_BYTES)
        if outcome == "not-a-list":
            raise InvalidValue(f"field {field!r} of row {key!r} holds something else than a list")
        return Appended(int(length) + k)

    def _p_increment(
        self, key: str, field: str, by: int = 1, expect: int | None = None
    ) -> Plan[int | None]:
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
        outcome, new, new_size = yield from self._p_write("increment", key, params)
        if outcome == "stale":
            return None
        if outcome == "too-large":
            raise too_large(key, int(new_size), POSTGRES_ROW_BYTES)
        if outcome == "not-a-number":
            raise InvalidValue(
                f"field {field!r} of row {key!r} holds something else than an integer"
            )
        return int(new)

    def _p_write(self, what: str, key: str, params: Mapping[str, Any]) -> Plan[tuple]:
        """The append or increment statement. When it decided to write but wrote nothing,
        a racing client created the row first: run it again, on that row."""
        for _ in range(_RERUNS):
            row = yield Query(what, what, params)
            if row is None:
                raise ContractViolation(f"{what} on {key!r}: the statement returned no row")
            *answer, written = row
            if answer[0] != "write" or written == 1:
                return tuple(answer)
        raise Throttled(f"{what} on {key!r}: the row kept being created and deleted under it")

    # --- entry rows (layout 2) -----------------------------------------------------------

    def _p_claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> Plan[ClaimOutcome]:
        self._need_entries("claim")
        cols = [_columns(list_id, e) for e in entries]
        params = {"list": list_id, "first": first, "end": _bound(first + len(cols))}
        params.update(_arrays(cols))
        for _ in range(_RERUNS):
            try:
                rows = yield Query("claim", "claim", params, ALL)
            except _Conflict:
                continue  # a racing claim took one of these positions after the snapshot
            if not rows:
                return Claimed()
            pos, *columns = rows[0]
            return Taken(pos, _entry(*columns))
        raise _contended("claim", list_id)

    def _p_push(self, list_id: str, entries: Sequence[JSONDoc], floor: int) -> Plan[Pushed]:
        self._need_entries("push")
        # An id repeated in the batch is written once, as its first entry, and answered
        # that one position.
        if len(entries) == 1:
            cols, where = [_columns(list_id, entries[0])], [0]
        else:
            index: dict[str, int] = {}
            cols, where = [], []
            for entry in entries:
                columns = _columns(list_id, entry)
                at = index.get(columns[0])
                if at is None:
                    at = index[columns[0]] = len(cols)
                    cols.append(columns)
                where.append(at)
        if len(cols) == 1:
            item_id, ts, v, rest = cols[0]
            params: dict[str, Any] = {
                "list": list_id,
                "id": item_id,
                "ts": ts,
                "v": v,
                "rest": rest,
                "floor": floor,
            }
            query = Query("push", "push_one", params)
        else:
            params = {"list": list_id, "floor": floor}
            params.update(_arrays(cols))
            query = Query("push", "push", params)
        for _ in range(_RERUNS):
            try:
                row = yield query
            except _Conflict as err:
                if _constraint(err) != self._ids_index:
                    # Claimed rows where the counter points: move it past them.
                    yield Query("push", "catch_up", {"list": list_id}, NONE)
                # Else a racing push of one of these ids committed after this statement's
                # snapshot. Either way nothing was written; the next run gets it right.
                continue
            positions = _pushed(list_id, row, cols)
            return Pushed(tuple(positions[i] for i in where))
        raise _contended("push", list_id)

    def _p_scan(
        self, list_id: str, lo: int, hi: int | None, limit: int, newest_first: bool
    ) -> Plan[tuple[Slot, ...]]:
        self._need_entries("scan")
        params = {
            "list": list_id,
            "lo": _bound(lo),
            "hi": _NO_END if hi is None else _bound(hi),
            "limit": min(limit, _MOST_ROWS),
        }
        rows = yield Query("scan", "scan_desc" if newest_first else "scan_asc", params, ALL)
        return _slots(rows)

    def _p_scan_many(self, scans: Sequence[Scan]) -> Plan[tuple[tuple[Slot, ...], ...]]:
        self._need_entries("scan_many")
        scans = tuple(scans)
        if not scans:
            return ()
        params = _ranges(scans)
        params["newest"] = [s.newest_first for s in scans]
        rows = yield Query("scan_many", "scan_many", params, ALL)
        # The statement orders its rows by scan, then as each scan asked: each scan's rows
        # are one run, taken apart without a Python statement per row.
        out: list[tuple[Slot, ...]] = [()] * len(scans)
        for ord_, run in itertools.groupby(rows, _SCAN_ORD):
            out[ord_ - 1] = _slots(map(_SCAN_COLUMNS, run))
        return tuple(out)

    def _p_merge_scan(
        self,
        scans: Sequence[Scan],
        n: int,
        fresh: Sequence[str] = (),
        last: tuple[int, str, int] | None = None,
    ) -> Plan[tuple[Merged, ...]]:
        self._need_entries("merge_scan")
        scans = tuple(scans)
        if not scans:
            return ()
        rank = {lid: r for r, lid in enumerate(sorted({s.list_id for s in scans}))}
        if last is None:
            bounds = [_ALL_BELOW] * len(scans)
        else:
            cut = set(fresh)
            bounds = [_below(s.list_id, last) if s.list_id in cut else _ALL_BELOW for s in scans]
        params = _ranges(scans)
        params.update(
            ranks=[rank[s.list_id] for s in scans],
            lts=[b[0] for b in bounds],
            lpos=[b[1] for b in bounds],
            n=_bound(n),
            cap=_bound(n + len(scans)),
        )
        rows = yield Query("merge_scan", "merge_scan", params, ALL)
        out = [_NOTHING_MERGED] * len(scans)
        # Each scan's rows (a scan without any has none): its picks newest first, then
        # its run's last row, with the counts, and its entry's columns if it is a pick.
        for ord_, run in itertools.groupby(rows, _SCAN_ORD):
            *picks, tail = run
            _, _, item_id, _, _, _, more, live = tail
            if live is None:
                # A ts that is not a 64-bit integer lives in rest: merge those in Python.
                answers = yield from self._p_scan_many(scans)
                return merge_answer(scans, answers, n, fresh, last)
            if item_id is not None:
                picks.append(tail)
            out[ord_ - 1] = Merged(_slots(map(_SCAN_COLUMNS, picks)), live, more)
        return tuple(out)

    def _p_get_entry(self, list_id: str, position: int) -> Plan[Row | None]:
        self._need_entries("get_entry")
        params = {"list": list_id, "pos": _bound(position)}
        row = yield Query("get_entry", "get_entry", params)
        if row is None:
            return None
        *columns, version = row
        return Row(_entry(*columns), str(version))

    def _p_replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> Plan[str | None]:
        self._need_entries("replace_entry")
        item_id, ts, v, rest = _columns(list_id, entry)
        expected = _version(version)
        if expected is None:
            return None
        extra = json.loads(rest) if rest is not None else {}
        extra["id"] = entry["id"]
        params = {"list": list_id, "pos": _bound(position), "version": expected, "id": item_id}
        params.update(ts=ts, v=v, rest=rest, rest_id=compact_json(extra))
        row = yield Query("replace_entry", "replace_entry", params)
        return None if row is None else str(row[0])

    def _p_purge(self, list_id: str, below: int, what: str = "purge") -> Plan[None]:
        self._need_entries(what)
        params = {"list": list_id, "below": _bound(below), "chunk": PURGE_ROWS}
        while True:
            (gone,) = yield Query(what, "purge", params)
            if gone < PURGE_ROWS:
                return

    def _p_drop_entries(self, list_id: str) -> Plan[None]:
        # The rows in bounded statements first, then the counter (and anything pushed
        # meanwhile) in one.
        yield from self._p_purge(list_id, _NO_END, "drop_entries")
        yield Query("drop_entries", "drop_entries", {"list": list_id}, NONE)

    def _p_find_id(self, list_id: str, item_id: str) -> Plan[int | None]:
        self._need_entries("find_id")
        row = yield Query("find_id", "find_id", {"list": list_id, "id": _stored(item_id)})
        return None if row is None else row[0]


def _pushed(list_id: str, row: tuple, cols: Sequence[Columns]) -> list[int]:
    """The position of each distinct entry of a push, from the statement's answer (the
    counter's upsert always answers a row, so a push that met no error took its
    positions)."""
    if len(cols) == 1:
        known, new = row
        if known is not None:
            return [known]
        if new is None:
            raise ContractViolation(f"push to list {list_id!r} took no position")
        return [new]
    first, inserted, known_ids, known_positions = row
    known = dict(zip(known_ids, known_positions, strict=True))
    fresh = len(cols) - len(known)
    if fresh and first is None:
        raise ContractViolation(f"push to list {list_id!r} took no position")
    if inserted != fresh:
        raise ContractViolation(
            f"push to list {list_id!r} wrote {inserted} of its {fresh} new entries"
        )
    positions = []
    nxt = first
    for columns in cols:
        if columns[0] in known:
            positions.append(known[columns[0]])
        else:
            positions.append(nxt)
            nxt += 1
    return positions


# --- the stores ----------------------------------------------------------------------------


def _fetch(cursor: Any, rows: str) -> Any:
    if rows == ONE:
        return cursor.fetchone()
    if rows == ALL:
        return cursor.fetchall()
    return None


async def _afetch(cursor: Any, rows: str) -> Any:
    if rows == ONE:
        return await cursor.fetchone()
    if rows == ALL:
        return await cursor.fetchall()
    return None


def _routed(url: str, route: Callable[[str, int], tuple[str, int]]) -> Target:
    """``url``'s target with its connections made to ``route(host, port)`` instead."""
    target = parse_url(url)
    if target.host is None:
        raise ConfigError(f"{target.describe()} names no host to route: give one")
    if target.sslmode in ("verify-ca", "verify-full"):
        raise ConfigError(
            f"{target.describe()} checks the server's certificate, which a loopback "
            "proxy cannot pass: route a URL with another sslmode"
        )
    host, port = route(target.host, target.port or 5432)
    return dataclasses.replace(target, host=host, port=port)


def _pool_options(target: Target, flavour: str, configure: Callable[..., Any]) -> dict[str, Any]:
    """The pool's settings, for either adapter: autocommit connections (every call is its
    own transaction), at most ``?pool=`` of them, opened by the caller."""
    return {
        "conninfo": target.conninfo(),
        "kwargs": {"autocommit": True},
        "min_size": 1,
        "max_size": target.pool,
        "num_workers": 1,
        "open": False,
        "name": f"pagedlist-{flavour}{target.table_name()}",
        "configure": configure,
    }


def _ready_within(target: Target) -> float:
    """Seconds a new store waits for its pool's first connection.

    The pool is opened with that connection ready: a call that finds the pool empty makes
    it grow, so a store whose first call came before its first connection kept two for
    good, and the pool (first in, first out) then hands a one-thread client each of them
    in turn, every call on a connection whose buffers and caches went cold meanwhile
    (measured: ~30 us more client CPU per call than on one connection).
    """
    return float(target.connect_timeout) + _GRACE


def _pool_not_ready(target: Target) -> StoreUnavailable:
    return StoreUnavailable(
        f"PostgreSQL at {target.host or target.service}:{target.port or 5432}: the pool's "
        f"first connection was not ready within {_ready_within(target):g} s (the server "
        "answered a moment before)"
    )


def _configure(conn: psycopg.Connection) -> None:
    conn.execute(_SESSION)


async def _aconfigure(conn: psycopg.AsyncConnection) -> None:
    await conn.execute(_SESSION)


@tallied
class PostgresStore(_Plans, Store):
    """Rows and entry rows in PostgreSQL tables, through a psycopg connection pool."""

    scheme = "postgresql"

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """Open ``postgresql://[user@]host[:port]/database[?table=...]``: connect once (a
        failure raises at once, naming the fix), create the tables if missing, start the
        pool."""
        return cls(parse_url(url))

    @classmethod
    def through(cls, url: str, route: Callable[[str, int], tuple[str, int]]) -> PostgresStore:
        """Open ``url`` with its connections made to ``route(host, port)`` instead (the
        conformance suite's fault proxy, clause W1). ``ConfigError`` for a service URL (its
        host is in a file) and for ``sslmode=verify-ca|verify-full`` (a certificate names
        the server, not a loopback proxy)."""
        return cls(_routed(url, route))

    @classmethod
    def provision(cls, url: str) -> str:
        """Create the tables if missing (``pagedlist init URL``); say what was done."""
        return _provision(parse_url(url))

    def __init__(self, target: Target) -> None:
        self._setup(target, _open(target))
        self._pool = psycopg_pool.ConnectionPool(**_pool_options(target, "", _configure))
        try:
            self._pool.open(wait=True, timeout=_ready_within(target))
        except psycopg_pool.PoolTimeout as err:
            raise _pool_not_ready(target) from err

    # --- sending a query -----------------------------------------------------------------

    def _drive(self, plan: Plan[T]) -> T:
        step = _Step(plan)
        while step.query is not None:
            step.take(self._attempt(step.query))
        return step.result

    def _attempt(self, query: Query) -> Any:
        try:
            return self._send(query)
        except PagedListError as err:
            return err

    def _send(self, query: Query) -> Any:
        """Run ``query`` on a pooled connection within the operation's deadline, mapping
        every psycopg error onto pagedlist's."""
        what = query.what
        budget = _budget(what, self._target.timeout)
        try:
            conn, left = self._take(budget)
            try:
                return self._run_on(conn, query, left)
            finally:
                self._pool.putconn(conn)
        except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as err:
            failure, broken = self._failure(what, budget, err)
            if broken:
                with contextlib.suppress(Exception):
                    self._pool.drain()
            raise failure from err

    def _take(self, budget: float) -> tuple[psycopg.Connection, float]:
        """A pooled connection that is not known dead, and the seconds left. An idle
        connection whose socket is readable was closed by the server (a restart, an idle
        timeout, a terminated session: nothing else is sent to an idle client that never
        LISTENs), so it is dropped before anything is sent on it, and another one taken."""
        end = time.monotonic() + budget
        for _ in range(self._target.pool + 1):
            conn = self._pool.getconn(timeout=max(0.001, end - time.monotonic()))
            if not _readable(conn):
                return conn, end - time.monotonic()
            conn.close()
            self._pool.putconn(conn)
        raise _all_closed(self._where())

    def _run_on(self, conn: psycopg.Connection, query: Query, budget: float) -> Any:
        # Armed before the first byte is sent: setting statement_timeout is a round trip
        # too, and a silent server would hold it as long as any other.
        token, fired = _WATCHDOG.arm(conn, time.monotonic() + budget + _GRACE)
        try:
            ms, fresh = _ahead(conn, query.name, budget)
            sql = self._sql[query.name]
            cursor = _cursor(conn)
            if ms is None and not fresh:
                cursor.execute(sql, query.params)
            else:
                with conn.pipeline():  # what must go first, in the same round trip
                    if ms is not None:
                        conn.execute(_SET_TIMEOUT, [f"{ms}ms"])
                    cursor.execute(sql, query.params, prepare=True)
            answer = _fetch(cursor, query.rows)
            _ready(conn, query.name, ms)
        except psycopg.Error as err:
            _WATCHDOG.disarm(token)
            if fired[0]:
                raise _cut_off(query.what, self._where(), budget + _GRACE) from err
            raise
        _WATCHDOG.disarm(token)
        if fired[0]:
            conn.close()  # the answer came, but the socket is cut: discard it
        return answer

    # --- rows ------------------------------------------------------------------------------

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING version``."""
        return self._drive(self._p_put_if_absent(key, doc))

    def insert(self, key: str, doc: JSONDoc) -> Row | None:
        """One statement: the ``INSERT ... ON CONFLICT DO NOTHING``, or the row it met."""
        return self._drive(self._p_insert(key, doc))

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """``UPDATE ... WHERE key = $k AND version = $v RETURNING version``."""
        return self._drive(self._p_replace(key, doc, version))

    def get(self, key: str) -> Row | None:
        """``SELECT doc, version ... WHERE key = $k``."""
        return self._drive(self._p_get(key))

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """``SELECT ... WHERE key = ANY($keys)``, ``BATCH_KEYS`` keys per statement."""
        return self._drive(self._p_get_many(keys))

    def delete(self, key: str) -> None:
        """``DELETE ... WHERE key = $k``."""
        return self._drive(self._p_delete(key))

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """One statement: lock the row, check ids, length and size in SQL, then append."""
        return self._drive(self._p_append(key, field, entries, max_len))

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """One statement: lock the row, compare with ``expect`` and size in SQL, then add."""
        return self._drive(self._p_increment(key, field, by, expect))

    # --- entry rows ------------------------------------------------------------------------

    def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """One statement: the range's lowest taken row, or all the entries inserted."""
        return self._drive(self._p_claim(list_id, first, entries))

    def push(self, list_id: str, entries: Sequence[JSONDoc], floor: int = 0) -> Pushed:
        """One statement: known ids looked up, the tail counter bumped, the rest inserted."""
        return self._drive(self._p_push(list_id, entries, floor))

    def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """``SELECT ... WHERE list = $l AND pos >= $lo AND pos < $hi ORDER BY pos LIMIT``."""
        return self._drive(self._p_scan(list_id, lo, hi, limit, newest_first))

    def scan_many(self, scans: Sequence[Scan]) -> tuple[tuple[Slot, ...], ...]:
        """Every scan in one statement (a ``LATERAL`` range read per scan)."""
        return self._drive(self._p_scan_many(scans))

    def merge_scan(
        self,
        scans: Sequence[Scan],
        n: int,
        fresh: Sequence[str] = (),
        last: tuple[int, str, int] | None = None,
    ) -> tuple[Merged, ...]:
        """One statement that merges the scans on the server and returns only the merge's
        first ``n`` rows, with each scan's counts (``_MERGE_SCAN``)."""
        return self._drive(self._p_merge_scan(scans, n, fresh, last))

    def get_entry(self, list_id: str, position: int) -> Row | None:
        """``SELECT ... WHERE list = $l AND pos = $p``."""
        return self._drive(self._p_get_entry(list_id, position))

    def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """``UPDATE ... WHERE list = $l AND pos = $p AND version = $v RETURNING version``."""
        return self._drive(self._p_replace_entry(list_id, position, entry, version))

    def purge(self, list_id: str, below: int) -> None:
        """``DELETE ... WHERE list = $l AND pos < $below``, ``PURGE_ROWS`` rows per
        statement (the tail counter stays)."""
        return self._drive(self._p_purge(list_id, below))

    def drop_entries(self, list_id: str) -> None:
        """The list's entry rows (``PURGE_ROWS`` per statement), then its tail counter."""
        return self._drive(self._p_drop_entries(list_id))

    def find_id(self, list_id: str, item_id: str) -> int | None:
        """The id index: ``SELECT pos ... WHERE list = $l AND pushed AND id = $id``."""
        return self._drive(self._p_find_id(list_id, item_id))

    def close(self) -> None:
        """Close the pool and its connections."""
        self._pool.close(timeout=5)


@tallied
class AsyncPostgresStore(_Plans, AsyncStore):
    """The asyncio adapter: :class:`PostgresStore`'s statements, parameters and parsers,
    sent through a psycopg ``AsyncConnectionPool``. A loop timer stands in for the
    watchdog thread: it cuts a connection whose server fell silent past the deadline."""

    scheme = "postgresql"

    @classmethod
    async def from_url(cls, url: str) -> AsyncPostgresStore:
        """Open ``url`` as :meth:`PostgresStore.from_url` does (the first connection and
        the tables are checked in a thread), then start the async pool."""
        return await cls._opened(parse_url(url))

    @classmethod
    async def through(
        cls, url: str, route: Callable[[str, int], tuple[str, int]]
    ) -> AsyncPostgresStore:
        """:meth:`PostgresStore.through` for asyncio (the fault proxy, clause W1)."""
        return await cls._opened(_routed(url, route))

    @classmethod
    async def _opened(cls, target: Target) -> AsyncPostgresStore:
        store = cls(target, await asyncio.to_thread(_open, target))
        try:
            await store._pool.open(wait=True, timeout=_ready_within(target))
        except psycopg_pool.PoolTimeout as err:
            raise _pool_not_ready(target) from err
        return store

    def __init__(self, target: Target, opened: _Opened) -> None:
        self._setup(target, opened)
        self._pool = psycopg_pool.AsyncConnectionPool(
            **_pool_options(target, "async-", _aconfigure)
        )

    # --- sending a query -----------------------------------------------------------------

    async def _drive(self, plan: Plan[T]) -> T:
        step = _Step(plan)
        while step.query is not None:
            step.take(await self._attempt(step.query))
        return step.result

    async def _attempt(self, query: Query) -> Any:
        try:
            return await self._send(query)
        except PagedListError as err:
            return err

    async def _send(self, query: Query) -> Any:
        """:meth:`PostgresStore._send` on the event loop."""
        what = query.what
        budget = _budget(what, self._target.timeout)
        try:
            conn, left = await self._take(budget)
            try:
                return await self._run_on(conn, query, left)
            finally:
                await self._pool.putconn(conn)
        except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as err:
            failure, broken = self._failure(what, budget, err)
            if broken:
                with contextlib.suppress(Exception):
                    await self._pool.drain()
            raise failure from err

    async def _take(self, budget: float) -> tuple[psycopg.AsyncConnection, float]:
        """:meth:`PostgresStore._take` on the event loop."""
        end = time.monotonic() + budget
        for _ in range(self._target.pool + 1):
            conn = await self._pool.getconn(timeout=max(0.001, end - time.monotonic()))
            if not _readable(conn):
                return conn, end - time.monotonic()
            await conn.close()
            await self._pool.putconn(conn)
        raise _all_closed(self._where())

    async def _run_on(self, conn: psycopg.AsyncConnection, query: Query, budget: float) -> Any:
        # The watchdog of the event loop: a timer that cuts the connection off.
        fired = [False]
        timer = asyncio.get_running_loop().call_later(budget + _GRACE, _fire, conn, fired)
        try:
            ms, fresh = _ahead(conn, query.name, budget)
            sql = self._sql[query.name]
            cursor = _cursor(conn)
            if ms is None and not fresh:
                await cursor.execute(sql, query.params)
            else:
                async with conn.pipeline():  # what must go first, in the same round trip
                    if ms is not None:
                        await conn.execute(_SET_TIMEOUT, [f"{ms}ms"])
                    await cursor.execute(sql, query.params, prepare=True)
            answer = await _afetch(cursor, query.rows)
            _ready(conn, query.name, ms)
        except psycopg.Error as err:
            if fired[0]:
                raise _cut_off(query.what, self._where(), budget + _GRACE) from err
            raise
        finally:
            timer.cancel()
        if fired[0]:
            await conn.close()
        return answer

    # --- rows ------------------------------------------------------------------------------

    async def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """See :meth:`PostgresStore.put_if_absent`."""
        return await self._drive(self._p_put_if_absent(key, doc))

    async def insert(self, key: str, doc: JSONDoc) -> Row | None:
        """See :meth:`PostgresStore.insert`."""
        return await self._drive(self._p_insert(key, doc))

    async def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """See :meth:`PostgresStore.replace`."""
        return await self._drive(self._p_replace(key, doc, version))

    async def get(self, key: str) -> Row | None:
        """See :meth:`PostgresStore.get`."""
        return await self._drive(self._p_get(key))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """See :meth:`PostgresStore.get_many`."""
        return await self._drive(self._p_get_many(keys))

    async def delete(self, key: str) -> None:
        """See :meth:`PostgresStore.delete`."""
        return await self._drive(self._p_delete(key))

    async def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """See :meth:`PostgresStore.append`."""
        return await self._drive(self._p_append(key, field, entries, max_len))

    async def increment(
        self, key: str, field: str, by: int = 1, expect: int | None = None
    ) -> int | None:
        """See :meth:`PostgresStore.increment`."""
        return await self._drive(self._p_increment(key, field, by, expect))

    # --- entry rows ------------------------------------------------------------------------

    async def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """See :meth:`PostgresStore.claim`."""
        return await self._drive(self._p_claim(list_id, first, entries))

    async def push(self, list_id: str, entries: Sequence[JSONDoc], floor: int = 0) -> Pushed:
        """See :meth:`PostgresStore.push`."""
        return await self._drive(self._p_push(list_id, entries, floor))

    async def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """See :meth:`PostgresStore.scan`."""
        return await self._drive(self._p_scan(list_id, lo, hi, limit, newest_first))

    async def scan_many(self, scans: Sequence[Scan]) -> tuple[tuple[Slot, ...], ...]:
        """See :meth:`PostgresStore.scan_many` (one statement, not one per scan)."""
        return await self._drive(self._p_scan_many(scans))

    async def merge_scan(
        self,
        scans: Sequence[Scan],
        n: int,
        fresh: Sequence[str] = (),
        last: tuple[int, str, int] | None = None,
    ) -> tuple[Merged, ...]:
        """See :meth:`PostgresStore.merge_scan` (one statement)."""
        return await self._drive(self._p_merge_scan(scans, n, fresh, last))

    async def get_entry(self, list_id: str, position: int) -> Row | None:
        """See :meth:`PostgresStore.get_entry`."""
        return await self._drive(self._p_get_entry(list_id, position))

    async def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """See :meth:`PostgresStore.replace_entry`."""
        return await self._drive(self._p_replace_entry(list_id, position, entry, version))

    async def purge(self, list_id: str, below: int) -> None:
        """See :meth:`PostgresStore.purge`."""
        return await self._drive(self._p_purge(list_id, below))

    async def drop_entries(self, list_id: str) -> None:
        """See :meth:`PostgresStore.drop_entries`."""
        return await self._drive(self._p_drop_entries(list_id))

    async def find_id(self, list_id: str, item_id: str) -> int | None:
        """See :meth:`PostgresStore.find_id`."""
        return await self._drive(self._p_find_id(list_id, item_id))

    async def aclose(self) -> None:
        """Close the pool and its connections."""
        await self._pool.close(timeout=5)


# --- opening -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Opened:
    """What opening learned: the server's version, the statements composed for this
    target's tables, and why layout 2 is unavailable (``None`` when it is available)."""

    server: int
    statements: dict[str, str]
    entries_missing: str | None


def _open(target: Target) -> _Opened:
    """Connect once, directly, create or check the tables, compose the statements."""
    with _probe(target) as conn:
        _, missing = _ensure_tables(conn, target)
        server = conn.info.server_version
        # Composed once into plain text: psycopg caches the parsing of a query string,
        # and a Composed would be quoted again on every call.
        names = {
            "{t}": target.identifier().as_string(conn),
            "{e}": target.identifier("_entries").as_string(conn),
            "{tails}": target.identifier("_tails").as_string(conn),
        }
    statements = {}
    for name, text in _STATEMENTS.items():
        for placeholder, identifier in names.items():
            text = text.replace(placeholder, identifier)
        statements[name] = text
    return _Opened(server, statements, missing)


def _provision(target: Target) -> str:
    with _probe(target) as conn:
        created, missing = _ensure_tables(conn, target)
    if missing:
        raise ConfigError(f"cannot make {target.table_name()} hold layout 2: {missing}")
    names = [target.table_name(s) for s in ("", "_entries", "_tails")]
    if not created:
        return f"tables {target.tables()} already exist"
    if len(created) == len(names):
        return f"created tables {target.tables()}"
    kept = [n for n in names if n not in created]
    return f"created {', '.join(created)}; {', '.join(kept)} already existed"


@contextlib.contextmanager
def _probe(target: Target) -> Iterator[psycopg.Connection]:
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
                f"this role SELECT, INSERT, UPDATE, DELETE on {target.tables()}"
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


def _missing(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", [name]).fetchone()
    return row is None or row[0] is None


def _check_columns(
    conn: psycopg.Connection, target: Target, suffix: str, expected: Mapping[str, str]
) -> None:
    name = target.identifier(suffix).as_string(conn)
    columns: dict[str, str] = dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            [name],
        ).fetchall()
    )
    if any(columns.get(col) != kind for col, kind in expected.items()):
        raise ConfigError(
            f"table {target.table_name(suffix)} exists but is not a pagedlist table (columns "
            f"{', '.join(f'{c} {k}' for c, k in columns.items())}); name another with ?table="
        )


def _ensure_tables(conn: psycopg.Connection, target: Target) -> tuple[list[str], str | None]:
    """Create the tables that are missing (serialized by an advisory lock, since racing
    ``CREATE TABLE IF NOT EXISTS`` can fail); check present ones are pagedlist's. Returns
    the tables created and why the entry tables are unavailable (``None``: they are).

    The rows table is required: a role that cannot create it gets a ``ConfigError``. The
    entry tables are not: a table made by pagedlist 0.1, opened by a role that may not
    create tables, keeps serving (every list in layout 1) until ``pagedlist init`` adds
    them."""
    created: list[str] = []
    lock = f"pagedlist {target.identifier().as_string(conn)}"
    rows = target.identifier().as_string(conn)
    if _missing(conn, rows):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [lock])
            if _missing(conn, rows):
                conn.execute(sql.SQL(_DDL).format(t=target.identifier()))
                created.append(target.table_name())
    _check_columns(conn, target, "", _COLUMNS)
    longest = target.table + "_entries_pkey"
    if len(longest.encode()) > _NAME_BYTES:
        return created, (
            f"the table name {target.table!r} is too long for its entry tables' names "
            f"({longest!r} is over PostgreSQL's {_NAME_BYTES} bytes): name a table of at "
            f"most {_NAME_BYTES - len('_entries_pkey')} characters with ?table="
        )
    entries, tails = (target.identifier(s).as_string(conn) for s in ("_entries", "_tails"))
    if _missing(conn, entries) or _missing(conn, tails):
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [lock])
                fresh = [
                    target.table_name(suffix)
                    for name, suffix in ((entries, "_entries"), (tails, "_tails"))
                    if _missing(conn, name)
                ]
                for statement in _ENTRIES_DDL.split(";"):
                    conn.execute(
                        sql.SQL(statement).format(
                            e=target.identifier("_entries"),
                            tails=target.identifier("_tails"),
                            e_pkey=sql.Identifier(target.table + "_entries_pkey"),
                            e_ids=sql.Identifier(target.table + "_entries_ids"),
                        )
                    )
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.InvalidSchemaName) as err:
            return created, (
                f"the role may not create {target.table_name('_entries')} and "
                f"{target.table_name('_tails')} ({_primary(err)}): run `pagedlist init URL` "
                "as a role that may, then grant this role SELECT, INSERT, UPDATE, DELETE on "
                f"{target.tables()}; until then every new list uses layout 1"
            )
        created += fresh
    _check_columns(conn, target, "_entries", _ENTRY_COLUMNS)
    _check_columns(conn, target, "_tails", _TAIL_COLUMNS)
    return created, None
