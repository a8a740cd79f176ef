"""DynamoDB store: ``dynamodb://TABLE?region=REGION[&endpoint=URL][&create=true]``.

One table. Tables made by ``pagedlist init`` / ``create=true`` have a string partition key
``pk`` and a number sort key ``sk``; a table of pagedlist 0.1 has only ``pk`` and keeps
working as it is (layout 1 only: ``features.entries`` is false there).

* **rows** of the row protocol are items at ``(pk=row key, sk=-1)`` (``pk`` alone in a 0.1
  table). Top-level document fields are top-level attributes (so appends and increments
  can address them), plus ``~v`` (the row version, fresh random text on every write: CAS for
  ``replace``) and ``~i.FIELD`` (a string set of the ``id`` of every entry in list
  ``FIELD``, so an append can refuse a duplicate inside its ``ConditionExpression``). A
  document field named like a key attribute, empty, or starting with ``~`` is stored as
  ``~`` + name.
* **entry rows** (layout 2) are items at ``(pk=list id, sk=position)``: the list's item
  collection, read newest first by one ``Query``. Their attributes are the entry's own
  fields (``id`` ``ts`` ``v`` and ``d`` ``e`` ``x`` when present) and ``~v``. Row keys
  always contain ``|`` and list ids never do, and rows sit at ``sk=-1`` below every
  position, so no read of entries can meet a row.

Every primitive is one native atomic call: ``PutItem`` with ``attribute_not_exists(pk)``
(rows, single-entry claims, ``insert``), ``PutItem`` conditioned on ``~v``,
``UpdateItem`` with ``list_append`` bounded by ``size(#l) <= :room`` and ``ADD``,
``TransactWriteItems`` for a claim of several entries. A failed condition is classified
from the item DynamoDB returns with ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` (the
item as the condition saw it, so no second read races a writer). All reads are strongly
consistent. Every data call asks for ``ReturnConsumedCapacity=TOTAL``; :meth:`stats`
keeps the running totals.

The sync :class:`DynamoDBStore` (boto3) and the asyncio :class:`AsyncDynamoDBStore`
(aiobotocore) share everything but the I/O: each operation is a plan (a generator that
yields the requests it needs and receives their answers, :class:`_Plans`), run by a
blocking or an asyncio driver.

Credentials come from the normal AWS chain (environment, profile, instance role...), never
from the URL. For a loopback ``endpoint`` with no credentials configured, dummy static ones
are used so DynamoDB Local works out of the box.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
import random
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)

from pagedlist.adapters._toolkit import (
    ErrorTable,
    Rule,
    UrlOptions,
    class_keys,
    is_loopback,
    new_version,
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
    Scan,
    Slot,
    Taken,
)
from pagedlist.core.store import NO_FEATURES, Store, too_large
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
    UsageError,
)

__all__ = [
    "CLAIM_ENTRIES",
    "DYNAMODB_ITEM_BYTES",
    "ERRORS",
    "AsyncDynamoDBStore",
    "DynamoDBStore",
    "item_size",
]

T = TypeVar("T")

#: DynamoDB's item size limit (attribute names plus values, its own rules).
DYNAMODB_ITEM_BYTES = 400 * 1024
#: Keys the adapter accepts. DynamoDB allows 2,048-byte partition keys, but the key also
#: counts against the item's 400 KB, and 1 KiB matches the other adapters so a list id
#: valid here is valid on SQLite and Redis too (Cosmos DB ids stop at 1,023 chars).
KEY_BYTES = 1024
#: BatchGetItem takes at most 100 keys and returns at most 16 MB per call.
BATCH_KEYS = 100
BATCH_BYTES = 16 * 1024 * 1024
#: BatchWriteItem takes at most 25 requests.
BATCH_WRITES = 25
#: Entries per append. Each entry adds ``NOT contains(#i, :iN) AND`` to the condition, and a
#: condition may hold at most 300 operators and functions; 50 entries stay far below.
APPEND_ENTRIES = 50
#: Entries per claim. One entry is one conditional PutItem; more are one TransactWriteItems,
#: which takes 100 actions but at most 4 MB in all: 10 items of the full 400 KB fit
#: (4,096,000 bytes), so any claim of 10 entries the core can make is accepted.
CLAIM_ENTRIES = 10
#: TransactWriteItems' limit on the whole request's items.
TRANSACTION_BYTES = 4 * 1024 * 1024
#: Per entry besides its id and value text, counted DynamoDB's way: list element (1) + map
#: (3) + three element overheads (3) + names ``id`` ``ts`` ``v`` (5) + a signed 20-digit ``ts``
#: (12) = 24, plus the id once more in the ``~i.`` string set (128 max) = 152; rounded up.
ENTRY_OVERHEAD = 160
#: Per page besides its entries: ``pk`` and a key of up to 1 KiB, ``sk``, ``~v`` and its
#: version, the list and set attribute names and the list's 3 bytes, with room to spare.
ROW_OVERHEAD = 2048
#: How long get_many and purge keep retrying what DynamoDB left unprocessed before giving up.
UNPROCESSED_BUDGET = 5.0
#: Query's Limit is a 32-bit integer; a larger limit is followed page by page anyway.
QUERY_LIMIT = 2**31 - 1
#: Concurrent requests of one scan_many on the sync store (threads of a private pool).
SCAN_THREADS = 16

_KEY = "pk"
_SORT = "sk"
#: The sort key of every row of the row protocol: below every entry position.
_ROW_SK = "-1"
_VERSION = "~v"
_IDS = "~i."
#: The fields an entry row may hold (``docs/contract.md``, layout 2), in storage order.
ENTRY_FIELDS = ("id", "ts", "v", "d", "e", "x")
_ENTRY_NAMES = {"#sk": _SORT, **{f"#{f}": f for f in ENTRY_FIELDS}}
#: What a read of entry rows asks for: neither the partition key (the list id, known) nor
#: the version (only get_entry needs it) crosses the network.
_ENTRY_PROJECTION = ",".join(_ENTRY_NAMES)
_THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        # A transaction elsewhere holds the item: also "try again shortly".
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
#: Cancellation reasons of a transaction that say "try again shortly" (nothing written).
_RETRY_REASONS = frozenset(
    {"TransactionConflict", "ProvisionedThroughputExceeded", "ThrottlingError"}
)
_UNAVAILABLE_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure"})
_OPTIONS = ("region", "endpoint", "create", "connect_timeout", "read_timeout", "claim_entries")
_FORM = (
    "dynamodb://TABLE?region=REGION[&endpoint=http://host:port][&create=true]"
    "[&claim_entries=1..10]"
)
_DUMMY_KEY = "pagedlistlocal"  # DynamoDB Local wants letters and digits only
_CCF = "ConditionalCheckFailedException"


# --- documents <-> DynamoDB attribute values ------------------------------------------------


def _attr_name(field: str, sort: bool = False) -> str:
    """The attribute holding document field ``field`` (escaped away from internal names;
    ``sort``: the table has the ``sk`` sort key, whose name is escaped too)."""
    if field == _KEY or not field or field.startswith("~") or (sort and field == _SORT):
        return "~" + field
    return field


def _field_name(attr: str, sort: bool = False) -> str | None:
    """The document field an attribute holds, or ``None`` for internal attributes."""
    if attr in (_KEY, _VERSION) or attr.startswith(_IDS) or (sort and attr == _SORT):
        return None
    if attr.startswith("~"):
        return attr[1:]
    return attr


def _to_attr(value: Any) -> dict[str, Any]:
    """A JSON value as a DynamoDB AttributeValue (low-level client form)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": _number_text(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [_to_attr(v) for v in value]}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidValue(f"object key {k!r} is not a str: JSON keys are strings")
            # DynamoDB refuses empty map keys: escape like top-level names.
            out["~" + k if not k or k.startswith("~") else k] = _to_attr(v)
        return {"M": out}
    raise InvalidValue(
        f"{type(value).__name__} value {value!r} cannot be stored exactly in DynamoDB: rows "
        "hold str, int, bool, None, lists and objects (store floats as JSON text)"
    )


