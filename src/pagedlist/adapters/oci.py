"""Oracle NoSQL Database (OCI NoSQL cloud service, or on-premises) through ``borneo``.

URLs::

    oci-nosql://TABLE?region=REGION&compartment=OCID[&profile=NAME][&config_file=PATH]
                     [&auth=config|instance|resource][&create=true][&timeout=SECONDS]
    oci-nosql+http://HOST:PORT/TABLE[?create=true][&timeout=SECONDS]

The first reaches the cloud service, signing requests with ``borneo.iam.SignatureProvider``
(the ``oci`` config file and profile, or instance / resource principals with
``auth=instance`` / ``auth=resource``). The second reaches an on-premises proxy, KVLite's
proxy, or pagedlist's local endpoint (``pagedlist.emulators.oci_server``) over plain HTTP.

Tables (``docs/backends/oci-nosql.md``)::

    CREATE TABLE IF NOT EXISTS TABLE (k STRING, doc JSON, sz LONG, PRIMARY KEY(k))
    CREATE TABLE IF NOT EXISTS TABLE_e (l STRING, p LONG, e STRING, PRIMARY KEY(SHARD(l), p))

The first holds the row protocol's rows (summaries, id records, the pages of layout 1):
``doc`` is the row's JSON document and ``sz`` its size as :meth:`row_size` counts it,
maintained by every write, so an ``UPDATE`` can refuse to grow a row past the 512 KB limit
in its own ``WHERE`` clause: over-limit writes are refused atomically, nothing written.

The second holds the entry rows of layout 2: one row per list position, the list id as
shard key, so one list's entries live on one shard and are read in position order by one
single-shard query. ``e`` is the entry's compact JSON text: one string per row is what
borneo decodes fastest (measured: ``docs/backends/oci-nosql.md``). ``create=true``
(``pagedlist init``) creates it next to the first; a table of pagedlist 0.1 without it
keeps working with ``features.entries`` off (layout 1).

Row primitives: ``put_if_absent`` is a put with ``IF_ABSENT``; ``insert`` the same with
``set_return_row`` (the refusal carries the existing row); ``replace`` a put with a
match version (the row's ``Version`` bytes, base64 text); ``append``, ``increment`` and
compare-and-increment are prepared ``UPDATE ... RETURNING`` statements with bind
variables. An ``UPDATE`` whose ``WHERE`` fails returns nothing; the adapter then sends a
put ``IF_ABSENT`` with ``set_return_row``, which either creates the missing row or
returns the existing one (a strongly consistent read) that says why: duplicate, full,
too large, or a missing field (added with a version-matched put). Anything else means
another writer got in between, and the update is tried again (bounded).

Entry primitives: ``claim`` of one entry is a put ``IF_ABSENT`` with ``set_return_row``
(a refusal carries the occupant), of several one ``WriteMultiple`` of such puts, atomic
because they share the shard key, which the service runs in key order and aborts at the
first taken position; ``scan`` one prepared single-shard ``SELECT ... ORDER BY p [DESC]
LIMIT $n``; ``scan_many`` those scans concurrently; ``get_entry`` / ``replace_entry`` a
get and a put matching the row's version; ``purge`` / ``drop_entries`` multi-deletes of
the list's shard key (a range of ``p`` for purge), repeated on the continuation key within
the operation's deadline.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from pagedlist.adapters._toolkit import (
    ErrorTable,
    Rule,
    UrlOptions,
    host_port,
    not_a_list,
    not_an_integer,
    redact,
    tallied,
    too_many_entries,
)
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
    InvalidListId,
    ItemTooLarge,
    PagedListError,
    StoreError,
    StoreUnavailable,
    Throttled,
    UsageError,
)

try:
    import borneo
    import requests
    from borneo import (
        Consistency,
        DeleteRequest,
        FieldRange,
        GetRequest,
        GetTableRequest,
        MultiDeleteRequest,
        NoSQLHandle,
        NoSQLHandleConfig,
        PrepareRequest,
        PutOption,
        PutRequest,
        QueryRequest,
        TableLimits,
        TableRequest,
        WriteMultipleRequest,
    )
    from borneo import exception as nosql_errors
    from borneo.common import Version
    from borneo.kv import StoreAccessTokenProvider
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"the oci-nosql adapter needs {err.name!r}: pip install 'pagedlist[oci]'", name=err.name
    ) from None

__all__ = ["ENTRIES_DDL", "ERRORS", "TABLE_DDL", "OCINoSQLStore"]

T = TypeVar("T")

log = logging.getLogger(__name__)
# borneo logs every failed call at ERROR before raising it; the adapter re-raises it as a
# pagedlist error, so keep borneo quiet unless the application configures this logger.
_borneo_log = logging.getLogger("pagedlist.adapters.oci.borneo")
_borneo_log.addHandler(logging.NullHandler())
_borneo_log.propagate = False

KEY_BYTES = 64
ROW_BYTES = 512 * 1024
QUERY_BYTES = 10 * 1024
#: Concurrent point reads in one ``get_many`` (and scans in one ``scan_many``).
GET_MANY_WORKERS = 16
#: Most operations in one WriteMultiple, so the most entries one ``claim`` takes atomically
#: (the service's limit, RequestLimits.BATCH_OP_NUMBER_LIMIT).
CLAIM_ENTRIES = 50
#: Most bytes of one WriteMultiple request (RequestLimits.BATCH_REQUEST_SIZE_LIMIT).
BATCH_REQUEST_BYTES = 25 * 1024 * 1024
#: Positions are LONG: a position past it cannot exist (e.g. ``get(10**30)``).
MAX_LONG = 2**63 - 1
#: What the LONG position adds to an entry row's key and size, as the adapter counts it.
LONG_BYTES = 8
#: Seconds a request needs at least: with less left before the deadline it is not sent.
MIN_REQUEST_S = 0.005
#: The entry rows' table is the rows table's name plus this.
ENTRIES_SUFFIX = "_e"
#: How many times an ``UPDATE`` that matched nothing is classified and retried before
#: giving up with a retryable error (each retry follows a write by another client).
MAX_ATTEMPTS = 16

TABLE_DDL = "CREATE TABLE IF NOT EXISTS {table} (k STRING, doc JSON, sz LONG, PRIMARY KEY(k))"
ENTRIES_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} (l STRING, p LONG, e STRING, PRIMARY KEY(SHARD(l), p))"
)

# The statements below are the only ones the adapter sends. The table name is
# configuration checked against _TABLE_NAME; every value travels as a bind variable.
# pagedlist.emulators.oci_statements repeats them: change both together.
APPEND = """
DECLARE $k STRING; $f STRING; $e ARRAY(JSON); $ids ARRAY(STRING); $n INTEGER;
$max INTEGER; $add LONG; $lim LONG;
UPDATE {table} t
SET t.sz = t.sz + $add - (CASE WHEN size(t.doc.$f) = 0 THEN 1 ELSE 0 END),
ADD t.doc.$f $e[]
WHERE t.k = $k AND size(t.doc.$f) + $n <= $max AND NOT (t.doc.$f[].id =any $ids[])
AND t.sz + $add - (CASE WHEN size(t.doc.$f) = 0 THEN 1 ELSE 0 END) <= $lim
RETURNING size(t.doc.$f) AS n
"""

INCREMENT = """
DECLARE $k STRING; $f STRING; $by LONG;
UPDATE {table} t
SET t.doc.$f = t.doc.$f + $by
WHERE t.k = $k AND EXISTS t.doc.$f
RETURNING t.doc.$f AS v
"""

COMPARE_AND_INCREMENT = """
DECLARE $k STRING; $f STRING; $by LONG; $x LONG;
UPDATE {table} t
SET t.doc.$f = t.doc.$f + $by
WHERE t.k = $k AND t.doc.$f = $x
RETURNING t.doc.$f AS v
"""

# Equality on the whole shard key makes these single-shard queries; with it, ORDER BY p
# is the primary index's own order (no sort step) and LIMIT stops the scan there.
SCAN_OLDEST_FIRST = """
DECLARE $l STRING; $lo LONG; $hi LONG; $n LONG;
SELECT t.p, t.e FROM {table} t
WHERE t.l = $l AND t.p >= $lo AND t.p < $hi
ORDER BY t.p LIMIT $n
"""

SCAN_NEWEST_FIRST = """
DECLARE $l STRING; $lo LONG; $hi LONG; $n LONG;
SELECT t.p, t.e FROM {table} t
WHERE t.l = $l AND t.p >= $lo AND t.p < $hi
ORDER BY t.p DESC LIMIT $n
"""

_CONNECTION_ERRORS = (requests.exceptions.ConnectionError, ConnectionError)
# The service allows 256 characters; two are kept for the entry table's "_e".
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,253}\Z")
_AUTH = ("config", "instance", "resource")
_WHAT = "OCI NoSQL URL"
_CLOUD_FORM = (
    "oci-nosql://TABLE?region=REGION&compartment=OCID[&auth=config|instance|resource]"
    "[&profile=NAME][&config_file=PATH][&create=true][&timeout=SECONDS][&storage_gb=N]"
)
_HTTP_FORM = "oci-nosql+http://HOST:PORT/TABLE[?create=true][&timeout=SECONDS]"
_CLOUD_OPTIONS = (
    "region", "compartment", "auth", "profile", "config_file", "create", "timeout", "storage_gb",
)  # fmt: skip
_HTTP_OPTIONS = ("create", "timeout")


def _plain(value: Any) -> Any:
    """borneo's values (OrderedDict, Decimal for big numbers) as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _wire(value: Any) -> Any:
    """Values as borneo must get them: it writes any int past 32 bits as an NSON LONG, so
    an int outside 64 bits would be silently truncated; send those as Decimal (NUMBER)."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return Decimal(value)
    return value


def _wrong_type(value: Any, kind: type) -> bool:
    """Whether ``value`` is not a ``kind`` (``int`` excludes booleans)."""
    if kind is int:
        return isinstance(value, bool) or not isinstance(value, int)
    return not isinstance(value, kind)


def _version_text(version: Version | None) -> str | None:
    if version is None:
        return None
    return base64.urlsafe_b64encode(bytes(version.get_bytes())).decode("ascii")


def _version_of(text: str) -> Version | None:
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return Version.create_version(bytearray(raw)) if raw else None


_FAILED = "{where}: {what} failed ({kind}): {detail}"

#: borneo and transport exceptions -> pagedlist errors, the most specific class first.
#: Messages name the store (``where``: never a credential), the call and the SDK's text.
ERRORS = ErrorTable(
    {
        nosql_errors.TableSizeException: Rule(
            StoreError, _FAILED + "; the table's storage is full: raise its storage limit"
        ),
        nosql_errors.ThrottlingException: Rule(Throttled, _FAILED),
        nosql_errors.RequestTimeoutException: Rule(
            DeadlineExceeded, _FAILED + " (its outcome is unknown)"
        ),
        nosql_errors.RowSizeLimitException: Rule(
            ItemTooLarge, _FAILED + "; nothing was written: use smaller items"
        ),
        nosql_errors.RequestSizeLimitException: Rule(
            ItemTooLarge, _FAILED + "; nothing was written: use smaller items or smaller batches"
        ),
        nosql_errors.KeySizeLimitException: Rule(
            InvalidListId, _FAILED + "; keys are limited to {key_bytes} bytes: use a shorter id"
        ),
        nosql_errors.BatchOperationNumberLimitException: Rule(
            ConfigError,
            _FAILED + "; this service takes fewer operations per WriteMultiple than the "
            f"{CLAIM_ENTRIES} pagedlist sends: report it, with the service's limit",
        ),
        nosql_errors.TableNotFoundException: Rule(
            ConfigError, _FAILED + "; create the table with `pagedlist init URL` or ?create=true"
        ),
        nosql_errors.InvalidAuthorizationException: Rule(
            ConfigError, _FAILED + "; check the OCI credentials and the policy on the table"
        ),
        nosql_errors.UnauthorizedException: Rule(
            ConfigError, _FAILED + "; check the OCI credentials and the policy on the table"
        ),
        nosql_errors.OperationNotSupportedException: Rule(
            ConfigError, _FAILED + "; this server does not offer an operation pagedlist needs"
        ),
        nosql_errors.UnsupportedProtocolException: Rule(
            ConfigError, _FAILED + "; the server speaks an older protocol than borneo 5.5"
        ),
        nosql_errors.UnsupportedQueryVersionException: Rule(
            ConfigError, _FAILED + "; the server speaks an older query protocol than borneo 5.5"
        ),
        nosql_errors.SystemException: Rule(StoreUnavailable, _FAILED),
        nosql_errors.SecurityInfoNotReadyException: Rule(StoreUnavailable, _FAILED),
        # The request went out and no answer came in time: it may have run.
        requests.exceptions.ReadTimeout: Rule(DeadlineExceeded, _FAILED + " (outcome unknown)"),
        requests.exceptions.Timeout: Rule(DeadlineExceeded, _FAILED + " (outcome unknown)"),
        requests.exceptions.ConnectionError: Rule(StoreUnavailable, _FAILED),
        OSError: Rule(StoreUnavailable, _FAILED),
        # The adapter sends only statements and values it built: the server refusing one
        # is an adapter bug (or a server that does not speak this SQL).
        nosql_errors.IllegalArgumentException: Rule(ContractViolation, _FAILED),
        nosql_errors.RetryableException: Rule(StoreUnavailable, _FAILED),
    },
    default=Rule(StoreError, _FAILED),
)


def _map_error(err: Exception, what: str, where: str = "OCI NoSQL") -> PagedListError:
    """The pagedlist error for a borneo / transport exception (:data:`ERRORS`), chained."""
    return ERRORS.error(err, what=what, where=where, kind=type(err).__name__, key_bytes=KEY_BYTES)


def _no_resend(handle: NoSQLHandle) -> None:
    """Stop urllib3 from re-sending borneo's requests; keep retrying failed connects.

    borneo mounts ``HTTPAdapter(max_retries=5)``, i.e. urllib3 ``Retry(total=5)``. urllib3
    never re-sends a POST after a read error (``ProtocolError``: a reset or a closed
    connection while the answer was awaited) or a read timeout, but an "other" error,
    e.g. a TLS failure while reading the answer, counts against ``total`` and re-sends
    the POST: a write could be applied twice. This Retry keeps only connect retries
    (``ConnectTimeoutError`` and ``NewConnectionError``: nothing was sent) and raises
    every other error at once. borneo has no setting for it, so the mounted adapters are
    changed; pyproject pins borneo==5.5.0, whose ``NoSQLHandle._client._sess`` this is.
    """
    from urllib3.util.retry import Retry

    session = getattr(getattr(handle, "_client", None), "_sess", None)
    adapters = [
        a
        for a in getattr(session, "adapters", {}).values()
        if isinstance(a, requests.adapters.HTTPAdapter)
    ]
    if not adapters:
        handle.close()
        raise ConfigError(
            f"borneo {getattr(borneo, '__version__', '?')} is laid out differently from the "
            "5.5.0 pagedlist checks it against: pip install 'pagedlist[oci]' (borneo==5.5.0)"
        )
    for adapter in adapters:
        adapter.max_retries = Retry(
            total=None, connect=2, read=False, redirect=0, status=0, other=0, backoff_factor=0
        )


@tallied
class OCINoSQLStore(Store):
    """One Oracle NoSQL table as a pagedlist store (see the module docstring)."""

    scheme = "oci-nosql"

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str) -> OCINoSQLStore:
        """Open ``oci-nosql://TABLE?region=..&compartment=..`` or
        ``oci-nosql+http://HOST:PORT/TABLE``; ``create=true`` creates a missing table."""
        scheme = url.partition("://")[0].lower()
        if scheme not in ("oci-nosql", "oci-nosql+http"):
            raise ConfigError(
                f"{redact(url)!r} is not an oci-nosql:// or oci-nosql+http:// URL: use "
                f"{_CLOUD_FORM} or {_HTTP_FORM}"
            )
        cloud = scheme == "oci-nosql"
        options = UrlOptions(
            url,
            accepted=_CLOUD_OPTIONS if cloud else _HTTP_OPTIONS,
            form=_CLOUD_FORM if cloud else _HTTP_FORM,
            what=_WHAT,
        )
        timeout = options.number("timeout", 10.0)
        create = options.flag("create")
        if not cloud:
            rest = url.partition("://")[2].partition("?")[0]
            netloc, _, path = rest.partition("/")
            if "@" in netloc:
                raise options.error("credentials do not belong in the URL")
            host, port = host_port(netloc, None, options.error)
            if port is None:
                raise options.error("it needs a host and a port")
            table = unquote(path.strip("/"))
            cls._check_table(table, options)
            # Unsecured proxy: a token provider with no user sends no credentials.
            bracketed = f"[{host}]" if ":" in host else host
            config = NoSQLHandleConfig(f"http://{bracketed}:{port}", StoreAccessTokenProvider())
            where = f"oci-nosql+http://{bracketed}:{port}/{table}"
            storage_gb = 0  # only the cloud service takes table limits
        else:
            parts = urlsplit(url)
            table = unquote(parts.netloc or parts.path.strip("/"))
            cls._check_table(table, options)
            region = options.text("region")
            compartment = options.text("compartment")
            if not region or not compartment:
                raise options.error("it needs region and compartment")
            auth = options.choice("auth", _AUTH, "config")
            profile = options.text("profile", "DEFAULT") or "DEFAULT"
            storage_gb = options.whole("storage_gb", 25)
            provider = cls._signer(auth, region, profile, options.text("config_file"))
            try:
                config = NoSQLHandleConfig(region, provider).set_default_compartment(compartment)
            except Exception as err:
                raise options.error(
                    f"borneo rejected region {region!r} or the compartment: {err}"
                ) from err
            where = f"oci-nosql://{table} (region {region}, auth {auth})"
        return cls(
            config,
            table,
            where=where,
            timeout=timeout,
            create=create,
            cloud=cloud,
            storage_gb=storage_gb,
        )

    @staticmethod
    def _check_table(table: str, options: UrlOptions) -> None:
        if not _TABLE_NAME.match(table):
            raise options.error(
                f"table name {table!r} is invalid: use a letter, then letters, digits or _ "
                "(e.g. oci-nosql+http://127.0.0.1:8080/pagedlist)"
            )

    @staticmethod
    def _signer(auth: str, region: str, profile: str, config_file: str | None) -> Any:
        from borneo.iam import SignatureProvider

        try:
            if auth == "instance":
                from borneo import Regions

                return SignatureProvider.create_with_instance_principal(
                    region=Regions.from_region_id(region)
                )
            if auth == "resource":
                return SignatureProvider.create_with_resource_principal()
            kwargs: dict[str, Any] = {"profile_name": profile}
            if config_file:
                kwargs["config_file"] = config_file
            return SignatureProvider(**kwargs)
        except Exception as err:
            # Never echo the config's contents: the type and the file/profile suffice.
            raise ConfigError(
                f"cannot set up OCI request signing (auth={auth}, profile={profile!r}): "
                f"{type(err).__name__}; check ~/.oci/config or the principal's policies"
            ) from None

    @classmethod
    def through(cls, url: str, route: Callable[[str, int], tuple[str, int]]) -> OCINoSQLStore:
        """Open an ``oci-nosql+http://HOST:PORT/TABLE`` URL with its server reached at
        ``route(HOST, PORT)`` instead (the conformance suite's fault proxy, clause W1).

        ``ConfigError`` for the cloud service: it is HTTPS, whose certificate names the
        server, not a loopback proxy.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() != "oci-nosql+http" or not parts.hostname or not parts.port:
            raise ConfigError(
                f"{url!r} is not an oci-nosql+http://HOST:PORT/TABLE URL; only such a plain "
                "HTTP server can be reached through a loopback proxy"
            )
        host, port = route(parts.hostname, parts.port)
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return cls.from_url(urlunsplit(parts._replace(netloc=netloc)))

    @classmethod
    def provision(cls, url: str) -> str:
        """Create the rows table and the entry rows' table where absent (``pagedlist init
        URL``); say what was done."""
        sep = "&" if "?" in url else "?"
        with cls.from_url(url + sep + "create=true") as store:
            assert isinstance(store, OCINoSQLStore)
            return store._provisioned

    def __init__(
        self,
        config: NoSQLHandleConfig,
        table: str,
        *,
        where: str,
        timeout: float = 10.0,
        create: bool = False,
        cloud: bool = False,
        storage_gb: int = 25,
    ) -> None:
        self._table = table
        self._entries_table = table + ENTRIES_SUFFIX
        # The entry rows' table when it exists (layout 2 offered), else None (layout 1).
        self._entries: str | None = None
        self._where = where
        self._timeout_ms = max(1, int(timeout * 1000))
        config.set_timeout(self._timeout_ms)
        config.set_table_request_timeout(max(self._timeout_ms, 60_000))
        # The core driver is the only retry layer (contract clause W1): borneo must never
        # send a request twice. borneo 5.5.0's RequestUtils._do_request re-sends a request
        # (1) on a RetryableException answer (throttling, SystemException,
        # TableNotReady) when the RetryHandler's do_retry says so: 0 retries here, so
        # throttles reach the driver's deadline and backoff; (2) after answers that say
        # the request was refused before it ran (SecurityInfoNotReady, an expired token
        # of the unsecured proxy, an unsupported protocol or query version): kept, they
        # cannot repeat an effect; (3) never on requests' ConnectionError or Timeout,
        # which it raises (a read timeout as RequestTimeoutException). Below it,
        # Client.__init__ mounts an HTTPAdapter with max_retries=5: see _no_resend.
        config.set_retry_handler(borneo.DefaultRetryHandler(0, 0))
        config.set_pool_maxsize(GET_MANY_WORKERS + 4)
        config.set_logger(_borneo_log)
        try:
            self._handle = NoSQLHandle(config)
        except Exception as err:
            raise _map_error(err, "connecting") from err
        _no_resend(self._handle)
        self._lock = threading.Lock()
        self._prepared: dict[str, Any] = {}
        self._totals = {
            "read_units": 0,
            "write_units": 0,
            "read_kb": 0,
            "write_kb": 0,
            "requests": 0,
        }
        self._pool: ThreadPoolExecutor | None = None
        self._provisioned = ""
        try:
            self._open(create, cloud, storage_gb)
        except BaseException:
            self._handle.close()
            raise

    def _open(self, create: bool, cloud: bool, storage_gb: int) -> None:
        """Check the tables (one call each); with ``create``, create the missing ones."""
        ddl = TABLE_DDL.format(table=self._table)
        entries_ddl = ENTRIES_DDL.format(table=self._entries_table)
        done: list[str] = []
        if not self._exists(self._table):
            if not create:
                raise ConfigError(
                    f"table {self._table!r} does not exist at {self._where}: run "
                    "`pagedlist init URL`, add ?create=true to the URL, or create it with: "
                    f"{ddl}; and, for layout 2 (a row per entry), {entries_ddl}"
                )
            done.append(self._create(self._table, ddl, cloud, storage_gb))
        if self._exists(self._entries_table):
            self._entries = self._entries_table
        elif create:
            done.append(self._create(self._entries_table, entries_ddl, cloud, storage_gb))
            self._entries = self._entries_table
        else:
            # A table of pagedlist 0.1: every list on it uses layout 1 until it is created.
            log.info(
                "OCI NoSQL table %s has no entry table %s: lists use layout 1 (create it "
                "with `pagedlist init URL` for layout 2)",
                self._table,
                self._entries_table,
            )
        if done:
            self._provisioned = "; ".join(done)
        elif self._entries is not None:
            self._provisioned = f"tables {self._table} and {self._entries_table} exist"
        else:
            self._provisioned = f"table {self._table} exists (no {self._entries_table})"

    def doctor_settings(self) -> dict[str, Any]:
        """What ``pagedlist doctor`` reports of the table (one GetTable): its state and its
        limits (read and write units, storage, capacity mode)."""
        try:
            result = self._handle.get_table(GetTableRequest().set_table_name(self._table))
        except Exception as err:
            raise _map_error(err, f"reading table {self._table}", self._where) from err
        out: dict[str, Any] = {"table state": result.get_state()}
        limits = result.get_table_limits()
        if limits is None:
            out["table limits"] = "none reported (an on-premises or local endpoint)"
        else:
            out["table limits"] = (
                f"{limits.get_read_units()} read units, {limits.get_write_units()} write "
                f"units, {limits.get_storage_gb()} GB, mode {limits.get_mode()}"
            )
        return out

    def _exists(self, table: str) -> bool:
        try:
            self._handle.get_table(GetTableRequest().set_table_name(table))
        except nosql_errors.TableNotFoundException:
            return False
        except Exception as err:
            raise _map_error(err, f"opening table {table}", self._where) from err
        return True

    def _create(self, table: str, ddl: str, cloud: bool, storage_gb: int) -> str:
        request = TableRequest().set_statement(ddl)
        if cloud:
            request.set_table_limits(
                TableLimits(0, 0, storage_gb, TableLimits.CAPACITY_MODE.ON_DEMAND)
            )
        try:
            self._handle.do_table_request(request, 120_000, 1_000)
        except Exception as err:
            raise _map_error(err, f"creating table {table}", self._where) from err
        log.info("created OCI NoSQL table %s", table)
        return f"created table {table}: {ddl}"

    # --- plumbing --------------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """64-byte keys, 512 KB rows; values are JSON strings inside a JSON column, so a
        control character costs six bytes (``\\u0000``)."""
        return Limits(row_bytes=ROW_BYTES, key_bytes=KEY_BYTES, value_expansion=6)

    @property
    def features(self) -> Features:
        """Entry rows (layout 2) when the entry table exists, claimed by position, up to
        :data:`CLAIM_ENTRIES` per atomic WriteMultiple; no ``push`` (the service has no
        atomic read-and-write across rows of one shard)."""
        if self._entries is None:
            return NO_FEATURES
        return Features(entries=True, push=False, claim_entries=CLAIM_ENTRIES)

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """Key bytes plus the document's compact JSON bytes: the service sizes a JSON
        column by its stored encoding, which is close to (and not above) that text."""
        return len(key.encode("utf-8")) + len(compact_json(doc).encode("utf-8"))

    def _account(self, result: Any) -> None:
        with self._lock:
            self._totals["requests"] += 1
            self._totals["read_units"] += result.get_read_units() or 0
            self._totals["write_units"] += result.get_write_units() or 0
            self._totals["read_kb"] += result.get_read_kb() or 0
            self._totals["write_kb"] += result.get_write_kb() or 0

    def stats(self) -> Mapping[str, Any]:
        """Running totals of read/write units and KB the service reported."""
        with self._lock:
            return dict(self._totals)

    def describe(self) -> str:
        """Where the table is; never credentials."""
        return self._where

    @property
    def handle(self) -> NoSQLHandle:
        """The borneo handle (SDK retries off), for tools that share its settings, e.g.
        the bench's native design (``pagedlist.bench.native.oci``)."""
        return self._handle

    @property
    def table(self) -> str:
        """The rows table's name (the entry rows' table is this plus ``_e``)."""
        return self._table

    def _ms(self) -> int:
        """A request's timeout: the URL's, cut to what the operation's deadline leaves
        (:func:`pagedlist.core.deadline.remaining`), so no call outlives its operation."""
        left = remaining()
        if left is None:
            return self._timeout_ms
        if left < MIN_REQUEST_S:
            # A request given a few milliseconds would mostly time out after it was sent,
            # its outcome unknown: not sending it is the better answer at the deadline.
            raise DeadlineExceeded(
                f"{self._where}: the operation's deadline leaves {left * 1000:.0f} ms, too "
                "little for another request; it was not sent"
            )
        return max(1, min(self._timeout_ms, int(left * 1000)))

    @staticmethod
    def _too_long(key: str) -> bool:
        """Whether ``key`` is over the primary key limit: no row can have it, since every
        write refuses it, so a read of it is answered "absent" without asking."""
        return len(key.encode("utf-8")) > KEY_BYTES

    def _check_key(self, key: str) -> None:
        size = len(key.encode("utf-8"))
        if size > KEY_BYTES:
            raise InvalidListId(
                f"key {key!r} is {size} bytes, over OCI NoSQL's {KEY_BYTES}-byte primary key "
                "limit: use a shorter list id"
            )

    def _call(self, what: str, fn: Any, request: Any, *, idempotent: bool = False) -> Any:
        for attempt in (1, 2):
            try:
                result = fn(request)
            except Exception as err:
                # A read that met a dropped keep-alive connection is simply sent again,
                # once; a write is not (it may have been applied): the core decides.
                if idempotent and attempt == 1 and isinstance(err, _CONNECTION_ERRORS):
                    continue
                raise _map_error(err, what, self._where) from err
            self._account(result)
            return result
        raise AssertionError("unreachable")

    def _statement(self, name: str, template: str, table: str) -> Any:
        with self._lock:
            prepared = self._prepared.get(name)
        if prepared is None:
            text = template.format(table=table)
            if len(text.encode("utf-8")) > QUERY_BYTES:
                raise ContractViolation(f"statement {name} is over the {QUERY_BYTES}-byte limit")
            request = PrepareRequest().set_statement(text).set_timeout(self._ms())
            result = self._call(f"preparing {name}", self._handle.prepare, request)
            prepared = result.get_prepared_statement()
            with self._lock:
                self._prepared[name] = prepared
        # Bound variables live on the statement object: one copy per execution.
        return prepared.copy_statement()

    def _query(
        self, name: str, template: str, variables: dict[str, Any], table: str | None = None
    ) -> list[dict]:
        """Run a prepared statement to its end: every batch (a batch ends at the service's
        read limit, 2 MB, and the next continues from the continuation key)."""
        statement = self._statement(name, template, table or self._table)
        for var, value in variables.items():
            statement.set_variable(var, value)
        request = (
            QueryRequest().set_prepared_statement(statement).set_consistency(Consistency.ABSOLUTE)
        )
        rows: list[dict] = []
        while True:
            request.set_timeout(self._ms())
            result = self._call(name, self._handle.query, request)
            rows.extend(_plain(r) for r in result.get_results())
            if request.is_done():
                return rows

    def _update(
        self, name: str, template: str, variables: dict[str, Any], key: str, field: str,
        kind: type,
    ) -> list[dict]:  # fmt: skip
        """Run an ``UPDATE`` on ``field`` of ``key``, which must hold a ``kind`` (list or int).

        A server may refuse the statement (``IllegalArgumentException``) instead of matching
        nothing when the field holds another type (``size()`` of a string, a string plus a
        number): the row, read then, tells the caller's mistake (``InvalidValue``) from an
        adapter bug (``ContractViolation``).
        """
        try:
            return self._query(name, template, variables)
        except ContractViolation as err:
            if not isinstance(err.__cause__, nosql_errors.IllegalArgumentException):
                raise
            found = self._read(key)
            if found is not None and field in found[0] and _wrong_type(found[0][field], kind):
                fault = not_a_list if kind is list else not_an_integer
                raise fault(key, field, found[0][field]) from err.__cause__
            raise

    def _read(self, key: str) -> tuple[JSONDoc, str, int] | None:
        request = (
            GetRequest()
            .set_table_name(self._table)
            .set_key({"k": key})
            .set_consistency(Consistency.ABSOLUTE)
            .set_timeout(self._ms())
        )
        result = self._call("get", self._handle.get, request, idempotent=True)
        value = result.get_value()
        if value is None:
            return None
        return self._row_of(key, value, result.get_version())

    def _row_of(self, key: str, value: Any, version: Any) -> tuple[JSONDoc, str, int]:
        doc = _plain(value.get("doc"))
        if not isinstance(doc, dict):
            raise ContractViolation(f"row {key!r} has no JSON object in column doc: {doc!r}")
        return doc, _version_text(version) or "", int(value.get("sz") or 0)

    def _create_or_read(self, key: str, doc: JSONDoc) -> tuple[JSONDoc, str, int] | None:
        """Put ``doc`` if ``key`` is absent (``None``: created); else the existing row, read
        by the same request (``set_return_row``): one round trip either way."""
        self._check_key(key)
        size = self.row_size(key, doc)
        if size > ROW_BYTES:
            # Too big to create; if the row exists, it may still explain the refusal.
            found = self._read(key)
            if found is None:
                raise too_large(key, size, ROW_BYTES)
            return found
        request = (
            PutRequest()
            .set_table_name(self._table)
            .set_value({"k": key, "doc": _wire(doc), "sz": size})
            .set_option(PutOption.IF_ABSENT)
            .set_return_row(True)
            .set_timeout(self._ms())
        )
        result = self._call("put", self._handle.put, request)
        if result.get_version() is not None:
            return None
        existing = result.get_existing_value()
        if existing is None:
            # The service may omit the row; read it (still strongly consistent).
            found = self._read(key)
            if found is None:
                raise Throttled(f"row {key!r} exists and vanished at once; retry")
            return found
        return self._row_of(key, existing, result.get_existing_version())

    def _put(self, key: str, doc: JSONDoc, *, absent: bool, version: str | None = None) -> Any:
        self._check_key(key)
        size = self.row_size(key, doc)
        if size > ROW_BYTES:
            raise too_large(key, size, ROW_BYTES)
        request = (
            PutRequest()
            .set_table_name(self._table)
            .set_value({"k": key, "doc": _wire(doc), "sz": size})
            .set_timeout(self._ms())
        )
        if absent:
            request.set_option(PutOption.IF_ABSENT)
        if version is not None:
            match = _version_of(version)
            if match is None:
                return None
            request.set_match_version(match)
        return self._call("put", self._handle.put, request).get_version()

    # --- the store protocol ------------------------------------------------------------------

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """A put with ``PutOption.IF_ABSENT``: created iff a version comes back."""
        return self._put(key, doc, absent=True) is not None

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """A put with a match version (compare-and-swap)."""
        return _version_text(self._put(key, doc, absent=False, version=version))

    def get(self, key: str) -> Row | None:
        """One get with absolute consistency; a key over the 64-byte limit is absent
        (e.g. the page of ``get(10**30)`` on a list with the longest id)."""
        if self._too_long(key):
            return None
        found = self._read(key)
        return None if found is None else Row(found[0], found[1])

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """Concurrent point gets (``GET_MANY_WORKERS`` at a time): one round trip per
        distinct key, overlapped. Each read is strongly consistent on its own."""
        wanted = [k for k in dict.fromkeys(keys) if not self._too_long(k)]
        found = dict(zip(wanted, self._fan_out(self.get, wanted), strict=True))
        return {k: row for k, row in found.items() if row is not None}

    def _fan_out(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """``fn`` of each item, ``GET_MANY_WORKERS`` at a time on the store's pool; each call
        runs in the caller's context, so it sees the operation's deadline."""
        if len(items) <= 1:
            return [fn(item) for item in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(GET_MANY_WORKERS, "pagedlist-oci")
            pool = self._pool
        context = contextvars.copy_context()
        futures = [pool.submit(context.copy().run, fn, item) for item in items]
        return [f.result() for f in futures]

    def insert(self, key: str, doc: JSONDoc) -> Row | None:
        """A put ``IF_ABSENT`` with ``set_return_row``: created (``None``), or refused with
        the existing row in the same answer (one round trip either way)."""
        found = self._create_or_read(key, doc)
        return None if found is None else Row(found[0], found[1])

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """A prepared ``UPDATE ... ADD ... RETURNING``; an empty result is classified by
        reading the row, and a missing row or field is created with a conditional put."""
        self._check_key(key)
        batch = list(entries)
        ids = [str(e["id"]) for e in batch]
        add = sum(len(compact_json(e).encode("utf-8")) for e in batch) + len(batch)
        variables = {
            "$k": key,
            "$f": field,
            "$e": _wire(batch),
            "$ids": ids,
            "$n": len(batch),
            "$max": max_len,
            "$add": add,
            "$lim": ROW_BYTES,
        }
        for _ in range(MAX_ATTEMPTS):
            rows = self._update("append", APPEND, variables, key, field, list)
            if rows:
                return Appended(int(rows[0]["n"]))
            if len(batch) > max_len:
                found = self._read(key)
                if found is None:
                    return Full(0)
            else:
                found = self._create_or_read(key, {field: batch})
                if found is None:
                    return Appended(len(batch))
            doc, version, sz = found
            items = doc.get(field)
            if items is None:
                if len(batch) > max_len:
                    return Full(0)
                if self.replace(key, {**doc, field: batch}, version) is not None:
                    return Appended(len(batch))
                continue
            if not isinstance(items, list):
                raise not_a_list(key, field, items)
            where = {item.get("id"): i for i, item in enumerate(items)}
            for offset, entry_id in enumerate(ids):
                if entry_id in where:
                    return Duplicate(where[entry_id], offset)
            if len(items) + len(batch) > max_len:
                return Full(len(items))
            grown = sz + add - (1 if not items else 0)
            if grown > ROW_BYTES:
                raise too_large(key, grown, ROW_BYTES)
            # Nothing explains the refusal: the row changed in between. Try again.
        raise Throttled(f"append to {key!r} kept racing with other writers; retry")

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """A prepared ``UPDATE ... SET f = f + $by RETURNING``, conditioned on the current
        value when ``expect`` is given; a missing row or field is created conditionally."""
        self._check_key(key)
        if expect is None:
            name, template = "increment", INCREMENT
            variables: dict[str, Any] = {"$k": key, "$f": field, "$by": by}
        else:
            name, template = "compare_and_increment", COMPARE_AND_INCREMENT
            variables = {"$k": key, "$f": field, "$by": by, "$x": expect}
        for _ in range(MAX_ATTEMPTS):
            rows = self._update(name, template, variables, key, field, int)
            if rows:
                return int(rows[0]["v"])
            found = self._read(key)
            if found is None:
                if expect not in (None, 0):
                    return None
                if self.put_if_absent(key, {field: by}):
                    return by
                continue
            doc, version, _ = found
            if field not in doc:
                if expect not in (None, 0):
                    return None
                if self.replace(key, {**doc, field: by}, version) is not None:
                    return by
                continue
            if _wrong_type(doc[field], int):
                raise not_an_integer(key, field, doc[field])
            if expect is not None and doc[field] != expect:
                return None
        raise Throttled(f"increment of {key!r} kept racing with other writers; retry")

    def delete(self, key: str) -> None:
        """One delete; a missing row is fine, and so is a key too long to exist."""
        if self._too_long(key):
            return
        request = (
            DeleteRequest().set_table_name(self._table).set_key({"k": key}).set_timeout(self._ms())
        )
        self._call("delete", self._handle.delete, request)

    # --- entry rows (layout 2) -----------------------------------------------------------

    def _entry_table(self, what: str) -> str:
        if self._entries is None:
            raise self._unsupported(what)
        return self._entries

    def _entry_row(self, list_id: str, position: int, entry: JSONDoc) -> dict[str, Any]:
        """The entry row to put, its size checked first (nothing sent when it is over)."""
        if self._entry_key_too_long(list_id):
            raise InvalidListId(
                f"list id {list_id!r} and a position are over OCI NoSQL's {KEY_BYTES}-byte "
                "primary key limit: use a shorter list id"
            )
        if not 0 <= position <= MAX_LONG:
            raise UsageError(
                f"position {position} of list {list_id!r} is outside the LONG range OCI NoSQL "
                "keys take; nothing was written"
            )
        text = compact_json(entry)
        size = self._entry_size(list_id, text)
        if size > ROW_BYTES:
            raise too_large(f"{list_id}|e{position}", size, ROW_BYTES)
        return {"l": list_id, "p": position, "e": text}

    @staticmethod
    def _entry_key_too_long(list_id: str) -> bool:
        """Whether no entry row of ``list_id`` can exist: its key (the id and a LONG) would
        be over the limit, which every write refuses, so reads answer "absent"."""
        return len(list_id.encode("utf-8")) + LONG_BYTES > KEY_BYTES

    @staticmethod
    def _entry_size(list_id: str, text: str) -> int:
        """An entry row as the adapter counts it against the 512 KB limit: the list id, 8
        bytes for the position, the column's name and the entry's compact JSON ``text``."""
        return len(list_id.encode("utf-8")) + LONG_BYTES + 1 + len(text.encode("utf-8"))

    @staticmethod
    def _entry_of(list_id: str, value: Any) -> JSONDoc:
        text = value.get("e") if isinstance(value, dict) else None
        try:
            entry = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            raise ContractViolation(
                f"an entry row of list {list_id!r} has no JSON object text in column e: "
                f"{text!r:.80}"
            )
        return entry

    def _put_entry(self, row: dict[str, Any]) -> Any:
        return (
            PutRequest()
            .set_table_name(self._entry_table("claim"))
            .set_value(row)
            .set_option(PutOption.IF_ABSENT)
            .set_return_row(True)
        )

    def claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> ClaimOutcome:
        """One entry: a put ``IF_ABSENT`` with ``set_return_row``. Several: one
        WriteMultiple of such puts, each ``abort_if_unsuccessful``; they share the shard key
        (the list id), so the batch is one atomic transaction, which the service runs in
        key (position) order: the first taken position aborts it and is the lowest."""
        batch = list(entries)
        if len(batch) > CLAIM_ENTRIES:
            raise too_many_entries(f"{list_id}|e{first}", len(batch), CLAIM_ENTRIES)
        rows = [self._entry_row(list_id, first + i, e) for i, e in enumerate(batch)]
        if len(rows) == 1:
            request = self._put_entry(rows[0]).set_timeout(self._ms())
            result = self._call("claim", self._handle.put, request)
            if result.get_version() is not None:
                return Claimed()
            return self._taken(list_id, first, result.get_existing_value())
        size = sum(self._entry_size(list_id, row["e"]) for row in rows)
        if size > BATCH_REQUEST_BYTES:
            raise ItemTooLarge(
                f"a claim of {len(batch)} entries of list {list_id!r} is {size} bytes, over "
                f"the service's {BATCH_REQUEST_BYTES}-byte WriteMultiple limit; nothing was "
                "written: use smaller items"
            )
        multiple = WriteMultipleRequest()
        for row in rows:
            multiple.add(self._put_entry(row), True)
        multiple.set_timeout(self._ms())
        result = self._call("claim", self._handle.write_multiple, multiple)
        if result.get_success():
            return Claimed()
        index = result.get_failed_operation_index()
        failed = result.get_failed_operation_result()
        if not isinstance(index, int) or not 0 <= index < len(rows):
            raise ContractViolation(
                f"a WriteMultiple of {len(rows)} claims failed at operation {index!r}"
            )
        existing = None if failed is None else failed.get_existing_value()
        return self._taken(list_id, first + index, existing)

    def _taken(self, list_id: str, position: int, existing: Any) -> Taken:
        """``Taken`` naming the occupant the refused put returned (read if it did not)."""
        if existing is not None:
            return Taken(position, self._entry_of(list_id, existing))
        row = self.get_entry(list_id, position)
        if row is None:
            # Purged between the refusal and the read: the claim may go again.
            raise Throttled(f"position {position} of {list_id!r} was taken and purged; retry")
        return Taken(position, row.doc)

    def scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> tuple[Slot, ...]:
        """One prepared single-shard query, ``ORDER BY p`` (``DESC`` newest first) ``LIMIT
        $n``, run to its end (a batch stops at the service's 2 MB read limit)."""
        table = self._entry_table("scan")
        top = MAX_LONG if hi is None else min(hi, MAX_LONG)
        if lo >= top or self._entry_key_too_long(list_id):
            return ()
        if newest_first:
            name, template = "scan_newest_first", SCAN_NEWEST_FIRST
        else:
            name, template = "scan_oldest_first", SCAN_OLDEST_FIRST
        variables = {"$l": list_id, "$lo": lo, "$hi": top, "$n": min(limit, MAX_LONG)}
        rows = self._query(name, template, variables, table)
        return tuple((int(r["p"]), self._entry_of(list_id, r)) for r in rows)

    def scan_many(self, scans: Sequence[Scan]) -> tuple[tuple[Slot, ...], ...]:
        """The scans concurrently (``GET_MANY_WORKERS`` at a time): the service has no
        query over several shard keys that keeps each one's order and limit."""
        return tuple(
            self._fan_out(
                lambda s: self.scan(s.list_id, s.lo, s.hi, s.limit, s.newest_first), scans
            )
        )

    def get_entry(self, list_id: str, position: int) -> Row | None:
        """One get with absolute consistency; its version is the row's ``Version``."""
        table = self._entry_table("get_entry")
        if not 0 <= position <= MAX_LONG or self._entry_key_too_long(list_id):
            return None
        request = (
            GetRequest()
            .set_table_name(table)
            .set_key({"l": list_id, "p": position})
            .set_consistency(Consistency.ABSOLUTE)
            .set_timeout(self._ms())
        )
        result = self._call("get_entry", self._handle.get, request, idempotent=True)
        value = result.get_value()
        if value is None:
            return None
        return Row(self._entry_of(list_id, value), _version_text(result.get_version()) or "")

    def replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> str | None:
        """A put matching the row's version (never creates: a missing row matches none)."""
        table = self._entry_table("replace_entry")
        row = self._entry_row(list_id, position, entry)
        match = _version_of(version)
        if match is None:
            return None
        request = (
            PutRequest()
            .set_table_name(table)
            .set_value(row)
            .set_match_version(match)
            .set_timeout(self._ms())
        )
        return _version_text(self._call("replace_entry", self._handle.put, request).get_version())

    def purge(self, list_id: str, below: int) -> None:
        """Multi-deletes of the list's rows with ``p < below``, in key order, each bounded
        by the service's 2 MB write limit and continued from its continuation key, every
        request within the operation's deadline (idempotent: the driver may repeat it)."""
        table = self._entry_table("purge")
        if below <= 0 or self._entry_key_too_long(list_id):
            return
        self._delete_range(table, list_id, FieldRange("p").set_end(min(below, MAX_LONG), False))

    def drop_entries(self, list_id: str) -> None:
        """Multi-deletes of every row of the list's shard key (as :meth:`purge`)."""
        table = self._entry_table("drop_entries")
        if self._entry_key_too_long(list_id):
            return
        self._delete_range(table, list_id, None)

    def _delete_range(self, table: str, list_id: str, span: Any) -> None:
        request = MultiDeleteRequest().set_table_name(table).set_key({"l": list_id})
        if span is not None:
            request.set_range(span)
        while True:
            request.set_timeout(self._ms())
            key = self._call("purge", self._handle.multi_delete, request).get_continuation_key()
            if key is None:
                return
            request.set_continuation_key(key)

    def close(self) -> None:
        """Close the handle and the read pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self._handle.close()
