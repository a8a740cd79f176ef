"""The home timeline's one read: the newest items of many lists, merged, with a cursor.

:func:`home_page` has the signature and result of the core's coming
``PagedList.latest_many(store, list_ids, n=20, *, cursor=None) -> Timeline``; until that
lands it merges per-list ``latest``/``before`` reads itself (one or two store calls per
list, where the core will make one batch read per page). Swap its body for the core call
and nothing else in the app changes: callers only read ``Timeline.items`` (newest first
by ``Item.ts``, each with ``list_id``) and pass ``Timeline.cursor`` back, unread.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import json
from dataclasses import dataclass
from typing import Any

from pagedlist import Item, ListNotFound, PagedList, Store
from pagedlist.errors import UsageError

__all__ = ["InvalidCursor", "Timeline", "TimelineItem", "home_page"]

_MAX_INT = 2**53 - 1


class InvalidCursor(UsageError, ValueError):
    """A timeline cursor that no :func:`home_page` call made (edited or truncated)."""


@dataclass(frozen=True, slots=True)
class TimelineItem(Item):
    """An :class:`~pagedlist.Item` with the list it came from (the core's ``Item`` gains
    this ``list_id`` field with ``latest_many``)."""

    list_id: str | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    """A page of merged lists: ``items`` newest first, ``cursor`` for the next older page
    (opaque; ``None`` when nothing older is left)."""

    items: list[Item]
    cursor: str | None


def _key(item: TimelineItem) -> tuple[int, str, int]:
    # A total order, newest first after reverse sorting: equal times fall back to the
    # list id, then the position, so every page boundary is unambiguous.
    return (round(item.ts * 1000), item.list_id or "", item.position)


def _encode(last: tuple[int, str, int], bounds: dict[str, int]) -> str:
    raw = json.dumps({"k": list(last), "p": bounds}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[tuple[int, str, int], dict[str, int]]:
    bad = InvalidCursor(
        "the timeline cursor is not one this server made; start again from the newest page"
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc: Any = json.loads(raw)
        ts, list_id, pos = doc["k"]
        bounds = doc["p"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise bad from None
    ints = (ts, pos, *bounds.values()) if isinstance(bounds, dict) else ()
    if (
        not isinstance(list_id, str)
        or not isinstance(bounds, dict)
        or not all(type(v) is int and 0 <= v <= _MAX_INT for v in ints)
        or not all(isinstance(k, str) for k in bounds)
    ):
        raise bad
    return (ts, list_id, pos), bounds


def home_page(
    store: Store,
    list_ids: list[str],
    n: int = 20,
    cursor: str | None = None,
    *,
    deadline: float | None = None,
) -> Timeline:
    """The newest ``n`` items across ``list_ids`` (newest first), or the ``n`` before
    ``cursor``; a list that does not exist yet reads as empty.

    ``deadline`` bounds each list read (the page's read deadline).
    """
    last, bounds = (None, {}) if cursor is None else _decode(cursor)
    per_list: list[list[TimelineItem]] = []
    next_bounds: dict[str, int] = {}
    for list_id in dict.fromkeys(list_ids):  # each list once, in the given order
        plist = PagedList(store, list_id, deadline=deadline)
        bound = bounds.get(list_id)
        # No bound: the first page, or a list followed since the cursor was made; then
        # its newest items count, minus those at or above the cursor (shown already).
        try:
            read = plist.latest(n) if bound is None else plist.before(bound, n) if bound else []
        except ListNotFound:
            read = []
        items = [TimelineItem(i.position, i.id, i.ts, i.value, list_id) for i in read]
        if last is None or bound is not None:
            eligible = items  # everything below a list's bound is unshown
        else:
            eligible = [i for i in items if _key(i) < last]
        if eligible:
            # Until something is taken, the next page reads from above the newest one.
            next_bounds[list_id] = eligible[0].position + 1
        elif items:
            next_bounds[list_id] = items[-1].position  # all shown already: read below
        else:
            next_bounds[list_id] = 0  # nothing (more) in this list
        per_list.append(eligible)
    # Each list stays in position order (append times of racing writers may be out of
    # order): the merge takes a prefix of every list, so a list's bound never skips one.
    page = list(itertools.islice(heapq.merge(*per_list, key=_key, reverse=True), n))
    for item in page:
        assert item.list_id is not None
        next_bounds[item.list_id] = min(next_bounds[item.list_id], item.position)
    more = bool(page) and any(b > 0 for b in next_bounds.values())
    items: list[Item] = list(page)
    return Timeline(items, _encode(_key(page[-1]), next_bounds) if more else None)
