"""Redis store, standalone or Cluster, through redis-py (sync and asyncio).

URLs::

    redis://[[user]:password@]host[:port][/db][?timeout=SECONDS]
    rediss://[[user]:password@]host[:port][/db][?timeout=...&ssl_ca_certs=PATH&ssl_cert_reqs=...]
    redis+cluster://[[user]:password@]host:port[,host:port...][?timeout=...&ssl=true]

**Rows** (the row protocol: summaries, id records, the page rows of layout 1): one Redis
hash per row key, so every row primitive touches exactly one key and is valid in Redis
Cluster. Hash fields::

    v             the row version (random token, new on every write)
    z             the row's size as ``row_size`` counts it (key + compact JSON text)
    c             how many top-level fields the document has
    m             how many list slots were ever allocated in this row
    s:NAME        top-level field NAME whose value is not a list: its compact JSON text
    f:NAME        top-level list field NAME: its slot number K
    K:n           length of list K
    K:e:I         entry I (0-based) of list K: its compact JSON text
    K:i:ID        index of the entry of list K whose "id" is ID (the last one, if several)

**Entry rows** (layout 2): two keys per list, both hash-tagged ``{LIST}`` so they share
one Cluster slot and one script can touch them together::

    {LIST}|e      sorted set: one member per position, score = position, member =
                  "POS␟VERSION␟TS␟EDITED␟FLAGS␟VALUE␟ID" (␟ = \\x1f)
    {LIST}|x      hash: "=ID" -> position for every id (the list-wide id index of
                  ``push``), and "t" -> the next position ``push`` takes (never decreases)

A member is the entry as text, not JSON: the value is already JSON text (which holds no
control character, so never ␟) and is kept as is, the id comes last (it may hold any
character), and a read turns members into entries with one ``str.split`` each — no JSON
is decoded or re-escaped. An entry of another shape than the core's is kept as its JSON
text (flag ``J``), so every entry comes back exactly. Reads are native commands
(``ZREVRANGEBYSCORE``/``ZRANGEBYSCORE ... LIMIT``: one round trip, no script); ``push``
and ``claim`` are scripts that resolve the tail, check the id index and write in one
``EVALSHA``.

Every write is a Lua script (atomic on the server, no client-side read-modify-write). The
scripts never decode JSON (Lua's cjson turns ``[]`` into ``{}`` and rounds integers above
2**53): Python serializes, Lua only moves text and counts bytes.

Each call is planned once, as a generator that yields requests and receives replies
(:class:`_Plans`); :class:`RedisStore` performs them with redis-py's blocking client and
:class:`AsyncRedisStore` with ``redis.asyncio``, so the two share every script, codec and
error rule and differ only in how a request is sent. On a standalone server the blocking
store sends scripts and range reads itself, framed in one piece, on the client's pooled
connections (:meth:`RedisStore._direct`): an append's arguments are bytes encoded once by
the plan, and most of redis-py's per-command path is skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import inspect
import json
import threading
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar
from urllib.parse import unquote

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.exceptions as rex
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from pagedlist.adapters._toolkit import (
    ErrorTable,
    Rule,
    UrlOptions,
    class_keys,
    host_port,
    new_version,
    not_a_list,
    not_an_integer,
    tallied,
)
from pagedlist.core.astore import AsyncStore
from pagedlist.core.deadline import remaining
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
from pagedlist.core.store import Store, compact_json, too_large
from pagedlist.errors import (
    ConfigError,
    ContractViolation,
    DeadlineExceeded,
    InvalidValue,
    StoreUnavailable,
    Throttled,
)

__all__ = [
    "ERRORS",
    "REDIS_KEY_BYTES",
    "REDIS_ROW_BYTES",
    "AsyncRedisStore",
    "RedisStore",
    "RedisTarget",
    "entry_keys",
    "parse_url",
]

T = TypeVar("T")
S = TypeVar("S", str, bytes)

# Redis takes strings up to 512 MB; rows are capped like the other stores' so a list
# created here gets the capacity it would get on DynamoDB, and a read never moves a huge
# hash. Enforced inside the scripts (append, increment) and before them (put, replace);
# an entry row (layout 2) is capped at the same size, counted on its stored member.
REDIS_ROW_BYTES = 400 * 1024
# Redis keys may be 512 MB; 1 KiB keeps keys cheap to hash and matches SQLite's choice.
REDIS_KEY_BYTES = 1024
# Keys per pipelined round trip of get_many: bounds one reply's size (rows up to 400 KiB).
_PIPELINE_KEYS = 64
# HSET arguments per call inside the scripts: far below Lua's unpack() stack limit.
_HSET_CHUNK = 200
# Entry rows one purge script removes: bounds the time one call holds the server (about
# a millisecond), however long the list; purge() repeats it until nothing is left.
_PURGE_BATCH = 500
# Most entries one claim writes atomically (one script, so any number would do; the core
# never claims on a store with push, this only bounds one script's run).
_CLAIM_ENTRIES = 500
DEFAULT_TIMEOUT = 5.0

_WHAT = "Redis store URL"
_FORMS = (
    "redis://[:password@]host:port[/db], rediss://[:password@]host:port[/db] (TLS) or "
    "redis+cluster://[:password@]host:port[,host:port...]"
)


class _Lua(NamedTuple):
    """A script and its SHA-1, which ``EVALSHA`` names it by (as bytes: redis-py sends
    bytes as they are, and encodes every ``str`` argument of every call)."""

    text: str
    sha: bytes


def _lua(text: str) -> _Lua:
    return _Lua(text, hashlib.sha1(text.encode("utf-8")).hexdigest().encode("ascii"))


# --- row scripts: each reads and writes KEYS[1] only -------------------------------------

# ARGV: field/value pairs of the whole hash.
_PUT = _lua(f"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 1, #ARGV, {_HSET_CHUNK} do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + {_HSET_CHUNK - 1}, #ARGV)))
end
return 1
""")

# ARGV: field/value pairs of the whole hash. The existing hash, or nil once created.
_INSERT = _lua(f"""
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HGETALL', KEYS[1]) end
for i = 1, #ARGV, {_HSET_CHUNK} do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + {_HSET_CHUNK - 1}, #ARGV)))
end
return false
""")

# ARGV[1]: expected version; ARGV[2..]: field/value pairs of the whole new hash.
_REPLACE = _lua(f"""
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 2, #ARGV, {_HSET_CHUNK} do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + {_HSET_CHUNK - 1}, #ARGV)))
end
return 1
""")

