"""The statement shapes the local OCI NoSQL endpoint understands, and what each one does.

The endpoint has no SQL compiler: it recognizes the exact statements
:mod:`pagedlist.adapters.oci` sends (whitespace aside, with the table name as the only
free part) and runs a Python rendering of their Oracle NoSQL semantics on one row.
Every other statement is refused. The texts are repeated here on purpose, instead of
imported from the adapter: if the adapter's statements change, the endpoint refuses
them until someone writes down what the new statement means.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pagedlist.emulators.oci_storage import ERR, NoSQLError, Tables, check_row

__all__ = ["SHAPES", "Shape", "match", "match_table_ddl", "normalize"]

_TABLE = r"([A-Za-z][A-Za-z0-9_]{0,255})"

TABLE_DDL = "CREATE TABLE IF NOT EXISTS {table} (k STRING, doc JSON, sz LONG, PRIMARY KEY(k))"

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


def normalize(statement: str) -> str:
    """Whitespace collapsed to single spaces, ends trimmed."""
    return " ".join(statement.split())


def _pattern(template: str) -> re.Pattern[str]:
    text = re.escape(normalize(template)).replace(re.escape("{table}"), _TABLE)
    return re.compile(text + r"\Z")


def match_table_ddl(statement: str) -> str | None:
    """The table name if ``statement`` is pagedlist's ``CREATE TABLE``, else ``None``."""
    found = _pattern(TABLE_DDL).match(normalize(statement))
    return None if found is None else found.group(1)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kb(size: int) -> int:
    return max(1, -(-size // 1024))


Result = tuple[list[dict[str, Any]], int, int]
"""``(result rows, read KB, write KB)``"""


def _append(tables: Tables, table: str, key: str, var: dict[str, Any]) -> Result:
    found = tables.read(table, key)
    if found is None:
        return [], 1, 0
    doc, sz, _, _ = found
    items = doc.get(var["$f"]) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        # size() of a missing field is empty, and a comparison with empty is false.
        return [], _kb(sz), 0
    adjust = 1 if len(items) == 0 else 0
    present = {item.get("id") for item in items if isinstance(item, dict)}
    if (
        len(items) + var["$n"] > var["$max"]
        or any(i in present for i in var["$ids"])
        or sz + var["$add"] - adjust > var["$lim"]
    ):
        return [], _kb(sz), 0
    doc[var["$f"]] = items + list(var["$e"])
    size = check_row(key, doc)
    tables.write(table, key, doc, sz + var["$add"] - adjust)
    return [{"n": len(doc[var["$f"]])}], _kb(sz), _kb(size)


def _increment(tables: Tables, table: str, key: str, var: dict[str, Any]) -> Result:
    found = tables.read(table, key)
    if found is None:
        return [], 1, 0
    doc, sz, _, _ = found
    if not isinstance(doc, dict) or var["$f"] not in doc:
        return [], _kb(sz), 0
    current = doc[var["$f"]]
    if "$x" in var and current != var["$x"]:
        return [], _kb(sz), 0
    if not _is_int(current):
        raise NoSQLError(ERR.ILLEGAL_ARGUMENT, f"cannot add to non-numeric value {current!r}")
    doc[var["$f"]] = current + var["$by"]
    size = check_row(key, doc)
    tables.write(table, key, doc, sz)
    return [{"v": doc[var["$f"]]}], _kb(sz), _kb(size)


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
    """One statement the endpoint runs: its text, variables and semantics."""

    name: str
    template: str
    variables: tuple[str, ...]
    writes: bool
    run: Callable[[Tables, str, str, dict[str, Any]], Result]

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
            _append,
        ),
        Shape("increment", INCREMENT, ("$k", "$f", "$by"), True, _increment),
        Shape(
            "compare_and_increment",
            COMPARE_AND_INCREMENT,
            ("$k", "$f", "$by", "$x"),
            True,
            _increment,
        ),
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
