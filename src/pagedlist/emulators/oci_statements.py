"""The statements the local OCI NoSQL endpoint understands, and what each one does.

The endpoint has no SQL compiler: it recognizes the exact statements pagedlist sends
(whitespace aside, with the table name as the only free part) and runs a Python rendering
of their Oracle NoSQL semantics. Every other statement is refused. Three families:

* pagedlist's rows table (:mod:`pagedlist.adapters.oci`, layout 1 and the row protocol):
  its ``CREATE TABLE`` and three ``UPDATE ... RETURNING`` statements on one row;
* the entry rows table of layout 2 (same adapter): its ``CREATE TABLE`` and two
  single-shard range ``SELECT`` s, oldest first and newest first;
* the bench's native feed table (:mod:`pagedlist.bench.native.oci`): its ``CREATE TABLE``
  (an identity column in the primary key) and three single-shard ``SELECT`` s.

The texts are repeated here on purpose, instead of imported from their senders: if a
sender's statement changes, the endpoint refuses it until someone writes down what the new
statement means.

Costs follow the engine's own throughput rules (the tables in the Javadoc of
``oracle.kv.impl.api.ops.*Handler`` and the query scanner's charges in
``TableScannerFactory``, github.com/oracle/nosql): a row read by a query costs its size
in KB rounded up (at least 1, its key), a query that finds nothing costs 1 KB, and an
``UPDATE`` is a read of the row plus a put that writes the new and the old record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pagedlist.emulators.oci_storage import (
    ERR,
    KEYED,
    NoSQLError,
    Tables,
    check_row,
    kb,
    row_bytes,
)

__all__ = [
    "DDL",
    "SHAPES",
    "Call",
    "Outcome",
    "Shape",
    "match",
    "match_table_ddl",
    "normalize",
]

_TABLE = r"([A-Za-z][A-Za-z0-9_]{0,255})"

TABLE_DDL = "CREATE TABLE IF NOT EXISTS {table} (k STRING, doc JSON, sz LONG, PRIMARY KEY(k))"

ENTRIES_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} (l STRING, p LONG, e STRING, PRIMARY KEY(SHARD(l), p))"
)

NATIVE_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} (feed STRING, seq LONG GENERATED ALWAYS AS IDENTITY, "
    "id STRING, ts LONG, v STRING, PRIMARY KEY(SHARD(feed), seq))"
)

#: Table kind -> its DDL template. ``rows`` is pagedlist's rows table, the others keyed.
DDL = {"rows": TABLE_DDL, "entries": ENTRIES_DDL, "native": NATIVE_DDL}

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

NATIVE_LATEST = """
DECLARE $f STRING; $n LONG;
SELECT t.seq, t.id, t.ts, t.v FROM {table} t
WHERE t.feed = $f
ORDER BY t.seq DESC LIMIT $n
"""

NATIVE_BEFORE = """
DECLARE $f STRING; $c LONG; $n LONG;
SELECT t.seq, t.id, t.ts, t.v FROM {table} t
WHERE t.feed = $f AND t.seq < $c
ORDER BY t.seq DESC LIMIT $n
"""

NATIVE_IDS = """
DECLARE $f STRING;
SELECT t.id FROM {table} t
WHERE t.feed = $f
ORDER BY t.seq
"""


def normalize(statement: str) -> str:
    """Whitespace collapsed to single spaces, ends trimmed."""
    return " ".join(statement.split())


def _pattern(template: str) -> re.Pattern[str]:
    text = re.escape(normalize(template)).replace(re.escape("{table}"), _TABLE)
    return re.compile(text + r"\Z")


def match_table_ddl(statement: str) -> tuple[str, str] | None:
    """``(table, kind)`` if ``statement`` is one of the ``CREATE TABLE`` s of :data:`DDL`,
    else ``None``."""
    text = normalize(statement)
    for kind, template in DDL.items():
        found = _pattern(template).match(text)
        if found is not None:
            return found.group(1), kind
    return None


def table_kind(ddl: str) -> str | None:
    """The kind of a table from the DDL it was created with."""
    found = match_table_ddl(ddl)
    return None if found is None else found[1]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Call:
    """One execution of a statement: the bound variables and the batch limits."""

    tables: Tables
    table: str
    variables: dict[str, Any]
    resume: dict[str, Any] | None = None
    """Where an earlier batch of this query stopped (its continuation key), or ``None``."""
    max_read_kb: int = 2048
    """Most KB one batch reads (the proxy's default and limit: 2 MB)."""
    limit: int = 0
    """Most results one batch returns (0: no limit)."""


@dataclass
class Outcome:
    """What one execution produced: result rows and the KB read and written."""

    rows: list[dict[str, Any]]
    read_kb: int
    write_kb: int = 0
    resume: dict[str, Any] | None = None
    """Where the next batch starts (``None``: the query is done)."""


# --- UPDATEs on the rows table -------------------------------------------------------------


def _append(call: Call) -> Outcome:
    var, key = call.variables, call.variables["$k"]
    found = call.tables.read(call.table, key)
    if found is None:
        return Outcome([], 1)
    doc, sz, _, _ = found
    old = kb(row_bytes(key, doc))
    items = doc.get(var["$f"]) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        # size() of a missing field is empty, and a comparison with empty is false.
        return Outcome([], old)
    adjust = 1 if len(items) == 0 else 0
    present = {item.get("id") for item in items if isinstance(item, dict)}
    if (
        len(items) + var["$n"] > var["$max"]
        or any(i in present for i in var["$ids"])
        or sz + var["$add"] - adjust > var["$lim"]
    ):
        return Outcome([], old)
    doc[var["$f"]] = items + list(var["$e"])
    size = check_row(key, doc)
    call.tables.write(call.table, key, doc, sz + var["$add"] - adjust)
    # A put over an existing record writes the new and the old one (PutHandler).
    return Outcome([{"n": len(doc[var["$f"]])}], old, kb(size) + old)


def _increment(call: Call) -> Outcome:
    var, key = call.variables, call.variables["$k"]
    found = call.tables.read(call.table, key)
    if found is None:
        return Outcome([], 1)
    doc, sz, _, _ = found
    old = kb(row_bytes(key, doc))
    if not isinstance(doc, dict) or var["$f"] not in doc:
        return Outcome([], old)
    current = doc[var["$f"]]
    if "$x" in var and current != var["$x"]:
        return Outcome([], old)
    if not _is_int(current):
        raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"cannot add to non-numeric value {current!r}")
    doc[var["$f"]] = current + var["$by"]
    size = check_row(key, doc)
    call.tables.write(call.table, key, doc, sz)
    return Outcome([{"v": doc[var["$f"]]}], old, kb(size) + old)


