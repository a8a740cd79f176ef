"""The feed's data model on a pagedlist store: posts, comments, replies, users, sessions.

Everything lives in one store, reached only through the asyncio API (``AsyncStore`` and
``AsyncPagedList``), so no call ever blocks the event loop:

* ``app.feed`` — the list of posts, newest appended last.
* ``app.t.{ID}`` — one list per post or comment ``ID`` holding its direct replies. Its
  summary metadata says where the item sits (author, parent, root post, depth), so an item
  is found by id without knowing its position: the metadata names the parent's list, and
  ``find(ID)`` there gives its current value (edited or not). It is created before the item
  is appended to its parent's list, so every item anyone can see has its reply list.
* ``app.u.{name}`` — one list per author: a copy of each of their posts (same id, same
  value, edited and deleted with the feed's), read by profiles and home timelines.
* ``|app.user|{name}``, ``|app.session|{sid}``, ``|app.secret``, ``|app.seeded`` — plain
  rows written with ``put_if_absent``. List keys are ``{list_id}|...`` and a list id is
  never empty, so no list key starts with ``|``: these keys can never collide with a list.
* ``|app.following|{name}``, ``|app.followers|{name}`` — who ``name`` follows and who
  follows them, ``{"names": [...]}`` rows changed by compare-and-swap (``replace``).
* ``|app.gone|{list_id}`` — the ids of the items deleted from a list, so counts shown are
  of live items (``count()`` counts positions, deleted ones included).

Ids are server-made: item ids are 32 lowercase hex digits (:data:`ITEM_ID_RE`), usernames
match :data:`USERNAME_RE`, so no value from a request can name any other row.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pagedlist import (
    AsyncPagedList,
    AsyncStore,
    InvalidListId,
    Item,
    ItemNotFound,
    ItemTooLarge,
    ListExists,
    ListNotFound,
    Unsupported,
)
from pagedlist.app.timeline import Timeline, home_page
from pagedlist.errors import StoreUnavailable

__all__ = [
    "FEED_ID",
    "ITEM_ID_RE",
    "MAX_FOLLOWING",
    "MAX_TEXT_CHARS",
    "USERNAME_RE",
    "Conflict",
    "Entry",
    "Feed",
    "InvalidInput",
    "NotAllowed",
    "NotEditable",
    "NotFound",
    "Page",
    "Profile",
    "author_list_id",
    "entry_from_item",
    "thread_id",
]

FEED_ID = "app.feed"
#: Item ids: what ``secrets.token_hex(16)`` makes, nothing else.
ITEM_ID_RE = re.compile(r"[0-9a-f]{32}")
#: Usernames: lowercase letters, digits and underscore, 3 to 24 characters.
USERNAME_RE = re.compile(r"[a-z0-9_]{3,24}")
MAX_TEXT_CHARS = 1000
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
#: Room for the largest item: 1000 characters of 4-byte UTF-8 or 6-byte JSON escapes.
MAX_ITEM_BYTES = 8192
SESSION_SECONDS = 14 * 24 * 3600
#: How many people one account may follow: a home timeline page reads one list per
#: followed account, so this bounds its cost (and the size of the ``following`` row).
MAX_FOLLOWING = 200
#: Seconds a read that renders a page may take, retries included: a store outage shows
#: the 503 page after this, not after the 10 s default of a write.
READ_DEADLINE = 2.0
#: Deleted ids a ``|app.gone|`` row keeps one by one; older ones fold into a number (a
#: row stays far below every store's row limit: 1000 ids are 35 KB).
GONE_KEEP = 1000
#: The layout whose items can be edited and deleted (one row per item).
EDITABLE_LAYOUT = 2
#: Lists one process creates at once. ``create`` registers each new list in the store's
#: catalogue with an append of its own, not coalesced with concurrent ones: on stores
#: whose appends claim positions (DynamoDB, Cosmos DB, OCI NoSQL) creates made at once
#: contend for the catalogue's tail (100 at once on DynamoDB Local ran past their 10 s
#: deadline; one at a time took 14 ms each), so the app makes them one at a time.
CREATE_CONCURRENCY = 1

_USER_KEY = "|app.user|{}"
_SESSION_KEY = "|app.session|{}"
_FOLLOWING_KEY = "|app.following|{}"
_FOLLOWERS_KEY = "|app.followers|{}"
_GONE_KEY = "|app.gone|{}"
SECRET_KEY = "|app.secret"
#: Session ids: 128 random bits. Every key stays within OCI NoSQL's 64 bytes
#: ("|app.session|" + 32 = 45, "|app.user|" + 24 = 34, "app.t." + 32 + page suffix <= 64,
#: "|app.gone|app.t." + 32 = 48).
_SESSION_RE = re.compile(r"[0-9a-f]{32}")
SEEDED_KEY = "|app.seeded"


class InvalidInput(ValueError):
    """Input the user must fix (empty or oversized text, bad username...); nothing written.

    ``messages`` holds every problem found (a sign-up form can have several at once).
    """

    def __init__(self, *messages: str) -> None:
        super().__init__(" ".join(messages))
        self.messages = messages


class NotFound(LookupError):
    """No item with that id (or it was deleted)."""


class Conflict(Exception):
    """The request reuses an id (an item id or a username) that is already taken."""


class NotAllowed(PermissionError):
    """Someone other than its author tried to edit or delete an item."""


class NotEditable(Exception):
    """The store keeps this list in layout 1 (page rows), which cannot edit or delete."""


def thread_id(item_id: str) -> str:
    """The list holding the direct replies to post or comment ``item_id``."""
    return f"app.t.{item_id}"


def author_list_id(name: str) -> str:
    """The list holding a copy of every post by user ``name``, oldest first."""
    return f"app.u.{name}"


def new_id() -> str:
    """A fresh item id (also used as a form nonce, so a resubmitted form posts once)."""
    return secrets.token_hex(16)


def check_item_id(value: object) -> str:
    """Return ``value`` if it is a well-formed item id, else raise :class:`NotFound`."""
    if not isinstance(value, str) or not ITEM_ID_RE.fullmatch(value):
        raise NotFound("no such item")
    return value


def check_text(text: object) -> str:
    """The text of a post or reply, stripped; raise :class:`InvalidInput` if unusable."""
    if not isinstance(text, str):
        raise InvalidInput("text must be a string")
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise InvalidInput("Write something first: the text is empty.")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(
            f"The text is {len(text)} characters; at most {MAX_TEXT_CHARS} are allowed."
        )
    if "\x00" in text:
        raise InvalidInput("The text contains a NUL character; remove it.")
    return text


def check_username(name: object) -> str:
    """A valid username, or :class:`InvalidInput` saying what is allowed."""
    if not isinstance(name, str) or not USERNAME_RE.fullmatch(name):
        raise InvalidInput("Usernames are 3 to 24 lowercase letters, digits or underscores.")
    return name


def check_password(password: object) -> str:
    """A password of acceptable length, or :class:`InvalidInput`."""
    if not isinstance(password, str) or not (
        MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS
    ):
        raise InvalidInput(
            f"Passwords are {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters."
        )
    return password


@dataclass(frozen=True, slots=True)
class Entry:
    """A post or comment as shown: where it sits in its parent list and what it says.

    ``edited`` is when its text last changed (``None``: never); a ``deleted`` entry is
    one that had replies when its author deleted it: its text is gone, its replies stay.
    """

    id: str
    position: int
    ts: float
    author: str
    text: str
    parent: str | None
    post: str
    depth: int
    edited: float | None = None
    deleted: bool = False

    def value(self) -> dict[str, Any]:
        """The item's value as stored in its lists."""
        return {
            "author": self.author,
            "text": self.text,
            "parent": self.parent,
            "post": self.post,
            "depth": self.depth,
        }

    def to_json(self, replies: int) -> dict[str, Any]:
        """The item as the JSON API returns it (a deleted one without author or text)."""
        return {
            "id": self.id,
            "position": self.position,
            "ts": self.ts,
            "author": None if self.deleted else self.author,
            "text": "" if self.deleted else self.text,
            "parent": self.parent,
            "post": self.post,
            "depth": self.depth,
            "edited": self.edited,
            "deleted": self.deleted,
            "replies": replies,
        }


