"""The feed's data model on a pagedlist store: posts, comments, replies, users, sessions.

Everything lives in one store, reached only through ``Store`` and ``PagedList``:

* ``app.feed`` — the list of posts, newest appended last.
* ``app.t.{ID}`` — one list per post or comment ``ID`` holding its direct replies. Its
  summary metadata *is* the item (author, text, parent, root post, depth), so an item is
  found by id with one read, without knowing its position. It is created before the item
  is appended to its parent's list, so every item anyone can see has its reply list.
* ``app.u.{name}`` — one list per author: a copy of each of their posts (same id, same
  value), appended right after the feed's, read by profiles and home timelines.
* ``|app.user|{name}``, ``|app.session|{sid}``, ``|app.secret``, ``|app.seeded`` — plain
  rows written with ``put_if_absent``. List keys are ``{list_id}|...`` and a list id is
  never empty, so no list key starts with ``|``: these keys can never collide with a list.
* ``|app.following|{name}``, ``|app.followers|{name}`` — who ``name`` follows and who
  follows them, ``{"names": [...]}`` rows changed by compare-and-swap (``replace``).

Ids are server-made: item ids are 32 lowercase hex digits (:data:`ITEM_ID_RE`), usernames
match :data:`USERNAME_RE`, so no value from a request can name any other row.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pagedlist import InvalidListId, Item, ItemTooLarge, ListExists, ListNotFound, PagedList, Store
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

_USER_KEY = "|app.user|{}"
_SESSION_KEY = "|app.session|{}"
_FOLLOWING_KEY = "|app.following|{}"
_FOLLOWERS_KEY = "|app.followers|{}"
SECRET_KEY = "|app.secret"
#: Session ids: 128 random bits. Every key stays within OCI NoSQL's 64 bytes
#: ("|app.session|" + 32 = 45, "|app.user|" + 24 = 34, "app.t." + 32 + page suffix <= 64).
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
    """No item with that id."""


class Conflict(Exception):
    """The request reuses an id (an item id or a username) that is already taken."""


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
    """A post or comment as shown: where it sits in its parent list and what it says."""

    id: str
    position: int
    ts: float
    author: str
    text: str
    parent: str | None
    post: str
    depth: int

    def to_json(self, replies: int) -> dict[str, Any]:
        """The item as the JSON API returns it."""
        return {
            "id": self.id,
            "position": self.position,
            "ts": self.ts,
            "author": self.author,
            "text": self.text,
            "parent": self.parent,
            "post": self.post,
            "depth": self.depth,
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
    """A slice of a list: its items, the list's total count, and the cursor to go on."""

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
    )


