"""Shared fixtures: local servers started once per test session, on free loopback ports.

A server that cannot start fails every test that needs it, loudly: a backend that cannot
be tested is never counted as passing. Set ``PAGEDLIST_ALLOW_MISSING=1`` on a machine
without some server to turn those failures into skips that name what is missing (CI never
sets it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pagedlist.emulators import EmulatorError, Running, get_emulator


class ServerPool:
    """Starts each named local server at most once and stops them all at the end."""

    def __init__(self) -> None:
        self._running: dict[str, Running] = {}
        self._failed: dict[str, str] = {}

    def get(self, name: str) -> Running:
        """The running server ``name``, started on first use."""
        if name in self._failed:
            self._missing(name, self._failed[name])
        if name not in self._running:
            try:
                self._running[name] = get_emulator(name).start()
            except EmulatorError as err:
                self._failed[name] = str(err)
                self._missing(name, str(err))
        return self._running[name]

    @staticmethod
    def _missing(name: str, why: str) -> None:
        message = f"BACKEND NOT TESTED: local {name} server unavailable: {why}"
        if os.environ.get("PAGEDLIST_ALLOW_MISSING") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)

    def stop_all(self) -> None:
        """Stop every server this pool started."""
        for server in self._running.values():
            server.stop()
        self._running.clear()


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerPool]:
    """The session's pool of local servers: ``servers.get("redis").url``."""
    pool = ServerPool()
    yield pool
    pool.stop_all()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose server accepts connections and never answers a byte."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()