# ARGV: field, max_len, row limit, new version, byte length of the field name's JSON text,
# k, then k ids, then k entry JSON texts. Order of checks: duplicate, full, size.
_APPEND = _lua("""
local key = KEYS[1]
local name = ARGV[1]
local max_len = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local version = ARGV[4]
local klen = tonumber(ARGV[5])
local k = tonumber(ARGV[6])
local scalar = redis.call('HGET', key, 's:' .. name)
if scalar then return {'notlist', scalar} end
local slot = redis.call('HGET', key, 'f:' .. name)
local n = 0
if slot then
  n = tonumber(redis.call('HGET', key, slot .. ':n'))
  for j = 1, k do
    local at = redis.call('HGET', key, slot .. ':i:' .. ARGV[6 + j])
    if at then return {'dup', tonumber(at), j - 1} end
  end
end
if n + k > max_len then return {'full', n} end
-- size of the row as compact JSON: a missing row is its key plus '{}'
local z = tonumber(redis.call('HGET', key, 'z') or (#key + 2))
local grow = 0
for j = 1, k do grow = grow + #ARGV[6 + k + j] end
if n > 0 then grow = grow + k elseif k > 0 then grow = grow + k - 1 end
if not slot then
  -- a new field adds '"name":[]' and, unless it is the first field, a comma
  local c = tonumber(redis.call('HGET', key, 'c') or '0')
  grow = grow + klen + 3
  if c > 0 then grow = grow + 1 end
end
if z + grow > limit then return {'big', z + grow} end
if not slot then
  slot = tostring(redis.call('HINCRBY', key, 'm', 1))
  redis.call('HSET', key, 'f:' .. name, slot)
  redis.call('HINCRBY', key, 'c', 1)
end
for j = 1, k do
  local at = n + j - 1
  redis.call('HSET', key, slot .. ':e:' .. at, ARGV[6 + k + j])
  redis.call('HSET', key, slot .. ':i:' .. ARGV[6 + j], at)
end
redis.call('HSET', key, slot .. ':n', n + k, 'z', z + grow, 'v', version)
return {'ok', n + k}
""")

# ARGV: field, by, expect ('' for none), new version, byte length of the field name's JSON
# text, row limit. HINCRBY does the arithmetic in 64-bit integers (Lua numbers are doubles).
_INCREMENT = _lua("""
local key = KEYS[1]
local name = 's:' .. ARGV[1]
local expect = ARGV[3]
local klen = tonumber(ARGV[5])
local limit = tonumber(ARGV[6])
if redis.call('HEXISTS', key, 'f:' .. ARGV[1]) == 1 then return {'notint'} end
local cur = redis.call('HGET', key, name)
if cur and not string.match(cur, '^%-?%d+$') then return {'notint', cur} end
if expect ~= '' and (cur or '0') ~= expect then return {'nomatch'} end
local z = tonumber(redis.call('HGET', key, 'z') or (#key + 2))
local c = tonumber(redis.call('HGET', key, 'c') or '0')
local done = redis.pcall('HINCRBY', key, name, ARGV[2])
if type(done) == 'table' and done.err then return {'overflow'} end
local text = redis.call('HGET', key, name)
local size
if cur then
  size = z - #cur + #text
else
  size = z + klen + 1 + #text
  if c > 0 then size = size + 1 end
end
if size > limit then
  if cur then redis.call('HSET', key, name, cur) else redis.call('HDEL', key, name) end
  return {'big', size}
end
if not cur then redis.call('HSET', key, 'c', c + 1) end
redis.call('HSET', key, 'z', size, 'v', ARGV[4])
return {'ok', text}
""")

# --- entry scripts (layout 2): KEYS are one list's {LIST}|e and {LIST}|x (one slot) ----
#
# The index hash {LIST}|x holds "=" .. id -> position for every id, and the tail under
# "t": one HMGET reads the tail and looks every id of a push up at once, and one HSET
# writes the new ids and the tail, so a push runs three commands whatever its size (a
# command run from Lua costs about as much as a small command sent by a client).
# Positions are Lua numbers (doubles): exact up to 2**53, written with '%d' (member
# prefixes) or Redis's own '%.17g' conversion (scores, index values), both exact there.

_BATCHED = """
local function batched(cmd, key, list)
  local out = {}
  for i = 1, #list, 200 do
    local part = redis.call(cmd, key, unpack(list, i, math.min(i + 199, #list)))
    if type(part) == 'table' then
      for _, v in ipairs(part) do out[#out + 1] = v end
    end
  end
  return out
end
"""

# KEYS: e, x. ARGV: floor, then k index fields ("=" .. id), then k members without their
# "POS␟" prefix (k is (#ARGV - 1) / 2: no count to send). An entry whose id the index (or
# this batch) holds answers that position; the others take the tail, raised to the floor,
# in order. Answers the k positions; a push of one entry (every append) answers its
# position alone, and takes a path of three plain commands that builds no tables: the
# script's own work is most of what an append costs the server.
_PUSH = _lua(
    _BATCHED
    + """
local floor = tonumber(ARGV[1])
if #ARGV == 3 then
  local got = redis.call('HMGET', KEYS[2], 't', ARGV[2])
  if got[2] then return tonumber(got[2]) end
  local tail = tonumber(got[1] or '0')
  if floor > tail then tail = floor end
  local at = string.format('%d', tail)
  redis.call('ZADD', KEYS[1], at, at .. '\\31' .. ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[2], at, 't', tail + 1)
  return tail
end
local k = (#ARGV - 1) / 2
local fields = {'t'}
for j = 1, k do fields[j + 1] = ARGV[1 + j] end
local got = batched('HMGET', KEYS[2], fields)
local tail = tonumber(got[1] or '0')
if floor > tail then tail = floor end
local out, rows, index, fresh = {}, {}, {}, {}
for j = 1, k do
  local field = ARGV[1 + j]
  local at = got[j + 1] and tonumber(got[j + 1]) or fresh[field]
  if not at then
    at = tail
    fresh[field] = tail
    local n = #rows
    rows[n + 1] = tail
    rows[n + 2] = string.format('%d', tail) .. '\\31' .. ARGV[1 + k + j]
    index[n + 1] = field
    index[n + 2] = tail
    tail = tail + 1
  end
  out[j] = at
end
if #rows > 0 then batched('ZADD', KEYS[1], rows) end
index[#index + 1] = 't'
index[#index + 1] = tail
batched('HSET', KEYS[2], index)
return out
"""
)

# KEYS: e, x. ARGV: first, k, k whole members. The lowest taken member of the range, or
# nil once all k are written (and the tail raised past them, so a push never reuses one).
_CLAIM = _lua(
    _BATCHED
    + """
local first = tonumber(ARGV[1])
local k = tonumber(ARGV[2])
local taken = redis.call('ZRANGEBYSCORE', KEYS[1], first, first + k - 1, 'LIMIT', 0, 1)
if taken[1] then return taken[1] end
local rows = {}
for j = 1, k do
  rows[2 * j - 1] = first + j - 1
  rows[2 * j] = ARGV[2 + j]
end
batched('ZADD', KEYS[1], rows)
local tail = tonumber(redis.call('HGET', KEYS[2], 't') or '0')
if first + k > tail then redis.call('HSET', KEYS[2], 't', first + k) end
return false
"""
)

# KEYS: e. ARGV: position, expected version, new member. 1 if replaced, else 0.
_REPLACE_ENTRY = _lua("""
local cur = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])[1]
if not cur then return 0 end
local a = string.find(cur, '\\31', 1, true)
local b = string.find(cur, '\\31', a + 1, true)
if string.sub(cur, a + 1, b - 1) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], cur)
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
return 1
""")

# KEYS: e, x. ARGV: below, batch. Removes the lowest `batch` entry rows below `below` and
# their ids from the index (an id is unindexed only where the index names this very
# position); answers how many rows it removed.
_PURGE = _lua(
    _BATCHED
    + """
local rows = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0,
  tonumber(ARGV[2]))
if #rows == 0 then return 0 end
local fields, positions = {}, {}
for i, m in ipairs(rows) do
  local at = string.find(m, '\\31', 1, true)
  positions[i] = string.sub(m, 1, at - 1)
  for _ = 1, 5 do at = string.find(m, '\\31', at + 1, true) end
  fields[i] = '=' .. string.sub(m, at + 1)
end
local got = batched('HMGET', KEYS[2], fields)
local gone = {}
for i = 1, #rows do
  if got[i] == positions[i] then gone[#gone + 1] = fields[i] end
end
if #gone > 0 then batched('HDEL', KEYS[2], gone) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', positions[#rows])
return #rows
"""
)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InvalidValue(
            f"text {text[:40]!r}... cannot be stored: it is not valid Unicode ({err.reason}); "
            "remove lone surrogates from the value"
        ) from None


