"""Local Redis servers: one standalone ``redis-server``, or a three-master Redis Cluster.

Both run Debian's ``redis-server`` (``apt-get install redis-server``) on free loopback
ports, without persistence by default (``--save "" --appendonly no``). Pass
``appendonly=True`` (and ``appendfsync="always"`` for crash tests) to keep an append-only
file in each node's own directory, so a node stopped with :meth:`RedisRunning.stop_node`
comes back with its data from :meth:`RedisRunning.start_node`.

With Docker, :func:`start_container` runs the same server through
``testcontainers.redis`` instead.

This module talks to the servers with a few lines of RESP over a socket, so starting them
needs neither redis-py nor ``redis-cli`` (the Cluster is formed with ``redis-cli``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pagedlist.emulators.base import Emulator, EmulatorError, Running, wait_for

__all__ = [
    "RedisClusterEmulator",
    "RedisContainer",
    "RedisEmulator",
    "RedisRunning",
    "docker_unavailable",
    "resp_command",
    "start_container",
]

_INSTALL = "apt-get install redis-server (Debian/Ubuntu), brew install redis (macOS)"


# --- a minimal RESP client -------------------------------------------------------------


def resp_command(port: int, *args: str, password: str | None = None, timeout: float = 2.0) -> Any:
    """Send one command to ``127.0.0.1:port`` and return its reply (``str``, ``int``,
    ``None`` or a list); an error reply raises ``EmulatorError``."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        reader = sock.makefile("rb")
        if password is not None:
            sock.sendall(_encode(["AUTH", password]))
            _read(reader)
        sock.sendall(_encode(list(args)))
        return _read(reader)


def _encode(args: list[str]) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read(reader: Any) -> Any:
    line = reader.readline()
    if not line:
        raise EmulatorError("Redis closed the connection")
    kind, body = line[:1], line[1:-2].decode()
    if kind == b"+":
        return body
    if kind == b"-":
        raise EmulatorError(f"Redis answered an error: {body}")
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        return None if size < 0 else reader.read(size + 2)[:-2].decode()
    if kind == b"*":
        size = int(body)
        return None if size < 0 else [_read(reader) for _ in range(size)]
    raise EmulatorError(f"unexpected Redis reply {line!r}")


def _answers(port: int, password: str | None) -> bool:
    try:
        return resp_command(port, "PING", password=password, timeout=1.0) == "PONG"
    except (OSError, EmulatorError):
        # LOADING (still reading its append-only file) or not listening yet.
        return False


# --- running servers -------------------------------------------------------------------


@dataclass
class RedisRunning(Running):
    """A running Redis server or Cluster, whose nodes can be stopped and restarted one by
    one (their data stays in their own directory)."""

    argv: list[list[str]] = field(default_factory=list)
    password: str | None = field(default=None, repr=False)
    cluster: bool = False

    @property
    def node_ports(self) -> list[int]:
        """The client port of each node (a Cluster's bus ports follow in ``ports``)."""
        return self.ports[: len(self.argv)]

    def command(self, node: int, *args: str) -> Any:
        """Send one command to node ``node`` (0-based) and return its reply."""
        return resp_command(self.ports[node], *args, password=self.password)

    def stop_node(self, node: int, *, hard: bool = True) -> None:
        """Stop node ``node``: SIGKILL (a crash) by default, SIGTERM with ``hard=False``."""
        proc = self.procs[node]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def start_node(self, node: int, timeout: float = 30.0) -> None:
        """Start node ``node`` again with its own data and wait until it answers."""
        if self.procs[node].poll() is None:
            raise EmulatorError(f"node {node} (port {self.ports[node]}) is still running")
        with open(self.log_dir / f"{self.name}-{node}.log", "ab") as log:
            proc = subprocess.Popen(
                self.argv[node],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.log_dir,
                start_new_session=True,
            )
        self.procs[node] = proc
        if len(self.pids) > node:
            self.pids[node] = proc.pid
        port = self.ports[node]
        wait_for(lambda: _answers(port, self.password), timeout, f"redis node {port}", [proc])

    def node_for_key(self, key: str) -> int:
        """Which node (index into ``ports``) owns ``key``'s hash slot (Cluster only)."""
        live = next(i for i, p in enumerate(self.procs) if p.poll() is None)
        slot = self.command(live, "CLUSTER", "KEYSLOT", key)
        for line in self.command(live, "CLUSTER", "NODES").splitlines():
            parts = line.split()
            if "master" not in parts[2]:
                continue
            port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
            for span in parts[8:]:
                if span.startswith("["):
                    continue  # a slot being migrated
                low, _, high = span.partition("-")
                if int(low) <= slot <= int(high or low):
                    return self.node_ports.index(port)
        raise EmulatorError(f"no master owns slot {slot} of {key!r}")

    def wait_cluster_ok(self, timeout: float = 30.0) -> None:
        """Wait until every node reports ``cluster_state:ok`` and knows every other one."""
        wait_for(
            lambda: all(_cluster_ok(self, i) for i in range(len(self.node_ports))),
            timeout,
            "Redis Cluster (cluster_state:ok on every node)",
        )


