"""Launcher for the local OCI NoSQL endpoint (:mod:`pagedlist.emulators.oci_server`).

Oracle's own servers (KVLite with its HTTP proxy, the Cloud Simulator) ship only from
Oracle's site, Maven and container registries, so tests use pagedlist's stand-in: a
Python process that speaks borneo's wire protocol and keeps rows in SQLite. Against
Oracle's container instead, use ``oci-nosql+http://localhost:8080/pagedlist?create=true``
(see ``docs/backends/oci-nosql.md``).
"""

from __future__ import annotations

import contextlib
import urllib.request
from pathlib import Path

from pagedlist.emulators.base import Emulator, python

__all__ = ["OCINoSQLEmulator"]


class OCINoSQLEmulator(Emulator):
    """Starts ``python -m pagedlist.emulators.oci_server`` on a free loopback port."""

    name = "oci-nosql"
    start_timeout = 30.0
    table = "pagedlist"

    def available(self) -> str | None:
        """The endpoint needs borneo (for its NSON codec)."""
        try:
            import borneo  # noqa: F401
        except ImportError:
            return "the OCI NoSQL local endpoint needs borneo: pip install 'pagedlist[oci]'"
        return None

    def commands(self, ports: list[int], workdir: Path) -> list[list[str]]:
        """One process, its SQLite file in the scratch directory."""
        db = str(workdir / "oci-nosql.db")
        return [
            [python(), "-m", "pagedlist.emulators.oci_server", "--port", str(ports[0]), "--db", db]
        ]

    def store_url(self, ports: list[int]) -> str:
        """``oci-nosql+http://127.0.0.1:P/pagedlist?create=true``."""
        return f"oci-nosql+http://127.0.0.1:{ports[0]}/{self.table}?create=true"

    def ready(self, ports: list[int]) -> bool:
        """The endpoint answers HTTP (not merely accepts connections)."""
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/", timeout=1) as reply,
        ):
            return reply.status == 200
        return False