# --- URLs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """What a Redis store URL names."""

    nodes: list[tuple[str, int]]
    cluster: bool = False
    tls: bool = False
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    ssl_options: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """The URL without its password."""
        scheme = "redis+cluster" if self.cluster else ("rediss" if self.tls else "redis")
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.nodes)
        auth = ""
        if self.password is not None:
            auth = f"{self.username or ''}:***@"
        elif self.username:
            auth = f"{self.username}@"
        tail = "" if self.cluster else f"/{self.db}"
        tls = " (TLS)" if self.cluster and self.tls else ""
        return f"{scheme}://{auth}{hosts}{tail}{tls}"


def parse_url(url: str) -> RedisTarget:
    """Read a ``redis://``, ``rediss://`` or ``redis+cluster://`` URL; ``ConfigError`` names
    the accepted forms when it is malformed."""
    if not isinstance(url, str) or "://" not in url:
        raise UrlOptions(str(url), accepted=(), form=_FORMS, query="", what=_WHAT).error(
            "no scheme://"
        )
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    rest, _, query_text = rest.partition("?")
    cluster = scheme == "redis+cluster"
    options = UrlOptions(
        url,
        accepted=("timeout", "ssl_ca_certs", "ssl_cert_reqs", *(("ssl",) if cluster else ())),
        form=_FORMS,
        query=query_text,
        what=_WHAT,
    )
    if scheme not in ("redis", "rediss", "redis+cluster"):
        raise options.error(f"scheme {scheme!r} is not redis, rediss or redis+cluster")
    netloc, _, path = rest.partition("/")
    username = password = None
    if "@" in netloc:
        auth, _, netloc = netloc.rpartition("@")
        user, colon, secret = auth.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
        if not colon and username:
            # redis://secret@host is how many tools write a password-only URL.
            username, password = None, username
    if not netloc:
        raise options.error("no host:port")
    parts = netloc.split(",")
    if len(parts) > 1 and not cluster:
        raise options.error("several hosts need the redis+cluster:// scheme")
    nodes = []
    for part in parts:
        host, port = host_port(part, 6379, options.error)
        nodes.append((host, port or 6379))
    db = 0
    if path:
        if not path.isdigit():
            raise options.error(f"database {path!r} is not a number")
        db = int(path)
        if cluster and db != 0:
            raise options.error("Redis Cluster has only database 0")
    timeout = options.number("timeout", DEFAULT_TIMEOUT)
    tls = scheme == "rediss" or (cluster and options.flag("ssl"))
    ssl_options: dict[str, str] = {}
    if "ssl_ca_certs" in options:
        ssl_options["ssl_ca_certs"] = str(options.text("ssl_ca_certs"))
    if "ssl_cert_reqs" in options:
        reqs = ("required", "optional", "none")
        ssl_options["ssl_cert_reqs"] = options.choice("ssl_cert_reqs", reqs, "required")
    if ssl_options and not tls:
        raise options.error(
            f"{', '.join(sorted(ssl_options))} only apply to TLS (rediss:// or ssl=true)"
        )
    return RedisTarget(nodes, cluster, tls, db, username, password, timeout, ssl_options)


# --- errors ----------------------------------------------------------------------------


def _error_keys(err: BaseException) -> Iterator[object]:
    """A Redis error reply's code (its first word: ``BUSY``, ``WRONGTYPE``...), then the
    exception's classes. redis-py turns the codes it knows into subclasses and strips
    them from the message; the rest arrive as a plain ``ResponseError``."""
    if isinstance(err, rex.ResponseError):
        yield str(err).split(" ", 1)[0].upper()
    yield from class_keys(err)


_CREDENTIALS = Rule(
    ConfigError,
    "Redis at {where} refused the credentials for {what}: {detail}; put the right password "
    "in the URL (redis://:PASSWORD@host:port)",
)
_UNREACHABLE = Rule(StoreUnavailable, "cannot reach Redis at {where} for {what}: {detail}")
_NOT_NOW = Rule(StoreUnavailable, "Redis at {where} cannot serve {what} now: {detail}")
_BUSY = Rule(Throttled, "Redis at {where} is busy ({what}): {detail}", retry_after=0.1)
_FAILED = Rule(StoreUnavailable, "Redis at {where} failed {what}: {detail}")

#: redis-py exceptions and Redis error codes -> pagedlist errors.
ERRORS = ErrorTable(
    {
        rex.AuthenticationError: _CREDENTIALS,
        rex.AuthorizationError: _CREDENTIALS,
        rex.NoPermissionError: _CREDENTIALS,
        rex.BusyLoadingError: Rule(
            StoreUnavailable, "Redis at {where} is loading its data ({what}): {detail}"
        ),
        rex.TimeoutError: Rule(
            DeadlineExceeded,
            "Redis at {where} did not answer {what} in time (its outcome is unknown): {detail}",
        ),
        rex.ConnectionError: _UNREACHABLE,
        rex.ClusterError: _UNREACHABLE,
        rex.RedisClusterException: _UNREACHABLE,
        # A multi-key command during a slot migration; not expected for one-key scripts.
        rex.TryAgainError: Rule(
            StoreUnavailable, "Redis at {where} asked to try {what} again: {detail}"
        ),
        rex.OutOfMemoryError: Rule(
            Throttled, "Redis at {where} is out of memory ({what}): {detail}"
        ),
        # A replica that was a master a moment ago: a failover is under way.
        rex.ReadOnlyError: Rule(
            StoreUnavailable, "Redis at {where} is read-only ({what}): {detail}"
        ),
        "BUSY": _BUSY,
        "OOM": _BUSY,
        "LOADING": _NOT_NOW,
        "MASTERDOWN": _NOT_NOW,
        "CLUSTERDOWN": _NOT_NOW,
        "TRYAGAIN": _NOT_NOW,
        "READONLY": _NOT_NOW,
        "WRONGTYPE": Rule(
            ContractViolation,
            "Redis key for {what} at {where} holds a value that is not a pagedlist row (not a "
            "hash): {detail}; use a database or key space of its own",
        ),
        rex.ResponseError: _FAILED,
        rex.RedisError: _FAILED,
    },
    keys=_error_keys,
)


# --- rows ------------------------------------------------------------------------------


def _encode_row(key: str, doc: JSONDoc, version: str) -> tuple[list[str], int]:
    """The hash fields of ``doc`` as a flat field/value list, and the row's size."""
    if not isinstance(doc, dict):
        raise InvalidValue(f"row {key!r} must be a JSON object, got {type(doc).__name__}")
    flat: list[str] = []
    slots = 0
    for name, value in doc.items():
        if not isinstance(name, str):
            raise InvalidValue(f"row {key!r} has a non-string field name {name!r}")
        if isinstance(value, list):
            slots += 1
            slot = str(slots)
            flat += [f"f:{name}", slot, f"{slot}:n", str(len(value))]
            for i, entry in enumerate(value):
                text = compact_json(entry)
                flat += [f"{slot}:e:{i}", text]
                ident = entry.get("id") if isinstance(entry, dict) else None
                if isinstance(ident, str):
                    # An id twice in one list (never written by the core) maps to its
                    # last position, as in the memory and SQLite stores.
                    flat += [f"{slot}:i:{ident}", str(i)]
        else:
            flat += [f"s:{name}", compact_json(value)]
    # Counted exactly as Store.row_size counts it, which the scripts then keep up to date.
    size = len(_utf8(key)) + len(_utf8(compact_json(doc)))
    flat += ["v", version, "z", str(size), "c", str(len(doc)), "m", str(slots)]
    return flat, size


