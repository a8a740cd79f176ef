"""The JSON API (described by :mod:`pagedlist.app.openapi` at ``/openapi.json``).

Each handler is a module-level function of the request; see :mod:`pagedlist.app.common`
for the state they read from ``request.app.state``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pagedlist import InvalidValue
from pagedlist.app.accounts import SignupRefused, sign_in, sign_up, start_session
from pagedlist.app.common import (
    MAX_POSITION,
    api_error,
    api_user,
    config_of,
    current_user,
    feed_of,
    int_param,
    json_body,
    limiter_of,
    read,
    write,
)
from pagedlist.app.feed import Conflict, Entry, Feed, InvalidInput, NotFound, entry_from_item
from pagedlist.app.openapi import OPENAPI
from pagedlist.app.security import csrf_token
from pagedlist.app.timeline import InvalidCursor

__all__ = [
    "create_post",
    "create_reply",
    "feed",
    "feed_count",
    "follow",
    "home",
    "item",
    "openapi",
    "replies",
    "session",
    "signin",
    "signout",
    "signup",
    "unfollow",
    "user",
    "user_posts",
]

_ID_RE = re.compile(r"[0-9a-f]{32}")


def _with_counts(store_feed: Feed, entries: list[Entry]) -> list[dict[str, Any]]:
    return [e.to_json(store_feed.reply_count(e.id)) for e in entries]


async def feed(request: Request) -> Response:
    """``GET /api/feed?before&limit``: posts newest first."""
    f = feed_of(request)
    before = int_param(request, "before", 0, MAX_POSITION)
    limit = int_param(request, "limit", 1, 100) or config_of(request).page_size

    def load() -> dict[str, Any]:
        page = f.posts(before, limit)
        return {
            "count": page.count,
            "items": _with_counts(f, page.items),
            "next_before": page.next_cursor,
        }

    return JSONResponse(await read(request, load))


async def feed_count(request: Request) -> Response:
    """``GET /api/feed/count``."""
    return JSONResponse({"count": await read(request, feed_of(request).post_count)})


async def item(request: Request) -> Response:
    """``GET /api/items/{id}``: one post or comment and its reply count."""
    f = feed_of(request)
    item_id = request.path_params["item_id"]

    def load() -> dict[str, Any]:
        found = f.item(item_id)
        return {
            "id": item_id,
            "author": found["author"],
            "text": found["text"],
            "parent": found["parent"],
            "post": found["post"],
            "depth": found["depth"],
            "ts": found["ts"],
            "replies": f.reply_count(item_id),
        }

    try:
        return JSONResponse(await read(request, load))
    except NotFound:
        return api_error(404, f"no post or comment with id {item_id}")


async def replies(request: Request) -> Response:
    """``GET /api/items/{id}/replies?after&limit``: direct replies oldest first."""
    f = feed_of(request)
    item_id = request.path_params["item_id"]
    after = int_param(request, "after", -1, MAX_POSITION)
    limit = int_param(request, "limit", 1, 100) or config_of(request).replies_page

    def load() -> dict[str, Any]:
        page = f.replies(item_id, -1 if after is None else after, limit)
        return {
            "count": page.count,
            "items": _with_counts(f, page.items),
            "next_after": page.next_cursor,
        }

    try:
        return JSONResponse(await read(request, load))
    except NotFound:
        return api_error(404, f"no post or comment with id {item_id}")


async def _create(request: Request, parent_id: str | None) -> Response:
    f = feed_of(request)
    author = await api_user(request)
    body = await json_body(request)
    text, item_id = body.get("text"), body.get("id")
    if item_id is not None and (not isinstance(item_id, str) or not _ID_RE.fullmatch(item_id)):
        return api_error(400, "id must be 32 lowercase hex digits (an idempotency key)")
    await write(limiter_of(request).hit, author)
    try:
        if parent_id is None:
            entry = await write(f.add_post, author, text, item_id)
        else:
            entry = await write(f.add_reply, parent_id, author, text, item_id)
    except NotFound:
        return api_error(404, f"no post or comment with id {parent_id}")
    except (InvalidInput, InvalidValue) as err:
        return api_error(400, str(err))
    except Conflict as err:
        return api_error(409, str(err))
    return JSONResponse(entry.to_json(0), status_code=201)


async def create_post(request: Request) -> Response:
    """``POST /api/posts`` ``{"text", "id"?}``."""
    return await _create(request, None)


async def create_reply(request: Request) -> Response:
    """``POST /api/items/{id}/replies`` ``{"text", "id"?}``."""
    return await _create(request, request.path_params["item_id"])


# --- users, follows and the home timeline ----------------------------------------------


async def user(request: Request) -> Response:
    """``GET /api/users/{name}``: post, follower and following counts."""
    name = request.path_params["name"]
    viewer = await current_user(request)
    try:
        profile = await read(request, feed_of(request).profile, name, viewer)
    except NotFound:
        return api_error(404, f"no user called {name}")
    return JSONResponse(profile.to_json())


async def user_posts(request: Request) -> Response:
    """``GET /api/users/{name}/posts?before&limit``: that user's posts, newest first."""
    f = feed_of(request)
    name = request.path_params["name"]
    before = int_param(request, "before", 0, MAX_POSITION)
    limit = int_param(request, "limit", 1, 100) or config_of(request).page_size

    def load() -> dict[str, Any]:
        if f.user(name) is None:
            raise NotFound(name)
        page = f.author_posts(name, before, limit)
        return {
            "count": page.count,
            "items": _with_counts(f, page.items),
            "next_before": page.next_cursor,
        }

    try:
        return JSONResponse(await read(request, load))
    except NotFound:
        return api_error(404, f"no user called {name}")


