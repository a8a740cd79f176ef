"""Operating the app: an access log line and metrics per request, ``/healthz``, ``/metrics``.

* Access log: one INFO line per request on the ``pagedlist.app`` logger, e.g.
  ``GET /items/ab12... 200 3.1ms``. The path only: no query string (it may carry a
  cursor or a token someone pasted), no cookies, no headers.
* Metrics (``prometheus-client``, one registry per app): ``pagedlist_app_requests_total``
  and ``pagedlist_app_request_duration_seconds`` by method, route template (``/items/
  {item_id}``, never the raw path, so ids do not explode the label set) and status.
* ``/healthz``: one read of the store within ``HEALTH_TIMEOUT`` seconds: 200
  ``{"status": "ok"}``, else 503 with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pagedlist.app.common import feed_of
from pagedlist.app.feed import SECRET_KEY
from pagedlist.core.deadline import active
from pagedlist.errors import PagedListError

__all__ = ["HEALTH_TIMEOUT", "AccessLog", "Metrics", "healthz", "log", "metrics"]

log = logging.getLogger("pagedlist.app")
#: Seconds /healthz waits for the store before it says 503.
HEALTH_TIMEOUT = 2.0


@dataclass
class Metrics:
    """The app's Prometheus registry and request metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    requests: Counter = field(init=False)
    duration: Histogram = field(init=False)

    def __post_init__(self) -> None:
        labels = ("method", "route", "status")
        self.requests = Counter(
            "pagedlist_app_requests",
            "HTTP requests answered, by method, route template and status.",
            labels,
            registry=self.registry,
        )
        self.duration = Histogram(
            "pagedlist_app_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            labels,
            registry=self.registry,
        )


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class AccessLog:
    """ASGI middleware: logs and measures every HTTP request once it is answered."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering
        done = False

        def record() -> None:
            nonlocal done
            done = True
            elapsed = time.perf_counter() - start
            labels = (scope["method"], _route(scope), str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.duration.labels(*labels).observe(elapsed)
            log.info("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed * 1000)

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Before the last byte leaves: whoever has the answer can see its line.
                record()
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not done:
                record()


async def healthz(request: Request) -> Response:
    """``GET /healthz``: 200 when one store read answers in time, else 503 and why."""
    store = feed_of(request).store

    async def probe() -> None:
        with active(time.monotonic() + HEALTH_TIMEOUT):
            await store.get(SECRET_KEY)

    try:
        await asyncio.wait_for(probe(), HEALTH_TIMEOUT)
    except TimeoutError:
        reason = f"the store did not answer within {HEALTH_TIMEOUT:g} s"
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    except PagedListError as err:
        reason = f"{type(err).__name__}: {err}"
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ok", "store": store.describe()})


async def metrics(request: Request) -> Response:
    """``GET /metrics``: the app's metrics in Prometheus text format."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
