"""The feed app: Starlette routes for the HTML pages and the JSON API.

Pages are rendered on the server with Jinja2 (autoescaping on); the only JavaScript is
``static/app.js``, which polls the post count for the "new posts" notice and expands
collapsed reply threads in place (without it, the same links open the thread's page).

Store calls block, so every handler runs them in Starlette's thread pool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pagedlist import InvalidValue, StoreError, open_store
from pagedlist.app import security
from pagedlist.app.feed import (
    MAX_TEXT_CHARS,
    Conflict,
    Entry,
    Feed,
    InvalidInput,
    NotFound,
    check_item_id,
    check_password,
    check_username,
    new_id,
)
from pagedlist.app.openapi import OPENAPI

__all__ = ["AppConfig", "create_app"]

HERE = Path(__file__).parent
T = TypeVar("T")
MAX_POSITION = 2**53 - 1
#: Larger than any valid form or JSON body (1000 characters of text, escaped).
MAX_BODY_BYTES = 64 * 1024
_INT_RE = re.compile(r"-?[0-9]{1,16}")


@dataclass(frozen=True, slots=True)
class AppConfig:
    """Tunables; the defaults suit people, tests shrink them to reach paging quickly."""

    page_size: int = 20
    replies_page: int = 10
    #: Reply levels rendered inline under a post; deeper ones collapse behind a link.
    inline_depth: int = 2
    #: Replies shown inline per comment before a "more replies" link.
    inline_replies: int = 3
    #: How often the feed page asks whether new posts arrived (milliseconds).
    poll_ms: int = 5000
    secret: str | None = None
    https_only: bool = False


@dataclass
class Node:
    """A reply tree node for the templates: an entry, its reply count and loaded replies."""

    entry: Entry
    count: int
    children: list[Node]
    next_cursor: int | None


def wrapped_send(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    """``send`` with ``headers`` added to the response start."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *headers]
        await send(message)

    return wrapped


