"""The HTML pages: feed, home timeline, threads, profiles, accounts.

Each handler is a module-level function of the request; the feed, the config and the
templates come from ``request.app.state`` (see :mod:`pagedlist.app.common`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pagedlist import InvalidValue
from pagedlist.app.accounts import SignupRefused, sign_in, sign_up, start_session
from pagedlist.app.common import (
    MAX_POSITION,
    AppConfig,
    checked_form,
    config_of,
    current_user,
    feed_of,
    int_param,
    limiter_of,
    read,
    render,
)
from pagedlist.app.feed import (
    Conflict,
    Entry,
    Feed,
    InvalidInput,
    NotAllowed,
    NotEditable,
    NotFound,
    check_item_id,
    entry_from_item,
    new_id,
)
from pagedlist.app.timeline import InvalidCursor

__all__ = [
    "Node",
    "create_post",
    "create_reply",
    "delete_item",
    "do_signin",
    "do_signout",
    "do_signup",
    "edit_item",
    "feed_page",
    "follow",
    "home_timeline",
    "item_page",
    "load_tree",
    "profile_page",
    "signin_page",
    "signup_page",
    "unfollow",
]

_ID_RE = re.compile(r"[0-9a-f]{32}")
#: Pages an edit or a delete may return to: the feed, home, a profile, a thread.
_BACK_RE = re.compile(r"/(home|u/[a-z0-9_]{3,24}|items/[0-9a-f]{32})?")


@dataclass
class Node:
    """A reply tree node for the templates: an entry, its reply count and loaded replies."""

    entry: Entry
    count: int
    children: list[Node]
    next_cursor: int | None
    focused: bool = False


async def load_tree(
    feed: Feed,
    cfg: AppConfig,
    item_id: str,
    after: int,
    limit: int,
    depth_left: int,
    chain: list[str] | None = None,
) -> tuple[list[Node], int, int | None]:
    """The replies to ``item_id`` as nodes, ``depth_left`` levels expanded inline (the
    branches of one level read concurrently).

    ``chain`` is the path from a reply of ``item_id`` down to one item to show whatever
    its depth (a reply just posted): every level on it is expanded, and an item of the
    path that is not on the loaded page is added to it.
    """
    chain = chain or []
    page = await feed.replies(item_id, after, limit)
    entries = list(page.items)
    if chain and all(e.id != chain[0] for e in entries):
        entries.append(await feed.entry(chain[0]))

    async def node(entry: Entry) -> Node:
        on_chain = bool(chain) and entry.id == chain[0]
        if on_chain or depth_left > 0:
            rest = chain[1:] if on_chain else None
            kids, count, cursor = await load_tree(
                feed, cfg, entry.id, -1, cfg.inline_replies, depth_left - 1, rest
            )
            return Node(entry, count, kids, cursor, on_chain and not rest)
        return Node(entry, await feed.reply_count(entry.id), [], None)

    nodes = list(await asyncio.gather(*(node(e) for e in entries)))
    return nodes, page.count, page.next_cursor


async def _chain(feed: Feed, top: Entry, focus: str) -> list[str]:
    """The ids from a reply of ``top`` down to ``focus``, or ``[]`` if ``focus`` is not
    below ``top``."""
    path = [focus]
    item = await feed.entry(focus)
    for _ in range(item.depth - top.depth - 1):
        parent = item.parent
        if parent is None:
            return []
        path.insert(0, parent)
        item = await feed.entry(parent)
    return path if item.parent == top.id else []


# --- the global feed --------------------------------------------------------------------


async def _feed_context(feed: Feed, cfg: AppConfig, before: int | None) -> dict[str, Any]:
    page = await feed.posts(before, cfg.page_size)
    posts = await feed.with_counts(page.items)
    return {"posts": posts, "count": page.count, "next": page.next_cursor}


async def feed_page(request: Request) -> Response:
    """``GET /``: every post, newest first, ``?before=P`` pages older."""
    feed, cfg = feed_of(request), config_of(request)
    before = int_param(request, "before", 0, MAX_POSITION)
    user = await current_user(request)
    data = await read(request, _feed_context, feed, cfg, before)
    return render(
        request,
        "feed.html",
        {**data, "user": user, "before": before, "error": None, "text": "", "nonce": new_id()},
    )


def _nonce(form: Any) -> str | None:
    nonce = form.get("nonce")
    return check_item_id(nonce) if isinstance(nonce, str) and nonce else None


async def create_post(request: Request) -> Response:
    """``POST /posts``: a new post, then back to the feed (the form again on bad text)."""
    feed, cfg = feed_of(request), config_of(request)
    form = await checked_form(request)
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/signin", status_code=303)
    text = form.get("text")
    await limiter_of(request).hit(user)
    try:
        await feed.add_post(user, text, _nonce(form))
    except (InvalidInput, InvalidValue, NotFound, Conflict) as err:
        msg = str(err) if not isinstance(err, NotFound) else "The form is invalid; reload it."
        data = await read(request, _feed_context, feed, cfg, None)
        context = {
            **data,
            "user": user,
            "before": None,
            "error": msg,
            "text": text if isinstance(text, str) else "",
            "nonce": new_id(),
        }
        return render(request, "feed.html", context, status=400)
    back = form.get("back")
    return RedirectResponse("/home" if back == "home" else "/", status_code=303)


# --- home timeline ----------------------------------------------------------------------


async def home_timeline(request: Request) -> Response:
    """``GET /home``: the signed-in user's posts and those of everyone they follow."""
    feed, cfg = feed_of(request), config_of(request)
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/signin", status_code=303)
    cursor = request.query_params.get("cursor") or None

    async def load() -> dict[str, Any]:
        page, following = await asyncio.gather(
            feed.home(user, cfg.page_size, cursor), feed.following(user)
        )
        entries = [entry_from_item(i) for i in page.items]
        return {
            "posts": await feed.with_counts(entries),
            "next": page.cursor,
            "following": len(following),
        }

    try:
        data = await read(request, load)
    except InvalidCursor as err:
        raise HTTPException(400, str(err)) from None
    context = {**data, "user": user, "cursor": cursor, "error": None, "nonce": new_id()}
    return render(request, "home.html", context)


