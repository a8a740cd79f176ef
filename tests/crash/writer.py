"""A crash-test writer process: appends to a list until killed, reporting each call.

Usage: ``python writer.py URL LIST_ID PREFIX [DEADLINE]``. Every call prints one JSON line
*before* it starts (``begin``) and one after it returns (``ack`` with the position, or
``fail`` with the error), flushed at once, with ``time.monotonic()`` times (system-wide on
Linux, so the parent can merge them with its own). A ``begin`` with no answer is a call cut
short by the kill: unacknowledged.
"""

from __future__ import annotations

import json
import sys
import time

from pagedlist import PagedList
from pagedlist.adapters import open_store


def main() -> None:
    url, list_id, prefix = sys.argv[1:4]
    deadline = float(sys.argv[4]) if len(sys.argv) > 4 else None
    plist = PagedList.open(open_store(url), list_id, deadline=deadline)
    k = 0
    while True:
        item_id = f"{prefix}-{k}"
        print(json.dumps({"begin": item_id, "t": time.monotonic()}), flush=True)
        try:
            pos = plist.append({"w": prefix, "k": k}, id=item_id)
        except Exception as err:  # recorded as unacknowledged; keep writing
            print(
                json.dumps({"fail": item_id, "err": repr(err)[:200], "t": time.monotonic()}),
                flush=True,
            )
        else:
            print(json.dumps({"ack": item_id, "pos": pos, "t": time.monotonic()}), flush=True)
        k += 1


if __name__ == "__main__":
    main()
