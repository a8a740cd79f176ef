"""The feed app: the routing table, the middleware, the error pages and the app's state.

Pages are rendered on the server with Jinja2 (autoescaping on); the only JavaScript is
``static/app.js``, which polls the post count for the "new posts" notice and expands
collapsed reply threads in place (without it, the same links open the thread's page).

The handlers are module-level functions in :mod:`~pagedlist.app.pages` (HTML),
:mod:`~pagedlist.app.api` (JSON) and :mod:`~pagedlist.app.ops` (health, metrics); all
they need is on ``request.app.state``, which :func:`create_app` fills in and
:func:`start` completes: it opens the store with ``open_async_store`` (at the server's
lifespan startup, or on the first request when no lifespan runs) and every handler awaits
its calls on the event loop, through ``AsyncPagedList`` and the ``AsyncStore`` rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pagedlist import PagedListError, StoreError, open_async_store
from pagedlist.app import api, ops, pages
from pagedlist.app.common import MAX_BODY_BYTES, AppConfig, api_error, make_templates, render
from pagedlist.app.feed import MAX_TEXT_CHARS, Feed, new_id
from pagedlist.app.ratelimit import RateLimited, RateLimiter

__all__ = ["ROUTES", "AppConfig", "create_app", "start", "stop"]

HERE = Path(__file__).parent


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


# --- errors -----------------------------------------------------------------------------


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", {"status": status, "message": message}, status=status)


async def http_error(request: Request, exc: Exception) -> Response:
    """A refused request: ``{"error"}`` under ``/api/``, the styled error page elsewhere."""
    assert isinstance(exc, HTTPException)
    response: Response
    if _is_api(request):
        response = api_error(exc.status_code, str(exc.detail))
    else:
        response = _error_page(request, exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})  # e.g. Allow on a 405
    return response


async def store_error(request: Request, exc: Exception) -> Response:
    """The store failed or did not answer within the read deadline: 503, quickly."""
    message = "The store is unavailable right now; try again shortly."
    response = api_error(503, message) if _is_api(request) else _error_page(request, 503, message)
    response.headers["Retry-After"] = "5"
    return response


async def rate_limited(request: Request, exc: Exception) -> Response:
    """An account over its write limit: 429 with the wait in the message and Retry-After."""
    assert isinstance(exc, RateLimited)
    response: Response
    if _is_api(request):
        response = api_error(429, str(exc), retry_after=exc.retry_after)
    else:
        response = _error_page(request, 429, str(exc))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


# --- routes -----------------------------------------------------------------------------

_ID = "{item_id:item_id}"
_NAME = "{name:username}"

#: Every route of the app; the handlers read all they need from ``request.app.state``.
ROUTES = [
    Route("/", pages.feed_page, methods=["GET"]),
    Route("/home", pages.home_timeline, methods=["GET"]),
    Route("/posts", pages.create_post, methods=["POST"]),
    Route(f"/items/{_ID}", pages.item_page, methods=["GET"]),
    Route(f"/items/{_ID}/replies", pages.create_reply, methods=["POST"]),
    Route(f"/items/{_ID}/edit", pages.edit_item, methods=["POST"]),
    Route(f"/items/{_ID}/delete", pages.delete_item, methods=["POST"]),
    Route(f"/u/{_NAME}", pages.profile_page, methods=["GET"]),
    Route(f"/u/{_NAME}/follow", pages.follow, methods=["POST"]),
    Route(f"/u/{_NAME}/unfollow", pages.unfollow, methods=["POST"]),
    Route("/signup", pages.signup_page, methods=["GET"]),
    Route("/signup", pages.do_signup, methods=["POST"]),
    Route("/signin", pages.signin_page, methods=["GET"]),
    Route("/signin", pages.do_signin, methods=["POST"]),
    Route("/signout", pages.do_signout, methods=["POST"]),
    Route("/healthz", ops.healthz, methods=["GET"]),
    Route("/metrics", ops.metrics, methods=["GET"]),
    Route("/openapi.json", api.openapi, methods=["GET"]),
    Route("/api/feed", api.feed, methods=["GET"]),
    Route("/api/feed/count", api.feed_count, methods=["GET"]),
    Route("/api/home", api.home, methods=["GET"]),
    Route("/api/posts", api.create_post, methods=["POST"]),
    Route(f"/api/items/{_ID}", api.item, methods=["GET"]),
    Route(f"/api/items/{_ID}", api.edit_item, methods=["PATCH"]),
    Route(f"/api/items/{_ID}", api.delete_item, methods=["DELETE"]),
    Route(f"/api/items/{_ID}/replies", api.replies, methods=["GET"]),
    Route(f"/api/items/{_ID}/replies", api.create_reply, methods=["POST"]),
    Route("/api/session", api.session, methods=["GET"]),
    Route("/api/session", api.signin, methods=["POST"]),
    Route("/api/session", api.signout, methods=["DELETE"]),
    Route("/api/users", api.signup, methods=["POST"]),
    Route(f"/api/users/{_NAME}", api.user, methods=["GET"]),
    Route(f"/api/users/{_NAME}/posts", api.user_posts, methods=["GET"]),
    Route(f"/api/users/{_NAME}/follow", api.follow, methods=["POST"]),
    Route(f"/api/users/{_NAME}/follow", api.unfollow, methods=["DELETE"]),
    Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
]


async def start(app: Starlette) -> None:
    """Open the app's store and complete its state (``feed``, ``limiter``, the cookie
    secret); once per app, whoever comes first: the lifespan startup or a first request."""
    state = app.state
    if getattr(state, "feed", None) is not None:
        return
    lock = state.starting = getattr(state, "starting", None) or asyncio.Lock()
    async with lock:
        if getattr(state, "feed", None) is not None:
            return
        cfg: AppConfig = state.config
        store = await open_async_store(state.store_url)
        try:
            feed = await Feed.open(store, read_deadline=cfg.read_deadline)
            state.secret = cfg.secret or await feed.secret()
        except BaseException:
            await store.aclose()
            raise
        state.limiter = RateLimiter(store, cfg.write_limit, cfg.write_window)
        state.feed = feed


async def stop(app: Starlette) -> None:
    """Close the app's store (the lifespan shutdown)."""
    feed = getattr(app.state, "feed", None)
    if feed is not None:
        app.state.feed = None
        await feed.store.aclose()


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    await start(app)
    try:
        yield
    finally:
        await stop(app)