async def _follow(request: Request, on: bool) -> Response:
    f = feed_of(request)
    name = request.path_params["name"]
    who = await api_user(request)
    await write(limiter_of(request).hit, who)
    try:
        await write(f.follow if on else f.unfollow, who, name)
    except NotFound:
        return api_error(404, f"no user called {name}")
    except InvalidInput as err:
        return api_error(400, str(err))
    except Conflict as err:
        return api_error(409, str(err))
    profile = await read(request, f.profile, name, who)
    return JSONResponse(profile.to_json())


async def follow(request: Request) -> Response:
    """``POST /api/users/{name}/follow``: follow (idempotent); answers their profile."""
    return await _follow(request, True)


async def unfollow(request: Request) -> Response:
    """``DELETE /api/users/{name}/follow``: stop following (idempotent)."""
    return await _follow(request, False)


async def home(request: Request) -> Response:
    """``GET /api/home?cursor&limit``: the signed-in user's home timeline."""
    f = feed_of(request)
    who = await current_user(request)
    if who is None:
        return api_error(401, "sign in first: POST /api/session")
    limit = int_param(request, "limit", 1, 100) or config_of(request).page_size
    cursor = request.query_params.get("cursor") or None

    def load() -> dict[str, Any]:
        page = f.home(who, limit, cursor)
        entries = [entry_from_item(i) for i in page.items]
        return {"items": _with_counts(f, entries), "next_cursor": page.cursor}

    try:
        return JSONResponse(await read(request, load))
    except InvalidCursor as err:
        return api_error(400, str(err))


# --- sessions ---------------------------------------------------------------------------


async def session(request: Request) -> Response:
    """``GET /api/session``: who is signed in, and the CSRF token for writes."""
    who = await current_user(request)
    return JSONResponse({"username": who, "csrf": csrf_token(request)})


async def signup(request: Request) -> Response:
    """``POST /api/users``: sign up and in; every problem of the request at once."""
    body = await json_body(request)
    name, password = body.get("username"), body.get("password")
    try:
        created = await write(sign_up, feed_of(request), name, password)
    except SignupRefused as err:
        status = 409 if err.taken and len(err.messages) == 1 else 400
        return api_error(status, str(err), errors=list(err.messages))
    csrf = await start_session(request, created)
    return JSONResponse({"username": created, "csrf": csrf}, status_code=201)


async def signin(request: Request) -> Response:
    """``POST /api/session``: sign in."""
    body = await json_body(request)
    name, password = body.get("username"), body.get("password")
    if not await write(sign_in, feed_of(request), name, password):
        return api_error(401, "wrong username or password")
    csrf = await start_session(request, str(name))
    return JSONResponse({"username": name, "csrf": csrf})


async def signout(request: Request) -> Response:
    """``DELETE /api/session``: sign out."""
    await write(feed_of(request).close_session, request.session.get("sid"))
    request.session.clear()
    return Response(status_code=204)


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``."""
    return JSONResponse(OPENAPI)