def _number_text(n: int) -> str:
    text = str(n)
    if len(text.lstrip("-").rstrip("0")) > 38 or abs(n) >= 10**126:
        raise InvalidValue(
            f"integer {n} has more than DynamoDB's 38 significant digits (or is 1e126 or "
            "more): store it as a string"
        )
    return text


def _from_attr(attr: Mapping[str, Any]) -> Any:
    """A DynamoDB AttributeValue back as the JSON value it was written from."""
    if "S" in attr:
        return attr["S"]
    if "N" in attr:
        number = Decimal(attr["N"])
        if number != number.to_integral_value():
            # The adapter never writes fractions; another writer did.
            raise ContractViolation(f"number {attr['N']} in a row is not an integer")
        return int(number)
    if "BOOL" in attr:
        return attr["BOOL"]
    if "NULL" in attr:
        return None
    if "L" in attr:
        return [_from_attr(v) for v in attr["L"]]
    if "M" in attr:
        return {k[1:] if k.startswith("~") else k: _from_attr(v) for k, v in attr["M"].items()}
    if "SS" in attr:
        return sorted(attr["SS"])
    raise ContractViolation(f"unexpected DynamoDB attribute type {sorted(attr)!r} in a row")


def _entry_ids(value: Any) -> list[str]:
    """The ``id`` of every entry (object with a str ``id``) in a list field."""
    if not isinstance(value, list):
        return []
    return [e["id"] for e in value if isinstance(e, dict) and isinstance(e.get("id"), str)]


def _row_key(key: str, sort: bool) -> dict[str, Any]:
    """The primary key of row ``key``: ``pk``, and ``sk=-1`` in a table with a sort key."""
    if sort:
        return {_KEY: {"S": key}, _SORT: {"N": _ROW_SK}}
    return {_KEY: {"S": key}}


def _to_item(key: str, doc: JSONDoc, version: str, sort: bool = False) -> dict[str, Any]:
    """The whole item for ``doc``: its key, fields, the version and each list's id set."""
    if not isinstance(doc, dict):
        raise InvalidValue(f"a row must be a JSON object, got {type(doc).__name__}")
    item: dict[str, Any] = _row_key(key, sort)
    item[_VERSION] = {"S": version}
    for field, value in doc.items():
        if not isinstance(field, str):
            raise InvalidValue(f"field name {field!r} is not a str: JSON keys are strings")
        item[_attr_name(field, sort)] = _to_attr(value)
        ids = _entry_ids(value)
        if ids:
            item[_IDS + field] = {"SS": list(dict.fromkeys(ids))}
    return item


def _from_item(item: Mapping[str, Any], sort: bool = False) -> Row:
    doc = {}
    for attr, value in item.items():
        field = _field_name(attr, sort)
        if field is not None:
            doc[field] = _from_attr(value)
    version = item.get(_VERSION, {}).get("S", "")
    return Row(doc, version)


def _entry_key(list_id: str, position: int) -> dict[str, Any]:
    return {_KEY: {"S": list_id}, _SORT: {"N": str(position)}}


def _entry_item(list_id: str, position: int, entry: JSONDoc, version: str) -> dict[str, Any]:
    """The item of an entry row: its key, the entry's fields as they are, the version."""
    if not isinstance(entry, dict):
        raise InvalidValue(f"an entry must be a JSON object, got {type(entry).__name__}")
    item = _entry_key(list_id, position)
    item[_VERSION] = {"S": version}
    for field, value in entry.items():
        if field not in _ENTRY_SET:
            raise InvalidValue(
                f"entry field {field!r} of list {list_id!r} is not one of the entry fields "
                f"{', '.join(ENTRY_FIELDS)}: entry rows hold only what the core writes"
            )
        item[field] = _to_attr(value)
    return item


_ENTRY_SET = frozenset(ENTRY_FIELDS)


def _entry_of(item: Mapping[str, Any]) -> JSONDoc:
    """The entry an entry row's item holds (attributes outside the entry's are ignored)."""
    entry: JSONDoc = {}
    for field in ENTRY_FIELDS:
        attr = item.get(field)
        if attr is None:
            continue
        if "S" in attr:
            entry[field] = attr["S"]
        elif "N" in attr and attr["N"].lstrip("-").isdigit():
            entry[field] = int(attr["N"])  # the common case, without Decimal's cost
        else:
            entry[field] = _from_attr(attr)
    return entry


def _slot(item: Mapping[str, Any]) -> Slot:
    return int(item[_SORT]["N"]), _entry_of(item)


# --- item size, DynamoDB's way ----------------------------------------------------------------


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def _number_size(text: str) -> int:
    """The documented "1 byte per two significant digits, plus 1", measured exactly.

    DynamoDB stores numbers in base 100, so digits pair up around the decimal point, not
    from the first significant digit (1700000000000 is 01|70|00.. = 2 pairs, not "17" = 1),
    and a negative number costs one byte more. Measured on DynamoDB Local, byte for byte
    (tests/test_dynamodb_limits.py); never below the documented estimate.
    """
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("+-").partition(".")
    digits = whole.rjust(len(whole) + len(whole) % 2, "0") + frac.ljust(
        len(frac) + len(frac) % 2, "0"
    )
    pairs = [digits[i : i + 2] for i in range(0, len(digits), 2)]
    while pairs and pairs[0] == "00":
        pairs.pop(0)
    while pairs and pairs[-1] == "00":
        pairs.pop()
    return len(pairs) + 1 + (1 if negative and pairs else 0)


