"""Start, wait for and stop local servers: the machinery every emulator module shares.

An emulator module defines a subclass of :class:`Emulator` that says how to install its
server (``install``), which processes to start (``commands``), how to tell it is ready
(``ready``) and the store URL that reaches it (``store_url``). This module runs the
processes on free loopback ports, keeps their output in a log directory, and stops them.

Servers started from the CLI (``pagedlist emulator start``) outlive the command: their
owner, pids, ports and URL are kept in a state file under the cache directory so that
``pagedlist emulator stop`` and ``list`` find them. A server belongs to whoever started it
(:func:`default_owner`): another owner gets it only by asking (``--reuse``) and can never
stop it.
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
    "OWNER_ENV",
    "Emulator",
    "EmulatorError",
    "Running",
    "cache_dir",
    "default_owner",
    "find",
    "forget",
    "free_port",
    "load_state",
    "port_open",
    "remember",
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
#
# Several test runs, terminals or users of one account share the state file, so every
# record names its owner: ``pagedlist emulator start`` hands out only the caller's own
# server (another owner's only with ``--reuse``) and ``stop`` ends only the caller's own.

#: Environment variable naming the owner of servers started in the background.
OWNER_ENV = "PAGEDLIST_EMULATOR_OWNER"
#: Owner given to records written before servers had owners.
UNKNOWN_OWNER = "unknown"


def default_owner() -> str:
    """Who is starting or stopping a background server: ``$PAGEDLIST_EMULATOR_OWNER``, else
    the terminal session (every command of one shell, script or ``make`` run shares it; two
    terminals or two CI jobs do not)."""
    token = os.environ.get(OWNER_ENV, "").strip()
    return token or f"session-{os.getsid(0)}"


def _state_file() -> Path:
    return cache_dir() / "running.json"


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Hold the state file's lock: each read-modify-write sees every other one's result."""
    import fcntl

    with open(cache_dir() / "running.json.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read() -> list[dict]:
    try:
        state = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return []
    if isinstance(state, dict) and isinstance(state.get("servers"), list):
        records = state["servers"]
    elif isinstance(state, dict):  # the format before owners: {name: record}
        records = [{**r, "name": k, "owner": UNKNOWN_OWNER} for k, r in state.items()]
    else:
        return []
    return [
        r
        for r in records
        if isinstance(r, dict) and r.get("pids") and all(_alive(p) for p in r["pids"])
    ]


def _write(records: list[dict]) -> None:
    # Written whole and renamed into place, so a reader never sees half a file.
    path = _state_file()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": 2, "servers": records}, indent=2))
    os.replace(tmp, path)


def load_state() -> list[dict]:
    """Servers started by ``pagedlist emulator start`` that are still alive, every owner's:
    records with ``name``, ``owner``, ``url``, ``ports``, ``pids`` and ``log_dir``."""
    with _locked():
        return _read()


def find(name: str, owner: str | None = None) -> dict | None:
    """The live background server ``name`` of ``owner``; with ``owner=None``, anyone's
    (the oldest first)."""
    for record in load_state():
        if record["name"] == name and (owner is None or record["owner"] == owner):
            return record
    return None


def remember(running: Running, owner: str) -> dict:
    """Record a server ``owner`` started in the background; return the record kept.

    If ``owner`` already has a live server of that name (two starts raced), that one is
    kept and returned: the caller stops the one it just started.
    """
    record = {
        "name": running.name,
        "owner": owner,
        "url": running.url,
        "ports": running.ports,
        "pids": running.pids,
        "log_dir": str(running.log_dir),
        "started": time.time(),
        "discard": [str(p) for p in running.discard],
        "stop_signal": int(running.stop_signal),
    }
    with _locked():
        records = _read()
        for kept in records:
            if kept["name"] == running.name and kept["owner"] == owner:
                return kept
        _write([*records, record])
    return record


def forget(name: str, owner: str) -> dict | None:
    """Stop ``owner``'s background server ``name``; return its record, or ``None`` if
    ``owner`` has none (another owner's server of that name is left running)."""
    with _locked():
        records = _read()
        mine = [r for r in records if r["name"] == name and r["owner"] == owner]
        if not mine:
            return None
        _write([r for r in records if r not in mine])
    for record in mine:
        log_dir = Path(record["log_dir"])
        Running(
            name,
            record["url"],
            record["ports"],
            log_dir,
            pids=record["pids"],
            discard=[Path(p) for p in record.get("discard", [])],
            stop_signal=record.get("stop_signal", signal.SIGTERM),
        ).stop()
    return mine[0]


def python() -> str:
    """The interpreter running pagedlist, for emulators written in Python."""
    return sys.executable
