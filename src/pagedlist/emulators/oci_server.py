"""A local stand-in for Oracle NoSQL Database's HTTP proxy, for tests without an account.

It is **not** Oracle's server. It speaks the real wire protocol that the ``borneo`` SDK
uses (``POST /V2/nosql/data``, serial version 4, NSON bodies, encoded and decoded with
borneo's own NSON codec) so the unmodified SDK talks to it and sees real protocol
errors, and it keeps rows in SQLite (a file, or memory). It implements exactly what
:class:`pagedlist.adapters.oci.OCINoSQLStore` sends:

* table DDL: ``CREATE TABLE IF NOT EXISTS`` in pagedlist's layout, and get table;
* ``GET``, ``PUT``, ``PUT_IF_ABSENT``, ``PUT_IF_VERSION``, ``DELETE``;
* ``PREPARE`` and ``QUERY`` for the adapter's own statement shapes (listed in
  :mod:`pagedlist.emulators.oci_statements`), executed atomically per request.

Anything else is refused with the error code Oracle's proxy uses: an operation it does
not model gets ``OPERATION_NOT_SUPPORTED``; a statement of another shape gets
``ILLEGAL_ARGUMENT`` (the code a compile error has). The cloud's size limits are
enforced (64-byte primary key, 512 KB row, 10 KB query text). IAM, throttling, the
query planner, TTL, indexes and the rest of SQL are not modelled.

Run it with ``python -m pagedlist.emulators.oci_server --port P [--db PATH]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import socket
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from borneo.common import ByteInputStream, ByteOutputStream
from borneo.nson import FieldValueCreator, Nson, NsonSerializer
from borneo.serdeutil import SerdeUtil

from pagedlist.emulators import oci_statements as shapes
from pagedlist.emulators.oci_storage import (
    ERR,
    KEYED,
    LONG_BYTES,
    ROW_LIMIT,
    NoSQLError,
    Schema,
    Tables,
    check_row,
    kb,
    keyed_row_bytes,
    row_bytes,
)

__all__ = ["Long", "NoSQLError", "OCINoSQLEndpoint", "main"]

DATA_PATH = "/V2/nosql/data"
KEY_LIMIT = 64
QUERY_LIMIT = 10 * 1024
PROXY_INFO = "proxy=5.4.0 kv=24.1.0 pagedlist-local-endpoint"

OP = SerdeUtil.OP_CODE
#: QueryOperation codes as the proxy reports them (borneo's PreparedStatement.OPCODE_*).
QUERY_SELECT, QUERY_UPDATE = 0, 3
ABSOLUTE = 0
COLUMNS = ("k", "doc", "sz")


class Long(int):
    """An int the response encoder must write as an NSON LONG (borneo reads some fields,
    e.g. modification times, only as LONG)."""


# --- NSON ----------------------------------------------------------------------------------


def decode_request(body: bytes) -> tuple[int, dict[str, Any]]:
    """``(serial_version, request_map)`` from a request body (a short, then an NSON map)."""
    bis = ByteInputStream(bytearray(body))
    version = bis.read_short_int()
    creator = FieldValueCreator(ordered=False)
    Nson.generate_events_from_nson(bis, creator)
    value = creator.get_current_value()
    if not isinstance(value, dict):
        raise NoSQLError(ERR.BAD_PROTOCOL_MESSAGE, "request is not an NSON map")
    return version, value


def _write(ns: NsonSerializer, value: Any) -> None:
    if isinstance(value, bool):
        ns.boolean_value(value)
    elif isinstance(value, Long):
        ns.long_value(int(value))
    elif isinstance(value, int):
        if -(2**31) <= value < 2**31:
            ns.integer_value(value)
        elif -(2**63) <= value < 2**63:
            ns.long_value(value)
        else:
            ns.number_value(Decimal(value))
    elif isinstance(value, str):
        ns.string_value(value)
    elif isinstance(value, bytes | bytearray):
        ns.binary_value(bytearray(value))
    elif isinstance(value, Decimal):
        ns.number_value(value)
    elif isinstance(value, float):
        ns.double_value(value)
    elif value is None:
        ns.json_null_value()
    elif isinstance(value, dict):
        ns.start_map(len(value))
        for name, item in value.items():
            ns.start_map_field(name)
            _write(ns, item)
            ns.end_map_field(name)
        ns.end_map(len(value))
    elif isinstance(value, list | tuple):
        ns.start_array(len(value))
        for item in value:
            ns.start_array_field()
            _write(ns, item)
            ns.end_array_field()
        ns.end_array(len(value))
    else:
        raise TypeError(f"cannot encode {type(value).__name__} in NSON")


def encode_response(fields: dict[str, Any]) -> bytes:
    """An NSON map; the error code must be its first field (borneo checks it first)."""
    out = bytearray()
    _write(NsonSerializer(ByteOutputStream(out)), fields)
    return bytes(out)


def _error(code: int, message: str) -> dict[str, Any]:
    return {"e": code, "x": message}


# --- sizes and costs ----------------------------------------------------------------------------


def _consumed(read_kb: int = 0, write_kb: int = 0, absolute: bool = True) -> dict[str, int]:
    # The engine charges 1 read unit per KB read, 2 with absolute consistency (always for
    # the reads a write makes), and 1 write unit per KB written; the proxy reports read
    # units and read KB, and borneo reads "wk" as both write KB and write units.
    return {"ru": read_kb * (2 if absolute else 1), "rk": read_kb, "wk": write_kb}


#: The proxy's charge for compiling a statement (DataServiceHandler.MIN_QUERY_COST).
PREPARE_COST = 2
#: The proxy's default and largest batch of a query or a multi-delete: 2 MB read/written.
BATCH_KB = 2 * 1024
#: The proxy's limits on a WriteMultiple: 50 operations, 25 MB (RequestLimits).
BATCH_OPERATIONS = 50
BATCH_REQUEST_BYTES = 25 * 1024 * 1024


def _plain(value: Any) -> Any:
    """Decoded NSON (OrderedDict, bytearray, Decimal) as plain JSON values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        # JSON numbers: integers stay exact, others become doubles (as JSON text has them).
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"{value} is not a valid JSON number")
    if isinstance(value, bytearray | bytes):
        raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "binary values are not supported in JSON")
    return value