# --- single-shard range SELECTs on keyed tables ---------------------------------------------


def _range(
    call: Call,
    kind: str,
    *,
    descending: bool,
    lo: int | None,
    below: int | None,
    count: int | None,
    project: Callable[[int, dict[str, Any]], dict[str, Any]],
) -> Outcome:
    """Rows of one shard key with ``lo <= position < below`` in position order, at most
    ``count`` in all (``None``: no LIMIT), in batches bounded by ``call``'s limits.

    Each row read costs its size in KB rounded up, at least 1 (the scanner charges the key
    and then the rest of the record); a batch that reads nothing costs 1 KB. A scan that
    has returned LIMIT rows stops without touching the next one; a batch ends before the
    row that would take it past ``max_read_kb``, and its continuation names the last row.
    """
    schema = KEYED[kind]
    shard = call.variables[_SHARD_VARIABLE[kind]]
    if count is not None and count < 0:
        raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"LIMIT must not be negative: {count}")
    left = count
    hi = None if below is None else below - 1
    if call.resume is not None:
        left = call.resume["left"]
        at = call.resume["at"]
        if descending:
            hi = at - 1
        else:
            lo = at + 1
    rows: list[dict[str, Any]] = []
    read = 0
    resume = None
    if left != 0 and (lo is None or hi is None or lo <= hi):
        scan = call.tables.range_keyed(call.table, shard, lo, hi, descending=descending)
        for pos, cols, sz in scan:
            # As TableScannerFactory.checkSizeLimit: suspend before a row that would take
            # the batch past its read limit (a batch always makes progress).
            full = rows and read + kb(sz) > call.max_read_kb
            if full or (call.limit and len(rows) >= call.limit):
                resume = {"at": rows[-1][schema.position], "left": left}
                break
            rows.append({schema.position: pos, **project(pos, cols)})
            read += kb(sz)
            if left is not None:
                left -= 1
                if left == 0:
                    break
    return Outcome(rows, max(read, 1), 0, resume)