class _SecurityHeaders:
    """Adds a strict Content-Security-Policy and friends to every response, and refuses
    bodies over ``MAX_BODY_BYTES`` (413) before anything reads them."""

    HEADERS = [
        (
            b"content-security-policy",
            b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
            b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            # No form or JSON body here is near this size: refuse before reading it.
            too_big = JSONResponse(
                {"error": f"the request body is over {MAX_BODY_BYTES} bytes"}, status_code=413
            )
            await too_big(scope, receive, wrapped_send(send, self.HEADERS))
            return

        await self.app(scope, receive, wrapped_send(send, self.HEADERS))


def _when(ts: float) -> str:
    """An item's time as UTC text, e.g. ``2026-11-26 05:38 UTC``."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _int_param(request: Request, name: str, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not _INT_RE.fullmatch(raw) or not low <= int(raw) <= high:
        raise HTTPException(400, f"{name} must be an integer from {low} to {high}")
    return int(raw)


def create_app(store_url: str, config: AppConfig | None = None) -> Starlette:
    """The ASGI app serving the feed stored at ``store_url`` (any pagedlist store)."""
    cfg = config or AppConfig()
    feed = Feed(open_store(store_url))
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["when"] = _when
    templates.env.globals.update(max_text=MAX_TEXT_CHARS, cfg=cfg, new_id=new_id)

    async def call(fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(fn, *args)

    async def current_user(request: Request) -> str | None:
        sid = request.session.get("sid")
        if sid is None:
            return None
        user = await call(feed.session_user, sid)
        if user is None:
            request.session.pop("sid", None)
        return user

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        context = {"user": None, **context, "csrf": security.csrf_token(request)}
        return templates.TemplateResponse(request, name, context, status_code=status)

    def load_tree(
        item_id: str, after: int, limit: int, depth_left: int
    ) -> tuple[list[Node], int, int | None]:
        page = feed.replies(item_id, after, limit)
        nodes = []
        for entry in page.items:
            if depth_left > 0:
                kids, count, cursor = load_tree(entry.id, -1, cfg.inline_replies, depth_left - 1)
                nodes.append(Node(entry, count, kids, cursor))
            else:
                nodes.append(Node(entry, feed.reply_count(entry.id), [], None))
        return nodes, page.count, page.next_cursor

    def feed_page(before: int | None) -> dict[str, Any]:
        page = feed.posts(before, cfg.page_size)
        posts = [(e, feed.reply_count(e.id)) for e in page.items]
        return {"posts": posts, "count": page.count, "next": page.next_cursor}

    # --- HTML pages -------------------------------------------------------------------

    async def home(request: Request) -> Response:
        before = _int_param(request, "before", 0, MAX_POSITION)
        user = await current_user(request)
        data = await call(feed_page, before)
        return render(
            request,
            "feed.html",
            {**data, "user": user, "before": before, "error": None, "text": "", "nonce": new_id()},
        )

    async def checked_form(request: Request) -> Any:
        """The posted form, after its CSRF token was checked (403 otherwise)."""
        form = await request.form()
        if not security.check_csrf(request, form.get("csrf")):
            raise HTTPException(403, "The form expired or came from another site; reload it.")
        return form

    async def create_post(request: Request) -> Response:
        form = await checked_form(request)
        user = await current_user(request)
        if user is None:
            return RedirectResponse("/signin", status_code=303)
        text = form.get("text")
        nonce = form.get("nonce") if isinstance(form.get("nonce"), str) else None
        try:
            nonce = check_item_id(nonce) if nonce else None
            await call(feed.add_post, user, text, nonce)
        except (InvalidInput, InvalidValue, NotFound, Conflict) as err:
            msg = str(err) if not isinstance(err, NotFound) else "The form is invalid; reload it."
            data = await call(feed_page, None)
            return render(
                request,
                "feed.html",
                {
                    **data,
                    "user": user,
                    "before": None,
                    "error": msg,
                    "text": text if isinstance(text, str) else "",
                    "nonce": new_id(),
                },
                status=400,
            )
        return RedirectResponse("/", status_code=303)

    async def item_page(request: Request) -> Response:
        item_id = request.path_params["item_id"]
        after = _int_param(request, "after", -1, MAX_POSITION)
        user = await current_user(request)

        def load() -> dict[str, Any]:
            item = feed.item(item_id)
            nodes, count, cursor = load_tree(
                item_id, -1 if after is None else after, cfg.replies_page, cfg.inline_depth - 1
            )
            return {"item": item, "nodes": nodes, "count": count, "next": cursor}

        try:
            data = await call(load)
        except NotFound:
            raise HTTPException(404, "No such post or comment.") from None
        if request.query_params.get("fragment") == "1":
            return render(request, "_replies.html", {**data, "user": user, "parent": item_id})
        return render(
            request,
            "item.html",
            {**data, "user": user, "after": after, "error": None, "text": "", "nonce": new_id()},
        )

    async def create_reply(request: Request) -> Response:
        parent_id = request.path_params["item_id"]
        form = await checked_form(request)
        user = await current_user(request)
        if user is None:
            return RedirectResponse("/signin", status_code=303)
        text = form.get("text")
        nonce = form.get("nonce") if isinstance(form.get("nonce"), str) else None
        try:
            parent = await call(feed.item, parent_id)
        except NotFound:
            raise HTTPException(404, "No such post or comment.") from None
        try:
            nonce = check_item_id(nonce) if nonce else None
            entry = await call(feed.add_reply, parent_id, user, text, nonce)
        except (InvalidInput, InvalidValue, Conflict, NotFound) as err:
            msg = str(err) if not isinstance(err, NotFound) else "The form is invalid; reload it."

            def load() -> dict[str, Any]:
                nodes, count, cursor = load_tree(
                    parent_id, -1, cfg.replies_page, cfg.inline_depth - 1
                )
                return {"item": parent, "nodes": nodes, "count": count, "next": cursor}

            data = await call(load)
            return render(
                request,
                "item.html",
                {
                    **data,
                    "user": user,
                    "after": None,
                    "error": msg,
                    "text": text if isinstance(text, str) else "",
                    "nonce": new_id(),
                },
                status=400,
            )
        # Back to the page the reply form was on: the post's page, at the new reply.
        back = form.get("back")
        target = (
            back if isinstance(back, str) and re.fullmatch(r"[0-9a-f]{32}", back) else entry.post
        )
        return RedirectResponse(f"/items/{target}#c-{entry.id}", status_code=303)

    async def signup_page(request: Request) -> Response:
        return render(request, "signup.html", {"error": None, "username": ""})

    async def signin_page(request: Request) -> Response:
        return render(request, "signin.html", {"error": None, "username": ""})

    async def do_signup(request: Request) -> Response:
        form = await checked_form(request)
        name, password = form.get("username"), form.get("password")
        try:
            await call(sign_up, name, password)
        except (InvalidInput, Conflict) as err:
            username = name if isinstance(name, str) else ""
            return render(
                request, "signup.html", {"error": str(err), "username": username}, status=400
            )
        await start_session(request, str(name))
        return RedirectResponse("/", status_code=303)

    async def do_signin(request: Request) -> Response:
        form = await checked_form(request)
        name, password = form.get("username"), form.get("password")
        if not await call(sign_in, name, password):
            username = name if isinstance(name, str) else ""
            return render(
                request,
                "signin.html",
                {"error": "Wrong username or password.", "username": username},
                status=400,
            )
        await start_session(request, str(name))
        return RedirectResponse("/", status_code=303)

    async def do_signout(request: Request) -> Response:
        await checked_form(request)
        await call(feed.close_session, request.session.get("sid"))
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    # --- accounts (shared by pages and API) -------------------------------------------

    def sign_up(name: object, password: object) -> None:
        name = check_username(name)
        password = check_password(password)
        feed.create_user(name, security.hash_password(password))

    def sign_in(name: object, password: object) -> bool:
        if not isinstance(name, str) or not isinstance(password, str) or len(password) > 256:
            return False
        row = feed.user(name)
        ok = security.verify_password(None if row is None else row["hash"], password)
        if ok and row is not None and security.needs_rehash(row["hash"]):
            feed.update_user(name, {"hash": security.hash_password(password)})
        return ok

    async def start_session(request: Request, name: str) -> str:
        old = request.session.get("sid")
        if old is not None:
            await call(feed.close_session, old)
        request.session.clear()
        request.session["sid"] = await call(feed.open_session, name)
        # A new CSRF token per sign-in: a token seen before signing in is worthless after.
        return security.csrf_token(request)

    # --- JSON API ---------------------------------------------------------------------

    def api_error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def json_body(request: Request) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HTTPException(415, "send the body as application/json")
        raw = bytearray()
        async for chunk in request.stream():  # bounded even without a Content-Length
            raw += chunk
            if len(raw) > MAX_BODY_BYTES:
                raise HTTPException(413, f"the request body is over {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(bytes(raw))
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "the body must be a JSON object")
        return body

    async def api_user(request: Request) -> str:
        user = await current_user(request)
        if user is None:
            raise HTTPException(401, "sign in first: POST /api/session")
        if not security.check_csrf(request, request.headers.get(security.CSRF_HEADER)):
            raise HTTPException(403, "missing or wrong X-CSRF-Token header; see GET /api/session")
        return user

    def with_counts(entries: list[Entry]) -> list[dict[str, Any]]:
        return [e.to_json(feed.reply_count(e.id)) for e in entries]

    async def api_feed(request: Request) -> Response:
        before = _int_param(request, "before", 0, MAX_POSITION)
        limit = _int_param(request, "limit", 1, 100) or cfg.page_size

        def load() -> dict[str, Any]:
            page = feed.posts(before, limit)
            return {
                "count": page.count,
                "items": with_counts(page.items),
                "next_before": page.next_cursor,
            }

        return JSONResponse(await call(load))

    async def api_feed_count(request: Request) -> Response:
        return JSONResponse({"count": await call(feed.post_count)})

    async def api_item(request: Request) -> Response:
        item_id = request.path_params["item_id"]

        def load() -> dict[str, Any]:
            item = feed.item(item_id)
            return {
                "id": item_id,
                "author": item["author"],
                "text": item["text"],
                "parent": item["parent"],
                "post": item["post"],
                "depth": item["depth"],
                "replies": feed.reply_count(item_id),
            }

        try:
            return JSONResponse(await call(load))
        except NotFound:
            return api_error(404, f"no post or comment with id {item_id}")

    async def api_replies(request: Request) -> Response:
        item_id = request.path_params["item_id"]
        after = _int_param(request, "after", -1, MAX_POSITION)
        limit = _int_param(request, "limit", 1, 100) or cfg.replies_page

        def load() -> dict[str, Any]:
            page = feed.replies(item_id, -1 if after is None else after, limit)
            return {
                "count": page.count,
                "items": with_counts(page.items),
                "next_after": page.next_cursor,
            }

        try:
            return JSONResponse(await call(load))
        except NotFound:
            return api_error(404, f"no post or comment with id {item_id}")

    def entry_json(entry: Entry) -> dict[str, Any]:
        return entry.to_json(0)

    async def api_create(request: Request, parent_id: str | None) -> Response:
        user = await api_user(request)
        body = await json_body(request)
        text, item_id = body.get("text"), body.get("id")
        if item_id is not None and (
            not isinstance(item_id, str) or not re.fullmatch(r"[0-9a-f]{32}", item_id)
        ):
            return api_error(400, "id must be 32 lowercase hex digits (an idempotency key)")
        try:
            if parent_id is None:
                entry = await call(feed.add_post, user, text, item_id)
            else:
                entry = await call(feed.add_reply, parent_id, user, text, item_id)
        except NotFound:
            return api_error(404, f"no post or comment with id {parent_id}")
        except (InvalidInput, InvalidValue) as err:
            return api_error(400, str(err))
        except Conflict as err:
            return api_error(409, str(err))
        return JSONResponse(entry_json(entry), status_code=201)

    async def api_create_post(request: Request) -> Response:
        return await api_create(request, None)

    async def api_create_reply(request: Request) -> Response:
        return await api_create(request, request.path_params["item_id"])

    async def api_session(request: Request) -> Response:
        user = await current_user(request)
        return JSONResponse({"username": user, "csrf": security.csrf_token(request)})

    async def api_signup(request: Request) -> Response:
        body = await json_body(request)
        name, password = body.get("username"), body.get("password")
        try:
            await call(sign_up, name, password)
        except InvalidInput as err:
            return api_error(400, str(err))
        except Conflict as err:
            return api_error(409, str(err))
        csrf = await start_session(request, str(name))
        return JSONResponse({"username": name, "csrf": csrf}, status_code=201)

    async def api_signin(request: Request) -> Response:
        body = await json_body(request)
        name, password = body.get("username"), body.get("password")
        if not await call(sign_in, name, password):
            return api_error(401, "wrong username or password")
        csrf = await start_session(request, str(name))
        return JSONResponse({"username": name, "csrf": csrf})

    async def api_signout(request: Request) -> Response:
        await call(feed.close_session, request.session.get("sid"))
        request.session.clear()
        return Response(status_code=204)

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    # --- errors -----------------------------------------------------------------------

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            response: Response = api_error(exc.status_code, str(exc.detail))
        else:
            response = render(
                request,
                "error.html",
                {"status": exc.status_code, "message": exc.detail},
                status=exc.status_code,
            )
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    async def store_error(request: Request, exc: Exception) -> Response:
        message = "The store is unavailable right now; try again shortly."
        if request.url.path.startswith("/api/"):
            return api_error(503, message)
        return HTMLResponse(f"<h1>503</h1><p>{message}</p>", status_code=503)

    id_path = "{item_id:item_id}"
    routes = [
        Route("/", home, methods=["GET"]),
        Route("/posts", create_post, methods=["POST"]),
        Route(f"/items/{id_path}", item_page, methods=["GET"]),
        Route(f"/items/{id_path}/replies", create_reply, methods=["POST"]),
        Route("/signup", signup_page, methods=["GET"]),
        Route("/signup", do_signup, methods=["POST"]),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", do_signin, methods=["POST"]),
        Route("/signout", do_signout, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/api/feed", api_feed, methods=["GET"]),
        Route("/api/feed/count", api_feed_count, methods=["GET"]),
        Route("/api/posts", api_create_post, methods=["POST"]),
        Route(f"/api/items/{id_path}", api_item, methods=["GET"]),
        Route(f"/api/items/{id_path}/replies", api_replies, methods=["GET"]),
        Route(f"/api/items/{id_path}/replies", api_create_reply, methods=["POST"]),
        Route("/api/session", api_session, methods=["GET"]),
        Route("/api/session", api_signin, methods=["POST"]),
        Route("/api/session", api_signout, methods=["DELETE"]),
        Route("/api/users", api_signup, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    secret = cfg.secret or feed.secret()
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(_SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie="pagedlist_session",
                same_site="lax",
                https_only=cfg.https_only,
            ),
        ],
        exception_handlers={HTTPException: http_error, StoreError: store_error},
    )
    app.state.feed = feed
    app.state.config = cfg
    return app