class Feed:
    """The application's operations on one store; thread-safe, one per process.

    Reads go through list handles whose deadline is ``read_deadline`` (a page render
    gives up quickly when the store is down); writes keep the longer ``write_deadline``
    (``None``: pagedlist's default), since giving up early leaves their outcome unknown.
    """

    def __init__(
        self,
        store: Store,
        *,
        handles: int = 10_000,
        read_deadline: float = READ_DEADLINE,
        write_deadline: float | None = None,
    ) -> None:
        self.store = store
        self._handles: OrderedDict[tuple[str, bool], PagedList] = OrderedDict()
        self._max_handles = handles
        self._lock = threading.Lock()
        self.read_deadline = read_deadline
        self.write_deadline = write_deadline
        self.feed = PagedList.create(
            store, FEED_ID, max_item_bytes=MAX_ITEM_BYTES, deadline=write_deadline
        )
        self._feed_reader = PagedList(store, FEED_ID, deadline=read_deadline)

    # --- lists ------------------------------------------------------------------------

    def _cached(self, key: tuple[str, bool]) -> PagedList | None:
        with self._lock:
            handle = self._handles.get(key)
            if handle is not None:
                self._handles.move_to_end(key)
            return handle

    def _keep(self, key: tuple[str, bool], handle: PagedList) -> PagedList:
        with self._lock:
            self._handles[key] = handle
            while len(self._handles) > self._max_handles:
                self._handles.popitem(last=False)
        return handle

    def _thread(self, item_id: str, *, write: bool = False) -> PagedList:
        """An open handle on ``item_id``'s reply list (cached: settings never change)."""
        key = (thread_id(item_id), write)
        handle = self._cached(key)
        if handle is not None:
            return handle
        deadline = self.write_deadline if write else self.read_deadline
        try:
            handle = PagedList.open(self.store, key[0], deadline=deadline)
        except (ListNotFound, InvalidListId):
            raise NotFound(f"no item {item_id}") from None
        return self._keep(key, handle)

    def _author_list(self, name: str, *, write: bool = False) -> PagedList:
        """A handle on ``name``'s list of posts; writers create it on first use."""
        key = (author_list_id(check_username(name)), write)
        handle = self._cached(key)
        if handle is not None:
            return handle
        if write:
            handle = PagedList.create(
                self.store, key[0], max_item_bytes=MAX_ITEM_BYTES, deadline=self.write_deadline
            )
        else:
            # No store call yet: a user who never posted has no list, read as empty.
            handle = PagedList(self.store, key[0], deadline=self.read_deadline)
        return self._keep(key, handle)

    def item(self, item_id: str) -> dict[str, Any]:
        """The stored fields of post or comment ``item_id`` (author, text, parent, post)
        and ``ts``, when it was written (its reply list is made just before it)."""
        thread = self._thread(check_item_id(item_id))
        return {"id": item_id, **thread.metadata, "ts": thread.created}

    def entry(self, item_id: str) -> Entry:
        """Post or comment ``item_id`` as an :class:`Entry`, found by id alone.

        Its position in its parent's list is not stored with it: it is ``-1`` here.
        """
        item = self.item(item_id)
        return Entry(
            id=item_id,
            position=-1,
            ts=float(item["ts"]),
            author=str(item["author"]),
            text=str(item["text"]),
            parent=item["parent"],
            post=str(item["post"]),
            depth=int(item["depth"]),
        )

    def reply_count(self, item_id: str) -> int:
        """How many direct replies ``item_id`` has (0 for an item with no reply list)."""
        try:
            return self._thread(item_id).count()
        except NotFound:
            return 0

    # --- reads ------------------------------------------------------------------------

    @staticmethod
    def _newest_first(plist: PagedList, before: int | None, limit: int) -> Page:
        """A page of ``plist`` newest first. A cursor past the end (``?before=999999``)
        reads the newest page, so it never shows a count beside an empty page."""
        count = None
        if before is not None:
            count = plist.count()
            if before >= count:
                before = None
        if before is None:
            items = plist.latest(limit)
            if count is None:
                count = items[0].position + 1 if items else plist.count()
        else:
            items = plist.before(before, limit)
        assert count is not None
        entries = [entry_from_item(i) for i in items]
        more = bool(entries) and entries[-1].position > 0
        return Page(entries, count, entries[-1].position if more else None)

    def posts(self, before: int | None, limit: int) -> Page:
        """Posts newest first: the latest ``limit``, or those older than ``before``."""
        return self._newest_first(self._feed_reader, before, limit)

    def post_count(self) -> int:
        """The number of posts in the feed."""
        return self._feed_reader.count()

    def replies(self, item_id: str, after: int, limit: int) -> Page:
        """Direct replies to ``item_id`` oldest first, after position ``after`` (-1: start)."""
        thread = self._thread(check_item_id(item_id))
        entries = [entry_from_item(i) for i in thread.after(after, limit + 1)]
        more = len(entries) > limit
        entries = entries[:limit]
        count = thread.count()
        return Page(entries, count, entries[-1].position if more else None)

    def author_posts(self, name: str, before: int | None, limit: int) -> Page:
        """``name``'s posts newest first (an empty page for someone who never posted)."""
        try:
            return self._newest_first(self._author_list(name), before, limit)
        except ListNotFound:
            return Page([], 0, None)

    def author_post_count(self, name: str) -> int:
        """How many posts ``name`` wrote."""
        try:
            return self._author_list(name).count()
        except ListNotFound:
            return 0

    # --- writes -----------------------------------------------------------------------

    def _add(self, parent_list: PagedList, item_id: str, value: dict[str, Any]) -> Entry:
        check_item_id(item_id)
        try:
            # The reply list first: once the item is visible, its replies can be added.
            PagedList.create(
                self.store,
                thread_id(item_id),
                max_item_bytes=MAX_ITEM_BYTES,
                metadata=value,
                deadline=self.write_deadline,
            )
        except ListExists:
            raise Conflict(f"item id {item_id} is already used by another item") from None
        try:
            position = parent_list.append(value, id=item_id)
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

    def add_post(self, author: str, text: str, item_id: str | None = None) -> Entry:
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
        entry = self._add(self.feed, item_id, value)
        self._author_list(author, write=True).append(value, id=item_id)
        return entry

    def add_reply(
        self, parent_id: str, author: str, text: str, item_id: str | None = None
    ) -> Entry:
        """Append a reply to post or comment ``parent_id`` (raises :class:`NotFound`)."""
        parent = self.item(parent_id)
        item_id = item_id or new_id()
        value = {
            "author": check_username(author),
            "text": check_text(text),
            "parent": parent_id,
            "post": parent["post"],
            "depth": int(parent["depth"]) + 1,
        }
        return self._add(self._thread(parent_id, write=True), item_id, value)

    # --- follows ----------------------------------------------------------------------

    def _names(self, key: str) -> list[str]:
        row = self.store.get(key)
        return [] if row is None else list(row.doc["names"])

    def _change_set(self, key: str, name: str, add: bool, cap: int | None = None) -> bool:
        """Add or remove ``name`` in the name set at ``key`` (compare-and-swap, retried
        on a concurrent change); return whether the set changed."""
        for _ in range(50):
            row = self.store.get(key)
            names = [] if row is None else list(row.doc["names"])
            if (name in names) == add:
                return False
            if add and cap is not None and len(names) >= cap:
                raise Conflict(f"You follow {cap} people already; unfollow someone first.")
            names = sorted([*names, name]) if add else [n for n in names if n != name]
            try:
                if row is None:
                    if self.store.put_if_absent(key, {"names": names}):
                        return True
                elif self.store.replace(key, {"names": names}, row.version) is not None:
                    return True
            except ItemTooLarge:
                raise Conflict("That account cannot take more followers.") from None
        raise StoreUnavailable(f"{key} kept changing under 50 attempts; try again")

    def following(self, name: str) -> list[str]:
        """Who ``name`` follows, sorted."""
        return self._names(_FOLLOWING_KEY.format(check_username(name)))

    def followers(self, name: str) -> list[str]:
        """Who follows ``name``, sorted."""
        return self._names(_FOLLOWERS_KEY.format(check_username(name)))

    def follow(self, who: str, whom: str) -> bool:
        """``who`` follows ``whom``; return whether that is new (repeating is harmless).

        The followers row is written first: the viewer's button reads the following row,
        so after a failure between the two writes the button still says "Follow", and
        pressing it again completes both (each is an idempotent set change).
        """
        self._check_pair(who, whom)
        self._change_set(_FOLLOWERS_KEY.format(whom), who, True)
        return self._change_set(_FOLLOWING_KEY.format(who), whom, True, MAX_FOLLOWING)

    def unfollow(self, who: str, whom: str) -> bool:
        """``who`` stops following ``whom``; return whether they did follow."""
        self._check_pair(who, whom)
        self._change_set(_FOLLOWERS_KEY.format(whom), who, False)
        return self._change_set(_FOLLOWING_KEY.format(who), whom, False)

    def _check_pair(self, who: str, whom: str) -> None:
        check_username(who)
        if self.user(whom) is None:
            raise NotFound(f"no user {whom}")
        if who == whom:
            raise InvalidInput("You cannot follow yourself.")

    def profile(self, name: str, viewer: str | None = None) -> Profile:
        """``name``'s profile numbers as ``viewer`` sees them (raises :class:`NotFound`)."""
        if self.user(name) is None:
            raise NotFound(f"no user {name}")
        following = self.following(name)
        followed = None
        if viewer is not None and viewer != name:
            followed = name in self.following(viewer)
        return Profile(
            name=name,
            posts=self.author_post_count(name),
            followers=len(self.followers(name)),
            following=len(following),
            followed=followed,
        )

    def home_lists(self, name: str) -> list[str]:
        """The lists ``name``'s home timeline merges: their own and everyone they follow."""
        return [author_list_id(n) for n in [name, *self.following(name)]]

    def home(self, name: str, limit: int, cursor: str | None) -> Timeline:
        """A page of ``name``'s home timeline, newest first; ``cursor`` goes older."""
        return home_page(
            self.store, self.home_lists(name), limit, cursor, deadline=self.read_deadline
        )

    # --- users and sessions -----------------------------------------------------------

    def create_user(self, name: str, password_hash: str) -> None:
        """Create user ``name``; raise :class:`Conflict` if the name is taken."""
        doc = {"name": check_username(name), "hash": password_hash, "created": _now_ms()}
        if not self.store.put_if_absent(_USER_KEY.format(name), doc):
            raise Conflict(f"The username {name!r} is taken; pick another.")

    def user(self, name: str) -> dict[str, Any] | None:
        """The user row for ``name``, or ``None``."""
        if not isinstance(name, str) or not USERNAME_RE.fullmatch(name):
            return None
        row = self.store.get(_USER_KEY.format(name))
        return None if row is None else row.doc

    def update_user(self, name: str, changes: dict[str, Any]) -> None:
        """Apply ``changes`` to user ``name`` with a compare-and-swap (e.g. a rehash)."""
        key = _USER_KEY.format(check_username(name))
        row = self.store.get(key)
        if row is not None:
            self.store.replace(key, {**row.doc, **changes}, row.version)

    def open_session(self, name: str) -> str:
        """Create a session for ``name``; return its id (goes in the signed cookie)."""
        sid = secrets.token_hex(16)
        self.store.put_if_absent(_SESSION_KEY.format(sid), {"user": name, "created": _now_ms()})
        return sid

    def session_user(self, sid: object) -> str | None:
        """The user of session ``sid`` if it exists and has not expired."""
        if not isinstance(sid, str) or not _SESSION_RE.fullmatch(sid):
            return None
        row = self.store.get(_SESSION_KEY.format(sid))
        if row is None:
            return None
        if _now_ms() - int(row.doc["created"]) > SESSION_SECONDS * 1000:
            self.store.delete(_SESSION_KEY.format(sid))
            return None
        return str(row.doc["user"])

    def close_session(self, sid: object) -> None:
        """Delete session ``sid`` (sign out); unknown ids are ignored."""
        if isinstance(sid, str) and _SESSION_RE.fullmatch(sid):
            self.store.delete(_SESSION_KEY.format(sid))

    def secret(self) -> str:
        """The cookie-signing secret shared by every server on this store (made once)."""
        self.store.put_if_absent(SECRET_KEY, {"secret": secrets.token_urlsafe(48)})
        row = self.store.get(SECRET_KEY)
        assert row is not None
        return str(row.doc["secret"])

    # --- seed -------------------------------------------------------------------------

    def seed(self) -> bool:
        """Add a few posts, comments and replies once per store; return whether it did."""
        if self.store.get(SEEDED_KEY) is not None:
            return False

        def sid(name: str) -> str:
            # Fixed ids make a seed interrupted half-way safe to run again.
            return hashlib.sha256(f"pagedlist-app-seed:{name}".encode()).hexdigest()[:32]

        def add(parent: str | None, name: str, author: str, text: str) -> None:
            try:
                if parent is None:
                    self.add_post(author, text, sid(name))
                else:
                    self.add_reply(sid(parent), author, text, sid(name))
            except Conflict:
                pass

        for author in ("julien", "ana", "bob"):
            # Reserve the seed authors' names: nobody can sign up as them, or sign in
            # (no password hashes to "!").
            self.store.put_if_absent(
                _USER_KEY.format(author), {"name": author, "hash": "!", "created": _now_ms()}
            )
        add(None, "p1", "julien", "We proved the market. Time to build our own data plane?")
        add("p1", "c1", "ana", "What scale do we expect?")
        add("c1", "c2", "julien", "100 concurrent users per list in 25 ms.")
        add("c2", "c3", "ana", "Then one page per write is out: batch items into pages.")
        add("c3", "c4", "bob", "And make appends bounded, so no page ever overfills.")
        add("p1", "c5", "bob", "Define the limits first: max message size?")
        add(None, "p2", "ana", "A linked list on a key-value store: summary row + pages.")
        add("p2", "c6", "bob", "Positions are dense, so cursors are just numbers.")
        add(None, "p3", "bob", "Swapping DynamoDB for Redis is a URL change.")
        self.store.put_if_absent(SEEDED_KEY, {"at": _now_ms()})
        return True


def _now_ms() -> int:
    return int(time.time() * 1000)
