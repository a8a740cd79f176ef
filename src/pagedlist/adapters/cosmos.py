"""Azure Cosmos DB (NoSQL API) store: ``cosmos://HOST:PORT/DATABASE/CONTAINER``.

URL options (query string):

* ``tls=false`` — plain HTTP (only for a local server such as ``pagedlist emulator start
  cosmos``); HTTPS is the default.
* ``create=true`` — create the database and container if absent (else a missing container
  fails at open with a ``ConfigError`` naming the fix; ``pagedlist init URL`` also creates it).
* ``verify=false`` — do not check the TLS certificate (Microsoft's emulator in Docker).
* ``timeout=SECONDS`` — per-request connect and read timeout (default 10).
* ``consistency=any`` — accept an account whose default consistency is weaker than
  Strong; without it such an account fails at open with a ``ConfigError``.
* ``emulator=vercel`` — the workarounds for the local test server
  ``@vercel/cosmosdb-server`` (predicates spelled for its parser, ``select`` escaped in
  literals, a 500 on a point read confirmed by a query); never for a real account, whose
  default is ``emulator=none`` (``docs/backends/cosmos.md``, "The emulator flag").

Credentials never appear in the URL: the account key comes from ``$PAGEDLIST_COSMOS_KEY``;
without it a loopback endpoint uses the emulator's published well-known key, and any other
endpoint uses ``azure.identity.DefaultAzureCredential`` (managed identity, ``az login``...).

Layout: one container with partition key path ``/pk``; every row is its own logical
partition (``id == pk == row key``) and its document is kept under ``doc``, so the caller's
field names never meet Cosmos DB's own (``id``, ``_etag``...)::

    {"id": KEY, "pk": KEY, "doc": {...the row...}, "rowbytes": N}

``rowbytes`` is an upper bound on the stored document's size that every write maintains in
the same atomic request (``incr`` in a patch, or computed for a whole-document write), so a
conditional patch can refuse a write that would cross the 2 MB item limit: nothing is
written and ``ItemTooLarge`` is raised.

Primitives: ``create_item`` (put_if_absent); ``replace_item`` with the ``_etag`` and
``IfNotModified`` (replace); one ``patch_item`` with ``add /doc/FIELD/-`` per entry plus an
``incr`` of ``rowbytes`` under a ``filter_predicate`` that bounds the length, the size and
rejects duplicate ids (append); a conditional ``incr`` patch (increment); point reads and
``read_items`` (get, get_many). Patch predicates take no parameters, so every value in one
goes through :func:`sql_string_literal`.
"""

from __future__ import annotations

import abc
import os
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey, exceptions
from azure.cosmos._retry_options import RetryOptions
from azure.cosmos.documents import ConnectionPolicy

from pagedlist.adapters._toolkit import (
    ErrorTable,
    Rule,
    UrlOptions,
    class_keys,
    host_port,
    is_loopback,
    not_a_list,
    not_an_integer,
    tallied,
    too_many_entries,
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
    Row,
    Slot,
    Taken,
)
from pagedlist.core.store import Store, compact_json, too_large
from pagedlist.errors import (
    ConfigError,
    ContractViolation,
    DeadlineExceeded,
    InvalidValue,
    ItemTooLarge,
    PagedListError,
    StoreUnavailable,
    Throttled,
    UsageError,
)

__all__ = [
    "COSMOS_ITEM_BYTES",
    "EMULATORS",
    "EMULATOR_KEY",
    "ERRORS",
    "KEY_ENV",
    "MAX_PATCH_ENTRIES",
    "AsyncCosmosStore",
    "CosmosStore",
    "sql_string_literal",
]