class _Sessions:
    """Starlette's ``SessionMiddleware``, made once the store is open: the cookie is
    signed with the store's shared secret, which only an open store can read. Opens the
    store on the first request when no lifespan ran (an ``httpx.ASGITransport``)."""

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self.app = app
        self.options = options
        self.sessions: SessionMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.sessions is None:
            starlette_app = scope["app"]
            try:
                await start(starlette_app)
            except PagedListError as err:
                # The exception handlers are further in: answer the outage here.
                response = JSONResponse(
                    {"error": f"the store is unavailable right now: {type(err).__name__}"},
                    status_code=503,
                    headers={"Retry-After": "5"},
                )
                await response(scope, receive, send)
                return
            self.sessions = SessionMiddleware(
                self.app, secret_key=starlette_app.state.secret, **self.options
            )
        await self.sessions(scope, receive, send)


def create_app(store_url: str, config: AppConfig | None = None) -> Starlette:
    """The ASGI app serving the feed stored at ``store_url`` (any pagedlist store).

    The store is opened (``await open_async_store(store_url)``) at the lifespan startup
    (uvicorn, or ``async with`` Starlette's ``TestClient``), else on the first request;
    see :func:`start`.
    """
    cfg = config or AppConfig()
    metrics = ops.Metrics()
    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(ops.AccessLog, metrics=metrics),
            Middleware(_SecurityHeaders),
            Middleware(
                _Sessions,
                session_cookie="pagedlist_session",
                same_site="lax",
                https_only=cfg.https_only,
            ),
        ],
        exception_handlers={
            HTTPException: http_error,
            StoreError: store_error,
            RateLimited: rate_limited,
        },
        lifespan=_lifespan,
    )
    app.state.store_url = store_url
    app.state.feed = None
    app.state.config = cfg
    app.state.metrics = metrics
    app.state.templates = make_templates(
        str(HERE / "templates"), cfg, {"max_text": MAX_TEXT_CHARS, "new_id": new_id}
    )
    return app
