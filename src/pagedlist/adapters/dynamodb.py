"""DynamoDB store: ``dynamodb://TABLE?region=REGION[&endpoint=URL][&create=true]``.

One table with a string partition key ``pk``; each row is one item. Top-level document
fields are top-level attributes (so appends and increments can address them), plus:

``~v``         the row version, a fresh random string on every write (CAS for ``replace``);
``~i.FIELD``   a string set holding the ``id`` of every entry in list ``FIELD``, so an append
               can reject a duplicate id inside its ``ConditionExpression``
               (``NOT contains(#ids, :id)``) — DynamoDB has no "list contains an element
               whose id is X" test. The set costs each entry its id bytes once more.

A document field whose name is ``pk``, empty, or starts with ``~`` is stored as ``~`` + name,
so no document can collide with these attributes.

Every primitive is one native atomic call: ``PutItem`` with ``attribute_not_exists(pk)``,
``PutItem`` conditioned on ``~v``, ``UpdateItem`` with ``list_append`` bounded by
``size(#l) <= :room`` and ``ADD`` for increments. A failed condition is classified from the
item DynamoDB returns with ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` (the item at the
moment the condition was evaluated, so no second read races a writer). All reads are
strongly consistent. Every call asks for ``ReturnConsumedCapacity=TOTAL``; :meth:`stats`
keeps the running totals.

Credentials come from the normal boto3 chain (environment, profile, instance role...), never
from the URL. For a loopback ``endpoint`` with no credentials configured, dummy static ones
are used so DynamoDB Local works out of the box.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any
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
    too_many_entries,
)
from pagedlist.core.deadline import remaining
from pagedlist.core.ops import Appended, AppendOutcome, Duplicate, Full, JSONDoc, Limits, Row
from pagedlist.core.store import Store, too_large
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

__all__ = ["DYNAMODB_ITEM_BYTES", "ERRORS", "DynamoDBStore", "item_size"]

#: DynamoDB's item size limit (attribute names plus values, its own rules).
DYNAMODB_ITEM_BYTES = 400 * 1024
#: Keys the adapter accepts. DynamoDB allows 2,048-byte partition keys, but the key also
#: counts against the item's 400 KB, and 1 KiB matches the other adapters so a list id
#: valid here is valid on SQLite and Redis too (Cosmos DB ids stop at 1,023 chars).
KEY_BYTES = 1024
#: BatchGetItem takes at most 100 keys and returns at most 16 MB per call.
BATCH_KEYS = 100
BATCH_BYTES = 16 * 1024 * 1024
#: Entries per append. Each entry adds ``NOT contains(#i, :iN) AND`` to the condition, and a
#: condition may hold at most 300 operators and functions; 50 entries stay far below.
APPEND_ENTRIES = 50
#: Per entry besides its id and value text, counted DynamoDB's way: list element (1) + map
#: (3) + three element overheads (3) + names ``id`` ``ts`` ``v`` (5) + a signed 20-digit ``ts``
#: (12) = 24, plus the id once more in the ``~i.`` string set (128 max) = 152; rounded up.
ENTRY_OVERHEAD = 160
#: Per page besides its entries: ``pk`` and a key of up to 1 KiB, ``~v`` and its version,
#: the list and set attribute names and the list's 3 bytes, rounded up with room to spare.
ROW_OVERHEAD = 2048
#: How long get_many keeps retrying keys DynamoDB left unprocessed before it gives up.
UNPROCESSED_BUDGET = 5.0

_KEY = "pk"
_VERSION = "~v"
_IDS = "~i."
_THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        # A transaction elsewhere holds the item: also "try again shortly".
        "TransactionConflictException",
    }
)
_UNAVAILABLE_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure"})
_OPTIONS = ("region", "endpoint", "create", "connect_timeout", "read_timeout")
_FORM = "dynamodb://TABLE?region=REGION[&endpoint=http://host:port][&create=true]"
_DUMMY_KEY = "pagedlistlocal"  # DynamoDB Local wants letters and digits only


# --- documents <-> DynamoDB attribute values ------------------------------------------------


def _attr_name(field: str) -> str:
    """The attribute holding document field ``field`` (escaped away from internal names)."""
    if field == _KEY or not field or field.startswith("~"):
        return "~" + field
    return field


def _field_name(attr: str) -> str | None:
    """The document field an attribute holds, or ``None`` for internal attributes."""
    if attr in (_KEY, _VERSION) or attr.startswith(_IDS):
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


def _to_item(key: str, doc: JSONDoc, version: str) -> dict[str, Any]:
    """The whole item for ``doc``: fields, the key, the version and each list's id set."""
    if not isinstance(doc, dict):
        raise InvalidValue(f"a row must be a JSON object, got {type(doc).__name__}")
    item: dict[str, Any] = {_KEY: {"S": key}, _VERSION: {"S": version}}
    for field, value in doc.items():
        if not isinstance(field, str):
            raise InvalidValue(f"field name {field!r} is not a str: JSON keys are strings")
        item[_attr_name(field)] = _to_attr(value)
        ids = _entry_ids(value)
        if ids:
            item[_IDS + field] = {"SS": list(dict.fromkeys(ids))}
    return item