def _decode_row(fields: Mapping[str, str]) -> Row | None:
    """Reassemble a document from its hash fields (``None`` for an absent row)."""
    if not fields:
        return None
    doc: JSONDoc = {}
    lists: dict[str, str] = {}
    for name, value in fields.items():
        if name.startswith("s:"):
            doc[name[2:]] = json.loads(value)
        elif name.startswith("f:"):
            lists[name[2:]] = value
    for name, slot in lists.items():
        length = int(fields[f"{slot}:n"])
        doc[name] = [json.loads(fields[f"{slot}:e:{i}"]) for i in range(length)]
    return Row(doc, fields["v"])


# --- the store -------------------------------------------------------------------------


# --- entries (layout 2) ------------------------------------------------------------------

_SEP = "\x1f"
# Flags of a member: d (deleted: "d": 1), x (the id has a record: "x": 1), n (no "v"), J
# (the value field holds the whole entry's JSON text: an entry of another shape).
_KNOWN = frozenset(("id", "ts", "v", "d", "e", "x"))
# A member of at most this many characters is surely within the row limit (a character
# is at most 4 UTF-8 bytes): only longer ones are encoded to count their bytes.
_SURELY_FITS = REDIS_ROW_BYTES // 4


def entry_keys(list_id: str) -> tuple[str, str]:
    """The keys of a list's entry rows and of its id index (which holds the tail too):
    ``{LIST}|e`` and ``{LIST}|x``.

    The hash tag ``{LIST}`` puts both in one Cluster slot. List ids never contain a
    brace, and row keys never start with one, so these never meet a row key.
    """
    tag = "{" + list_id + "}|"
    return tag + "e", tag + "x"


def _id_field(item_id: str) -> str:
    """An id's field in the index hash: ``=ID`` (the tail is field ``t``)."""
    return "=" + item_id


@functools.lru_cache(maxsize=4096)
def _entry_keys_utf8(list_id: str) -> tuple[bytes, bytes]:
    """:func:`entry_keys` as the bytes sent: a process appends to few lists, over and
    over, so each list's keys are built and encoded once (``UnicodeEncodeError`` for a
    list id that is not valid Unicode, which is then not cached)."""
    e, x = entry_keys(list_id)
    return e.encode("utf-8"), x.encode("utf-8")


def _member(entry: JSONDoc, version: str) -> str:
    """``entry`` as a member without its position: ``VERSION␟TS␟E␟FLAGS␟V␟ID``."""
    ident = entry.get("id")
    ts = entry.get("ts")
    v = entry.get("v")
    if (
        len(entry) == 3
        and type(v) is str
        and type(ts) is int
        and type(ident) is str
        and _SEP not in v
    ):
        return f"{version}\x1f{ts}\x1f\x1f\x1f{v}\x1f{ident}"
    return _rare_member(entry, version)


def _rare_member(entry: JSONDoc, version: str) -> str:
    """Edited entries, tombstones, entries with a record, and any other shape (as JSON)."""
    ident = entry.get("id")
    ts = entry.get("ts")
    v = entry.get("v")
    e = entry.get("e")
    flags = ""
    if entry.get("d") == 1 and type(entry["d"]) is int:
        flags += "d"
    if entry.get("x") == 1 and type(entry["x"]) is int:
        flags += "x"
    if "v" not in entry:
        flags += "n"
    regular = (
        entry.keys() <= _KNOWN
        and type(ident) is str
        and type(ts) is int
        and ("v" not in entry or (type(v) is str and _SEP not in v))
        and ("e" not in entry or type(e) is int)
        and ("d" not in entry or "d" in flags)
        and ("x" not in entry or "x" in flags)
    )
    if regular:
        return f"{version}\x1f{ts}\x1f{'' if e is None else e}\x1f{flags}\x1f{v or ''}\x1f{ident}"
    try:
        text = compact_json(entry)
    except (TypeError, ValueError) as err:
        raise InvalidValue(f"entry {entry!r:.80} is not a JSON object: {err}") from None
    # JSON text escapes every control character, so it never holds the separator.
    return f"{version}\x1f\x1f\x1fJ\x1f{text}\x1f{ident if type(ident) is str else ''}"


def _sized(list_id: str, member: S) -> S:
    """``member``, or ``ItemTooLarge`` if the entry row would exceed the row limit (its
    UTF-8 bytes: ``member`` is text or those bytes already)."""
    if len(member) > (REDIS_ROW_BYTES if isinstance(member, bytes) else _SURELY_FITS):
        size = len(member if isinstance(member, bytes) else _utf8(member))
        if size > REDIS_ROW_BYTES:
            raise too_large(f"{entry_keys(list_id)[0]} (an entry row)", size, REDIS_ROW_BYTES)
    return member


def _rare_entry(ts: str, e: str, flags: str, v: str, ident: str) -> JSONDoc:
    if "J" in flags:
        return json.loads(v)
    entry: JSONDoc = {"id": ident, "ts": int(ts)}
    if "n" not in flags:
        entry["v"] = v
    if e:
        entry["e"] = int(e)
    if "d" in flags:
        entry["d"] = 1
    if "x" in flags:
        entry["x"] = 1
    return entry


def _slots(members: Sequence[str]) -> tuple[Slot, ...]:
    """Members as ``(position, entry)``: one split each, no JSON on the common path."""
    out: list[Slot] = []
    add = out.append
    for member in members:
        pos, _version, ts, e, flags, v, ident = member.split(_SEP, 6)
        if e or flags:
            add((int(pos), _rare_entry(ts, e, flags, v, ident)))
        else:
            add((int(pos), {"id": ident, "ts": int(ts), "v": v}))
    return tuple(out)


def _entry_row(member: str) -> Row:
    """A member as the entry and its version."""
    _pos, version, ts, e, flags, v, ident = member.split(_SEP, 6)
    if e or flags:
        return Row(_rare_entry(ts, e, flags, v, ident), version)
    return Row({"id": ident, "ts": int(ts), "v": v}, version)


def _scan_command(scan: Scan) -> tuple[Any, ...]:
    """The one command that answers ``scan``. ``ZRANGE ... BYSCORE`` would do the same
    from Redis 6.2 on; these two also run on the 4.x to 6.0 servers still offered as
    managed services."""
    key = "{" + scan.list_id + "}|e"
    top = "+inf" if scan.hi is None else f"({scan.hi}"
    if scan.newest_first:
        return ("ZREVRANGEBYSCORE", key, top, scan.lo, "LIMIT", 0, scan.limit)
    return ("ZRANGEBYSCORE", key, scan.lo, top, "LIMIT", 0, scan.limit)


# --- requests and plans ------------------------------------------------------------------


class _Command(NamedTuple):
    """One command."""

    args: tuple[Any, ...]
    op: str
    key: str


class _Batch(NamedTuple):
    """Commands sent in one pipeline (Cluster: one per master, all at once)."""

    commands: list[tuple[Any, ...]]
    op: str
    key: str


_Request = _Command | _Batch


class _NoScript:
    """The reply to an ``EVALSHA`` of a script the server does not have (it ran nothing)."""


_NOSCRIPT = _NoScript()


