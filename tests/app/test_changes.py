"""Edits and deletes of posts and comments (``Feed.edit``, ``Feed.delete``), on a memory
store: only the author, "[deleted]" keeping replies, the author's copy of a post, live
counts, the home timeline, the layout-1 refusal, and nothing of a deleted text left."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from pagedlist import AsyncPagedList, PagedList
from pagedlist.adapters.memory import AsyncMemoryStore, MemoryStore
from pagedlist.app.feed import (
    FEED_ID,
    Conflict,
    Feed,
    InvalidInput,
    NotAllowed,
    NotEditable,
    NotFound,
    author_list_id,
    thread_id,
)

T = TypeVar("T")


def _do(awaitable: Awaitable[T]) -> T:
    async def run() -> T:
        return await awaitable

    return asyncio.run(run())


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def feed(store) -> Feed:
    f = _do(Feed.open(AsyncMemoryStore(store)))
    for name in ("ana", "bob"):
        _do(f.create_user(name, "!"))
    return f


def _texts(page) -> list[str]:
    return [e.text for e in page.items]


def test_an_edit_changes_the_text_everywhere_and_says_when(feed, store) -> None:
    post = _do(feed.add_post("ana", "first words"))
    comment = _do(feed.add_reply(post.id, "bob", "a comment"))
    assert _do(feed.entry(post.id)).edited is None

    edited = _do(feed.edit(post.id, "ana", "  better words \r\n"))
    assert edited.text == "better words" and edited.edited is not None
    assert edited.position == post.position and edited.id == post.id
    # The feed, the author's list, the home timeline and the item by id all say so.
    assert _texts(_do(feed.posts(None, 5))) == ["better words"]
    assert _texts(_do(feed.author_posts("ana", None, 5))) == ["better words"]
    home = _do(feed.home("ana", 5, None))
    assert [i.value["text"] for i in home.items] == ["better words"]
    assert home.items[0].edited is not None
    found = _do(feed.entry(post.id))
    assert (found.text, found.edited) == ("better words", edited.edited)
    # Its comments are untouched, and a comment is edited in its thread.
    assert _do(feed.edit(comment.id, "bob", "a better comment")).text == "a better comment"
    assert _texts(_do(feed.replies(post.id, -1, 5))) == ["a better comment"]
    assert _do(feed.entry(comment.id)).edited is not None
    # The first text is nowhere in the store any more.
    assert "first words" not in _everything(store)


def _everything(store: MemoryStore) -> str:
    """Every row and entry row the memory store holds, as one text."""
    snap = store.snapshot()
    docs = [doc for doc, *_ in snap.rows.values()]
    docs += [doc for lst in snap.entries.values() for doc, _ in lst.rows.values()]
    return json.dumps(docs)


def test_only_the_author_edits_or_deletes(feed) -> None:
    post = _do(feed.add_post("ana", "mine"))
    with pytest.raises(NotAllowed):
        _do(feed.edit(post.id, "bob", "hijacked"))
    with pytest.raises(NotAllowed):
        _do(feed.delete(post.id, "bob"))
    assert _texts(_do(feed.posts(None, 5))) == ["mine"]
    with pytest.raises(NotFound):
        _do(feed.edit("0" * 32, "ana", "nothing there"))
    with pytest.raises(InvalidInput, match="Write something first"):
        _do(feed.edit(post.id, "ana", "   "))
    assert _texts(_do(feed.posts(None, 5))) == ["mine"]


def test_a_deleted_post_leaves_the_feed_the_author_list_and_the_counts(feed, store) -> None:
    keep = _do(feed.add_post("ana", "kept"))
    gone = _do(feed.add_post("ana", "secret words to delete"))
    _do(feed.follow("bob", "ana"))
    assert _do(feed.post_count()) == 2 and _do(feed.author_post_count("ana")) == 2

    assert _do(feed.delete(gone.id, "ana")) is False  # no replies: not kept
    assert _texts(_do(feed.posts(None, 5))) == ["kept"]
    assert _texts(_do(feed.author_posts("ana", None, 5))) == ["kept"]
    assert [i.id for i in _do(feed.home("bob", 5, None)).items] == [keep.id]
    assert _do(feed.post_count()) == 1 and _do(feed.author_post_count("ana")) == 1
    assert _do(feed.profile("ana")).posts == 1
    with pytest.raises(NotFound):
        _do(feed.entry(gone.id))
    with pytest.raises(NotFound):
        _do(feed.edit(gone.id, "ana", "back from the dead"))
    with pytest.raises(NotFound):
        _do(feed.add_reply(gone.id, "bob", "too late"))
    assert "secret words to delete" not in _everything(store)
    # A cursor at the deleted position still pages on.
    assert _texts(_do(feed.posts(gone.position, 5))) == ["kept"]


def test_a_deleted_comment_with_replies_stays_as_deleted_and_keeps_them(feed, store) -> None:
    post = _do(feed.add_post("ana", "a post"))
    comment = _do(feed.add_reply(post.id, "bob", "words bob regrets"))
    reply = _do(feed.add_reply(comment.id, "ana", "an answer"))
    deep = _do(feed.add_reply(reply.id, "bob", "deeper"))

    assert _do(feed.delete(comment.id, "bob")) is True  # kept for its reply
    shown = _do(feed.replies(post.id, -1, 5)).items
    assert [(e.id, e.deleted, e.text) for e in shown] == [(comment.id, True, "")]
    assert _do(feed.reply_count(post.id)) == 1
    assert [e.id for e in _do(feed.replies(comment.id, -1, 5)).items] == [reply.id]
    assert _do(feed.entry(deep.id)).text == "deeper"
    assert "words bob regrets" not in _everything(store)
    # Deleted, it can be neither edited nor answered; deleting it again changes nothing.
    with pytest.raises(NotFound):
        _do(feed.edit(comment.id, "bob", "second thoughts"))
    with pytest.raises(InvalidInput, match="was deleted"):
        _do(feed.add_reply(comment.id, "ana", "to a deleted comment"))
    assert _do(feed.delete(comment.id, "bob")) is True
    # Its reply without replies of its own goes for good, and the counts follow.
    assert _do(feed.delete(deep.id, "bob")) is False
    assert _do(feed.replies(reply.id, -1, 5)).items == []
    assert _do(feed.reply_count(reply.id)) == 0


def test_a_deleted_post_with_comments_is_deleted_in_both_lists(feed) -> None:
    post = _do(feed.add_post("ana", "a post with comments"))
    _do(feed.add_reply(post.id, "bob", "a comment"))
    assert _do(feed.delete(post.id, "ana")) is True
    for page in (_do(feed.posts(None, 5)), _do(feed.author_posts("ana", None, 5))):
        assert [(e.id, e.deleted, e.text) for e in page.items] == [(post.id, True, "")]
    assert _do(feed.entry(post.id)).deleted
    assert _texts(_do(feed.replies(post.id, -1, 5))) == ["a comment"]


def test_the_same_id_with_other_text_is_still_a_conflict(feed) -> None:
    post = _do(feed.add_post("ana", "once", "ab" * 16))
    assert _do(feed.add_post("ana", "once", "ab" * 16)).position == post.position
    with pytest.raises(Conflict):
        _do(feed.add_post("ana", "twice", "ab" * 16))
    # An edit does not change what the id was first sent with: a late retry of the
    # first request still finds its post, and adds nothing.
    _do(feed.edit(post.id, "ana", "edited"))
    assert _do(feed.add_post("ana", "once", "ab" * 16)).position == post.position
    assert _do(feed.post_count()) == 1
    meta = _do(AsyncPagedList.open(feed.store, thread_id(post.id))).metadata
    assert "text" not in meta and "once" not in json.dumps(meta)


def test_a_layout_one_feed_refuses_edits_and_deletes_clearly(store) -> None:
    # A store whose feed list was made in layout 1 (page rows): it stays so.
    PagedList.create(store, FEED_ID, max_item_bytes=8192, layout=1)
    feed = _do(Feed.open(AsyncMemoryStore(store)))
    _do(feed.create_user("ana", "!"))
    post = _do(feed.add_post("ana", "fixed forever"))
    assert not feed.editable
    with pytest.raises(NotEditable, match="layout 1"):
        _do(feed.edit(post.id, "ana", "changed"))
    with pytest.raises(NotEditable, match="layout 1"):
        _do(feed.delete(post.id, "ana"))
    assert _texts(_do(feed.posts(None, 5))) == ["fixed forever"]
    assert _do(feed.post_count()) == 1
    assert _do(feed.entry(post.id)).text == "fixed forever"


def test_items_written_before_edits_existed_are_still_found(store) -> None:
    # An item of an earlier version: its reply list's metadata holds its text, and its
    # list is in layout 1, where nothing could change it.
    PagedList.create(store, FEED_ID, max_item_bytes=8192, layout=1)
    item_id = "cd" * 16
    value = {"author": "ana", "text": "old", "parent": None, "post": item_id, "depth": 0}
    PagedList.create(store, thread_id(item_id), max_item_bytes=8192, metadata=value)
    PagedList(store, FEED_ID).append(value)  # no id record: find cannot see it
    feed = _do(Feed.open(AsyncMemoryStore(store)))
    found = _do(feed.entry(item_id))
    assert (found.text, found.author, found.position) == ("old", "ana", -1)


def test_a_delete_cut_short_is_finished_by_repeating_it(feed) -> None:
    post = _do(feed.add_post("ana", "to go"))
    # The server died after counting the delete, before the tombstone: still shown,
    # counted as gone; the author sees it and deletes it again.
    _do(feed._change_set(f"|app.gone|{FEED_ID}", post.id, True, "ids"))
    assert _texts(_do(feed.posts(None, 5))) == ["to go"]
    assert _do(feed.delete(post.id, "ana")) is False
    assert _do(feed.posts(None, 5)).items == [] and _do(feed.post_count()) == 0
    assert _do(feed.author_post_count("ana")) == 0
    assert _do(feed.store.get(f"|app.gone|{author_list_id('ana')}")).doc["ids"] == [post.id]


def test_gone_rows_fold_old_ids_into_a_number(feed, monkeypatch) -> None:
    from pagedlist.app import feed as feed_module

    monkeypatch.setattr(feed_module, "GONE_KEEP", 3)
    posts = [_do(feed.add_post("ana", f"post {i}")) for i in range(6)]
    for post in posts[:5]:
        _do(feed.delete(post.id, "ana"))
    row = _do(feed.store.get(f"|app.gone|{FEED_ID}")).doc
    assert row == {"ids": [p.id for p in posts[2:5]], "n": 2}
    assert _do(feed.post_count()) == 1
