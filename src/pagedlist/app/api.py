"""The JSON API (described by :mod:`pagedlist.app.openapi` at ``/openapi.json``).

Each handler is a module-level function of the request; see :mod:`pagedlist.app.common`
for the state they read from ``request.app.state``.
"""

from __future__ import annotations

import asyncio
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
)
from pagedlist.app.feed import (
    Conflict,
    Entry,
    Feed,
    InvalidInput,
    NotAllowed,
    NotEditable,
    NotFound,
    entry_from_item,
)
from pagedlist.app.openapi import OPENAPI
from pagedlist.app.security import csrf_token
from pagedlist.app.timeline import InvalidCursor

__all__ = [
    "create_post",
    "create_reply",
    "delete_item",
    "edit_item",
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


async def _with_counts(store_feed: Feed, entries: list[Entry]) -> list[dict[str, Any]]:
    return [e.to_json(n) for e, n in await store_feed.with_counts(entries)]


async def feed(request: Request) -> Response:
    """``GET /api/feed?before&limit``: posts newest first."""
    f = feed_of(request)
    before = int_param(request, "before", 0, MAX_POSITION)
    limit = int_param(request, "limit", 1, 100) or config_of(request).page_size

    async def load() -> dict[str, Any]:
        page = await f.posts(before, limit)
        return {
            "count": page.count,
            "items": await _with_counts(f, page.items),
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

    async def load() -> dict[str, Any]:
        found, replies = await asyncio.gather(f.entry(item_id), f.reply_count(item_id))
        answer = found.to_json(replies)
        del answer["position"]  # where it sits in its parent's list: not part of an item
        return answer

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

    async def load() -> dict[str, Any]:
        page = await f.replies(item_id, -1 if after is None else after, limit)
        return {
            "count": page.count,
            "items": await _with_counts(f, page.items),
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
    # The feed checks the text (a missing or non-string one is InvalidInput, a 400).
    text: Any = body.get("text")
    item_id = body.get("id")
    if item_id is not None and (not isinstance(item_id, str) or not _ID_RE.fullmatch(item_id)):
        return api_error(400, "id must be 32 lowercase hex digits (an idempotency key)")
    await limiter_of(request).hit(author)
    try:
        if parent_id is None:
            entry = await f.add_post(author, text, item_id)
        else:
            entry = await f.add_reply(parent_id, author, text, item_id)
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


def _refused(err: Exception, item_id: str) -> Response:
    if isinstance(err, NotAllowed):
        return api_error(403, "only its author can edit or delete this item")
    if isinstance(err, NotEditable):
        return api_error(409, str(err))
    if isinstance(err, NotFound):
        return api_error(404, f"no post or comment with id {item_id}")
    return api_error(400, str(err))


async def edit_item(request: Request) -> Response:
    """``PATCH /api/items/{id}`` ``{"text"}``: the author's new text; answers the item,
    whose ``edited`` is now."""
    f = feed_of(request)
    item_id = request.path_params["item_id"]
    author = await api_user(request)
    body = await json_body(request)
    await limiter_of(request).hit(author)
    try:
        text: Any = body.get("text")  # checked by the feed, as in _create
        entry = await f.edit(item_id, author, text)
    except (NotAllowed, NotEditable, NotFound, InvalidInput, InvalidValue) as err:
        return _refused(err, item_id)
    return JSONResponse(entry.to_json(await read(request, f.reply_count, item_id)))


async def delete_item(request: Request) -> Response:
    """``DELETE /api/items/{id}``: the author deletes it (204). One with replies stays
    as ``"deleted": true`` without author or text, and keeps its replies."""
    f = feed_of(request)
    item_id = request.path_params["item_id"]
    author = await api_user(request)
    await limiter_of(request).hit(author)
    try:
        await f.delete(item_id, author)
    except (NotAllowed, NotEditable, NotFound) as err:
        return _refused(err, item_id)
    return Response(status_code=204)


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

    async def load() -> dict[str, Any]:
        if await f.user(name) is None:
            raise NotFound(name)
        page = await f.author_posts(name, before, limit)
        return {
            "count": page.count,
            "items": await _with_counts(f, page.items),
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
    await limiter_of(request).hit(who)
    try:
        await (f.follow if on else f.unfollow)(who, name)
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

    async def load() -> dict[str, Any]:
        page = await f.home(who, limit, cursor)
        entries = [entry_from_item(i) for i in page.items]
        return {"items": await _with_counts(f, entries), "next_cursor": page.cursor}

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
        created = await sign_up(feed_of(request), name, password)
    except SignupRefused as err:
        status = 409 if err.taken and len(err.messages) == 1 else 400
        return api_error(status, str(err), errors=list(err.messages))
    csrf = await start_session(request, created)
    return JSONResponse({"username": created, "csrf": csrf}, status_code=201)


async def signin(request: Request) -> Response:
    """``POST /api/session``: sign in."""
    body = await json_body(request)
    name, password = body.get("username"), body.get("password")
    if not await sign_in(feed_of(request), name, password):
        return api_error(401, "wrong username or password")
    csrf = await start_session(request, str(name))
    return JSONResponse({"username": name, "csrf": csrf})


async def signout(request: Request) -> Response:
    """``DELETE /api/session``: sign out."""
    await feed_of(request).close_session(request.session.get("sid"))
    request.session.clear()
    return Response(status_code=204)


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``."""
    return JSONResponse(OPENAPI)
