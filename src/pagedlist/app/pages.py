"""The HTML pages: feed, home timeline, threads, profiles, accounts.

Each handler is a module-level function of the request; the feed, the config and the
templates come from ``request.app.state`` (see :mod:`pagedlist.app.common`).
"""

from __future__ import annotations

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
    write,
)
from pagedlist.app.feed import (
    Conflict,
    Entry,
    Feed,
    InvalidInput,
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
    "do_signin",
    "do_signout",
    "do_signup",
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


@dataclass
class Node:
    """A reply tree node for the templates: an entry, its reply count and loaded replies."""

    entry: Entry
    count: int
    children: list[Node]
    next_cursor: int | None
    focused: bool = False


def load_tree(
    feed: Feed,
    cfg: AppConfig,
    item_id: str,
    after: int,
    limit: int,
    depth_left: int,
    chain: list[str] | None = None,
) -> tuple[list[Node], int, int | None]:
    """The replies to ``item_id`` as nodes, ``depth_left`` levels expanded inline.

    ``chain`` is the path from a reply of ``item_id`` down to one item to show whatever
    its depth (a reply just posted): every level on it is expanded, and an item of the
    path that is not on the loaded page is added to it.
    """
    chain = chain or []
    page = feed.replies(item_id, after, limit)
    entries = list(page.items)
    if chain and all(e.id != chain[0] for e in entries):
        entries.append(feed.entry(chain[0]))
    nodes = []
    for entry in entries:
        on_chain = bool(chain) and entry.id == chain[0]
        if on_chain or depth_left > 0:
            rest = chain[1:] if on_chain else None
            kids, count, cursor = load_tree(
                feed, cfg, entry.id, -1, cfg.inline_replies, depth_left - 1, rest
            )
            nodes.append(Node(entry, count, kids, cursor, on_chain and not rest))
        else:
            nodes.append(Node(entry, feed.reply_count(entry.id), [], None))
    return nodes, page.count, page.next_cursor


def _chain(feed: Feed, top: dict[str, Any], focus: str) -> list[str]:
    """The ids from a reply of ``top`` down to ``focus``, or ``[]`` if ``focus`` is not
    below ``top``."""
    path = [focus]
    item = feed.item(focus)
    for _ in range(int(item["depth"]) - int(top["depth"]) - 1):
        parent = item["parent"]
        if parent is None:
            return []
        path.insert(0, parent)
        item = feed.item(parent)
    return path if item["parent"] == top["id"] else []


def _with_counts(feed: Feed, entries: list[Entry]) -> list[tuple[Entry, int]]:
    return [(e, feed.reply_count(e.id)) for e in entries]


# --- the global feed --------------------------------------------------------------------


def _feed_context(feed: Feed, cfg: AppConfig, before: int | None) -> dict[str, Any]:
    page = feed.posts(before, cfg.page_size)
    return {"posts": _with_counts(feed, page.items), "count": page.count, "next": page.next_cursor}


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
    await write(limiter_of(request).hit, user)
    try:
        await write(feed.add_post, user, text, _nonce(form))
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

    def load() -> dict[str, Any]:
        page = feed.home(user, cfg.page_size, cursor)
        entries = [entry_from_item(i) for i in page.items]
        return {
            "posts": _with_counts(feed, entries),
            "next": page.cursor,
            "following": len(feed.following(user)),
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

    def load() -> dict[str, Any]:
        profile = feed.profile(name, user)
        page = feed.author_posts(name, before, cfg.page_size)
        return {
            "profile": profile,
            "posts": _with_counts(feed, page.items),
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
    await write(limiter_of(request).hit, user)
    try:
        await write(feed.follow if on else feed.unfollow, user, name)
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


def _thread_context(
    feed: Feed, cfg: AppConfig, item_id: str, after: int | None, focus: str | None
) -> dict[str, Any]:
    item = feed.item(item_id)
    chain: list[str] = []
    if focus is not None and after is None:
        try:
            chain = _chain(feed, item, focus)
        except NotFound:
            chain = []
    nodes, count, cursor = load_tree(
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
        await read(request, feed.item, parent_id)
    except NotFound:
        raise HTTPException(404, "No such post or comment.") from None
    await write(limiter_of(request).hit, user)
    try:
        entry = await write(feed.add_reply, parent_id, user, text, _nonce(form))
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
        created = await write(sign_up, feed, name, password)
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
    if not await write(sign_in, feed, name, password):
        username = name if isinstance(name, str) else ""
        context = {"error": "Wrong username or password.", "username": username}
        return render(request, "signin.html", context, status=400)
    await start_session(request, str(name))
    return RedirectResponse("/", status_code=303)


async def do_signout(request: Request) -> Response:
    """``POST /signout``: the session row is deleted, so the cookie is dead everywhere."""
    await checked_form(request)
    await write(feed_of(request).close_session, request.session.get("sid"))
    request.session.clear()
    return RedirectResponse("/", status_code=303)