class _Now:
    """An awaitable whose value is already there: a blocking reply, so that the blocking
    and the asyncio store run one driver loop (:meth:`_Base._drive`)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # a generator that returns at once


# The key counts of EVALSHA, as sent.
_NUMKEYS = (b"0", b"1", b"2")


def _evalsha(
    script: _Lua, keys: Sequence[str | bytes], args: list[Any], op: str, key: str
) -> Plan[Any]:
    """Run ``script`` (``EVALSHA``); a server that lacks it (restarted, a new Cluster node)
    refuses it unrun, so it is loaded and run once more. The command name stays text:
    redis-py's Cluster client routes by comparing it with ``"EVALSHA"``."""
    command = ("EVALSHA", script.sha, _NUMKEYS[len(keys)], *keys, *args)
    reply = yield _Command(command, op, key)
    if reply is _NOSCRIPT:
        yield _Command(("SCRIPT LOAD", script.text), op, key)
        reply = yield _Command(command, op, key)
    return reply


Plan = Generator[_Request, Any, T]
"""A call's plan: yields requests, receives their replies, returns the call's answer."""


def _what(req: _Request) -> str:
    return f"{req.op}({req.key!r})" if req.key else req.op


def _unicode_error(req: _Request) -> InvalidValue:
    return InvalidValue(
        f"{_what(req)}: text that is not valid Unicode (a lone surrogate?) cannot be sent "
        "to Redis; nothing was written: remove it from the id or value"
    )


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class _Plans:
    """Every store call as a plan, shared by the blocking and the asyncio store."""

    # --- rows ------------------------------------------------------------------------

    def _put_if_absent(self, key: str, doc: JSONDoc) -> Plan[bool]:
        flat, size = _encode_row(key, doc, new_version())
        if size > REDIS_ROW_BYTES:
            raise too_large(key, size, REDIS_ROW_BYTES)
        return bool((yield from _evalsha(_PUT, (key,), flat, "put_if_absent", key)))

    def _insert(self, key: str, doc: JSONDoc) -> Plan[Row | None]:
        flat, size = _encode_row(key, doc, new_version())
        if size > REDIS_ROW_BYTES:
            raise too_large(key, size, REDIS_ROW_BYTES)
        found = yield from _evalsha(_INSERT, (key,), flat, "insert", key)
        return None if found is None else _decode_row(_pairs(found))

    def _replace(self, key: str, doc: JSONDoc, version: str) -> Plan[str | None]:
        new = new_version()
        flat, size = _encode_row(key, doc, new)
        if size > REDIS_ROW_BYTES:
            raise too_large(key, size, REDIS_ROW_BYTES)
        done = yield from _evalsha(_REPLACE, (key,), [version, *flat], "replace", key)
        return new if done else None

    def _get(self, key: str) -> Plan[Row | None]:
        return _decode_row((yield _Command(("HGETALL", key), "get", key)))

    def _get_many(self, keys: Iterable[str]) -> Plan[dict[str, Row]]:
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Row] = {}
        for start in range(0, len(wanted), _PIPELINE_KEYS):
            part = wanted[start : start + _PIPELINE_KEYS]
            commands = [("HGETALL", key) for key in part]
            replies = yield _Batch(commands, f"get_many({len(wanted)} keys)", "")
            for key, fields in zip(part, replies, strict=True):
                row = _decode_row(fields)
                if row is not None:
                    out[key] = row
        return out

    def _append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> Plan[AppendOutcome]:
        batch = list(entries)
        ids: list[str] = []
        texts: list[str] = []
        for entry in batch:
            ident = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(ident, str):
                raise InvalidValue(f"append entries need a string 'id', got {entry!r:.80}")
            ids.append(ident)
            text = compact_json(entry)
            _utf8(text)
            texts.append(text)
        args = [
            field,
            str(max_len),
            str(REDIS_ROW_BYTES),
            new_version(),
            str(len(_utf8(compact_json(field)))),
            str(len(batch)),
            *ids,
            *texts,
        ]
        answer = yield from _evalsha(_APPEND, (key,), args, "append", key)
        match answer:
            case ["ok", length]:
                return Appended(int(length))
            case ["dup", index, offset]:
                return Duplicate(int(index), int(offset))
            case ["full", length]:
                return Full(int(length))
            case ["big", size]:
                raise too_large(key, int(size), REDIS_ROW_BYTES)
            case ["notlist", text]:
                raise not_a_list(key, field, json.loads(text))
        raise ContractViolation(f"Redis append script answered {answer!r}")

    def _increment(
        self, key: str, field: str, by: int = 1, expect: int | None = None
    ) -> Plan[int | None]:
        args = [
            field,
            str(int(by)),
            "" if expect is None else str(int(expect)),
            new_version(),
            str(len(_utf8(compact_json(field)))),
            str(REDIS_ROW_BYTES),
        ]
        answer = yield from _evalsha(_INCREMENT, (key,), args, f"increment({field!r})", key)
        match answer:
            case ["ok", text]:
                return int(text)
            case ["nomatch"]:
                return None
            case ["big", size]:
                raise too_large(key, int(size), REDIS_ROW_BYTES)
            case ["notint", text]:
                raise not_an_integer(key, field, json.loads(text))
            case ["notint"]:  # the field holds a list (the script's first check)
                raise not_an_integer(key, field, [])
            case ["overflow"]:
                raise InvalidValue(
                    f"incrementing field {field!r} of row {key!r} by {by} leaves the 64-bit "
                    "integer range Redis counts in"
                )
        raise ContractViolation(f"Redis increment script answered {answer!r}")

    def _delete(self, key: str) -> Plan[None]:
        yield _Command(("DEL", key), "delete", key)

    # --- entry rows ----------------------------------------------------------------------

    def _push(self, list_id: str, entries: Sequence[JSONDoc], floor: int) -> Plan[Pushed]:
        # Every argument goes as UTF-8 bytes encoded here, once: redis-py would encode
        # each str (and format each int) again on every call, which costs an append more
        # client time than the rest of this plan.
        token = new_version()
        try:
            keys = _entry_keys_utf8(list_id)
            if len(entries) == 1:  # every append: one entry
                entry = entries[0]
                member = _sized(list_id, _member(entry, token + "0").encode("utf-8"))
                args = [b"%d" % floor, ("=" + entry["id"]).encode("utf-8"), member]
            else:
                ids = [("=" + e["id"]).encode("utf-8") for e in entries]
                members = [
                    _sized(list_id, _member(e, f"{token}{j:x}").encode("utf-8"))
                    for j, e in enumerate(entries)
                ]
                args = [b"%d" % floor, *ids, *members]
        except UnicodeEncodeError:
            raise _unicode_error(_Command((), "push", list_id)) from None
        answer = yield from _evalsha(_PUSH, keys, args, "push", list_id)
        # One entry: the script answers its position alone (no array to parse).
        return Pushed((answer,) if type(answer) is int else tuple(answer))

    def _claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> Plan[ClaimOutcome]:
        token = new_version()
        members = [
            _sized(list_id, f"{first + j}\x1f{_member(e, f'{token}{j:x}')}")
            for j, e in enumerate(entries)
        ]
        args = [first, len(members), *members]
        taken = yield from _evalsha(_CLAIM, entry_keys(list_id), args, "claim", list_id)
        if taken is None:
            return Claimed()
        position, entry = _slots([taken])[0]
        return Taken(position, entry)

    def _scan(
        self, list_id: str, lo: int, hi: int | None, limit: int, newest_first: bool
    ) -> Plan[tuple[Slot, ...]]:
        command = _scan_command(Scan(list_id, lo, hi, limit, newest_first))
        return _slots((yield _Command(command, "scan", list_id)))

    def _scan_many(self, scans: Sequence[Scan]) -> Plan[tuple[tuple[Slot, ...], ...]]:
        if not scans:
            return ()
        if len(scans) == 1:
            return (_slots((yield _Command(_scan_command(scans[0]), "scan", scans[0].list_id))),)
        commands = [_scan_command(s) for s in scans]
        replies = yield _Batch(commands, f"scan_many({len(scans)} lists)", "")
        return tuple(_slots(members) for members in replies)

    def _get_entry(self, list_id: str, position: int) -> Plan[Row | None]:
        key = entry_keys(list_id)[0]
        found = yield _Command(("ZRANGEBYSCORE", key, position, position), "get_entry", key)
        return _entry_row(found[0]) if found else None

    def _replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> Plan[str | None]:
        new = new_version()
        member = _sized(list_id, f"{position}\x1f{_member(entry, new)}")
        key = entry_keys(list_id)[0]
        args = [position, version, member]
        done = yield from _evalsha(_REPLACE_ENTRY, (key,), args, "replace_entry", key)
        return new if done else None

    def _purge(self, list_id: str, below: int) -> Plan[None]:
        keys = entry_keys(list_id)
        while True:
            args = [below, _PURGE_BATCH]
            removed = yield from _evalsha(_PURGE, keys, args, "purge", list_id)
            if removed < _PURGE_BATCH:
                return
            left = remaining()
            if left is not None and left <= 0:
                # Each batch is complete on its own: what is purged stays purged, and
                # purging again (the driver's retry, or the next trim) goes on from here.
                raise DeadlineExceeded(
                    f"purge of list {list_id!r} below {below} reached the operation's "
                    f"deadline after a batch of {_PURGE_BATCH} rows; the rest is purged "
                    "by the next call"
                )

    def _drop_entries(self, list_id: str) -> Plan[None]:
        # UNLINK frees a large key in a background thread: the server is not held for it.
        yield _Command(("UNLINK", *entry_keys(list_id)), "drop_entries", list_id)

    def _find_id(self, list_id: str, item_id: str) -> Plan[int | None]:
        key = entry_keys(list_id)[1]
        found = yield _Command(("HGET", key, _id_field(item_id)), "find_id", key)
        return None if found is None else int(found)