def _cluster_ok(running: RedisRunning, node: int) -> bool:
    info = running.command(node, "CLUSTER", "INFO")
    return (
        "cluster_state:ok" in info
        and f"cluster_known_nodes:{len(running.node_ports)}" in info
        and "cluster_slots_ok:16384" in info
    )


# --- launchers -------------------------------------------------------------------------


class _RedisBase(Emulator):
    def __init__(
        self,
        *,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        password: str | None = None,
        data_dir: Path | str | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        if appendfsync not in ("always", "everysec", "no"):
            raise ValueError(f"appendfsync must be always, everysec or no, not {appendfsync!r}")
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.password = password
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.extra_args = list(extra_args or [])

    def available(self) -> str | None:
        """Why Redis cannot run here (``redis-server`` or ``redis-cli`` missing), or ``None``."""
        missing = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
        if missing:
            return f"{' and '.join(missing)} not found on PATH: {_INSTALL}"
        return None

    def _server_argv(self, port: int, data_dir: Path) -> list[str]:
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--logfile",
            "",
        ]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        return argv + self.extra_args

    def _node_dir(self, workdir: Path, node: int) -> Path:
        return (self.data_dir or workdir) / f"node-{node}"

    def ready(self, ports: list[int]) -> bool:
        """Every server answers ``PING``."""
        return all(_answers(port, self.password) for port in ports)

    def _auth(self) -> str:
        return f":{self.password}@" if self.password is not None else ""

    def start(self, *, ports: list[int] | None = None, log_dir: Path | None = None) -> RedisRunning:
        """Start and return a :class:`RedisRunning` (nodes can be stopped and restarted)."""
        running = super().start(ports=ports, log_dir=log_dir)
        return self._wrap(running)

    def _wrap(self, running: Running) -> RedisRunning:
        if isinstance(running, RedisRunning):
            return running
        base = {f.name: getattr(running, f.name) for f in fields(Running)}
        return RedisRunning(
            **base,
            argv=self.commands(running.ports, running.log_dir),
            password=self.password,
            cluster=isinstance(self, RedisClusterEmulator),
        )