# --- the proxy ----------------------------------------------------------------------------------


def _check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "primary key field k must be a STRING")
    size = len(key.encode("utf-8"))
    if size > KEY_LIMIT:
        raise NoSQLError(
            ERR.KEY_SIZE_LIMIT_EXCEEDED,
            f"Primary key of size {size} exceeded the limit of {KEY_LIMIT}",
        )
    return key


def _is_long(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _keyed_key(schema: Schema, key: Any, *, position: bool = True) -> tuple[str, int | None]:
    """``(shard, position)`` from a primary key value; ``position=False`` for a key that
    names the shard key alone (a multi-delete)."""
    if not isinstance(key, dict):
        raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "the primary key must be a map of its columns")
    wanted = {schema.shard, schema.position} if position else {schema.shard}
    if set(key) != wanted:
        raise NoSQLError(
            ERR.ILLEGAL_ARGUMENT,
            f"primary key must have exactly the fields {sorted(wanted)}, got {sorted(key)}",
        )
    shard = key[schema.shard]
    if not isinstance(shard, str):
        raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"primary key field {schema.shard} must be a STRING")
    size = len(shard.encode("utf-8")) + LONG_BYTES
    if size > KEY_LIMIT:
        raise NoSQLError(
            ERR.KEY_SIZE_LIMIT_EXCEEDED,
            f"Primary key of size {size} exceeded the limit of {KEY_LIMIT}",
        )
    if not position:
        return shard, None
    pos = key[schema.position]
    if not _is_long(pos):
        raise NoSQLError(
            ERR.ILLEGAL_ARGUMENT, f"primary key field {schema.position} must be a LONG"
        )
    return shard, pos