def _from_item(item: Mapping[str, Any]) -> Row:
    doc = {}
    for attr, value in item.items():
        field = _field_name(attr)
        if field is not None:
            doc[field] = _from_attr(value)
    version = item.get(_VERSION, {}).get("S", "")
    return Row(doc, version)


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


# --- the store ----------------------------------------------------------------------------------


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
            "docs/backends/dynamodb.md (string partition key 'pk')",
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


class DynamoDBStore(Store):
    """A DynamoDB table (AWS, DynamoDB Local, or a compatible server).

    ``client`` is the underlying boto3 client, exposed for instrumentation (event hooks).
    """

    scheme = "dynamodb"

    @classmethod
    def _parse(cls, url: str) -> dict[str, Any]:
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
        }

    @classmethod
    def from_url(cls, url: str) -> DynamoDBStore:
        """Open the table a ``dynamodb://`` URL names; ``create=true`` creates it if absent."""
        opts = cls._parse(url)
        return cls(**opts)

    @classmethod
    def through(cls, url: str, route: Callable[[str, int], tuple[str, int]]) -> DynamoDBStore:
        """Open ``url`` with its ``endpoint`` server ``(host, port)`` reached at
        ``route(host, port)`` instead (the conformance suite's fault proxy, clause W1).

        ``ConfigError`` unless the URL names a plain ``http://`` endpoint: AWS itself is
        HTTPS, whose certificate names the server, not a loopback proxy.
        """
        opts = cls._parse(url)
        endpoint = urlsplit(opts["endpoint"] or "")
        if endpoint.scheme != "http" or not endpoint.hostname:
            raise ConfigError(
                f"{url!r} has no plain http:// endpoint; only such a (local) server can be "
                "reached through a loopback proxy"
            )
        host, port = route(endpoint.hostname, endpoint.port or 80)
        opts["endpoint"] = f"http://{host}:{port}"
        return cls(**opts)

    @classmethod
    def provision(cls, url: str) -> str:
        """Create the table (on-demand billing, ``pk`` string hash key) unless it exists."""
        opts = cls._parse(url)
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
        _check: bool = True,
    ) -> None:
        self._table = table
        self._endpoint = endpoint
        session = boto3.session.Session()
        self._region = region or session.region_name or ("us-east-1" if endpoint else None)
        if not self._region:
            raise ConfigError(
                f"no AWS region for DynamoDB table {table!r}: add ?region=... to the URL, or "
                "set AWS_REGION / a profile region"
            )
        creds: dict[str, str] = {}
        if is_loopback(endpoint) and session.get_credentials() is None:
            # DynamoDB Local checks only that some key is sent; never reached for AWS.
            creds = {"aws_access_key_id": _DUMMY_KEY, "aws_secret_access_key": _DUMMY_KEY}
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
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
            # * endpoint discovery would re-send after a 421 / InvalidEndpointException
            #   (discovery.py handle_retries); off, whatever the environment says.
            # * urllib3 underneath: botocore's URLLib3Session.send passes Retry(False).
            retries={"mode": "standard", "total_max_attempts": 1},
            endpoint_discovery_enabled=False,
            max_pool_connections=64,
        )
        try:
            self.client = session.client(
                "dynamodb", region_name=self._region, endpoint_url=endpoint, config=config, **creds
            )
        except (ValueError, NoRegionError) as err:
            raise ConfigError(f"cannot configure DynamoDB client: {err}") from err
        self._lock = threading.Lock()
        self._stats = {"read_units": 0.0, "write_units": 0.0, "calls": 0, "throttled": 0}
        if _check:
            if create:
                self.create_table()
            else:
                self._check_table()

    @property
    def table(self) -> str:
        """The table's name."""
        return self._table

    # --- calls, errors and capacity -------------------------------------------------------

    def _call(self, method: str, write: bool, **params: Any) -> dict[str, Any]:
        """Run one DynamoDB call, recording its consumed capacity and mapping its errors."""
        params["ReturnConsumedCapacity"] = "TOTAL"
        try:
            answer = getattr(self.client, method)(**params)
        except ClientError as err:
            self._record(err.response, write, throttled=self._code(err) in _THROTTLE_CODES)
            raise
        except BotoCoreError as err:
            with self._lock:
                self._stats["calls"] += 1
            raise self._error(err, method) from err
        self._record(answer, write)
        return answer

    @staticmethod
    def _code(err: ClientError) -> str:
        return err.response.get("Error", {}).get("Code", "")

    def _record(self, answer: Mapping[str, Any], write: bool, throttled: bool = False) -> None:
        consumed = answer.get("ConsumedCapacity") or []
        if isinstance(consumed, dict):
            consumed = [consumed]
        units = sum(float(c.get("CapacityUnits", 0)) for c in consumed)
        with self._lock:
            self._stats["calls"] += 1
            self._stats["write_units" if write else "read_units"] += units
            if throttled:
                self._stats["throttled"] += 1

    def _error(self, err: BaseException, what: str) -> PagedListError:
        """The pagedlist error for a boto3 exception (:data:`ERRORS`), chained to it."""
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

    def _explained(
        self, err: ClientError, what: str, key: str, grown: Callable[[dict[str, Any]], Any]
    ) -> PagedListError:
        """The error for a ``ValidationException`` from an update: ``ItemTooLarge`` if the
        item, read now, would be over 400 KB after the update (DynamoDB says so only in
        the message text, which the adapter does not parse), else the mapped error.

        ``grown(item)`` is the item as the update would leave it.
        """
        if self._code(err) == "ValidationException":
            current = self._call(
                "get_item", False, TableName=self._table, Key={_KEY: {"S": key}},
                ConsistentRead=True,
            ).get("Item") or {_KEY: {"S": key}}  # fmt: skip
            size = item_size(grown(dict(current)))
            if size > DYNAMODB_ITEM_BYTES:
                return too_large(key, size, DYNAMODB_ITEM_BYTES)
        return self._error(err, what)

    def _check_table(self) -> None:
        try:
            answer = self.client.describe_table(TableName=self._table)
        except ClientError as err:
            raise self._error(err, "DescribeTable") from err
        except BotoCoreError as err:
            raise self._error(err, "DescribeTable") from err
        schema = answer["Table"]["KeySchema"]
        types = {
            a["AttributeName"]: a["AttributeType"] for a in answer["Table"]["AttributeDefinitions"]
        }
        if schema != [{"AttributeName": _KEY, "KeyType": "HASH"}] or types.get(_KEY) != "S":
            raise ConfigError(
                f"DynamoDB table {self._table!r} has key schema {schema!r}; pagedlist needs a "
                f"table whose only key is the string partition key {_KEY!r} (see "
                "docs/backends/dynamodb.md)"
            )

    def create_table(self) -> str:
        """Create the table if absent and wait until it is ACTIVE; return what was done."""
        try:
            self.client.create_table(
                TableName=self._table,
                AttributeDefinitions=[{"AttributeName": _KEY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": _KEY, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            done = f"created DynamoDB table {self._table!r} (on-demand, partition key {_KEY!r})"
        except ClientError as err:
            if self._code(err) != "ResourceInUseException":
                raise self._error(err, "CreateTable") from err
            done = f"DynamoDB table {self._table!r} already exists"
        except BotoCoreError as err:
            raise self._error(err, "CreateTable") from err
        try:
            self.client.get_waiter("table_exists").wait(
                TableName=self._table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            )
        except BotoCoreError as err:
            raise StoreUnavailable(f"table {self._table!r} did not become ACTIVE: {err}") from err
        self._check_table()
        return done

    # --- the protocol -------------------------------------------------------------------

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

    def row_size(self, key: str, doc: JSONDoc) -> int:
        """The stored item's size by DynamoDB's rules, internal attributes included."""
        return item_size(_to_item(key, doc, new_version()))

    def _checked_item(self, key: str, doc: JSONDoc) -> tuple[dict[str, Any], str] | ItemTooLarge:
        version = new_version()
        item = _to_item(key, doc, version)
        size = item_size(item)
        if size > DYNAMODB_ITEM_BYTES:
            return too_large(key, size, DYNAMODB_ITEM_BYTES)
        return item, version

    def put_if_absent(self, key: str, doc: JSONDoc) -> bool:
        """``PutItem`` with ``attribute_not_exists(pk)``."""
        checked = self._checked_item(key, doc)
        if isinstance(checked, ItemTooLarge):
            # A row that already exists answers False before the size matters.
            if self.get(key) is not None:
                return False
            raise checked
        try:
            self._call(
                "put_item",
                True,
                TableName=self._table,
                Item=checked[0],
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": _KEY},
            )
        except ClientError as err:
            if self._code(err) == "ConditionalCheckFailedException":
                return False
            raise self._error(err, "PutItem") from err
        return True

    def replace(self, key: str, doc: JSONDoc, version: str) -> str | None:
        """``PutItem`` conditioned on the stored version."""
        checked = self._checked_item(key, doc)
        if isinstance(checked, ItemTooLarge):
            current = self.get(key)
            if current is None or current.version != version:
                return None
            raise checked
        try:
            self._call(
                "put_item",
                True,
                TableName=self._table,
                Item=checked[0],
                ConditionExpression="#ver = :ver",
                ExpressionAttributeNames={"#ver": _VERSION},
                ExpressionAttributeValues={":ver": {"S": version}},
            )
        except ClientError as err:
            if self._code(err) == "ConditionalCheckFailedException":
                return None
            raise self._error(err, "PutItem") from err
        return checked[1]

    def get(self, key: str) -> Row | None:
        """``GetItem`` with ``ConsistentRead``."""
        try:
            answer = self._call(
                "get_item",
                False,
                TableName=self._table,
                Key={_KEY: {"S": key}},
                ConsistentRead=True,
            )
        except ClientError as err:
            raise self._error(err, "GetItem") from err
        item = answer.get("Item")
        return None if item is None else _from_item(item)

    def get_many(self, keys: Iterable[str]) -> dict[str, Row]:
        """``BatchGetItem`` in 100-key requests; unprocessed keys retried with backoff.

        Within a list operation (``pagedlist.core.deadline``) no request after the first
        is sent once the operation's deadline has passed: ``DeadlineExceeded`` instead.
        """
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Row] = {}
        for i in range(0, len(wanted), BATCH_KEYS):
            if i:
                self._before_deadline(0.0, len(wanted) - i)
            self._batch_get(wanted[i : i + BATCH_KEYS], out)
        return out

    def _before_deadline(self, delay: float, left: int) -> None:
        """Raise ``DeadlineExceeded`` unless the next request, ``delay`` seconds from now,
        starts before the running operation's deadline (none set: always fine)."""
        seconds = remaining()
        if seconds is not None and delay >= seconds:
            raise DeadlineExceeded(
                f"DynamoDB BatchGetItem on table {self._table!r}: the operation's deadline "
                f"passed with {left} key(s) still unread (left unprocessed by DynamoDB or "
                "not yet asked for); nothing was written: retry, or raise the deadline"
            )

    def _batch_get(self, keys: list[str], out: dict[str, Row]) -> None:
        request = {self._table: {"Keys": [{_KEY: {"S": k}} for k in keys], "ConsistentRead": True}}
        give_up = time.monotonic() + UNPROCESSED_BUDGET
        attempt = 0
        while request:
            try:
                answer = self._call("batch_get_item", False, RequestItems=request)
            except ClientError as err:
                raise self._error(err, "BatchGetItem") from err
            for item in answer.get("Responses", {}).get(self._table, []):
                out[item[_KEY]["S"]] = _from_item(item)
            request = answer.get("UnprocessedKeys") or {}
            if request:
                # DynamoDB left keys unprocessed (throttling or the 16 MB answer cap):
                # retry just those, with jittered backoff, within a bounded budget and
                # never past the operation's deadline.
                attempt += 1
                delay = random.uniform(0, min(1.0, 0.02 * 2**attempt))
                self._before_deadline(delay, len(request.get(self._table, {}).get("Keys", [])))
                if time.monotonic() + delay > give_up:
                    left = len(request.get(self._table, {}).get("Keys", []))
                    raise Throttled(
                        f"DynamoDB left {left} key(s) of table {self._table!r} unprocessed for "
                        f"{UNPROCESSED_BUDGET:g}s of retries: the table is throttled; retry later"
                    )
                time.sleep(delay)

    def append(
        self, key: str, field: str, entries: Iterable[JSONDoc], max_len: int
    ) -> AppendOutcome:
        """One ``UpdateItem``: ``list_append`` plus ``ADD`` of the ids, conditioned on the
        length bound and on no entry's id being in the id set."""
        batch = list(entries)
        if len(batch) > APPEND_ENTRIES:
            # Each entry adds a term to the condition, which DynamoDB caps.
            raise too_many_entries(key, len(batch), APPEND_ENTRIES)
        room = max_len - len(batch)
        names = {"#l": _attr_name(field), "#v": _VERSION}
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

        for _ in range(3):
            try:
                answer = self._call(
                    "update_item",
                    True,
                    TableName=self._table,
                    Key={_KEY: {"S": key}},
                    UpdateExpression=update,
                    ConditionExpression=" AND ".join(conditions),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    # Both the list and the set come back; the list gives the new length.
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as err:
                if self._code(err) != "ConditionalCheckFailedException":
                    raise self._explained(err, "UpdateItem", key, grown) from err
                outcome = self._classify(err.response.get("Item"), key, field, batch, max_len)
                if outcome is not None:
                    return outcome
                continue
            return Appended(len(answer["Attributes"][names["#l"]]["L"]))
        raise ContractViolation(
            f"DynamoDB rejected an append to {key!r} three times, but the item it returned "
            "holds no duplicate id and has room: is the ~i. id set out of step with the list?"
        )

    @staticmethod
    def _classify(
        item: Mapping[str, Any] | None, key: str, field: str, batch: list[JSONDoc], max_len: int
    ) -> AppendOutcome | None:
        """Why the condition failed, from the item as DynamoDB evaluated it."""
        stored = [] if item is None else _from_attr(item.get(_attr_name(field), {"L": []}))
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

    def increment(self, key: str, field: str, by: int = 1, expect: int | None = None) -> int | None:
        """``UpdateItem ADD``, conditioned on the field being a number (or missing) and,
        with ``expect``, on its current value."""
        names = {"#f": _attr_name(field), "#v": _VERSION}
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

        try:
            answer = self._call(
                "update_item",
                True,
                TableName=self._table,
                Key={_KEY: {"S": key}},
                UpdateExpression="ADD #f :by SET #v = :ver",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if self._code(err) != "ConditionalCheckFailedException":
                raise self._explained(err, "UpdateItem", key, grown) from err
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

    def delete(self, key: str) -> None:
        """``DeleteItem``."""
        try:
            self._call("delete_item", True, TableName=self._table, Key={_KEY: {"S": key}})
        except ClientError as err:
            raise self._error(err, "DeleteItem") from err

    def close(self) -> None:
        """Close the client's connection pool."""
        self.client.close()

    def stats(self) -> Mapping[str, Any]:
        """Running totals: consumed ``read_units`` and ``write_units``, ``calls``, and how many
        calls were ``throttled``."""
        with self._lock:
            return dict(self._stats)

    def describe(self) -> str:
        """The URL without credentials (they never appear in it)."""
        url = f"dynamodb://{self._table}?region={self._region}"
        if self._endpoint:
            url += f"&endpoint={self._endpoint}"
        return url