def _value_size(attr: Mapping[str, Any]) -> int:
    if "S" in attr:
        return _utf8(attr["S"])
    if "N" in attr:
        return _number_size(attr["N"])
    if "BOOL" in attr or "NULL" in attr:
        return 1
    if "L" in attr:
        return 3 + sum(1 + _value_size(v) for v in attr["L"])
    if "M" in attr:
        return 3 + sum(1 + _utf8(k) + _value_size(v) for k, v in attr["M"].items())
    if "SS" in attr:
        return sum(_utf8(s) for s in attr["SS"])
    if "NS" in attr:
        return sum(_number_size(n) for n in attr["NS"])
    raise ContractViolation(f"unexpected DynamoDB attribute type {sorted(attr)!r}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Size of an item as DynamoDB counts it against its 400 KB limit.

    The documented rules (Developer Guide, "Item sizes and formats"): each attribute costs
    its name's UTF-8 bytes plus its value; strings their UTF-8 bytes; numbers 1 byte per
    two significant digits plus 1; booleans and nulls 1; lists and maps 3 bytes plus 1 per
    element plus the elements (and, in a map, each element's name); sets their elements.
    """
    return sum(_utf8(name) + _value_size(value) for name, value in item.items())


# --- errors ----------------------------------------------------------------------------------


def _error_keys(err: BaseException) -> Iterator[object]:
    """An AWS error code, then ``HTTP 5xx`` for a server-side failure, then the classes."""
    if isinstance(err, ClientError):
        yield err.response.get("Error", {}).get("Code", "")
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            yield "HTTP 5xx"
    yield from class_keys(err)


_THROTTLED = Rule(Throttled, "DynamoDB throttled {what} on table {table!r}: {detail}")
_SERVER = Rule(StoreUnavailable, "DynamoDB {what} failed on the server: {aws_code}: {detail}")
_CREDENTIALS = Rule(
    ConfigError,
    "DynamoDB refused the credentials for table {table!r} ({aws_code}: {detail}); check the "
    "AWS credential chain and the IAM policy",
)
_UNREACHABLE = Rule(StoreUnavailable, "cannot reach {where} for {what}: {detail}")

#: AWS error codes and botocore exceptions -> pagedlist errors. ``ConditionalCheckFailed``
#: is an answer, not an error: the calls handle it before anything reaches this table.
ERRORS = ErrorTable(
    {
        **{code: _THROTTLED for code in _THROTTLE_CODES},
        **{code: _SERVER for code in _UNAVAILABLE_CODES},
        "HTTP 5xx": _SERVER,
        "ResourceNotFoundException": Rule(
            ConfigError,
            "DynamoDB table {table!r} does not exist in {place}: create it with `pagedlist "
            "init '{url}'`, open the URL with &create=true, or use the AWS CLI command in "
            "docs/backends/dynamodb.md (string partition key 'pk', number sort key 'sk')",
        ),
        "UnrecognizedClientException": _CREDENTIALS,
        "InvalidSignatureException": _CREDENTIALS,
        "AccessDeniedException": _CREDENTIALS,
        # The adapter validates everything it sends (sizes included, see _explained), so
        # a request DynamoDB refuses as invalid is the adapter's bug.
        "ValidationException": Rule(
            ContractViolation,
            "DynamoDB refused {what} on table {table!r} as invalid ({detail}): an adapter "
            "bug, please report it",
        ),
        ReadTimeoutError: Rule(
            DeadlineExceeded,
            "DynamoDB {what} got no answer from {where} in time (it may have run): {detail}",
        ),
        EndpointConnectionError: _UNREACHABLE,
        ConnectTimeoutError: _UNREACHABLE,
        ConnectionClosedError: _UNREACHABLE,
        NoCredentialsError: Rule(
            ConfigError,
            "no AWS credentials for {where}: configure the AWS chain (AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)",
        ),
        ClientError: Rule(
            StoreError, "DynamoDB {what} on table {table!r} failed: {aws_code}: {detail}"
        ),
        BotoCoreError: Rule(StoreUnavailable, "DynamoDB {what} to {where} failed: {detail}"),
    },
    keys=_error_keys,
)


# --- plans: every operation as requests and answers, no I/O ----------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    """One DynamoDB request: a client method and its parameters. ``write`` says which
    units it consumes (``None``: a control-plane call, which reports none)."""

    method: str
    params: dict[str, Any]
    write: bool | None = False


@dataclass(frozen=True, slots=True)
class _Pause:
    """Wait before the next request (backoff for unprocessed items)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class _Parallel:
    """Run these plans at the same time; the answer is a tuple of their results."""

    plans: tuple[Generator[Any, Any, Any], ...]


Plan = Generator["_Call | _Pause | _Parallel", Any, T]


@dataclass(frozen=True, slots=True)
class _Done:
    value: Any


def _advance(plan: Plan[Any], answer: Any, error: BaseException | None) -> Any:
    """Give ``plan`` the answer (or the error) of its last step; return its next step, or
    :class:`_Done` with its result."""
    try:
        return plan.send(answer) if error is None else plan.throw(error)
    except StopIteration as stop:
        return _Done(stop.value)


def _api(method: str) -> str:
    """``put_item`` -> ``PutItem``: how AWS names the call in messages."""
    return "".join(part.title() for part in method.split("_"))


def _parse_url(url: str) -> dict[str, Any]:
    options = UrlOptions(url, accepted=_OPTIONS, form=_FORM, what="DynamoDB URL")
    parts = urlsplit(url)
    if parts.scheme.lower() != "dynamodb":
        raise options.error("it is not a dynamodb:// URL")
    table = parts.netloc or parts.path.lstrip("/")
    if "@" in parts.netloc:
        raise ConfigError(
            f"credentials do not belong in the URL ({_FORM}): use the normal AWS chain "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role)"
        )
    if not table or (parts.path not in ("", "/") and parts.netloc):
        raise options.error("it must name one table")
    if not (3 <= len(table) <= 255) or not all(c.isalnum() or c in "_.-" for c in table):
        raise options.error(
            f"table name {table!r} is invalid: DynamoDB takes 3-255 letters, digits, "
            "'_', '-' and '.'"
        )
    return {
        "table": table,
        "region": options.text("region"),
        "endpoint": options.text("endpoint"),
        "create": options.flag("create"),
        "connect_timeout": options.number("connect_timeout", 3.0),
        "read_timeout": options.number("read_timeout", 5.0),
        "claim_entries": _claim_entries(options),
    }


def _claim_entries(options: UrlOptions) -> int:
    value = options.whole("claim_entries", CLAIM_ENTRIES)
    if value > CLAIM_ENTRIES:
        raise options.error(
            f"claim_entries={value} is over {CLAIM_ENTRIES}, the most one TransactWriteItems "
            "takes whatever the items' sizes (4 MB in all)"
        )
    return value


def _routed(url: str, route: Callable[[str, int], tuple[str, int]]) -> dict[str, Any]:
    """The options of ``url`` with its plain-http endpoint reached at ``route(host, port)``."""
    opts = _parse_url(url)
    endpoint = urlsplit(opts["endpoint"] or "")
    if endpoint.scheme != "http" or not endpoint.hostname:
        raise ConfigError(
            f"{url!r} has no plain http:// endpoint; only such a (local) server can be "
            "reached through a loopback proxy"
        )
    host, port = route(endpoint.hostname, endpoint.port or 80)
    opts["endpoint"] = f"http://{host}:{port}"
    return opts


def _config(connect_timeout: float, read_timeout: float) -> dict[str, Any]:
    """botocore ``Config`` (or aiobotocore ``AioConfig``) options of both clients."""
    return {
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
        # The core driver is the only retry layer (contract clause W1): botocore must
        # never send a request twice. A connection reset or read timeout after a write
        # was sent may follow its commit (an ADD counted twice), and retrying
        # throttles itself would hide them from the driver's deadline and backoff.
        # * retries: in standard mode (retries/standard.py) MaxAttemptsChecker gates
        #   every other checker: transient connection errors (ConnectionClosedError
        #   after a reset), read timeouts, 5xx, throttles. An explicit mode and
        #   total_max_attempts in Config win over AWS_RETRY_MODE / AWS_MAX_ATTEMPTS
        #   and the config file (args.py _compute_retry_max_attempts and
        #   _compute_retry_mode), so no environment can pick legacy or adaptive mode
        #   (legacy's retryhandler.py would also stop at 1 attempt: max_attempts 0).
        #   aiobotocore runs botocore's retry handlers, so the same holds there.
        # * endpoint discovery would re-send after a 421 / InvalidEndpointException
        #   (discovery.py handle_retries); off, whatever the environment says.
        # * urllib3 underneath: botocore's URLLib3Session.send passes Retry(False);
        #   aiobotocore's aiohttp session never re-sends a POST.
        "retries": {"mode": "standard", "total_max_attempts": 1},
        "endpoint_discovery_enabled": False,
        "max_pool_connections": 64,
        # botocore checks every parameter against the API model before sending, in the
        # caller's thread (the event loop, for aiobotocore): a fifth of the client CPU of a
        # 10-entry claim under cProfile. The adapter builds every request itself from
        # checked parts (sizes, numbers, keys), and a request DynamoDB still refused would
        # be its ValidationException, a ContractViolation naming the adapter.
        "parameter_validation": False,
    }


class _Plans:
    """What :class:`DynamoDBStore` and :class:`AsyncDynamoDBStore` share: the table's
    settings and running totals, the error mapping, and every operation as a *plan*, a
    generator that yields :class:`_Call` / :class:`_Pause` / :class:`_Parallel` steps and
    receives each step's answer (a ``ClientError`` is thrown into it). The two classes
    differ only in the driver that performs the steps."""

    _table: str
    _region: str
    _endpoint: str | None
    _sort: bool
    _lock: threading.Lock
    _stats: dict[str, float]
    scheme = "dynamodb"

    def _settings(
        self, table: str, region: str | None, endpoint: str | None, claim_entries: int
    ) -> None:
        self._table = table
        self._claim_entries = claim_entries
        self._endpoint = endpoint
        region = region or ("us-east-1" if endpoint else None)
        if not region:
            raise ConfigError(
                f"no AWS region for DynamoDB table {table!r}: add ?region=... to the URL, or "
                "set AWS_REGION / a profile region"
            )
        self._region = region
        # Until the table is described: a table with a sort key offers entry rows.
        self._sort = False
        self._lock = threading.Lock()
        self._stats = {"read_units": 0.0, "write_units": 0.0, "requests": 0, "throttled": 0}

    def _client_args(
        self, has_credentials: bool, config: Any, timeouts: tuple[float, float]
    ) -> dict[str, Any]:
        """Keyword arguments of ``create_client`` (``config`` is Config or AioConfig)."""
        args: dict[str, Any] = {
            "region_name": self._region,
            "endpoint_url": self._endpoint,
            "config": config(**_config(*timeouts)),
        }
        if is_loopback(self._endpoint) and not has_credentials:
            # DynamoDB Local checks only that some key is sent; never reached for AWS.
            args["aws_access_key_id"] = args["aws_secret_access_key"] = _DUMMY_KEY
        return args

    @property
    def table(self) -> str:
        """The table's name."""
        return self._table

    @property
    def limits(self) -> Limits:
        """400 KB items, 1 KiB keys, 100-key / 16 MB batch reads, 50 entries per append."""
        return Limits(
            row_bytes=DYNAMODB_ITEM_BYTES,
            key_bytes=KEY_BYTES,
            batch_keys=BATCH_KEYS,
            batch_bytes=BATCH_BYTES,
            append_entries=APPEND_ENTRIES,
            value_expansion=1,
            entry_overhead=ENTRY_OVERHEAD,
            row_overhead=ROW_OVERHEAD,
        )

    @property
    def features(self) -> Features:
        """Entry rows by claim on a table with the ``sk`` sort key (``claim_entries`` per
        claim: 10, or the URL's ``claim_entries``); none on a table of pagedlist 0.1
        (partition key only: layout 1)."""
        if not self._sort:
            return NO_FEATURES
        return Features(entries=True, push=False, claim_entries=self._claim_entries)

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The stored item's size by DynamoDB's rules, internal attributes included."""
        return item_size(_to_item(key, doc, new_version(), self._sort))

    def stats(self) -> Mapping[str, Any]:
        """Running totals: consumed ``read_units`` and ``write_units``, DynamoDB
        ``requests`` (a store call may make several: unprocessed keys asked again), and how
        many were ``throttled``; ``tallied`` adds the common keys."""
        with self._lock:
            return dict(self._stats)

    def describe(self) -> str:
        """The URL without credentials (they never appear in it)."""
        url = f"dynamodb://{self._table}?region={self._region}"
        if self._endpoint:
            url += f"&endpoint={self._endpoint}"
        return url

    # --- steps, answers, errors -----------------------------------------------------------

    @staticmethod
    def _params(call: _Call) -> dict[str, Any]:
        if call.write is None:
            return call.params
        return {**call.params, "ReturnConsumedCapacity": "TOTAL"}

    def _answered(self, call: _Call, answer: dict[str, Any]) -> dict[str, Any]:
        if call.write is not None:
            self._record(answer, call.write)
        return answer

    def _failed(self, call: _Call, err: BaseException) -> BaseException:
        """What a failed request throws into its plan: a ``ClientError`` as it is (the plan
        decides: a refused condition is an answer), anything else mapped (:data:`ERRORS`)."""
        if isinstance(err, ClientError):
            if call.write is not None:
                self._record(err.response, call.write, self._code(err) in _THROTTLE_CODES)
            return err
        if call.write is not None:
            with self._lock:
                self._stats["requests"] += 1
        return self._error(err, _api(call.method))

    @staticmethod
    def _code(err: ClientError) -> str:
        return err.response.get("Error", {}).get("Code", "")

    def _record(self, answer: Mapping[str, Any], write: bool, throttled: bool = False) -> None:
        consumed = answer.get("ConsumedCapacity") or []
        if isinstance(consumed, dict):
            consumed = [consumed]
        units = sum(float(c.get("CapacityUnits", 0)) for c in consumed)
        with self._lock:
            self._stats["requests"] += 1
            self._stats["write_units" if write else "read_units"] += units
            if throttled:
                self._stats["throttled"] += 1

    def _error(self, err: BaseException, what: str) -> PagedListError:
        """The pagedlist error for a botocore exception (:data:`ERRORS`), chained to it."""
        fields: dict[str, Any] = {}
        if isinstance(err, ClientError):
            error = err.response.get("Error", {})
            fields = {"aws_code": error.get("Code", ""), "detail": error.get("Message", str(err))}
        return ERRORS.error(
            err,
            what=what,
            where=self._endpoint or f"DynamoDB in {self._region}",
            table=self._table,
            place=self._endpoint or self._region,
            url=self.describe(),
            **fields,
        )

    def _key(self, key: str) -> dict[str, Any]:
        return _row_key(key, self._sort)

    def _put(
        self,
        item: dict[str, Any],
        condition: str,
        names: dict[str, str],
        values: dict[str, Any] | None = None,
        old: bool = False,
    ) -> _Call:
        """A conditional ``PutItem``; ``old``: a refusal returns the item (``ALL_OLD``)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
        }
        if values:
            params["ExpressionAttributeValues"] = values
        if old:
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return _Call("put_item", params, True)

    def _run_out(self, what: str, still: str) -> None:
        """Raise ``DeadlineExceeded`` if the running operation's deadline has passed (none
        set: never) before a request that continues ``what``."""
        self._before_deadline(0.0, what, still)

    def _before_deadline(self, delay: float, what: str, still: str) -> None:
        """Raise ``DeadlineExceeded`` unless the next request, ``delay`` seconds from now,
        starts before the running operation's deadline (none set: always fine)."""
        seconds = remaining()
        if seconds is not None and delay >= seconds:
            raise DeadlineExceeded(
                f"DynamoDB {what} on table {self._table!r}: the operation's deadline passed "
                f"with {still}: retry, or raise the deadline"
            )

    def _backoff(
        self, attempt: int, give_up: float, what: str, left: int, still: str
    ) -> Plan[None]:
        """Wait before asking again for what DynamoDB left unprocessed (throttling, the
        16 MB answer cap): jittered, within :data:`UNPROCESSED_BUDGET` and never past the
        operation's deadline."""
        delay = random.uniform(0, min(1.0, 0.02 * 2**attempt))
        self._before_deadline(delay, what, still)
        if time.monotonic() + delay > give_up:
            raise Throttled(
                f"DynamoDB left {left} request(s) of {what} on table {self._table!r} "
                f"unprocessed for {UNPROCESSED_BUDGET:g}s of retries: the table is throttled; "
                "retry later"
            )
        yield _Pause(delay)

    # --- the table ------------------------------------------------------------------------

    def _p_describe(self) -> Plan[dict[str, Any]]:
        try:
            answer = yield _Call("describe_table", {"TableName": self._table}, None)
        except ClientError as err:
            raise self._error(err, "DescribeTable") from err
        return answer["Table"]

    def _learn_schema(self, table: Mapping[str, Any]) -> None:
        """Whether the table has the sort key (entry rows) or is a 0.1 table (layout 1)."""
        schema = table["KeySchema"]
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        hashed = [{"AttributeName": _KEY, "KeyType": "HASH"}]
        if schema == hashed and types.get(_KEY) == "S":
            self._sort = False
            return
        if schema == [*hashed, {"AttributeName": _SORT, "KeyType": "RANGE"}] and (
            types.get(_KEY), types.get(_SORT)
        ) == ("S", "N"):
            self._sort = True
            return
        raise ConfigError(
            f"DynamoDB table {self._table!r} has key schema {schema!r}; pagedlist needs a "
            f"string partition key {_KEY!r} and a number sort key {_SORT!r} (or, as made by "
            f"pagedlist 0.1, only the partition key {_KEY!r}): see docs/backends/dynamodb.md"
        )

    def _p_open(self, create: bool) -> Plan[None]:
        if create:
            yield from self._p_create_table()
        else:
            self._learn_schema((yield from self._p_describe()))

    def _p_create_table(self) -> Plan[str]:
        """Create the table if absent and wait until it is ACTIVE; return what was done."""
        params = {
            "TableName": self._table,
            "AttributeDefinitions": [
                {"AttributeName": _KEY, "AttributeType": "S"},
                {"AttributeName": _SORT, "AttributeType": "N"},
            ],
            "KeySchema": [
                {"AttributeName": _KEY, "KeyType": "HASH"},
                {"AttributeName": _SORT, "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }
        try:
            yield _Call("create_table", params, None)
            done = (
                f"created DynamoDB table {self._table!r} (on-demand, partition key {_KEY!r}, "
                f"sort key {_SORT!r})"
            )
        except ClientError as err:
            if self._code(err) != "ResourceInUseException":
                raise self._error(err, "CreateTable") from err
            done = f"DynamoDB table {self._table!r} already exists"
        for _ in range(120):
            table = yield from self._p_describe()
            if table.get("TableStatus") == "ACTIVE":
                self._learn_schema(table)
                if not self._sort:
                    done += (
                        " (made by pagedlist 0.1, partition key only: its lists use layout 1; "
                        "docs/backends/dynamodb.md says how to move to a new table)"
                    )
                return done
            yield _Pause(1.0)
        raise StoreUnavailable(f"table {self._table!r} did not become ACTIVE in 120 s")

    # --- rows -----------------------------------------------------------------------------

    def _checked_item(self, key: str, doc: JSONDoc) -> tuple[dict[str, Any], str] | ItemTooLarge:
        version = new_version()
        item = _to_item(key, doc, version, self._sort)
        size = item_size(item)
        if size > DYNAMODB_ITEM_BYTES:
            return too_large(key, size, DYNAMODB_ITEM_BYTES)
        return item, version

    def _p_put_if_absent(self, key: str, doc: JSONDoc) -> Plan[bool]:
        """``PutItem`` with ``attribute_not_exists(pk)``."""
        checked = self._checked_item(key, doc)
        if isinstance(checked, ItemTooLarge):
            # A row that already exists answers False before the size matters.
            if (yield from self._p_get(key)) is not None:
                return False
            raise checked
        try:
            yield self._put(checked[0], "attribute_not_exists(#k)", {"#k": _KEY})
        except ClientError as err:
            if self._code(err) == _CCF:
                return False
            raise self._error(err, "PutItem") from err
        return True

    def _p_insert(self, key: str, doc: JSONDoc) -> Plan[Row | None]:
        """One ``PutItem`` with ``attribute_not_exists(pk)``; a refusal returns the existing
        item with it (``ReturnValuesOnConditionCheckFailure=ALL_OLD``)."""
        checked = self._checked_item(key, doc)
        while True:
            if isinstance(checked, ItemTooLarge):
                row = yield from self._p_get(key)
                if row is not None:
                    return row
                raise checked
            try:
                yield self._put(checked[0], "attribute_not_exists(#k)", {"#k": _KEY}, old=True)
            except ClientError as err:
                if self._code(err) != _CCF:
                    raise self._error(err, "PutItem") from err
                item = err.response.get("Item")
                if item:
                    return _from_item(item, self._sort)
                # A server that does not return the item: read it (deleted meanwhile: again).
                row = yield from self._p_get(key)
                if row is not None:
                    return row
                continue
            return None

    def _p_replace(self, key: str, doc: JSONDoc, version: str) -> Plan[str | None]:
        """``PutItem`` conditioned on the stored version."""
        checked = self._checked_item(key, doc)
        if isinstance(checked, ItemTooLarge):
            current = yield from self._p_get(key)
            if current is None or current.version != version:
                return None
            raise checked
        try:
            yield self._put(checked[0], "#ver = :ver", {"#ver": _VERSION}, {":ver": {"S": version}})
        except ClientError as err:
            if self._code(err) == _CCF:
                return None
            raise self._error(err, "PutItem") from err
        return checked[1]

    def _p_get(self, key: str) -> Plan[Row | None]:
        """``GetItem`` with ``ConsistentRead``."""
        params = {"TableName": self._table, "Key": self._key(key), "ConsistentRead": True}
        try:
            answer = yield _Call("get_item", params)
        except ClientError as err:
            raise self._error(err, "GetItem") from err
        item = answer.get("Item")
        return None if item is None else _from_item(item, self._sort)

    def _p_get_many(self, keys: Iterable[str]) -> Plan[dict[str, Row]]:
        """``BatchGetItem`` in 100-key requests; unprocessed keys retried with backoff.

        Within a list operation (``pagedlist.core.deadline``) no request after the first
        is sent once the operation's deadline has passed: ``DeadlineExceeded`` instead.
        """
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Row] = {}
        for i in range(0, len(wanted), BATCH_KEYS):
            if i:
                self._run_out("BatchGetItem", self._unread(len(wanted) - i))
            yield from self._p_batch_get(wanted[i : i + BATCH_KEYS], out)
        return out

    @staticmethod
    def _unread(left: int) -> str:
        return (
            f"{left} key(s) still unread (left unprocessed by DynamoDB or not yet asked for); "
            "nothing was written"
        )

    def _p_batch_get(self, keys: list[str], out: dict[str, Row]) -> Plan[None]:
        request: dict[str, Any] = {
            self._table: {"Keys": [self._key(k) for k in keys], "ConsistentRead": True}
        }
        give_up = time.monotonic() + UNPROCESSED_BUDGET
        attempt = 0
        while request:
            try:
                answer = yield _Call("batch_get_item", {"RequestItems": request})
            except ClientError as err:
                raise self._error(err, "BatchGetItem") from err
            for item in answer.get("Responses", {}).get(self._table, []):
                out[item[_KEY]["S"]] = _from_item(item, self._sort)
            request = answer.get("UnprocessedKeys") or {}
            if request:
                attempt += 1
                left = len(request.get(self._table, {}).get("Keys", []))
                yield from self._backoff(
                    attempt, give_up, "BatchGetItem", left, self._unread(left)
                )

    def _p_append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> Plan[AppendOutcome]:
        """One ``UpdateItem``: ``list_append`` plus ``ADD`` of the ids, conditioned on the
        length bound and on no entry's id being in the id set."""
        batch = list(entries)
        if len(batch) > APPEND_ENTRIES:
            # Each entry adds a term to the condition, which DynamoDB caps.
            raise too_many_entries(key, len(batch), APPEND_ENTRIES)
        room = max_len - len(batch)
        names = {"#l": _attr_name(field, self._sort), "#v": _VERSION}
        values: dict[str, Any] = {
            ":empty": {"L": []},
            ":new": {"L": [_to_attr(e) for e in batch]},
            ":room": {"N": str(room)},
            ":ver": {"S": new_version()},
            ":list": {"S": "L"},
        }
        # A missing list has length 0, which fits iff room >= 0; size() of a missing
        # attribute makes the comparison false, hence the attribute_not_exists branch.
        # attribute_type keeps a field that is not a list out of list_append (which would
        # fail as a ValidationException): the condition fails, and the item it returns
        # says why.
        bound = (
            "(attribute_not_exists(#l) OR (attribute_type(#l, :list) AND size(#l) <= :room))"
            if room >= 0
            else "(attribute_type(#l, :list) AND size(#l) < :room)"
        )
        conditions = [bound]
        update = "SET #l = list_append(if_not_exists(#l, :empty), :new), #v = :ver"
        ids = list(dict.fromkeys(e["id"] for e in batch))
        if ids:
            names["#i"] = _IDS + field
            values[":ids"] = {"SS": ids}
            update += " ADD #i :ids"
            for n, entry_id in enumerate(ids):
                values[f":i{n}"] = {"S": entry_id}
                conditions.append(f"NOT contains(#i, :i{n})")

        def grown(item: dict[str, Any]) -> dict[str, Any]:
            """The item as this append would leave it (for ItemTooLarge)."""
            old_list = item.get(names["#l"], {}).get("L", [])
            item[names["#l"]] = {"L": [*old_list, *values[":new"]["L"]]}
            if ids:
                old_ids = item.get(names["#i"], {}).get("SS", [])
                item[names["#i"]] = {"SS": list(dict.fromkeys([*old_ids, *ids]))}
            item[_VERSION] = values[":ver"]
            return item

        params = {
            "TableName": self._table,
            "Key": self._key(key),
            "UpdateExpression": update,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            # Both the list and the set come back; the list gives the new length.
            "ReturnValues": "UPDATED_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        for _ in range(3):
            try:
                answer = yield _Call("update_item", params, True)
            except ClientError as err:
                if self._code(err) != _CCF:
                    raise (yield from self._p_explained(err, "UpdateItem", key, grown)) from err
                outcome = self._classify(err.response.get("Item"), key, field, batch, max_len)
                if outcome is not None:
                    return outcome
                continue
            return Appended(len(answer["Attributes"][names["#l"]]["L"]))
        raise ContractViolation(
            f"DynamoDB rejected an append to {key!r} three times, but the item it returned "
            "holds no duplicate id and has room: is the ~i. id set out of step with the list?"
        )

    def _classify(
        self,
        item: Mapping[str, Any] | None,
        key: str,
        field: str,
        batch: list[JSONDoc],
        max_len: int,
    ) -> AppendOutcome | None:
        """Why the condition failed, from the item as DynamoDB evaluated it."""
        attr = _attr_name(field, self._sort)
        stored = [] if item is None else _from_attr(item.get(attr, {"L": []}))
        if not isinstance(stored, list):
            raise not_a_list(key, field, stored)
        # An id twice in the list (only if one batch held it twice) answers with its last
        # position, like the reference stores.
        where = {e["id"]: i for i, e in enumerate(stored) if isinstance(e, dict) and "id" in e}
        for offset, entry in enumerate(batch):
            if entry["id"] in where:
                return Duplicate(where[entry["id"]], offset)
        if len(stored) + len(batch) > max_len:
            return Full(len(stored))
        return None

    def _p_increment(
        self, key: str, field: str, by: int = 1, expect: int | None = None
    ) -> Plan[int | None]:
        """``UpdateItem ADD``, conditioned on the field being a number (or missing) and,
        with ``expect``, on its current value."""
        names = {"#f": _attr_name(field, self._sort), "#v": _VERSION}
        values: dict[str, Any] = {
            ":by": {"N": _number_text(by)},
            ":ver": {"S": new_version()},
        }
        if expect is None:
            values[":number"] = {"S": "N"}
            condition = "attribute_not_exists(#f) OR attribute_type(#f, :number)"
        else:
            values[":expect"] = {"N": _number_text(expect)}
            condition = (
                "attribute_not_exists(#f) OR #f = :expect" if expect == 0 else "#f = :expect"
            )

        def grown(item: dict[str, Any]) -> dict[str, Any]:
            """The item as this increment would leave it (for ItemTooLarge)."""
            current = _from_attr(item.get(names["#f"], {"N": "0"}))
            if isinstance(current, int) and not isinstance(current, bool):
                item[names["#f"]] = {"N": _number_text(current + by)}
            item[_VERSION] = values[":ver"]
            return item

        params = {
            "TableName": self._table,
            "Key": self._key(key),
            "UpdateExpression": "ADD #f :by SET #v = :ver",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValues": "UPDATED_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            answer = yield _Call("update_item", params, True)
        except ClientError as err:
            if self._code(err) != _CCF:
                raise (yield from self._p_explained(err, "UpdateItem", key, grown)) from err
            stored = (err.response.get("Item") or {}).get(names["#f"])
            if stored is not None and "N" not in stored:
                raise not_an_integer(key, field, _from_attr(stored)) from None
            if expect is None:
                raise ContractViolation(
                    f"DynamoDB refused an increment of {field!r} in {key!r} although the item "
                    "it returned holds a number there"
                ) from err
            return None
        return _from_attr(answer["Attributes"][names["#f"]])

    def _p_delete(self, key: str) -> Plan[None]:
        """``DeleteItem``."""
        try:
            yield _Call("delete_item", {"TableName": self._table, "Key": self._key(key)}, True)
        except ClientError as err:
            raise self._error(err, "DeleteItem") from err

    def _p_explained(
        self, err: ClientError, what: str, key: str, grown: Callable[[dict[str, Any]], Any]
    ) -> Plan[PagedListError]:
        """The error for a ``ValidationException`` from an update: ``ItemTooLarge`` if the
        item, read now, would be over 400 KB after the update (DynamoDB says so only in
        the message text, which the adapter does not parse), else the mapped error.

        ``grown(item)`` is the item as the update would leave it.
        """
        if self._code(err) == "ValidationException":
            params = {"TableName": self._table, "Key": self._key(key), "ConsistentRead": True}
            try:
                answer = yield _Call("get_item", params)
            except ClientError as again:
                return self._error(again, "GetItem")
            current = answer.get("Item") or self._key(key)
            size = item_size(grown(dict(current)))
            if size > DYNAMODB_ITEM_BYTES:
                return too_large(key, size, DYNAMODB_ITEM_BYTES)
        return self._error(err, what)

    # --- entry rows (layout 2) ------------------------------------------------------------

    def _need_entries(self, what: str) -> None:
        if not self._sort:
            raise self._unsupported(what)  # type: ignore[attr-defined]

    def _checked_entry(self, list_id: str, position: int, entry: JSONDoc) -> dict[str, Any]:
        item = _entry_item(list_id, position, entry, new_version())
        size = item_size(item)
        if size > DYNAMODB_ITEM_BYTES:
            raise too_large(f"{list_id} @ {position}", size, DYNAMODB_ITEM_BYTES)
        return item

    def _p_claim(self, list_id: str, first: int, entries: Sequence[JSONDoc]) -> Plan[ClaimOutcome]:
        """One entry: a conditional ``PutItem`` (``attribute_not_exists``) whose refusal
        returns the occupant (``ALL_OLD``). Several: one ``TransactWriteItems`` of such
        puts, all or nothing, each refusal returning its occupant too."""
        self._need_entries("claim")
        batch = list(entries)
        if len(batch) > self._claim_entries:
            raise UsageError(
                f"claim of {len(batch)} entries in list {list_id!r}: this store takes at most "
                f"{self._claim_entries} per claim (features.claim_entries); nothing was "
                "written: split the batch"
            )
        items = [self._checked_entry(list_id, first + i, e) for i, e in enumerate(batch)]
        names = {"#k": _KEY}
        while True:
            if len(items) == 1:
                try:
                    yield self._put(items[0], "attribute_not_exists(#k)", names, old=True)
                except ClientError as err:
                    if self._code(err) != _CCF:
                        raise self._error(err, "PutItem") from err
                    taken = yield from self._p_taken(list_id, first, err.response.get("Item"))
                    if taken is not None:
                        return taken
                    continue
                return Claimed()
            puts = [
                {"Put": {**self._put(item, "attribute_not_exists(#k)", names, old=True).params}}
                for item in items
            ]
            try:
                yield _Call("transact_write_items", {"TransactItems": puts}, True)
            except ClientError as err:
                at = self._cancelled_at(err, list_id, first)
                reason = err.response["CancellationReasons"][at]
                taken = yield from self._p_taken(list_id, first + at, reason.get("Item"))
                if taken is not None:
                    return taken
                continue
            return Claimed()

    def _cancelled_at(self, err: ClientError, list_id: str, first: int) -> int:
        """The offset of the lowest position a cancelled claim found taken; raise for any
        other failure (``Throttled`` when DynamoDB asks to try again: nothing was written)."""
        if self._code(err) != "TransactionCanceledException":
            raise self._error(err, "TransactWriteItems") from err
        codes = [r.get("Code") or "None" for r in err.response.get("CancellationReasons") or []]
        # Positions below a taken one are taken: the first reason that is not "None" is the
        # lowest taken position, unless it is a conflict (another transaction on it).
        at = next((i for i, code in enumerate(codes) if code != "None"), None)
        if at is not None and codes[at] == "ConditionalCheckFailed":
            return at
        if any(code in _RETRY_REASONS for code in codes):
            raise Throttled(
                f"DynamoDB cancelled a claim of positions {first}.. of list {list_id!r} "
                f"({', '.join(c for c in codes if c != 'None')}): another transaction holds "
                "one of them; nothing was written: retry shortly",
                retry_after=None,
            ) from err
        raise self._error(err, "TransactWriteItems") from err

    def _p_taken(
        self, list_id: str, position: int, item: Mapping[str, Any] | None
    ) -> Plan[Taken | None]:
        """``Taken`` with the occupant DynamoDB returned; a server that returns none costs a
        read (``None``: the row is gone again, claim anew)."""
        if item:
            return Taken(position, _entry_of(item))
        row = yield from self._p_get_entry(list_id, position)
        return None if row is None else Taken(position, row.doc)

    def _p_scan(self, *args: Any, **kwargs: Any) -> Plan[tuple[Slot, ...]]:
        """One ``Query`` of the list's item collection (``ScanIndexForward``, ``Limit``,
        ``ConsistentRead``, the entry's attributes only); a further page only when DynamoDB
        stopped at its 1 MB page before ``limit`` rows. Arguments as :class:`Scan`'s."""
        return (yield from self._p_query(Scan(*args, **kwargs)))

    def _p_query(self, scan: Scan) -> Plan[tuple[Slot, ...]]:
        list_id, lo, hi, limit = scan.list_id, scan.lo, scan.hi, scan.limit
        self._need_entries("scan")
        if hi is not None and hi <= lo:
            return ()
        values: dict[str, Any] = {":p": {"S": list_id}, ":lo": {"N": str(lo)}}
        if hi is None:
            condition = "#k = :p AND #sk >= :lo"
        else:
            condition = "#k = :p AND #sk BETWEEN :lo AND :hi"
            values[":hi"] = {"N": str(hi - 1)}
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#k": _KEY, **_ENTRY_NAMES},
            "ExpressionAttributeValues": values,
            "ProjectionExpression": _ENTRY_PROJECTION,
            "ScanIndexForward": not scan.newest_first,
            "ConsistentRead": True,
        }
        out: list[Slot] = []
        while True:
            params["Limit"] = min(limit - len(out), QUERY_LIMIT)
            try:
                answer = yield _Call("query", dict(params))
            except ClientError as err:
                raise self._error(err, "Query") from err
            out.extend(_slot(item) for item in answer.get("Items", ()))
            following = answer.get("LastEvaluatedKey")
            if following is None or len(out) >= limit:
                return tuple(out)
            params["ExclusiveStartKey"] = following

    def _p_scan_many(self, scans: Sequence[Scan]) -> Plan[tuple[tuple[Slot, ...], ...]]:
        """Every scan's ``Query`` at the same time: one round trip of wall time (DynamoDB
        has no multi-partition range read in one request)."""
        plans = tuple(self._p_query(scan) for scan in scans)
        if not plans:
            return ()
        return tuple((yield _Parallel(plans)))

    def _p_get_entry(self, list_id: str, position: int) -> Plan[Row | None]:
        """``GetItem`` of ``(list id, position)`` with ``ConsistentRead``."""
        self._need_entries("get_entry")
        params = {
            "TableName": self._table,
            "Key": _entry_key(list_id, position),
            "ConsistentRead": True,
            "ProjectionExpression": _ENTRY_PROJECTION + ",#ver",
            "ExpressionAttributeNames": {**_ENTRY_NAMES, "#ver": _VERSION},
        }
        try:
            answer = yield _Call("get_item", params)
        except ClientError as err:
            raise self._error(err, "GetItem") from err
        item = answer.get("Item")
        if item is None:
            return None
        return Row(_entry_of(item), item.get(_VERSION, {}).get("S", ""))

    def _p_replace_entry(
        self, list_id: str, position: int, entry: JSONDoc, version: str
    ) -> Plan[str | None]:
        """``PutItem`` conditioned on the row's version (a missing row fails it: never
        creates one)."""
        self._need_entries("replace_entry")
        new = new_version()
        item = _entry_item(list_id, position, entry, new)
        size = item_size(item)
        if size > DYNAMODB_ITEM_BYTES:
            current = yield from self._p_get_entry(list_id, position)
            if current is None or current.version != version:
                return None
            raise too_large(f"{list_id} @ {position}", size, DYNAMODB_ITEM_BYTES)
        try:
            yield self._put(item, "#ver = :ver", {"#ver": _VERSION}, {":ver": {"S": version}})
        except ClientError as err:
            if self._code(err) == _CCF:
                return None
            raise self._error(err, "PutItem") from err
        return new

    def _p_purge(self, list_id: str, below: int) -> Plan[None]:
        """``Query`` of the positions below ``below`` (keys only), ``BatchWriteItem`` deletes
        25 at a time; no request starts after the operation's deadline (idempotent: the
        next purge goes on from there)."""
        self._need_entries("purge")
        if below > 0:
            yield from self._p_delete_entries(list_id, below - 1)

    def _p_drop_entries(self, list_id: str) -> Plan[None]:
        """As :meth:`_p_purge`, every position."""
        self._need_entries("drop_entries")
        yield from self._p_delete_entries(list_id, None)

    def _p_delete_entries(self, list_id: str, top: int | None) -> Plan[None]:
        values: dict[str, Any] = {":p": {"S": list_id}, ":lo": {"N": "0"}}
        if top is None:
            condition = "#k = :p AND #sk >= :lo"
        else:
            condition = "#k = :p AND #sk BETWEEN :lo AND :hi"
            values[":hi"] = {"N": str(top)}
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#k": _KEY, "#sk": _SORT},
            "ExpressionAttributeValues": values,
            "ProjectionExpression": "#sk",
            "ConsistentRead": True,
        }
        still = f"entry rows of list {list_id!r} still to delete (purges are idempotent)"
        sent = False
        while True:
            if sent:
                self._run_out("purge", still)
            try:
                answer = yield _Call("query", dict(params))
            except ClientError as err:
                raise self._error(err, "Query") from err
            sent = True
            keys = [_entry_key(list_id, int(item[_SORT]["N"])) for item in answer.get("Items", ())]
            for i in range(0, len(keys), BATCH_WRITES):
                self._run_out("purge", still)
                yield from self._p_batch_delete(keys[i : i + BATCH_WRITES], still)
            following = answer.get("LastEvaluatedKey")
            if following is None:
                return
            params["ExclusiveStartKey"] = following

    def _p_batch_delete(self, keys: list[dict[str, Any]], still: str) -> Plan[None]:
        request = {self._table: [{"DeleteRequest": {"Key": k}} for k in keys]}
        give_up = time.monotonic() + UNPROCESSED_BUDGET
        attempt = 0
        while request:
            try:
                answer = yield _Call("batch_write_item", {"RequestItems": request}, True)
            except ClientError as err:
                raise self._error(err, "BatchWriteItem") from err
            request = answer.get("UnprocessedItems") or {}
            if request:
                attempt += 1
                left = len(request.get(self._table, []))
                yield from self._backoff(attempt, give_up, "BatchWriteItem", left, still)


#: The store calls both classes serve by running the plan ``_p_<name>``.
_OPERATIONS = (
    "put_if_absent",
    "insert",
    "replace",
    "get",
    "get_many",
    "append",
    "increment",
    "delete",
    "claim",
    "scan",
    "scan_many",
    "get_entry",
    "replace_entry",
    "purge",
    "drop_entries",
)


def _serving(
    wrap: Callable[[str, Callable[..., Any]], Callable[..., Any]],
) -> Callable[[type], type]:
    """A class decorator: each operation of :data:`_OPERATIONS` as ``wrap(name, plan)``."""

    def decorate(cls: type) -> type:
        for name in _OPERATIONS:
            plan = getattr(_Plans, f"_p_{name}")
            method = wrap(name, plan)
            method.__name__ = name
            method.__qualname__ = f"{cls.__name__}.{name}"
            method.__doc__ = plan.__doc__
            method.__wrapped__ = plan  # type: ignore[attr-defined]
            setattr(cls, name, method)
        abc.update_abstractmethods(cls)
        return cls

    return decorate


def _blocking(name: str, plan: Callable[..., Plan[Any]]) -> Callable[..., Any]:
    def call(self: DynamoDBStore, *args: Any, **kwargs: Any) -> Any:
        return self._drive(plan(self, *args, **kwargs))

    return call


def _awaiting(name: str, plan: Callable[..., Plan[Any]]) -> Callable[..., Any]:
    async def call(self: AsyncDynamoDBStore, *args: Any, **kwargs: Any) -> Any:
        return await self._drive(plan(self, *args, **kwargs))

    return call


@_serving(_blocking)
@tallied
class DynamoDBStore(_Plans, Store):
    """A DynamoDB table (AWS, DynamoDB Local, or a compatible server), through boto3.

    ``client`` is the underlying boto3 client, exposed for instrumentation (event hooks).
    """

    @classmethod
    def from_url(cls, url: str) -> DynamoDBStore:
        """Open the table a ``dynamodb://`` URL names; ``create=true`` creates it if absent."""
        return cls(**_parse_url(url))

    @classmethod
    def through(cls, url: str, route: Callable[[str, int], tuple[str, int]]) -> DynamoDBStore:
        """Open ``url`` with its ``endpoint`` server ``(host, port)`` reached at
        ``route(host, port)`` instead (the conformance suite's fault proxy, clause W1).

        ``ConfigError`` unless the URL names a plain ``http://`` endpoint: AWS itself is
        HTTPS, whose certificate names the server, not a loopback proxy.
        """
        return cls(**_routed(url, route))

    @classmethod
    def provision(cls, url: str) -> str:
        """Create the table (on-demand billing, ``pk`` string partition key, ``sk`` number
        sort key) unless it exists."""
        opts = _parse_url(url)
        opts["create"] = False
        store = cls(**opts, _check=False)
        try:
            return store.create_table()
        finally:
            store.close()

    def __init__(
        self,
        table: str,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        create: bool = False,
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
        claim_entries: int = CLAIM_ENTRIES,
        _check: bool = True,
    ) -> None:
        session = boto3.session.Session()
        self._settings(table, region or session.region_name, endpoint, claim_entries)
        args = self._client_args(
            session.get_credentials() is not None, Config, (connect_timeout, read_timeout)
        )
        try:
            self.client = session.client("dynamodb", **args)
        except (ValueError, NoRegionError) as err:
            raise ConfigError(f"cannot configure DynamoDB client: {err}") from err
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        if _check:
            self._drive(self._p_open(create))

    def create_table(self) -> str:
        """Create the table if absent and wait until it is ACTIVE; return what was done."""
        return self._drive(self._p_create_table())

    def doctor_settings(self) -> dict[str, Any]:
        """What ``pagedlist doctor`` reports of the table (one DescribeTable): its billing
        mode and provisioned capacity, status, key schema (layout) and approximate size."""
        table = self._drive(self._p_describe())
        mode = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        out: dict[str, Any] = {"billing mode": mode}
        if mode == "PROVISIONED":
            tp = table.get("ProvisionedThroughput") or {}
            out["provisioned"] = (
                f"{tp.get('ReadCapacityUnits', '?')} RCU, {tp.get('WriteCapacityUnits', '?')} WCU"
            )
        out["table status"] = table.get("TableStatus", "?")
        out["key schema"] = "pk + sk (entry rows)" if self._sort else "pk only (0.1 layout)"
        out["items (approx.)"] = table.get("ItemCount", "?")
        return out

    def _drive(self, plan: Plan[T]) -> T:
        """Run ``plan``, each request a blocking boto3 call."""
        step = _advance(plan, None, None)
        while not isinstance(step, _Done):
            step = _advance(plan, *self._perform(step))
        return step.value

    def _perform(self, step: Any) -> tuple[Any, BaseException | None]:
        if isinstance(step, _Pause):
            time.sleep(step.seconds)
            return None, None
        if isinstance(step, _Parallel):
            try:
                return self._parallel(step.plans), None
            except Exception as err:  # a plan's own error, already mapped: to its parent
                return None, err
        try:
            answer = getattr(self.client, step.method)(**self._params(step))
        except (ClientError, BotoCoreError) as err:
            return None, self._failed(step, err)
        return self._answered(step, answer), None

    def _parallel(self, plans: tuple[Plan[Any], ...]) -> tuple[Any, ...]:
        """The plans in threads of a private pool (boto3 clients are thread-safe), each with
        the caller's context (the operation's deadline)."""
        if len(plans) == 1:
            return (self._drive(plans[0]),)
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(SCAN_THREADS, thread_name_prefix="pagedlist-ddb")
            pool = self._pool
        futures = [pool.submit(contextvars.copy_context().run, self._drive, p) for p in plans]
        return tuple(f.result() for f in futures)

    def close(self) -> None:
        """Close the client's connection pool (and the threads of scan_many)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        self.client.close()


@_serving(_awaiting)
@tallied
class AsyncDynamoDBStore(_Plans, AsyncStore):
    """The same table for asyncio, through aiobotocore: the very plans of
    :class:`DynamoDBStore`, each request awaited; ``scan_many`` runs its queries
    concurrently on the event loop. Open it with ``await AsyncDynamoDBStore.from_url(url)``
    or ``open_async_store(url)``; close it with ``await store.aclose()``."""

    @classmethod
    async def from_url(cls, url: str) -> AsyncDynamoDBStore:
        """Open the table a ``dynamodb://`` URL names (``create=true``: create it)."""
        return await cls._open(_parse_url(url))

    @classmethod
    async def through(
        cls, url: str, route: Callable[[str, int], tuple[str, int]]
    ) -> AsyncDynamoDBStore:
        """As :meth:`DynamoDBStore.through` (the fault proxy, clause W1)."""
        return await cls._open(_routed(url, route))

    @classmethod
    async def _open(cls, opts: dict[str, Any]) -> AsyncDynamoDBStore:
        create = opts.pop("create")
        store = cls(**opts)
        try:
            await store._connect()
            await store._drive(store._p_open(create))
        except BaseException:
            await store.aclose()
            raise
        return store

    def __init__(
        self,
        table: str,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
        claim_entries: int = CLAIM_ENTRIES,
    ) -> None:
        try:
            from aiobotocore.session import get_session
        except ImportError as err:
            raise ConfigError(
                f"the asyncio dynamodb:// adapter needs {err.name!r}, which is not installed: "
                "pip install 'pagedlist[dynamodb]'"
            ) from None
        self._session = get_session()
        region = region or self._session.get_config_variable("region")
        self._settings(table, region, endpoint, claim_entries)
        self._timeouts = (connect_timeout, read_timeout)
        self._stack = contextlib.AsyncExitStack()
        self.client: Any = None

    async def _connect(self) -> None:
        from aiobotocore.config import AioConfig

        has_credentials = await self._session.get_credentials() is not None
        args = self._client_args(has_credentials, AioConfig, self._timeouts)
        try:
            maker = self._session.create_client("dynamodb", **args)
        except (ValueError, NoRegionError) as err:
            raise ConfigError(f"cannot configure DynamoDB client: {err}") from err
        self.client = await self._stack.enter_async_context(maker)

    async def create_table(self) -> str:
        """Create the table if absent and wait until it is ACTIVE; return what was done."""
        return await self._drive(self._p_create_table())

    async def _drive(self, plan: Plan[T]) -> T:
        """Run ``plan``, each request awaited on the event loop."""
        step = _advance(plan, None, None)
        while not isinstance(step, _Done):
            step = _advance(plan, *(await self._perform(step)))
        return step.value

    async def _perform(self, step: Any) -> tuple[Any, BaseException | None]:
        if isinstance(step, _Pause):
            await asyncio.sleep(step.seconds)
            return None, None
        if isinstance(step, _Parallel):
            try:
                return tuple(await asyncio.gather(*map(self._drive, step.plans))), None
            except Exception as err:  # a plan's own error, already mapped: to its parent
                return None, err
        try:
            answer = await getattr(self.client, step.method)(**self._params(step))
        except (ClientError, BotoCoreError) as err:
            return None, self._failed(step, err)
        return self._answered(step, answer), None

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._stack.aclose()
