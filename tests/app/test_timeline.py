"""The home timeline read (``home_page``), follows and the per-account write limit, on a
memory store: merging, cursors, idempotence and limits, without HTTP.

Lists are arranged with the sync ``PagedList`` on a ``MemoryStore``; the app reads the
same store through its asyncio wrapper (``AsyncMemoryStore``), as it reads every store."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from pagedlist import PagedList
from pagedlist.adapters.memory import AsyncMemoryStore, MemoryStore
from pagedlist.app import feed as feed_module
from pagedlist.app.feed import Conflict, Feed, InvalidInput, NotFound
from pagedlist.app.ratelimit import RateLimited, RateLimiter
from pagedlist.app.timeline import InvalidCursor, TimelineItem, home_page

T = TypeVar("T")


def _do(awaitable: Awaitable[T]) -> T:
    async def run() -> T:
        return await awaitable

    return asyncio.run(run())


def _page(store, list_ids, n, cursor=None):
    """``home_page`` on the asyncio face of the sync ``store``."""
    return _do(home_page(AsyncMemoryStore(store), list_ids, n, cursor))


def _walk(store, list_ids, n):
    """Every page of the merged lists, following the cursors to the end."""
    pages, cursor = [], None
    for _ in range(1000):
        page = _page(store, list_ids, n, cursor)
        pages.append(page.items)
        cursor = page.cursor
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ended")


def _key(item):
    return (round(item.ts * 1000), item.list_id, item.position)


@pytest.mark.parametrize("n", [1, 3, 7, 50])
def test_every_item_once_newest_first_across_lists(n) -> None:
    store = MemoryStore()
    rng = random.Random(n)
    ids = [f"l{i}" for i in range(5)]
    lists = {i: PagedList.create(store, i, capacity=4) for i in ids}
    written = []
    for k in range(60):  # many in the same millisecond: ties are broken by list and position
        list_id = rng.choice(ids[:4])  # l4 stays empty
        lists[list_id].append({"k": k}, id=f"i{k}")
        written.append(f"i{k}")
    pages = _walk(store, [*ids, "never-created"], n)
    items = [item for page in pages for item in page]
    assert sorted(i.id for i in items) == sorted(written)
    assert len({i.id for i in items}) == len(items)
    assert all(isinstance(i, TimelineItem) and i.list_id in ids for i in items)
    assert all(len(page) == n for page in pages[:-1])
    assert [_key(i) for i in items] == sorted((_key(i) for i in items), reverse=True)
    for list_id in ids:  # each list in position order, newest first
        positions = [i.position for i in items if i.list_id == list_id]
        assert positions == sorted(positions, reverse=True)


def test_no_lists_or_empty_lists_give_an_empty_last_page() -> None:
    store = MemoryStore()
    PagedList.create(store, "empty")
    for list_ids in ([], ["empty"], ["missing"]):
        page = _page(store, list_ids, 5)
        assert page.items == [] and page.cursor is None


def test_a_list_added_between_pages_shows_only_older_items() -> None:
    store = MemoryStore()
    a = PagedList.create(store, "a")
    b = PagedList.create(store, "b")
    for k in range(4):
        a.append(k, id=f"a{k}")
    first = _page(store, ["a"], 2)
    assert [i.id for i in first.items] == ["a3", "a2"]
    b.append("newer than the cursor", id="b0")
    rest = _page(store, ["a", "b"], 10, first.cursor)
    assert [i.id for i in rest.items] == ["a1", "a0"]
    assert rest.cursor is None


def test_an_item_appended_between_pages_never_comes_back_newer() -> None:
    # b shows nothing on the first page (its one item is the oldest); then b gets a new
    # item. Paging older, the walk must never go back to newer items.
    store = MemoryStore()
    a = PagedList.create(store, "a")
    b = PagedList.create(store, "b")
    b.append("old", id="b0", ts=1000.0)
    for k in range(4):
        a.append(k, id=f"a{k}", ts=1001.0 + k)
    first = _page(store, ["a", "b"], 2)
    assert [i.id for i in first.items] == ["a3", "a2"]
    b.append("newer than the first page", id="b1", ts=2000.0)
    rest = []
    cursor = first.cursor
    while cursor is not None:
        page = _page(store, ["a", "b"], 2, cursor)
        rest += page.items
        cursor = page.cursor
    assert [i.id for i in rest] == ["a1", "a0", "b0"]


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "bm90IGpzb24",  # "not json"
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"k": [1, "a", -1], "p": {}}).encode()).decode(),
        base64.urlsafe_b64encode(
            json.dumps({"k": [1, "a", 1], "p": {"a": True}}).encode()
        ).decode(),
        base64.urlsafe_b64encode(
            json.dumps({"k": [1, "a", 1], "p": {"a": 2**60}}).encode()
        ).decode(),
        base64.urlsafe_b64encode(json.dumps({"k": [1, 2, 1], "p": {}}).encode()).decode(),
    ],
)
def test_malformed_cursors_are_refused(cursor) -> None:
    with pytest.raises(InvalidCursor, match="start again from the newest page"):
        _page(MemoryStore(), ["a"], 5, cursor)


# --- follows ----------------------------------------------------------------------------


@pytest.fixture
def feed() -> Feed:
    f = _do(Feed.open(AsyncMemoryStore(MemoryStore())))
    for name in ("ana", "bob", "carol"):
        _do(f.create_user(name, "!"))
    return f


def test_follow_and_unfollow_are_idempotent_and_counted(feed) -> None:
    assert _do(feed.follow("ana", "bob")) is True
    assert _do(feed.follow("ana", "bob")) is False
    _do(feed.follow("carol", "bob"))
    assert _do(feed.followers("bob")) == ["ana", "carol"]
    assert _do(feed.profile("bob", "ana")).to_json() == {
        "username": "bob",
        "posts": 0,
        "followers": 2,
        "following": 0,
        "you_follow": True,
    }
    assert (
        _do(feed.profile("bob")).followed is None
        and _do(feed.profile("bob", "bob")).followed is None
    )
    assert _do(feed.unfollow("ana", "bob")) is True
    assert _do(feed.unfollow("ana", "bob")) is False
    assert _do(feed.followers("bob")) == ["carol"] and _do(feed.following("ana")) == []


def test_follow_refuses_yourself_unknown_users_and_past_the_cap(feed, monkeypatch) -> None:
    with pytest.raises(InvalidInput, match="cannot follow yourself"):
        _do(feed.follow("ana", "ana"))
    with pytest.raises(NotFound):
        _do(feed.follow("ana", "nobody"))
    monkeypatch.setattr(feed_module, "MAX_FOLLOWING", 1)
    _do(feed.follow("ana", "bob"))
    with pytest.raises(Conflict, match="You follow 1 people already"):
        _do(feed.follow("ana", "carol"))
    assert _do(feed.following("ana")) == ["bob"]


def test_a_follow_cut_short_is_completed_by_repeating_it(feed) -> None:
    # The server died after the followers row was written, before the following row.
    _do(feed._change_set("|app.followers|bob", "ana", True))
    assert _do(feed.profile("bob", "ana")).followed is False  # the button still says "Follow"
    assert _do(feed.follow("ana", "bob")) is True
    assert _do(feed.followers("bob")) == ["ana"] and _do(feed.following("ana")) == ["bob"]


def test_posts_go_to_the_author_list_and_the_home_timeline(feed) -> None:
    _do(feed.follow("ana", "bob"))
    mine = _do(feed.add_post("ana", "mine"))
    theirs = _do(feed.add_post("bob", "theirs"))
    _do(feed.add_post("carol", "not followed"))
    assert [e.id for e in _do(feed.author_posts("bob", None, 5)).items] == [theirs.id]
    home = _do(feed.home("ana", 10, None))
    assert {i.id for i in home.items} == {mine.id, theirs.id}
    assert home.cursor is None


# --- the write limit --------------------------------------------------------------------


def test_rate_limit_is_a_fixed_window_per_account() -> None:
    store = MemoryStore()
    limiter = RateLimiter(AsyncMemoryStore(store), limit=3, window=60)
    for _ in range(3):
        _do(limiter.hit("ana", now=120.0))
    with pytest.raises(RateLimited) as err:
        _do(limiter.hit("ana", now=150.5))
    assert err.value.retry_after == 30  # the window ends at 180
    assert "at most 3 posts, replies and follows per 60 seconds" in str(err.value)
    _do(limiter.hit("bob", now=150.5))  # another account has its own count
    _do(limiter.hit("ana", now=180.0))  # a new window
    row = store.get("|app.rate|ana")
    assert row is not None and row.doc == {"w3": 1}  # earlier windows dropped


@pytest.mark.parametrize("lists", [1, 3])
def test_a_timeline_page_is_one_batch_read(lists) -> None:
    # The n-th pick ends the page: the list it came from is not read further, even when
    # its buffered rows ran out exactly there (a one-list timeline of n items did that).
    from pagedlist.core.counting import CountingStore

    store = MemoryStore()
    ids = [f"l{i}" for i in range(lists)]
    for list_id in ids:
        PagedList.create(store, list_id).extend([{"k": k} for k in range(60)])
    counted = CountingStore(store)
    PagedList.latest_many(counted, ids, 50)  # learns the lists' settings: one get_many
    counted.reset()
    page = PagedList.latest_many(counted, ids, 50)
    assert len(page.items) == 50 and page.cursor is not None
    assert dict(counted.calls) == {"scan_many": 1}


def test_a_list_whose_newest_rows_are_all_deleted_still_shows_its_older_items() -> None:
    # Its first read (the newest n rows) found only tombstones: the list is not over, and
    # its older items belong on this page (they were skipped, and so lost, before).
    store = MemoryStore()
    a = PagedList.create(store, "a")
    a.extend([{"k": k} for k in range(30)])
    for position in range(10, 30):
        a.delete(position)
    PagedList.create(store, "b").append("b0")
    items = [i for page in _walk(store, ["a", "b"], 20) for i in page]
    assert sorted(i.position for i in items if i.list_id == "a") == list(range(10))
    assert [i.value for i in items if i.list_id == "b"] == ["b0"]


def test_a_list_added_with_many_newer_items_shows_its_older_ones() -> None:
    # "b" joins on page 2 holding old items below the page's mark and more than a page of
    # newer ones above it: its first read is all newer rows, and it is read on below them.
    store = MemoryStore()
    b = PagedList.create(store, "b")
    b.extend([{"old": k} for k in range(3)])
    time.sleep(0.003)  # older by the clock, not only by the tie-break on list ids
    a = PagedList.create(store, "a")
    a.extend([{"a": k} for k in range(5)])
    first = PagedList.latest_many(store, ["a"], 2)
    b.extend([{"new": k} for k in range(6)])
    rest = _walk_from(store, ["a", "b"], 2, first.cursor)
    shown = [i.value for page in rest for i in page]
    assert [v for v in shown if "old" in v] == [{"old": 2}, {"old": 1}, {"old": 0}]
    assert not [v for v in shown if "new" in v]


def _walk_from(store, list_ids, n, cursor):
    pages = []
    while cursor is not None:
        page = PagedList.latest_many(store, list_ids, n, cursor=cursor)
        pages.append(page.items)
        cursor = page.cursor
    return pages
