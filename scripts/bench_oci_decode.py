"""How fast borneo decodes a ``latest(50)`` answer for each way of storing an entry row.

    .venv/bin/python scripts/bench_oci_decode.py

Encodes 50 result rows with the local endpoint's NSON encoder, in each candidate shape of
the entry table (a JSON column, a STRING of JSON text, typed columns) and in the native
design's, then times borneo's own decoding of them (``Proto.nson_to_value``, what a query
answer goes through) and the adapter's conversion of the rows to entries. This chose the
``e STRING`` column (docs/backends/oci-nosql.md).
"""

from __future__ import annotations

import json
import time
import uuid

from borneo.common import ByteInputStream
from borneo.nson import Proto

from pagedlist.adapters.oci import _plain
from pagedlist.emulators.oci_server import encode_response

RUNS = 300


def _entry(value: str) -> dict:
    return {"id": uuid.uuid4().hex, "ts": 1_700_000_000_000, "v": value}


def main() -> None:
    """Print one line per shape."""
    value = json.dumps("x" * 198)
    shapes = {
        "JSON column e": [{"p": i, "e": _entry(value)} for i in range(50)],
        "STRING column e": [
            {"p": i, "e": json.dumps(_entry(value), separators=(",", ":"))} for i in range(50)
        ],
        "typed columns": [
            {"p": i, **_entry(value), "d": None, "ed": None, "x": None} for i in range(50)
        ],
        "native seq,id,ts,v": [{"seq": i, **_entry(value)} for i in range(50)],
    }
    for name, rows in shapes.items():
        body = encode_response(rows)  # type: ignore[arg-type]
        start = time.process_time()
        for _ in range(RUNS):
            Proto.nson_to_value(ByteInputStream(bytearray(body)))
        decode = (time.process_time() - start) / RUNS * 1e6
        start = time.process_time()
        for _ in range(RUNS):
            if name.startswith("STRING"):
                [json.loads(r["e"]) for r in rows]
            else:
                [_plain(r) for r in rows]
        convert = (time.process_time() - start) / RUNS * 1e6
        print(f"{name:20} {len(body):6} bytes  decode {decode:6.0f} us  convert {convert:5.0f} us")


if __name__ == "__main__":
    main()