# --- clients -----------------------------------------------------------------------------


class _Flavor(NamedTuple):
    """redis-py's classes for one I/O model: blocking, or asyncio."""

    standalone: Any
    cluster: Any
    node: Any
    retry: Any


_REDIS_PY_MAJOR = int(redis.__version__.split(".", 1)[0])
_BLOCKING = _Flavor(redis.Redis, RedisCluster, ClusterNode, Retry)
_ASYNCIO = _Flavor(
    redis.asyncio.Redis,
    redis.asyncio.cluster.RedisCluster,
    redis.asyncio.cluster.ClusterNode,
    redis.asyncio.retry.Retry,
)


@functools.cache
def _identity() -> dict[str, Any]:
    """The client's CLIENT SETINFO identity, built once per process.

    redis-py reads its own version from the package metadata (``importlib.metadata``, about
    7 ms) each time a client is built unless it is given one: on the event loop, for
    ``redis.asyncio``, that is a stall of every other task at each open."""
    version = importlib.metadata.version("redis")
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # redis-py 5 to 7: the (later deprecated) lib_version argument
        return {"lib_version": version}
    return {"driver_info": DriverInfo(lib_version=version)}


def _client(
    flavor: _Flavor,
    target: RedisTarget,
    remap: Callable[[str, int], tuple[str, int]] | None,
) -> Any:
    """A redis-py client (``flavor``'s classes) for ``target``, with SDK retries off."""
    common: dict[str, Any] = {
        "username": target.username,
        "password": target.password,
        "socket_timeout": target.timeout,
        "socket_connect_timeout": min(target.timeout, 3.0),
        "socket_keepalive": True,
        "decode_responses": True,
        # A pooled connection may be dead after a server restart: check it when idle.
        "health_check_interval": 30,
        **_identity(),
    }
    if target.tls:
        common["ssl"] = True
        for name, value in target.ssl_options.items():
            common[name] = value
    # The core's driver is the only retry layer (contract clause W1): it backs off,
    # keeps the operation's deadline, and resolves an ambiguous failure by reading or
    # by the append's id check. redis-py must never send a command twice: a connection
    # reset after EVALSHA was sent may have followed the script's run, and re-sending
    # would run it again (an increment counted twice). So zero retries everywhere, in the
    # blocking and in the asyncio client alike:
    # * standalone: Redis._execute_command wraps send-and-read in
    #   conn.retry.call_with_retry, which re-sends on the retry's supported errors;
    #   Retry(NoBackoff(), 0) makes it one attempt. A pooled connection the server
    #   closed is still replaced before anything is sent: ConnectionPool.get_connection
    #   reconnects a connection that is readable (EOF) while idle. The blocking store
    #   sends scripts and range reads itself (RedisStore._direct): once, on a connection
    #   from the same pool, so the same holds there.
    # * Cluster: RedisCluster.execute_command re-runs a command on ConnectionError,
    #   TimeoutError, ClusterDownError and SlotNotCoveredError up to
    #   self.retry.get_retries() times (cluster_error_retry_attempts is deprecated and
    #   ignored once retry= is given); Retry(NoBackoff(), 0) makes that zero, and the
    #   per-node clients it builds already get Retry(NoBackoff(), 0). MOVED, ASK and
    #   TRYAGAIN are still followed: those are refusals, the command did not run.
    # (redis-py 5 to 8: pyproject pins redis<9; checked against 8.1's client.py,
    # cluster.py, asyncio/client.py and asyncio/cluster.py, and 5.0.8's Cluster clients.)
    if target.cluster:
        extra: dict[str, Any] = {}
        if remap is not None:
            extra["address_remap"] = lambda hp: remap(hp[0], hp[1])
        if _REDIS_PY_MAJOR < 6:
            # redis-py 5 retries a Cluster command by these counts (3 each), whatever
            # retry= says; 6 on take them from retry= (and warn when they are given).
            extra["cluster_error_retry_attempts"] = 0
            if flavor is _ASYNCIO:
                extra["connection_error_retry_attempts"] = 0
        return flavor.cluster(
            startup_nodes=[flavor.node(h, p) for h, p in target.nodes],
            retry=flavor.retry(NoBackoff(), 0),
            **extra,
            **common,
        )
    host, port = target.nodes[0]
    return flavor.standalone(
        host=host, port=port, db=target.db, retry=flavor.retry(NoBackoff(), 0), **common
    )


