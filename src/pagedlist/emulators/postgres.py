"""A throw-away PostgreSQL server: Debian's own binaries, a fresh cluster, a free port.

:class:`PostgresEmulator` runs ``initdb`` into a temporary directory, then ``postgres`` in
the foreground on a free loopback port (TCP only, no Unix socket), so the machinery of
:mod:`pagedlist.emulators.base` keeps its log, waits for it (``pg_isready``) and stops it.
Its store URL is ``postgresql://postgres@127.0.0.1:PORT/postgres``; the cluster trusts
loopback connections (``initdb --auth=trust``), so the URL needs no password. Pass
``password=`` to get a cluster that asks one (``scram-sha-256``): clients give it through
``PGPASSWORD`` or a password file, never through the URL or a log.

PostgreSQL refuses to run as root. When pagedlist runs as root (CI, containers), the
cluster runs as the system user ``pagedlist`` (created on first use with ``useradd
--system``, no login shell, no home), which owns the data directory and nothing else. Not
``postgres``: that account owns the machine's own clusters (``/var/lib/postgresql``), which
are no part of this project and must stay out of a test's reach; not ``nobody``: it is
shared by unrelated daemons and by convention owns no files.

The data directory is removed when the server stops, unless ``data_dir`` was given: then
it is kept, and a new emulator on the same ``data_dir`` starts on the data already there
(crash tests kill the server with SIGKILL and start it again on its data).
``durable=False`` (the default) turns ``fsync`` off, which is safe against a killed server
(the kernel keeps what was written) but not against a machine crash; ``durable=True``
keeps PostgreSQL's defaults.

:func:`docker_postgres` runs the official ``postgres`` image through testcontainers for
machines with a Docker engine.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

from pagedlist.emulators.base import Emulator, EmulatorError, Running, wait_for

__all__ = [
    "POSTGRES_IMAGE",
    "RUN_AS",
    "PostgresEmulator",
    "PostgresRunning",
    "docker_postgres",
    "server_bindir",
]

#: The system user the server runs as when pagedlist runs as root.
RUN_AS = "pagedlist"
#: The image :func:`docker_postgres` runs.
POSTGRES_IMAGE = "postgres:17-alpine"

_INSTALL = "apt-get install postgresql (Debian/Ubuntu), brew install postgresql (macOS)"
_TOOLS = ("initdb", "postgres", "pg_isready")
#: Where Debian's postgresql-N packages put each version's server binaries.
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"


def server_bindir() -> Path | None:
    """The directory of the newest PostgreSQL server binaries here, or ``None``.

    ``$PAGEDLIST_PG_BINDIR`` wins; then Debian's ``/usr/lib/postgresql/N/bin`` (newest
    ``N``); then ``pg_config --bindir``; then wherever ``initdb`` is on ``PATH``.
    """
    candidates: list[Path] = []
    if os.environ.get("PAGEDLIST_PG_BINDIR"):
        candidates.append(Path(os.environ["PAGEDLIST_PG_BINDIR"]))
    debian = glob.glob(DEBIAN_BINDIRS)
    candidates += sorted(
        (Path(p) for p in debian),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0],
        reverse=True,
    )
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for path in candidates:
        if all((path / tool).is_file() for tool in _TOOLS):
            return path
    return None


def _service_account() -> pwd.struct_passwd:
    """The unprivileged account the server runs as under root, created if missing."""
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    try:
        subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", RUN_AS],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", "") or err
        raise EmulatorError(
            f"PostgreSQL will not run as root and the system user {RUN_AS!r} could not be "
            f"created ({detail}): create it (useradd --system {RUN_AS}) or run as a normal user"
        ) from None
    return pwd.getpwnam(RUN_AS)


@dataclass
class PostgresRunning(Running):
    """A running throw-away PostgreSQL server that can be killed and started again on its
    data directory (:meth:`kill` and :meth:`restart`)."""

    argv: list[str] = field(default_factory=list)
    data_dir: Path = Path()
    password: str | None = field(default=None, repr=False)

    def processes(self) -> list[int]:
        """The postmaster's pid, then its children's (backends, checkpointer, ...). Each
        child is a session of its own (PostgreSQL calls ``setsid``), so signalling the
        postmaster's process group does not reach them."""
        parent = self.procs[0].pid
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                # Fields after the parenthesized command name: state, ppid, ...
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    children.append(int(entry))
        return [parent, *children]

    def _signal_all(self, sig: signal.Signals) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def kill(self) -> None:
        """SIGKILL the postmaster and every child at once: a crash, as of the machine. The
        postmaster is stopped first, so it forks nothing while its children are listed."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.procs[0].pid, signal.SIGSTOP)
        self._signal_all(signal.SIGKILL)
        self.procs[0].wait(timeout=30)
        wait_for(lambda: len(self.processes()) == 1, 30, "the killed backends to vanish")

    def pause(self) -> None:
        """SIGSTOP every process of the server: it accepts nothing and answers nothing."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.procs[0].pid, signal.SIGSTOP)
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT every process of the server paused by :meth:`pause`."""
        self._signal_all(signal.SIGCONT)

    def restart(self, timeout: float = 60.0) -> None:
        """Start the server again on its data directory (crash recovery runs first) and wait
        until it accepts connections."""
        if self.procs[0].poll() is None:
            raise EmulatorError(f"the server on port {self.ports[0]} is still running")
        with open(self.log_dir / f"{self.name}-0.log", "ab") as log:
            proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.log_dir,
                start_new_session=True,
            )
        self.procs[0] = proc
        self.pids[:1] = [proc.pid]
        bindir = Path(self.extra["bindir"])
        wait_for(lambda: _accepting(bindir, self.ports[0]), timeout, "postgres", [proc])


def _accepting(bindir: Path, port: int) -> bool:
    """``pg_isready``: the server accepts connections (done starting or recovering)."""
    return (
        subprocess.run(
            [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "2"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        ).returncode
        == 0
    )


class PostgresEmulator(Emulator):
    """A fresh PostgreSQL cluster on a free loopback port:
    ``postgresql://postgres@127.0.0.1:PORT/postgres``.

    ``data_dir`` keeps the cluster there (initialized on first start, reused after);
    ``durable=True`` keeps ``fsync`` on; ``password`` makes TCP clients authenticate with
    ``scram-sha-256`` as ``postgres``; ``settings`` adds ``-c NAME=VALUE`` server settings.
    """

    name = "postgres"
    start_timeout = 60.0

    def __init__(
        self,
        *,
        data_dir: Path | str | None = None,
        durable: bool = False,
        password: str | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.durable = durable
        self.password = password
        self.settings = dict(settings or {})
        self._bindir: Path | None = None
        self._account: pwd.struct_passwd | None = None

    def available(self) -> str | None:
        """Why PostgreSQL cannot run here (no server binaries, no ``setpriv`` under root)."""
        self._bindir = server_bindir()
        if self._bindir is None:
            return f"PostgreSQL server binaries ({', '.join(_TOOLS)}) not found: {_INSTALL}"
        if os.geteuid() == 0 and shutil.which("setpriv") is None:
            return "running as root needs setpriv (util-linux) to start PostgreSQL unprivileged"
        return None

    def _as_server_user(self) -> list[str]:
        """The argv prefix that drops root for the server's account (empty if not root)."""
        if os.geteuid() != 0:
            return []
        if self._account is None:
            self._account = _service_account()
        acct = self._account
        return [
            shutil.which("setpriv") or "setpriv",
            f"--reuid={acct.pw_uid}",
            f"--regid={acct.pw_gid}",
            "--clear-groups",
            "--",
        ]

    def _hand_over(self, path: Path) -> None:
        if self._account is not None:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def _initdb(self, data: Path, workdir: Path) -> None:
        assert self._bindir is not None
        prefix = self._as_server_user()
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        self._hand_over(data)
        argv = [
            *prefix,
            str(self._bindir / "initdb"),
            "-D", str(data),
            "-U", "postgres",
            "-E", "UTF8",
            "--no-locale",
            "--no-instructions",
        ]  # fmt: skip
        if not self.durable:
            argv.append("--no-sync")
        pwfile: Path | None = None
        if self.password is None:
            argv.append("--auth=trust")
        else:
            # initdb reads the superuser's password from a file, so it is never on a
            # command line (visible in ps) or in the log.
            fd, name = tempfile.mkstemp(prefix="pw-", dir=workdir)
            pwfile = Path(name)
            with os.fdopen(fd, "w") as out:
                out.write(self.password + "\n")
            self._hand_over(pwfile)
            argv += ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        try:
            with open(workdir / "initdb.log", "ab") as log:
                code = subprocess.run(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=workdir,
                    timeout=180,
                    check=False,
                ).returncode
        finally:
            if pwfile is not None:
                pwfile.unlink(missing_ok=True)
        if code != 0:
            tail = (workdir / "initdb.log").read_text(errors="replace")[-2000:]
            raise EmulatorError(f"initdb failed with code {code}:\n{tail}")

    def _data(self, workdir: Path) -> Path:
        return self.data_dir if self.data_dir is not None else workdir / "data"

    def commands(self, ports: list[int], workdir: Path) -> list[list[str]]:
        """``postgres -D DATA -p PORT -c listen_addresses=127.0.0.1 ...`` in the foreground."""
        assert self._bindir is not None
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",
            "max_connections": "300",
            "shared_buffers": "64MB",
            # Tests and benchmarks on a shared 2-core machine: no parallel workers.
            "max_parallel_workers_per_gather": "0",
            **({} if self.durable else {"fsync": "off", "full_page_writes": "off"}),
            **self.settings,
        }
        argv = [
            *self._as_server_user(),
            str(self._bindir / "postgres"),
            "-D",
            str(self._data(workdir)),
            "-p",
            str(ports[0]),
        ]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        return [argv]

    def store_url(self, ports: list[int]) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres`` (no password: see the class)."""
        return f"postgresql://postgres@127.0.0.1:{ports[0]}/postgres"

    def ready(self, ports: list[int]) -> bool:
        """``pg_isready`` answers 0: started (and done with crash recovery, if any)."""
        assert self._bindir is not None
        return _accepting(self._bindir, ports[0])

    def start(
        self, *, ports: list[int] | None = None, log_dir: Path | None = None
    ) -> PostgresRunning:
        """``initdb`` (unless the data directory holds a cluster), start, wait until ready."""
        why = self.available()
        if why:
            raise EmulatorError(why)
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"pagedlist-{self.name}-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._as_server_user()
            # The server's account must reach its data directory inside this one.
            log_dir.chmod(0o711)
        data = self._data(log_dir)
        if not (data / "PG_VERSION").is_file():
            self._initdb(data, log_dir)
        running = super().start(ports=ports, log_dir=log_dir)
        base = {f.name: getattr(running, f.name) for f in fields(Running)}
        wrapped = PostgresRunning(
            **base,
            argv=self.commands(running.ports, log_dir)[0],
            data_dir=data,
            password=self.password,
        )
        wrapped.extra["bindir"] = str(self._bindir)
        # A fast shutdown: sessions are ended (a smart one, SIGTERM, would wait for them).
        wrapped.stop_signal = signal.SIGINT
        if self.data_dir is None:
            wrapped.discard.append(data)
        return wrapped


@contextlib.contextmanager
def docker_postgres(image: str = POSTGRES_IMAGE) -> Iterator[str]:
    """Run the official ``postgres`` image in Docker (testcontainers); yield its store URL.

    The container trusts every connection (``POSTGRES_HOST_AUTH_METHOD=trust``), like the
    local launcher. Raises ``EmulatorError`` starting "no Docker engine" when none answers.
    """
    from pagedlist.emulators.redis import docker_unavailable

    why = docker_unavailable()
    if why:
        raise EmulatorError(f"no Docker engine: {why}")
    try:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs
    except ImportError:
        raise EmulatorError(
            "testcontainers is not installed: pip install 'pagedlist[emulators]'"
        ) from None
    container = (
        DockerContainer(image)
        .with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
        .with_exposed_ports(5432)
    )
    try:
        container.start()
    except Exception as err:  # docker.errors.DockerException and friends
        raise EmulatorError(
            f"cannot start {image} with Docker ({err}); start a Docker engine, or use "
            "Debian's binaries: pagedlist emulator start postgres"
        ) from err
    try:
        # The image's entrypoint starts the server once to initialize, then for real.
        wait_for_logs(container, r"(?s)ready to accept connections.*ready to accept", timeout=90)
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(5432))
        yield f"postgresql://postgres@{host}:{port}/postgres"
    finally:
        container.stop()