@dataclass(frozen=True, slots=True)
class Profile:
    """A user's public numbers, and whether the viewer follows them."""

    name: str
    posts: int
    followers: int
    following: int
    followed: bool | None  # None: nobody signed in, or the user's own profile

    def to_json(self) -> dict[str, Any]:
        """The profile as the JSON API returns it."""
        return {
            "username": self.name,
            "posts": self.posts,
            "followers": self.followers,
            "following": self.following,
            "you_follow": self.followed,
        }


@dataclass(frozen=True, slots=True)
class Page:
    """A slice of a list: its items, the number of live items, and the cursor to go on."""

    items: list[Entry]
    count: int
    next_cursor: int | None


def entry_from_item(item: Item) -> Entry:
    """The :class:`Entry` an item of the feed, a reply list or an author list shows."""
    v = item.value
    if not (isinstance(v, dict) and isinstance(v.get("author"), str) and "text" in v):
        # Appended by something other than this app (the CLI, say): show it, don't fail.
        v = {"author": "?", "text": json.dumps(v, ensure_ascii=False)}
    return Entry(
        id=item.id,
        position=item.position,
        ts=item.ts,
        author=v["author"],
        text=str(v["text"]),
        parent=v.get("parent"),
        post=v.get("post") or item.id,
        depth=int(v.get("depth") or 0),
        edited=item.edited,
        deleted=v.get("deleted") is True,
    )


