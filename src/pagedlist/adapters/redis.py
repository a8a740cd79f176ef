"""Redis store, standalone or Cluster, through redis-py.

URLs::

    redis://[[user]:password@]host[:port][/db][?timeout=SECONDS]
    rediss://[[user]:password@]host[:port][/db][?timeout=...&ssl_ca_certs=PATH&ssl_cert_reqs=...]
    redis+cluster://[[user]:password@]host:port[,host:port...][?timeout=...&ssl=true]

Row layout: one Redis hash per row key, so every primitive touches exactly one key and is
valid in Redis Cluster. Hash fields::

    v             the row version (random token, new on every write)
    z             the row's size as ``row_size`` counts it (key + compact JSON text)
    c             how many top-level fields the document has
    m             how many list slots were ever allocated in this row
    s:NAME        top-level field NAME whose value is not a list: its compact JSON text
    f:NAME        top-level list field NAME: its slot number K
    K:n           length of list K
    K:e:I         entry I (0-based) of list K: its compact JSON text
    K:i:ID        index of the entry of list K whose "id" is ID (the last one, if several)

Every write is a Lua script on ``KEYS[1]`` alone (atomic on the server, no client-side
read-modify-write). The scripts never decode JSON (Lua's cjson turns ``[]`` into ``{}``
and rounds integers above 2**53): Python serializes, Lua only moves text and counts bytes,
and Python reassembles documents on read. An append of k entries is O(k) hash operations
whatever the list's length: k id look-ups, k entry writes, no rewrite of the row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import redis
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
)
from pagedlist.core.ops import Appended, AppendOutcome, Duplicate, Full, JSONDoc, Limits, Row
from pagedlist.core.store import Store, compact_json, too_large
from pagedlist.errors import (
    ConfigError,
    ContractViolation,
    DeadlineExceeded,
    InvalidValue,
    StoreUnavailable,
    Throttled,
)

__all__ = ["ERRORS", "REDIS_KEY_BYTES", "REDIS_ROW_BYTES", "RedisStore", "RedisTarget", "parse_url"]

# Redis takes strings up to 512 MB; rows are capped like the other stores' so a list
# created here gets the capacity it would get on DynamoDB, and a read never moves a huge
# hash. Enforced inside the scripts (append, increment) and before them (put, replace).
REDIS_ROW_BYTES = 400 * 1024
# Redis keys may be 512 MB; 1 KiB keeps keys cheap to hash and matches SQLite's choice.
REDIS_KEY_BYTES = 1024
# Keys per pipelined round trip of get_many: bounds one reply's size (rows up to 400 KiB).
_PIPELINE_KEYS = 64
# HSET arguments per call inside the scripts: far below Lua's unpack() stack limit.
_HSET_CHUNK = 200
DEFAULT_TIMEOUT = 5.0

_WHAT = "Redis store URL"
_FORMS = (
    "redis://[:password@]host:port[/db], rediss://[:password@]host:port[/db] (TLS) or "
    "redis+cluster://[:password@]host:port[,host:port...]"
)

# --- scripts: each reads and writes KEYS[1] only ----------------------------------------

# ARGV: field/value pairs of the whole hash.
_PUT = f"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 1, #ARGV, {_HSET_CHUNK} do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + {_HSET_CHUNK - 1}, #ARGV)))
end
return 1
"""

# ARGV[1]: expected version; ARGV[2..]: field/value pairs of the whole new hash.
_REPLACE = f"""
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 2, #ARGV, {_HSET_CHUNK} do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + {_HSET_CHUNK - 1}, #ARGV)))
end
return 1
"""

# ARGV: field, max_len, row limit, new version, byte length of the field name's JSON text,
# k, then k ids, then k entry JSON texts. Order of checks: duplicate, full, size.
_APPEND = """
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
"""

# ARGV: field, by, expect ('' for none), new version, byte length of the field name's JSON
# text, row limit. HINCRBY does the arithmetic in 64-bit integers (Lua numbers are doubles).
_INCREMENT = """
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
"""


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


@contextlib.contextmanager
def _mapped(what: str, where: str) -> Iterator[None]:
    """Turn redis-py exceptions into pagedlist errors (:data:`ERRORS`), chained."""
    try:
        yield
    except (rex.RedisError, rex.RedisClusterException) as err:
        raise ERRORS.error(err, what=what, where=where) from err


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