class RedisEmulator(_RedisBase):
    """One standalone ``redis-server`` on a free loopback port: ``redis://127.0.0.1:PORT/0``.

    ``appendonly=True`` keeps an append-only file (fsync policy ``appendfsync``) in the
    ``node-0`` folder of ``data_dir`` (default: the log directory), so a server started
    again on the same ``data_dir`` finds its data; ``password`` sets ``requirepass``;
    ``extra_args`` are appended to the ``redis-server`` command line.
    """

    name = "redis"
    start_timeout = 20.0

    def commands(self, ports: list[int], workdir: Path) -> list[list[str]]:
        """``redis-server --port PORT --save "" --appendonly no ...``."""
        return [self._server_argv(ports[0], self._node_dir(workdir, 0))]

    def store_url(self, ports: list[int]) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0``."""
        return f"redis://{self._auth()}127.0.0.1:{ports[0]}/0"


class RedisClusterEmulator(_RedisBase):
    """A Redis Cluster of three masters (no replicas) on free loopback ports:
    ``redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3``.

    Each node keeps ``nodes.conf`` (and its append-only file, with ``appendonly=True``) in
    its own ``node-N`` folder, so a node restarted with :meth:`RedisRunning.start_node`
    rejoins with its slots and data. (A whole new cluster started on an old ``data_dir``
    would find ``nodes.conf`` files naming other ports: restart nodes, not clusters.)
    """

    name = "redis-cluster"
    start_timeout = 30.0

    def __init__(self, *, node_timeout_ms: int = 1000, **options: Any) -> None:
        super().__init__(**options)
        self.node_timeout_ms = node_timeout_ms

    def port_count(self) -> int:
        """Three masters: a client port and a cluster bus port each (the bus port is set
        with ``--cluster-port``, since the default, port + 10000, may be taken or > 65535)."""
        return 6

    def ready(self, ports: list[int]) -> bool:
        """Every node answers ``PING`` on its client port."""
        return all(_answers(port, self.password) for port in ports[:3])

    def commands(self, ports: list[int], workdir: Path) -> list[list[str]]:
        """Three ``redis-server --cluster-enabled yes`` processes."""
        argv = []
        for i, port in enumerate(ports[:3]):
            node = self._server_argv(port, self._node_dir(workdir, i))
            node += [
                "--cluster-port",
                str(ports[3 + i]),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(self.node_timeout_ms),
            ]
            if self.password is not None:
                node += ["--masterauth", self.password]
            argv.append(node)
        return argv

    def store_url(self, ports: list[int]) -> str:
        """``redis+cluster://[:password@]127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3``."""
        nodes = ",".join(f"127.0.0.1:{p}" for p in ports[:3])
        return f"redis+cluster://{self._auth()}{nodes}"

    def after_start(self, running: Running) -> None:
        """``redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes``, then wait
        for ``cluster_state:ok`` on every node."""
        argv = [shutil.which("redis-cli") or "redis-cli"]
        if self.password is not None:
            argv += ["--no-auth-warning", "-a", self.password]
        argv += ["--cluster", "create", *(f"127.0.0.1:{p}" for p in running.ports[:3])]
        argv += ["--cluster-replicas", "0", "--cluster-yes"]
        with open(running.log_dir / "cluster-create.log", "ab") as log:
            try:
                code = subprocess.run(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=60,
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                raise EmulatorError("redis-cli --cluster create did not finish in 60s") from None
        if code != 0:
            raise EmulatorError(f"redis-cli --cluster create failed with code {code}")
        self._wrap(running).wait_cluster_ok(self.start_timeout)


# --- Docker, through testcontainers ----------------------------------------------------


def docker_unavailable() -> str | None:
    """``None`` if a Docker engine answers, else why not."""
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed: pip install 'pagedlist[emulators]'"
    try:
        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    return None


@dataclass
class RedisContainer:
    """A Redis server in a Docker container started by :func:`start_container`."""

    url: str
    container: Any

    def stop(self) -> None:
        """Stop and remove the container."""
        self.container.stop()

    def __enter__(self) -> RedisContainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_container(image: str = "redis:7-alpine") -> RedisContainer:
    """Run Redis in Docker with ``testcontainers.redis``; ``EmulatorError`` starting with
    "no Docker engine" when none answers."""
    why = docker_unavailable()
    if why:
        raise EmulatorError(f"no Docker engine: {why}")
    from testcontainers.redis import RedisContainer as _Container

    container = _Container(image).start()
    host = container.get_container_host_ip()
    port = container.get_exposed_port(6379)
    return RedisContainer(f"redis://{host}:{port}/0", container)