def _keyed_value(
    schema: Schema, value: Any, tables: Tables, table: str
) -> tuple[str, int, dict[str, Any], bool]:
    """``(shard, position, other columns, generated)`` of a row a put writes, each column
    checked against its declared type; an identity position left out is drawn here."""
    if not isinstance(value, dict):
        raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "put needs a row value")
    unknown = set(value) - schema.names
    if unknown:
        raise NoSQLError(
            ERR.ILLEGAL_ARGUMENT, f"unknown column(s) {sorted(unknown)} in table {table}"
        )
    generated = schema.identity and value.get(schema.position) is None
    key = {schema.shard: value.get(schema.shard), schema.position: value.get(schema.position)}
    if generated:
        key[schema.position] = tables.next_identity(table)
    shard, pos = _keyed_key(schema, key)
    assert pos is not None
    cols: dict[str, Any] = {}
    for column in schema.columns:
        item = _plain(value.get(column.name))
        if item is not None and column.kind == "STRING" and not isinstance(item, str):
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"column {column.name} must be a STRING")
        if item is not None and column.kind == "LONG" and not _is_long(item):
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"column {column.name} must be a LONG")
        cols[column.name] = item
    size = keyed_row_bytes(shard, cols)
    if size > ROW_LIMIT:
        raise NoSQLError(
            ERR.ROW_SIZE_LIMIT_EXCEEDED, f"Row size of {size} exceeded the limit of {ROW_LIMIT}"
        )
    return shard, pos, cols, generated


def _keyed_row(schema: Schema, shard: str, pos: int, cols: dict[str, Any]) -> dict[str, Any]:
    return {schema.shard: shard, schema.position: pos, **cols}