class RedisStore(Store):
    """Rows as Redis hashes, written by single-key Lua scripts (standalone or Cluster)."""

    scheme = "redis"

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
        target = parse_url(url)
        if target.tls:
            raise ConfigError(
                f"{target.describe()} uses TLS, whose certificate check a loopback proxy "
                "cannot pass: route a plain redis:// or redis+cluster:// URL"
            )
        nodes = [route(h, p) for h, p in target.nodes]
        return cls(dataclasses.replace(target, nodes=nodes), _remap=route)

    @classmethod
    def provision(cls, url: str) -> str:
        """Nothing to create; checks that the server answers."""
        with cls.from_url(url) as store:
            store.ping()
            return f"nothing to provision for Redis; {store.describe()} answers"

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
        common: dict[str, Any] = {
            "username": target.username,
            "password": target.password,
            "socket_timeout": target.timeout,
            "socket_connect_timeout": min(target.timeout, 3.0),
            "socket_keepalive": True,
            "decode_responses": True,
            # A pooled connection may be dead after a server restart: check it when idle.
            "health_check_interval": 30,
        }
        if target.tls:
            common["ssl"] = True
            for name, value in target.ssl_options.items():
                common[name] = value
        # The core's driver is the only retry layer (contract clause W1): it backs off,
        # keeps the operation's deadline, and resolves an ambiguous failure by reading or
        # by the append's id check. redis-py must never send a command twice: a connection
        # reset after EVALSHA was sent may have followed the script's run, and re-sending
        # would run it again (an increment counted twice). So zero retries everywhere:
        # * standalone: Redis._execute_command wraps send-and-read in
        #   conn.retry.call_with_retry, which re-sends on the retry's supported errors;
        #   Retry(NoBackoff(), 0) makes it one attempt. A pooled connection the server
        #   closed is still replaced before anything is sent: ConnectionPool.get_connection
        #   reconnects a connection that is readable (EOF) while idle.
        # * Cluster: RedisCluster.execute_command re-runs a command on ConnectionError,
        #   TimeoutError, ClusterDownError and SlotNotCoveredError up to
        #   self.retry.get_retries() times (cluster_error_retry_attempts is deprecated and
        #   ignored once retry= is given); Retry(NoBackoff(), 0) makes that zero, and the
        #   per-node clients it builds already get Retry(NoBackoff(), 0). MOVED, ASK and
        #   TRYAGAIN are still followed: those are refusals, the command did not run.
        # (redis-py 5 to 8: pyproject pins redis<9; checked against 8.1's client.py and
        # cluster.py.)
        with _mapped("connecting", self._where):
            if target.cluster:
                remap: dict[str, Any] = {}
                if _remap is not None:
                    remap["address_remap"] = lambda hp: _remap(hp[0], hp[1])
                self._client: Any = RedisCluster(
                    startup_nodes=[ClusterNode(h, p) for h, p in target.nodes],
                    retry=Retry(NoBackoff(), 0),
                    **remap,
                    **common,
                )
            else:
                host, port = target.nodes[0]
                self._client = redis.Redis(
                    host=host,
                    port=port,
                    db=target.db,
                    retry=Retry(NoBackoff(), 0),
                    **common,
                )
        self._put = self._client.register_script(_PUT)
        self._replace = self._client.register_script(_REPLACE)
        self._append = self._client.register_script(_APPEND)
        self._increment = self._client.register_script(_INCREMENT)

    def _count(self, n: int = 1) -> None:
        with self._calls_lock:
            self._calls += n

    @property
    def limits(self) -> Limits:
        """Rows capped at 400 KiB (for portable sizing) and keys at 1 KiB. Entries are
        stored as JSON text, in which a value's own JSON text is escaped (up to 6x)."""
        return Limits(row_bytes=REDIS_ROW_BYTES, key_bytes=REDIS_KEY_BYTES, value_expansion=6)

    def ping(self) -> None:
        """Check that the server (every Cluster master) answers."""
        with _mapped("PING", self._where):
            self._count()
            self._client.ping()

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """Create the hash unless the key exists, in one script."""
        flat, size = _encode_row(key, doc, new_version())
        if size > REDIS_ROW_BYTES:
            raise too_large(key, size, REDIS_ROW_BYTES)
        with _mapped(f"put_if_absent({key!r})", self._where):
            self._count()
            return bool(self._put(keys=[key], args=flat))

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """Rewrite the hash if its ``v`` field is still ``version``, in one script."""
        new = new_version()
        flat, size = _encode_row(key, doc, new)
        if size > REDIS_ROW_BYTES:
            raise too_large(key, size, REDIS_ROW_BYTES)
        with _mapped(f"replace({key!r})", self._where):
            self._count()
            done = self._replace(keys=[key], args=[version, *flat])
        return new if done else None

    def get(self, key: str) -> Row | None:
        """One ``HGETALL``."""
        with _mapped(f"get({key!r})", self._where):
            self._count()
            fields = self._client.hgetall(key)
        return _decode_row(fields)

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """Pipelined ``HGETALL``s. Standalone: one pipeline per chunk of keys; Cluster:
        redis-py's cluster pipeline groups the commands per master and sends each group
        in one round trip."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Row] = {}
        for start in range(0, len(wanted), _PIPELINE_KEYS):
            part = wanted[start : start + _PIPELINE_KEYS]
            with _mapped(f"get_many({len(wanted)} keys)", self._where):
                pipe = self._client.pipeline(transaction=False)
                for key in part:
                    pipe.hgetall(key)
                self._count()
                replies = pipe.execute()
            for key, fields in zip(part, replies, strict=True):
                row = _decode_row(fields)
                if row is not None:
                    out[key] = row
        return out

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """One script: duplicate check through the id index, length check, size check,
        then k entry writes."""
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
        with _mapped(f"append({key!r})", self._where):
            self._count()
            answer = self._append(keys=[key], args=args)
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

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """One script: compare with ``expect``, then ``HINCRBY`` (64-bit integers)."""
        args = [
            field,
            str(int(by)),
            "" if expect is None else str(int(expect)),
            new_version(),
            str(len(_utf8(compact_json(field)))),
            str(REDIS_ROW_BYTES),
        ]
        with _mapped(f"increment({key!r}, {field!r})", self._where):
            self._count()
            answer = self._increment(keys=[key], args=args)
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

    def delete(self, key: str) -> None:
        """``DEL``."""
        with _mapped(f"delete({key!r})", self._where):
            self._count()
            self._client.delete(key)

    def close(self) -> None:
        """Close the connection pool(s)."""
        with contextlib.suppress(rex.RedisError, OSError):
            self._client.close()

    def stats(self) -> Mapping[str, Any]:
        """Round trips made so far (a pipelined batch counts once per chunk)."""
        with self._calls_lock:
            return {"round_trips": self._calls}

    def describe(self) -> str:
        """The URL without its password, e.g. ``redis://:***@127.0.0.1:6379/0``."""
        return self._target.describe()
