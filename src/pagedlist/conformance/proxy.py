"""A loopback TCP proxy that loses answers: the fault behind clause W1 (``docs/contract.md``).

:class:`FaultProxy` forwards bytes between clients and one real server. Armed with
:meth:`FaultProxy.lose_answers`, it lets the next ``n`` requests through to the server,
waits until the server starts to answer (so the request was carried out: a write
committed), and then resets the client's connection (TCP RST) without passing on a byte
of the answer. The client sees a connection reset after its request was sent: the most
ambiguous failure there is, and the one an SDK's own retry turns into a second write.

It reads no protocol: an *exchange* is "the client sent bytes, then the server sent
bytes", which is what a request and its answer are in RESP (Redis) and in HTTP/1.1
(DynamoDB, Cosmos DB, OCI NoSQL). Plain TCP only: a TLS connection passes through
untouched in content, but a client that checks certificates will not accept a loopback
address in place of the server's name.

:class:`FaultProxies` starts one proxy per server address on demand; its :meth:`route`
is what an adapter's ``through(url, route)`` hook calls for each address it would
connect to (a Redis Cluster has one per node)::

    with FaultProxies() as proxies, Store.through(url, proxies.route) as store:
        proxies.lose_answers(1)
        store.increment("k|0", "n")      # raises StoreUnavailable; the server counted 1
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from collections.abc import Callable

__all__ = ["FaultProxies", "FaultProxy", "Route"]

#: ``route(host, port) -> (host, port)``: where to connect instead of a server address.
Route = Callable[[str, int], tuple[str, int]]

_CHUNK = 64 * 1024


class _Faults:
    """The shared count of answers still to lose, and how many were lost."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.armed = 0
        self.lost = 0
        self.changed = threading.Condition(self.lock)

    def take(self) -> bool:
        with self.lock:
            if self.armed <= 0:
                return False
            self.armed -= 1
            return True

    def record_lost(self) -> None:
        with self.changed:
            self.lost += 1
            self.changed.notify_all()


class FaultProxy:
    """Forward ``127.0.0.1:port`` to ``upstream``; lose the answers of armed exchanges."""

    def __init__(self, host: str, port: int, *, _faults: _Faults | None = None) -> None:
        self.upstream = (host, port)
        self._faults = _faults or _Faults()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        """The loopback port clients connect to."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections = 0
        """Client connections accepted so far."""
        self._acceptor = threading.Thread(
            target=self._accept, name=f"fault-proxy-{self.port}", daemon=True
        )
        self._acceptor.start()

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect: ``("127.0.0.1", port)``."""
        return ("127.0.0.1", self.port)

    @property
    def lost(self) -> int:
        """Answers lost so far (exchanges cut after the server answered)."""
        with self._faults.lock:
            return self._faults.lost

    def lose_answers(self, n: int = 1) -> None:
        """Cut the next ``n`` exchanges after the server has answered them."""
        with self._faults.lock:
            self._faults.armed += n

    def disarm(self) -> None:
        """Lose no more answers."""
        with self._faults.lock:
            self._faults.armed = 0

    # --- plumbing --------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self.connections += 1
                self._sockets.update((client, server))
            thread = threading.Thread(
                target=self._pump, args=(client, server), name=f"fault-pump-{self.port}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        """Move bytes both ways on one connection until either side closes."""
        for s in (client, server):
            s.settimeout(None)
            s.setblocking(False)
        doomed = False  # this exchange's answer is to be lost
        awaiting = False  # the client has sent bytes the server has not answered yet
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ, server)
            sel.register(server, selectors.EVENT_READ, client)
            try:
                while not self._stop.is_set():
                    for key, _ in sel.select(timeout=0.2):
                        src: socket.socket = key.fileobj  # type: ignore[assignment]
                        dst: socket.socket = key.data
                        try:
                            data = src.recv(_CHUNK)
                        except (BlockingIOError, InterruptedError):
                            continue
                        if not data:
                            return  # an orderly close: pass it on as one
                        if src is client:
                            if not awaiting:
                                awaiting = True
                                # Decide per exchange, at its first byte: a request that
                                # arrives in several pieces is one exchange.
                                doomed = self._faults.take()
                            _send_all(dst, data)
                        elif doomed:
                            # The server has answered, so the request was carried out:
                            # drop the answer and reset the client's connection.
                            self._faults.record_lost()
                            _reset(client)
                            return
                        else:
                            awaiting = False
                            _send_all(dst, data)
            except OSError:
                return
            finally:
                for s in (client, server):
                    with contextlib.suppress(OSError):
                        s.close()
                with self._lock:
                    self._sockets.discard(client)
                    self._sockets.discard(server)

    def close(self) -> None:
        """Stop accepting, reset every open connection, join the threads."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._acceptor.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FaultProxies:
    """One :class:`FaultProxy` per server address, started on demand, armed together."""

    def __init__(self) -> None:
        self._faults = _Faults()
        self._lock = threading.Lock()
        self.proxies: dict[tuple[str, int], FaultProxy] = {}
        """Each server address routed so far and its proxy."""

    def route(self, host: str, port: int) -> tuple[str, int]:
        """The loopback address standing in for server ``host:port`` (a :data:`Route`)."""
        with self._lock:
            proxy = self.proxies.get((host, port))
            if proxy is None:
                proxy = FaultProxy(host, port, _faults=self._faults)
                self.proxies[(host, port)] = proxy
            return proxy.address

    def lose_answers(self, n: int = 1) -> None:
        """Cut the next ``n`` exchanges, on whichever proxies they pass, after the server
        answered them."""
        with self._faults.lock:
            self._faults.armed += n

    def disarm(self) -> None:
        """Lose no more answers."""
        with self._faults.lock:
            self._faults.armed = 0

    @property
    def armed(self) -> int:
        """Exchanges still to cut."""
        with self._faults.lock:
            return self._faults.armed

    @property
    def lost(self) -> int:
        """Answers lost so far, over every proxy."""
        with self._faults.lock:
            return self._faults.lost

    def close(self) -> None:
        """Close every proxy."""
        with self._lock:
            proxies, self.proxies = list(self.proxies.values()), {}
        for proxy in proxies:
            proxy.close()

    def __enter__(self) -> FaultProxies:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _send_all(sock: socket.socket, data: bytes) -> None:
    """``sendall`` on a non-blocking socket: wait for room instead of failing."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except (BlockingIOError, InterruptedError):
            with selectors.DefaultSelector() as sel:
                sel.register(sock, selectors.EVENT_WRITE)
                sel.select(timeout=1.0)
            continue
        view = view[sent:]


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