class OCINoSQLEndpoint:
    """The request handlers, independent of HTTP so they can be unit-checked."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.handlers: dict[int, Callable[[dict, dict], dict]] = {
            OP.TABLE_REQUEST: self.table_request,
            OP.GET_TABLE: self.get_table,
            OP.GET: self.get,
            OP.PUT: self.put,
            OP.PUT_IF_ABSENT: self.put,
            OP.PUT_IF_VERSION: self.put,
            OP.DELETE: self.delete,
            OP.WRITE_MULTIPLE: self.write_multiple,
            OP.MULTI_DELETE: self.multi_delete,
            OP.PREPARE: self.prepare,
            OP.QUERY: self.query,
        }

    def handle(self, body: bytes) -> bytes:
        """One request body in, one response body out."""
        try:
            version, request = decode_request(body)
        except NoSQLError as err:
            return encode_response(_error(err.code, err.message))
        except Exception as err:
            return encode_response(_error(ERR.BAD_PROTOCOL_MESSAGE, f"bad NSON: {err}"))
        if version != SerdeUtil.SERIAL_VERSION_4:
            # A V3 client reads a single error byte then a string: that is what old
            # proxies answer and how borneo learns to step its serial version down.
            out = ByteOutputStream(bytearray())
            out.write_byte(ERR.UNSUPPORTED_PROTOCOL)
            SerdeUtil.write_string(out, f"Invalid driver serial version {version}")
            return bytes(out.get_content())
        header = dict(request.get("h") or {})
        header["_size"] = len(body)
        payload = request.get("p") or {}
        op = int(header.get("o") or 0)
        handler = self.handlers.get(op)
        try:
            if handler is None:
                raise NoSQLError(
                    ERR.OPERATION_NOT_SUPPORTED,
                    f"operation code {op} is not supported by the pagedlist local endpoint",
                )
            with self.tables.lock:
                self.tables.db.execute("BEGIN IMMEDIATE")
                try:
                    result = handler(header, payload)
                except BaseException:
                    self.tables.db.execute("ROLLBACK")
                    raise
                self.tables.db.execute("COMMIT")
        except NoSQLError as err:
            return encode_response(_error(err.code, err.message))
        except Exception as err:
            return encode_response(_error(SerdeUtil.SERVER_OTHER_ERROR.UNKNOWN_ERROR, repr(err)))
        return encode_response({"e": 0, **result})

    # --- tables ---------------------------------------------------------------------------

    def _table_result(self, table: str) -> dict[str, Any]:
        ddl = self.tables.ddl(table)
        if ddl is None:
            raise NoSQLError(ERR.TABLE_NOT_FOUND, f"Table not found: {table}")
        return {
            "n": table,
            "as": SerdeUtil.TABLE_STATE.ACTIVE,
            "lm": {"ru": 0, "wu": 0, "sg": 0, "mo": SerdeUtil.CAPACITY_MODE.PROVISIONED},
            "td": ddl,
        }

    def _kind(self, table: str) -> str:
        """The kind of an existing table: ``rows`` or one of :data:`KEYED`."""
        ddl = self.tables.ddl(table)
        if ddl is None:
            raise NoSQLError(ERR.TABLE_NOT_FOUND, f"Table not found: {table}")
        kind = shapes.table_kind(ddl)
        if kind is None:
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"table {table} has a layout this endpoint lost")
        return kind

    def table_request(self, header: dict, payload: dict) -> dict:
        statement = payload.get("st")
        if not isinstance(statement, str):
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "table request needs a statement")
        found = shapes.match_table_ddl(statement)
        if found is None:
            raise NoSQLError(
                ERR.ILLEGAL_ARGUMENT,
                "DDL not supported by the pagedlist local endpoint (it creates only "
                f"pagedlist's and its bench's table layouts): {statement[:200]}",
            )
        table, _ = found
        self.tables.create(table, shapes.normalize(statement))
        return self._table_result(table)

    def get_table(self, header: dict, payload: dict) -> dict:
        return self._table_result(str(header.get("n")))

    # --- rows -----------------------------------------------------------------------------
    #
    # Charges follow the engine's tables (oracle.kv.impl.api.ops.*Handler), in KB: a get
    # reads the record (1 if missing); a put over an existing record writes the new and
    # the old one; a conditional put reads the minimum (the whole old record when it fails
    # and the old value is asked back); a delete reads the minimum and writes the record.

    def get(self, header: dict, payload: dict) -> dict:
        table = str(header.get("n"))
        kind = self._kind(table)
        absolute = (payload.get("co") or {}).get("y", ABSOLUTE) == ABSOLUTE
        if kind != "rows":
            return self._get_keyed(table, KEYED[kind], payload, absolute)
        key = _check_key((payload.get("k") or {}).get("k"))
        found = self.tables.read(table, key)
        if found is None:
            return {"c": _consumed(1, 0, absolute)}
        doc, sz, version, modified = found
        return {
            "c": _consumed(kb(row_bytes(key, doc)), 0, absolute),
            "r": {
                "md": Long(modified),
                "xp": Long(0),
                "rv": version,
                "l": {"k": key, "doc": doc, "sz": sz},
            },
        }

    def _get_keyed(self, table: str, schema: Schema, payload: dict, absolute: bool) -> dict:
        shard, pos = _keyed_key(schema, _plain(payload.get("k")))
        assert pos is not None
        found = self.tables.read_keyed(table, shard, pos)
        if found is None:
            return {"c": _consumed(1, 0, absolute)}
        cols, sz, version, modified = found
        return {
            "c": _consumed(kb(sz), 0, absolute),
            "r": {
                "md": Long(modified),
                "xp": Long(0),
                "rv": version,
                "l": _keyed_row(schema, shard, pos, cols),
            },
        }

    def put(self, header: dict, payload: dict) -> dict:
        table = str(header.get("n"))
        kind = self._kind(table)
        op = header.get("o")
        if kind != "rows":
            fields, read_kb, write_kb, _ = self._put_keyed(table, KEYED[kind], op, payload)
            return {"c": _consumed(read_kb, write_kb), **fields}
        value = payload.get("l")
        if not isinstance(value, dict):
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "put needs a row value")
        unknown = set(value) - set(COLUMNS)
        if unknown:
            raise NoSQLError(
                ERR.ILLEGAL_ARGUMENT, f"unknown column(s) {sorted(unknown)} in table {table}"
            )
        key = _check_key(value.get("k"))
        doc = _plain(value.get("doc"))
        sz = value.get("sz")
        if not isinstance(sz, int) or isinstance(sz, bool):
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "column sz must be a LONG")
        size = check_row(key, doc)
        current = self.tables.read(table, key)
        old_kb = kb(row_bytes(key, current[0])) if current is not None else 0
        refused = self._refusal(op, payload, current, old_kb)
        if refused is not None:
            read_kb, info = refused
            if current is not None and info:
                info = self._return_info({"k": key, "doc": current[0], "sz": current[1]}, current)
            return {"c": _consumed(read_kb, 0), **info}
        version, _ = self.tables.write(table, key, doc, int(sz))
        read_kb = 0 if op == OP.PUT else 1
        return {"c": _consumed(read_kb, kb(size) + old_kb), "rv": version}

    @staticmethod
    def _refusal(op: Any, payload: dict, current: tuple | None, old_kb: int) -> tuple | None:
        """``(read KB, {"ri": ...} wanted)`` when a conditional put fails, else ``None``."""
        wants_row = bool(payload.get("rr"))
        if op == OP.PUT_IF_ABSENT:
            if current is None:
                return None
            return (old_kb if wants_row else 1), ({"ri": True} if wants_row else {})
        if op == OP.PUT_IF_VERSION:
            wanted = payload.get("rv")
            if wanted is None:
                raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "PutIfVersion needs a match version")
            if current is None:
                return 1, {}
            if bytes(current[2]) != bytes(wanted):
                return (old_kb if wants_row else 1), ({"ri": True} if wants_row else {})
        return None

    @staticmethod
    def _return_info(row: dict[str, Any], current: tuple) -> dict:
        """The existing row, sent back when a conditional put fails and asked for it."""
        version, modified = current[2], current[3]
        return {"ri": {"el": row, "ev": version, "em": Long(modified)}}

    def _put_keyed(
        self, table: str, schema: Schema, op: Any, payload: dict
    ) -> tuple[dict[str, Any], int, int, bool]:
        """One put on a keyed table: ``(response fields, read KB, write KB, success)``."""
        shard, pos, cols, generated = _keyed_value(schema, payload.get("l"), self.tables, table)
        current = self.tables.read_keyed(table, shard, pos)
        old_kb = kb(current[1]) if current is not None else 0
        refused = self._refusal(op, payload, current, old_kb)
        if refused is not None:
            read_kb, info = refused
            if current is not None and info:
                info = self._return_info(_keyed_row(schema, shard, pos, current[0]), current)
            return info, read_kb, 0, False
        version, _ = self.tables.write_keyed(table, shard, pos, cols, keyed_row_bytes(shard, cols))
        fields: dict[str, Any] = {"rv": version}
        if generated:
            fields["gn"] = Long(pos)
        read_kb = 0 if op == OP.PUT else 1
        return fields, read_kb, kb(keyed_row_bytes(shard, cols)) + old_kb, True

    def delete(self, header: dict, payload: dict) -> dict:
        table = str(header.get("n"))
        if self._kind(table) != "rows":
            raise NoSQLError(
                ERR.OPERATION_NOT_SUPPORTED,
                f"single-row delete on table {table} is not modelled by the pagedlist local "
                "endpoint (pagedlist removes entry rows by multi-delete)",
            )
        key = _check_key((payload.get("k") or {}).get("k"))
        found = self.tables.read(table, key)
        if found is None:
            return {"c": _consumed(1, 0), "ss": False}
        self.tables.delete(table, key)
        return {"c": _consumed(1, kb(row_bytes(key, found[0]))), "ss": True}

    # --- batches of one shard key ------------------------------------------------------------

    def write_multiple(self, header: dict, payload: dict) -> dict:
        """Puts on rows of one shard key, all or nothing when an ``abort`` one fails.

        As the engine's ExecuteHandler: the operations run in primary-key order (for a
        ``LONG`` key column, ascending), the first failing ``abort_if_unsuccessful`` one
        aborts the transaction and is reported with its index in the request, and the
        charges of every operation run so far are kept.
        """
        table = str(header.get("n"))
        kind = self._kind(table)
        ops = payload.get("os")
        if not isinstance(ops, list) or not ops:
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "WriteMultiple needs operations")
        if len(ops) > BATCH_OPERATIONS:
            raise NoSQLError(
                ERR.BATCH_OP_NUMBER_LIMIT_EXCEEDED,
                f"The number of operations exceeds the max number of {BATCH_OPERATIONS}: "
                f"{len(ops)}",
            )
        if header.get("_size", 0) > BATCH_REQUEST_BYTES:
            raise NoSQLError(
                ERR.REQUEST_SIZE_LIMIT_EXCEEDED,
                f"The size of request exceeded the limit of {BATCH_REQUEST_BYTES}: "
                f"{header['_size']}",
            )
        if kind == "rows":
            raise NoSQLError(
                ERR.OPERATION_NOT_SUPPORTED,
                f"WriteMultiple on table {table} is not modelled by the pagedlist local endpoint",
            )
        schema = KEYED[kind]
        keyed: list[tuple[int, int, dict]] = []
        shards = set()
        for index, item in enumerate(ops):
            if not isinstance(item, dict) or item.get("o") not in (
                OP.PUT, OP.PUT_IF_ABSENT, OP.PUT_IF_VERSION,
            ):  # fmt: skip
                raise NoSQLError(
                    ERR.OPERATION_NOT_SUPPORTED,
                    "only puts are modelled in a WriteMultiple by the pagedlist local endpoint",
                )
            if item.get("n") not in (None, table):
                raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "all operations must use one table")
            value = item.get("l")
            if not isinstance(value, dict) or value.get(schema.position) is None:
                raise NoSQLError(
                    ERR.ILLEGAL_ARGUMENT, "every operation of a WriteMultiple needs a full key"
                )
            shard, pos = _keyed_key(
                schema,
                {schema.shard: value.get(schema.shard), schema.position: value[schema.position]},
            )
            assert pos is not None
            shards.add(shard)
            keyed.append((pos, index, item))
        if len(shards) > 1:
            raise NoSQLError(
                ERR.ILLEGAL_ARGUMENT,
                "all operations of a WriteMultiple must share the same shard key",
            )
        if len({pos for pos, _, _ in keyed}) != len(keyed):
            raise NoSQLError(
                ERR.ILLEGAL_ARGUMENT, "more than one operation of a WriteMultiple has the same key"
            )
        db = self.tables.db
        db.execute("SAVEPOINT write_multiple")
        results: dict[int, dict] = {}
        read_total = write_total = 0
        for _, index, item in sorted(keyed, key=lambda k: k[0]):
            fields, read_kb, write_kb, success = self._put_keyed(table, schema, item["o"], item)
            read_total += read_kb
            write_total += write_kb
            result = {"ss": success, **fields}
            if not success and item.get("a"):
                db.execute("ROLLBACK TO write_multiple")
                db.execute("RELEASE write_multiple")
                return {
                    "c": _consumed(read_total, write_total),
                    "wf": {"wi": index, "wr": result},
                }
            results[index] = result
        db.execute("RELEASE write_multiple")
        return {
            "c": _consumed(read_total, write_total),
            "ws": [results[i] for i in range(len(ops))],
        }

    def multi_delete(self, header: dict, payload: dict) -> dict:
        """Rows of one shard key, optionally within a range of the ``LONG`` key column,
        deleted in key order until ``max_write_kb`` (default and limit 2 MB) is written;
        the continuation key then names the last one deleted (MultiDeleteTableHandler)."""
        table = str(header.get("n"))
        kind = self._kind(table)
        if kind == "rows":
            raise NoSQLError(
                ERR.OPERATION_NOT_SUPPORTED,
                f"multi-delete on table {table} is not modelled by the pagedlist local endpoint",
            )
        schema = KEYED[kind]
        shard, _ = _keyed_key(schema, _plain(payload.get("k")), position=False)
        max_kb = payload.get("mw") or BATCH_KB
        if not isinstance(max_kb, int) or not 0 < max_kb <= BATCH_KB:
            raise NoSQLError(
                ERR.BAD_PROTOCOL_MESSAGE,
                f"Invalid maxWriteKB, it can not exceed {BATCH_KB}: {max_kb}",
            )
        lo, hi = self._range_bounds(schema, payload.get("rg"))
        resume = payload.get("ck")
        if resume is not None:
            after = self._resume(resume)["at"]
            lo = after + 1 if lo is None else max(lo, after + 1)
        read_kb = write_kb = deleted = 0
        more = None
        for pos, _cols, sz in list(self.tables.range_keyed(table, shard, lo, hi)):
            self.tables.delete_keyed(table, shard, pos)
            deleted += 1
            read_kb += 1
            write_kb += kb(sz)
            if write_kb >= max_kb:
                more = pos
                break
        if more is None:
            read_kb += 1  # the scan ends on a key past the range: the empty read charge
        fields: dict[str, Any] = {"c": _consumed(read_kb, write_kb), "nd": deleted}
        if more is not None:
            fields["ck"] = self._continuation({"at": more})
        return fields

    @staticmethod
    def _range_bounds(schema: Schema, rng: Any) -> tuple[int | None, int | None]:
        """Inclusive ``(lo, hi)`` of a FieldRange on the ``LONG`` key column."""
        if rng is None:
            return None, None
        if not isinstance(rng, dict) or rng.get("rp") != schema.position:
            raise NoSQLError(
                ERR.ILLEGAL_ARGUMENT, f"the range must be on key column {schema.position}"
            )
        bounds: list[int | None] = []
        for name, step in (("sr", 1), ("en", -1)):
            end = rng.get(name)
            if end is None:
                bounds.append(None)
                continue
            value = _plain(end.get("l"))
            if not _is_long(value):
                raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"range bound {value!r} is not a LONG")
            bounds.append(value if end.get("in") else value + step)
        return bounds[0], bounds[1]

    # --- queries ----------------------------------------------------------------------------

    def _compile(self, statement: Any) -> tuple[shapes.Shape, str]:
        if not isinstance(statement, str):
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "query needs a statement")
        size = len(statement.encode("utf-8"))
        if size > QUERY_LIMIT:
            raise NoSQLError(
                ERR.ILLEGAL_ARGUMENT,
                f"Query statement too long: {size} bytes, the limit is {QUERY_LIMIT}",
            )
        found = shapes.match(statement)
        if found is None:
            raise NoSQLError(
                ERR.ILLEGAL_ARGUMENT,
                "statement shape not supported by the pagedlist local endpoint (a stand-in "
                "that runs only pagedlist's own statements): " + statement[:300],
            )
        shape, table = found
        self._check_kind(shape, table)
        return shape, table

    def _check_kind(self, shape: shapes.Shape, table: str) -> None:
        kind = self._kind(table)
        if kind != shape.kind:
            # The real compiler fails: the columns the statement names are not the table's.
            raise NoSQLError(
                ERR.ILLEGAL_ARGUMENT,
                f"statement {shape.name} does not apply to table {table} (a {kind} table)",
            )

    @staticmethod
    def _prepared(shape: shapes.Shape, table: str) -> bytes:
        # Opaque to the driver; it sends it back with each execution.
        blob = json.dumps({"s": shape.name, "t": table}).encode()
        return b"PLQ1" + base64.b64encode(blob)

    @staticmethod
    def _unprepare(blob: Any) -> tuple[str, str]:
        try:
            raw = bytes(blob)
            if not raw.startswith(b"PLQ1"):
                raise ValueError("bad magic")
            data = json.loads(base64.b64decode(raw[4:]))
            return data["s"], data["t"]
        except (ValueError, KeyError, TypeError) as err:
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"invalid prepared query: {err}") from None

    @staticmethod
    def _continuation(state: dict[str, Any]) -> bytes:
        return b"PLC1" + base64.b64encode(json.dumps(state).encode())

    @staticmethod
    def _resume(blob: Any) -> dict[str, Any]:
        try:
            raw = bytes(blob)
            if not raw.startswith(b"PLC1"):
                raise ValueError("bad magic")
            state = json.loads(base64.b64decode(raw[4:]))
            if not isinstance(state, dict) or not isinstance(state.get("at"), int):
                raise ValueError("no position")
            return state
        except (ValueError, TypeError) as err:
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"invalid continuation key: {err}") from None

    def _prepare_fields(self, shape: shapes.Shape, table: str) -> dict:
        return {
            "pq": self._prepared(shape, table),
            "n": table,
            "qo": QUERY_UPDATE if shape.writes else QUERY_SELECT,
        }

    def prepare(self, header: dict, payload: dict) -> dict:
        shape, table = self._compile(payload.get("st"))
        return {
            "c": {"ru": PREPARE_COST, "rk": PREPARE_COST, "wk": 0},
            **self._prepare_fields(shape, table),
        }

    def query(self, header: dict, payload: dict) -> dict:
        extra: dict[str, Any] = {}
        prepare_cost = 0
        if payload.get("is"):
            name, table = self._unprepare(payload.get("pq"))
            shape = shapes.SHAPES[name]
            self._check_kind(shape, table)
        else:
            shape, table = self._compile(payload.get("st"))
            extra = self._prepare_fields(shape, table)
            prepare_cost = PREPARE_COST
        variables: dict[str, Any] = {}
        for var in payload.get("bv") or []:
            variables[str(var.get("m"))] = _plain(var.get("l"))
        missing = [v for v in shape.variables if v not in variables]
        if missing:
            raise NoSQLError(
                ERR.ILLEGAL_ARGUMENT, f"no value bound for external variable(s) {missing}"
            )
        wrong = shape.type_errors(variables)
        if wrong:
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "; ".join(wrong))
        if shape.kind == "rows":
            _check_key(variables.get("$k"))
        absolute = (payload.get("co") or {}).get("y", ABSOLUTE) == ABSOLUTE or shape.writes
        max_kb = payload.get("mr") or BATCH_KB
        if not isinstance(max_kb, int) or not 0 < max_kb <= BATCH_KB:
            raise NoSQLError(
                ERR.BAD_PROTOCOL_MESSAGE, f"Invalid maxReadKB, it can not exceed {BATCH_KB}"
            )
        resume = payload.get("ck")
        call = shapes.Call(
            self.tables,
            table,
            variables,
            resume=None if resume is None else self._resume(resume),
            max_read_kb=max_kb,
            limit=int(payload.get("nl") or 0),
        )
        out = shape.run(call)
        consumed = _consumed(out.read_kb, out.write_kb, absolute)
        consumed["ru"] += prepare_cost
        consumed["rk"] += prepare_cost
        fields: dict[str, Any] = {"c": consumed, "qr": out.rows, "re": False, **extra}
        if out.resume is not None:
            fields["ck"] = self._continuation(out.resume)
        return fields


# --- HTTP -------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_version = "pagedlist-oci-local"
    protocol_version = "HTTP/1.1"
    endpoint: OCINoSQLEndpoint
    latency: float = 0.0

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.split("?", 1)[0] != DATA_PATH:
            self._send(404, b"unknown path; the data path is " + DATA_PATH.encode(), "text/plain")
            return
        reply = self.endpoint.handle(body)
        if self.latency:
            # Simulated network distance, outside the lock: requests overlap as they would.
            time.sleep(self.latency)
        self._send(200, reply, "application/octet-stream")

    def do_GET(self) -> None:
        self._send(200, b"pagedlist OCI NoSQL local endpoint\n", "text/plain")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-nosql-version", PROXY_INFO)
        self.send_header("x-nosql-serial-version", "4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would swamp the log; errors travel in responses


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 overflows when a few clients each open 16
    # connections at once (get_many), and the kernel then resets some of them.
    request_queue_size = 256


def make_server(
    port: int, db: str = ":memory:", host: str = "127.0.0.1", latency_ms: float = 0.0
) -> ThreadingHTTPServer:
    """A threaded HTTP server on ``host:port`` backed by SQLite file ``db``; every answer
    is delayed by ``latency_ms`` (to measure round-trip-bound code paths)."""
    attrs = {"endpoint": OCINoSQLEndpoint(Tables(db)), "latency": latency_ms / 1000}
    handler = type("Handler", (_Handler,), attrs)
    server = _Server((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    """``python -m pagedlist.emulators.oci_server --port P [--db PATH]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--db", default=":memory:", help="SQLite file (default: in memory)")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay every answer (simulated RTT)"
    )
    args = parser.parse_args(argv)
    server = make_server(args.port, args.db, args.host, args.latency_ms)
    print(f"OCI NoSQL local endpoint on http://{args.host}:{args.port}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