_SHARD_VARIABLE = {"entries": "$l", "native": "$f"}


def _entries(pos: int, cols: dict[str, Any]) -> dict[str, Any]:
    return {"e": cols["e"]}


def _scan(descending: bool) -> Callable[[Call], Outcome]:
    def run(call: Call) -> Outcome:
        var = call.variables
        return _range(
            call,
            "entries",
            descending=descending,
            lo=var["$lo"],
            below=var["$hi"],
            count=var["$n"],
            project=_entries,
        )

    return run


def _native_row(pos: int, cols: dict[str, Any]) -> dict[str, Any]:
    return {"id": cols["id"], "ts": cols["ts"], "v": cols["v"]}


def _native_latest(call: Call) -> Outcome:
    var = call.variables
    return _range(
        call, "native", descending=True, lo=None, below=None, count=var["$n"],
        project=_native_row,
    )  # fmt: skip


def _native_before(call: Call) -> Outcome:
    var = call.variables
    return _range(
        call, "native", descending=True, lo=None, below=var["$c"], count=var["$n"],
        project=_native_row,
    )  # fmt: skip


def _native_ids(call: Call) -> Outcome:
    out = _range(
        call, "native", descending=False, lo=None, below=None, count=None,
        project=lambda pos, cols: {"id": cols["id"]},
    )  # fmt: skip
    # SELECT t.id: the position was only needed to resume; it is not a result column.
    out.rows = [{"id": r["id"]} for r in out.rows]
    return out


_DECLARED = re.compile(r"(\$\w+) (STRING|INTEGER|LONG|ARRAY\(JSON\)|ARRAY\(STRING\));")


def _conforms(value: Any, declared: str) -> bool:
    if declared == "STRING":
        return isinstance(value, str)
    if declared == "INTEGER":
        return _is_int(value) and -(2**31) <= value < 2**31
    if declared == "LONG":
        return _is_int(value) and -(2**63) <= value < 2**63
    if declared == "ARRAY(STRING)":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, list)  # ARRAY(JSON)


@dataclass(frozen=True)
class Shape:
    """One statement the endpoint runs: its text, variables, table kind and semantics."""

    name: str
    template: str
    variables: tuple[str, ...]
    writes: bool
    kind: str
    """The kind of table (:data:`DDL`) the statement reads or writes."""
    run: Callable[[Call], Outcome]

    @property
    def pattern(self) -> re.Pattern[str]:
        return _pattern(self.template)

    def type_errors(self, variables: dict[str, Any]) -> list[str]:
        """Bound values that do not conform to the ``DECLARE``d types, as messages."""
        return [
            f"value for external variable {name} is not of the declared type {declared}"
            for name, declared in _DECLARED.findall(normalize(self.template))
            if name in variables and not _conforms(variables[name], declared)
        ]


SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape(
            "append",
            APPEND,
            ("$k", "$f", "$e", "$ids", "$n", "$max", "$add", "$lim"),
            True,
            "rows",
            _append,
        ),
        Shape("increment", INCREMENT, ("$k", "$f", "$by"), True, "rows", _increment),
        Shape(
            "compare_and_increment",
            COMPARE_AND_INCREMENT,
            ("$k", "$f", "$by", "$x"),
            True,
            "rows",
            _increment,
        ),
        Shape(
            "scan_oldest_first",
            SCAN_OLDEST_FIRST,
            ("$l", "$lo", "$hi", "$n"),
            False,
            "entries",
            _scan(False),
        ),
        Shape(
            "scan_newest_first",
            SCAN_NEWEST_FIRST,
            ("$l", "$lo", "$hi", "$n"),
            False,
            "entries",
            _scan(True),
        ),
        Shape("native_latest", NATIVE_LATEST, ("$f", "$n"), False, "native", _native_latest),
        Shape("native_before", NATIVE_BEFORE, ("$f", "$c", "$n"), False, "native", _native_before),
        Shape("native_ids", NATIVE_IDS, ("$f",), False, "native", _native_ids),
    )
}


def match(statement: str) -> tuple[Shape, str] | None:
    """``(shape, table)`` if ``statement`` is one the endpoint runs, else ``None``."""
    text = normalize(statement)
    for shape in SHAPES.values():
        found = shape.pattern.match(text)
        if found is not None:
            return shape, found.group(1)
    return None
