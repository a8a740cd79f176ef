"""The home timeline's one read: the newest items of many lists, merged, with a cursor.

:func:`home_page` is :meth:`pagedlist.AsyncPagedList.latest_many` (one batch read of every
followed list per page) with the app's own cursor error: callers only read
``Timeline.items`` (newest first by ``Item.ts``, each with ``list_id``) and pass
``Timeline.cursor`` back, unread.

The app's cursor wraps the core's with the sort key ``(ms, list id, position)`` of the
last item shown, and a page shows only items older than it. The core's cursor lets a
list that showed nothing yet read its newest items on the next page, so an item
appended to it between two pages came back newer than the page before (a core issue,
reported); with the key, each walk from the newest page goes strictly older.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pagedlist import AsyncPagedList, AsyncStore, Item, Timeline
from pagedlist.errors import InvalidArgument, UsageError

__all__ = ["InvalidCursor", "Timeline", "TimelineItem", "home_page"]

#: Items of a timeline are the core's items, which carry their ``list_id``.
TimelineItem = Item
#: Core pages one app page may read when items newer than its cursor are left out.
MAX_READS = 4

_Key = tuple[int, str, int]


class InvalidCursor(UsageError, ValueError):
    """A timeline cursor that no :func:`home_page` call made (edited or truncated)."""


def _invalid() -> InvalidCursor:
    return InvalidCursor(
        "the timeline cursor is not one this server made; start again from the newest page"
    )


def _key(item: Item) -> _Key:
    return (round(item.ts * 1000), item.list_id or "", item.position)


def _encode(core: str, key: _Key | None) -> str:
    text = json.dumps({"c": core, "k": None if key is None else list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, _Key | None]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc: Any = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid() from None
    if not isinstance(doc, dict) or not isinstance(doc.get("c"), str):
        raise _invalid()
    key = doc.get("k")
    if key is None:  # nothing shown yet
        return doc["c"], None
    if not (
        isinstance(key, list)
        and len(key) == 3
        and all(isinstance(k, int) and not isinstance(k, bool) for k in (key[0], key[2]))
        and isinstance(key[1], str)
    ):
        raise _invalid()
    return doc["c"], (key[0], key[1], key[2])


async def home_page(
    store: AsyncStore,
    list_ids: list[str],
    n: int = 20,
    cursor: str | None = None,
    *,
    deadline: float | None = None,
) -> Timeline:
    """The newest ``n`` items across ``list_ids`` (newest first), or the ``n`` before
    ``cursor``; a list that does not exist yet reads as empty, and a list followed since
    the cursor was made joins in with its items older than the page already shown.

    ``deadline`` bounds each read (the page's read deadline).
    """
    core: str | None = None
    below: _Key | None = None
    if cursor is not None:
        core, below = _decode(cursor)
    items: list[Item] = []
    for _ in range(MAX_READS):
        try:
            page = await AsyncPagedList.latest_many(
                store, list_ids, n - len(items), cursor=core, deadline=deadline
            )
        except InvalidArgument as err:
            if core is None:
                raise
            raise _invalid() from err
        items += [i for i in page.items if below is None or _key(i) < below]
        core = page.cursor
        if core is None or len(items) >= n:
            break
    if core is None:
        return Timeline(items, None)
    if items:
        below = _key(items[-1])
    return Timeline(items, _encode(core, below))