# --- profiles ---------------------------------------------------------------------------


async def profile_page(request: Request) -> Response:
    """``GET /u/NAME``: someone's posts, follower and following counts, follow button."""
    feed, cfg = feed_of(request), config_of(request)
    name = request.path_params["name"]
    before = int_param(request, "before", 0, MAX_POSITION)
    user = await current_user(request)

    async def load() -> dict[str, Any]:
        profile, page = await asyncio.gather(
            feed.profile(name, user), feed.author_posts(name, before, cfg.page_size)
        )
        return {
            "profile": profile,
            "posts": await feed.with_counts(page.items),
            "next": page.next_cursor,
        }

    try:
        data = await read(request, load)
    except NotFound:
        raise HTTPException(404, f"Nobody is called {name} here.") from None
    return render(request, "profile.html", {**data, "user": user, "before": before})


async def _follow_form(request: Request, on: bool) -> Response:
    feed = feed_of(request)
    name = request.path_params["name"]
    await checked_form(request)
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/signin", status_code=303)
    await limiter_of(request).hit(user)
    try:
        await (feed.follow if on else feed.unfollow)(user, name)
    except NotFound:
        raise HTTPException(404, f"Nobody is called {name} here.") from None
    except InvalidInput as err:
        raise HTTPException(400, str(err)) from None
    except Conflict as err:
        raise HTTPException(409, str(err)) from None
    return RedirectResponse(f"/u/{name}", status_code=303)


async def follow(request: Request) -> Response:
    """``POST /u/NAME/follow``: follow NAME, then back to their profile."""
    return await _follow_form(request, True)


async def unfollow(request: Request) -> Response:
    """``POST /u/NAME/unfollow``: stop following NAME, then back to their profile."""
    return await _follow_form(request, False)


# --- threads ----------------------------------------------------------------------------


async def _thread_context(
    feed: Feed, cfg: AppConfig, item_id: str, after: int | None, focus: str | None
) -> dict[str, Any]:
    item = await feed.entry(item_id)
    chain: list[str] = []
    if focus is not None and after is None:
        try:
            chain = await _chain(feed, item, focus)
        except NotFound:
            chain = []
    nodes, count, cursor = await load_tree(
        feed,
        cfg,
        item_id,
        -1 if after is None else after,
        cfg.replies_page,
        cfg.inline_depth - 1,
        chain,
    )
    return {"item": item, "nodes": nodes, "count": count, "next": cursor}


async def item_page(request: Request) -> Response:
    """``GET /items/ID``: a post or comment and its replies; ``?focus=ID`` expands the
    branch down to one reply; ``?fragment=1`` renders the replies alone (for app.js)."""
    feed, cfg = feed_of(request), config_of(request)
    item_id = request.path_params["item_id"]
    after = int_param(request, "after", -1, MAX_POSITION)
    focus = request.query_params.get("focus")
    focus = focus if isinstance(focus, str) and _ID_RE.fullmatch(focus) else None
    user = await current_user(request)
    try:
        data = await read(request, _thread_context, feed, cfg, item_id, after, focus)
    except NotFound:
        raise HTTPException(404, "No such post or comment.") from None
    if request.query_params.get("fragment") == "1":
        return render(request, "_replies.html", {**data, "user": user, "parent": item_id})
    context = {**data, "user": user, "after": after, "error": None, "text": "", "nonce": new_id()}
    return render(request, "item.html", context)