#: Environment variable holding the account key (primary or secondary).
KEY_ENV = "PAGEDLIST_COSMOS_KEY"
#: The key every Cosmos DB emulator accepts, published by Microsoft; used only for loopback
#: endpoints when no key is set.
EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
#: Cosmos DB's item size limit.
COSMOS_ITEM_BYTES = 2 * 1024 * 1024
#: Cosmos DB takes at most 10 operations in one patch; an append spends one on ``rowbytes``.
MAX_PATCH_OPERATIONS = 10
MAX_PATCH_ENTRIES = MAX_PATCH_OPERATIONS - 1
#: Bytes the service adds to every item: ``_rid``, ``_self``, ``_etag``, ``_attachments``,
#: ``_ts`` with their names (about 180), rounded up.
SYSTEM_PROPERTY_BYTES = 256
#: Room for the ``rowbytes`` number and for integer fields growing by a few digits under
#: ``increment``, which does not re-count the whole row.
ROW_SLACK_BYTES = 128
#: Distinct keys per ``read_items`` call.
READ_BATCH = 100
#: Re-tries of a patch whose predicate failed while a fresh read shows no reason for it
#: (another client changed the row in between); then the driver backs off and retries.
MAX_RACES = 16
#: Characters Cosmos DB forbids in an ``id``.
FORBIDDEN_ID_CHARS = "/\\?#"
DOC = "doc"
#: Entries are never queried: leaving the document body out of the index makes every write
#: cheaper (ids, pk and rowbytes stay indexed).
INDEXING_POLICY = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": "/doc/*"}, {"path": '/"_etag"/?'}],
}
#: The item's size bound. Lower-case, like ``doc``: both appear bare in predicates
#: (``c.doc``, ``c.rowbytes``), where the name's case must survive a case-folding server.
ROW_BYTES = "rowbytes"
#: An entry document's position (also its ``id``, as text), indexed for ``ORDER BY``.
POS = "pos"
#: The fields an entry may have (``docs/adapters.md`` 9.2).
ENTRY_FIELDS = ("id", "ts", "v", "d", "e", "x")
_ENTRY_SET = frozenset(ENTRY_FIELDS)
#: Entries one claim writes: one transactional batch in the list's partition (Cosmos DB
#: takes up to 100 operations; 10, like DynamoDB, keeps a refused claim cheap).
CLAIM_ENTRIES = 10
FEATURES = Features(entries=True, push=False, claim_entries=CLAIM_ENTRIES)
#: The largest ``TOP`` a scan sends (callers pass large limits to mean "all").
MAX_TOP = 2**31 - 1
#: Values of the ``emulator`` URL option: ``vercel`` turns on the workarounds for the local
#: test server ``@vercel/cosmosdb-server`` (``pagedlist emulator start cosmos`` prints it).
EMULATORS = ("none", "vercel")
_OPTIONS = ("tls", "create", "verify", "timeout", "consistency", "emulator")
_FORM = "cosmos://HOST[:PORT]/DATABASE/CONTAINER[?tls=false&create=true&emulator=vercel...]"

T = TypeVar("T")

# Characters a predicate literal carries as themselves: lower-case ASCII letters, digits and
# a little punctuation. Everything else becomes a \\uXXXX escape.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 _.-:|")


def sql_string_literal(text: str, *, escape_select: bool = True) -> str:
    """``text`` as a Cosmos DB SQL string literal, safe to splice into a patch predicate.

    Patch filter predicates take no parameters, so values must be spliced in as literals.
    Lower-case ASCII letters, digits and ``space _ . - : |`` are kept as they are; every
    other character is written as a ``\\uXXXX`` escape (UTF-16 code units, so characters
    outside the BMP become surrogate pairs, as in JSON): quotes, backslashes, control
    characters, upper-case letters and all non-ASCII text. So a literal can never end early
    or change the predicate around it, and it is valid JSON too:
    ``json.loads(sql_string_literal(s)) == s``.

    Why an allow-list rather than escaping only quotes, backslashes and control characters:
    the literal is then plain ASCII and means the same to a server that case-folds a
    predicate (the local test server lower-cases some). Cosmos DB reads the escapes
    exactly; hex ids (the core's default) need no escape at all, which keeps predicates
    short.

    ``escape_select`` (the default here) also escapes the ``s`` of every ``select``: the
    local test server (``@vercel/cosmosdb-server``) takes a predicate containing that text
    for a full query. Only that server needs it: :class:`CosmosStore` passes its
    ``emulator=vercel`` flag (``docs/backends/cosmos.md``), so a real account's
    predicates carry ``select`` as it is.
    """
    if not isinstance(text, str):
        raise TypeError(f"sql_string_literal takes a str, got {type(text).__name__}")
    out = ['"']
    for i, ch in enumerate(text):
        if ch in _PLAIN and not (
            escape_select and ch == "s" and text.startswith("elect", i + 1)
        ):
            out.append(ch)
            continue
        units = ch.encode("utf-16-be", "surrogatepass")
        for j in range(0, len(units), 2):
            out.append(f"\\u{int.from_bytes(units[j : j + 2], 'big'):04x}")
    out.append('"')
    return "".join(out)


def _int_literal(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"expected an int, got {value!r}")
    return str(value)


def _pointer(*parts: str) -> str:
    """A JSON Pointer (RFC 6901) for a patch path: ``~`` and ``/`` escaped."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


# Predicates put literals on the left of comparisons ("49 >= ARRAY_LENGTH(...)",
# "false = ARRAY_CONTAINS(...)"): equivalent, and the local server's parser, which
# backtracks, takes several times longer on the other order.
_SIZE = f"c.{ROW_BYTES}"


def _json_bytes(value: Any) -> int:
    return len(compact_json(value).encode("utf-8"))


def _error_keys(err: BaseException) -> Iterator[object]:
    """``(status, sub-status)`` and the status of an HTTP answer, then the classes."""
    if isinstance(err, exceptions.CosmosHttpResponseError):
        yield (err.status_code, err.sub_status or 0)
        yield err.status_code
    yield from class_keys(err)


_CREDENTIALS = Rule(
    ConfigError,
    "{where} refused the credentials ({status}: {detail}): check ${key_env} or the Azure "
    "identity's data-plane role (Cosmos DB Built-in Data Contributor)",
)
_UNREACHABLE = Rule(StoreUnavailable, "cannot reach {where}: {detail}")

#: Cosmos DB answers (status, sub-status) and SDK exceptions -> pagedlist errors. 404, 409
#: and 412 are answers to the calls that expect them (absent, exists, precondition failed);
#: they reach this table only from a call that does not.
ERRORS = ErrorTable(
    {
        # A read of a session token the replica lacks yet: try again.
        (404, 1002): Rule(StoreUnavailable, "{where}: replica not caught up yet (404/1002)"),
        404: Rule(
            ConfigError,
            "{where}: not found ({detail}); was the database or container deleted? Run "
            "`pagedlist init '{url}'` to create it again",
        ),
        409: Rule(ContractViolation, "{where}: unexpected 409 ({detail})"),
        412: Rule(ContractViolation, "{where}: unexpected 412 ({detail})"),
        429: Rule(
            Throttled,
            "{where} was throttled (429, request rate too large): retrying; raise the "
            "container's RU/s or use autoscale if this persists",
        ),
        # Writes are forbidden in this region for a moment (a failover): try again.
        (403, 3): Rule(StoreUnavailable, "{where}: writes forbidden during a failover (403/3)"),
        401: _CREDENTIALS,
        403: _CREDENTIALS,
        408: Rule(DeadlineExceeded, "{where} timed out on the server (408): {detail}"),
        413: Rule(
            ItemTooLarge, "{where}: item over Cosmos DB's 2 MB limit (413); nothing was written"
        ),
        400: Rule(ContractViolation, "{where} was rejected as malformed (400): {detail}"),
        exceptions.CosmosHttpResponseError: Rule(
            StoreUnavailable, "{where} failed ({status}): {detail}"
        ),
        exceptions.CosmosClientTimeoutError: Rule(DeadlineExceeded, "{where} timed out: {detail}"),
        ClientAuthenticationError: Rule(
            ConfigError,
            "{where}: could not get a token from Azure identity ({detail}); set ${key_env} or "
            "sign in (az login)",
        ),
        # The request went out and no answer came: it may have run.
        ServiceResponseTimeoutError: Rule(
            DeadlineExceeded, "{where} timed out waiting for the answer: {detail}"
        ),
        ServiceRequestError: _UNREACHABLE,
        ServiceResponseError: _UNREACHABLE,
        AzureError: _UNREACHABLE,
        OSError: _UNREACHABLE,
    },
    keys=_error_keys,
    default=Rule(StoreUnavailable, "{where} failed: {detail}"),
)


# --- plans: every operation as SDK requests and answers, no I/O ------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    """One SDK request: ``method`` of ``target`` (the container when ``None``) with its
    arguments; ``what`` names it in error messages. ``listed`` collects a paged answer (a
    query) into a list."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    what: str
    target: Any = None
    listed: bool = False


Plan = Generator[_Call, Any, T]


@dataclass(frozen=True, slots=True)
class _Done:
    value: Any


def _advance(plan: Plan[Any], answer: Any, error: BaseException | None) -> Any:
    """Give ``plan`` the answer (or the error) of its last request; return its next request,
    or :class:`_Done` with its result."""
    try:
        return plan.send(answer) if error is None else plan.throw(error)
    except StopIteration as stop:
        return _Done(stop.value)


def _parse_url(url: str) -> dict[str, Any]:
    options = UrlOptions(url, accepted=_OPTIONS, form=_FORM, what="Cosmos DB URL")
    parts = urlsplit(url)
    if parts.scheme.lower() != "cosmos":
        raise options.error("it is not a cosmos:// URL")
    netloc = parts.netloc
    if "@" in netloc:
        raise ConfigError(
            f"do not put credentials in the Cosmos DB URL; set ${KEY_ENV} to the account "
            "key, or leave it unset to use Azure identity (az login, managed identity)"
        )
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not netloc or len(path) != 2:
        raise options.error("it must name a host, a database and a container")
    host, port = host_port(netloc, 443, options.error)
    consistency = options.choice("consistency", ("strong", "any"), "strong")
    return {
        "require_strong": consistency == "strong",
        "host": host,
        "port": port or 443,
        "database": path[0],
        "container": path[1],
        "tls": options.flag("tls", True),
        "create": options.flag("create"),
        "verify": options.flag("verify", True),
        "timeout": options.number("timeout", 10.0),
        "emulator": options.choice("emulator", EMULATORS, "none"),
    }


def _routed(url: str, route: Callable[[str, int], tuple[str, int]]) -> dict[str, Any]:
    """``url``'s options with its server reached at ``route(host, port)`` (clause W1)."""
    opts = _parse_url(url)
    if opts["tls"]:
        raise ConfigError(
            f"{url!r} uses HTTPS, whose certificate check a loopback proxy cannot pass; "
            "only a plain-HTTP (tls=false) server can be routed through one"
        )
    opts["host"], opts["port"] = route(opts["host"], opts["port"])
    return opts


def _client_options(timeout: float, verify: bool) -> dict[str, Any]:
    """Keyword arguments for ``CosmosClient`` (sync or aio): no retry layer of its own.

    The core driver is the only retry layer (contract clause W1): the SDK must never send
    a request twice. A reset after a patch was sent may follow its commit (an incr counted
    twice), and 429s are the driver's to retry within the operation's deadline, honouring
    x-ms-retry-after-ms. Each retry path of azure-cosmos 4.17's _retry_utility.Execute (and
    its aio twin) and of azure-core underneath, and what switches it off:

    * 429 (ResourceThrottleRetryPolicy): RetryOptions with 0 attempts and 0 s. retry_total=0
      keeps it 0 (cosmos_client._build_connection_policy takes "retry_throttle_total or
      retry_total or RetryOptions'" count).
    * ServiceRequestError / ServiceResponseError / 408 / 5xx / 503 / 403.3 / 404.1002
      (ServiceRequest-, ServiceResponse-, TimeoutFailover-, ServiceUnavailable-,
      EndpointDiscovery- and _SessionRetryPolicy): each ShouldRetry returns False first
      thing when EnableEndpointDiscovery is off (enable_endpoint_discovery).
    * the transport (ConnectionRetryPolicy, an azure-core RetryPolicy): retry_total,
      retry_connect, retry_read, retry_status all 0, so not even a read is re-sent.
    * writes re-sent on purpose (retry_write, RetryNonIdempotentWrites) and hedging
      (availability_strategy): both off, stated here rather than left to defaults.

    Left on, because nothing was carried out: 410 partition-range gone and
    container-recreated answers (the request is refused, the routing map refreshed), and
    DefaultRetryPolicy, which only re-sends reads.
    """
    policy = ConnectionPolicy()
    policy.RetryOptions = RetryOptions(max_retry_attempt_count=0, max_wait_time_in_seconds=0)
    return {
        "connection_policy": policy,
        # Also: regional endpoints the local server lacks, and pagedlist needs a single
        # write region anyway (docs/backends/cosmos.md).
        "enable_endpoint_discovery": False,
        "connection_timeout": timeout,
        "read_timeout": timeout,
        "retry_total": 0,
        "retry_connect": 0,
        "retry_read": 0,
        "retry_status": 0,
        "retry_write": 0,
        "availability_strategy": False,
        "connection_verify": verify,
    }


class _CosmosPlans:
    """Everything :class:`CosmosStore` and :class:`AsyncCosmosStore` share: settings,
    predicates, error mapping, and each store operation as a plan (a generator that yields
    the :class:`_Call` requests it needs and receives their answers, or the mapped error).

    404, 409 and 412 reach a plan as the SDK's own exceptions (they are answers, not
    failures: plans catch ``exceptions.CosmosHttpResponseError``); every other failure
    arrives as the ``pagedlist.errors`` exception :data:`ERRORS` maps it to, chained to
    the SDK's.
    """

    scheme = "cosmos"
    _auth: str
    """Where the credential came from (for ``describe``; never the key itself)."""
    _client: Any
    _container: Any
    #: The client's method that reads the account (the aio client names it privately).
    _ACCOUNT_METHOD = "get_database_account"

    def _settings(
        self, host: str, port: int, database: str, container: str, tls: bool, emulator: str
    ) -> str:
        """Set what the plans need; return the endpoint URL."""
        flags = (["tls=false"] if not tls else []) + (
            [f"emulator={emulator}"] if emulator != "none" else []
        )
        self._where = f"cosmos://{host}:{port}/{database}/{container}"
        if flags:
            self._where += "?" + "&".join(flags)
        if emulator not in EMULATORS:
            raise ConfigError(f"emulator={emulator!r}: use one of {', '.join(EMULATORS)}")
        # The local test server's workarounds, off for a real account (docs/backends/cosmos.md
        # "The emulator flag"): predicates spelled for its parser, the "s" of "select"
        # escaped, and a 500 on a point read confirmed by a query.
        self._vercel = emulator == "vercel"
        self._database_name = database
        self._container_name = container
        self._lock = threading.Lock()
        self._charge = 0.0
        self._requests = 0
        self._throttled = 0
        self._provisioned = "container already exists"
        if not hasattr(ContainerProxy, "read_items"):
            raise ConfigError(
                "the installed azure-cosmos has no ContainerProxy.read_items: upgrade it, "
                "pip install 'azure-cosmos>=4.17,<5' (or 'pagedlist[cosmos]')"
            )
        bracketed = f"[{host}]" if ":" in host else host
        return f"{'https' if tls else 'http'}://{bracketed}:{port}/"

    def _credential(self, host: str, aio: bool = False) -> tuple[Any, str]:
        key = os.environ.get(KEY_ENV)
        if key:
            return key, f"key from ${KEY_ENV}"
        if is_loopback(host):
            return EMULATOR_KEY, "emulator key"
        Credential: Any
        try:
            if aio:
                from azure.identity.aio import DefaultAzureCredential as Credential
            else:
                from azure.identity import DefaultAzureCredential as Credential
        except ImportError:
            raise ConfigError(
                f"no ${KEY_ENV} set and azure-identity is not installed: set ${KEY_ENV} to "
                "the account key, or pip install 'pagedlist[cosmos]' to sign in with Azure "
                "identity (az login, managed identity)"
            ) from None
        return Credential(), "Azure identity"

    def _make_client(
        self,
        factory: Callable[..., Any],
        endpoint: str,
        credential: Any,
        timeout: float,
        verify: bool,
    ) -> Any:
        """``factory`` (the sync or the aio ``CosmosClient``) with :func:`_client_options`."""
        try:
            return factory(endpoint, credential, **_client_options(timeout, verify))
        except (AzureError, OSError) as err:
            raise self._map(err, "connection") from err
        except ValueError as err:
            raise ConfigError(f"cannot use Cosmos DB endpoint {endpoint!r}: {err}") from err

    # --- plumbing -----------------------------------------------------------------------

    def _failed(self, err: Exception, what: str) -> Exception:
        """What a plan receives for a failed request: 404/409/412 as they are, every other
        SDK failure mapped (chained to it), anything else unchanged."""
        if isinstance(err, exceptions.CosmosBatchOperationError):
            # Not a CosmosHttpResponseError: the refused operation's status is the answer.
            self._account(getattr(err, "headers", None))
            if err.status_code == 409:
                return err
        elif isinstance(err, exceptions.CosmosHttpResponseError):
            self._account(getattr(err, "headers", None))
            if err.status_code in (404, 409, 412):
                return err
        elif not isinstance(err, (AzureError, OSError)):
            return err
        mapped = self._map(err, what)
        mapped.__cause__ = err
        return mapped

    def _hook(self, headers: Mapping[str, str], _result: Any = None) -> None:
        self._account(headers)

    def _account(self, headers: Mapping[str, str] | None) -> None:
        charge = 0.0
        if headers:
            try:
                charge = float(headers.get("x-ms-request-charge") or 0)
            except ValueError:
                charge = 0.0
        with self._lock:
            self._charge += charge
            self._requests += 1

    def _map(self, err: BaseException, what: str) -> PagedListError:
        """The pagedlist error for an SDK exception (:data:`ERRORS`)."""
        retry_after = None
        if isinstance(err, exceptions.CosmosHttpResponseError) and err.status_code == 429:
            with self._lock:
                self._throttled += 1
            raw = (err.headers or {}).get("x-ms-retry-after-ms")
            try:
                retry_after = float(raw) / 1000 if raw else None
            except ValueError:
                retry_after = None
        message = str(getattr(err, "message", "") or err).strip()
        return ERRORS.error(
            err,
            what=what,
            where=f"Cosmos DB {what} at {self._where}",
            url=self._where,
            key_env=KEY_ENV,
            status=getattr(err, "status_code", ""),
            detail=(message.splitlines() or [""])[0][:300],
            retry_after=retry_after,
        )

    def _data(self, method: str, *args: Any, what: str, **kwargs: Any) -> _Call:
        """A request on the container, its request charge counted."""
        return _Call(method, args, {**kwargs, "response_hook": self._hook}, what)

    # --- opening ------------------------------------------------------------------------

    def _p_open(self, require_strong: bool, create: bool) -> Plan[None]:
        if require_strong:
            yield from self._p_check_consistency()
        self._container = yield from self._p_open_container(create)

    def _p_check_consistency(self) -> Plan[None]:
        """Refuse an account whose default consistency is weaker than Strong.

        The store contract asks for linearizable reads (once a write returns, every
        client's read sees it); under Session, a client only reads its own writes.
        """
        account = yield _Call(self._ACCOUNT_METHOD, (), {}, "read of the account", self._client)
        policy = getattr(account, "ConsistencyPolicy", None) or {}
        level = policy.get("defaultConsistencyLevel", "unknown")
        if str(level).lower() != "strong":
            raise ConfigError(
                f"the Cosmos DB account at {self._where} uses {level} consistency, but "
                "pagedlist needs Strong so that every client reads acknowledged appends: "
                "az cosmosdb update --name ACCOUNT --resource-group RG "
                "--default-consistency-level Strong; or add consistency=any to the URL to "
                f"accept {level} (readers in other processes may then see a list a moment "
                "behind; writers stay correct)"
            )

    def _p_doctor_settings(self) -> Plan[dict[str, Any]]:
        """The account's default consistency and the container's partition key and
        indexing mode, for ``pagedlist doctor`` (two reads)."""
        account = yield _Call(self._ACCOUNT_METHOD, (), {}, "read of the account", self._client)
        policy = getattr(account, "ConsistencyPolicy", None) or {}
        props = yield _Call("read", (), {}, "read of the container")
        key = props.get("partitionKey") or {}
        indexing = props.get("indexingPolicy") or {}
        paths = ", ".join(key.get("paths", [])) or "?"
        return {
            "consistency": policy.get("defaultConsistencyLevel", "unknown"),
            "partition key": f"{paths} ({key.get('kind', '?')}, version {key.get('version', 1)})",
            "indexing": indexing.get("indexingMode", "?"),
        }

    def _p_open_container(self, create: bool) -> Plan[Any]:
        db = self._client.get_database_client(self._database_name)
        container = db.get_container_client(self._container_name)
        how = (
            f"run `pagedlist init '{self._where}'`, add ?create=true to the URL, or create it "
            "with partition key path /pk (docs/backends/cosmos.md shows az CLI and Bicep)"
        )
        try:
            props = yield _Call("read", (), {}, "read of the container", container)
        except exceptions.CosmosHttpResponseError as err:
            if err.status_code != 404:
                raise
            if not create:
                raise ConfigError(
                    f"Cosmos DB container {self._container_name!r} in database "
                    f"{self._database_name!r} does not exist at {self._where}: {how}"
                ) from err
            what = f"creation of container {self._container_name!r}"
            db = yield _Call(
                "create_database_if_not_exists", (self._database_name,), {}, what, self._client
            )
            container = yield _Call(
                "create_container_if_not_exists",
                (self._container_name, PartitionKey(path="/pk", kind="Hash", version=2)),
                {"indexing_policy": INDEXING_POLICY},
                what,
                db,
            )
            props = yield _Call("read", (), {}, "read of the container", container)
            self._provisioned = (
                f"created container {self._container_name!r} (partition key /pk) in database "
                f"{self._database_name!r}"
            )
        paths = (props.get("partitionKey") or {}).get("paths") or []
        if paths != ["/pk"]:
            raise ConfigError(
                f"container {self._container_name!r} has partition key {paths!r}, but "
                f"pagedlist needs exactly ['/pk']: create a new container for it ({how})"
            )
        return container

    # --- predicates -------------------------------------------------------------------

    def _literal(self, text: str) -> str:
        """``text`` as a predicate literal (:func:`sql_string_literal`)."""
        return sql_string_literal(text, escape_select=self._vercel)

    def _field(self, field: str) -> str:
        """SQL for ``doc[field]`` of the patched item, the name as a quoted literal."""
        return f"c.{DOC}[{self._literal(field)}]"

    def _predicate(self, *conditions: str) -> str:
        """A patch filter predicate: ``FROM c WHERE`` and the conditions joined by ``AND``.

        Conditions are only ever joined by ``AND`` (never ``OR``), so the predicate means the
        same however a server combines it with its own ``c.id = @id``. With
        ``emulator=vercel`` it starts ``FROM c  WHERE`` (two spaces): the local test server
        wraps a predicate that starts exactly ``from c where`` in parentheses and
        lower-cases it, which its backtracking parser takes about ten times longer to read
        (tens of milliseconds per patch); any other spacing is used as is. Cosmos DB reads
        both the same.
        """
        return ("FROM c  WHERE " if self._vercel else "FROM c WHERE ") + " AND ".join(conditions)

    # --- rows -------------------------------------------------------------------------

    @staticmethod
    def _check_key(key: str) -> None:
        bad = [ch for ch in FORBIDDEN_ID_CHARS if ch in key]
        if bad or not key:
            raise UsageError(
                f"row key {key!r} cannot be a Cosmos DB id (empty, or contains {bad!r}); "
                "list ids use letters, digits and . _ - : only"
            )

    def _body(self, key: str, doc: JSONDoc) -> dict[str, Any]:
        size = self.row_size(key, doc)
        if size > COSMOS_ITEM_BYTES:
            raise too_large(key, size, COSMOS_ITEM_BYTES)
        return {"id": key, "pk": key, DOC: doc, ROW_BYTES: size}

    @staticmethod
    def _doc(item: Mapping[str, Any]) -> JSONDoc:
        doc = item.get(DOC)
        if not isinstance(doc, dict):
            raise ContractViolation(
                f"Cosmos DB item {item.get('id')!r} has no 'doc' object: it was not written "
                "by pagedlist; use a container of its own for pagedlist"
            )
        return doc

    def _patch(self, key: str, ops: list[dict[str, Any]], predicate: str | None) -> _Call:
        kwargs: dict[str, Any] = {}
        if predicate is not None:
            kwargs["filter_predicate"] = predicate
        return self._data("patch_item", key, key, ops, what=f"patch of {key!r}", **kwargs)

    def _create(self, body: dict[str, Any]) -> _Call:
        return self._data("create_item", body, what=f"create of {body['id']!r}")

    def _p_read(self, key: str, partition: str | None = None) -> Plan[dict[str, Any] | None]:
        """Item ``key`` of logical partition ``partition`` (a row's own key by default), or
        ``None`` only when the service says it is absent."""
        self._check_key(key)
        partition = key if partition is None else partition
        try:
            item: dict[str, Any] = yield self._data(
                "read_item", key, partition, what=f"read of {key!r}"
            )
            return item
        except exceptions.CosmosResourceNotFoundError:
            return None
        except exceptions.CosmosHttpResponseError as err:
            if err.status_code == 404:
                return None
            raise self._map(err, "request") from err
        except StoreUnavailable as err:
            cause = err.__cause__
            if not self._vercel or not isinstance(cause, exceptions.CosmosHttpResponseError):
                raise
            if cause.status_code != 500:
                raise
        # emulator=vercel only: the local test server answers 500 to a point read of a
        # missing id, so a 500 is confirmed with a single-partition query, which says
        # "absent" unambiguously. On a real account a 500 stays StoreUnavailable (the
        # driver retries the read).
        found = yield self._query(
            "SELECT * FROM c WHERE c.pk = @pk AND c.id = @id",
            {"@pk": partition, "@id": key},
            partition,
            f"query for {key!r}",
        )
        return found[0] if found else None

    def _query(self, sql: str, params: Mapping[str, Any], partition: str, what: str) -> _Call:
        """A query in one logical partition, every value a parameter; answers a list."""
        return _Call(
            "query_items",
            (sql,),
            {
                "parameters": [{"name": k, "value": v} for k, v in params.items()],
                "partition_key": partition,
                "response_hook": self._hook,
            },
            what,
            listed=True,
        )

    # --- the store protocol ----------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """2 MB items; ids up to 255 bytes; 9 entries per atomic append (one patch)."""
        return Limits(
            row_bytes=COSMOS_ITEM_BYTES,
            key_bytes=255,
            batch_keys=READ_BATCH,
            append_entries=MAX_PATCH_ENTRIES,
            value_expansion=6,
            # The key twice (id and pk), rowbytes, the system properties and the slack
            # row_size counts: about 950 bytes with a 255-byte key.
            row_overhead=2048,
        )

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The stored item's UTF-8 JSON length (id, pk, doc, rowbytes) plus the system
        properties the service adds and a little slack for counters: Cosmos DB counts an
        item's size as the length of its JSON representation."""
        wrapper = {"id": key, "pk": key, DOC: doc, ROW_BYTES: 0}
        return _json_bytes(wrapper) + SYSTEM_PROPERTY_BYTES + ROW_SLACK_BYTES

    def _p_put_if_absent(self, key: str, doc: JSONDoc) -> Plan[bool]:
        """``create_item``; a 409 conflict means the row exists."""
        self._check_key(key)
        try:
            yield self._create(self._body(key, doc))
        except exceptions.CosmosHttpResponseError as err:
            if err.status_code == 409:
                return False
            raise self._map(err, "request") from err
        return True

    def _p_replace(self, key: str, doc: JSONDoc, version: str) -> Plan[str | None]:
        """``replace_item`` conditional on the ``_etag``; 412 or 404 mean no."""
        self._check_key(key)
        return (yield from self._p_swap(self._body(key, doc), version, f"replace of {key!r}"))

    def _p_swap(self, body: dict[str, Any], version: str, what: str) -> Plan[str | None]:
        """``replace_item`` of ``body`` if its ``_etag`` is still ``version`` (never creates):
        the new ``_etag``, or ``None`` on 412 or 404."""
        try:
            item = yield self._data(
                "replace_item",
                body["id"],
                body,
                what=what,
                etag=version,
                match_condition=MatchConditions.IfNotModified,
            )
        except exceptions.CosmosHttpResponseError as err:
            if err.status_code in (404, 412):
                return None
            raise self._map(err, "request") from err
        return str(item["_etag"])

    def _p_get(self, key: str) -> Plan[Row | None]:
        """A point read (strongly consistent on a Strong-consistency account)."""
        return self._row((yield from self._p_read(key)))

    def _row(self, item: Mapping[str, Any] | None) -> Row | None:
        """The ``Row`` an item holds (its ``doc`` and ``_etag``), ``None`` for no item."""
        return None if item is None else Row(self._doc(item), str(item["_etag"]))

    def _p_get_many(self, keys: Iterable[str]) -> Plan[dict[str, Row]]:
        """``read_items`` in batches of distinct keys; missing keys are absent."""
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            self._check_key(key)
        out: dict[str, Row] = {}
        for i in range(0, len(wanted), READ_BATCH):
            part = wanted[i : i + READ_BATCH]
            if len(part) == 1:
                # read_items turns a single key into a point read: use ours, which handles
                # an ambiguous 500 (see _p_read).
                row = yield from self._p_get(part[0])
                if row is not None:
                    out[part[0]] = row
                continue
            items = yield self._data(
                "read_items", [(k, k) for k in part], what=f"read_items of {len(part)} keys"
            )
            for item in items:
                if item.get("id") in part:
                    out[item["id"]] = Row(self._doc(item), str(item["_etag"]))
        return out

    def _p_append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> Plan[AppendOutcome]:
        """One conditional patch: ``add /doc/FIELD/-`` per entry and ``incr /rowbytes``.

        The predicate requires the field to exist, its length to leave room for the batch,
        ``rowbytes`` to leave room for the entries, and no entry id to be present. When it
        fails (412) one read classifies the refusal: ``Duplicate`` or ``Full`` if the row
        shows it, ``ItemTooLarge`` if the row has no room; a missing field is created by a
        patch conditional on its absence, a missing row by ``create_item``; if the read
        shows no reason (the row changed in between) the patch is sent again.
        """
        self._check_key(key)
        batch = list(entries)
        if len(batch) > MAX_PATCH_ENTRIES:
            # A patch takes at most MAX_PATCH_OPERATIONS operations, one spent on rowbytes.
            raise too_many_entries(key, len(batch), MAX_PATCH_ENTRIES)
        ids = [e["id"] for e in batch]
        for entry_id in ids:
            if not isinstance(entry_id, str):
                raise InvalidValue(f"entry id must be a str, got {entry_id!r}")
        grow = sum(_json_bytes(e) + 1 for e in batch)  # each entry and its comma
        if not batch:
            item = yield from self._p_read(key)
            items = [] if item is None else self._doc(item).get(field, [])
            return Full(len(items)) if len(items) > max_len else Appended(len(items))
        room = COSMOS_ITEM_BYTES - grow
        # ARRAY_LENGTH of a missing field is undefined, and so is the comparison: the
        # predicate fails for a missing field too, without an IS_DEFINED.
        conditions = [
            f"{_int_literal(max_len - len(batch))} >= ARRAY_LENGTH({self._field(field)})",
            f"{_int_literal(room)} >= {_SIZE}",
        ]
        conditions += [
            f'false = ARRAY_CONTAINS({self._field(field)}, {{"id": {self._literal(i)}}}, true)'
            for i in ids
        ]
        predicate = self._predicate(*conditions)
        ops: list[dict[str, Any]] = [
            {"op": "add", "path": _pointer(DOC, field, "-"), "value": e} for e in batch
        ]
        ops.append({"op": "incr", "path": _pointer(ROW_BYTES), "value": grow})
        for _ in range(MAX_RACES):
            try:
                item = yield self._patch(key, ops, predicate)
                return Appended(len(self._doc(item)[field]))
            except exceptions.CosmosHttpResponseError as err:
                if err.status_code == 404:
                    outcome = yield from self._p_append_new_row(key, field, batch, max_len)
                elif err.status_code == 412:
                    outcome = yield from self._p_classify(key, field, batch, max_len, grow)
                else:
                    raise self._map(err, "request") from err
            if outcome is not None:
                return outcome
        raise self._contended(key)

    def _contended(self, key: str) -> Throttled:
        return Throttled(
            f"row {key!r} in {self._where} changed under {MAX_RACES} conditional writes in a "
            "row: backing off (heavy contention on one list)"
        )

    def _p_append_new_row(
        self, key: str, field: str, batch: list[JSONDoc], max_len: int
    ) -> Plan[AppendOutcome | None]:
        """The row is absent: create it holding the batch (``None``: lost a race, retry)."""
        if len(batch) > max_len:
            return Full(0)
        created = yield from self._p_put_if_absent(key, {field: batch})
        return Appended(len(batch)) if created else None

    def _p_classify(
        self, key: str, field: str, batch: list[JSONDoc], max_len: int, grow: int
    ) -> Plan[AppendOutcome | None]:
        """Why did the append's predicate fail? Read the row and decide, or ``None`` to retry.

        Every answer is true at the time of this read, and nothing was written, so it is a
        valid (linearizable) outcome of the append.
        """
        item = yield from self._p_read(key)
        if item is None:
            return (yield from self._p_append_new_row(key, field, batch, max_len))
        doc = self._doc(item)
        items = doc.get(field)
        if items is None:
            if len(batch) > max_len:
                return Full(0)
            added = yield from self._p_new_field(key, field, batch, item)
            return Appended(len(batch)) if added else None
        if not isinstance(items, list):
            raise not_a_list(key, field, items)
        where = {e.get("id"): i for i, e in enumerate(items) if isinstance(e, dict)}
        for offset, entry in enumerate(batch):
            if entry["id"] in where:
                return Duplicate(where[entry["id"]], offset)
        if len(items) + len(batch) > max_len:
            return Full(len(items))
        size = self._row_bytes(item)
        if size + grow > COSMOS_ITEM_BYTES:
            raise too_large(key, size + grow, COSMOS_ITEM_BYTES)
        return None

    def _row_bytes(self, item: Mapping[str, Any]) -> int:
        size = item.get(ROW_BYTES)
        if isinstance(size, bool) or not isinstance(size, int):
            raise ContractViolation(
                f"Cosmos DB item {item.get('id')!r} has no integer {ROW_BYTES!r}: it was not "
                "written by pagedlist; use a container of its own for pagedlist"
            )
        return size

    def _p_new_field(
        self, key: str, field: str, value: Any, item: Mapping[str, Any]
    ) -> Plan[bool]:
        """The row exists without ``field``: set it to ``value`` (growing ``rowbytes``),
        conditional on its absence; ``False``: the row changed meanwhile, retry."""
        grow = _json_bytes(field) + 1 + _json_bytes(value) + 1  # "field":value,
        size = self._row_bytes(item)
        if size + grow > COSMOS_ITEM_BYTES:
            raise too_large(key, size + grow, COSMOS_ITEM_BYTES)
        predicate = self._predicate(
            f"NOT IS_DEFINED({self._field(field)})",
            f"{_int_literal(COSMOS_ITEM_BYTES - grow)} >= {_SIZE}",
        )
        ops = [
            {"op": "set", "path": _pointer(DOC, field), "value": value},
            {"op": "incr", "path": _pointer(ROW_BYTES), "value": grow},
        ]
        try:
            yield self._patch(key, ops, predicate)
        except exceptions.CosmosHttpResponseError as err:
            if err.status_code in (404, 412):
                return False
            raise self._map(err, "request") from err
        return True

    def _p_increment(
        self, key: str, field: str, by: int = 1, expect: int | None = None
    ) -> Plan[int | None]:
        """A conditional ``incr`` patch; a missing row or field counts as 0.

        Fast path (the field exists): one patch whose predicate is ``IS_NUMBER(field)``, or
        ``expect = field``. On 412/404 one read decides: ``None`` if the value is not
        ``expect``; a missing field is created by a patch conditional on its absence (which
        also grows ``rowbytes``), a missing row by ``create_item``.
        """
        self._check_key(key)
        _int_literal(by)
        if expect is None:
            predicate = self._predicate(f"IS_NUMBER({self._field(field)})")
        else:
            predicate = self._predicate(f"{_int_literal(expect)} = {self._field(field)}")
        ops = [{"op": "incr", "path": _pointer(DOC, field), "value": by}]
        for _ in range(MAX_RACES):
            try:
                item = yield self._patch(key, ops, predicate)
                return self._int_field(item, field)
            except exceptions.CosmosHttpResponseError as err:
                if err.status_code not in (404, 412):
                    raise self._map(err, "request") from err
                # A 404 from a patch says the row is absent (no read needed).
                item = None if err.status_code == 404 else (yield from self._p_read(key))
            if item is None:
                if expect not in (None, 0):
                    return None
                if (yield from self._p_put_if_absent(key, {field: by})):
                    return by
                continue
            doc = self._doc(item)
            if field in doc:
                current = self._int_field(item, field)
                if expect is not None and current != expect:
                    return None
                continue  # the field appeared, or changed back: patch again
            if expect not in (None, 0):
                return None
            if (yield from self._p_new_field(key, field, by, item)):
                return by
        raise self._contended(key)

    def _int_field(self, item: Mapping[str, Any], field: str) -> int:
        value = self._doc(item).get(field)
        if isinstance(value, bool) or not isinstance(value, int):
            raise not_an_integer(str(item.get("id")), field, value)
        return value

    def _p_delete(self, key: str) -> Plan[None]:
        """``delete_item``; a missing row is fine."""
        self._check_key(key)
        try:
            yield self._data("delete_item", key, key, what=f"delete of {key!r}")
        except exceptions.CosmosHttpResponseError as err:
            if err.status_code != 404:
                raise self._map(err, "request") from err

    # --- entry operations (layout 2) ------------------------------------------------------

    @property
    def features(self) -> Features:
        """Entry documents (layout 2), one entry per claim, no ``push``."""
        return FEATURES

    @staticmethod
    def _check_list(list_id: str) -> None:
        # Entry documents live in the list's own logical partition; row keys always hold a
        # "|", so a list id without one can never share a partition with a row.
        _CosmosPlans._check_key(list_id)
        if "|" in list_id:
            raise UsageError(f"list id {list_id!r} cannot hold '|' (row keys use it)")

    def _entry_body(self, list_id: str, position: int, entry: JSONDoc) -> dict[str, Any]:
        """The document of an entry: its position as ``id`` and ``pos``, the list as ``pk``,
        the entry as it is under ``doc``."""
        self._check_list(list_id)
        if not isinstance(entry, dict):
            raise InvalidValue(f"an entry must be a JSON object, got {type(entry).__name__}")
        for field in entry:
            if field not in _ENTRY_SET:
                raise InvalidValue(
                    f"entry field {field!r} of list {list_id!r} is not one of the entry fields "
                    f"{', '.join(ENTRY_FIELDS)}: entry documents hold only what the core writes"
                )
        body = {"id": _int_literal(position), "pk": list_id, POS: position, DOC: entry}
        size = _json_bytes(body) + SYSTEM_PROPERTY_BYTES
        if size > COSMOS_ITEM_BYTES:
            raise too_large(f"{list_id} @ {position}", size, COSMOS_ITEM_BYTES)
        return body

    def _p_claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> Plan[ClaimOutcome]:
        """One entry: ``create_item`` of its document in the list's partition. Several: one
        transactional batch of such creates (all or nothing; the first refused one is the
        lowest taken position). A 409 costs one read of the occupant (``Taken``)."""
        batch = list(entries)
        if len(batch) > CLAIM_ENTRIES:
            raise UsageError(
                f"claim of {len(batch)} entries in list {list_id!r}: this store takes at most "
                f"{CLAIM_ENTRIES} per claim (features.claim_entries); nothing was written: "
                "split the batch"
            )
        if not batch:
            return Claimed()
        bodies = [self._entry_body(list_id, first + i, e) for i, e in enumerate(batch)]
        while True:
            at = 0
            try:
                if len(bodies) == 1:
                    yield self._create(bodies[0])
                else:
                    yield self._data(
                        "execute_item_batch",
                        [("create", (body,)) for body in bodies],
                        what=f"claim of positions {first}.. of list {list_id!r}",
                        partition_key=list_id,
                    )
                return Claimed()
            except exceptions.CosmosBatchOperationError as err:
                at = err.error_index or 0
                if self._vercel and at > 0:
                    # emulator=vercel only: the local server runs a batch's operations one
                    # by one and keeps those before the refused one; Cosmos DB rolls them
                    # back. Take them back out (docs/backends/cosmos.md, "Fidelity").
                    yield from self._p_delete_ids(list_id, [b["id"] for b in bodies[:at]])
            except exceptions.CosmosHttpResponseError as err:
                if err.status_code != 409:
                    raise self._map(err, "request") from err
            row = yield from self._p_get_entry(list_id, first + at)
            if row is not None:
                return Taken(first + at, row.doc)
            # Deleted (purged) between the refusal and the read: claim again.

    def _p_scan(
        self,
        list_id: str,
        lo: int = 0,
        hi: int | None = None,
        limit: int = 1,
        newest_first: bool = False,
    ) -> Plan[tuple[Slot, ...]]:
        """One query in the list's partition: ``SELECT TOP @n ... ORDER BY c.pos``, every
        value a parameter."""
        self._check_list(list_id)
        if limit <= 0 or (hi is not None and hi <= lo):
            return ()
        params: dict[str, Any] = {"@pk": list_id, "@n": min(limit, MAX_TOP), "@lo": lo}
        where = "c.pk = @pk AND c.pos >= @lo"
        if hi is not None:
            where += " AND c.pos < @hi"
            params["@hi"] = hi
        order = "DESC" if newest_first else "ASC"
        items = yield self._query(
            f"SELECT TOP @n c.pos, c.{DOC} FROM c WHERE {where} ORDER BY c.pos {order}",
            params,
            list_id,
            f"scan of list {list_id!r}",
        )
        return tuple((int(item[POS]), self._doc(item)) for item in items)

    def _p_get_entry(self, list_id: str, position: int) -> Plan[Row | None]:
        """A point read of the entry's document in the list's partition."""
        self._check_list(list_id)
        return self._row((yield from self._p_read(_int_literal(position), list_id)))

    def _p_replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> Plan[str | None]:
        """``replace_item`` conditional on the ``_etag`` (never creates); 412 or 404: no."""
        body = self._entry_body(list_id, position, entry)
        what = f"replace of entry {position} of list {list_id!r}"
        return (yield from self._p_swap(body, version, what))

    def _p_purge(self, list_id: str, below: int) -> Plan[None]:
        """A query of the ids below ``below``, then a ``delete_item`` each; no request
        starts after the operation's deadline (idempotent: the next purge goes on)."""
        yield from self._p_delete_entries(list_id, below)

    def _p_drop_entries(self, list_id: str) -> Plan[None]:
        """As :meth:`_p_purge`, every position."""
        yield from self._p_delete_entries(list_id, None)

    def _p_delete_entries(self, list_id: str, below: int | None) -> Plan[None]:
        self._check_list(list_id)
        params: dict[str, Any] = {"@pk": list_id}
        where = "c.pk = @pk AND IS_DEFINED(c.pos)"
        if below is not None:
            where += " AND c.pos < @below"
            params["@below"] = below
        still = f"entry documents of list {list_id!r} still to delete (purges are idempotent)"
        self._run_out(still)
        items = yield self._query(
            f"SELECT c.id FROM c WHERE {where}", params, list_id, f"purge of list {list_id!r}"
        )
        yield from self._p_delete_ids(list_id, [item["id"] for item in items], still)

    def _p_delete_ids(self, list_id: str, ids: list[str], still: str = "") -> Plan[None]:
        """``delete_item`` of each of ``ids`` in the list's partition; absent ones are fine."""
        for item_id in ids:
            if still:
                self._run_out(still)
            try:
                yield self._data("delete_item", item_id, list_id, what=f"delete in {list_id!r}")
            except exceptions.CosmosHttpResponseError as err:
                if err.status_code != 404:
                    raise self._map(err, "request") from err

    def _run_out(self, still: str) -> None:
        """``DeadlineExceeded`` if the running operation's deadline has passed (none set:
        never) before a request that continues a purge."""
        seconds = remaining()
        if seconds is not None and seconds <= 0:
            raise DeadlineExceeded(
                f"Cosmos DB purge at {self._where}: the operation's deadline passed with "
                f"{still}: retry, or raise the deadline"
            )

    def stats(self) -> Mapping[str, Any]:
        """Running totals: request units charged, requests made, 429s seen."""
        with self._lock:
            return {
                "request_charge_ru": round(self._charge, 2),
                "requests": self._requests,
                "throttled": self._throttled,
            }

    def describe(self) -> str:
        """Endpoint, database, container and where the credential came from (never the key)."""
        return f"{self._where} (auth: {self._auth})"


#: The store operations both classes serve from a ``_p_`` plan of :class:`_CosmosPlans`.
_OPERATIONS = (
    "put_if_absent",
    "replace",
    "get",
    "get_many",
    "append",
    "increment",
    "delete",
    "claim",
    "scan",
    "get_entry",
    "replace_entry",
    "purge",
    "drop_entries",
)


def _serving(
    wrap: Callable[[Callable[..., Plan[Any]]], Callable[..., Any]],
) -> Callable[[type], type]:
    """A class decorator: each operation of :data:`_OPERATIONS` as ``wrap(plan)``."""

    def decorate(cls: type) -> type:
        for name in _OPERATIONS:
            plan = getattr(_CosmosPlans, f"_p_{name}")
            method = wrap(plan)
            method.__name__ = name
            method.__qualname__ = f"{cls.__name__}.{name}"
            method.__doc__ = plan.__doc__
            setattr(cls, name, method)
        abc.update_abstractmethods(cls)
        return cls

    return decorate


def _blocking(plan: Callable[..., Plan[Any]]) -> Callable[..., Any]:
    def call(self: CosmosStore, *args: Any, **kwargs: Any) -> Any:
        return self._drive(plan(self, *args, **kwargs))

    return call


def _awaiting(plan: Callable[..., Plan[Any]]) -> Callable[..., Any]:
    async def call(self: AsyncCosmosStore, *args: Any, **kwargs: Any) -> Any:
        return await self._drive(plan(self, *args, **kwargs))

    return call


@_serving(_blocking)
@tallied
class CosmosStore(_CosmosPlans, Store):
    """Rows in one Cosmos DB container, each row its own logical partition (azure-cosmos's
    blocking client)."""

    @classmethod
    def _parse(cls, url: str) -> dict[str, Any]:
        return _parse_url(url)

    @classmethod
    def from_url(cls, url: str) -> CosmosStore:
        """Open ``cosmos://HOST:PORT/DATABASE/CONTAINER[?tls=false&create=true...]``."""
        return cls(**_parse_url(url))

    @classmethod
    def through(cls, url: str, route: Callable[[str, int], tuple[str, int]]) -> CosmosStore:
        """Open ``url`` with its server ``(host, port)`` reached at ``route(host, port)``
        instead (the conformance suite's fault proxy, clause W1).

        ``ConfigError`` unless the URL has ``tls=false``: a certificate names the server,
        not a loopback proxy.
        """
        return cls(**_routed(url, route))

    @classmethod
    def provision(cls, url: str) -> str:
        """Create the database and container (partition key ``/pk``) if absent."""
        opts = _parse_url(url)
        opts["create"] = True
        store = cls(**opts)
        try:
            return store._provisioned
        finally:
            store.close()

    def __init__(
        self,
        host: str,
        port: int,
        database: str,
        container: str,
        *,
        tls: bool = True,
        create: bool = False,
        verify: bool = True,
        timeout: float = 10.0,
        require_strong: bool = True,
        emulator: str = "none",
    ) -> None:
        endpoint = self._settings(host, port, database, container, tls, emulator)
        credential, self._auth = self._credential(host)
        self._client = self._make_client(CosmosClient, endpoint, credential, timeout, verify)
        try:
            self._drive(self._p_open(require_strong, create))
        except BaseException:
            self.close()
            raise

    def _drive(self, plan: Plan[T]) -> T:
        """Run ``plan``, each request a blocking SDK call."""
        step = _advance(plan, None, None)
        while not isinstance(step, _Done):
            try:
                target = self._container if step.target is None else step.target
                answer = getattr(target, step.method)(*step.args, **step.kwargs)
                if step.listed:
                    answer = list(answer)
            except Exception as err:
                step = _advance(plan, None, self._failed(err, step.what))
            else:
                step = _advance(plan, answer, None)
        return step.value

    def _read(self, key: str) -> dict[str, Any] | None:
        """The raw item of ``key`` (``None``: absent), for inspection."""
        return self._drive(self._p_read(key))

    def doctor_settings(self) -> dict[str, Any]:
        """What ``pagedlist doctor`` reports: the account's consistency level and the
        container's partition key and indexing mode."""
        return self._drive(self._p_doctor_settings())

    def close(self) -> None:
        """Close the client's HTTP connections."""
        client = getattr(self, "_client", None)
        if client is not None:
            # The SDK probes the endpoint from a background thread started at open; closing
            # under it makes that thread log a traceback ("transport has already been
            # closed"), so give it a moment to finish first.
            manager = getattr(client.client_connection, "_global_endpoint_manager", None)
            probe = getattr(manager, "_refresh_thread", None)
            if isinstance(probe, threading.Thread) and probe.is_alive():
                probe.join(timeout=2)
            client.close()
            self._client = None


@_serving(_awaiting)
@tallied
class AsyncCosmosStore(_CosmosPlans, AsyncStore):
    """The same container for asyncio, through ``azure.cosmos.aio``: the very plans of
    :class:`CosmosStore`, each request awaited. Open it with
    ``await AsyncCosmosStore.from_url(url)`` or ``open_async_store(url)``; close it with
    ``await store.aclose()``."""

    _ACCOUNT_METHOD = "_get_database_account"

    @classmethod
    async def from_url(cls, url: str) -> AsyncCosmosStore:
        """Open ``cosmos://HOST:PORT/DATABASE/CONTAINER[?tls=false&create=true...]``."""
        return await cls._open(_parse_url(url))

    @classmethod
    async def through(
        cls, url: str, route: Callable[[str, int], tuple[str, int]]
    ) -> AsyncCosmosStore:
        """As :meth:`CosmosStore.through` (the fault proxy, clause W1)."""
        return await cls._open(_routed(url, route))

    @classmethod
    async def _open(cls, opts: dict[str, Any]) -> AsyncCosmosStore:
        require_strong, create = opts.pop("require_strong"), opts.pop("create")
        store = cls(**opts)
        try:
            await store._drive(store._p_open(require_strong, create))
        except BaseException:
            await store.aclose()
            raise
        return store

    def __init__(
        self,
        host: str,
        port: int,
        database: str,
        container: str,
        *,
        tls: bool = True,
        verify: bool = True,
        timeout: float = 10.0,
        emulator: str = "none",
    ) -> None:
        try:
            from azure.cosmos.aio import CosmosClient as AioCosmosClient
        except ImportError as err:
            raise ConfigError(
                f"the asyncio cosmos:// adapter needs {err.name!r}, which is not installed: "
                "pip install 'pagedlist[cosmos]'"
            ) from None
        endpoint = self._settings(host, port, database, container, tls, emulator)
        self._credential_object, self._auth = self._credential(host, aio=True)
        self._client = self._make_client(
            AioCosmosClient, endpoint, self._credential_object, timeout, verify
        )

    async def _drive(self, plan: Plan[T]) -> T:
        """Run ``plan``, each request awaited on the event loop."""
        step = _advance(plan, None, None)
        while not isinstance(step, _Done):
            try:
                target = self._container if step.target is None else step.target
                call = getattr(target, step.method)(*step.args, **step.kwargs)
                answer = [x async for x in call] if step.listed else await call
            except Exception as err:
                step = _advance(plan, None, self._failed(err, step.what))
            else:
                step = _advance(plan, answer, None)
        return step.value

    async def aclose(self) -> None:
        """Close the client's connections (and an Azure identity credential)."""
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            await client.close()
        credential = getattr(self, "_credential_object", None)
        if credential is not None and not isinstance(credential, str):
            await credential.close()
