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
    NoSQLError,
    Tables,
    check_row,
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


def _kb(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _consumed(read_kb: int = 0, write_kb: int = 0, absolute: bool = True) -> dict[str, int]:
    # The cloud bills 1 read unit per KB read (2 with absolute consistency) and 1 write
    # unit per KB written; borneo reads "wk" as both write KB and write units.
    return {"ru": read_kb * (2 if absolute else 1), "rk": read_kb, "wk": write_kb}


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
        header = request.get("h") or {}
        payload = request.get("p") or {}
        op = header.get("o")
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

    def table_request(self, header: dict, payload: dict) -> dict:
        statement = payload.get("st")
        if not isinstance(statement, str):
            raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "table request needs a statement")
        table = shapes.match_table_ddl(statement)
        if table is None:
            raise NoSQLError(
                ERR.ILLEGAL_ARGUMENT,
                "DDL not supported by the pagedlist local endpoint (it creates only "
                f"pagedlist's table layout): {statement[:200]}",
            )
        self.tables.create(table, shapes.normalize(statement))
        return self._table_result(table)

    def get_table(self, header: dict, payload: dict) -> dict:
        return self._table_result(str(header.get("n")))

    # --- rows -----------------------------------------------------------------------------

    def get(self, header: dict, payload: dict) -> dict:
        table = str(header.get("n"))
        self.tables.require(table)
        key = _check_key((payload.get("k") or {}).get("k"))
        absolute = (payload.get("co") or {}).get("y", ABSOLUTE) == ABSOLUTE
        found = self.tables.read(table, key)
        if found is None:
            return {"c": _consumed(1, 0, absolute)}
        doc, sz, version, modified = found
        return {
            "c": _consumed(_kb(row_bytes(key, doc)), 0, absolute),
            "r": {
                "md": Long(modified),
                "xp": Long(0),
                "rv": version,
                "l": {"k": key, "doc": doc, "sz": sz},
            },
        }

    def put(self, header: dict, payload: dict) -> dict:
        table = str(header.get("n"))
        self.tables.require(table)
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
        # A conditional put reads the row it tests (billed like a read of it, the minimum
        # when it is missing); a put that creates a row reads nothing.
        existing_kb = _kb(row_bytes(key, current[0])) if current is not None else 0
        read_kb = 0
        op = header.get("o")
        if op == OP.PUT_IF_ABSENT:
            if current is not None:
                return {"c": _consumed(existing_kb, 0), **self._return_info(key, payload, current)}
        elif op == OP.PUT_IF_VERSION:
            wanted = payload.get("rv")
            if wanted is None:
                raise NoSQLError(ERR.ILLEGAL_ARGUMENT, "PutIfVersion needs a match version")
            if current is None or bytes(current[2]) != bytes(wanted):
                info = self._return_info(key, payload, current) if current is not None else {}
                return {"c": _consumed(max(1, existing_kb), 0), **info}
            read_kb = existing_kb
        version, _ = self.tables.write(table, key, doc, int(sz))
        return {"c": _consumed(read_kb, _kb(size)), "rv": version}

    @staticmethod
    def _return_info(key: str, payload: dict, current: tuple) -> dict:
        """The existing row, sent back when a conditional put fails and asked for it."""
        if not payload.get("rr"):
            return {}
        doc, sz, version, modified = current
        return {"ri": {"el": {"k": key, "doc": doc, "sz": sz}, "ev": version, "em": Long(modified)}}

    def delete(self, header: dict, payload: dict) -> dict:
        table = str(header.get("n"))
        self.tables.require(table)
        key = _check_key((payload.get("k") or {}).get("k"))
        found = self.tables.delete(table, key)
        return {"c": _consumed(1, 1 if found else 0), "ss": found}

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
        self.tables.require(table)
        return shape, table

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

    def _prepare_fields(self, shape: shapes.Shape, table: str) -> dict:
        return {
            "pq": self._prepared(shape, table),
            "n": table,
            "qo": QUERY_UPDATE if shape.writes else QUERY_SELECT,
        }

    def prepare(self, header: dict, payload: dict) -> dict:
        shape, table = self._compile(payload.get("st"))
        # Not billed here: the service's charge for compiling a statement is not published.
        return {"c": _consumed(0, 0), **self._prepare_fields(shape, table)}

    def query(self, header: dict, payload: dict) -> dict:
        extra: dict[str, Any] = {}
        if payload.get("is"):
            name, table = self._unprepare(payload.get("pq"))
            shape = shapes.SHAPES[name]
            self.tables.require(table)
        else:
            shape, table = self._compile(payload.get("st"))
            extra = self._prepare_fields(shape, table)
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
        key = _check_key(variables.get("$k"))
        results, read_kb, write_kb = shape.run(self.tables, table, key, variables)
        return {"c": _consumed(read_kb, write_kb), "qr": results, "re": False, **extra}


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