async def create_reply(request: Request) -> Response:
    """``POST /items/ID/replies``: a reply, then back to the thread, expanded down to it."""
    feed, cfg = feed_of(request), config_of(request)
    parent_id = request.path_params["item_id"]
    form = await checked_form(request)
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/signin", status_code=303)
    text = form.get("text")
    try:
        await read(request, feed.entry, parent_id)
    except NotFound:
        raise HTTPException(404, "No such post or comment.") from None
    await limiter_of(request).hit(user)
    try:
        entry = await feed.add_reply(parent_id, user, text, _nonce(form))
    except (InvalidInput, InvalidValue, Conflict, NotFound) as err:
        msg = str(err) if not isinstance(err, NotFound) else "The form is invalid; reload it."
        data = await read(request, _thread_context, feed, cfg, parent_id, None, None)
        context = {
            **data,
            "user": user,
            "after": None,
            "error": msg,
            "text": text if isinstance(text, str) else "",
            "nonce": new_id(),
        }
        return render(request, "item.html", context, status=400)
    # Back to the page the reply form was on, with the branch opened down to the reply.
    back = form.get("back")
    target = back if isinstance(back, str) and _ID_RE.fullmatch(back) else entry.post
    return RedirectResponse(f"/items/{target}?focus={entry.id}#c-{entry.id}", status_code=303)


# --- edits and deletes -----------------------------------------------------------------


def _back(form: Any) -> str:
    """The page an edit or delete form came from (the feed when it names none we know)."""
    back = form.get("back")
    return back if isinstance(back, str) and _BACK_RE.fullmatch(back) else "/"


async def _own_change(request: Request) -> tuple[Feed, str, Any, str] | Response:
    """The feed, the signed-in user, the checked form and the item id of an edit or a
    delete (a redirect to sign in when nobody is)."""
    form = await checked_form(request)
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/signin", status_code=303)
    await limiter_of(request).hit(user)
    return feed_of(request), user, form, request.path_params["item_id"]


def _refused(err: Exception) -> HTTPException:
    if isinstance(err, NotAllowed):
        return HTTPException(403, "Only its author can edit or delete this.")
    if isinstance(err, NotEditable):
        return HTTPException(409, str(err))
    if isinstance(err, NotFound):
        return HTTPException(404, "No such post or comment (it may have been deleted).")
    return HTTPException(400, str(err))


async def edit_item(request: Request) -> Response:
    """``POST /items/ID/edit``: the author's new text, then back to where they were, the
    item in view and marked edited."""
    got = await _own_change(request)
    if isinstance(got, Response):
        return got
    feed, user, form, item_id = got
    try:
        entry = await feed.edit(item_id, user, form.get("text"))
    except (NotAllowed, NotEditable, NotFound, InvalidInput, InvalidValue) as err:
        raise _refused(err) from None
    back = _back(form)
    if back.startswith("/items/") and back != f"/items/{entry.id}":
        return RedirectResponse(f"{back}?focus={entry.id}#c-{entry.id}", status_code=303)
    anchor = "item" if back == f"/items/{entry.id}" else f"p-{entry.id}"
    return RedirectResponse(f"{back}#{anchor}", status_code=303)


async def delete_item(request: Request) -> Response:
    """``POST /items/ID/delete``: the author deletes it (it stays as "[deleted]" when it
    has replies), then back to where they were, or to its parent when that was its page."""
    got = await _own_change(request)
    if isinstance(got, Response):
        return got
    feed, user, form, item_id = got
    try:
        entry = await feed.entry(item_id)
        kept = await feed.delete(item_id, user)
    except (NotAllowed, NotEditable, NotFound) as err:
        raise _refused(err) from None
    back = _back(form)
    if back == f"/items/{item_id}" and not kept:
        back = "/" if entry.parent is None else f"/items/{entry.parent}"
    return RedirectResponse(back, status_code=303)


# --- accounts ---------------------------------------------------------------------------


async def signup_page(request: Request) -> Response:
    """``GET /signup``."""
    return render(request, "signup.html", {"errors": [], "username": ""})


async def signin_page(request: Request) -> Response:
    """``GET /signin``."""
    return render(request, "signin.html", {"error": None, "username": ""})


async def do_signup(request: Request) -> Response:
    """``POST /signup``: create the account and sign in, or list every problem."""
    feed = feed_of(request)
    form = await checked_form(request)
    name, password = form.get("username"), form.get("password")
    try:
        created = await sign_up(feed, name, password)
    except SignupRefused as err:
        username = name if isinstance(name, str) else ""
        context = {"errors": list(err.messages), "username": username}
        return render(request, "signup.html", context, status=400)
    await start_session(request, created)
    return RedirectResponse("/", status_code=303)


async def do_signin(request: Request) -> Response:
    """``POST /signin``."""
    feed = feed_of(request)
    form = await checked_form(request)
    name, password = form.get("username"), form.get("password")
    if not await sign_in(feed, name, password):
        username = name if isinstance(name, str) else ""
        context = {"error": "Wrong username or password.", "username": username}
        return render(request, "signin.html", context, status=400)
    await start_session(request, str(name))
    return RedirectResponse("/", status_code=303)


async def do_signout(request: Request) -> Response:
    """``POST /signout``: the session row is deleted, so the cookie is dead everywhere."""
    await checked_form(request)
    await feed_of(request).close_session(request.session.get("sid"))
    request.session.clear()
    return RedirectResponse("/", status_code=303)
