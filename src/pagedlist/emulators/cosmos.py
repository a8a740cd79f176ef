"""A local Cosmos DB server: ``@vercel/cosmosdb-server`` from npm, run by Node without TLS.

The package is installed once into ``cache_dir()/cosmosdb-server-VERSION/`` with
``npm install --prefix``. It is started through a tiny Node script that calls the package's
``createHttpServer`` API with keep-alive on: the package's own CLI has ``--no-ssl`` but
always answers ``Connection: close``, and over its self-signed TLS every call would pay a
new handshake (~20 ms).

Microsoft's Linux emulator image (``mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator``)
is closer to the real service; :class:`CosmosDockerEmulator` starts it through
testcontainers for users with Docker (see ``docs/backends/cosmos.md``).

The local server differs from Cosmos DB in ways the adapter must never rely on (it answers
500 instead of 404 to a point read of a missing id, reports 1 RU for everything, has no
2 MB item limit, ...): ``docs/backends/cosmos.md`` lists them.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from pagedlist.emulators.base import Emulator, EmulatorError, cache_dir

__all__ = ["COSMOSDB_SERVER_VERSION", "CosmosDockerEmulator", "CosmosServerEmulator"]

#: Pinned exactly: the adapter's notes on the local server's behaviour refer to this version.
COSMOSDB_SERVER_VERSION = "1.0.1"
PACKAGE = "@vercel/cosmosdb-server"
#: Database and container the local server's store URL names (created on first open).
DATABASE = "pagedlist"
CONTAINER = "rows"

# Bind to loopback only and keep connections alive; print a line once listening.
_LAUNCHER = """\
const path = require("path");
const pkg = path.join(process.argv[2], "node_modules", "@vercel", "cosmosdb-server");
const { createHttpServer } = require(pkg);
const port = parseInt(process.argv[3], 10);
const server = createHttpServer({ keepAlive: true });
server.keepAliveTimeout = 60000;
server.listen(port, "127.0.0.1", () => {
  console.log(`cosmosdb-server listening on http://127.0.0.1:${port}`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
"""


class CosmosServerEmulator(Emulator):
    """``@vercel/cosmosdb-server`` (pinned) on a free loopback port, plain HTTP."""

    name = "cosmos"
    start_timeout = 30.0

    def __init__(self, version: str = COSMOSDB_SERVER_VERSION) -> None:
        self.version = version

    @property
    def prefix(self) -> Path:
        """Where the npm package is installed."""
        return cache_dir() / f"cosmosdb-server-{self.version}"

    def _package_dir(self) -> Path:
        return self.prefix / "node_modules" / "@vercel" / "cosmosdb-server"

    def available(self) -> str | None:
        """Needs ``node`` to run the server, and ``npm`` unless it is already installed."""
        missing = []
        if shutil.which("node") is None:
            missing.append("node")
        if shutil.which("npm") is None and not self._installed():
            missing.append("npm")
        if missing:
            return (
                f"{' and '.join(missing)} not found on PATH: install Node.js 18 or later "
                "(e.g. apt-get install nodejs npm) to run the local Cosmos DB server"
            )
        return None

    def _installed(self) -> bool:
        package_json = self._package_dir() / "package.json"
        return package_json.is_file() and f'"version": "{self.version}"' in package_json.read_text()

    def install(self) -> None:
        """``npm install --prefix DIR @vercel/cosmosdb-server@VERSION`` unless present."""
        if not self._installed():
            self.prefix.mkdir(parents=True, exist_ok=True)
            argv = [
                "npm", "install", "--prefix", str(self.prefix), "--no-audit", "--no-fund",
                "--omit=dev", f"{PACKAGE}@{self.version}",
            ]  # fmt: skip
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as err:
                raise EmulatorError(f"could not run {' '.join(argv)}: {err}") from err
            if done.returncode != 0 or not self._installed():
                raise EmulatorError(
                    f"{' '.join(argv)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}\n"
                    "check network access to the npm registry, or install it by hand there"
                )
        launcher = self.prefix / "pagedlist-launch.js"
        if not launcher.is_file() or launcher.read_text() != _LAUNCHER:
            launcher.write_text(_LAUNCHER)

    def commands(self, ports: list[int], workdir: Path) -> list[list[str]]:
        """``node pagedlist-launch.js PREFIX PORT``."""
        node = shutil.which("node") or "node"
        return [[node, str(self.prefix / "pagedlist-launch.js"), str(self.prefix), str(ports[0])]]

    def ready(self, ports: list[int]) -> bool:
        """The server answers its database-account endpoint."""
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/", timeout=2) as answer:
            return answer.status == 200

    def store_url(self, ports: list[int]) -> str:
        """``cosmos://127.0.0.1:PORT/pagedlist/rows?tls=false&consistency=any&create=true&emulator=vercel``.

        ``consistency=any``: the server reports Session consistency, but it is one process
        applying one request at a time, so its reads are linearizable anyway.
        ``emulator=vercel``: the adapter's workarounds for this server's quirks
        (``docs/backends/cosmos.md``, "The emulator flag").
        """
        return (
            f"cosmos://127.0.0.1:{ports[0]}/{DATABASE}/{CONTAINER}"
            "?tls=false&consistency=any&create=true&emulator=vercel"
        )


class CosmosDockerEmulator:
    """Microsoft's Linux Cosmos DB emulator in Docker, through testcontainers.

    Not registered as a server for the test pool (it needs a Docker engine and several
    GB of memory); use it from your own tests::

        with CosmosDockerEmulator() as url:
            store = open_store(url)
    """

    IMAGE = "mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator:latest"

    def __init__(self, image: str = IMAGE) -> None:
        self.image = image
        self._container: Any = None

    @staticmethod
    def available() -> str | None:
        """``None`` if Docker answers, else why not."""
        try:
            import docker

            docker.from_env().ping()
        except Exception as err:
            return f"Docker is not available ({type(err).__name__}: {err}); install Docker"
        return None

    def __enter__(self) -> str:
        why = self.available()
        if why:
            raise EmulatorError(why)
        from testcontainers.community.cosmosdb import CosmosDBNoSQLEndpointContainer

        self._container = CosmosDBNoSQLEndpointContainer(image=self.image)
        self._container.start()
        host = self._container.host
        port = self._container.port
        # The emulator serves HTTPS with a self-signed certificate: verify=false says so.
        # Self-signed certificate (verify=false); Session consistency, one replica.
        return (
            f"cosmos://{host}:{port}/{DATABASE}/{CONTAINER}"
            "?verify=false&consistency=any&create=true"
        )

    def __exit__(self, *exc: object) -> None:
        if self._container is not None:
            self._container.stop()
            self._container = None
