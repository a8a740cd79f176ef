"""What every route handler shares: the app's state, reads under the page's deadline,
the signed-in user, page rendering and request parsing.

Handlers are plain module-level functions of a :class:`~starlette.requests.Request`; all
they need hangs on ``request.app.state`` (Starlette's convention), set by
:func:`pagedlist.app.server.create_app`: ``feed``, ``config``, ``templates``,
``limiter`` and ``metrics``. A test can build that state and call one handler alone.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import humanize
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from pagedlist.app import security
from pagedlist.app.feed import Feed
from pagedlist.app.ratelimit import RateLimiter
from pagedlist.core.deadline import active
from pagedlist.errors import DeadlineExceeded, StoreError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_POSITION",
    "AppConfig",
    "api_error",
    "api_user",
    "checked_form",
    "config_of",
    "current_user",
    "feed_of",
    "int_param",
    "json_body",
    "limiter_of",
    "read",
    "render",
]

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
    #: Seconds a page's reads may take, retries included, before the 503 page.
    read_deadline: float = 2.0
    #: Writes (posts, replies, edits, deletes, follows) one account may make per
    #: ``write_window`` seconds.
    write_limit: int = 60
    write_window: float = 60.0


# --- state ------------------------------------------------------------------------------


def feed_of(request: Request) -> Feed:
    """The app's :class:`~pagedlist.app.feed.Feed`."""
    feed: Feed = request.app.state.feed
    return feed


def config_of(request: Request) -> AppConfig:
    """The app's :class:`AppConfig`."""
    cfg: AppConfig = request.app.state.config
    return cfg


def limiter_of(request: Request) -> RateLimiter:
    """The app's per-account write limiter."""
    limiter: RateLimiter = request.app.state.limiter
    return limiter


# --- store calls ------------------------------------------------------------------------


async def read(request: Request, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Await ``fn(*args)`` (store reads) under the page's read deadline.

    The deadline is the operation deadline adapters honour (``pagedlist.core.deadline``),
    and also a timeout on the whole call, so a page gives up on a dead store in time
    whatever the adapter does: its 503 comes within ``read_deadline``.
    """
    seconds = config_of(request).read_deadline
    with active(time.monotonic() + seconds):
        try:
            async with asyncio.timeout(seconds):
                return await fn(*args)
        except TimeoutError as err:
            if isinstance(err, StoreError):
                raise
            raise DeadlineExceeded(
                f"the store did not answer within the page's {seconds:g} s read deadline"
            ) from None


async def current_user(request: Request) -> str | None:
    """The signed-in user's name, or ``None`` (a dead session is dropped from the cookie)."""
    sid = request.session.get("sid")
    if sid is None:
        return None
    user = await read(request, feed_of(request).session_user, sid)
    if user is None:
        request.session.pop("sid", None)
    return user


# --- pages ------------------------------------------------------------------------------


def _when(ts: float) -> str:
    """An item's time as UTC text, e.g. ``2026-11-26 05:38 UTC``."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(ts: float) -> str:
    """An item's time for ``<time datetime=...>``, e.g. ``2026-11-26T05:38:12Z``."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ago(ts: float) -> str:
    """An item's time relative to now, e.g. ``5 minutes ago``."""
    return humanize.naturaltime(datetime.now(tz=UTC) - datetime.fromtimestamp(ts, tz=UTC))


def make_templates(directory: str, cfg: AppConfig, globals_: dict[str, Any]) -> Jinja2Templates:
    """The app's Jinja2 templates (autoescaping on) with its filters and globals."""
    templates = Jinja2Templates(directory=directory)
    templates.env.filters.update(when=_when, iso=_iso, ago=_ago)
    templates.env.globals.update(cfg=cfg, **globals_)
    return templates


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    """Template ``name`` with ``context``, the signed-in ``user`` (default none), whether
    items can be edited here, and the session's CSRF token for its forms."""
    feed = getattr(request.app.state, "feed", None)
    context = {
        "user": None,
        # Edit and delete controls show only where the store can carry them out.
        "editable": feed is not None and feed.editable,
        **context,
        "csrf": security.csrf_token(request),
    }
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status)


# --- request parsing --------------------------------------------------------------------


def int_param(request: Request, name: str, low: int, high: int) -> int | None:
    """Query parameter ``name`` as an int in ``[low, high]``, ``None`` if absent; 400
    naming the range otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not _INT_RE.fullmatch(raw) or not low <= int(raw) <= high:
        raise HTTPException(400, f"{name} must be an integer from {low} to {high}")
    return int(raw)


async def checked_form(request: Request) -> Any:
    """The posted form, after its CSRF token was checked (403 otherwise)."""
    form = await request.form()
    if not security.check_csrf(request, form.get("csrf")):
        raise HTTPException(403, "The form expired or came from another site; reload it.")
    return form


def api_error(status: int, message: str, **extra: Any) -> JSONResponse:
    """A JSON error answer: ``{"error": message, ...}``."""
    return JSONResponse({"error": message, **extra}, status_code=status)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body (415, 413 or 400 when it is not one)."""
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
    """The signed-in user of an API write, whose CSRF header was checked (401/403)."""
    user = await current_user(request)
    if user is None:
        raise HTTPException(401, "sign in first: POST /api/session")
    if not security.check_csrf(request, request.headers.get(security.CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong X-CSRF-Token header; see GET /api/session")
    return user
