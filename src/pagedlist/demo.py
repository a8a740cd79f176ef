"""The demo feed behind ``pagedlist demo``: posts, comments on posts, replies to comments.

One list per thread, as the talk's social network needs: ``demo.feed`` holds posts, each
post ``P`` has a comment list ``demo.c.P`` and each comment ``C`` a reply list
``demo.c.C``. Every item is appended with a fixed id, so building twice writes nothing new.
"""

from __future__ import annotations

from collections.abc import Callable

from pagedlist.core.pagedlist import PagedList
from pagedlist.core.store import Store
from pagedlist.errors import ListNotFound

__all__ = ["FEED", "build_demo", "print_tree", "thread_id"]

FEED = "demo.feed"

# (id, author, text, replies) — replies nest to any depth.
_Thread = tuple[str, str, str, list]
_POSTS: list[_Thread] = [
    (
        "p1",
        "julien",
        "We proved the market. Time to build our own data plane?",
        [
            (
                "c1",
                "ana",
                "What scale do we expect?",
                [
                    (
                        "c2",
                        "julien",
                        "100 concurrent users per list in 25 ms.",
                        [
                            (
                                "c3",
                                "ana",
                                "Then one page per write is out: batch items into pages.",
                                [],
                            ),
                        ],
                    ),
                ],
            ),
            ("c4", "bo", "Define the limits first: max message size?", []),
        ],
    ),
    (
        "p2",
        "ana",
        "A linked list on a key-value store: summary row + pages.",
        [
            ("c5", "bo", "Bounded appends mean no page ever overfills.", []),
        ],
    ),
    ("p3", "bo", "Swapping DynamoDB for Cosmos DB is a URL change.", []),
]


def thread_id(item_id: str) -> str:
    """The list holding the replies to post or comment ``item_id``."""
    return f"demo.c.{item_id}"


def _add(store: Store, list_id: str, threads: list[_Thread]) -> None:
    plist = PagedList.create(store, list_id)
    for item_id, author, text, replies in threads:
        plist.append({"id": item_id, "author": author, "text": text}, id=item_id)
        _add(store, thread_id(item_id), replies)


def build_demo(store: Store) -> bool:
    """Create the demo feed unless it is complete already; return whether anything was built."""
    try:
        if PagedList.open(store, FEED).count() >= len(_POSTS):
            return False
    except ListNotFound:
        pass
    _add(store, FEED, _POSTS)
    return True


def print_tree(store: Store, echo: Callable[[str], None] = print, limit: int = 20) -> None:
    """Print the feed newest first, each post followed by its thread, indented."""

    def show(list_id: str, depth: int) -> None:
        try:
            items = PagedList.open(store, list_id).latest(limit)
        except ListNotFound:
            return
        for item in items:
            value = item.value
            echo(f"{'    ' * depth}- {value['author']}: {value['text']}  [#{item.position}]")
            show(thread_id(value["id"]), depth + 1)

    show(FEED, 0)