# Commands the blocking standalone store sends itself (:meth:`RedisStore._direct`): those
# whose reply redis-py returns as read, with no response callback that would change it
# (scripts, and the range reads of entry rows, which never ask WITHSCORES).
_DIRECT = frozenset(("EVALSHA", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE"))


def _resp(args: tuple[Any, ...]) -> bytes:
    """A command as one RESP array of bulk strings, the frame ``Connection.pack_command``
    builds too, in one join: bytes go as they are, text as UTF-8 (the client's encoding),
    integers in decimal (the only other arguments the store sends)."""
    parts = [b"*%d\r\n" % len(args)]
    add = parts.append
    for arg in args:
        if type(arg) is not bytes:
            arg = (arg if type(arg) is str else str(arg)).encode("utf-8")
        add(b"$%d\r\n" % len(arg))
        add(arg)
        add(b"\r\n")
    return b"".join(parts)


def _pool_args(pool: Any) -> tuple[str, ...]:
    """What ``ConnectionPool.get_connection`` needs: redis-py 5.0 to 5.2 require a command
    name (which they ignore), 5.3 on warn when given one."""
    try:
        param = inspect.signature(pool.get_connection).parameters.get("command_name")
    except (TypeError, ValueError):
        return ()
    return ("EVALSHA",) if param is not None and param.default is param.empty else ()


def _routed(target: RedisTarget, route: Callable[[str, int], tuple[str, int]]) -> RedisTarget:
    """``target`` with its startup nodes sent through ``route`` (the fault proxy)."""
    if target.tls:
        raise ConfigError(
            f"{target.describe()} uses TLS, whose certificate check a loopback proxy "
            "cannot pass: route a plain redis:// or redis+cluster:// URL"
        )
    return dataclasses.replace(target, nodes=[route(h, p) for h, p in target.nodes])


_FAULTS = (rex.RedisError, rex.RedisClusterException, UnicodeEncodeError)
_LIMITS = Limits(row_bytes=REDIS_ROW_BYTES, key_bytes=REDIS_KEY_BYTES, value_expansion=6)
_FEATURES = Features(entries=True, push=True, claim_entries=_CLAIM_ENTRIES)


class _Base(_Plans):
    """What the blocking and the asyncio store share besides the plans."""

    scheme = "redis"
    _flavor: _Flavor

    def __init__(
        self,
        target: RedisTarget,
        *,
        _remap: Callable[[str, int], tuple[str, int]] | None = None,
    ) -> None:
        self._target = target
        self._where = target.describe()
        self._calls = 0
        self._calls_lock = threading.Lock()
        try:
            # A blocking Cluster client learns the slot map here (the asyncio one when
            # opened): an unreachable cluster fails now.
            self._client: Any = _client(self._flavor, target, _remap)
        except _FAULTS as err:
            raise self._failed(_Command((), "connecting", ""), err) from err

    def _issue(self, req: _Command | _Batch) -> Any:
        """Send ``req`` on the client: the reply (blocking) or an awaitable of it (asyncio).

        A script runs as an ``EVALSHA`` command; its plan loads it on ``NOSCRIPT``
        (:func:`_evalsha`).
        """
        self._count()
        if isinstance(req, _Command):
            return self._client.execute_command(*req.args)
        pipe = self._client.pipeline(transaction=False)
        for command in req.commands:
            pipe.execute_command(*command)
        return pipe.execute()

    def _count(self) -> None:
        with self._calls_lock:
            self._calls += 1

    def _reply(self, req: _Command | _Batch) -> Awaitable[Any]:
        raise NotImplementedError

    async def _drive(self, plan: Plan[T]) -> T:
        """The one driver loop of both stores: send each request the plan yields, give it
        the reply (``_NOSCRIPT`` for a script the server lacks), map failures to
        pagedlist errors. The blocking store's replies are already there (:class:`_Now`),
        so for it this coroutine never suspends."""
        reply = None
        while True:
            try:
                req = plan.send(reply)
            except StopIteration as done:
                return done.value
            try:
                reply = await self._reply(req)
            except rex.NoScriptError:
                reply = _NOSCRIPT
            except _FAULTS as err:
                raise self._failed(req, err) from err

    def _failed(self, req: _Request, err: BaseException) -> Exception:
        """The pagedlist error for a request that raised ``err``, chained to it."""
        if isinstance(err, UnicodeEncodeError):
            return _unicode_error(req)
        return ERRORS.error(err, what=_what(req), where=self._where)

    @property
    def limits(self) -> Limits:
        """Rows capped at 400 KiB (for portable sizing) and keys at 1 KiB. Page rows keep
        entries as JSON text, in which an id's control characters are escaped (up to 6x)."""
        return _LIMITS

    @property
    def features(self) -> Features:
        """Entry rows (layout 2) with ``push``: the scripts resolve a list's tail."""
        return _FEATURES

    def stats(self) -> Mapping[str, Any]:
        """Round trips made so far (a pipelined batch counts once per chunk)."""
        with self._calls_lock:
            return {"round_trips": self._calls}

    def describe(self) -> str:
        """The URL without its password, e.g. ``redis://:***@127.0.0.1:6379/0``."""
        return self._target.describe()


@tallied
class RedisStore(_Base, Store):
    """Rows as Redis hashes and entry rows as one sorted set per list, written by Lua
    scripts (standalone or Cluster), through redis-py's blocking client."""

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """``redis://[:password@]host:port[/db]``, ``rediss://...`` (TLS) or
        ``redis+cluster://[:password@]host:port[,host:port...]``; ``?timeout=SECONDS``
        sets the socket timeouts (default 5)."""
        return cls(parse_url(url))

    @classmethod
    def through(cls, url: str, route: Callable[[str, int], tuple[str, int]]) -> RedisStore:
        """Open ``url`` with every connection to a server ``(host, port)`` made to
        ``route(host, port)`` instead (the conformance suite's fault proxy, clause W1).

        A Cluster routes its startup nodes and, through redis-py's ``address_remap``,
        every node address ``CLUSTER SLOTS`` reports. ``ConfigError`` for TLS URLs: a
        certificate names the server, not a loopback proxy.
        """
        return cls(_routed(parse_url(url), route), _remap=route)

    @classmethod
    def provision(cls, url: str) -> str:
        """Nothing to create; checks that the server answers."""
        store = cls.from_url(url)
        with store:
            store.ping()
            return f"nothing to provision for Redis; {store.describe()} answers"

    _flavor = _BLOCKING

    def __init__(
        self,
        target: RedisTarget,
        *,
        _remap: Callable[[str, int], tuple[str, int]] | None = None,
    ) -> None:
        super().__init__(target, _remap=_remap)
        # A standalone server's scripts and range reads go straight over a pooled
        # connection (:meth:`_direct`); a Cluster's go through its client, which routes.
        self._pool: Any = None if target.cluster else self._client.connection_pool
        self._pool_args = _pool_args(self._pool) if self._pool is not None else ()

    def _reply(self, req: _Command | _Batch) -> Awaitable[Any]:
        if self._pool is not None and type(req) is _Command and req.args[0] in _DIRECT:
            self._count()
            return _Now(self._direct(req.args))
        return _Now(self._issue(req))

    def _direct(self, args: tuple[Any, ...]) -> Any:
        """Send one command on a pooled connection and read its reply: what
        ``Redis.execute_command`` does for it with retries off, without the rest of that
        path (a retry wrapper around a closure, the per-command special cases, a response
        callback that leaves these replies as they are, the per-command metrics), which
        cost an append about a fifth of its client time. As there, the command is sent
        once; a connection that failed mid-command is closed (its reply could still
        arrive) and one that answered, even with an error reply, goes back to the pool.
        """
        packed = [_resp(args)]  # nothing is sent if an argument is refused
        pool = self._pool
        conn = pool.get_connection(*self._pool_args)
        try:
            conn.send_packed_command(packed)
            return conn.read_response()
        except rex.ResponseError:
            raise
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)

    def _run(self, plan: Plan[T]) -> T:
        """Carry out a plan with :meth:`_Base._drive`, which never waits here: every reply
        is already there, so the coroutine ends on its first step."""
        step = self._drive(plan)
        try:
            step.send(None)
        except StopIteration as done:
            return done.value
        raise ContractViolation("the blocking Redis store's driver waited on something")

    def ping(self) -> None:
        """Check that the server (every Cluster master) answers."""
        self._run(self._ping())

    def _ping(self) -> Plan[None]:
        yield _Command(("PING",), "PING", "")

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """Create the hash unless the key exists, in one script."""
        return self._run(self._put_if_absent(key, doc))

    def insert(self, key: str, doc: JSONDoc) -> Row | None:
        """Create the hash unless the key exists, else return it: one script."""
        return self._run(self._insert(key, doc))

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """Rewrite the hash if its ``v`` field is still ``version``, in one script."""
        return self._run(self._replace(key, doc, version))

    def get(self, key: str) -> Row | None:
        """One ``HGETALL``."""
        return self._run(self._get(key))

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """Pipelined ``HGETALL``s, 64 keys per round trip; on a Cluster, redis-py's
        cluster pipeline sends each master its commands in one batch."""
        return self._run(self._get_many(keys))

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """One script: duplicate check through the id index, length check, size check,
        then k entry writes."""
        return self._run(self._append(key, field, entries, max_len))

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """One script: compare with ``expect``, then ``HINCRBY`` (64-bit integers)."""
        return self._run(self._increment(key, field, by, expect))

    def delete(self, key: str) -> None:
        """``DEL``."""
        self._run(self._delete(key))

    def push(self, list_id: str, entries: Sequence[JSONDoc], floor: int = 0) -> Pushed:
        """One script: tail, id index and writes (one round trip whatever the contention)."""
        return self._run(self._push(list_id, entries, floor))

    def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """One script: the lowest taken position of the range, or all entries written."""
        return self._run(self._claim(list_id, first, entries))

    def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """One ``ZREVRANGEBYSCORE`` (newest first) or ``ZRANGEBYSCORE``, ``LIMIT 0 limit``."""
        return self._run(self._scan(list_id, lo, hi, limit, newest_first))

    def scan_many(self, scans: Sequence[Scan]) -> tuple[tuple[Slot, ...], ...]:
        """The range reads in one pipeline (Cluster: one batch per master, sent at once)."""
        return self._run(self._scan_many(scans))

    def get_entry(self, list_id: str, position: int) -> Row | None:
        """One ``ZRANGEBYSCORE`` of the position; the version is part of the member."""
        return self._run(self._get_entry(list_id, position))

    def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """One script: compare the member's version, then swap the member."""
        return self._run(self._replace_entry(list_id, position, entry, version))

    def purge(self, list_id: str, below: int) -> None:
        """Scripts of at most 500 rows each (and their ids) until none is left below."""
        self._run(self._purge(list_id, below))

    def drop_entries(self, list_id: str) -> None:
        """One ``UNLINK`` of the list's three keys."""
        self._run(self._drop_entries(list_id))

    def find_id(self, list_id: str, item_id: str) -> int | None:
        """One ``HGET`` of the id index."""
        return self._run(self._find_id(list_id, item_id))

    def close(self) -> None:
        """Close the connection pool(s)."""
        with contextlib.suppress(rex.RedisError, OSError):
            self._client.close()


@tallied
class AsyncRedisStore(_Base, AsyncStore):
    """:class:`RedisStore` for asyncio, through ``redis.asyncio`` (standalone or Cluster):
    the same plans, scripts and error table, each request awaited."""

    @classmethod
    async def from_url(cls, url: str) -> AsyncRedisStore:
        """The URLs of :meth:`RedisStore.from_url`; a Cluster's slot map is learnt here."""
        return await cls._opened(parse_url(url), None)

    @classmethod
    async def through(
        cls, url: str, route: Callable[[str, int], tuple[str, int]]
    ) -> AsyncRedisStore:
        """:meth:`RedisStore.through` for asyncio (the fault proxy of clause W1)."""
        return await cls._opened(_routed(parse_url(url), route), route)

    @classmethod
    async def _opened(
        cls, target: RedisTarget, remap: Callable[[str, int], tuple[str, int]] | None
    ) -> AsyncRedisStore:
        store = cls(target, _remap=remap)
        if target.cluster:
            req = _Command((), "connecting", "")
            try:
                await store._client.initialize()
            except _FAULTS as err:
                await store.aclose()
                raise store._failed(req, err) from err
        return store

    _flavor = _ASYNCIO

    def _reply(self, req: _Command | _Batch) -> Awaitable[Any]:
        return self._issue(req)

    async def _run(self, plan: Plan[T]) -> T:
        """Carry out a plan with :meth:`_Base._drive`, awaiting each reply."""
        return await self._drive(plan)

    async def ping(self) -> None:
        """Check that the server (every Cluster master) answers."""
        await self._run(self._ping())

    def _ping(self) -> Plan[None]:
        yield _Command(("PING",), "PING", "")

    async def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """See :meth:`RedisStore.put_if_absent`."""
        return await self._run(self._put_if_absent(key, doc))

    async def insert(self, key: str, doc: JSONDoc) -> Row | None:
        """See :meth:`RedisStore.insert`."""
        return await self._run(self._insert(key, doc))

    async def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """See :meth:`RedisStore.replace`."""
        return await self._run(self._replace(key, doc, version))

    async def get(self, key: str) -> Row | None:
        """See :meth:`RedisStore.get`."""
        return await self._run(self._get(key))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """See :meth:`RedisStore.get_many`."""
        return await self._run(self._get_many(keys))

    async def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """See :meth:`RedisStore.append`."""
        return await self._run(self._append(key, field, entries, max_len))

    async def increment(
        self, key: str, field: str, by: int = 1, expect: int | None = None
    ) -> int | None:
        """See :meth:`RedisStore.increment`."""
        return await self._run(self._increment(key, field, by, expect))

    async def delete(self, key: str) -> None:
        """See :meth:`RedisStore.delete`."""
        await self._run(self._delete(key))

    async def push(self, list_id: str, entries: Sequence[JSONDoc], floor: int = 0) -> Pushed:
        """See :meth:`RedisStore.push`."""
        return await self._run(self._push(list_id, entries, floor))

    async def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """See :meth:`RedisStore.claim`."""
        return await self._run(self._claim(list_id, first, entries))

    async def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """See :meth:`RedisStore.scan`."""
        return await self._run(self._scan(list_id, lo, hi, limit, newest_first))

    async def scan_many(self, scans: Sequence[Scan]) -> tuple[tuple[Slot, ...], ...]:
        """See :meth:`RedisStore.scan_many`."""
        return await self._run(self._scan_many(scans))

    async def get_entry(self, list_id: str, position: int) -> Row | None:
        """See :meth:`RedisStore.get_entry`."""
        return await self._run(self._get_entry(list_id, position))

    async def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """See :meth:`RedisStore.replace_entry`."""
        return await self._run(self._replace_entry(list_id, position, entry, version))

    async def purge(self, list_id: str, below: int) -> None:
        """See :meth:`RedisStore.purge`."""
        await self._run(self._purge(list_id, below))

    async def drop_entries(self, list_id: str) -> None:
        """See :meth:`RedisStore.drop_entries`."""
        await self._run(self._drop_entries(list_id))

    async def find_id(self, list_id: str, item_id: str) -> int | None:
        """See :meth:`RedisStore.find_id`."""
        return await self._run(self._find_id(list_id, item_id))

    async def aclose(self) -> None:
        """Close the connection pool(s)."""
        close = getattr(self._client, "aclose", None) or self._client.close
        with contextlib.suppress(rex.RedisError, OSError):
            await close()
