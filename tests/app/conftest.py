"""Fixtures for the feed app tests: a live server, fresh stores, a headless Chromium."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.importorskip("starlette", reason="the feed app needs pip install 'pagedlist[app]'")

import uvicorn

from pagedlist.app import AppConfig, create_app
from pagedlist.emulators.base import cache_dir, free_port

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
#: axe-core, the accessibility checker the browser tests inject into each page (npm),
#: installed by ``make install-test`` (scripts/install-axe.sh, which names the version).
AXE_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-axe.sh"
AXE_VERSION = re.search(r"^AXE_VERSION=(\S+)$", AXE_SCRIPT.read_text(), re.M)[1]  # type: ignore[index]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class LiveServer:
    """The feed app served by uvicorn on an event loop of its own, in a thread, on a free
    loopback port. The app opens its store at uvicorn's lifespan startup, on that loop."""

    def __init__(self, store_url: str, config: AppConfig) -> None:
        self.app = create_app(store_url, config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._server.serve())

    @property
    def feed(self) -> Any:
        """The app's :class:`~pagedlist.app.feed.Feed` (to arrange data behind its back:
        its calls are coroutines, run them with :meth:`call`)."""
        return self.app.state.feed

    def call(self, awaitable: Awaitable[T], timeout: float = 60) -> T:
        """Run a coroutine (a ``feed`` call, say) on the server's loop and return its
        result: the store's asyncio clients belong to that loop."""

        async def run() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True  # the lifespan shutdown closes the store
        self._thread.join(timeout=15)
        self._loop.close()


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL naming an empty store of the kind given by the test's ``store`` parameter."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'feed.db'}"
    servers = request.getfixturevalue("servers")
    url: str = servers.get(kind).url
    if kind == "redis":
        # A database of its own, emptied first, so earlier tests leave nothing behind.
        import redis

        db = 1 + (uuid.uuid4().int % 14)
        base = url.rstrip("/").rsplit("/", 1)[0] if url.count("/") > 2 else url.rstrip("/")
        url = f"{base}/{db}"
        redis.Redis.from_url(url).flushdb()
        return url
    if kind == "dynamodb":
        # A fresh table (created on first use) per test.
        table = f"app-{uuid.uuid4().hex[:12]}"
        return url.replace("dynamodb://pagedlist?", f"dynamodb://{table}?", 1)
    if kind == "postgres":
        # A fresh table (created on first use) per test, on the session's own server.
        return f"{url}?table=app_{uuid.uuid4().hex[:12]}"
    raise AssertionError(f"unknown store kind {kind}")


@pytest.fixture
def live_server() -> Iterator[Callable[..., LiveServer]]:
    """A factory: ``live_server(store_url, **config)`` starts a server, stopped at teardown."""
    started: list[LiveServer] = []

    def start(url: str, **config: Any) -> LiveServer:
        server = LiveServer(url, AppConfig(**config)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (its own download does not work here).

    Module-scoped on purpose: Playwright's sync API keeps an event loop running on the main
    thread while it is open, and every later ``asyncio.run()`` in the session would refuse
    to start."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/install-system-deps.sh)",
            pytrace=False,
        )
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The source of axe-core (``axe.min.js``), installed from npm into the pagedlist cache
    by ``make install-test``, or here on first use."""
    prefix = cache_dir() / "npm" / f"axe-core-{AXE_VERSION}"
    script = prefix / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                [
                    "npm",
                    "install",
                    "--no-save",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(prefix),
                    f"axe-core@{AXE_VERSION}",
                ],
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (OSError, subprocess.SubprocessError) as err:
            pytest.fail(
                f"cannot install axe-core {AXE_VERSION} with npm into {prefix}: {err} "
                "(apt-get install -y npm)",
                pytrace=False,
            )
    return script.read_text(encoding="utf-8")