@dataclass(frozen=True, slots=True)
class _ListInfo:
    """What never changes about a list, taken as its handle is opened: a handle's
    properties read state it shares with every handle of that list, which a concurrent
    ``open`` of the same list clears for a moment."""

    layout: int
    metadata: Any
    created: float

    @classmethod
    def of(cls, handle: AsyncPagedList) -> _ListInfo:
        return cls(handle.layout, handle.metadata, handle.created)


def _gone_size(doc: dict[str, Any] | None) -> int:
    if doc is None:
        return 0
    return len(doc.get("ids") or ()) + int(doc.get("n") or 0)


class Feed:
    """The application's operations on one asyncio store; one per process.

    Get one with ``await Feed.open(store)``. Reads go through list handles whose deadline
    is ``read_deadline`` (a page render gives up quickly when the store is down); writes
    keep the longer ``write_deadline`` (``None``: pagedlist's default), since giving up
    early leaves their outcome unknown.
    """

    def __init__(
        self,
        store: AsyncStore,
        *,
        handles: int = 10_000,
        read_deadline: float = READ_DEADLINE,
        write_deadline: float | None = None,
    ) -> None:
        self.store = store
        # One event loop uses a Feed: no lock, since nothing awaits between a lookup
        # and its update.
        self._handles: OrderedDict[tuple[str, bool], tuple[AsyncPagedList, _ListInfo]] = (
            OrderedDict()
        )
        self._max_handles = handles
        self.read_deadline = read_deadline
        self.write_deadline = write_deadline
        self.feed = AsyncPagedList(store, FEED_ID, deadline=write_deadline)
        self._feed_reader = AsyncPagedList(store, FEED_ID, deadline=read_deadline)
        self._digest_key = b""
        self._feed_info = _ListInfo(EDITABLE_LAYOUT, None, 0.0)
        self._creating: asyncio.Semaphore | None = None

    async def _create(self, list_id: str, metadata: Any = None) -> AsyncPagedList:
        """Create list ``list_id`` for writing (see :data:`CREATE_CONCURRENCY`)."""
        if self._creating is None:  # made in the loop that uses it
            self._creating = asyncio.Semaphore(CREATE_CONCURRENCY)
        async with self._creating:
            return await AsyncPagedList.create(
                self.store,
                list_id,
                max_item_bytes=MAX_ITEM_BYTES,
                metadata=metadata,
                deadline=self.write_deadline,
            )

    @classmethod
    async def open(
        cls,
        store: AsyncStore,
        *,
        handles: int = 10_000,
        read_deadline: float = READ_DEADLINE,
        write_deadline: float | None = None,
    ) -> Feed:
        """The feed on ``store``, its list created on first use."""
        feed = cls(
            store, handles=handles, read_deadline=read_deadline, write_deadline=write_deadline
        )
        feed.feed = await AsyncPagedList.create(
            store, FEED_ID, max_item_bytes=MAX_ITEM_BYTES, deadline=write_deadline
        )
        feed._feed_info = _ListInfo.of(feed.feed)
        feed._digest_key = hashlib.sha256((await feed.secret()).encode()).digest()
        return feed

    @property
    def editable(self) -> bool:
        """Whether items can be edited and deleted here: the feed's list is in layout 2
        (stores without entry rows keep every list in layout 1)."""
        return self._feed_info.layout == EDITABLE_LAYOUT

    def _digest(self, text: str) -> str:
        """A keyed digest of an item's first text, kept with its reply list so that the
        same id sent with other text is told apart (409) without storing the text there,
        where a delete or an edit could not reach it."""
        key = self._digest_key
        return hashlib.blake2b(text.encode(), key=key, digest_size=8).hexdigest()

    # --- lists ------------------------------------------------------------------------

    def _cached(self, key: tuple[str, bool]) -> tuple[AsyncPagedList, _ListInfo] | None:
        found = self._handles.get(key)
        if found is not None:
            self._handles.move_to_end(key)
        return found

    def _keep(self, key: tuple[str, bool], handle: AsyncPagedList) -> AsyncPagedList:
        # Right after its open or create, with no await in between: its settings are in.
        self._handles[key] = (handle, _ListInfo.of(handle))
        while len(self._handles) > self._max_handles:
            self._handles.popitem(last=False)
        return handle

    async def _thread(self, item_id: str, *, write: bool = False) -> AsyncPagedList:
        """An open handle on ``item_id``'s reply list (cached: settings never change)."""
        return (await self._thread_info(item_id, write=write))[0]

    async def _thread_info(
        self, item_id: str, *, write: bool = False
    ) -> tuple[AsyncPagedList, _ListInfo]:
        key = (thread_id(item_id), write)
        found = self._cached(key)
        if found is not None:
            return found
        deadline = self.write_deadline if write else self.read_deadline
        try:
            handle = await AsyncPagedList.open(self.store, key[0], deadline=deadline)
        except (ListNotFound, InvalidListId):
            raise NotFound(f"no item {item_id}") from None
        self._keep(key, handle)
        return self._handles[key]

    async def _author_list(self, name: str, *, write: bool = False) -> AsyncPagedList:
        """A handle on ``name``'s list of posts; writers create it on first use."""
        key = (author_list_id(check_username(name)), write)
        found = self._cached(key)
        if found is not None:
            return found[0]
        if write:
            return self._keep(key, await self._create(key[0]))
        # No store call: a user who never posted has no list, read as empty. Not cached
        # (its settings are not loaded); a handle costs nothing to make.
        return AsyncPagedList(self.store, key[0], deadline=self.read_deadline)

    async def _parent_list(
        self, parent: str | None, *, write: bool = False
    ) -> tuple[AsyncPagedList, int]:
        """The list an item with parent ``parent`` sits in (the feed for a post), and
        that list's layout."""
        if parent is None:
            return (self.feed if write else self._feed_reader), self._feed_info.layout
        handle, info = await self._thread_info(parent, write=write)
        return handle, info.layout

    async def entry(self, item_id: str) -> Entry:
        """Post or comment ``item_id`` as it is now (edited or not), found by id alone:
        its reply list's metadata names its parent's list, where ``find`` reads it.
        Raises :class:`NotFound` for an unknown or deleted item."""
        _, info = await self._thread_info(check_item_id(item_id))
        meta = info.metadata
        if not isinstance(meta, dict) or "depth" not in meta:
            raise NotFound(f"no item {item_id}")
        plist, layout = await self._parent_list(meta.get("parent"))
        found = await plist.find(item_id)
        if found is not None:
            return entry_from_item(found)
        if "text" in meta and layout != EDITABLE_LAYOUT:
            # Written before items could change, on a list where they still cannot: its
            # metadata holds its text, as it was then and is now.
            return Entry(
                id=item_id,
                position=-1,
                ts=info.created,
                author=str(meta["author"]),
                text=str(meta["text"]),
                parent=meta["parent"],
                post=str(meta["post"]),
                depth=int(meta["depth"]),
            )
        raise NotFound(f"no item {item_id}")

    # --- counts -----------------------------------------------------------------------

    async def _live_counts(self, lists: list[AsyncPagedList]) -> list[int]:
        """How many live items each list holds: its positions, less the deleted ones
        (one ``count`` per list, concurrently, and one batch read of the gone rows)."""
        if not lists:
            return []
        keys = [_GONE_KEY.format(plist.id) for plist in lists]
        positions, rows = await asyncio.gather(
            asyncio.gather(*(plist.count() for plist in lists)),
            self.store.get_many(sorted(set(keys))),
        )
        return [
            max(0, n - _gone_size(None if (row := rows.get(key)) is None else row.doc))
            for n, key in zip(positions, keys, strict=True)
        ]

    async def reply_counts(self, item_ids: list[str]) -> list[int]:
        """How many live direct replies each item has (0 for one with no reply list)."""

        async def thread(item_id: str) -> AsyncPagedList | None:
            try:
                return await self._thread(item_id)
            except NotFound:
                return None

        threads = await asyncio.gather(*(thread(i) for i in item_ids))
        counts = iter(await self._live_counts([t for t in threads if t is not None]))
        return [0 if t is None else next(counts) for t in threads]

    async def reply_count(self, item_id: str) -> int:
        """How many live direct replies ``item_id`` has."""
        return (await self.reply_counts([item_id]))[0]

    async def with_counts(self, entries: list[Entry]) -> list[tuple[Entry, int]]:
        """Each entry with its reply count."""
        counts = await self.reply_counts([e.id for e in entries])
        return list(zip(entries, counts, strict=True))

    # --- reads ------------------------------------------------------------------------

    async def _newest_first(self, plist: AsyncPagedList, before: int | None, limit: int) -> Page:
        """A page of ``plist`` newest first. A cursor past the end (``?before=999999``)
        reads the newest page, so it never shows a count beside an empty page."""
        if before is not None and before >= await plist.count():
            before = None
        # One more than shown: whether older items exist, deleted positions skipped.
        if before is None:
            items, (count,) = await asyncio.gather(
                plist.latest(limit + 1), self._live_counts([plist])
            )
        else:
            items, (count,) = await asyncio.gather(
                plist.before(before, limit + 1), self._live_counts([plist])
            )
        entries = [entry_from_item(i) for i in items[:limit]]
        more = len(items) > limit
        return Page(entries, count, entries[-1].position if more else None)

    async def posts(self, before: int | None, limit: int) -> Page:
        """Posts newest first: the latest ``limit``, or those older than ``before``."""
        return await self._newest_first(self._feed_reader, before, limit)

    async def post_count(self) -> int:
        """The number of posts in the feed (deleted ones not counted)."""
        return (await self._live_counts([self._feed_reader]))[0]

    async def replies(self, item_id: str, after: int, limit: int) -> Page:
        """Direct replies to ``item_id`` oldest first, after position ``after`` (-1: start)."""
        thread = await self._thread(check_item_id(item_id))
        found, (count,) = await asyncio.gather(
            thread.after(after, limit + 1), self._live_counts([thread])
        )
        entries = [entry_from_item(i) for i in found]
        more = len(entries) > limit
        entries = entries[:limit]
        return Page(entries, count, entries[-1].position if more else None)

    async def author_posts(self, name: str, before: int | None, limit: int) -> Page:
        """``name``'s posts newest first (an empty page for someone who never posted)."""
        try:
            return await self._newest_first(await self._author_list(name), before, limit)
        except ListNotFound:
            return Page([], 0, None)

    async def author_post_count(self, name: str) -> int:
        """How many posts ``name`` wrote (deleted ones not counted)."""
        try:
            return (await self._live_counts([await self._author_list(name)]))[0]
        except ListNotFound:
            return 0

    # --- writes -----------------------------------------------------------------------

    async def _add(self, parent_list: AsyncPagedList, item_id: str, value: dict[str, Any]) -> Entry:
        check_item_id(item_id)
        # Where the item sits, not what it says: an edit or a delete changes the text in
        # the parent's list, and nothing could change it in this summary row.
        meta = {k: value[k] for k in ("author", "parent", "post", "depth")}
        meta["digest"] = self._digest(value["text"])
        try:
            # The reply list first: once the item is visible, its replies can be added.
            await self._create(thread_id(item_id), meta)
        except ListExists:
            raise Conflict(f"item id {item_id} is already used by another item") from None
        try:
            position = await parent_list.append(value, id=item_id)
        except ItemTooLarge as err:
            raise InvalidInput("The text is too large to store; shorten it.") from err
        return Entry(
            id=item_id,
            position=position,
            ts=time.time(),
            author=value["author"],
            text=value["text"],
            parent=value["parent"],
            post=value["post"],
            depth=value["depth"],
        )

    async def add_post(self, author: str, text: str, item_id: str | None = None) -> Entry:
        """Append a post by ``author`` to the feed and to the author's own list.

        The same ``item_id`` and text post only once; a retry after a failure half-way
        finishes what is missing (both appends are idempotent by id).
        """
        item_id = item_id or new_id()
        value = {
            "author": check_username(author),
            "text": check_text(text),
            "parent": None,
            "post": item_id,
            "depth": 0,
        }
        entry = await self._add(self.feed, item_id, value)
        await (await self._author_list(author, write=True)).append(value, id=item_id)
        return entry

    async def add_reply(
        self, parent_id: str, author: str, text: str, item_id: str | None = None
    ) -> Entry:
        """Append a reply to post or comment ``parent_id`` (raises :class:`NotFound`)."""
        parent = await self.entry(parent_id)
        if parent.deleted:
            raise InvalidInput("That comment was deleted: it takes no new replies.")
        item_id = item_id or new_id()
        value = {
            "author": check_username(author),
            "text": check_text(text),
            "parent": parent_id,
            "post": parent.post,
            "depth": parent.depth + 1,
        }
        return await self._add(await self._thread(parent_id, write=True), item_id, value)

    async def _own(self, item_id: str, user: str) -> tuple[Entry, AsyncPagedList]:
        """Item ``item_id`` and the list it sits in, if ``user`` wrote it."""
        entry = await self.entry(item_id)
        if entry.author != user:
            raise NotAllowed("Only its author can change this.")
        plist, layout = await self._parent_list(entry.parent, write=True)
        if layout != EDITABLE_LAYOUT or entry.position < 0:
            raise NotEditable(
                "This store keeps its lists in layout 1 (page rows), where items cannot be "
                "edited or deleted; a store with entry rows (layout 2) can."
            )
        return entry, plist

    async def _author_copy(self, entry: Entry) -> tuple[AsyncPagedList, int] | None:
        """The author's copy of post ``entry``: its list and position (``None`` if gone)."""
        if entry.parent is not None:
            return None
        copies = await self._author_list(entry.author, write=True)
        found = await copies.find(entry.id)
        return None if found is None else (copies, found.position)

    async def edit(self, item_id: str, user: str, text: str) -> Entry:
        """Give ``user``'s item ``item_id`` a new text (in the feed and in the author's
        list for a post); the result says when it was edited. Raises :class:`NotAllowed`
        for someone else's item, :class:`NotFound` for a deleted one."""
        entry, plist = await self._own(item_id, user)
        if entry.deleted:
            raise NotFound(f"item {item_id} was deleted")
        value = {**entry.value(), "text": check_text(text)}
        try:
            item = await plist.replace(entry.position, value)
            copy = await self._author_copy(entry)
            if copy is not None:
                await copy[0].replace(copy[1], value)
        except ItemNotFound:
            raise NotFound(f"item {item_id} was deleted") from None
        except ItemTooLarge as err:
            raise InvalidInput("The text is too large to store; shorten it.") from err
        except Unsupported as err:
            raise NotEditable(str(err)) from None
        return entry_from_item(item)

    async def delete(self, item_id: str, user: str) -> bool:
        """Delete ``user``'s item ``item_id``; return whether it stays as "[deleted]".

        An item with replies keeps its place with its text erased (its replies stay
        reachable); one without is deleted from its list (a tombstone), and counted in
        that list's gone row first, so a delete cut short is finished by repeating it. A
        post's copy in its author's list gets the same.
        """
        entry, plist = await self._own(item_id, user)
        if entry.deleted:
            return True
        kept = await self.reply_count(item_id) > 0
        marker = {**entry.value(), "text": "", "deleted": True}
        try:
            targets = [(plist, entry.position)]
            copy = await self._author_copy(entry)
            if copy is not None:
                targets.append(copy)
            for target, position in targets:
                if kept:
                    await target.replace(position, marker)
                else:
                    await self._change_set(_GONE_KEY.format(target.id), item_id, True, "ids")
                    await target.delete(position)
        except ItemNotFound:
            pass  # deleted by a concurrent request of the same author
        except Unsupported as err:
            raise NotEditable(str(err)) from None
        return kept

    # --- follows ----------------------------------------------------------------------

    async def _names(self, key: str) -> list[str]:
        row = await self.store.get(key)
        return [] if row is None else list(row.doc["names"])

    async def _change_set(
        self, key: str, name: str, add: bool, field: str = "names", cap: int | None = None
    ) -> bool:
        """Add or remove ``name`` in the name set at ``key`` (compare-and-swap, retried
        on a concurrent change); return whether the set changed.

        Gone rows (``field="ids"``) keep the newest :data:`GONE_KEEP` ids; older ones are
        only counted (``n``): a delete repeated that much later would count twice.
        """
        for _ in range(50):
            row = await self.store.get(key)
            doc = {} if row is None else row.doc
            names = list(doc.get(field) or [])
            if (name in names) == add:
                return False
            if add and cap is not None and len(names) >= cap:
                raise Conflict(f"You follow {cap} people already; unfollow someone first.")
            if field == "ids":
                names.append(name)
                folded = int(doc.get("n") or 0) + max(0, len(names) - GONE_KEEP)
                new = {"ids": names[-GONE_KEEP:], "n": folded}
            else:
                names = sorted([*names, name]) if add else [n for n in names if n != name]
                new = {field: names}
            try:
                if row is None:
                    if await self.store.put_if_absent(key, new):
                        return True
                elif await self.store.replace(key, new, row.version) is not None:
                    return True
            except ItemTooLarge:
                raise Conflict("That account cannot take more followers.") from None
        raise StoreUnavailable(f"{key} kept changing under 50 attempts; try again")

    async def following(self, name: str) -> list[str]:
        """Who ``name`` follows, sorted."""
        return await self._names(_FOLLOWING_KEY.format(check_username(name)))

    async def followers(self, name: str) -> list[str]:
        """Who follows ``name``, sorted."""
        return await self._names(_FOLLOWERS_KEY.format(check_username(name)))

    async def follow(self, who: str, whom: str) -> bool:
        """``who`` follows ``whom``; return whether that is new (repeating is harmless).

        The followers row is written first: the viewer's button reads the following row,
        so after a failure between the two writes the button still says "Follow", and
        pressing it again completes both (each is an idempotent set change).
        """
        await self._check_pair(who, whom)
        await self._change_set(_FOLLOWERS_KEY.format(whom), who, True)
        return await self._change_set(_FOLLOWING_KEY.format(who), whom, True, cap=MAX_FOLLOWING)

    async def unfollow(self, who: str, whom: str) -> bool:
        """``who`` stops following ``whom``; return whether they did follow."""
        await self._check_pair(who, whom)
        await self._change_set(_FOLLOWERS_KEY.format(whom), who, False)
        return await self._change_set(_FOLLOWING_KEY.format(who), whom, False)

    async def _check_pair(self, who: str, whom: str) -> None:
        check_username(who)
        if await self.user(whom) is None:
            raise NotFound(f"no user {whom}")
        if who == whom:
            raise InvalidInput("You cannot follow yourself.")

    async def profile(self, name: str, viewer: str | None = None) -> Profile:
        """``name``'s profile numbers as ``viewer`` sees them (raises :class:`NotFound`)."""
        if await self.user(name) is None:
            raise NotFound(f"no user {name}")
        mine = viewer is not None and viewer != name
        following, followers, posts, theirs = await asyncio.gather(
            self.following(name),
            self.followers(name),
            self.author_post_count(name),
            # The viewer's own following row decides the button (see follow()).
            self.following(viewer) if viewer is not None and mine else _nothing(),
        )
        followed = (name in theirs) if mine else None
        return Profile(
            name=name,
            posts=posts,
            followers=len(followers),
            following=len(following),
            followed=followed,
        )

    async def home_lists(self, name: str) -> list[str]:
        """The lists ``name``'s home timeline merges: their own and everyone they follow."""
        return [author_list_id(n) for n in [name, *await self.following(name)]]

    async def home(self, name: str, limit: int, cursor: str | None) -> Timeline:
        """A page of ``name``'s home timeline, newest first; ``cursor`` goes older."""
        return await home_page(
            self.store, await self.home_lists(name), limit, cursor, deadline=self.read_deadline
        )

    # --- users and sessions -----------------------------------------------------------

    async def create_user(self, name: str, password_hash: str) -> None:
        """Create user ``name``; raise :class:`Conflict` if the name is taken."""
        doc = {"name": check_username(name), "hash": password_hash, "created": _now_ms()}
        if not await self.store.put_if_absent(_USER_KEY.format(name), doc):
            raise Conflict(f"The username {name!r} is taken; pick another.")

    async def user(self, name: str) -> dict[str, Any] | None:
        """The user row for ``name``, or ``None``."""
        if not isinstance(name, str) or not USERNAME_RE.fullmatch(name):
            return None
        row = await self.store.get(_USER_KEY.format(name))
        return None if row is None else row.doc

    async def update_user(self, name: str, changes: dict[str, Any]) -> None:
        """Apply ``changes`` to user ``name`` with a compare-and-swap (e.g. a rehash)."""
        key = _USER_KEY.format(check_username(name))
        row = await self.store.get(key)
        if row is not None:
            await self.store.replace(key, {**row.doc, **changes}, row.version)

    async def open_session(self, name: str) -> str:
        """Create a session for ``name``; return its id (goes in the signed cookie)."""
        sid = secrets.token_hex(16)
        doc = {"user": name, "created": _now_ms()}
        await self.store.put_if_absent(_SESSION_KEY.format(sid), doc)
        return sid

    async def session_user(self, sid: object) -> str | None:
        """The user of session ``sid`` if it exists and has not expired."""
        if not isinstance(sid, str) or not _SESSION_RE.fullmatch(sid):
            return None
        row = await self.store.get(_SESSION_KEY.format(sid))
        if row is None:
            return None
        if _now_ms() - int(row.doc["created"]) > SESSION_SECONDS * 1000:
            await self.store.delete(_SESSION_KEY.format(sid))
            return None
        return str(row.doc["user"])

    async def close_session(self, sid: object) -> None:
        """Delete session ``sid`` (sign out); unknown ids are ignored."""
        if isinstance(sid, str) and _SESSION_RE.fullmatch(sid):
            await self.store.delete(_SESSION_KEY.format(sid))

    async def secret(self) -> str:
        """The cookie-signing secret shared by every server on this store (made once)."""
        await self.store.put_if_absent(SECRET_KEY, {"secret": secrets.token_urlsafe(48)})
        row = await self.store.get(SECRET_KEY)
        assert row is not None
        return str(row.doc["secret"])

    # --- seed -------------------------------------------------------------------------

    async def seed(self) -> bool:
        """Add a few posts, comments and replies once per store; return whether it did."""
        if await self.store.get(SEEDED_KEY) is not None:
            return False

        def sid(name: str) -> str:
            # Fixed ids make a seed interrupted half-way safe to run again.
            return hashlib.sha256(f"pagedlist-app-seed:{name}".encode()).hexdigest()[:32]

        async def add(parent: str | None, name: str, author: str, text: str) -> None:
            try:
                if parent is None:
                    await self.add_post(author, text, sid(name))
                else:
                    await self.add_reply(sid(parent), author, text, sid(name))
            except Conflict:
                pass

        for author in ("julien", "ana", "bob"):
            # Reserve the seed authors' names: nobody can sign up as them, or sign in
            # (no password hashes to "!").
            await self.store.put_if_absent(
                _USER_KEY.format(author), {"name": author, "hash": "!", "created": _now_ms()}
            )
        await add(None, "p1", "julien", "We proved the market. Time to build our own data plane?")
        await add("p1", "c1", "ana", "What scale do we expect?")
        await add("c1", "c2", "julien", "100 concurrent users per list in 25 ms.")
        await add("c2", "c3", "ana", "Then one page per write is out: batch items into pages.")
        await add("c3", "c4", "bob", "And make appends bounded, so no page ever overfills.")
        await add("p1", "c5", "bob", "Define the limits first: max message size?")
        await add(None, "p2", "ana", "A linked list on a key-value store: summary row + pages.")
        await add("p2", "c6", "bob", "Positions are dense, so cursors are just numbers.")
        await add(None, "p3", "bob", "Swapping DynamoDB for Redis is a URL change.")
        await self.store.put_if_absent(SEEDED_KEY, {"at": _now_ms()})
        return True


async def _nothing() -> list[str]:
    return []


def _now_ms() -> int:
    return int(time.time() * 1000)
