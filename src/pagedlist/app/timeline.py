"""The home timeline's one read: the newest items of many lists, merged, with a cursor.

:func:`home_page` is :meth:`pagedlist.AsyncPagedList.latest_many` (one batch read of every
followed list per page) with the app's own cursor error: callers only read
``Timeline.items`` (newest first by ``Item.ts``, each with ``list_id``) and pass
``Timeline.cursor`` back, unread.
"""

from __future__ import annotations

from pagedlist import AsyncPagedList, AsyncStore, Item, Timeline
from pagedlist.errors import InvalidArgument, UsageError

__all__ = ["InvalidCursor", "Timeline", "TimelineItem", "home_page"]

#: Items of a timeline are the core's items, which carry their ``list_id``.
TimelineItem = Item


class InvalidCursor(UsageError, ValueError):
    """A timeline cursor that no :func:`home_page` call made (edited or truncated)."""


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

    ``deadline`` bounds the whole read (the page's read deadline).
    """
    try:
        return await AsyncPagedList.latest_many(
            store, list_ids, n, cursor=cursor, deadline=deadline
        )
    except InvalidArgument as err:
        if cursor is None:
            raise
        raise InvalidCursor(
            "the timeline cursor is not one this server made; start again from the newest page"
        ) from err
