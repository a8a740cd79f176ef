"""Start, wait for and stop local servers: the machinery every emulator module shares.

An emulator module defines a subclass of :class:`Emulator` that says how to install its
server (``install``), which processes to start (``commands``), how to tell it is ready
(``ready``) and the store URL that reaches it (``store_url``). This module runs the
processes on free loopback ports, keeps their output in a log directory, and stops them.

Servers started from the CLI (``pagedlist emulator start``) outlive the command: their
pids, ports and URL are kept in a state file under the cache directory so that
``pagedlist emulator stop`` and ``list`` find them.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Emulator",
    "EmulatorError",
    "Running",
    "cache_dir",
    "free_port",
    "port_open",
    "wait_for",
]


class EmulatorError(RuntimeError):
    """A local server could not be installed or started; the message says what to do."""


def cache_dir() -> Path:
    """Where downloaded servers and state files live (``$PAGEDLIST_CACHE`` or
    ``~/.cache/pagedlist``)."""
    root = os.environ.get("PAGEDLIST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pagedlist"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_for(check, timeout: float, what: str, procs: Sequence[subprocess.Popen] = ()) -> None:
    """Poll ``check()`` until it is true; fail early if one of ``procs`` exits."""
    end = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < end:
        for proc in procs:
            if proc.poll() is not None:
                raise EmulatorError(f"{what} exited with code {proc.returncode} while starting")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise EmulatorError(f"{what} did not become ready within {timeout:g}s")


@dataclass
class Running:
    """A started server: its store URL, ports, processes and log directory."""

    name: str
    url: str
    ports: list[int]
    log_dir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    #: Directories of throw-away data removed once the processes are gone.
    discard: list[Path] = field(default_factory=list)
    #: The signal that asks the servers to stop (PostgreSQL: SIGINT, a fast shutdown).
    stop_signal: int = signal.SIGTERM

    def stop(self) -> None:
        """Terminate the processes (``stop_signal``, then SIGKILL after 5 s), then remove
        the ``discard`` directories."""
        pids = [p.pid for p in self.procs] or self.pids
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, self.stop_signal)
        end = time.monotonic() + 5
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, end - time.monotonic()))
        # Servers started by another process (``pagedlist emulator start``) are not our
        # children: give them the same 5 s to finish before SIGKILL.
        while not self.procs and time.monotonic() < end and any(_alive(p) for p in pids):
            time.sleep(0.05)
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if not any(_alive(pid) for pid in pids):
            for path in self.discard:
                shutil.rmtree(path, ignore_errors=True)

    def logs(self, limit: int = 4000) -> str:
        """The tail of every log file, for failure reports."""
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace")[-limit:]
            out.append(f"--- {path} ---\n{text}")
        return "\n".join(out)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) still answers kill(0).
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


class Emulator(abc.ABC):
    """How to install, start and reach one kind of local server."""

    #: Name used by ``pagedlist emulator start NAME``.
    name: str = ""
    #: Seconds to wait for readiness.
    start_timeout: float = 30.0

    def available(self) -> str | None:
        """``None`` if this server can run here, else why not (and how to fix it)."""
        return None

    def install(self) -> None:  # noqa: B027 - servers from the system need no install
        """Fetch what the server needs into :func:`cache_dir` (idempotent)."""

    @abc.abstractmethod
    def commands(self, ports: list[int], workdir: Path) -> list[list[str]]:
        """The processes to start, one argv each, given free ports and a scratch dir."""

    def port_count(self) -> int:
        """How many free ports :meth:`commands` needs."""
        return 1

    @abc.abstractmethod
    def store_url(self, ports: list[int]) -> str:
        """The pagedlist store URL that reaches the started server."""

    def ready(self, ports: list[int]) -> bool:
        """Whether the server answers (default: its first port accepts connections)."""
        return port_open(ports[0])

    def after_start(self, running: Running) -> None:  # noqa: B027 - optional hook
        """Anything to run once every process answers (e.g. forming a cluster)."""

    def env(self) -> dict[str, str]:
        """Extra environment for the processes."""
        return {}

    def start(self, *, ports: list[int] | None = None, log_dir: Path | None = None) -> Running:
        """Install if needed, start on free loopback ports and wait until ready."""
        why = self.available()
        if why:
            raise EmulatorError(why)
        self.install()
        ports = ports or [free_port() for _ in range(self.port_count())]
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"pagedlist-{self.name}-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        running = Running(self.name, self.store_url(ports), ports, log_dir)
        env = {**os.environ, **self.env()}
        try:
            for i, argv in enumerate(self.commands(ports, log_dir)):
                log = open(log_dir / f"{self.name}-{i}.log", "ab")  # noqa: SIM115 - kept by the child
                running.procs.append(
                    subprocess.Popen(
                        argv,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        cwd=log_dir,
                        env=env,
                        start_new_session=True,
                    )
                )
                log.close()
            wait_for(
                lambda: self.ready(ports), self.start_timeout, f"{self.name} server", running.procs
            )
            self.after_start(running)
        except BaseException as err:
            running.stop()
            if isinstance(err, EmulatorError):
                raise EmulatorError(f"{err}\nlogs kept in {log_dir}:\n{running.logs()}") from None
            raise
        running.pids = [p.pid for p in running.procs]
        return running

    @contextlib.contextmanager
    def running(self) -> Iterator[Running]:
        """``with emulator.running() as server: ...`` starts and always stops it."""
        server = self.start()
        try:
            yield server
        finally:
            server.stop()


# --- background servers for the CLI ----------------------------------------------------------


def _state_file() -> Path:
    return cache_dir() / "running.json"


def load_state() -> dict[str, dict]:
    """Servers started by ``pagedlist emulator start`` that are still alive."""
    try:
        state = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in state.items() if all(_alive(p) for p in v.get("pids", []))}


def save_state(state: dict[str, dict]) -> None:
    """Write the background-server state."""
    _state_file().write_text(json.dumps(state, indent=2))


def remember(running: Running) -> None:
    """Record a server started in the background."""
    state = load_state()
    state[running.name] = {
        "url": running.url,
        "ports": running.ports,
        "pids": running.pids,
        "log_dir": str(running.log_dir),
        "discard": [str(p) for p in running.discard],
        "stop_signal": int(running.stop_signal),
    }
    save_state(state)


def forget(name: str) -> dict | None:
    """Stop a background server started earlier; return its record, or ``None``."""
    state = load_state()
    record = state.pop(name, None)
    if record is not None:
        log_dir = Path(record["log_dir"])
        discard = [Path(p) for p in record.get("discard", [])]
        Running(
            name,
            record["url"],
            record["ports"],
            log_dir,
            pids=record["pids"],
            discard=discard,
            stop_signal=record.get("stop_signal", signal.SIGTERM),
        ).stop()
        save_state(state)
    return record


def python() -> str:
    """The interpreter running pagedlist, for emulators written in Python."""
    return sys.executable
